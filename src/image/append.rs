//! `append`: a base plus new layers and config edits, written as an OCI
//! image layout holding one image.

use crate::error::{Error, Result};
use crate::image::base::{Base, BaseBlobs};
use crate::image::base_spec::{self, BaseSpec};
use crate::image::config::{self, ConfigEdits};
use crate::image::descriptor::LayerDescriptor;
use crate::image::layout::{self, LayoutWriter};
use crate::image::media_types;
use crate::image::platform::Platform;
use crate::json;
use oci_spec::image::{Descriptor, Digest, ImageManifestBuilder, MediaType};
use std::path::{Path, PathBuf};

pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// A layer to add: the descriptor `assemble-layer` wrote for it, and its
/// blob, which is copied into the layout. A layer known by its descriptor
/// alone is listed in the manifest and left out of the layout: a *sparse*
/// layout, whose manifests and config are byte for byte those of the full
/// one, and whose missing blobs `push` gets elsewhere.
#[derive(Debug, Clone)]
pub struct LayerInput {
    pub blob: Option<PathBuf>,
    pub descriptor: LayerDescriptor,
    /// The file that stands for the layer in messages: its blob, or its
    /// descriptor file when there is no blob.
    pub named: PathBuf,
}

impl LayerInput {
    /// A layer given by its blob and descriptor.
    pub fn with_blob(blob: PathBuf, descriptor: LayerDescriptor) -> Self {
        LayerInput {
            named: blob.clone(),
            blob: Some(blob),
            descriptor,
        }
    }

    /// Reads the descriptor file for `blob`.
    pub fn read(blob: &Path, descriptor: &Path) -> Result<Self> {
        Ok(LayerInput::with_blob(
            blob.to_path_buf(),
            LayerDescriptor::read(descriptor)?,
        ))
    }

    /// Reads a descriptor file for a layer whose blob stays out of the layout.
    pub fn descriptor_only(descriptor: &Path) -> Result<Self> {
        Ok(LayerInput {
            blob: None,
            descriptor: LayerDescriptor::read(descriptor)?,
            named: descriptor.to_path_buf(),
        })
    }
}

/// Everything `append` needs besides the output path.
#[derive(Debug, Clone)]
pub struct AppendOptions {
    pub base: BaseSpec,
    /// Recorded as `org.opencontainers.image.base.name`.
    pub base_name: Option<String>,
    pub platform: Option<Platform>,
    pub layers: Vec<LayerInput>,
    pub edits: ConfigEdits,
    pub annotations: Vec<(String, String)>,
    /// The `org.opencontainers.image.ref.name` in `index.json`.
    pub tag: String,
}

/// Builds the image and writes it as a layout at `out`; returns the manifest digest.
pub fn append(options: &AppendOptions, out: &Path) -> Result<Digest> {
    let base = base_spec::resolve(&options.base, options.platform.as_ref())?;
    if let Some(want) = &options.platform {
        if !want.matches(&base.platform) {
            return Err(Error::invalid(format!(
                "the base image is for {} but --platform asks for {want}",
                base.platform
            )));
        }
    }
    if base.docker && !options.annotations.is_empty() {
        return Err(Error::invalid(
            "--annotation needs OCI media types, but the base image uses Docker's (schema 2 manifests have no annotations)",
        ));
    }
    check_layers(options)?;

    let mut writer = LayoutWriter::create(out)?;
    copy_base_blobs(&base, &mut writer)?;
    let mut layers = base.layers.clone();
    for layer in &options.layers {
        if let Some(blob) = &layer.blob {
            // Checked against its digest as it is linked or copied.
            writer.add_file(blob, &layer.descriptor.digest)?;
        }
        layers.push(manifest_layer(layer, base.docker)?);
    }

    let descriptors: Vec<_> = options
        .layers
        .iter()
        .map(|l| l.descriptor.clone())
        .collect();
    let config = config::apply(base.config.clone(), &options.edits, &descriptors);
    let config_bytes = json::to_canonical_vec(&config);
    let (config_digest, config_size) = writer.add_bytes(&config_bytes)?;
    let (manifest_type, config_type) = if base.docker {
        (
            MediaType::Other(media_types::DOCKER_MANIFEST.into()),
            MediaType::Other(media_types::DOCKER_CONFIG.into()),
        )
    } else {
        (MediaType::ImageManifest, MediaType::ImageConfig)
    };

    let mut builder = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(manifest_type.clone())
        .config(Descriptor::new(config_type, config_size, config_digest))
        .layers(layers);
    // The base's name and digest are recorded on a Docker-typed manifest
    // too: ko's `gobuild.Build` annotates every base but a manifest list,
    // and go-containerregistry's `mutate.Annotations` writes them whatever
    // the media type (`mutate/image.go`, `compute`).
    let annotations = manifest_annotations(options, &base);
    if let Some(annotations) = layout::annotations(&annotations) {
        builder = builder.annotations(annotations);
    }
    let manifest = builder
        .build()
        .expect("every required manifest field is set");
    let manifest_bytes = json::to_canonical_vec(&manifest);
    let (digest, size) = writer.add_bytes(&manifest_bytes)?;

    let descriptor = Descriptor::new(manifest_type, size, digest.clone());
    let descriptor = layout::with_blob_source(descriptor, base.blob_source.as_deref());
    writer.finish(vec![layout::with_ref_name(descriptor, &options.tag)])?;
    Ok(digest)
}

