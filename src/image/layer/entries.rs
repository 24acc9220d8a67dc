//! What goes into a layer: the entries asked for, checked, completed with
//! their parent directories, and put in the one order rko writes them in.

use super::entry::{entry, Defaults, Entry, EntrySpec, Kind, Source};
use super::order::{Complete, Merge};
use super::walk::TreeWalk;
use crate::error::{Error, IoContext, Result};
use std::path::Path;

/// Checks every spec and returns the entries in write order: sorted by path
/// component by component, so each directory comes right before its
/// content. All at once, for tests: [`stream`] gives them one at a time.
#[cfg(test)]
pub fn plan(specs: &[EntrySpec], defaults: &Defaults) -> Result<Vec<Entry>> {
    stream(specs, defaults)?.collect()
}

/// The entries of `specs` in write order, one at a time: single entries
/// are checked now, trees are walked as the entries are taken, so that
/// memory does not grow with the number of files (see `walk.rs`).
pub fn stream(
    specs: &[EntrySpec],
    defaults: &Defaults,
) -> Result<impl Iterator<Item = Result<Entry>>> {
    let mut singles = Vec::new();
    let mut trees = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        match spec {
            EntrySpec::Tree { source, dest } => {
                let dest = dest_path(dest, true)?;
                trees.push((index, TreeWalk::new(source, dest, defaults)?));
            }
            single => singles.push((index, single_entry(single, defaults)?)),
        }
    }
    Ok(Complete::new(Merge::new(singles, trees), defaults))
}

/// The entry of a spec other than a tree, checked.
fn single_entry(spec: &EntrySpec, defaults: &Defaults) -> Result<Entry> {
    match spec {
        EntrySpec::File {
            source,
            dest,
            mode,
            pax,
        } => {
            let size = match source {
                Source::Path(path) => regular_file_size(path)?,
                Source::Bytes(bytes) => bytes.len() as u64,
                Source::LayoutBlob { path, digest } => {
                    crate::image::blob::open_in_layout(path, digest)?.size()
                }
                Source::NamedBlob { path, digest } => {
                    crate::image::blob::open_named(path, digest)?.size()
                }
            };
            let kind = Kind::File {
                source: source.clone(),
                size,
            };
            let mode = mode.unwrap_or(defaults.file_mode);
            let mut file = entry(dest_path(dest, false)?, kind, mode, defaults);
            file.pax.clone_from(pax);
            Ok(file)
        }
        EntrySpec::Symlink { dest, target } => {
            if target.is_empty() {
                return Err(Error::invalid(format!(
                    "symlink {dest:?} has an empty target"
                )));
            }
            let kind = Kind::Symlink(target.clone());
            Ok(entry(dest_path(dest, false)?, kind, 0o777, defaults))
        }
        EntrySpec::Dir { dest, mode } => {
            let mode = mode.unwrap_or(defaults.dir_mode);
            Ok(entry(dest_path(dest, false)?, Kind::Dir, mode, defaults))
        }
        EntrySpec::Tree { .. } => unreachable!("trees are walked, see `stream`"),
    }
}

/// Normalizes a destination to a relative path without trailing slash;
/// `..`, `.`, empty names and (unless `allow_root`) the root itself are errors.
fn dest_path(dest: &str, allow_root: bool) -> Result<String> {
    dest_parts(dest, allow_root).map(|parts| parts.join("/"))
}

fn dest_parts(dest: &str, allow_root: bool) -> Result<Vec<String>> {
    let trimmed = dest.strip_prefix('/').unwrap_or(dest);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    if trimmed.is_empty() {
        return if allow_root {
            Ok(Vec::new())
        } else {
            Err(Error::invalid(format!(
                "destination {dest:?} names no file inside the image"
            )))
        };
    }
    trimmed
        .split('/')
        .map(|part| match part {
            "" => Err(Error::invalid(format!("destination {dest:?} has an empty path component"))),
            "." | ".." => Err(Error::invalid(format!(
                "destination {dest:?} contains {part:?}: paths inside the image must not step outside it"
            ))),
            _ if part.contains('\0') => Err(Error::invalid(format!("destination {dest:?} contains a NUL byte"))),
            _ => Ok(part.to_string()),
        })
        .collect()
}

fn regular_file_size(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).with_path("reading", path)?;
    if !meta.is_file() {
        return Err(Error::file(path, "is not a regular file"));
    }
    Ok(meta.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::entry::PaxRecords;
    use std::sync::Arc;

    fn defaults() -> Defaults {
        Defaults {
            file_mode: 0o555,
            dir_mode: 0o555,
            uid: 0,
            gid: 0,
            allow_root: None,
        }
    }

    fn bytes(dest: &str) -> EntrySpec {
        EntrySpec::File {
            source: Source::Bytes(Arc::from(&b"x"[..])),
            dest: dest.into(),
            mode: None,
            pax: PaxRecords::new(),
        }
    }

    #[test]
    fn destinations_are_checked() {
        let cases = [
            ("/ko-app/hello", Ok("ko-app/hello")),
            ("ko-app/hello", Ok("ko-app/hello")),
            ("a/../b", Err("step outside")),
            ("./a", Err("step outside")),
            ("a//b", Err("empty path component")),
            ("/", Err("names no file")),
            ("", Err("names no file")),
        ];
        for (dest, want) in cases {
            let got = plan(&[bytes(dest)], &defaults()).map(|e| e.last().unwrap().path.clone());
            match (got, want) {
                (Ok(path), Ok(want)) => assert_eq!(path, want, "{dest}"),
                (Err(err), Err(want)) => assert!(err.to_string().contains(want), "{dest}: {err}"),
                (got, want) => panic!("{dest}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn parents_come_first_and_order_is_by_component() {
        let specs = [bytes("a-b"), bytes("a/b/c"), bytes("a.txt"), bytes("/z")];
        let paths: Vec<_> = plan(&specs, &defaults())
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["a", "a/b", "a/b/c", "a-b", "a.txt", "z"]);
    }

    #[test]
    fn duplicates_are_rejected_but_repeated_directories_are_not() {
        let err = plan(&[bytes("a/b"), bytes("/a/b")], &defaults()).unwrap_err();
        assert!(
            err.to_string().contains("duplicate destination \"a/b\""),
            "{err}"
        );
        let dirs = [
            EntrySpec::Dir {
                dest: "a".into(),
                mode: None,
            },
            bytes("a/b"),
            EntrySpec::Dir {
                dest: "/a/".into(),
                mode: None,
            },
        ];
        assert_eq!(plan(&dirs, &defaults()).unwrap().len(), 2);
        let clash = [bytes("a"), bytes("a/b")];
        assert!(plan(&clash, &defaults()).is_err());
    }
}
