//! Keeping `KOCACHE` under its cap: what its entries are and how big, which
//! go first (the least recently used), removing them without touching one
//! a running build holds, the size ledger that spares a walk on every run,
//! and what `rko cache info` and `rko cache prune` report.
//!
//! An entry is everything in a kind directory (`bin`, `layers`, `bases`,
//! `list`) whose name starts with one key: `layers/KEY.blob`,
//! `layers/KEY.json`, `layers/KEY.rko-lock` and the temporaries
//! `.KEY.blob.rko-tmp-…` are one entry. Names that are not rko's keys (ko's
//! own `bin/<import path>/…`, when ko shares `KOCACHE`) are never removed.

use crate::error::{IoContext, Result};
use crate::porcelain::cache::lock;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The kinds of entry, each a directory of `KOCACHE`. A new kind belongs
/// here (or it is never pruned), its keys made by `cache::key`, and a run
/// that reads its entries holds them as `Cache::layer` does.
pub const KINDS: [&str; 4] = ["bin", "layers", "bases", "list"];

/// The ledger: the cache's size as last walked plus what runs added since,
/// so that a run under the cap needs no walk. It is also the lock that one
/// pruning at a time holds.
const LEDGER: &str = ".rko-size";

/// A prune at the end of a build leaves the cache at 9/10 of its cap, so
/// the next builds do not prune again right away.
fn low_water(cap: u64) -> u64 {
    cap / 10 * 9 + cap % 10 * 9 / 10
}

/// One entry: a key in a kind directory and every file named after it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    stem: String,
    /// Its files and directories, by name.
    members: Vec<String>,
    bytes: u64,
    /// The newest mtime among its members: its lock file's is stamped on
    /// every use.
    used: SystemTime,
}

/// The entries of a cache, and the bytes of what is not rko's.
#[derive(Debug, Default)]
struct Walk {
    entries: Vec<Entry>,
    foreign_bytes: u64,
}

impl Walk {
    fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.bytes).sum()
    }
}

/// What one kind of entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindUsage {
    pub kind: &'static str,
    pub entries: usize,
    pub bytes: u64,
}

/// What `rko cache info` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub path: PathBuf,
    /// One per kind, in [`KINDS`] order.
    pub kinds: Vec<KindUsage>,
    /// The scratch directories of runs in progress (or killed ones not yet
    /// swept), not counted in the size.
    pub scratch: usize,
    /// Files in the kind directories that rko did not write.
    pub foreign_bytes: u64,
}

impl Usage {
    pub fn bytes(&self) -> u64 {
        self.kinds.iter().map(|k| k.bytes).sum()
    }

    pub fn entries(&self) -> usize {
        self.kinds.iter().map(|k| k.entries).sum()
    }
}

/// How far to prune.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneTo {
    /// Until the entries hold at most this many bytes.
    Size(u64),
    /// Every entry no run holds.
    All,
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub removed: usize,
    pub removed_bytes: u64,
    /// Entries that were to go but that a running build holds.
    pub in_use: usize,
    pub left: usize,
    pub left_bytes: u64,
    /// Entries that could not be removed, and why.
    pub failures: Vec<String>,
}

/// `KOCACHE` at `root`, measured. Reads only.
pub fn info(root: &Path) -> Usage {
    let walk = walk(root);
    let kinds = KINDS
        .iter()
        .map(|&kind| {
            let of_kind = walk.entries.iter().filter(|e| e.kind == kind);
            KindUsage {
                kind,
                entries: of_kind.clone().count(),
                bytes: of_kind.map(|e| e.bytes).sum(),
            }
        })
        .collect();
    let scratch = fs::read_dir(root.join("tmp")).map_or(0, |dir| {
        dir.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("build-"))
            .count()
    });
    Usage {
        path: root.to_path_buf(),
        kinds,
        scratch,
        foreign_bytes: walk.foreign_bytes,
    }
}

