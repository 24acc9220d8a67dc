//! ko's two layers, entry for entry as ko v0.19.1 writes them
//! (pkg/build/gobuild.go: `tarBinary`, `tarKoData`, `walkRecursive`), so
//! that their diffIDs equal ko's (tests/parity proves it against the real
//! ko):
//!
//! - the binary layer: the directory `ko-app`, then the file
//!   `/ko-app/NAME` (names as ko spells them: one without, one with a
//!   leading slash);
//! - the kodata layer, always present, empty or not: `/var`, `/var/run`,
//!   `/var/run/ko`, then the package's `kodata/` walked as Go's
//!   `filepath.Walk` walks (names in byte order, each directory before its
//!   content), every symlink followed: a link to a directory becomes a
//!   directory, a link to a file a file. A link must resolve inside
//!   `kodata/` itself (or under the root the caller allows).
//!
//! Every entry is mode 0555 and owned by root. On Windows the filesystem
//! goes under `Files/` after `Hives` and `Files`, files carry the PAX
//! record `MSWINDOWS.rawsd`, and kodata symlinks are skipped, as ko does.
//! The caller gives the time: ko leaves the binary layer's at zero and
//! dates kodata with `KO_DATA_DATE_EPOCH`.

use super::entry::{Entry, Kind, PaxRecords, Source};
use super::windows::{RAWSD, USERS_OWNER_AND_GROUP};
use crate::error::{Error, IoContext, Result};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const MODE: u32 = 0o555;

fn dir(path: &str) -> Entry {
    entry(path.to_string(), Kind::Dir, PaxRecords::new())
}

fn entry(path: String, kind: Kind, pax: PaxRecords) -> Entry {
    Entry {
        path,
        kind,
        mode: MODE,
        uid: 0,
        gid: 0,
        pax,
    }
}

/// The PAX records of a file in a Windows layer.
fn windows_pax() -> PaxRecords {
    PaxRecords::from([(RAWSD.to_string(), USERS_OWNER_AND_GROUP.as_bytes().to_vec())])
}

/// The binary layer: `binary` as `/ko-app/NAME`, with `pax` (file
/// capabilities) on Linux.
pub fn binary_entries(
    binary: &Path,
    name: &str,
    windows: bool,
    pax: PaxRecords,
) -> Result<Vec<Entry>> {
    let meta = std::fs::metadata(binary).with_path("reading", binary)?;
    if !meta.is_file() {
        return Err(Error::file(binary, "is not a regular file"));
    }
    let file = |path: String, pax| {
        let source = Source::Path(binary.to_path_buf());
        entry(
            path,
            Kind::File {
                source,
                size: meta.len(),
            },
            pax,
        )
    };
    Ok(if windows {
        vec![
            dir("Hives"),
            dir("Files"),
            dir("Files/ko-app"),
            file(format!("Files/ko-app/{name}"), windows_pax()),
        ]
    } else {
        vec![dir("ko-app"), file(format!("/ko-app/{name}"), pax)]
    })
}

/// The directories every kodata layer starts with (ko's `tarKoData`), and
/// the one its files go under.
fn kodata_top(windows: bool) -> (Vec<Entry>, &'static str) {
    let (dirs, chroot): (&[&str], &str) = if windows {
        (
            &[
                "Hives",
                "Files",
                "Files/var",
                "Files/var/run",
                "Files/var/run/ko",
            ],
            "Files/var/run/ko",
        )
    } else {
        (&["/var", "/var/run", "/var/run/ko"], "/var/run/ko")
    };
    (dirs.iter().map(|d| dir(d)).collect(), chroot)
}

/// The kodata layer of the package whose `kodata/` directory is `kodata`
/// (which need not exist). Symlinks must resolve inside `allowed_root`,
/// or inside `kodata/` itself when it is `None`.
pub fn kodata_entries(
    kodata: &Path,
    allowed_root: Option<&Path>,
    windows: bool,
) -> Result<Vec<Entry>> {
    let (entries, chroot) = kodata_top(windows);
    let mut walk = Walk {
        entries,
        root: PathBuf::new(),
        windows,
        open: Vec::new(),
    };
    if !kodata.exists() {
        return Ok(walk.entries);
    }
    let real = kodata.canonicalize().with_path("resolving", kodata)?;
    walk.root = match allowed_root {
        Some(root) => root.to_path_buf(),
        None => real.clone(),
    };
    walk.open.push(real.clone());
    walk.dir(&real, chroot)?;
    Ok(walk.entries)
}

