//! The SBOM layer: a Go binary's embedded build information, read without
//! running Go, and the SPDX 2.3 / CycloneDX 1.5 documents made from it.
//!
//! It may use the primitives and the image layer's time formatting; it
//! knows nothing of registries or of how images are built.

pub(crate) mod buildinfo;
mod document;

pub use document::{generate, generate_index, Format, ImageRef, SbomOptions};