/// Prunes `KOCACHE` at `root` to `to`, least recently used entries first,
/// leaving those a running build holds. The caller has opened the cache
/// ([`super::prune`]), which swept the scratch directories of killed runs.
pub fn prune(root: &Path, to: PruneTo) -> Result<Pruned> {
    let ledger = Ledger::take(root)?;
    let target = match to {
        PruneTo::Size(bytes) => Some(bytes),
        PruneTo::All => None,
    };
    let pruned = evict(root, walk(root), target);
    ledger.write(pruned.left_bytes)?;
    Ok(pruned)
}

/// Adds what a run `added` to the ledger and, when that takes the cache
/// over `cap`, walks it and prunes it to 9/10 of the cap. Under the cap
/// this reads and writes one small file; with no cap (`None`) it only
/// keeps the ledger.
pub fn settle(root: &Path, added: i64, cap: Option<u64>) -> Result<Option<Pruned>> {
    let ledger = Ledger::take(root)?;
    let known = ledger
        .read()
        .map(|bytes| bytes.saturating_add_signed(added));
    match (known, cap) {
        (known, None) => {
            if let Some(bytes) = known {
                ledger.write(bytes)?;
            }
            Ok(None)
        }
        (Some(bytes), Some(cap)) if bytes <= cap => {
            ledger.write(bytes)?;
            Ok(None)
        }
        (_, Some(cap)) => {
            let walk = walk(root);
            let bytes = walk.bytes();
            if bytes <= cap {
                ledger.write(bytes)?;
                return Ok(None);
            }
            let pruned = evict(root, walk, Some(low_water(cap)));
            ledger.write(pruned.left_bytes)?;
            Ok(Some(pruned))
        }
    }
}

/// Removes entries of `walk`, least recently used first, until they hold
/// at most `target` bytes (`None`: all of them).
fn evict(root: &Path, walk: Walk, target: Option<u64>) -> Pruned {
    let mut failures = Vec::new();
    let mut pruned = choose(walk.entries, target, |entry| {
        remove(root, entry).unwrap_or_else(|e| {
            let path = root.join(entry.kind).join(&entry.stem);
            failures.push(format!("{}: cannot remove it: {e}", path.display()));
            false
        })
    });
    pruned.failures = failures;
    pruned
}

/// The pruning rule: entries in order of last use (oldest first; ties by
/// kind and key, so the order never depends on the directory listing),
/// each given to `remove` until the rest hold at most `target` bytes.
/// `remove` says whether the entry went (not when a run holds it).
fn choose(
    mut entries: Vec<Entry>,
    target: Option<u64>,
    mut remove: impl FnMut(&Entry) -> bool,
) -> Pruned {
    entries.sort_by(|a, b| (a.used, a.kind, &a.stem).cmp(&(b.used, b.kind, &b.stem)));
    let mut pruned = Pruned {
        left: entries.len(),
        left_bytes: entries.iter().map(|e| e.bytes).sum(),
        ..Pruned::default()
    };
    for entry in &entries {
        if target.is_some_and(|target| pruned.left_bytes <= target) {
            break;
        }
        if remove(entry) {
            pruned.removed += 1;
            pruned.removed_bytes += entry.bytes;
            pruned.left -= 1;
            pruned.left_bytes -= entry.bytes;
        } else {
            pruned.in_use += 1;
        }
    }
    pruned
}

