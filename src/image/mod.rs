//! The image layer: OCI images on disk, with no network and no Go.
//!
//! Owns layers (entries → tar → compressed blob and descriptor), base
//! images (`scratch`, `builtin:static`, a layout), `append`, `index`,
//! `check-image` (an image against expectations, from metadata),
//! `export` and its reverse (a docker-save tarball read into a layout),
//! the OCI layout reader and writer, image configs, platforms,
//! media types and referrer artifacts kept in a layout. It may use only the
//! primitives (`digest`, `json`, `atomic`, `parallel`, `error`); nothing
//! here knows about registries, SBOM formats, YAML or `.ko.yaml`.

pub(crate) mod append;
pub(crate) mod base;
pub(crate) mod base_spec;
pub(crate) mod binary_check;
pub(crate) mod blob;
pub(crate) mod builtin;
pub(crate) mod check;
pub(crate) mod compress;
pub(crate) mod config;
pub(crate) mod descriptor;
pub(crate) mod docker_archive;
pub(crate) mod export;
pub(crate) mod index;
pub(crate) mod layer;
pub(crate) mod layout;
pub(crate) mod layout_add;
pub(crate) mod media_types;
pub(crate) mod platform;
pub(crate) mod referrers;
