//! Files that may hold blobs a sparse layout lacks: where a build system
//! would have written a layer, which may or may not be on this machine
//! (Bazel under `--remote_download_minimal` leaves them in the cache). A
//! hint that is there is hashed, once and only when a blob is missing
//! from the registry, and used for the blob whose digest it holds.

use crate::error::Result;
use oci_spec::image::Digest;
use std::path::PathBuf;
use std::sync::Mutex;

/// The hints of one push.
#[derive(Default)]
pub struct BlobHints {
    paths: Vec<PathBuf>,
    /// What each hint read so far holds (`None`: not there).
    read: Mutex<Vec<(PathBuf, Option<Digest>)>>,
}

impl BlobHints {
    pub fn new(paths: Vec<PathBuf>) -> BlobHints {
        BlobHints {
            paths,
            read: Mutex::default(),
        }
    }

    /// The hint holding `digest`, if one does.
    pub fn find(&self, digest: &Digest) -> Result<Option<PathBuf>> {
        for path in &self.paths {
            if self.holds(path)?.as_ref() == Some(digest) {
                return Ok(Some(path.clone()));
            }
        }
        Ok(None)
    }

    /// What `path` holds, hashed on first asking.
    fn holds(&self, path: &PathBuf) -> Result<Option<Digest>> {
        if let Some((_, held)) = crate::parallel::lock(&self.read)
            .iter()
            .find(|(p, _)| p == path)
        {
            return Ok(held.clone());
        }
        let held = match path.is_file() {
            true => Some(crate::digest::sha256_file(path)?.0),
            false => None,
        };
        crate::parallel::lock(&self.read).push((path.clone(), held.clone()));
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_is_used_for_the_blob_it_holds_and_an_absent_one_is_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let (there, gone) = (
            dir.path().join("layer.tar.gz"),
            dir.path().join("gone.tar.gz"),
        );
        std::fs::write(&there, b"layer bytes").unwrap();
        let hints = BlobHints::new(vec![gone, there.clone()]);
        let (digest, _) = crate::digest::sha256_file(&there).unwrap();
        assert_eq!(hints.find(&digest).unwrap(), Some(there));
        let other: Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
        assert_eq!(hints.find(&other).unwrap(), None);
    }
}
