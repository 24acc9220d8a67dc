//! Atomic outputs: everything is written beside its target and renamed into
//! place at the end, so an interrupted run never leaves a half-written output
//! that a build system could cache.

use crate::error::{Error, IoContext, Result};
use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tempfile::{NamedTempFile, TempDir};

/// Temporary outputs not yet committed or dropped, so that a run stopped by
/// a signal can remove them on its way out.
static PENDING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn pending() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    crate::parallel::lock(&PENDING)
}

/// Removes every temporary output still being written. Meant for a
/// SIGINT/SIGTERM handler that exits right after: a run that is stopped
/// leaves neither its outputs nor their temporary files behind.
pub fn remove_pending() {
    for path in std::mem::take(&mut *pending()) {
        let _ = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

/// The directory that will hold `target`; it must already exist.
fn parent_of(target: &Path) -> Result<PathBuf> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::file(
            target,
            format!(
                "cannot write: directory {} does not exist",
                parent.display()
            ),
        ));
    }
    if target.file_name().is_none() {
        return Err(Error::file(target, "cannot write: not a file name"));
    }
    Ok(parent)
}

fn temp_prefix(target: &Path) -> String {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    format!(".{name}.rko-tmp-")
}

/// How long a temporary must have been left untouched before a later run
/// takes it for the remains of a killed one.
const STALE_AFTER: Duration = Duration::from_secs(10 * 60);

/// Removes what killed runs left beside a target: its other temporaries
/// (`prefix` + anything) not modified for [`STALE_AFTER`] before `now`, the
/// modification time of the temporary this run just created.
///
/// Safe without a lock: a live run keeps its temporary fresh, as it writes
/// it from the moment it is created (rko creates a temporary only when it
/// is about to fill it) and a directory counts as modified when anything
/// in it is; only one nobody has touched for minutes is taken for dead.
/// Times are the filesystem's own, compared with each other, so neither
/// the clock nor a network filesystem's skew comes into it. Failures are
/// ignored: sweeping is housekeeping, never a reason to fail a run.
fn sweep_stale(parent: &Path, prefix: &str, now: SystemTime) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        let stale = last_modified(&path)
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if stale {
            let _ = match entry.file_type() {
                Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
        }
    }
}

/// The newest modification time of `path` and, for a directory, of
/// everything in it (symlinks not followed).
fn last_modified(path: &Path) -> Option<SystemTime> {
    walkdir::WalkDir::new(path)
        .into_iter()
        .filter_map(|entry| entry.ok()?.metadata().ok()?.modified().ok())
        .max()
}

/// A failed write to an output, carried through `io::Write` (a compressor,
/// a tar writer, an `io::copy`) so that the error names the output rather
/// than whatever was being copied into it.
#[derive(Debug)]
struct WriteFailed {
    target: PathBuf,
    source: io::Error,
}

impl fmt::Display for WriteFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "writing {}: {}", self.target.display(), self.source)
    }
}

impl std::error::Error for WriteFailed {}

/// "writing TARGET: …" when `e` is a failed write to an [`AtomicFile`];
/// `otherwise(e)` when it is not (the caller knows what else it could be).
pub(crate) fn blame_output(e: io::Error, otherwise: impl FnOnce(io::Error) -> Error) -> Error {
    if !e.get_ref().is_some_and(|inner| inner.is::<WriteFailed>()) {
        return otherwise(e);
    }
    let failed = e
        .into_inner()
        .and_then(|inner| inner.downcast::<WriteFailed>().ok())
        .expect("checked above");
    Error::io("writing", failed.target, failed.source)
}

/// Makes a write past `ulimit -f` fail with EFBIG instead of killing the
/// process with SIGXFSZ, which would leave the temporary file behind and
/// print nothing. (The command line's `main` would be the natural place;
/// it lives here so that every caller of this module gets it.)
#[cfg(all(
    any(target_os = "linux", target_os = "macos"),
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn report_file_size_limit_as_an_error() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SIGXFSZ is 25 and SIG_IGN is 1 on these targets (signal.h).
        const SIGXFSZ: i32 = 25;
        const SIG_IGN: usize = 1;
        extern "C" {
            fn signal(signum: i32, handler: usize) -> usize;
        }
        // SAFETY: ignoring a signal installs no handler code; signal(2) is
        // safe to call from any thread.
        unsafe {
            signal(SIGXFSZ, SIG_IGN);
        }
    });
}

