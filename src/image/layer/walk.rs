//! A `--tree` walked in write order, one entry at a time: each directory's
//! names are read and sorted when the walk enters it, so what is held is
//! the names of the directories being walked, never the whole tree.
//! Symlinks are followed; they must resolve inside the allowed root.

use super::entry::{entry, Defaults, Entry, Kind, Source};
use crate::error::{Error, IoContext, Result};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One name of a directory: a range of `Dir::names`, and whether the
/// directory entry itself is a symlink.
struct Name {
    start: u32,
    len: u32,
    symlink: bool,
}

/// A directory being walked: its names, sorted, packed into one buffer.
struct Dir {
    path: PathBuf,
    /// The directory's path in the layer ("" at the image root).
    entry: String,
    /// Device and inode, to tell a symlink loop back to it.
    id: (u64, u64),
    names: Vec<u8>,
    order: Vec<Name>,
    next: usize,
}

impl Dir {
    fn read(path: PathBuf, entry: String, id: (u64, u64)) -> Result<Dir> {
        let mut names = Vec::new();
        let mut order = Vec::new();
        for item in std::fs::read_dir(&path).with_path("reading", &path)? {
            let item = item.with_path("reading", &path)?;
            let symlink = item
                .file_type()
                .with_path("reading", item.path())?
                .is_symlink();
            let name = item.file_name();
            let too_big = || Error::file(&path, "has more names than rko can hold");
            let start = u32::try_from(names.len()).map_err(|_| too_big())?;
            let len = u32::try_from(name.len()).map_err(|_| too_big())?;
            names.extend_from_slice(name.as_bytes());
            order.push(Name {
                start,
                len,
                symlink,
            });
        }
        let name = |n: &Name| &names[n.start as usize..(n.start + n.len) as usize];
        order.sort_unstable_by(|a, b| name(a).cmp(name(b)));
        names.shrink_to_fit();
        Ok(Dir {
            path,
            entry,
            id,
            names,
            order,
            next: 0,
        })
    }

    /// The `i`th name in order, and whether it is a symlink.
    fn name(&self, i: usize) -> (&OsStr, bool) {
        let name = &self.order[i];
        let bytes = &self.names[name.start as usize..(name.start + name.len) as usize];
        (OsStr::from_bytes(bytes), name.symlink)
    }
}

/// The entries of one tree, in path order (directories before their
/// content, names compared as bytes), under its destination.
pub struct TreeWalk {
    /// Where symlinks must resolve (canonical).
    root: PathBuf,
    defaults: Defaults,
    /// The tree's own entry, yielded first (none at the image root).
    first: Option<Entry>,
    stack: Vec<Dir>,
}

impl TreeWalk {
    /// Checks the tree and reads its top directory; `dest` is its
    /// normalized destination ("" for the image root).
    pub fn new(source: &Path, dest: String, defaults: &Defaults) -> Result<TreeWalk> {
        let meta = std::fs::metadata(source).with_path("reading", source)?;
        if !meta.is_dir() {
            return Err(Error::file(source, "--tree: is not a directory"));
        }
        let root = defaults.allow_root.as_deref().unwrap_or(source);
        let root = root.canonicalize().with_path("resolving", root)?;
        let is_symlink = std::fs::symlink_metadata(source)
            .with_path("reading", source)?
            .is_symlink();
        if is_symlink {
            check_inside(source, &root)?;
        }
        let first =
            (!dest.is_empty()).then(|| entry(dest.clone(), Kind::Dir, defaults.dir_mode, defaults));
        let top = Dir::read(source.to_path_buf(), dest, (meta.dev(), meta.ino()))?;
        Ok(TreeWalk {
            root,
            defaults: defaults.clone(),
            first,
            stack: vec![top],
        })
    }

    /// How many names the walk holds (for tests of its memory).
    #[cfg(test)]
    pub fn names_held(&self) -> usize {
        self.stack.iter().map(|dir| dir.order.len()).sum()
    }