/// Removes `entry` if no run holds it: its lock is taken (without
/// waiting), its members removed, the lock file last. Whether it went.
fn remove(root: &Path, entry: &Entry) -> io::Result<bool> {
    let dir = root.join(entry.kind);
    let lock_path = lock::path(&dir, &entry.stem);
    let Some(lock) = lock::try_exclusive(&lock_path)? else {
        return Ok(false);
    };
    for member in &entry.members {
        let path = dir.join(member);
        if path == lock_path {
            continue;
        }
        let removed = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(e) => Err(e),
        };
        match removed {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    fs::remove_file(&lock_path)?;
    drop(lock);
    Ok(true)
}

/// The entries of every kind directory under `root`. What cannot be read
/// is left out: it is neither counted nor removed.
fn walk(root: &Path) -> Walk {
    let mut walk = Walk::default();
    for kind in KINDS {
        let Ok(children) = fs::read_dir(root.join(kind)) else {
            continue;
        };
        let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
        for child in children.flatten() {
            let Ok(meta) = child.metadata() else { continue };
            let bytes = if meta.is_dir() {
                tree_bytes(&child.path())
            } else {
                meta.len()
            };
            let name = child.file_name().to_string_lossy().into_owned();
            let Some(stem) = stem(&name) else {
                walk.foreign_bytes += bytes;
                continue;
            };
            let used = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let entry = entries.entry(stem.to_string()).or_insert_with(|| Entry {
                kind,
                stem: stem.to_string(),
                members: Vec::new(),
                bytes: 0,
                used: SystemTime::UNIX_EPOCH,
            });
            entry.members.push(name);
            entry.bytes += bytes;
            entry.used = entry.used.max(used);
        }
        walk.entries.extend(entries.into_values());
    }
    walk
}

/// The bytes of the files under `dir` (symlinks not followed).
pub fn tree_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// The key a file of a kind directory belongs to, if rko named it: the
/// name up to its first dot (after the leading dot of a temporary), made
/// of hex digits and dashes (a base image's `DIGEST-KEY`), or
/// `daemon-KEY`.
fn stem(name: &str) -> Option<&str> {
    let bare = name.strip_prefix('.').unwrap_or(name);
    let stem = bare.split('.').next()?;
    let key = stem.strip_prefix("daemon-").unwrap_or(stem);
    let is_key = key.len() >= 32
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-');
    is_key.then_some(stem)
}

/// The ledger file, locked for as long as this is alive.
struct Ledger {
    file: File,
    path: PathBuf,
}

impl Ledger {
    /// Opens and locks the ledger, waiting for a run that holds it.
    fn take(root: &Path) -> Result<Ledger> {
        let path = root.join(LEDGER);
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_path("creating", &path)?;
        file.lock().with_path("locking", &path)?;
        Ok(Ledger { file, path })
    }

    /// The bytes it records; `None` when it records nothing readable (a
    /// new cache, an older rko, a write cut short).
    fn read(&self) -> Option<u64> {
        let mut text = String::new();
        (&self.file).read_to_string(&mut text).ok()?;
        text.trim().parse().ok()
    }

    fn write(&self, bytes: u64) -> Result<()> {
        self.file.set_len(0).with_path("writing", &self.path)?;
        self.file
            .write_all_at(format!("{bytes}\n").as_bytes(), 0)
            .with_path("writing", &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entry(stem: &str, bytes: u64, used: u64) -> Entry {
        Entry {
            kind: "layers",
            stem: stem.to_string(),
            members: vec![format!("{stem}.blob")],
            bytes,
            used: SystemTime::UNIX_EPOCH + Duration::from_secs(used),
        }
    }

    #[test]
    fn the_least_recently_used_go_first_until_the_rest_fit() {
        // (entries as (stem, bytes, last use), target, held, removed, in use)
        type Case = (
            Vec<Entry>,
            Option<u64>,
            &'static [&'static str],
            &'static [&'static str],
            usize,
        );
        let four = || {
            vec![
                entry("d", 10, 4),
                entry("a", 10, 1),
                entry("c", 10, 3),
                entry("b", 10, 2),
            ]
        };
        let cases: Vec<Case> = vec![
            (four(), Some(40), &[], &[], 0),
            (four(), Some(25), &[], &["a", "b"], 0),
            (four(), Some(20), &[], &["a", "b"], 0),
            (four(), Some(25), &["a"], &["b", "c"], 1),
            (four(), Some(0), &[], &["a", "b", "c", "d"], 0),
            (four(), None, &["c"], &["a", "b", "d"], 1),
            (four(), Some(0), &["a", "b", "c", "d"], &[], 4),
            // Ties in last use go by key.
            (
                vec![entry("y", 5, 1), entry("x", 5, 1)],
                Some(5),
                &[],
                &["x"],
                0,
            ),
        ];
        for (entries, target, held, want, in_use) in cases {
            let total: u64 = entries.iter().map(|e| e.bytes).sum();
            let mut removed = Vec::new();
            let pruned = choose(entries, target, |e| {
                let free = !held.contains(&e.stem.as_str());
                if free {
                    removed.push(e.stem.clone());
                }
                free
            });
            assert_eq!(removed, want, "target {target:?}, held {held:?}");
            assert_eq!(pruned.in_use, in_use, "target {target:?}, held {held:?}");
            assert_eq!(pruned.left_bytes, total - pruned.removed_bytes);
        }
    }

    #[test]
    fn only_names_rko_gives_its_entries_belong_to_an_entry() {
        let key = "0123456789abcdef0123456789abcdef";
        let cases = [
            (format!("{key}.blob"), Some(key.to_string())),
            (format!("{key}.json"), Some(key.to_string())),
            (format!("{key}.rko-lock"), Some(key.to_string())),
            (format!(".{key}.blob.rko-tmp-Xy12"), Some(key.to_string())),
            (key.to_string(), Some(key.to_string())),
            (format!("daemon-{key}"), Some(format!("daemon-{key}"))),
            (
                format!("{key}{key}-{key}"),
                Some(format!("{key}{key}-{key}")),
            ),
            ("example.com".to_string(), None),
            ("github.com".to_string(), None),
            ("img".to_string(), None),
            ("0123abcd.json".to_string(), None),
            (key.to_uppercase(), None),
        ];
        for (name, want) in cases {
            assert_eq!(stem(&name).map(str::to_string), want, "{name}");
        }
    }

    #[test]
    fn a_run_walks_the_cache_only_when_the_ledger_says_it_is_over_its_cap() {
        let key = "0123456789abcdef0123456789abcdef";
        // (ledger before, bytes the run added, cap, pruned, ledger after)
        type Case = (
            Option<&'static str>,
            i64,
            Option<u64>,
            bool,
            Option<&'static str>,
        );
        let cases: [Case; 7] = [
            // Under the cap by the ledger: no walk, so the 1000 bytes on
            // disk (written behind rko's back) go unseen.
            (Some("100\n"), 50, Some(500), false, Some("150\n")),
            (Some("100\n"), -50, Some(500), false, Some("50\n")),
            // Over it by the ledger: walked, pruned to 9/10 of the cap.
            (Some("100\n"), 450, Some(500), true, Some("0\n")),
            // No ledger (new cache, older rko) or an unreadable one: walked.
            (None, 0, Some(500), true, Some("0\n")),
            (Some("garbage"), 0, Some(500), true, Some("0\n")),
            (None, 0, Some(5000), false, Some("1000\n")),
            // No cap: only the ledger is kept, when there is one.
            (None, 10, None, false, Some("")),
        ];
        for (before, added, cap, pruned, after) in cases {
            let root = tempfile::tempdir().unwrap();
            fs::create_dir_all(root.path().join("layers")).unwrap();
            let blob = root.path().join(format!("layers/{key}.blob"));
            fs::write(&blob, vec![0u8; 1000]).unwrap();
            if let Some(text) = before {
                fs::write(root.path().join(LEDGER), text).unwrap();
            }
            let got = settle(root.path(), added, cap).unwrap();
            let case = format!("{before:?} + {added} under {cap:?}");
            assert_eq!(got.is_some(), pruned, "{case}");
            assert_eq!(!blob.exists(), pruned, "{case}");
            let ledger = fs::read_to_string(root.path().join(LEDGER)).ok();
            assert_eq!(ledger.as_deref(), after, "{case}");
        }
    }

    #[test]
    fn the_low_water_mark_is_nine_tenths_of_the_cap() {
        for (cap, want) in [
            (0, 0),
            (10, 9),
            (1000, 900),
            (u64::MAX, u64::MAX / 10 * 9 + 4),
        ] {
            assert_eq!(low_water(cap), want, "{cap}");
        }
    }
}
