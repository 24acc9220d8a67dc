//! What every step of one `rko build` run shares: the settings, `.ko.yaml`,
//! the cache, the registry options, the environment and the clock's
//! reading, passed down as one value.

use crate::porcelain::cache::Cache;
use crate::porcelain::settings::env::Env;
use crate::porcelain::settings::ko_yaml::KoConfig;
use crate::porcelain::settings::plan::Settings;
use crate::porcelain::settings::template::Templating;
use crate::registry::RegistryOptions;
use std::path::Path;

/// What building shares across import paths.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub settings: &'a Settings,
    /// `.ko.yaml`, templates rendered.
    pub config: &'a KoConfig,
    pub cache: &'a Cache,
    pub registry: &'a RegistryOptions,
    /// Where relative import paths are resolved.
    pub work_dir: &'a Path,
    pub jobs: usize,
    /// What flags' and ldflags' templates read.
    pub templating: &'a Templating,
    /// The process environment, which `go` inherits.
    pub env: &'a Env,
    /// When the run started, in seconds since the epoch: files changed
    /// since are racy for the fingerprints of binaries.
    pub now: u64,
}