    fn step(&mut self) -> Result<Option<Entry>> {
        loop {
            let Some(dir) = self.stack.last_mut() else {
                return Ok(None);
            };
            if dir.next == dir.order.len() {
                self.stack.pop();
                continue;
            }
            dir.next += 1;
            let (name, symlink) = dir.name(dir.next - 1);
            let path = dir.path.join(name);
            let name = name
                .to_str()
                .ok_or_else(|| Error::file(&path, "is not a UTF-8 path"))?;
            let layer_path = match dir.entry.as_str() {
                "" => name.to_string(),
                parent => format!("{parent}/{name}"),
            };
            return self.visit(path, layer_path, symlink).map(Some);
        }
    }

    /// The entry for `path`, entering it if it is a directory.
    fn visit(&mut self, path: PathBuf, layer_path: String, symlink: bool) -> Result<Entry> {
        let meta = std::fs::metadata(&path).with_path("reading", &path)?;
        if symlink {
            check_inside(&path, &self.root)?;
        }
        let defaults = &self.defaults;
        if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if self.stack.iter().any(|dir| dir.id == id) {
                return Err(Error::file(path, "symlink loop"));
            }
            let entry = entry(layer_path.clone(), Kind::Dir, defaults.dir_mode, defaults);
            self.stack.push(Dir::read(path, layer_path, id)?);
            Ok(entry)
        } else if meta.is_file() {
            let size = meta.len();
            let kind = Kind::File {
                source: Source::Path(path),
                size,
            };
            Ok(entry(layer_path, kind, defaults.file_mode, defaults))
        } else {
            Err(Error::file(
                path,
                "is neither a file, a directory nor a symlink",
            ))
        }
    }
}

/// A symlink met in a tree must resolve inside `root`.
fn check_inside(path: &Path, root: &Path) -> Result<()> {
    let resolved = path.canonicalize().with_path("resolving", path)?;
    if resolved.starts_with(root) {
        return Ok(());
    }
    Err(Error::file(
        path,
        format!(
            "is a symlink to {}, outside the allowed root {}",
            resolved.display(),
            root.display()
        ),
    ))
}

impl Iterator for TreeWalk {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        match self.step() {
            Ok(entry) => entry.map(Ok),
            Err(e) => {
                // An error ends the walk.
                self.stack.clear();
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            file_mode: 0o555,
            dir_mode: 0o555,
            uid: 0,
            gid: 0,
            allow_root: None,
        }
    }

    /// A tree of 20 directories of 50 files each: the walk never holds
    /// more than the names of the directories it is in.
    #[test]
    fn a_walk_holds_the_names_of_the_directories_it_is_in_only() {
        let dir = tempfile::tempdir().unwrap();
        for d in 0..20 {
            for f in 0..50 {
                let path = dir.path().join(format!("d{d:02}/f{f:02}"));
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, b"").unwrap();
            }
        }
        let mut walk = TreeWalk::new(dir.path(), "data".into(), &defaults()).unwrap();
        let (mut entries, mut most) = (0, 0);
        while let Some(entry) = walk.next() {
            entry.unwrap();
            entries += 1;
            most = most.max(walk.names_held());
        }
        assert_eq!(entries, 1 + 20 + 20 * 50);
        assert!(most <= 20 + 50, "held {most} names");
    }

    #[test]
    fn names_come_in_byte_order_with_each_directory_before_its_content() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a/b", "a-b", "a.txt", "B", "é", "a/a/x"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"").unwrap();
        }
        let walk = TreeWalk::new(dir.path(), String::new(), &defaults()).unwrap();
        let paths: Vec<String> = walk.map(|e| e.unwrap().path).collect();
        assert_eq!(
            paths,
            ["B", "a", "a/a", "a/a/x", "a/b", "a-b", "a.txt", "é"]
        );
    }

    #[test]
    fn a_symlink_loop_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("a/b/up")).unwrap();
        let mut walk = TreeWalk::new(dir.path(), String::new(), &defaults()).unwrap();
        let err = walk.try_for_each(|e| e.map(drop)).unwrap_err();
        assert!(err.to_string().contains("symlink loop"), "{err}");
    }
}