/// The kodata layer ko would write for a `kodata/` directory holding just
/// `files` (each a regular file and its path inside `kodata/`), as a build
/// system that lists files rather than directories has them.
pub fn kodata_entries_from_files(files: &[(PathBuf, String)], windows: bool) -> Result<Vec<Entry>> {
    let mut tree = Tree::default();
    for (source, dest) in files {
        let parts: Vec<&str> = dest
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if parts.is_empty() || parts.contains(&"..") {
            return Err(Error::invalid(format!(
                "kodata file {dest:?} ({}) names no path inside kodata/",
                source.display()
            )));
        }
        let meta = std::fs::metadata(source).with_path("reading", source)?;
        if !meta.is_file() {
            return Err(Error::file(source, "is not a regular file"));
        }
        tree.insert(&parts, source, meta.len())?;
    }
    let (mut entries, chroot) = kodata_top(windows);
    tree.emit(chroot, windows, &mut entries);
    Ok(entries)
}

/// Files by path, as `filepath.Walk` would meet them.
#[derive(Default)]
struct Tree(std::collections::BTreeMap<Vec<u8>, Node>);

enum Node {
    Dir(Tree),
    File(PathBuf, u64),
}

impl Tree {
    fn insert(&mut self, parts: &[&str], source: &Path, size: u64) -> Result<()> {
        let clash = || {
            Error::invalid(format!(
                "kodata path {:?} is given twice, or as a file and a directory",
                parts.join("/")
            ))
        };
        let key = parts[0].as_bytes().to_vec();
        if parts.len() == 1 {
            if self.0.contains_key(&key) {
                return Err(clash());
            }
            self.0.insert(key, Node::File(source.to_path_buf(), size));
            return Ok(());
        }
        match self
            .0
            .entry(key)
            .or_insert_with(|| Node::Dir(Tree::default()))
        {
            Node::Dir(tree) => tree.insert(&parts[1..], source, size),
            Node::File(..) => Err(clash()),
        }
    }

    fn emit(&self, chroot: &str, windows: bool, out: &mut Vec<Entry>) {
        // BTreeMap's byte order is Go's name order.
        for (name, node) in &self.0 {
            let path = format!("{chroot}/{}", String::from_utf8_lossy(name));
            match node {
                Node::Dir(tree) => {
                    out.push(dir(&path));
                    tree.emit(&path, windows, out);
                }
                Node::File(source, size) => {
                    let pax = if windows {
                        windows_pax()
                    } else {
                        PaxRecords::new()
                    };
                    let kind = Kind::File {
                        source: Source::Path(source.clone()),
                        size: *size,
                    };
                    out.push(entry(path, kind, pax));
                }
            }
        }
    }
}

/// `filepath.Walk` over a kodata tree, with ko's `walkRecursive` callback.
struct Walk {
    entries: Vec<Entry>,
    /// Where symlinks may point.
    root: PathBuf,
    windows: bool,
    /// The real paths of the directories being walked, outermost first: a
    /// symlink to one of them would never end (ko recurses forever).
    open: Vec<PathBuf>,
}