#[cfg(not(all(
    any(target_os = "linux", target_os = "macos"),
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn report_file_size_limit_as_an_error() {}

/// A file being written; it appears at its target only on [`commit`](Self::commit).
///
/// Written through its `Write` implementation, a failure reads
/// "writing TARGET: …" (see [`blame_output`]).
pub struct AtomicFile {
    /// `None` once committed.
    temp: Option<NamedTempFile>,
    temp_path: PathBuf,
    target: PathBuf,
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        pending().remove(&self.temp_path);
    }
}

/// Checks, before any work, that a file can be written at `target`: its
/// directory exists, and no directory is there (a rename would not replace
/// it, and rko never removes one). A command with several outputs checks
/// them all first, so that none is written when another cannot be.
pub fn check_file_target(target: &Path) -> Result<()> {
    file_target_parent(target).map(drop)
}

/// The directory of a file target that passes [`check_file_target`].
fn file_target_parent(target: &Path) -> Result<PathBuf> {
    let parent = parent_of(target)?;
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => Err(Error::file(
            target,
            "cannot write this file: a directory is there (rko replaces only a file)",
        )),
        _ => Ok(parent),
    }
}

/// A temporary `make` creates, and its path, registered for removal under
/// the lock it is made under: a signal handler's `remove_pending` waits for
/// the registration, so a run stopped between the two leaves no temporary
/// behind.
fn registered<T: AsRef<Path>>(make: impl FnOnce() -> Result<T>) -> Result<(T, PathBuf)> {
    let mut pending = pending();
    let temp = make()?;
    let temp_path = temp.as_ref().to_path_buf();
    pending.insert(temp_path.clone());
    Ok((temp, temp_path))
}

impl AtomicFile {
    pub fn create(target: &Path) -> Result<Self> {
        report_file_size_limit_as_an_error();
        let parent = file_target_parent(target)?;
        let (temp, temp_path) = registered(|| {
            tempfile::Builder::new()
                .prefix(&temp_prefix(target))
                .tempfile_in(&parent)
                .with_path("creating a temporary file in", &parent)
        })?;
        if let Ok(now) = temp.as_file().metadata().and_then(|m| m.modified()) {
            sweep_stale(&parent, &temp_prefix(target), now);
        }
        Ok(AtomicFile {
            temp: Some(temp),
            temp_path,
            target: target.to_path_buf(),
        })
    }

    /// An error writing the temporary file, as an error writing the target.
    fn failed(&self, source: io::Error) -> io::Error {
        let kind = source.kind();
        let failed = WriteFailed {
            target: self.target.clone(),
            source,
        };
        io::Error::new(kind, failed)
    }

    pub fn file(&mut self) -> &mut fs::File {
        self.temp
            .as_mut()
            .expect("only commit takes the file")
            .as_file_mut()
    }

    /// Applies the usual 0644 mode and renames onto the target.
    pub fn commit(self) -> Result<()> {
        self.commit_with_mode(0o644)
    }

    /// Like [`commit`](Self::commit), with the file's mode given.
    ///
    /// No fsync: the rename makes the output whole or absent if the run is
    /// interrupted, which is what build systems need; surviving a power cut
    /// is not worth the milliseconds every output would pay.
    pub fn commit_with_mode(mut self, mode: u32) -> Result<()> {
        let temp = self.temp.take().expect("commit happens once");
        set_mode(temp.path(), mode)?;
        temp.persist(&self.target)
            .map_err(|e| Error::io("writing", &self.target, e.error))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf).map_err(|e| self.failed(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file().flush().map_err(|e| self.failed(e))
    }
}

/// Writes `bytes` to `target` atomically.
pub fn write_file(target: &Path, bytes: &[u8]) -> Result<()> {
    let mut out = AtomicFile::create(target)?;
    out.file().write_all(bytes).with_path("writing", target)?;
    out.commit()
}

/// A directory being filled; it replaces its target only on [`commit`](Self::commit).
pub struct AtomicDir {
    /// `None` once committed.
    temp: Option<TempDir>,
    temp_path: PathBuf,
    target: PathBuf,
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        pending().remove(&self.temp_path);
    }
}

