//! rko: deterministic OCI images for Go programs, without Docker.
//!
//! Each plumbing step (assemble a layer, append layers to a base, join
//! images into an index, export an archive) is a function with explicit
//! inputs and outputs; the `rko` binary is a thin command line over them.
//! Nothing here reads the environment, the clock or the working directory:
//! the command layer turns those into values.

pub mod atomic;
pub mod base;
pub mod build;
pub mod buildinfo;
pub mod cache;
pub mod compress;
pub mod config;
pub mod descriptor;
pub mod digest;
pub mod error;
pub mod export;
pub mod gobuild;
pub mod image;
pub mod image_config;
pub mod index;
mod json;
pub mod layer;
pub mod layout;
mod media_types;
mod parallel;
pub mod platform;
pub mod publish;
pub mod pull;
pub mod push;
pub mod referrers;
pub mod registry;
pub mod resolve;
pub mod sbom;
pub mod template;

pub use error::{Error, Result};