impl Walk {
    /// The content of the directory `host`, named under `chroot`.
    fn dir(&mut self, host: &Path, chroot: &str) -> Result<()> {
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(host)
            .with_path("reading", host)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .with_path("reading", host)?;
        // Go sorts names as byte strings.
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = host.join(&name);
            let new = format!("{chroot}/{}", name.to_string_lossy());
            self.one(&path, new)?;
        }
        Ok(())
    }

    fn one(&mut self, host: &Path, new: String) -> Result<()> {
        let meta = host.symlink_metadata().with_path("reading", host)?;
        if meta.is_dir() {
            self.entries.push(dir(&new));
            return self.dir(host, &new);
        }
        if self.windows && meta.file_type().is_symlink() {
            log::warn!("skipping symlink in kodata for windows: {}", host.display());
            return Ok(());
        }
        let real = host
            .canonicalize()
            .map_err(|e| Error::file(host, format!("kodata symlink cannot be resolved: {e}")))?;
        if !real.starts_with(&self.root) {
            return Err(Error::file(
                host,
                format!(
                    "kodata symlink resolves to {}, which is outside the kodata root {} \
                     (ko refuses it too: a link may only point inside kodata/)",
                    real.display(),
                    self.root.display()
                ),
            ));
        }
        let target = std::fs::metadata(&real).with_path("reading", &real)?;
        if target.is_dir() {
            if self.open.contains(&real) {
                return Err(Error::file(
                    host,
                    format!("kodata symlink loops back to {}", real.display()),
                ));
            }
            self.entries.push(dir(&new));
            self.open.push(real.clone());
            let walked = self.dir(&real, &new);
            self.open.pop();
            return walked;
        }
        if !target.is_file() {
            return Err(Error::file(
                host,
                "is neither a regular file nor a directory: kodata holds files",
            ));
        }
        let pax = if self.windows {
            windows_pax()
        } else {
            PaxRecords::new()
        };
        let kind = Kind::File {
            source: Source::Path(real),
            size: target.len(),
        };
        self.entries.push(entry(new, kind, pax));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match &e.kind {
                Kind::Dir => format!("{} dir", e.path),
                Kind::File { size, .. } => format!("{} {size}", e.path),
                Kind::Symlink(t) => format!("{} -> {t}", e.path),
            })
            .collect()
    }

    #[test]
    fn the_binary_layer_is_ko_app_and_the_binary_as_ko_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("app");
        std::fs::write(&binary, b"ELF").unwrap();
        let linux = binary_entries(&binary, "app", false, PaxRecords::new()).unwrap();
        assert_eq!(names(&linux), ["ko-app dir", "/ko-app/app 3"]);
        let windows = binary_entries(&binary, "app", true, PaxRecords::new()).unwrap();
        assert_eq!(
            names(&windows),
            [
                "Hives dir",
                "Files dir",
                "Files/ko-app dir",
                "Files/ko-app/app 3"
            ]
        );
        assert!(windows[3].pax.contains_key(RAWSD));
    }

    #[test]
    fn kodata_is_walked_as_go_walks_with_symlinks_followed() {
        let dir = tempfile::tempdir().unwrap();
        let kodata = dir.path().join("kodata");
        std::fs::create_dir_all(kodata.join("sub")).unwrap();
        std::fs::write(kodata.join("sub/nested.txt"), b"n").unwrap();
        std::fs::write(kodata.join("a.txt"), b"aa").unwrap();
        std::fs::write(kodata.join("sub.txt"), b"s").unwrap();
        symlink("a.txt", kodata.join("link.txt")).unwrap();
        symlink("sub", kodata.join("z-dir-link")).unwrap();
        let entries = kodata_entries(&kodata, None, false).unwrap();
        assert_eq!(
            names(&entries),
            [
                "/var dir",
                "/var/run dir",
                "/var/run/ko dir",
                "/var/run/ko/a.txt 2",
                "/var/run/ko/link.txt 2",
                // Go's order: "sub" before "sub.txt", and sub's content
                // right after it.
                "/var/run/ko/sub dir",
                "/var/run/ko/sub/nested.txt 1",
                "/var/run/ko/sub.txt 1",
                "/var/run/ko/z-dir-link dir",
                "/var/run/ko/z-dir-link/nested.txt 1",
            ]
        );
        let windows = kodata_entries(&kodata, None, true).unwrap();
        assert_eq!(
            names(&windows)[..6],
            [
                "Hives dir",
                "Files dir",
                "Files/var dir",
                "Files/var/run dir",
                "Files/var/run/ko dir",
                "Files/var/run/ko/a.txt 2"
            ]
        );
        assert!(
            !names(&windows).iter().any(|n| n.contains("link")),
            "symlinks are skipped on Windows"
        );
    }

    #[test]
    fn listed_files_give_the_layer_their_directory_gives() {
        let dir = tempfile::tempdir().unwrap();
        let kodata = dir.path().join("kodata");
        std::fs::create_dir_all(kodata.join("sub")).unwrap();
        let mut files = Vec::new();
        for (path, content) in [("sub/nested.txt", "n"), ("a.txt", "aa"), ("sub.txt", "s")] {
            std::fs::write(kodata.join(path), content).unwrap();
            files.push((kodata.join(path), path.to_string()));
        }
        let walked = names(&kodata_entries(&kodata, None, false).unwrap());
        assert_eq!(
            names(&kodata_entries_from_files(&files, false).unwrap()),
            walked
        );
        files.push((kodata.join("a.txt"), "sub".to_string()));
        let err = kodata_entries_from_files(&files, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"sub\""), "{err}");
    }

    #[test]
    fn a_missing_kodata_gives_the_three_directories() {
        let dir = tempfile::tempdir().unwrap();
        let entries = kodata_entries(&dir.path().join("kodata"), None, false).unwrap();
        assert_eq!(
            names(&entries),
            ["/var dir", "/var/run dir", "/var/run/ko dir"]
        );
    }

    #[test]
    fn symlinks_leaving_kodata_or_looping_are_refused_naming_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let kodata = dir.path().join("kodata");
        std::fs::create_dir_all(&kodata).unwrap();
        std::fs::write(dir.path().join("secret"), b"s").unwrap();
        symlink("../secret", kodata.join("escape")).unwrap();
        let err = kodata_entries(&kodata, None, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("escape") && err.contains("outside the kodata root"),
            "{err}"
        );
        // Allowed when the caller widens the root.
        let root = dir.path().canonicalize().unwrap();
        assert!(kodata_entries(&kodata, Some(&root), false).is_ok());

        std::fs::remove_file(kodata.join("escape")).unwrap();
        std::fs::create_dir(kodata.join("d")).unwrap();
        symlink("..", kodata.join("d/up")).unwrap();
        let err = kodata_entries(&kodata, None, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("up") && err.contains("loops"), "{err}");
    }
}
