//! Whether a Go binary in `KOCACHE` may be reused without running `go
//! build` or `go list`: a record, beside each binary, of every input its
//! build read ([`crate::porcelain::go::inputs`] finds them) as it was just before `go
//! build` ran, and the test that the record still holds.
//!
//! A file is compared by its stamp: size, mtime and ctime in nanoseconds
//! and inode, as make and ninja compare mtimes (the ctime and inode catch a
//! file rewritten with its old mtime put back). A directory is compared by
//! the names of the files that count in it, so that a file added or
//! removed is seen, while an editor saving by rename (a new directory
//! mtime) is not a change; a package directory whose own stamp is the one
//! recorded (taken before its names were read) has the same names, as
//! adding, removing or renaming an entry changes it, and is not read. The
//! racy-git rule: a file whose mtime or ctime is within [`RACY_NS`] of the
//! run's start may change again without its stamp changing (coarse
//! timestamps, or a write in the same tick), so its content hash is
//! recorded and compared too (a racy directory's stamp is not kept); and a
//! future mtime is always racy.
//!
//! The binaries of one run mostly share their inputs (the standard
//! library): [`Observer::warm`] stats the union of their records' files
//! once, spread over the threads, before each record is checked.

use super::input_set::{listing, DirKind, Inputs};
use super::inputs;
use crate::digest;
use crate::error::{Error, Result};
use crate::parallel::{lock, read, write_locked};
use oci_spec::image::Digest;
use rayon::prelude::*;
use rayon::ThreadPool;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// How close to the run's start a file's times make it racy: two seconds,
/// so that a filesystem with one-second (or FAT's two-second) timestamps
/// is covered.
const RACY_NS: i128 = 2_000_000_000;

/// What a snapshot records for what it could not see as `go build` saw it:
/// no digest, listing or repository state is ever equal to it.
const UNKNOWN: &str = "unknown";

/// The inputs as they were before `go build`, ready to be recorded with
/// the binary it makes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Snapshot {
    format: u32,
    settings: String,
    repository: Option<(PathBuf, String)>,
    /// (directory, kind, digest of the names that count, the directory's
    /// stamp taken before they were read: empty when racy, or not a
    /// package directory).
    dirs: Vec<(PathBuf, DirKind, String, String)>,
    /// (file, stamp, content digest when racy).
    files: Vec<(PathBuf, String, Option<String>)>,
}

impl Snapshot {
    /// The inputs it names, with `settings`: to be looked at again.
    pub fn inputs(&self) -> Inputs {
        Inputs {
            settings: self.settings.clone(),
            files: self.files.iter().map(|(file, ..)| file.clone()).collect(),
            dirs: self
                .dirs
                .iter()
                .map(|(dir, kind, ..)| (dir.clone(), *kind))
                .collect(),
            repository: self.repository.as_ref().map(|(root, _)| root.clone()),
        }
    }

    /// The settings it was taken with.
    pub fn settings(&self) -> &str {
        &self.settings
    }
}

/// A snapshot and the binary made from it, as stored.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    binary: String,
    inputs: Snapshot,
}

/// A file as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    text: String,
    /// The later of its mtime and ctime, ns since the epoch (0 if missing).
    newest: i128,
}

/// The files a directory holds that count (`None`: the directory is missing).
type Listing = Arc<Option<Vec<PathBuf>>>;

/// Looks at files for one run, each once however many binaries share it.
#[derive(Debug)]
pub struct Observer {
    /// The run's start, ns since the epoch.
    start: i128,
    /// By the path's bytes: the paths are absolute and clean, and hashing
    /// bytes is cheaper than hashing a `Path` component by component.
    /// Read by every binary's check, written once per path: a read lock.
    stamps: RwLock<HashMap<OsString, Arc<Stamp>>>,
    hashes: Mutex<HashMap<PathBuf, Option<String>>>,
    listings: Mutex<HashMap<(PathBuf, DirKind), Listing>>,
    repositories: Mutex<HashMap<PathBuf, String>>,
}

