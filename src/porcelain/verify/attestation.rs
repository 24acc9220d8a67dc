//! Where `rko verify` finds an image's provenance: in cosign's layout at
//! `sha256-<hex>.att` in the image's repository (what `rko build` pushes
//! and `cosign download attestation` reads), or among the referrers of a
//! layout rko just built.

use crate::error::{Error, Result};
use crate::image::layout::Layout;
use crate::image::referrers;
use crate::provenance::dsse;
use crate::provenance::statement::{self, Recorded, PREDICATE_TYPE};
use crate::registry::client::Client;
use crate::registry::cosign::{self, ATTESTATION_ARTIFACT_TYPE, PREDICATE_TYPE_ANNOTATION};
use crate::registry::manifests;
use crate::registry::Reference;
use oci_spec::image::{Digest, ImageManifest};

/// The largest envelope read from a registry.
const MAX_ENVELOPE: u64 = 16 << 20;

/// The provenance statement of the image `subject` in `reference`'s
/// repository, from its `.att` tag: the first layer whose predicate type
/// is SLSA v1.
pub fn from_registry(
    client: &Client,
    reference: &Reference,
    subject: &Digest,
) -> Result<(Recorded, Vec<u8>)> {
    let repository = &reference.repository;
    let scopes = [format!("repository:{repository}:pull")];
    let tag = cosign::tag(subject, "att");
    let where_ = format!("{}:{tag}", reference.repository_name());
    let fetched = manifests::get_optional(client, repository, &tag, &scopes)?.ok_or_else(|| {
        Error::reference(
            &where_,
            format!(
                "no provenance for {subject}: was it built by `rko build` with --provenance=none?"
            ),
        )
    })?;
    let manifest: ImageManifest = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| Error::reference(&where_, format!("not an image manifest: {e}")))?;
    let layer = manifest
        .layers()
        .iter()
        .find(|l| {
            l.annotations()
                .as_ref()
                .and_then(|a| a.get(PREDICATE_TYPE_ANNOTATION))
                .is_some_and(|t| t == PREDICATE_TYPE)
        })
        .ok_or_else(|| {
            Error::reference(&where_, format!("holds no {PREDICATE_TYPE} attestation"))
        })?;
    if layer.size() > MAX_ENVELOPE {
        return Err(Error::reference(
            &where_,
            format!("its envelope is {} bytes, too big", layer.size()),
        ));
    }
    let mut bytes = Vec::new();
    let target = std::path::Path::new("-");
    client.restarting(|| {
        bytes.clear();
        manifests::get_blob(
            client,
            repository,
            layer.digest(),
            layer.size(),
            &mut bytes,
            target,
            &scopes,
        )
    })?;
    let statement = open(&bytes, &where_)?;
    Ok((statement::read(&statement, &where_)?, statement))
}

/// The provenance statement a layout rko built holds for `subject`.
pub fn from_layout(layout: &Layout, subject: &Digest) -> Result<(Recorded, Vec<u8>)> {
    for (_, manifest, _) in referrers::in_layout(layout)? {
        let about = manifest.subject().as_ref().map(|s| s.digest());
        let is_provenance = manifest
            .artifact_type()
            .as_ref()
            .is_some_and(|t| t.as_ref() == ATTESTATION_ARTIFACT_TYPE);
        if about == Some(subject) && is_provenance {
            let what = format!("{} (provenance of {subject})", layout.root().display());
            let envelope = layout.read_blob(&manifest.layers()[0])?;
            let statement = open(&envelope, &what)?;
            return Ok((statement::read(&statement, &what)?, statement));
        }
    }
    Err(Error::file(
        layout.root(),
        format!("holds no provenance of {subject}"),
    ))
}

fn open(envelope: &[u8], what: &str) -> Result<Vec<u8>> {
    Ok(dsse::open(envelope, what)?.0)
}
