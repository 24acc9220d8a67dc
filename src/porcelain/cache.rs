//! rko's build cache (`KOCACHE`): Go binaries at stable paths, layers by a
//! key of their inputs, pulled base images by digest.

use crate::error::{IoContext, Result};
use crate::image::descriptor::LayerDescriptor;
use std::path::{Path, PathBuf};

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// A short, filesystem-safe key for `parts`.
pub fn key(parts: &[&str]) -> String {
    let joined = parts.join("\0");
    let digest = crate::digest::sha256(joined.as_bytes());
    digest.digest()[..32].to_string()
}

impl Cache {
    pub fn open(root: &Path) -> Result<Cache> {
        for sub in ["bin", "layers", "bases", "list", "tmp"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).with_path("creating", &dir)?;
        }
        Ok(Cache {
            root: root.to_path_buf(),
        })
    }

    /// The stable output path for a binary built with these inputs.
    pub fn binary(&self, key: &str, name: &str) -> Result<PathBuf> {
        let dir = self.root.join("bin").join(key);
        std::fs::create_dir_all(&dir).with_path("creating", &dir)?;
        Ok(dir.join(name))
    }

    /// Where a layer with this key lives: (blob, descriptor).
    pub fn layer_paths(&self, key: &str) -> (PathBuf, PathBuf) {
        let dir = self.root.join("layers");
        (
            dir.join(format!("{key}.blob")),
            dir.join(format!("{key}.json")),
        )
    }

    /// A cached layer, if present and whole.
    pub fn layer(&self, key: &str) -> Option<(PathBuf, LayerDescriptor)> {
        let (blob, descriptor) = self.layer_paths(key);
        let descriptor = LayerDescriptor::read(&descriptor).ok()?;
        let size = std::fs::metadata(&blob).ok()?.len();
        (size == descriptor.size).then_some((blob, descriptor))
    }

    /// Where `go list` answers are remembered.
    pub fn list_dir(&self) -> PathBuf {
        self.root.join("list")
    }

    /// The digest of a binary in the cache, recomputed only when its size,
    /// mtime or inode changed (Go leaves an up-to-date binary untouched).
    pub fn binary_digest(&self, binary: &Path) -> Result<oci_spec::image::Digest> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(binary).with_path("reading", binary)?;
        let stamp = format!(
            "{}:{}:{}:{}",
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ino()
        );
        let memo = binary.with_extension("rko-digest");
        if let Ok(text) = std::fs::read_to_string(&memo) {
            if let Some((seen, digest)) = text.split_once(' ') {
                if seen == stamp {
                    if let Ok(digest) = crate::digest::parse(digest.trim()) {
                        return Ok(digest);
                    }
                }
            }
        }
        let (digest, _) = crate::digest::sha256_file(binary)?;
        let _ = std::fs::write(&memo, format!("{stamp} {digest}"));
        Ok(digest)
    }

    /// Where a pulled base image with this manifest digest lives.
    pub fn base(&self, digest_hex: &str) -> PathBuf {
        self.root.join("bases").join(digest_hex)
    }

    /// A fresh scratch directory inside the cache (same filesystem, so
    /// layers hard-link into images).
    pub fn scratch(&self) -> Result<tempfile::TempDir> {
        let dir = self.root.join("tmp");
        tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&dir)
            .with_path("creating a directory in", &dir)
    }
}
