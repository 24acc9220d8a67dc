//! rko's build cache (`KOCACHE`): Go binaries at stable paths, layers by a
//! key of their inputs, pulled base images by digest, scratch directories.
//!
//! Nothing in it is trusted blindly: a binary is reused only when rko
//! recorded it complete after a successful build, a layer only when its
//! bytes hash to its descriptor's digest (hashed once, then recorded with
//! the blob's size, mtime and inode, as a binary's digest is). Anything
//! else is rebuilt with a warning. Scratch directories of killed runs are swept by the next run.
//!
//! It is bounded: every entry a run uses is locked and marked used
//! (`lock`), and at the end of the run [`Cache::settle`] prunes the
//! least recently used entries no run holds when the cache is over its cap
//! (`evict`; `size` reads the cap).

pub(crate) mod evict;
pub(crate) mod lock;
pub(crate) mod size;

use crate::digest;
use crate::error::{IoContext, Result};
use crate::image::descriptor::LayerDescriptor;
use lock::{lock_file, Hold};
use oci_spec::image::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// A scratch directory without a lock file (made by an older rko, or killed
/// before it made one) counts as abandoned once it is this old.
const UNLOCKED_SCRATCH_AGE: Duration = Duration::from_secs(10 * 60);

/// The lock file inside each scratch directory.
const LOCK: &str = ".rko-lock";

/// The cache directory.
#[derive(Debug)]
pub struct Cache {
    root: PathBuf,
    /// What was found broken and rebuilt, for the command to report.
    warnings: Mutex<Vec<String>>,
    /// The lock files of the layers and base images this run uses, held
    /// shared until it settles, so that no prune removes them meanwhile.
    held: Mutex<BTreeMap<PathBuf, File>>,
    /// What this run wrote, for the size ledger.
    added: Mutex<Added>,
}

/// What a run wrote into the cache.
#[derive(Debug, Default)]
struct Added {
    /// Bytes already known (binaries, less what they replaced).
    bytes: i64,
    /// Layers and base images it may have written, measured at the end.
    layers: BTreeSet<String>,
    bases: BTreeSet<PathBuf>,
}

/// Prunes `KOCACHE` at `root` to `to` ([`evict::prune`]), after opening
/// it as a run does, which sweeps the scratch directories of killed runs.
pub fn prune(root: &Path, to: evict::PruneTo) -> Result<evict::Pruned> {
    drop(Cache::open(root)?);
    evict::prune(root, to)
}

/// A short, filesystem-safe key for `parts`.
pub fn key(parts: &[&str]) -> String {
    let joined = parts.join("\0");
    let digest = digest::sha256(joined.as_bytes());
    digest.digest()[..32].to_string()
}

/// A binary's place in the cache, held exclusively (against other rko
/// processes sharing `KOCACHE`) from the check before `go build` until the
/// binary is recorded complete after it.
#[derive(Debug)]
pub struct BinarySlot {
    pub path: PathBuf,
    /// The size of the binary that was there, which a new one replaces.
    previous: u64,
    _lock: File,
}

