//! The provenance layer: the in-toto statement with a SLSA v1 provenance
//! predicate that says how an image was built, wrapped in a DSSE envelope
//! (signed when a key is given), as `rko build` attaches it and `rko
//! verify` reads it.
//!
//! It may use the primitives, the image layer's time formatting and the
//! SBOM layer's build information; it knows nothing of registries or of
//! how images are built.

pub(crate) mod dsse;
pub(crate) mod statement;

/// The envelope of `statement`, unsigned.
pub fn envelope(statement: &[u8]) -> Vec<u8> {
    dsse::envelope(statement, &[])
}
