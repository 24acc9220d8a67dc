//! Media types rko reads and writes, OCI and Docker (schema 2).

use oci_spec::image::MediaType;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// An image manifest, OCI or Docker.
pub fn is_manifest(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageManifest) || media_type.to_string() == DOCKER_MANIFEST
}

/// An image config, OCI or Docker.
pub fn is_config(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageConfig) || media_type.to_string() == DOCKER_CONFIG
}

/// An image index or Docker manifest list.
pub fn is_index(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageIndex) || media_type.to_string() == DOCKER_MANIFEST_LIST
}

/// Whether a manifest uses Docker's media types.
pub fn is_docker(media_type: &MediaType) -> bool {
    media_type
        .to_string()
        .starts_with("application/vnd.docker.")
}

/// The Docker media type for an OCI layer type, if Docker has one.
pub fn docker_layer(oci: &MediaType) -> Option<MediaType> {
    match oci {
        MediaType::ImageLayerGzip => Some(MediaType::Other(DOCKER_LAYER_GZIP.into())),
        MediaType::ImageLayer => Some(MediaType::Other(DOCKER_LAYER.into())),
        other if is_docker(other) => Some(other.clone()),
        _ => None,
    }
}
