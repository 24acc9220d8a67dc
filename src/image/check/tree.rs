//! The image's file tree, from its layers' listings applied in order as a
//! container runtime unpacks them (image-spec `layer.md`, "Applying
//! Changesets"): a later entry replaces an earlier one, `.wh.NAME` removes
//! NAME (and what is under it) from the layers below, `.wh..wh..opq` empties
//! its directory of what the layers below put there.

use crate::image::layer::listing::{EntryKind, ListedEntry};
use std::collections::BTreeMap;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Every path in the image and the entry that put it there.
#[derive(Debug, Default)]
pub struct Tree {
    entries: BTreeMap<String, ListedEntry>,
}

impl Tree {
    /// Applies one layer's entries (paths as [`ListedEntry`] holds them).
    pub fn apply(&mut self, layer: &[ListedEntry]) {
        // Whiteouts hide the layers below only, never their own layer's entries.
        for entry in layer {
            let (dir, name) = split(&entry.path);
            if name == OPAQUE {
                self.remove_under(dir);
            } else if let Some(hidden) = name.strip_prefix(WHITEOUT) {
                let path = join(dir, hidden);
                self.remove_under(&path);
                self.entries.remove(&path);
            }
        }
        for entry in layer {
            if split(&entry.path).1.starts_with(WHITEOUT) {
                continue;
            }
            if entry.kind != EntryKind::Dir {
                self.remove_under(&entry.path);
            }
            self.entries.insert(entry.path.clone(), entry.clone());
        }
    }

    pub fn get(&self, path: &str) -> Option<&ListedEntry> {
        self.entries.get(path)
    }

    /// Removes everything strictly under `dir`.
    fn remove_under(&mut self, dir: &str) {
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        let under: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .map(|(path, _)| path.clone())
            .filter(|path| path != "/")
            .collect();
        for path in under {
            self.entries.remove(&path);
        }
    }
}

/// `/a/b` → (`/a`, `b`); `/a` → (`/`, `a`).
fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((dir, name)) => (dir, name),
        None => ("/", path),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> ListedEntry {
        ListedEntry::new(path, EntryKind::File, 0o644, 0, 0, 1)
    }
    fn dir(path: &str) -> ListedEntry {
        ListedEntry::new(path, EntryKind::Dir, 0o755, 0, 0, 0)
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts() {
        struct Case {
            name: &'static str,
            layers: Vec<Vec<ListedEntry>>,
            present: &'static [&'static str],
            absent: &'static [&'static str],
        }
        let cases = [
            Case {
                name: "a later entry replaces an earlier one",
                layers: vec![
                    vec![file("a")],
                    vec![ListedEntry::new("a", EntryKind::File, 0o555, 1, 1, 2)],
                ],
                present: &["/a"],
                absent: &[],
            },
            Case {
                name: "a whiteout removes a file and a tree below",
                layers: vec![
                    vec![dir("d"), file("d/x"), file("f")],
                    vec![file(".wh.f"), file(".wh.d")],
                ],
                present: &[],
                absent: &["/f", "/d", "/d/x", "/.wh.f"],
            },
            Case {
                name: "a whiteout leaves its own layer's entry",
                layers: vec![vec![file("f")], vec![file(".wh.f"), file("f")]],
                present: &["/f"],
                absent: &[],
            },
            Case {
                name: "an opaque whiteout empties the directory below only",
                layers: vec![
                    vec![dir("d"), file("d/old"), file("dd")],
                    vec![file("d/new"), file("d/.wh..wh..opq")],
                ],
                present: &["/d", "/d/new", "/dd"],
                absent: &["/d/old"],
            },
            Case {
                name: "a file replacing a directory removes what was under it",
                layers: vec![vec![dir("d"), file("d/x")], vec![file("d")]],
                present: &["/d"],
                absent: &["/d/x"],
            },
        ];
        for case in cases {
            let mut tree = Tree::default();
            for layer in &case.layers {
                tree.apply(layer);
            }
            for path in case.present {
                assert!(tree.get(path).is_some(), "{}: {path} missing", case.name);
            }
            for path in case.absent {
                assert!(tree.get(path).is_none(), "{}: {path} present", case.name);
            }
        }
    }
}
