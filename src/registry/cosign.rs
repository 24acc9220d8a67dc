//! cosign's attachment layout, where ko pushes SBOMs and `cosign download
//! sbom` looks for them: a one-file image tagged `sha256-<subject hex>.sbom`
//! in the subject's repository (sigstore/cosign `pkg/oci/static/file.go`
//! `NewFile`; `pkg/oci/remote/remote.go` `SBOMTag`, `normalize`,
//! `attachment`).
//!
//! The bytes are the ones go-containerregistry marshals for `NewFile`'s
//! image (struct field order, zero times), so the same SBOM gets the same
//! manifest digest from rko as from ko.

use oci_spec::image::{Digest, ImageManifest};

/// The OCI image manifest and config media types `NewFile` uses.
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// The layer media type of an SBOM whose OCI 1.1 artifact type is
/// `artifact_type`; `None` for what is not an SBOM. ko gives SPDX cosign's
/// `text/spdx+json` (`ctypes.SPDXJSONMediaType`, pkg/build/gobuild.go
/// `spdx`) and go version -m output `application/vnd.go.version-m`
/// (`goversionm`); CycloneDX keeps its own type, as `cosign attach sbom`
/// gives it (`ctypes.CycloneDXJSONMediaType`).
pub fn sbom_layer_type(artifact_type: &str) -> Option<&'static str> {
    match artifact_type {
        "application/spdx+json" | "text/spdx+json" => Some("text/spdx+json"),
        "application/vnd.cyclonedx+json" => Some("application/vnd.cyclonedx+json"),
        "application/vnd.go.version-m" => Some("application/vnd.go.version-m"),
        _ => None,
    }
}

/// The tag of the SBOM of `subject`: `sha256-<hex>.sbom`.
pub fn sbom_tag(subject: &Digest) -> String {
    format!("{}-{}.sbom", subject.algorithm(), subject.digest())
}

/// The image `NewFile` makes of one file: its config and manifest bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileImage {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub manifest: Vec<u8>,
}

/// The image holding the file with digest `payload` and `size` bytes as
/// its one layer, of media type `layer_type`, uncompressed (its diff ID is
/// its digest).
pub fn file_image(payload: &Digest, size: u64, layer_type: &str) -> FileImage {
    // ggcr's `v1.ConfigFile` of `empty.Image` plus one `Addendum` with no
    // history: zero `created` times, empty architecture and os.
    let config = format!(
        r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{payload}"]}},"config":{{}}}}"#
    )
    .into_bytes();
    let config_digest = crate::digest::sha256(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{{"mediaType":"{CONFIG_TYPE}","size":{},"digest":"{config_digest}"}},"layers":[{{"mediaType":"{layer_type}","size":{size},"digest":"{payload}"}}]}}"#,
        config.len()
    )
    .into_bytes();
    FileImage {
        config,
        config_digest,
        manifest,
    }
}

/// An OCI 1.1 SBOM artifact in cosign's attachment layout: its one layer
/// is the artifact's, only the config is new. `None` for an artifact that
/// is not one SBOM file, which cosign's layout has no place for.
pub fn sbom_image(artifact: &ImageManifest) -> Option<FileImage> {
    let layer_type = artifact
        .artifact_type()
        .as_ref()
        .and_then(|t| sbom_layer_type(t.as_ref()))?;
    let [layer] = artifact.layers().as_slice() else {
        return None;
    };
    Some(file_image(layer.digest(), layer.size(), layer_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed with go-containerregistry v0.21.9 (ko's) by `NewFile`'s
    /// steps: `mutate.MediaType(empty.Image, OCIManifestSchema1)`,
    /// `ConfigMediaType(OCIConfigJSON)`, `Append` of a static layer,
    /// `Annotations({})`; then `RawConfigFile`, `RawManifest`, `Digest`.
    const PAYLOAD: &[u8] = b"{\"spdxVersion\":\"SPDX-2.3\"}\n";
    const GGCR_CONFIG: &str = r#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["sha256:033f748d28edb19db9e73d8b31ea18fe6f08d668ee43c202e1c20fe5ffc2e28f"]},"config":{}}"#;
    const GGCR_MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,"digest":"sha256:a711e36e6f23d5e533a9b092eec221c7a9fc2533fd615fef2b35415a61269807"},"layers":[{"mediaType":"text/spdx+json","size":27,"digest":"sha256:033f748d28edb19db9e73d8b31ea18fe6f08d668ee43c202e1c20fe5ffc2e28f"}]}"#;
    const GGCR_DIGEST: &str =
        "sha256:c4d502dcfe000a378c0f388c340890bf6975eab2740663bb497b65b94b7feb19";

    #[test]
    fn a_file_image_has_ggcrs_bytes() {
        let payload = crate::digest::sha256(PAYLOAD);
        let image = file_image(&payload, PAYLOAD.len() as u64, "text/spdx+json");
        assert_eq!(
            String::from_utf8(image.config.clone()).unwrap(),
            GGCR_CONFIG
        );
        assert_eq!(
            String::from_utf8(image.manifest.clone()).unwrap(),
            GGCR_MANIFEST
        );
        assert_eq!(
            crate::digest::sha256(&image.manifest).to_string(),
            GGCR_DIGEST
        );
    }

    #[test]
    fn sboms_get_cosigns_layer_types_and_tag() {
        let cases = [
            ("application/spdx+json", Some("text/spdx+json")),
            ("text/spdx+json", Some("text/spdx+json")),
            (
                "application/vnd.cyclonedx+json",
                Some("application/vnd.cyclonedx+json"),
            ),
            (
                "application/vnd.go.version-m",
                Some("application/vnd.go.version-m"),
            ),
            ("application/vnd.example.signature", None),
        ];
        for (artifact_type, want) in cases {
            assert_eq!(sbom_layer_type(artifact_type), want, "{artifact_type}");
        }
        let subject = crate::digest::sha256(b"");
        assert_eq!(
            sbom_tag(&subject),
            "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.sbom"
        );
    }
}
