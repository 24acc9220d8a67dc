//! cosign's attachment layout, where ko pushes SBOMs and `cosign download
//! sbom` looks for them: a one-file image tagged `sha256-<subject hex>.sbom`
//! in the subject's repository (sigstore/cosign `pkg/oci/static/file.go`
//! `NewFile`; `pkg/oci/remote/remote.go` `SBOMTag`, `normalize`,
//! `attachment`). Attestations (`cosign attest`, `cosign download
//! attestation`) go the same way under `sha256-<subject hex>.att`, the
//! layer a DSSE envelope with cosign's annotations
//! (`cmd/cosign/cli/attest/attest.go`, `pkg/oci/static/signature.go`,
//! `pkg/oci/mutate/signatures.go` `AppendSignatures` on
//! `empty.Signatures()`).
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

/// The tag of `subject`'s attachment of the kind `suffix` names:
/// `sha256-<hex>.sbom`, `sha256-<hex>.att`.
pub fn tag(subject: &Digest, suffix: &str) -> String {
    format!("{}-{}.{suffix}", subject.algorithm(), subject.digest())
}

const SBOM_SUFFIX: &str = "sbom";
const ATTESTATION_SUFFIX: &str = "att";

/// The artifact type of an in-toto attestation referrer, and the layer
/// type of its DSSE envelope (cosign's `types.DssePayloadType`).
pub const ATTESTATION_ARTIFACT_TYPE: &str = "application/vnd.in-toto+json";
pub const DSSE_LAYER_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The layer annotation cosign gives an attestation's predicate type.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";
/// The layer annotation cosign gives every signature, empty for an
/// attestation (`static.NewAttestation`: its signature is in the envelope).
const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// The image `NewFile` makes of one file: its config and manifest bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileImage {
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub manifest: Vec<u8>,
    /// The kind of attachment, which ends its tag: `sbom` or `att`.
    pub suffix: &'static str,
}

/// The image holding the file with digest `payload` and `size` bytes as
/// its one layer, of media type `layer_type`, uncompressed (its diff ID is
/// its digest).
pub fn file_image(payload: &Digest, size: u64, layer_type: &str) -> FileImage {
    file_image_with(payload, size, layer_type, "", SBOM_SUFFIX)
}

/// [`file_image`] with the layer's `annotations`, already a JSON object's
/// members as ggcr writes them (keys sorted), or empty.
fn file_image_with(
    payload: &Digest,
    size: u64,
    layer_type: &str,
    annotations: &str,
    suffix: &'static str,
) -> FileImage {
    // ggcr's `v1.ConfigFile` of `empty.Image` plus one `Addendum` with no
    // history: zero `created` times, empty architecture and os.
    let config = format!(
        r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{payload}"]}},"config":{{}}}}"#
    )
    .into_bytes();
    let config_digest = crate::digest::sha256(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST_TYPE}","config":{{"mediaType":"{CONFIG_TYPE}","size":{},"digest":"{config_digest}"}},"layers":[{{"mediaType":"{layer_type}","size":{size},"digest":"{payload}"{annotations}}}]}}"#,
        config.len(),
        annotations = if annotations.is_empty() {
            String::new()
        } else {
            format!(r#","annotations":{{{annotations}}}"#)
        }
    )
    .into_bytes();
    FileImage {
        config,
        config_digest,
        manifest,
        suffix,
    }
}

/// An OCI 1.1 attestation artifact (artifact type
/// [`ATTESTATION_ARTIFACT_TYPE`], one DSSE envelope layer annotated with its
/// predicate type) in cosign's attestation layout: the envelope is the
/// layer, annotated as `cosign attest` annotates it.
pub fn attestation_image(artifact: &ImageManifest) -> Option<FileImage> {
    let artifact_type = artifact.artifact_type().as_ref()?;
    if artifact_type.as_ref() != ATTESTATION_ARTIFACT_TYPE {
        return None;
    }
    let [layer] = artifact.layers().as_slice() else {
        return None;
    };
    if layer.media_type().as_ref() != DSSE_LAYER_TYPE {
        return None;
    }
    let predicate_type = layer
        .annotations()
        .as_ref()?
        .get(PREDICATE_TYPE_ANNOTATION)?;
    // Go's encoding/json: map keys sorted; these values need no escaping
    // beyond what serde_json does (no <, >, & in a predicate type URI).
    let annotations = format!(
        r#""{SIGNATURE_ANNOTATION}":"","{PREDICATE_TYPE_ANNOTATION}":{}"#,
        serde_json::Value::String(predicate_type.clone())
    );
    Some(file_image_with(
        layer.digest(),
        layer.size(),
        DSSE_LAYER_TYPE,
        &annotations,
        ATTESTATION_SUFFIX,
    ))
}

/// An artifact's form in cosign's layout: an SBOM's or an attestation's.
pub fn cosign_form(artifact: &ImageManifest) -> Option<FileImage> {
    sbom_image(artifact).or_else(|| attestation_image(artifact))
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

    /// Computed with go-containerregistry v0.21.7 by the steps cosign's
    /// `attest` takes (`empty.Signatures()`: `MediaType(OCIManifestSchema1)`,
    /// `ConfigMediaType(OCIConfigJSON)`; `AppendSignatures`: `Append` of a
    /// static layer of type `application/vnd.dsse.envelope.v1+json` with the
    /// annotations `static.NewAttestation` gives it).
    #[test]
    fn an_attestation_image_has_cosigns_bytes() {
        const ENVELOPE: &[u8] =
            br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]}"#;
        const GGCR_MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,"digest":"sha256:83e20ad21fb9980a1ed70c17af8b1c2f030666aee92920d7a00cd22a24475930"},"layers":[{"mediaType":"application/vnd.dsse.envelope.v1+json","size":79,"digest":"sha256:1b14307f1be22d12f5198925ad4a2c0106d27ffa13c0adc5f7b78788db1148bc","annotations":{"dev.cosignproject.cosign/signature":"","predicateType":"https://slsa.dev/provenance/v1"}}]}"#;
        let layer = {
            let mut descriptor = oci_spec::image::Descriptor::new(
                oci_spec::image::MediaType::Other(DSSE_LAYER_TYPE.to_string()),
                ENVELOPE.len() as u64,
                crate::digest::sha256(ENVELOPE),
            );
            descriptor.set_annotations(Some(
                [(
                    PREDICATE_TYPE_ANNOTATION.to_string(),
                    "https://slsa.dev/provenance/v1".to_string(),
                )]
                .into(),
            ));
            descriptor
        };
        let artifact = oci_spec::image::ImageManifestBuilder::default()
            .schema_version(2u32)
            .artifact_type(oci_spec::image::MediaType::Other(
                ATTESTATION_ARTIFACT_TYPE.to_string(),
            ))
            .config(oci_spec::image::Descriptor::new(
                oci_spec::image::MediaType::EmptyJSON,
                2,
                crate::digest::sha256(b"{}"),
            ))
            .layers(vec![layer])
            .build()
            .unwrap();
        let image = cosign_form(&artifact).expect("an attestation has a cosign form");
        assert_eq!(image.suffix, "att");
        assert_eq!(
            String::from_utf8(image.manifest.clone()).unwrap(),
            GGCR_MANIFEST
        );
        assert_eq!(
            crate::digest::sha256(&image.manifest).to_string(),
            "sha256:1b130e82067589681cc61528b2fee9ebe53b1b595b42ffc8e50647887411ff84"
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
            tag(&subject, SBOM_SUFFIX),
            "sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.sbom"
        );
    }
}
