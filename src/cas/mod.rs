//! The remote cache layer: blobs read by digest from a REAPI Content
//! Addressable Storage (Bazel's `--remote_cache`), so that `push` can send
//! layers a build left in the cache without downloading them first.
//!
//! Owns the cache's address, a blocking gRPC client (h2 on a one-thread
//! tokio runtime), the few REAPI and ByteStream messages, and reading
//! blobs. It may use only the primitives: it knows nothing of layouts or
//! registries.

mod credential_helper;
mod endpoint;
mod grpc;
mod proto;
mod store;

pub use endpoint::Endpoint;
pub use grpc::ChannelOptions;
pub use store::{Store, BATCH_BLOB};

/// A cache to read from, as the command line names it.
#[derive(Debug, Clone)]
pub struct Remote {
    pub endpoint: Endpoint,
    /// `--remote-instance-name`, as Bazel's; empty for none.
    pub instance: String,
    pub options: ChannelOptions,
}

impl Remote {
    /// Connects, and checks the cache speaks SHA-256.
    pub fn connect(&self) -> crate::error::Result<Store> {
        Store::connect(&self.endpoint, &self.instance, &self.options)
    }
}
