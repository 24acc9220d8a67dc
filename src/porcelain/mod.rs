//! The porcelain layer: what `rko build`, `resolve` and `apply` do for a
//! person, in-process.
//!
//! Owns `.ko.yaml` and its templates, the settings plan (which base,
//! platforms, env, flags and image settings each import path gets), driving
//! the Go toolchain, the build cache, image naming, and publishing to a
//! registry, the local daemon, a layout or a tarball. It may use every
//! lower layer (image, registry, sbom, yaml, the primitives) and is used
//! only by the command line. Like every layer below the command line, it
//! reads no environment variables, clock or working directory: those
//! arrive as values.

pub(crate) mod announce;
pub(crate) mod base_image;
pub(crate) mod binaries;
pub(crate) mod build;
pub(crate) mod cache;
pub(crate) mod cache_evict;
pub(crate) mod cache_lock;
pub(crate) mod cache_size;
pub(crate) mod capabilities;
pub(crate) mod daemon;
pub(crate) mod fingerprint;
pub(crate) mod gobuild;
pub(crate) mod goinputs;
pub(crate) mod kind;
pub(crate) mod ko_yaml;
mod ko_yaml_keys;
mod ko_yaml_source;
pub(crate) mod layers;
pub(crate) mod naming;
pub(crate) mod pipeline;
pub(crate) mod plan;
pub(crate) mod publish;
pub(crate) mod template;
pub(crate) mod vcs;
