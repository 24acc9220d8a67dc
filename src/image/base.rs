//! A base image, resolved: its config, its layers and where their blobs are
//! ([`super::base_spec`] says which base and resolves it).

use crate::image::layout::Layout;
use crate::image::platform::Platform;
use oci_spec::image::{Descriptor, Digest};
use serde_json::Value;

/// Where a base's layer blobs are.
#[derive(Debug)]
pub enum BaseBlobs {
    None,
    Memory(Vec<Vec<u8>>),
    Layout(Box<Layout>),
}

/// A base, resolved for one platform.
#[derive(Debug)]
pub struct Base {
    pub config: Value,
    pub layers: Vec<Descriptor>,
    pub blobs: BaseBlobs,
    /// The digest of the base's manifest; `None` for scratch.
    pub manifest_digest: Option<Digest>,
    /// Whether the base uses Docker media types (the new image will too).
    pub docker: bool,
    /// The repository holding base blobs the layout lacks (a shallow base).
    pub blob_source: Option<String>,
    pub platform: Platform,
}
