//! Atomic outputs: everything is written beside its target and renamed into
//! place at the end, so an interrupted run never leaves a half-written output
//! that a build system could cache.

use crate::error::{Error, IoContext, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use tempfile::{NamedTempFile, TempDir};

/// The directory that will hold `target`; it must already exist.
fn parent_of(target: &Path) -> Result<PathBuf> {
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::invalid(format!(
            "cannot write {}: directory {} does not exist",
            target.display(),
            parent.display()
        )));
    }
    if target.file_name().is_none() {
        return Err(Error::invalid(format!(
            "cannot write {}: not a file name",
            target.display()
        )));
    }
    Ok(parent)
}

fn temp_prefix(target: &Path) -> String {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    format!(".{name}.rko-tmp-")
}

/// A file being written; it appears at its target only on [`commit`](Self::commit).
pub struct AtomicFile {
    temp: NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    pub fn create(target: &Path) -> Result<Self> {
        let parent = parent_of(target)?;
        let temp = tempfile::Builder::new()
            .prefix(&temp_prefix(target))
            .tempfile_in(&parent)
            .with_path("creating a temporary file in", &parent)?;
        Ok(AtomicFile {
            temp,
            target: target.to_path_buf(),
        })
    }

    pub fn file(&mut self) -> &mut fs::File {
        self.temp.as_file_mut()
    }

    /// Flushes, applies the usual 0644 mode and renames onto the target.
    pub fn commit(self) -> Result<()> {
        let target = self.target;
        let file = self.temp.as_file();
        file.sync_data().with_path("writing", &target)?;
        set_mode(self.temp.path(), 0o644)?;
        self.temp
            .persist(&target)
            .map_err(|e| Error::io("writing", &target, e.error))?;
        Ok(())
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
    temp: TempDir,
    target: PathBuf,
}

impl AtomicDir {
    pub fn create(target: &Path) -> Result<Self> {
        let parent = parent_of(target)?;
        if target.exists() && !target.is_dir() {
            return Err(Error::invalid(format!(
                "cannot write {}: it exists and is not a directory",
                target.display()
            )));
        }
        let temp = tempfile::Builder::new()
            .prefix(&temp_prefix(target))
            .tempdir_in(&parent)
            .with_path("creating a temporary directory in", &parent)?;
        Ok(AtomicDir {
            temp,
            target: target.to_path_buf(),
        })
    }

    /// Where to write the content until it is committed.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Moves the finished directory onto the target. An existing empty
    /// directory (as Bazel creates for a declared directory) is replaced by
    /// `rename` itself; a non-empty one is moved aside first and removed after.
    pub fn commit(self) -> Result<()> {
        let target = self.target;
        set_mode(self.temp.path(), 0o755)?;
        let staged = self.temp.keep();
        let result = match fs::rename(&staged, &target) {
            Ok(()) => Ok(()),
            Err(_) if target.is_dir() => replace_dir(&staged, &target),
            Err(e) => Err(Error::io("writing", &target, e)),
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

/// Writes a file inside a directory that is itself still being staged (and
/// so invisible until committed): no temporary file needed.
pub fn write_plain(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).with_path("writing", path)
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
    fn a_missing_parent_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing/out.txt");
        let err = AtomicFile::create(&target).err().unwrap().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
