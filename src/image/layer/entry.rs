//! One layer entry, as it will be written: its path, kind, mode, owner,
//! time and PAX records; and the entries a caller asks for, before they
//! are checked and ordered ([`super::entries`]).

use oci_spec::image::Digest;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a file's content comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Path(PathBuf),
    Bytes(Arc<[u8]>),
    /// A blob of an OCI layout, at its path there: opened as
    /// [`crate::image::blob`] opens layout blobs, checked against its
    /// digest as it is read.
    LayoutBlob {
        path: PathBuf,
        digest: Digest,
    },
    /// A blob the user named by its path (a `--layer` file), which may be
    /// a symlink (Bazel's inputs are); checked as it is read.
    NamedBlob {
        path: PathBuf,
        digest: Digest,
    },
}

/// Extra PAX records of an entry, written in key order after the ones the
/// writer needs: `SCHILY.xattr.NAME` for an extended attribute (as GNU tar
/// and Go's archive/tar write them), or any other PAX keyword. Values are
/// bytes: an extended attribute need not be text.
pub type PaxRecords = BTreeMap<String, Vec<u8>>;

/// One thing asked for on the command line (or by rko itself).
#[derive(Debug, Clone)]
pub enum EntrySpec {
    /// A regular file at `dest`; `mode` overrides the layer's file mode.
    File {
        source: Source,
        dest: String,
        mode: Option<u32>,
        pax: PaxRecords,
    },
    /// A directory tree copied recursively under `dest`.
    Tree { source: PathBuf, dest: String },
    /// A symbolic link at `dest` pointing at `target`.
    Symlink { dest: String, target: String },
    /// A directory; `mode` overrides the layer's directory mode.
    Dir { dest: String, mode: Option<u32> },
}

/// Modes and ownership applied to entries that do not set their own.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub file_mode: u32,
    pub dir_mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Symlinks met inside a `Tree` must resolve inside this directory;
    /// `None` means each tree's own root.
    pub allow_root: Option<PathBuf>,
}

/// An entry ready to be written.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative, `/`-separated, no trailing slash.
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Extra records for the entry's PAX header (usually none).
    pub pax: PaxRecords,
}

#[derive(Debug, Clone)]
pub enum Kind {
    File { source: Source, size: u64 },
    Dir,
    Symlink(String),
}

pub(super) fn entry(path: String, kind: Kind, mode: u32, defaults: &Defaults) -> Entry {
    Entry {
        path,
        kind,
        mode,
        uid: defaults.uid,
        gid: defaults.gid,
        pax: PaxRecords::new(),
    }
}
