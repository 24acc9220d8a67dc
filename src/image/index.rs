//! `index`: several single-platform image layouts joined into one layout
//! holding a multi-platform image index.

use crate::error::{Error, Result};
use crate::image::append::{BASE_DIGEST, BASE_NAME};
use crate::image::layout::{self, Layout, LayoutWriter};
use crate::image::media_types;
use crate::json;
use oci_spec::image::{Descriptor, Digest, ImageIndexBuilder, MediaType};
use std::path::{Path, PathBuf};

/// What goes into the index besides the images.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    pub images: Vec<PathBuf>,
    pub annotations: Vec<(String, String)>,
    pub tag: String,
}

/// Writes the index layout at `out` and returns the index digest.
pub fn build(options: &IndexOptions, out: &Path) -> Result<Digest> {
    if options.images.is_empty() {
        return Err(Error::invalid("an index needs at least one --image"));
    }
    let mut writer = LayoutWriter::create(out)?;
    let mut manifests = Vec::new();
    let mut platforms = Vec::new();
    let mut docker = true;
    let mut blob_source = None;
    let mut referrers = Vec::new();
    for path in &options.images {
        let source = Layout::open(path)?;
        let image = source
            .find_image(None)
            .map_err(|e| Error::file(path, format!("--image: {e}")))?;
        if let Some(earlier) = platforms.iter().position(|p| p == &image.platform) {
            return Err(Error::invalid(format!(
                "--image {} and --image {} are both for {}",
                options.images[earlier].display(),
                path.display(),
                image.platform
            )));
        }
        docker &= media_types::is_docker(image.descriptor.media_type());
        copy_all_blobs(&source, &mut writer)?;
        blob_source = blob_source.or_else(|| source.blob_source());
        // ko's `mutate.AppendManifests` also gives each entry its config's
        // media type as `artifactType`; Debian 12's skopeo (1.9) then
        // refuses `copy --all --preserve-digests` of the index ("Manifest
        // list must be converted"), so rko leaves the optional field out
        // (tests/parity/differences.yaml).
        let mut descriptor = Descriptor::new(
            image.descriptor.media_type().clone(),
            image.descriptor.size(),
            image.descriptor.digest().clone(),
        );
        descriptor.set_platform(Some(image.platform.to_oci()));
        manifests.push(descriptor);
        platforms.push(image.platform);
        // The image's artifacts (SBOMs) come along: they still refer to it.
        referrers.extend(source.artifacts().cloned());
    }

    let media_type = if docker {
        MediaType::Other(media_types::DOCKER_MANIFEST_LIST.into())
    } else {
        MediaType::ImageIndex
    };
    let mut builder = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(media_type.clone())
        .manifests(manifests);
    if let Some(annotations) = layout::annotations(&options.annotations) {
        builder = builder.annotations(annotations);
    }
    let index = builder.build().expect("every required index field is set");
    let (digest, size) = writer.add_bytes(&json::to_canonical_vec(&index))?;
    let descriptor = Descriptor::new(media_type, size, digest.clone());
    let descriptor = layout::with_blob_source(descriptor, blob_source.as_deref());
    let mut entries = vec![layout::with_ref_name(descriptor, &options.tag)];
    entries.extend(referrers);
    writer.finish(entries)?;
    Ok(digest)
}

/// The annotations ko gives an index built on the base index `name` at
/// `digest` (pkg/build/gobuild.go, `buildAll`): the same keys an image has
/// for its base, with the index's digest. None for a base without a name
/// (`builtin:static`, `scratch`), as for its images.
pub fn base_annotations(name: Option<String>, digest: Option<Digest>) -> Vec<(String, String)> {
    let Some(name) = name else {
        return Vec::new();
    };
    let mut annotations = vec![(BASE_NAME.to_string(), name)];
    if let Some(digest) = digest {
        annotations.push((BASE_DIGEST.to_string(), digest.to_string()));
    }
    annotations
}

/// Links (or copies) every blob of `source` into the new layout, each
/// checked against its digest.
fn copy_all_blobs(source: &Layout, writer: &mut LayoutWriter) -> Result<()> {
    for digest in source.blob_digests()? {
        writer.add_blob(source, &digest)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_names_its_base_as_its_images_do() {
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let cases = [
            (
                Some("r.example/base:1"),
                Some(digest.clone()),
                vec![
                    pair(BASE_NAME, "r.example/base:1"),
                    pair(BASE_DIGEST, digest.as_ref()),
                ],
            ),
            (
                Some("r.example/base:1"),
                None,
                vec![pair(BASE_NAME, "r.example/base:1")],
            ),
            (None, Some(digest.clone()), vec![]),
            (None, None, vec![]),
        ];
        for (name, digest, want) in cases {
            assert_eq!(
                base_annotations(name.map(String::from), digest.clone()),
                want,
                "{name:?} {digest:?}"
            );
        }
    }
}
