//! rko's build cache (`KOCACHE`): Go binaries at stable paths, layers by a
//! key of their inputs, pulled base images by digest, scratch directories.
//!
//! Nothing in it is trusted blindly: a binary is reused only when rko
//! recorded it complete after a successful build, a layer only when its
//! bytes hash to its descriptor's digest. Anything else is rebuilt with a
//! warning. Scratch directories of killed runs are swept by the next run.

use crate::digest;
use crate::error::{IoContext, Result};
use crate::image::descriptor::LayerDescriptor;
use oci_spec::image::Digest;
use std::fs::{self, File, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A scratch directory without a lock file (made by an older rko, or killed
/// before it made one) counts as abandoned once it is this old.
const UNLOCKED_SCRATCH_AGE: Duration = Duration::from_secs(10 * 60);

/// The lock file inside each scratch directory and each binary's directory.
const LOCK: &str = ".rko-lock";

/// The cache directory.
#[derive(Debug)]
pub struct Cache {
    root: PathBuf,
    /// What was found broken and rebuilt, for the command to report.
    warnings: Mutex<Vec<String>>,
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
        for sub in ["bin", "layers", "bases", "list", "tmp"] {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).with_path("creating", &dir)?;
        }
        let cache = Cache {
            root: root.to_path_buf(),
            warnings: Mutex::new(Vec::new()),
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

    /// The stable output path for a binary built with these inputs, locked.
    /// A binary already there that rko did not record complete (a copy
    /// killed half way, a file changed behind rko's back) is removed, so
    /// that `go build` relinks it instead of trusting its build ID.
    pub fn binary(&self, key: &str, name: &str) -> Result<BinarySlot> {
        let dir = self.root.join("bin").join(key);
        fs::create_dir_all(&dir).with_path("creating", &dir)?;
        let lock = lock_file(&dir.join(LOCK))?;
        let path = dir.join(name);
        if path.exists() && recorded_digest(&path).is_none() {
            self.warn(format!(
                "{}: not recorded as complete; rebuilding it",
                path.display()
            ));
            fs::remove_file(&path).with_path("removing", &path)?;
        }
        Ok(BinarySlot { path, _lock: lock })
    }

    /// The digest of a binary `go build` just wrote into `slot`, recorded
    /// with the file's size, mtime and inode: the record says "complete",
    /// and spares hashing again while Go leaves the file untouched.
    pub fn record_binary(&self, slot: &BinarySlot) -> Result<Digest> {
        if let Some(digest) = recorded_digest(&slot.path) {
            return Ok(digest);
        }
        let (digest, _) = digest::sha256_file(&slot.path)?;
        let stamp = stamp(&slot.path)?;
        crate::atomic::write_file(
            &record_path(&slot.path),
            format!("{stamp} {digest}").as_bytes(),
        )?;
        Ok(digest)
    }

    /// Where a layer with this key lives: (blob, descriptor).
    pub fn layer_paths(&self, key: &str) -> (PathBuf, PathBuf) {
        let dir = self.root.join("layers");
        (
            dir.join(format!("{key}.blob")),
            dir.join(format!("{key}.json")),
        )
    }

    /// A cached layer, if present and its bytes hash to its descriptor's
    /// digest; a layer that does not is reported and left to be rebuilt.
    pub fn layer(&self, key: &str) -> Option<(PathBuf, LayerDescriptor)> {
        let (blob, descriptor) = self.layer_paths(key);
        let descriptor = LayerDescriptor::read(&descriptor).ok()?;
        match digest::sha256_file(&blob) {
            Ok((digest, size)) if digest == descriptor.digest && size == descriptor.size => {
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

    /// Where `go list` answers are remembered.
    pub fn list_dir(&self) -> PathBuf {
        self.root.join("list")
    }

    /// Where a pulled base image with this manifest digest lives.
    pub fn base(&self, digest_hex: &str) -> PathBuf {
        self.root.join("bases").join(digest_hex)
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

/// Opens (creating) `path` and takes an exclusive lock on it, waiting for
/// another process that holds it.
fn lock_file(path: &Path) -> Result<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_path("creating", path)?;
    file.lock().with_path("locking", path)?;
    Ok(file)
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

fn record_path(binary: &Path) -> PathBuf {
    let mut name = binary.file_name().unwrap_or_default().to_os_string();
    name.push(".rko-record");
    binary.with_file_name(name)
}

/// The digest recorded for `binary`, when the record matches the file as
/// it is now.
fn recorded_digest(binary: &Path) -> Option<Digest> {
    let text = fs::read_to_string(record_path(binary)).ok()?;
    let (seen, digest) = text.split_once(' ')?;
    (seen == stamp(binary).ok()?)
        .then(|| digest::parse(digest.trim()).ok())
        .flatten()
}