/// A scratch directory, locked while this run uses it; removed on drop.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
    _lock: File,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Cache {
    /// Opens (creating) the cache at `root` and sweeps the scratch
    /// directories that killed runs left behind.
    pub fn open(root: &Path) -> Result<Cache> {
        for sub in evict::KINDS.iter().chain(&["tmp"]) {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).with_path("creating", &dir)?;
        }
        let cache = Cache {
            root: root.to_path_buf(),
            warnings: Mutex::new(Vec::new()),
            held: Mutex::new(BTreeMap::new()),
            added: Mutex::new(Added::default()),
        };
        cache.sweep_scratch();
        Ok(cache)
    }

    /// The warnings gathered so far, emptied.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().expect("no panics holding warnings"))
    }

    fn warn(&self, message: String) {
        self.warnings
            .lock()
            .expect("no panics holding warnings")
            .push(message);
    }

    /// The stable output path for a binary built with these inputs, locked
    /// (and marked used). A binary already there that rko did not record
    /// complete (a copy killed half way, a file changed behind rko's back)
    /// is removed, so that `go build` relinks it instead of trusting its
    /// build ID.
    pub fn binary(&self, key: &str, name: &str) -> Result<BinarySlot> {
        let bin = self.root.join("bin");
        let lock = lock::hold(&lock::path(&bin, key), Hold::Exclusive)?;
        let dir = bin.join(key);
        fs::create_dir_all(&dir).with_path("creating", &dir)?;
        let path = dir.join(name);
        if path.exists() && recorded_digest(&path).is_none() {
            self.warn(format!(
                "{}: not recorded as complete; rebuilding it",
                path.display()
            ));
            fs::remove_file(&path).with_path("removing", &path)?;
        }
        let previous = fs::metadata(&path).map_or(0, |meta| meta.len());
        Ok(BinarySlot {
            path,
            previous,
            _lock: lock,
        })
    }

    /// The digest of a binary `go build` just wrote into `slot`, recorded
    /// with the file's size, mtime and inode: the record says "complete",
    /// and spares hashing again while Go leaves the file untouched.
    pub fn record_binary(&self, slot: &BinarySlot) -> Result<Digest> {
        if let Some(digest) = recorded_digest(&slot.path) {
            return Ok(digest);
        }
        let (digest, size) = digest::sha256_file(&slot.path)?;
        let stamp = stamp(&slot.path)?;
        crate::atomic::write_file(
            &record_path(&slot.path),
            format!("{stamp} {digest}").as_bytes(),
        )?;
        self.added().bytes += size as i64 - slot.previous as i64;
        Ok(digest)
    }

    /// Where a layer with this key is to be written: (blob, descriptor).
    pub fn layer_paths(&self, key: &str) -> (PathBuf, PathBuf) {
        self.added().layers.insert(key.to_string());
        self.paths(key)
    }

    fn paths(&self, key: &str) -> (PathBuf, PathBuf) {
        let dir = self.root.join("layers");
        (
            dir.join(format!("{key}.blob")),
            dir.join(format!("{key}.json")),
        )
    }

    /// A cached layer, if present and its bytes hash to its descriptor's
    /// digest; a layer that does not is reported and left to be rebuilt.
    /// The bytes are hashed once: the digest is then recorded with the
    /// blob's size, mtime and inode, as a binary's is, and trusted while
    /// they hold. Either way the entry is held (and marked used) until the
    /// run settles, so a layer about to be written is held too.
    pub fn layer(&self, key: &str) -> Option<(PathBuf, LayerDescriptor)> {
        self.hold("layers", key);
        let (blob, descriptor) = self.paths(key);
        let descriptor = LayerDescriptor::read(&descriptor).ok()?;
        if recorded_digest(&blob).as_ref() == Some(&descriptor.digest) {
            return Some((blob, descriptor));
        }
        match digest::sha256_file(&blob) {
            Ok((digest, size)) if digest == descriptor.digest && size == descriptor.size => {
                record_layer(&blob, &digest);
                Some((blob, descriptor))
            }
            Ok(_) => {
                self.warn(format!(
                    "{}: does not match its digest {}; rebuilding it",
                    blob.display(),
                    descriptor.digest
                ));
                None
            }
            Err(_) => None,
        }
    }

    /// Records the digest of the layer `key` just built, so that reusing it
    /// needs no hashing.
    pub fn record_layer(&self, key: &str, digest: &Digest) {
        record_layer(&self.paths(key).0, digest);
    }

    /// Where `go list` answers are remembered.
    pub fn list_dir(&self) -> PathBuf {
        self.root.join("list")
    }

    /// Where a pulled base image with this key lives, held (and marked
    /// used) until the run settles.
    pub fn base(&self, key: &str) -> PathBuf {
        self.hold("bases", key);
        let path = self.root.join("bases").join(key);
        if !path.exists() {
            self.added().bases.insert(path.clone());
        }
        path
    }

    /// Holds the entry `key` of `kind` shared until the run settles. A lock
    /// that cannot be taken leaves the entry unprotected, with a warning.
    fn hold(&self, kind: &str, key: &str) {
        let path = lock::path(&self.root.join(kind), key);
        if self.held_locks().contains_key(&path) {
            return;
        }
        match lock::hold(&path, Hold::Shared) {
            Ok(file) => {
                self.held_locks().insert(path, file);
            }
            Err(e) => self.warn(format!("{e}; a prune may remove it while in use")),
        }
    }

    fn held_locks(&self) -> MutexGuard<'_, BTreeMap<PathBuf, File>> {
        self.held.lock().expect("no panics holding locks")
    }

    fn added(&self) -> MutexGuard<'_, Added> {
        self.added.lock().expect("no panics holding the ledger")
    }

    /// Ends the run's use of the cache: releases the entries it held, adds
    /// what it wrote to the size ledger and, when that takes the cache over
    /// `cap` (bytes; `None`: no cap), prunes the least recently used
    /// entries no run holds. Pruning never fails a build: a failure is a
    /// warning.
    pub fn settle(&self, cap: Option<u64>) {
        self.held_locks().clear();
        let added = self.take_added();
        match evict::settle(&self.root, added, cap) {
            Ok(Some(pruned)) => {
                log::info!(
                    "KOCACHE {}: over its cap of {}: removed {} least recently used \
                     entries ({}); {} left",
                    self.root.display(),
                    size::format(cap.unwrap_or_default()),
                    pruned.removed,
                    size::format(pruned.removed_bytes),
                    size::format(pruned.left_bytes),
                );
                for failure in pruned.failures {
                    self.warn(failure);
                }
            }
            Ok(None) => {}
            Err(e) => self.warn(format!("{e}; KOCACHE was not pruned")),
        }
    }

    /// The bytes this run added since the last call: binaries as recorded,
    /// layers and base images measured now.
    fn take_added(&self) -> i64 {
        let added = std::mem::take(&mut *self.added());
        let layers = added.layers.iter().flat_map(|key| {
            let (blob, descriptor) = self.paths(key);
            [record_path(&blob), blob, descriptor]
        });
        let files: u64 = layers
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        let bases: u64 = added.bases.iter().map(|dir| evict::tree_bytes(dir)).sum();
        added.bytes + (files + bases) as i64
    }

    /// A fresh scratch directory inside the cache (same filesystem, so
    /// layers hard-link into images and Go renames rather than copies),
    /// locked so that another run's sweep leaves it alone.
    pub fn scratch(&self) -> Result<Scratch> {
        let tmp = self.root.join("tmp");
        let dir = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&tmp)
            .with_path("creating a directory in", &tmp)?;
        let lock = lock_file(&dir.path().join(LOCK))?;
        Ok(Scratch { dir, _lock: lock })
    }

    /// Removes the scratch directories of runs that are gone: those whose
    /// lock nobody holds (a live run holds its lock until it ends, and the
    /// kernel drops the locks of killed processes), and unlocked ones older
    /// than [`UNLOCKED_SCRATCH_AGE`]. Failing to sweep costs only disk space.
    fn sweep_scratch(&self) {
        let Ok(entries) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            if entry.file_name().to_string_lossy().starts_with("build-") && abandoned(&dir) {
                let _ = fs::remove_dir_all(&dir);
            }
        }
    }
}

