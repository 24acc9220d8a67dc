//! The flags that name a Bazel remote cache (REAPI) to read blobs from:
//! `push` and `export` take them.

use super::split_pair;
use rko::{RemoteCache, RemoteCacheEndpoint, RemoteCacheOptions, Result};
use std::path::PathBuf;

/// Where blobs come from that neither the registry nor the layout has.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Remote cache")]
pub struct RemoteCacheArgs {
    /// A Bazel remote cache (REAPI) to read the blobs from that the
    /// registry, the layout and --layer files lack: grpc://HOST:PORT, or
    /// grpcs://HOST[:PORT]. Small blobs are read in batches, large ones
    /// streamed into their uploads.
    #[arg(long, value_name = "ADDRESS")]
    remote_cache: Option<String>,
    /// The cache's instance name, as Bazel's --remote_instance_name.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "",
        requires = "remote_cache"
    )]
    remote_instance_name: String,
    /// A header sent with every call to the cache, NAME=VALUE
    /// (repeatable), as Bazel's --remote_header.
    #[arg(
        long = "remote-header",
        value_name = "NAME=VALUE",
        requires = "remote_cache"
    )]
    remote_headers: Vec<String>,
    /// CA certificates (PEM) for a grpcs:// cache [default: Mozilla's roots].
    #[arg(long, value_name = "FILE", requires = "remote_cache")]
    remote_cache_ca: Vec<PathBuf>,
    /// A credential helper for the cache, as Bazel's --credential_helper:
    /// `HELPER get` answers the headers to send.
    #[arg(long, value_name = "HELPER", requires = "remote_cache")]
    remote_credential_helper: Option<PathBuf>,
}

impl RemoteCacheArgs {
    pub fn remote(&self) -> Result<Option<RemoteCache>> {
        let Some(address) = &self.remote_cache else {
            return Ok(None);
        };
        let mut headers = Vec::new();
        for value in &self.remote_headers {
            let (name, value) = split_pair("--remote-header", value, "NAME=VALUE")?;
            headers.push((name.to_string(), value.to_string()));
        }
        Ok(Some(RemoteCache {
            endpoint: RemoteCacheEndpoint::parse(address)?,
            instance: self.remote_instance_name.clone(),
            options: RemoteCacheOptions {
                headers,
                ca_files: self.remote_cache_ca.clone(),
                credential_helper: self.remote_credential_helper.clone(),
            },
        }))
    }
}
