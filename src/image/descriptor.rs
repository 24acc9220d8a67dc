//! The layer descriptor file that `assemble-layer` writes and `append` reads:
//! an OCI descriptor plus the layer's `diffID`, so `append` never has to
//! decompress a layer to fill in the image config's `rootfs.diff_ids`.

use crate::error::{Error, IoContext, Result};
use crate::image::compress::{Compressed, Compression};
use oci_spec::image::{Descriptor, Digest, MediaType};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `{"mediaType", "digest", "size", "diffID"}`, in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerDescriptor {
    #[serde(rename = "mediaType")]
    pub media_type: MediaType,
    pub digest: Digest,
    pub size: u64,
    #[serde(rename = "diffID")]
    pub diff_id: Digest,
}

impl LayerDescriptor {
    pub fn new(compression: Compression, compressed: Compressed) -> Self {
        LayerDescriptor {
            media_type: compression.layer_media_type(),
            digest: compressed.digest,
            size: compressed.size,
            diff_id: compressed.diff_id,
        }
    }

    /// The JSON file content: fixed field order, a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a descriptor always serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Reads a descriptor file and checks its fields.
    pub fn read(path: &Path) -> Result<Self> {
        let descriptor: LayerDescriptor = crate::json::read_file(path, "layer descriptor")?;
        let layer_type = descriptor.media_type.to_string();
        if !layer_type.contains(".layer.") && !layer_type.contains(".rootfs.") {
            return Err(Error::file(
                path,
                format!("mediaType {layer_type:?} is not a layer media type"),
            ));
        }
        Ok(descriptor)
    }

    /// Checks that `blob` has the size this descriptor promises (its digest
    /// is checked when it is copied into a layout).
    pub fn check_size(&self, blob: &Path) -> Result<()> {
        let size = std::fs::metadata(blob).with_path("reading", blob)?.len();
        if size != self.size {
            return Err(Error::file(
                blob,
                format!("is {size} bytes but its descriptor says {}", self.size),
            ));
        }
        Ok(())
    }

    /// The plain OCI descriptor, as it appears in a manifest.
    pub fn oci(&self) -> Descriptor {
        Descriptor::new(self.media_type.clone(), self.size, self.digest.clone())
    }
}