/// A run that ends before it settles (an error, a panic) still adds what it
/// wrote to the ledger.
impl Drop for Cache {
    fn drop(&mut self) {
        self.held_locks().clear();
        let added = self.take_added();
        if added != 0 {
            let _ = evict::settle(&self.root, added, None);
        }
    }
}

/// Whether the scratch directory `dir` belongs to no live run.
fn abandoned(dir: &Path) -> bool {
    match File::open(dir.join(LOCK)) {
        Ok(file) => match file.try_lock() {
            Ok(()) => true,
            Err(TryLockError::WouldBlock) => false,
            Err(TryLockError::Error(_)) => false,
        },
        Err(_) => fs::metadata(dir)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| SystemTime::now().duration_since(modified).ok())
            .is_some_and(|age| age > UNLOCKED_SCRATCH_AGE),
    }
}

/// Size, mtime (ns) and inode: what changes when anything rewrites a file.
fn stamp(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).with_path("reading", path)?;
    Ok(format!(
        "{}:{}:{}:{}",
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ino()
    ))
}

/// Records `digest` for the layer blob at `blob` as it is now. A record
/// that cannot be written costs the next run a hash.
fn record_layer(blob: &Path, digest: &Digest) {
    if let Ok(stamp) = stamp(blob) {
        let record = format!("{stamp} {digest}");
        let _ = crate::atomic::write_file(&record_path(blob), record.as_bytes());
    }
}