impl Observer {
    /// An observer for a run that started `start` seconds after the epoch
    /// (the command line's clock; files written since are racy).
    pub fn new(start: u64) -> Observer {
        Observer {
            start: i128::from(start) * 1_000_000_000,
            stamps: RwLock::default(),
            hashes: Mutex::default(),
            listings: Mutex::default(),
            repositories: Mutex::default(),
        }
    }

    fn stamp(&self, path: &Path) -> Arc<Stamp> {
        if let Some(stamp) = read(&self.stamps).get(path.as_os_str()) {
            return stamp.clone();
        }
        let stamp = Arc::new(observe(path));
        // The first look is the one kept: a snapshot taken before a `go
        // build` must not change under it (see [`Observer::snapshot_since`]).
        write_locked(&self.stamps)
            .entry(path.as_os_str().to_owned())
            .or_insert(stamp)
            .clone()
    }

    fn racy(&self, stamp: &Stamp) -> bool {
        stamp.newest >= self.start - RACY_NS
    }

    /// A package directory's stamp, to be taken before its names are read;
    /// empty when it is racy (or for a tree, whose subdirectories it does
    /// not cover), so that the names are read.
    fn dir_stamp(&self, dir: &Path, kind: DirKind) -> String {
        let stamp = self.stamp(dir);
        if kind != DirKind::Sources || self.racy(&stamp) {
            return String::new();
        }
        stamp.text.clone()
    }

    /// Stats every file and directory the snapshots name, each once, in
    /// `pool`, so that checking each snapshot then finds them all looked at.
    pub fn warm(&self, snapshots: &[&Snapshot], pool: &ThreadPool) {
        let mut paths: Vec<&OsStr> = Vec::new();
        for snapshot in snapshots {
            paths.extend(snapshot.dirs.iter().map(|(dir, ..)| dir.as_os_str()));
            paths.extend(snapshot.files.iter().map(|(file, ..)| file.as_os_str()));
        }
        paths.sort_unstable();
        paths.dedup();
        {
            let known = read(&self.stamps);
            paths.retain(|path| !known.contains_key(*path));
        }
        let chunks: Vec<&[&OsStr]> = paths.chunks(256).collect();
        pool.install(|| {
            chunks.par_iter().for_each(|chunk| {
                let stamps: Vec<Stamp> =
                    chunk.iter().map(|path| observe(Path::new(path))).collect();
                let mut cache = write_locked(&self.stamps);
                for (path, stamp) in chunk.iter().zip(stamps) {
                    cache.entry(path.to_os_string()).or_insert(Arc::new(stamp));
                }
            })
        });
    }

    /// The file's content digest (`None` if it cannot be read).
    fn hash(&self, path: &Path) -> Option<String> {
        if let Some(hash) = lock(&self.hashes).get(path) {
            return hash.clone();
        }
        let hash = digest::sha256_file(path).ok().map(|(d, _)| d.to_string());
        lock(&self.hashes)
            .entry(path.to_path_buf())
            .or_insert(hash)
            .clone()
    }

    fn listing(&self, dir: &Path, kind: DirKind) -> Listing {
        let key = (dir.to_path_buf(), kind);
        if let Some(listing) = lock(&self.listings).get(&key) {
            return listing.clone();
        }
        let listing = Arc::new(listing(dir, kind));
        lock(&self.listings).entry(key).or_insert(listing).clone()
    }

    fn repository(&self, root: &Path) -> String {
        if let Some(state) = lock(&self.repositories).get(root) {
            return state.clone();
        }
        let state = crate::porcelain::go::vcs::state(root);
        lock(&self.repositories)
            .entry(root.to_path_buf())
            .or_insert(state)
            .clone()
    }

    /// The inputs as they are now: taken before `go build` runs, so that
    /// any change made while it reads them shows at the next run.
    pub fn snapshot(&self, inputs: &Inputs) -> Snapshot {
        self.snapshot_reusing(inputs, &[])
    }

