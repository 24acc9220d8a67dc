//! rko: deterministic OCI images for Go programs, without Docker.
//!
//! Each plumbing step (assemble a layer, append layers to a base, join
//! images into an index, export an archive) is a function with explicit
//! inputs and outputs; the `rko` binary is a thin command line over them.
//! Nothing here reads the environment, the clock or the working directory:
//! the command layer turns those into values.
//!
//! The modules are layers, each using only those listed before it:
//! the primitives (`error`, `digest`, `json`, `atomic`, `parallel`,
//! `progress`, `untrusted`, `helper_process`, `percent`),
//! `image` (layers, layouts, append, index, export), `cas` (blobs read
//! from a Bazel remote cache), `registry` (pull,
//! push, credentials), `sbom`, `provenance` (SLSA statements and DSSE
//! envelopes), `yaml`, and `porcelain` (`rko build`, `rko verify`).

mod atomic;
mod digest;
mod error;
mod helper_process;
mod json;
mod parallel;
mod percent;
mod progress;
mod untrusted;

mod cas;
mod image;
mod provenance;
mod registry;
mod sbom;
mod yaml;

mod porcelain;

#[doc(hidden)]
pub mod fuzzing;

/// Readers of rko's bytes that are not rko's, for unit tests (shared
/// with the integration tests).
#[cfg(test)]
#[path = "../tests/readers/mod.rs"]
mod readers;

pub use error::{Error, Result};

// The primitives the command line needs.
pub use atomic::{check_file_target, remove_pending, write_file, AtomicFile};
pub use digest::parse as parse_digest;
pub use progress::upload_bytes;
pub use untrusted::{escape as escape_untrusted, escape_keeping_lines};

// Plumbing: the image layer.
pub use image::append::{append, AppendOptions, LayerInput};
pub use image::base_spec::BaseSpec;
pub use image::binary_check::check as check_binary_platform;
pub use image::check::{check_image, Expectations, FileExpectation, Line as CheckLine};
pub use image::compress::{CompressOptions, Compression};
pub use image::config::{rfc3339, ConfigEdits, History};
pub use image::descriptor::LayerDescriptor;
pub use image::export::{export, ExportOptions, Format as ExportFormat};
pub use image::index::{build as index, IndexOptions};
pub use image::layer::{
    assemble as assemble_layer, Defaults, EntrySpec, LayerOptions, LayerOutputs, Source,
};
pub use image::layer::{assemble_ko as assemble_ko_layer, ko as ko_layer};
pub use image::platform::Platform;
pub use image::referrers::attach as attach_artifact;

// Plumbing: registries.
pub use cas::{
    ChannelOptions as RemoteCacheOptions, Endpoint as RemoteCacheEndpoint, Remote as RemoteCache,
};
pub use registry::cache_blobs::{fetch_missing as fetch_missing_blobs, FetchedBlobs};
pub use registry::pull::{pull, PullOptions};
pub use registry::push::{push, PushOptions};
pub use registry::reference::DOCKER_HUB;
pub use registry::{
    stop_credential_helpers, Client, CloudHelpers, Credential, CredentialStore, GceMetadata,
    GitHubToken, HelperLimits, Keychain, Proxies, ProxyEnv, RateFloor, Reference, RegistryOptions,
    RetryPolicy, Secret, GCE_METADATA_HOST,
};

// Plumbing: SBOMs and YAML.
pub use sbom::buildinfo::{read as read_build_info, BuildInfo, Module};
pub use sbom::{generate as sbom, Format as SbomFormat, ImageRef, SbomOptions};
pub use yaml::files::{list as list_manifests, Listing as ManifestListing};
pub use yaml::resolve::{
    prepare as prepare_yaml, Input as YamlInput, Selector, PREFIX as KO_PREFIX,
};

// The porcelain: `rko build`, `resolve`, `apply`.
pub use porcelain::pipeline::{build_and_publish, Outcome, Report, Request};
pub use porcelain::publish::naming::{image_name, Naming};
pub use porcelain::settings::flags::{Flags as BuildValues, NamingFlags, PublishFlags};
pub use porcelain::settings::ko_yaml::ImageSettings;
pub use porcelain::verify::{verify, Checked};
pub use provenance::attach::attach as attach_provenance;
pub use provenance::of_image::{statement as image_provenance, ImageProvenance};
pub use provenance::sign::Signer;

// The porcelain's cache: `rko cache info` and `rko cache prune`.
pub use porcelain::cache::evict::{
    info as cache_info, KindUsage, PruneTo, Pruned, Usage as CacheUsage,
};
pub use porcelain::cache::prune as prune_cache;
pub use porcelain::cache::size::{
    cap as cache_cap, describe as describe_size, format as format_size, parse as parse_size,
};
pub use porcelain::settings::env::cache_dir;