/// Where the digest of a binary or layer blob is recorded.
fn record_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".rko-record");
    file.with_file_name(name)
}

/// The digest recorded for `file` (a binary or a layer blob), when the
/// record matches the file as it is now.
fn recorded_digest(file: &Path) -> Option<Digest> {
    let text = fs::read_to_string(record_path(file)).ok()?;
    let (seen, digest) = text.split_once(' ')?;
    (seen == stamp(file).ok()?)
        .then(|| digest::parse(digest.trim()).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::compress::{Compressed, Compression};
    use std::io::Write as _;

    /// A cached layer is hashed when first reused and then trusted while
    /// its stamp (size, mtime, inode) holds, as a recorded binary is: a
    /// rewrite that keeps all three (the last row) is not seen, any other
    /// change is.
    #[test]
    fn a_cached_layer_is_hashed_once_then_known_by_its_stamp() {
        let touch_back = |path: &Path, mtime: SystemTime| {
            File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        };
        type Change = fn(&Path, &dyn Fn(&Path, SystemTime));
        let cases: [(&str, Change, bool); 5] = [
            ("untouched", |_, _| {}, true),
            (
                "a byte appended",
                |blob, _| {
                    let mut file = File::options().append(true).open(blob).unwrap();
                    file.write_all(b"!").unwrap();
                },
                false,
            ),
            (
                "the same bytes in a new file",
                |blob, _| {
                    let bytes = fs::read(blob).unwrap();
                    fs::remove_file(blob).unwrap();
                    fs::write(blob, bytes).unwrap();
                },
                true,
            ),
            (
                "other bytes of the same size in a new file",
                |blob, _| {
                    let size = fs::metadata(blob).unwrap().len() as usize;
                    fs::remove_file(blob).unwrap();
                    fs::write(blob, vec![b'x'; size]).unwrap();
                },
                false,
            ),
            (
                "other bytes of the same size, in place, mtime put back",
                |blob, touch_back| {
                    let meta = fs::metadata(blob).unwrap();
                    fs::write(blob, vec![b'x'; meta.len() as usize]).unwrap();
                    touch_back(blob, meta.modified().unwrap());
                },
                true,
            ),
        ];
        for (change, apply, reused) in cases {
            let root = tempfile::tempdir().unwrap();
            let cache = Cache::open(root.path()).unwrap();
            let (blob, descriptor) = cache.layer_paths("0123456789abcdef0123456789abcdef");
            fs::write(&blob, b"layer bytes").unwrap();
            let digest = digest::sha256(b"layer bytes");
            let layer = LayerDescriptor::new(
                Compression::None,
                Compressed {
                    diff_id: digest.clone(),
                    digest,
                    size: 11,
                },
            );
            fs::write(&descriptor, layer.to_json()).unwrap();
            let key = "0123456789abcdef0123456789abcdef";
            assert!(cache.layer(key).is_some(), "{change}: first reuse");
            assert!(
                recorded_digest(&blob).is_some(),
                "{change}: the first reuse records the digest"
            );
            apply(&blob, &touch_back);
            assert_eq!(cache.layer(key).is_some(), reused, "{change}");
        }
    }
}