fn manifest_annotations(options: &AppendOptions, base: &Base) -> Vec<(String, String)> {
    let mut annotations = Vec::new();
    if let Some(digest) = &base.manifest_digest {
        annotations.push((BASE_DIGEST.to_string(), digest.to_string()));
    }
    if let Some(name) = &options.base_name {
        annotations.push((BASE_NAME.to_string(), name.clone()));
    }
    annotations.extend(options.annotations.iter().cloned());
    annotations
}

/// Checks the size of every new layer blob before anything is written (the
/// digest is checked as the blob is copied), and that history entries,
/// if given, are one per layer.
fn check_layers(options: &AppendOptions) -> Result<()> {
    let (layers, history) = (&options.layers, options.edits.history.len());
    if history != 0 && history != layers.len() {
        return Err(Error::invalid(format!(
            "{history} history entries for {} new layers: give one per layer, in order",
            layers.len()
        )));
    }
    layers
        .iter()
        .filter_map(|layer| Some((layer, layer.blob.as_ref()?)))
        .try_for_each(|(layer, blob)| layer.descriptor.check_size(blob))
}

/// The layer's descriptor as the manifest lists it, in Docker's media types
/// when the base uses them.
fn manifest_layer(layer: &LayerInput, docker: bool) -> Result<Descriptor> {
    let mut descriptor = layer.descriptor.oci();
    if docker {
        let media_type = media_types::docker_layer(&layer.descriptor.media_type).ok_or_else(|| {
            Error::file(
                &layer.named,
                format!(
                    "this layer is {}, which a base with Docker media types cannot hold: use gzip or none",
                    layer.descriptor.media_type
                ),
            )
        })?;
        descriptor.set_media_type(media_type);
    }
    Ok(descriptor)
}

fn copy_base_blobs(base: &Base, writer: &mut LayoutWriter) -> Result<()> {
    match &base.blobs {
        BaseBlobs::None => Ok(()),
        BaseBlobs::Memory(blobs) => {
            for blob in blobs {
                writer.add_bytes(blob)?;
            }
            Ok(())
        }
        BaseBlobs::Layout(source) => {
            for layer in &base.layers {
                if !source.has_blob(layer.digest()) {
                    if base.blob_source.is_some() {
                        continue; // a shallow base: push mounts it from the source repository
                    }
                    return Err(Error::file(
                        source.root(),
                        format!("is missing layer blob {} of the base image", layer.digest()),
                    ));
                }
                let blob = source.open_blob(layer.digest())?;
                if blob.size() != layer.size() {
                    return Err(Error::file(
                        source.blob_path(layer.digest()),
                        format!(
                            "is {} bytes but the base manifest says {}",
                            blob.size(),
                            layer.size()
                        ),
                    ));
                }
                writer.add_blob(source, layer.digest())?;
            }
            Ok(())
        }
    }
}
