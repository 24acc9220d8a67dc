//! The locks that keep a `KOCACHE` entry from being pruned while a run uses
//! it, and the use marks that least-recently-used pruning orders by.
//!
//! Every entry `KIND/STEM…` has a lock file `KIND/STEM.rko-lock` beside it.
//! A run holds it shared (layers, base images) or exclusive (a binary's
//! slot, which `go build` rewrites) for as long as it uses the entry;
//! pruning takes it exclusive without waiting and skips the entry when it
//! cannot. Taking it also marks the entry used by writing one byte to it,
//! so the kernel stamps its mtime: rko reads no clock for this, and
//! `noatime` mounts change nothing.

use crate::error::{IoContext, Result};
use std::fs::{self, File, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What a lock file's name ends with.
pub const SUFFIX: &str = ".rko-lock";

/// The lock file of the entry `stem` in the kind directory `dir`.
pub fn path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}{SUFFIX}"))
}

/// How a run holds an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Reading it; other runs may read it too.
    Shared,
    /// Writing it; other runs wait.
    Exclusive,
}

/// Takes the lock file at `path` (creating it), waiting for a holder that
/// conflicts, and marks the entry used.
///
/// Pruning removes an entry's lock file last, while holding it; a run that
/// was waiting on that file then holds a lock that guards nothing, so it
/// takes the lock again on the file now at `path`.
pub fn hold(path: &Path, how: Hold) -> Result<File> {
    loop {
        let file = open(path)?;
        match how {
            Hold::Shared => file.lock_shared(),
            Hold::Exclusive => file.lock(),
        }
        .with_path("locking", path)?;
        if still_at(&file, path) {
            mark_used(&file);
            return Ok(file);
        }
    }
}

/// The lock at `path` held exclusively, if no run holds it; created when
/// missing, so that a run cannot take it between this check and removal.
pub fn try_exclusive(path: &Path) -> io::Result<Option<File>> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) if still_at(&file, path) => Ok(Some(file)),
        Ok(()) | Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Opens (creating) `path` and takes an exclusive lock on it, waiting for
/// another process that holds it. For files nothing prunes (a scratch
/// directory's lock).
pub fn lock_file(path: &Path) -> Result<File> {
    let file = open(path)?;
    file.lock().with_path("locking", path)?;
    Ok(file)
}

fn open(path: &Path) -> Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_path("creating", path)
}

/// Whether `file` is still the file at `path` (not removed, not replaced).
fn still_at(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(held), Ok(there)) => held.ino() == there.ino() && held.dev() == there.dev(),
        _ => false,
    }
}

/// Marks the entry used now: a write makes the kernel set the file's
/// mtime. A mark that fails costs only the order pruning removes in.
fn mark_used(file: &File) {
    let _ = file.write_at(b"u", 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_entry_cannot_be_taken_for_pruning_and_a_released_one_can() {
        let dir = tempfile::tempdir().unwrap();
        let lock = path(dir.path(), "abc");
        let cases = [
            (Some(Hold::Shared), false),
            (Some(Hold::Exclusive), false),
            (None, true),
        ];
        for (held, prunable) in cases {
            let holder = held.map(|how| hold(&lock, how).unwrap());
            let taken = try_exclusive(&lock).unwrap();
            assert_eq!(taken.is_some(), prunable, "held {held:?}");
            drop((holder, taken));
        }
    }

    #[test]
    fn a_lock_file_removed_while_waiting_is_taken_again_at_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let lock = path(dir.path(), "abc");
        let pruner = try_exclusive(&lock).unwrap().unwrap();
        let waiter = std::thread::spawn({
            let lock = lock.clone();
            move || hold(&lock, Hold::Shared).unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        fs::remove_file(&lock).unwrap();
        drop(pruner);
        let held = waiter.join().unwrap();
        assert!(still_at(&held, &lock), "the waiter holds the new lock file");
        assert!(try_exclusive(&lock).unwrap().is_none());
    }

    #[test]
    fn holding_marks_the_entry_used() {
        let dir = tempfile::tempdir().unwrap();
        let lock = path(dir.path(), "abc");
        fs::write(&lock, "").unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
        File::options()
            .write(true)
            .open(&lock)
            .unwrap()
            .set_modified(old)
            .unwrap();
        drop(hold(&lock, Hold::Shared).unwrap());
        let modified = fs::metadata(&lock).unwrap().modified().unwrap();
        assert!(modified > old, "mtime {modified:?}");
    }
}
