//! The YAML layer: which files a `-f` names, and `ko://` references found
//! and replaced in Kubernetes YAML, formatting kept byte for byte.
//!
//! It may use only the primitives: it knows nothing of Go, images or
//! registries; the caller says what each import path resolves to.

pub(crate) mod files;
pub(crate) mod resolve;
