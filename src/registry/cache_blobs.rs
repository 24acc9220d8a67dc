//! The layer blobs a sparse layout lacks, as files, for a command that
//! needs their bytes on this machine (`export`, for `ko_load`): a hint
//! where one holds the blob, else read from a remote cache into a scratch
//! directory, each checked against its digest.

use crate::cas::Remote;
use crate::error::{Error, Result};
use crate::image::layout::Layout;
use crate::registry::blob_hints::BlobHints;
use oci_spec::image::Digest;
use std::path::{Path, PathBuf};

/// Files for blobs a layout lacks; fetched ones live as long as this.
pub struct FetchedBlobs {
    _scratch: Option<tempfile::TempDir>,
    pub files: Vec<(Digest, PathBuf)>,
}

/// Files for every layer blob `layout` lacks that `given` does not name:
/// from `hints`, else from `remote`. A blob neither has is left out (the
/// command that needs it names it).
pub fn fetch_missing(
    layout: &Path,
    given: &[(Digest, PathBuf)],
    hints: Vec<PathBuf>,
    remote: Option<&Remote>,
) -> Result<FetchedBlobs> {
    let open = Layout::open(layout)?;
    let hints = BlobHints::new(hints);
    let mut files = Vec::new();
    let mut wanted: Vec<(Digest, u64)> = Vec::new();
    for image in open.images()? {
        for layer in image.manifest.layers() {
            let digest = layer.digest();
            let known = open.blob_path(digest).exists()
                || given.iter().chain(&files).any(|(d, _)| d == digest)
                || wanted.iter().any(|(d, _)| d == digest);
            if known {
                continue;
            }
            match hints.find(digest)? {
                Some(hint) => files.push((digest.clone(), hint)),
                None => wanted.push((digest.clone(), layer.size())),
            }
        }
    }
    let Some(remote) = remote.filter(|_| !wanted.is_empty()) else {
        return Ok(FetchedBlobs {
            _scratch: None,
            files,
        });
    };
    let store = remote.connect()?;
    store.require(&wanted)?;
    let scratch =
        tempfile::tempdir().map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
    for (digest, size) in &wanted {
        let path = scratch.path().join(digest.digest());
        store.write_blob(digest, *size, &path)?;
        files.push((digest.clone(), path));
    }
    log::info!(
        "rko: {} blobs ({} bytes) read from the remote cache {}",
        wanted.len(),
        store.bytes_read(),
        remote.endpoint
    );
    Ok(FetchedBlobs {
        _scratch: Some(scratch),
        files,
    })
}
