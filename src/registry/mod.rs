//! The registry layer: talking to OCI registries (distribution spec v1.1).
//!
//! Owns references, credentials, Bearer tokens, the retrying HTTP client
//! (its TLS and proxies), manifests and blob uploads, and `pull` / `push` between a registry and
//! an OCI layout. It may use the image layer and the primitives; it knows
//! nothing of Go, SBOM formats, YAML or `.ko.yaml`.

mod agents;
pub(crate) mod blob_hints;
pub(crate) mod cache_blobs;
pub(crate) mod challenge;
pub(crate) mod client;
pub(crate) mod cosign;
pub(crate) mod credential;
pub(crate) mod credential_helper;
pub(crate) mod credentials;
pub(crate) mod docker_config;
pub(crate) mod keychain;
pub(crate) mod keychain_gce;
pub(crate) mod manifests;
pub(crate) mod proxy;
mod proxy_connect;
pub(crate) mod pull;
pub(crate) mod push;
mod rate_floor;
pub(crate) mod reference;
mod response;
mod session;
mod token;
mod trust;
pub(crate) mod unchanged;
pub(crate) mod upload;
mod waits;

pub use crate::helper_process::{stop_running as stop_credential_helpers, HelperLimits};
pub use client::{Client, RegistryOptions, RetryPolicy};
pub use credential::{Credential, Secret};
pub use credentials::CredentialStore;
pub use keychain::{CloudHelpers, GitHubToken, Keychain};
pub use keychain_gce::{GceMetadata, DEFAULT_HOST as GCE_METADATA_HOST};
pub use proxy::{Proxies, ProxyEnv};
pub use rate_floor::RateFloor;
pub use reference::Reference;
