//! Talking to OCI registries (distribution spec v1.1): references,
//! credentials, the authenticated, retrying HTTP client and blob uploads.

pub mod auth;
mod challenge;
pub mod client;
pub mod manifests;
pub mod reference;
pub mod upload;

pub use auth::{Credential, CredentialStore, Secret};
pub use client::{Client, RegistryOptions, RetryPolicy};
pub use reference::Reference;