    /// [`Observer::snapshot`], where a package directory whose stamp is
    /// the one a snapshot in `known` recorded for it keeps the names that
    /// snapshot read, unread again (its files are among `inputs`' files,
    /// as `known` gave them).
    pub fn snapshot_reusing(&self, inputs: &Inputs, known: &[&Snapshot]) -> Snapshot {
        let known: HashMap<(&OsStr, DirKind), _> = known
            .iter()
            .flat_map(|snapshot| &snapshot.dirs)
            .filter(|entry| !entry.3.is_empty())
            .map(|entry| ((entry.0.as_os_str(), entry.1), entry))
            .collect();
        let mut files = inputs.files.clone();
        let dirs = inputs
            .dirs
            .iter()
            .map(|(dir, kind)| {
                let stamp = self.dir_stamp(dir, *kind);
                if let Some(&entry) = known.get(&(dir.as_os_str(), *kind)) {
                    if !stamp.is_empty() && entry.3 == stamp {
                        return entry.clone();
                    }
                }
                let listing = self.listing(dir, *kind);
                files.extend(listing.iter().flatten().cloned());
                (dir.clone(), *kind, names_digest(&listing), stamp)
            })
            .collect();
        let files = files
            .into_iter()
            .map(|file| {
                let stamp = self.stamp(&file);
                let hash = self.racy(&stamp).then(|| self.hash(&file)).flatten();
                (file, stamp.text.clone(), hash)
            })
            .collect();
        Snapshot {
            format: inputs::FORMAT,
            settings: inputs.settings.clone(),
            repository: inputs
                .repository
                .as_ref()
                .map(|root| (root.clone(), self.repository(root))),
            dirs,
            files,
        }
    }

    /// The inputs as they were when a `go build` started at `start` (ns
    /// since the epoch), looked at after it ran (`go list` ran beside it),
    /// given `before`, a snapshot taken just before it started of what the
    /// last build read. What `before` names is as it recorded it. A file it
    /// does not name is recorded by its stamp only if its times are more
    /// than [`RACY_NS`] older than `start` (a later write would give it a
    /// newer ctime, so it read the same then); anything else it does not
    /// name (a newer file, a directory, another repository) is recorded as
    /// unknown, which never holds: the next run builds again.
    pub fn snapshot_since(&self, inputs: &Inputs, before: &Snapshot, start: i128) -> Snapshot {
        // By the paths' bytes, as `stamps` (hashing a `Path` goes
        // component by component).
        let old_dirs: HashMap<(&OsStr, DirKind), _> = before
            .dirs
            .iter()
            .map(|entry| ((entry.0.as_os_str(), entry.1), entry))
            .collect();
        let old_files: HashMap<&OsStr, _> = before
            .files
            .iter()
            .map(|entry| (entry.0.as_os_str(), entry))
            .collect();
        let mut files = inputs.files.clone();
        let mut dirs = Vec::new();
        for (dir, kind) in &inputs.dirs {
            match old_dirs.get(&(dir.as_os_str(), *kind)) {
                Some(&entry) => {
                    // The listing `before` was made from: looks are kept.
                    files.extend(self.listing(dir, *kind).iter().flatten().cloned());
                    dirs.push(entry.clone());
                }
                None => {
                    let entry = self.settled_dir(dir, *kind, start);
                    if entry.2 != UNKNOWN {
                        files.extend(self.listing(dir, *kind).iter().flatten().cloned());
                    }
                    dirs.push(entry);
                }
            }
        }
        let files = files
            .into_iter()
            .map(|file| match old_files.get(file.as_os_str()) {
                Some(&entry) => entry.clone(),
                None => {
                    let stamp = self.stamp(&file);
                    let unknown = stamp.newest >= start - RACY_NS;
                    (
                        file,
                        stamp.text.clone(),
                        unknown.then(|| UNKNOWN.to_string()),
                    )
                }
            })
            .collect();
        let repository = inputs
            .repository
            .as_ref()
            .map(|root| match &before.repository {
                Some((old, state)) if old == root => (root.clone(), state.clone()),
                _ => (root.clone(), UNKNOWN.to_string()),
            });
        Snapshot {
            format: inputs::FORMAT,
            settings: inputs.settings.clone(),
            repository,
            dirs,
            files,
        }
    }

