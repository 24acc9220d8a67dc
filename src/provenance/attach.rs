//! A statement in a layout: its DSSE envelope (signed when a key is
//! given) attached to the image as an OCI referrer, artifact type
//! `application/vnd.in-toto+json`, its layer annotated with the predicate
//! type; `push` adds cosign's `.att` form of it.

use crate::error::Result;
use crate::image::config::rfc3339;
use crate::image::referrers::{self, Layer};
use crate::provenance::sign::Signer;
use crate::provenance::statement::PREDICATE_TYPE;
use crate::registry::cosign::{
    ATTESTATION_ARTIFACT_TYPE, DSSE_LAYER_TYPE, PREDICATE_TYPE_ANNOTATION,
};
use oci_spec::image::Digest;
use std::path::Path;

/// Attaches `statement` to the image `subject` in the layout at `layout`,
/// the artifact created at `created`; returns the artifact's digest.
pub fn attach(
    layout: &Path,
    subject: Option<&Digest>,
    statement: &[u8],
    signer: Option<&Signer>,
    created: u64,
) -> Result<Digest> {
    let envelope = crate::provenance::envelope(statement, signer);
    let layer = Layer {
        media_type: DSSE_LAYER_TYPE,
        annotations: vec![(
            PREDICATE_TYPE_ANNOTATION.to_string(),
            PREDICATE_TYPE.to_string(),
        )],
    };
    referrers::attach_layer(
        layout,
        ATTESTATION_ARTIFACT_TYPE,
        &layer,
        &envelope,
        subject,
        &rfc3339(created),
    )
}
