//! The provenance layer: the in-toto statement with a SLSA v1 provenance
//! predicate that says how an image was built, wrapped in a DSSE envelope
//! (signed when a key is given), as `rko build` attaches it and `rko
//! verify` reads it.
//!
//! It may use the primitives, the image layer (layouts, referrers), the
//! registry layer's names for cosign's layout, and the SBOM layer's build
//! information; it knows nothing of how images are built.

pub(crate) mod attach;
pub(crate) mod dsse;
pub(crate) mod of_image;
pub(crate) mod sign;
pub(crate) mod statement;

use sign::Signer;

/// The envelope of `statement`, signed by `signer` when there is one
/// (over DSSE's pre-authentication encoding, as cosign verifies it).
pub fn envelope(statement: &[u8], signer: Option<&Signer>) -> Vec<u8> {
    let signatures: Vec<dsse::Signature> = signer
        .map(|signer| dsse::Signature {
            keyid: String::new(),
            sig: signer.sign(&dsse::pae(dsse::PAYLOAD_TYPE, statement)),
        })
        .into_iter()
        .collect();
    dsse::envelope(statement, &signatures)
}