impl AtomicDir {
    pub fn create(target: &Path) -> Result<Self> {
        report_file_size_limit_as_an_error();
        let parent = parent_of(target)?;
        if target.exists() && !target.is_dir() {
            return Err(Error::file(
                target,
                "cannot write: it exists and is not a directory",
            ));
        }
        let (temp, temp_path) = registered(|| {
            tempfile::Builder::new()
                .prefix(&temp_prefix(target))
                .tempdir_in(&parent)
                .with_path("creating a temporary directory in", &parent)
        })?;
        if let Ok(now) = fs::metadata(temp.path()).and_then(|m| m.modified()) {
            sweep_stale(&parent, &temp_prefix(target), now);
        }
        Ok(AtomicDir {
            temp: Some(temp),
            temp_path,
            target: target.to_path_buf(),
        })
    }

    /// Where to write the content until it is committed.
    pub fn path(&self) -> &Path {
        &self.temp_path
    }

    /// Moves the finished directory onto the target. An existing empty
    /// directory (as Bazel creates for a declared directory) is replaced by
    /// `rename` itself; a non-empty one is moved aside first and removed after.
    pub fn commit(mut self) -> Result<()> {
        let temp = self.temp.take().expect("commit happens once");
        set_mode(temp.path(), 0o755)?;
        let staged = temp.keep();
        let target = &self.target;
        let result = match fs::rename(&staged, target) {
            Ok(()) => Ok(()),
            Err(_) if target.is_dir() => replace_dir(&staged, target),
            Err(e) => Err(Error::io("writing", target, e)),
        };
        if result.is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
        result
    }
}

fn replace_dir(staged: &Path, target: &Path) -> Result<()> {
    let parent = parent_of(target)?;
    let old = tempfile::Builder::new()
        .prefix(&temp_prefix(target))
        .tempdir_in(&parent)
        .with_path("creating a temporary directory in", &parent)?;
    let aside = old.path().join("old");
    fs::rename(target, &aside).with_path("replacing", target)?;
    fs::rename(staged, target).with_path("writing", target)?;
    drop(old);
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_path("setting the mode of", path)
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        let mut out = AtomicFile::create(&target).unwrap();
        out.file().write_all(b"hello").unwrap();
        assert!(!target.exists());
        out.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"hello");
    }

    #[test]
    fn a_dropped_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        drop(AtomicFile::create(&target).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_directory_replaces_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("layout");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("stale"), b"x").unwrap();
        let out = AtomicDir::create(&target).unwrap();
        fs::write(out.path().join("fresh"), b"y").unwrap();
        out.commit().unwrap();
        assert!(target.join("fresh").exists());
        assert!(!target.join("stale").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temporaries_of_the_target_left_untouched_for_minutes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        let stale = dir.path().join(".out.txt.rko-tmp-killed");
        let stale_dir = dir.path().join(".out.txt.rko-tmp-killed-dir");
        let live = dir.path().join(".out.txt.rko-tmp-running");
        let live_dir = dir.path().join(".out.txt.rko-tmp-running-dir");
        let other = dir.path().join(".other.txt.rko-tmp-killed");
        for file in [&stale, &live, &other] {
            fs::write(file, b"x").unwrap();
        }
        fs::create_dir(&stale_dir).unwrap();
        fs::create_dir(&live_dir).unwrap();
        // A directory is as fresh as the newest thing in it.
        fs::write(live_dir.join("being-written"), b"x").unwrap();
        for path in [&stale, &stale_dir, &live_dir, &other] {
            fs::File::open(path).unwrap().set_modified(old).unwrap();
        }
        drop(AtomicFile::create(&dir.path().join("out.txt")).unwrap());
        assert!(!stale.exists() && !stale_dir.exists());
        assert!(live.exists() && live_dir.exists() && other.exists());
    }

    #[test]
    fn a_missing_parent_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing/out.txt");
        let err = AtomicFile::create(&target).err().unwrap().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
