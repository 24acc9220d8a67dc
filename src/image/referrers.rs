//! OCI 1.1 referrers: an artifact (an SBOM) attached to an image by a
//! manifest whose `subject` is the image (image-spec `manifest.md`,
//! "Guidelines for artifact usage"), kept in the image's layout until push.

use crate::error::{Error, Result};
use crate::image::layout::Layout;
use crate::json;
use oci_spec::image::{Descriptor, Digest, ImageManifest, ImageManifestBuilder, MediaType};
use std::collections::HashMap;
use std::path::Path;

/// The empty JSON config artifacts use (image-spec: "Guidance for an Empty Descriptor").
const EMPTY_JSON: &[u8] = b"{}";

fn empty_descriptor() -> Descriptor {
    let mut descriptor = Descriptor::new(
        MediaType::EmptyJSON,
        EMPTY_JSON.len() as u64,
        crate::digest::sha256(EMPTY_JSON),
    );
    descriptor.set_data(Some("e30=".to_string()));
    descriptor
}

/// Adds `content` (of `artifact_type`) to the layout at `layout_dir` as an
/// artifact whose subject is `subject` (default: the layout's image or
/// index). Returns the artifact manifest's digest.
pub fn attach(
    layout_dir: &Path,
    artifact_type: &str,
    content: &[u8],
    subject: Option<&Digest>,
    created: &str,
) -> Result<Digest> {
    let layer = Layer {
        media_type: artifact_type,
        annotations: Vec::new(),
    };
    attach_layer(layout_dir, artifact_type, &layer, content, subject, created)
}

/// How an artifact's one layer is described, when not simply by the
/// artifact's type (an attestation: a DSSE envelope with its predicate type).
#[derive(Debug, Clone)]
pub struct Layer<'a> {
    pub media_type: &'a str,
    pub annotations: Vec<(String, String)>,
}

/// [`attach`], the layer described by `layer`.
pub fn attach_layer(
    layout_dir: &Path,
    artifact_type: &str,
    layer: &Layer,
    content: &[u8],
    subject: Option<&Digest>,
    created: &str,
) -> Result<Digest> {
    let layout = Layout::open(layout_dir)?;
    let subject = find_subject(&layout, subject)?;
    let write_blob = |bytes: &[u8], media_type: &str| -> Result<Descriptor> {
        let digest = crate::digest::sha256(bytes);
        let path = layout.blob_path(&digest);
        if !path.exists() {
            crate::atomic::write_file(&path, bytes)?;
        }
        Ok(Descriptor::new(
            MediaType::Other(media_type.to_string()),
            bytes.len() as u64,
            digest,
        ))
    };
    write_blob(EMPTY_JSON, artifact_type)?;
    let mut layer_descriptor = write_blob(content, layer.media_type)?;
    if !layer.annotations.is_empty() {
        layer_descriptor.set_annotations(Some(layer.annotations.iter().cloned().collect()));
    }
    let layer = layer_descriptor;
    let mut annotations = HashMap::new();
    annotations.insert(
        "org.opencontainers.image.created".to_string(),
        created.to_string(),
    );
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .artifact_type(MediaType::Other(artifact_type.to_string()))
        .config(empty_descriptor())
        .layers(vec![layer])
        .subject(subject)
        .annotations(annotations)
        .build()
        .expect("every required manifest field is set");
    let bytes = json::to_canonical_vec(&manifest);
    let digest = crate::digest::sha256(&bytes);
    let path = layout.blob_path(&digest);
    if !path.exists() {
        crate::atomic::write_file(&path, &bytes)?;
    }
    let mut entry = Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, digest.clone());
    entry.set_artifact_type(Some(MediaType::Other(artifact_type.to_string())));
    let mut index = layout.index().clone();
    let mut manifests = index.manifests().clone();
    if !manifests.iter().any(|d| d.digest() == &digest) {
        manifests.push(entry);
    }
    index.set_manifests(manifests);
    let index_path = layout_dir.join("index.json");
    crate::atomic::write_file(&index_path, &json::to_canonical_vec(&index))?;
    Ok(digest)
}

/// The manifest descriptor the artifact refers to.
fn find_subject(layout: &Layout, wanted: Option<&Digest>) -> Result<Descriptor> {
    let roots: Vec<&Descriptor> = layout.roots().collect();
    let mut candidates: Vec<Descriptor> = roots.iter().map(|d| strip(d)).collect();
    for image in layout.images()? {
        candidates.push(strip(&image.descriptor));
    }
    match wanted {
        Some(digest) => candidates
            .into_iter()
            .find(|d| d.digest() == digest)
            .ok_or_else(|| {
                Error::file(
                    layout.root(),
                    format!("holds no manifest {digest} to attach to"),
                )
            }),
        None if roots.len() == 1 => Ok(strip(roots[0])),
        None => Err(Error::file(
            layout.root(),
            "holds several images: say which with --subject",
        )),
    }
}

/// A descriptor with only what a `subject` needs.
fn strip(descriptor: &Descriptor) -> Descriptor {
    Descriptor::new(
        descriptor.media_type().clone(),
        descriptor.size(),
        descriptor.digest().clone(),
    )
}

/// The artifacts in a layout: `index.json` entries whose manifest has a
/// subject, with their manifest bytes.
pub fn in_layout(layout: &Layout) -> Result<Vec<(Descriptor, ImageManifest, Vec<u8>)>> {
    let mut found = Vec::new();
    for descriptor in layout.artifacts() {
        let bytes = layout.read_blob(descriptor)?;
        let manifest: ImageManifest = json::parse(
            &bytes,
            &layout.blob_path(descriptor.digest()),
            "artifact manifest",
        )?;
        if manifest.subject().is_some() {
            found.push((descriptor.clone(), manifest, bytes));
        }
    }
    Ok(found)
}
