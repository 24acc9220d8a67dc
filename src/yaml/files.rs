//! Which files a `-f FILE|DIR` names, walked as ko walks them
//! (`pkg/commands/options/filestuff.go`, `EnumerateFiles`): depth first,
//! entries in byte order of their names, `*.yaml` and `*.json` only (a file
//! named on the command line whatever its name), subdirectories only with
//! `-R`, symlinked files read through their link.
//!
//! Where ko's `filepath.Walk` skips a symlinked directory without a word,
//! this walk follows it (under `-R`), and reads each directory once: a link
//! back to a directory it is inside (a loop) or to one it has read already
//! is noted and not followed, since everything under it is read anyway
//! and a manifest read twice would be created twice. No error is dropped: a
//! broken link that could have been a manifest or, under `-R`, a directory
//! of them, or a directory that cannot be read, ends the walk naming it.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The extensions ko reads in a directory (`EnumerateFiles`: ".json", ".yaml").
pub const EXTENSIONS: [&str; 2] = ["yaml", "json"];

/// What one `-f` names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// The files to read, in order.
    pub files: Vec<PathBuf>,
    /// The symlinked directories the walk followed, in order (kubectl's own
    /// walk does not follow them).
    pub linked_dirs: Vec<PathBuf>,
    /// Entries left out that a person may have expected read: a loop, a
    /// `.yml` file. One line each, naming the entry.
    pub notes: Vec<String>,
}

/// Lists the manifests `path` names: itself if it is a file (whatever its
/// name), else the YAML and JSON files in it, and with `recursive` in its
/// subdirectories.
pub fn list(path: &Path, recursive: bool) -> Result<Listing> {
    let meta = fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
    let mut listing = Listing::default();
    if meta.is_dir() {
        let id = (meta.dev(), meta.ino());
        let mut walk = Walk {
            recursive,
            inside: vec![id],
            read: HashMap::from([(id, path.to_path_buf())]),
            listing: &mut listing,
        };
        walk.directory(path)?;
    } else {
        listing.files.push(path.to_path_buf());
    }
    Ok(listing)
}

/// What the walk does with one directory entry, by what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Read,
    Skip,
    /// A `.yml` file: skipped as ko skips it, with a note.
    SkipNoted,
    Descend,
    /// A broken symlink where a manifest or a directory of them could be.
    Fail,
}

/// What a directory entry turned out to be, its link followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Directory,
    /// A symlink whose target does not exist (or loops on itself).
    Broken,
}

/// The walk's one rule: what to do with an entry of `kind` named `name`.
fn action(name: &Path, kind: Kind, recursive: bool) -> Action {
    let extension = name.extension().and_then(|e| e.to_str());
    let manifest = extension.is_some_and(|e| EXTENSIONS.contains(&e));
    match kind {
        Kind::File if manifest => Action::Read,
        Kind::File if extension == Some("yml") => Action::SkipNoted,
        Kind::File => Action::Skip,
        Kind::Directory if recursive => Action::Descend,
        Kind::Directory => Action::Skip,
        Kind::Broken if manifest || recursive => Action::Fail,
        Kind::Broken => Action::Skip,
    }
}

struct Walk<'a> {
    recursive: bool,
    /// (device, inode) of every directory from the root down to here.
    inside: Vec<(u64, u64)>,
    /// Every directory read so far, by (device, inode), with its path.
    read: HashMap<(u64, u64), PathBuf>,
    listing: &'a mut Listing,
}

