//! What the command line gives the porcelain: ko's build, naming and
//! publishing flags, as values.

use super::ko_yaml::ImageSettings;
use crate::provenance::sign::Signer;
use crate::sbom;
use std::path::PathBuf;
use std::sync::Arc;

/// The flags `build`, `resolve`, `apply`, `create` and `run` share, as values.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--platform`, every value split at its commas: `all` or OS/ARCH[/VARIANT] each.
    pub platforms: Vec<String>,
    /// `--base-image` (rko's; ko has only `KO_DEFAULTBASEIMAGE`).
    pub base_image: Option<String>,
    pub ldflags: Vec<String>,
    pub disable_optimizations: bool,
    /// `--verify-cache`: run `go build` even for a binary whose inputs are
    /// unchanged, and fail if it differs from the one kept.
    pub verify_cache: bool,
    /// `--image-label`, `--image-annotation`, `--image-user`.
    pub image: ImageSettings,
    pub naming: NamingFlags,
    pub publish: PublishFlags,
    /// `--sbom` (`None` for `--sbom=none`) and `--sbom-dir`.
    pub sbom: Option<sbom::Format>,
    pub sbom_dir: Option<PathBuf>,
    /// `--provenance`: attach a SLSA provenance statement to each image
    /// (off with `--provenance=none`).
    pub provenance: bool,
    /// `--sign-key`, opened: signs each provenance statement.
    pub signer: Option<Arc<Signer>>,
    /// `--insecure-registry`: ko's boolean.
    pub insecure_registry: bool,
}

/// `--bare`, `-P`, `-B`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NamingFlags {
    pub bare: bool,
    pub preserve_import_paths: bool,
    pub base_import_paths: bool,
}

/// Where images go and how they are tagged.
#[derive(Debug, Clone, Default)]
pub struct PublishFlags {
    pub tags: Vec<String>,
    pub tag_only: bool,
    pub push: bool,
    /// `-L`.
    pub local: bool,
    pub oci_layout_path: Option<PathBuf>,
    pub tarball: Option<PathBuf>,
    pub image_refs: Option<PathBuf>,
}
