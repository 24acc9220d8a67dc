//! Talking to OCI registries (distribution spec v1.1): references,
//! credentials, tokens, the retrying HTTP client and blob uploads.

mod challenge;
pub mod client;
pub mod credentials;
pub mod manifests;
pub mod reference;
mod response;
mod token;
pub mod upload;

pub use client::{Client, RegistryOptions, RetryPolicy};
pub use credentials::{Credential, CredentialStore, Secret};
pub use reference::Reference;
