//! What one `go build` read, as a set: files, directories (whose listing
//! counts) and the settings; [`super::inputs`] finds them, and
//! [`crate::porcelain::go::fingerprint`] records and checks them.

use super::env::source_file;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Which files of a directory count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DirKind {
    /// The files go/build reads in a package directory (not recursive).
    Sources,
    /// Every file below, recursively (an embedded tree, the toolchain's tools).
    Tree,
}

/// What one binary's build reads.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The digest of the settings ([`super::inputs::settings`]).
    pub settings: String,
    /// Files by path (missing ones too: creating one is a change).
    pub files: BTreeSet<PathBuf>,
    /// Directories and which of their files count; those files are inputs.
    pub dirs: BTreeSet<(PathBuf, DirKind)>,
    /// The git work tree whose state Go stamps into the binary.
    pub repository: Option<PathBuf>,
}

/// The files under `dir` that [`DirKind`] `kind` counts, sorted; `None`
/// when `dir` is missing or unreadable.
pub fn listing(dir: &Path, kind: DirKind) -> Option<Vec<PathBuf>> {
    match kind {
        DirKind::Sources => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .ok()?
                .filter_map(|entry| entry.ok())
                .filter(|entry| {
                    entry.file_type().is_ok_and(|t| !t.is_dir())
                        && source_file(&entry.file_name().to_string_lossy())
                })
                .map(|entry| entry.path())
                .collect();
            files.sort();
            Some(files)
        }
        DirKind::Tree => {
            dir.symlink_metadata().ok()?;
            walkdir::WalkDir::new(dir)
                .sort_by_file_name()
                .into_iter()
                .filter(|entry| entry.as_ref().map_or(true, |e| !e.file_type().is_dir()))
                .map(|entry| entry.ok().map(|e| e.into_path()))
                .collect()
        }
    }
}