impl Walk<'_> {
    fn directory(&mut self, dir: &Path) -> Result<()> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io("reading directory", dir, e))? {
            let entry = entry.map_err(|e| Error::io("reading directory", dir, e))?;
            names.push(entry.file_name());
        }
        // filepath.Walk's order: names compared byte by byte.
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            self.entry(&dir.join(name))?;
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path) -> Result<()> {
        let own = fs::symlink_metadata(path).map_err(|e| Error::io("reading", path, e))?;
        let linked = own.file_type().is_symlink();
        let (kind, meta) = if linked {
            match fs::metadata(path) {
                Ok(meta) if meta.is_dir() => (Kind::Directory, Some(meta)),
                Ok(meta) => (Kind::File, Some(meta)),
                Err(_) => (Kind::Broken, None),
            }
        } else if own.is_dir() {
            (Kind::Directory, Some(own))
        } else {
            (Kind::File, Some(own))
        };
        match action(path, kind, self.recursive) {
            Action::Read => self.listing.files.push(path.to_path_buf()),
            Action::Skip => {}
            Action::SkipNoted => self.listing.notes.push(format!(
                "{}: not read: like ko, rko reads only *.yaml and *.json in a directory (name the file with -f to read it)",
                path.display()
            )),
            Action::Fail => return Err(broken(path)),
            Action::Descend => {
                let meta = meta.expect("a directory has metadata");
                self.descend(path, (meta.dev(), meta.ino()), linked)?;
            }
        }
        Ok(())
    }

    fn descend(&mut self, path: &Path, id: (u64, u64), linked: bool) -> Result<()> {
        if let Some(first) = self.read.get(&id) {
            let why = if self.inside.contains(&id) {
                "a symlink loop back to"
            } else {
                "it leads to a directory already read,"
            };
            self.listing.notes.push(format!(
                "{}: not followed: {why} {}",
                path.display(),
                first.display()
            ));
            return Ok(());
        }
        if linked {
            self.listing.linked_dirs.push(path.to_path_buf());
        }
        self.read.insert(id, path.to_path_buf());
        self.inside.push(id);
        let walked = self.directory(path);
        self.inside.pop();
        walked
    }
}

fn broken(path: &Path) -> Error {
    let message = match fs::read_link(path) {
        Ok(target) => format!(
            "broken symlink: its target {} does not exist",
            target.display()
        ),
        Err(e) => format!("broken symlink: {e}"),
    };
    match fs::metadata(path) {
        // A link that loops on itself (ELOOP) rather than one that dangles.
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Error::file(path, format!("symlink cannot be followed: {e}"))
        }
        _ => Error::file(path, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn what_happens_to_each_entry() {
        use Action::*;
        use Kind::*;
        let cases = [
            ("a.yaml", File, false, Read),
            ("a.json", File, true, Read),
            ("a.yml", File, false, SkipNoted),
            ("a.YAML", File, false, Skip),
            ("README.md", File, true, Skip),
            ("yaml", File, true, Skip),
            ("sub", Directory, false, Skip),
            ("sub", Directory, true, Descend),
            ("sub.yaml", Directory, true, Descend),
            ("gone.yaml", Broken, false, Fail),
            ("gone", Broken, true, Fail),
            ("gone", Broken, false, Skip),
            ("gone.txt", Broken, false, Skip),
        ];
        for (name, kind, recursive, expected) in cases {
            assert_eq!(
                action(Path::new(name), kind, recursive),
                expected,
                "{name} {kind:?} recursive={recursive}"
            );
        }
    }

    #[test]
    fn links_are_followed_once_per_path_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("vendor/crds/sub")).unwrap();
        fs::write(root.join("vendor/crds/z.yaml"), "").unwrap();
        fs::write(root.join("vendor/crds/sub/y.json"), "").unwrap();
        symlink("..", root.join("vendor/crds/sub/up")).unwrap();
        fs::create_dir(root.join("config")).unwrap();
        fs::write(root.join("config/b.yaml"), "").unwrap();
        symlink("../vendor/crds", root.join("config/a")).unwrap();
        symlink("../vendor/crds/z.yaml", root.join("config/c.yaml")).unwrap();
        symlink(".", root.join("config/loop")).unwrap();
        symlink("../vendor/crds", root.join("config/same")).unwrap();
        let config = root.join("config");
        let listing = list(&config, true).unwrap();
        let rel = |p: &PathBuf| p.strip_prefix(root).unwrap().display().to_string();
        assert_eq!(
            listing.files.iter().map(rel).collect::<Vec<_>>(),
            [
                "config/a/sub/y.json",
                "config/a/z.yaml",
                "config/b.yaml",
                "config/c.yaml",
            ]
        );
        assert_eq!(
            listing.linked_dirs.iter().map(rel).collect::<Vec<_>>(),
            ["config/a"]
        );
        let notes = listing.notes.join("\n");
        assert_eq!(listing.notes.len(), 3, "{notes}");
        for (entry, why) in [
            ("config/a/sub/up:", "a symlink loop back to"),
            ("config/loop:", "a symlink loop back to"),
            ("config/same:", "already read"),
        ] {
            assert!(
                listing
                    .notes
                    .iter()
                    .any(|n| n.contains(entry) && n.contains(why)),
                "{entry} {why}: {notes}"
            );
        }
        let flat = list(&config, false).unwrap();
        assert_eq!(
            flat.files.iter().map(rel).collect::<Vec<_>>(),
            ["config/b.yaml", "config/c.yaml"]
        );
        assert!(flat.notes.is_empty() && flat.linked_dirs.is_empty());
    }
}
