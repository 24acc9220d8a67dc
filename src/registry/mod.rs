//! The registry layer: talking to OCI registries (distribution spec v1.1).
//!
//! Owns references, credentials, the authenticated, retrying HTTP client,
//! manifests and blob uploads, and `pull` / `push` between a registry and
//! an OCI layout. It may use the image layer and the primitives; it knows
//! nothing of Go, SBOM formats, YAML or `.ko.yaml`.

pub mod auth;
mod challenge;
pub mod client;
pub mod manifests;
pub(crate) mod pull;
pub(crate) mod push;
pub mod reference;
pub mod upload;

pub use auth::{Credential, CredentialStore, Secret};
pub use client::{Client, RegistryOptions, RetryPolicy};
pub use reference::Reference;