    /// What a run that saw nothing before `go build` knows of what it reads
    /// before it starts: the state of the git repository Go would stamp
    /// from `dir` (found without `go list`), if any.
    pub fn before_first_build(&self, dir: &Path) -> Snapshot {
        let repository = match crate::porcelain::go::vcs::root(dir) {
            Some((root, "git")) => {
                let state = self.repository(&root);
                Some((root, state))
            }
            _ => None,
        };
        Snapshot {
            format: inputs::FORMAT,
            settings: String::new(),
            repository,
            dirs: Vec::new(),
            files: Vec::new(),
        }
    }

    /// A directory a `snapshot_since` did not see before `go build`
    /// started at `start`: its names as read now, if every directory they
    /// are read from (for a tree, each one below it) is there and was last
    /// changed more than [`RACY_NS`] before `start` (so that no name came
    /// or went since); else unknown. Looked at afresh, not through the
    /// stamps kept from before.
    fn settled_dir(
        &self,
        dir: &Path,
        kind: DirKind,
        start: i128,
    ) -> (PathBuf, DirKind, String, String) {
        let walked: Vec<PathBuf> = match kind {
            DirKind::Sources => vec![dir.to_path_buf()],
            DirKind::Tree => walkdir::WalkDir::new(dir)
                .into_iter()
                .map(|entry| entry.map(|e| (e.file_type().is_dir(), e.into_path())))
                .filter_map(|entry| match entry {
                    Ok((true, path)) => Some(Some(path)),
                    Ok((false, _)) => None,
                    Err(_) => Some(None),
                })
                .collect::<Option<_>>()
                .unwrap_or_default(),
        };
        let stamps: Vec<Stamp> = walked.iter().map(|d| observe(d)).collect();
        let settled = !stamps.is_empty()
            && stamps
                .iter()
                .all(|s| s.text.starts_with('d') && s.newest < start - RACY_NS);
        if !settled {
            return (dir.to_path_buf(), kind, UNKNOWN.to_string(), String::new());
        }
        let stamp = match kind {
            DirKind::Sources => stamps[0].text.clone(),
            DirKind::Tree => String::new(),
        };
        (
            dir.to_path_buf(),
            kind,
            names_digest(&self.listing(dir, kind)),
            stamp,
        )
    }

    /// Whether `snapshot` still describes the inputs (`Some`), and the
    /// snapshot to keep instead where stamps changed but not what they
    /// stand for (a racy file's content unchanged, a directory's names).
    fn holds(&self, snapshot: &Snapshot, settings: &str) -> Option<Option<Snapshot>> {
        if snapshot.format != inputs::FORMAT {
            return None;
        }
        if snapshot.settings != settings {
            log::debug!(
                "{}: {}; building it again",
                inputs::subject(settings),
                inputs::changes(&snapshot.settings, settings)
            );
            return None;
        }
        // Cloned only when a stamp is to be refreshed: most checks find
        // every stamp as recorded.
        let mut fresh: Option<Snapshot> = None;
        for (i, (dir, kind, names, stamp)) in snapshot.dirs.iter().enumerate() {
            let now = self.dir_stamp(dir, *kind);
            if stamp.is_empty() || now != *stamp {
                if *names != names_digest(&self.listing(dir, *kind)) {
                    log::debug!("{}: files added or removed", dir.display());
                    return None;
                }
                if now != *stamp {
                    fresh.get_or_insert_with(|| snapshot.clone()).dirs[i].3 = now;
                }
            }
        }
        for (i, (file, stamp, hash)) in snapshot.files.iter().enumerate() {
            let now = self.stamp(file);
            let same = match hash.as_deref() {
                None => now.text == *stamp,
                // A racy file: its content decides.
                Some(recorded) => self.hash(file).as_deref() == Some(recorded),
            };
            if !same {
                log::debug!("{}: changed", file.display());
                return None;
            }
            let hash_now = hash.as_ref().filter(|_| self.racy(&now));
            if now.text != *stamp || hash_now != hash.as_ref() {
                let entry = &mut fresh.get_or_insert_with(|| snapshot.clone()).files[i];
                entry.1 = now.text.clone();
                entry.2 = hash_now.cloned();
            }
        }
        if let Some((root, state)) = &snapshot.repository {
            if self.repository(root) != *state {
                log::debug!("{}: the repository state changed", root.display());
                return None;
            }
        }
        Some(fresh)
    }
}

