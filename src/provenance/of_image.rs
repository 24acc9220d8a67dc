//! The statement of an image in a layout, from explicit files: what `rko
//! provenance` (and so Bazel's ko_image) writes. The image gives its
//! digest, platform and base (its `org.opencontainers.image.base.*`
//! annotations), the binary its toolchain, modules and settings; nothing
//! is read from a working tree, so the source revision is what Go stamped
//! into the binary, if anything.

use crate::error::{Error, Result};
use crate::image::layout::Layout;
use crate::provenance::statement::{self, Base, Inputs, Source};
use crate::sbom::buildinfo;
use oci_spec::image::Digest;
use std::path::Path;

/// What the statement is of.
#[derive(Debug, Clone)]
pub struct ImageProvenance<'a> {
    /// The Go binary in the image.
    pub binary: &'a Path,
    /// The layout holding the image.
    pub layout: &'a Path,
    /// Which image of the layout (default: its only one).
    pub subject: Option<&'a Digest>,
    pub import_path: &'a str,
    /// `SOURCE_DATE_EPOCH`, as the image was built with it.
    pub created: u64,
}

/// The image's digest and its statement's bytes.
pub fn statement(options: &ImageProvenance) -> Result<(Digest, Vec<u8>)> {
    let layout = Layout::open(options.layout)?;
    let images = layout.images()?;
    let image = match options.subject {
        Some(digest) => images.iter().find(|i| i.descriptor.digest() == digest),
        None if images.len() == 1 => images.first(),
        None => {
            return Err(Error::file(
                options.layout,
                "holds several images: say which with --subject",
            ))
        }
    }
    .ok_or_else(|| Error::file(options.layout, "holds no such image"))?;
    let annotation = |key: &str| {
        image
            .manifest
            .annotations()
            .as_ref()
            .and_then(|a| a.get(key).cloned())
    };
    let base = Base {
        name: annotation("org.opencontainers.image.base.name").unwrap_or_else(|| "scratch".into()),
        digest: annotation("org.opencontainers.image.base.digest")
            .map(|d| crate::digest::parse(&d))
            .transpose()?,
    };
    let info = buildinfo::read(options.binary)?;
    let source = Source::stamped(&info);
    let digest = image.descriptor.digest().clone();
    let inputs = Inputs {
        image: &digest,
        import_path: options.import_path,
        platform: image.platform.to_string(),
        base,
        build_info: &info,
        flags: &[],
        ldflags: &[],
        env: &[],
        ko_yaml: None,
        source_date_epoch: Some(options.created),
        source,
    };
    Ok((digest.clone(), statement::generate(&inputs)))
}
