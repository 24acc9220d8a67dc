//! `check-image`: an image checked against expectations (config fields,
//! files with their modes and owners, paths that must be absent) from its
//! metadata alone: the config from the layout, each layer's files from its
//! listing (`assemble-layer --listing`), or, for a layer without one (a
//! base image's), from its blob when the layout holds it. No blob of a
//! layer that has a listing is ever read, so a sparse layout whose layer
//! blobs stay in a remote cache can be checked.

mod expect;
mod tree;

pub use expect::{Expectations, FileExpectation, Line};

use crate::error::{Error, Result};
use crate::image::blob;
use crate::image::layer::listing::{list_tar, ListedEntry, Listing};
use crate::image::layout::Layout;
use crate::image::platform::Platform;
use oci_spec::image::Descriptor;
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use tree::Tree;

/// Checks the image of `layout` (the one for `platform` in an index) against
/// `expect`, its layers' files read from `listings` (listings of layers the
/// image does not have are ignored). Returns one line per expectation.
pub fn check_image(
    layout: &Path,
    platform: Option<&Platform>,
    listings: &[PathBuf],
    expect: &Expectations,
) -> Result<Vec<Line>> {
    let layout = Layout::open(layout)?;
    let image = layout.find_image(platform)?;
    let config: serde_json::Value = layout.read_json(image.manifest.config(), "image config")?;
    let mut tree = Tree::default();
    if expect.needs_files() {
        let mut by_digest = HashMap::new();
        for path in listings {
            let listing = Listing::read(path)?;
            by_digest.insert(listing.digest.clone(), listing);
        }
        for (n, layer) in image.manifest.layers().iter().enumerate() {
            let entries = match by_digest.get(layer.digest()) {
                Some(listing) => listing.entries.clone(),
                None => list_layer_blob(&layout, layer, n)?,
            };
            tree.apply(&entries);
        }
    }
    Ok(expect::compare(&config, &tree, expect))
}

/// The entries of layer `n` read from its blob in the layout, which must
/// be there when no listing describes the layer.
fn list_layer_blob(layout: &Layout, layer: &Descriptor, n: usize) -> Result<Vec<ListedEntry>> {
    let digest = layer.digest();
    if !layout.has_blob(digest) {
        return Err(Error::file(
            layout.root(),
            format!(
                "has no blob of layer {n} ({digest}) and no --listing describes it: \
                 its files cannot be checked (give the layer's listing, or a layout \
                 holding the blob)"
            ),
        ));
    }
    let path = layout.blob_path(digest);
    let reader = BufReader::new(blob::open_in_layout(&path, digest)?.into_reader());
    let media_type = layer.media_type().to_string();
    let tar: Box<dyn Read> = if media_type.contains("gzip") {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else if media_type.contains("zstd") {
        Box::new(
            zstd::stream::read::Decoder::with_buffer(reader)
                .map_err(|e| Error::io("reading", &path, e))?,
        )
    } else {
        Box::new(reader)
    };
    list_tar(tar, &path)
}