/// The time now, ns since the epoch, as [`Observer::snapshot_since`] takes it.
pub fn clock() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// How many entries [`quiet_tree`] looks at before it gives up.
const QUIET_TREE_LIMIT: usize = 20_000;

/// Whether nothing under `dir` (the module a `go build` runs in; Go's
/// ignored `.`, `_` and `testdata` directories left out) changed less than
/// [`RACY_NS`] before now, looked at with at most [`QUIET_TREE_LIMIT`]
/// entries: then `go list` may run beside the first `go build` of a
/// binary, as what it names there is seen after the build as it was
/// before ([`Observer::snapshot_since`]); a file written just now needs a
/// look before the build, which only a `go list` first can name.
pub fn quiet_tree(dir: &Path) -> bool {
    let since = clock() - RACY_NS;
    let walk = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|entry| {
            let name = entry.file_name().to_string_lossy();
            entry.depth() == 0
                || !entry.file_type().is_dir()
                || !(name.starts_with('.') || name.starts_with('_') || name == "testdata")
        })
        .take(QUIET_TREE_LIMIT + 1);
    let mut seen = 0;
    for entry in walk {
        let Ok(entry) = entry else {
            return false;
        };
        seen += 1;
        let stamp = observe(entry.path());
        if seen > QUIET_TREE_LIMIT || stamp.newest == 0 || stamp.newest >= since {
            return false;
        }
    }
    true
}

/// The file at `path` as it is now.
fn observe(path: &Path) -> Stamp {
    match std::fs::metadata(path) {
        Ok(m) => {
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            let kind = if m.is_dir() { 'd' } else { 'f' };
            Stamp {
                text: format!(
                    "{kind}:{}:{}.{}:{}.{}:{}",
                    m.size(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec(),
                    m.ino()
                ),
                newest: ns(m.mtime(), m.mtime_nsec()).max(ns(m.ctime(), m.ctime_nsec())),
            }
        }
        Err(_) => Stamp {
            text: "missing".to_string(),
            newest: 0,
        },
    }
}

/// A digest of the names in a listing (a missing directory has its own).
fn names_digest(listing: &Option<Vec<PathBuf>>) -> String {
    match listing {
        None => "missing".to_string(),
        Some(files) => {
            let mut text = Vec::new();
            for file in files {
                text.extend_from_slice(file.as_os_str().as_encoded_bytes());
                text.push(0);
            }
            digest::sha256(&text).to_string()
        }
    }
}

/// Where the record for the binary at `binary` is kept: beside it, so
/// that the binary's lock covers both and removing one removes both.
pub fn record_path(binary: &Path) -> PathBuf {
    let mut name = binary.file_name().unwrap_or_default().to_os_string();
    name.push(".rko-inputs");
    binary.with_file_name(name)
}

/// Records that `binary` (whose digest is `digest`) was built from
/// `snapshot`.
pub fn write(binary: &Path, snapshot: Snapshot, digest: &Digest) -> Result<()> {
    let record = Record {
        binary: digest.to_string(),
        inputs: snapshot,
    };
    let bytes = serde_json::to_vec(&record).map_err(|e| {
        Error::file(
            record_path(binary),
            format!("cannot record the build's inputs: {e}"),
        )
    })?;
    crate::atomic::write_file(&record_path(binary), &bytes)
}

/// Removes the record of `binary`, which is about to be rebuilt.
pub fn forget(binary: &Path) {
    let _ = std::fs::remove_file(record_path(binary));
}

/// The record kept beside a binary, read.
#[derive(Debug)]
pub struct Recorded {
    binary: PathBuf,
    record: Record,
}

impl Recorded {
    /// The record of the binary at `binary`, if there is a readable one.
    pub fn read(binary: &Path) -> Option<Recorded> {
        let bytes = std::fs::read(record_path(binary)).ok()?;
        let record = serde_json::from_slice::<Record>(&bytes).ok()?;
        Some(Recorded {
            binary: binary.to_path_buf(),
            record,
        })
    }

    /// The inputs it records.
    pub fn inputs(&self) -> &Snapshot {
        &self.record.inputs
    }

    /// The inputs it records, the rest dropped.
    pub fn into_inputs(self) -> Snapshot {
        self.record.inputs
    }

    /// Whether the binary, whose digest is `digest`, was built from inputs
    /// that have not changed since, with settings `settings`. Refreshes the
    /// record's stamps where only they changed.
    pub fn holds(&self, digest: &Digest, settings: &str, observer: &Observer) -> bool {
        if self.record.binary != digest.to_string() {
            return false;
        }
        match observer.holds(&self.record.inputs, settings) {
            None => false,
            Some(None) => true,
            Some(Some(fresh)) => {
                // Only costs the next run some hashing if it fails.
                let _ = write(&self.binary, fresh, digest);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::fs;

    /// What a record says after each kind of change to one input file,
    /// recorded when it was old (stamp compared) or racy (content compared).
    #[test]
    fn a_record_holds_until_an_input_changes() {
        type Change = fn(&Path);
        let cases: [(&str, Change, bool, bool); 7] = [
            ("nothing", |_| {}, true, true),
            (
                "rewritten, other content",
                |f| fs::write(f, "b").unwrap(),
                false,
                false,
            ),
            (
                "rewritten, same content",
                |f| fs::write(f, "a").unwrap(),
                false,
                true,
            ),
            ("removed", |f| fs::remove_file(f).unwrap(), false, false),
            (
                "replaced by rename, same content",
                |f| {
                    fs::write(f.with_extension("new"), "a").unwrap();
                    fs::rename(f.with_extension("new"), f).unwrap();
                },
                false,
                true,
            ),
            (
                "a file added to the directory",
                |f| fs::write(f.with_file_name("added.go"), "package main").unwrap(),
                false,
                false,
            ),
            (
                "a file added, the directory's mtime put back",
                |f| {
                    let dir = f.parent().unwrap();
                    let mtime = fs::metadata(dir).unwrap().modified().unwrap();
                    fs::write(f.with_file_name("added.go"), "package main").unwrap();
                    fs::File::open(dir).unwrap().set_modified(mtime).unwrap();
                },
                false,
                false,
            ),
        ];
        for (change, apply, old_holds, racy_holds) in cases {
            // A run starting long after the file's times makes it old; one
            // starting at the epoch makes every file racy.
            for (start, want) in [(u64::from(u32::MAX), old_holds), (0, racy_holds)] {
                let dir = tempfile::tempdir().unwrap();
                let file = dir.path().join("main.go");
                fs::write(&file, "a").unwrap();
                // An old mtime, so that a rewrite within the same clock
                // tick still gets another.
                let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
                fs::File::options()
                    .write(true)
                    .open(&file)
                    .unwrap()
                    .set_modified(old)
                    .unwrap();
                let inputs = Inputs {
                    settings: "s".to_string(),
                    files: BTreeSet::new(),
                    dirs: [(dir.path().to_path_buf(), DirKind::Sources)].into(),
                    repository: None,
                };
                let snapshot = Observer::new(start).snapshot(&inputs);
                apply(&file);
                let holds = Observer::new(start).holds(&snapshot, "s").is_some();
                let racy = if start == 0 { "racy" } else { "old" };
                assert_eq!(holds, want, "{change} ({racy})");
            }
        }
    }

    /// `go list` runs beside `go build` after an edit: what it finds is
    /// recorded as the look just before `go build` started saw it, and
    /// what that look did not see is trusted only if it is older than the
    /// build by more than the racy margin.
    #[test]
    fn after_go_build_only_what_was_seen_before_it_or_is_older_is_trusted() {
        /// A change made once `go build` started, to the package directory
        /// the last build read or elsewhere (`other`), and what `go list`
        /// then finds.
        type Change = fn(package: &Path, other: &Path, found: &mut Inputs);
        let second = 1_000_000_000;
        // (what, change, how long after the change the build started, holds)
        let cases: [(&str, Change, i128, bool); 7] = [
            ("nothing changed", |_, _, _| {}, 0, true),
            (
                "a file seen before, changed",
                |package, _, _| write(&package.join("main.go")),
                3 * second,
                false,
            ),
            (
                "a file added to a directory seen before",
                |package, _, _| write(&package.join("added.go")),
                3 * second,
                false,
            ),
            (
                "a file not seen before, older than the build",
                |_, other, found| {
                    write(&other.join("extra.go"));
                    found.files.insert(other.join("extra.go"));
                },
                3 * second,
                true,
            ),
            (
                "a file not seen before, as new as the build",
                |_, other, found| {
                    write(&other.join("extra.go"));
                    found.files.insert(other.join("extra.go"));
                },
                0,
                false,
            ),
            (
                "a directory not seen before, older than the build",
                |_, other, found| {
                    found.dirs.insert((other.to_path_buf(), DirKind::Sources));
                },
                3 * second,
                true,
            ),
            (
                "a directory not seen before, as new as the build",
                |_, other, found| {
                    found.dirs.insert((other.to_path_buf(), DirKind::Sources));
                },
                0,
                false,
            ),
        ];
        fn write(path: &Path) {
            fs::write(path, format!("package main // {}", path.display())).unwrap();
        }
        for (what, change, later, want) in cases {
            let (package, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            fs::write(package.path().join("main.go"), "package main").unwrap();
            let mut inputs = Inputs {
                settings: "s".to_string(),
                dirs: [(package.path().to_path_buf(), DirKind::Sources)].into(),
                ..Inputs::default()
            };
            let observer = Observer::new(0);
            let before = observer.snapshot(&inputs);
            change(package.path(), other.path(), &mut inputs);
            let start = clock() + later;
            let after = observer.snapshot_since(&inputs, &before, start);
            let holds = Observer::new(0).holds(&after, "s").is_some();
            assert_eq!(holds, want, "{what}");
        }
    }

    #[test]
    fn a_module_written_just_now_is_not_quiet() {
        let module = tempfile::tempdir().unwrap();
        fs::create_dir(module.path().join(".git")).unwrap();
        assert!(!quiet_tree(module.path()), "the directory itself is new");
        assert!(!quiet_tree(&module.path().join("missing")));
    }

    #[test]
    fn a_record_holds_only_for_its_settings_and_format() {
        let inputs = Inputs {
            settings: "s".to_string(),
            ..Inputs::default()
        };
        let snapshot = Observer::new(0).snapshot(&inputs);
        assert!(Observer::new(0).holds(&snapshot, "s").is_some());
        assert!(Observer::new(0).holds(&snapshot, "t").is_none());
        let older = Snapshot {
            format: 0,
            ..snapshot
        };
        assert!(Observer::new(0).holds(&older, "s").is_none());
    }
}
