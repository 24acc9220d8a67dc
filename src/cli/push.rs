//! `rko push`: an OCI layout to a registry.

use super::registry::RegistryArgs;
use super::remote_cache::RemoteCacheArgs;
use super::{network_jobs, split_pair, Results};
use rko::{LayerInput, PushOptions, Reference, Result};
use std::path::PathBuf;

/// Push the image or index in an OCI layout to a registry.
///
/// Prints `REPO@sha256:…`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The OCI layout to push.
    layout: PathBuf,
    /// Where: NAME[:TAG] (tag `latest` if none), or NAME@DIGEST to push
    /// by digest alone.
    reference: String,
    /// Also tag the pushed manifest with this tag (repeatable).
    #[arg(long = "tag", short = 't')]
    tags: Vec<String>,
    /// Also write the pushed digest to this file.
    #[arg(long, value_name = "FILE")]
    digest_file: Option<PathBuf>,
    /// Also push each SBOM as ko does, in cosign's layout tagged
    /// `sha256-<image digest hex>.sbom`, where `cosign download sbom` finds
    /// it; and each provenance attestation at `sha256-<hex>.att`, where
    /// `cosign download attestation` finds it.
    #[arg(long)]
    sbom_tags: bool,
    /// A layer blob the layout lacks (a layout `append --layer-descriptor`
    /// wrote): its file and descriptor, as `append --layer` takes them.
    /// With --remote-cache, the file may be absent: only a hint.
    #[arg(long = "layer", value_name = "BLOB=DESC.json")]
    layers: Vec<String>,
    /// A file that may hold a blob the layout lacks (where a build system
    /// would have written a layer; repeatable): when it is there and the
    /// registry lacks the blob whose digest it holds, it is sent.
    #[arg(long = "blob-hint", value_name = "FILE")]
    blob_hints: Vec<PathBuf>,
    #[command(flatten)]
    remote_cache: RemoteCacheArgs,
    /// Parallel blob uploads, at most [default: all cores, at least 4].
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: Args, results: Results) -> Result<()> {
    if let Some(file) = &args.digest_file {
        rko::check_file_target(file)?;
    }
    let reference: Reference = args.reference.parse()?;
    let mut blob_files = Vec::new();
    for value in &args.layers {
        let (blob, descriptor) = split_pair("--layer", value, "BLOB=DESC.json")?;
        let layer = LayerInput::read(blob.as_ref(), descriptor.as_ref())?;
        blob_files.push((layer.descriptor.digest, blob.into()));
    }
    let options = PushOptions {
        layout: args.layout,
        reference,
        tags: args.tags,
        registry: args.registry.options(),
        jobs: network_jobs(args.jobs),
        sbom_tags: args.sbom_tags,
        blob_files,
        blob_hints: args.blob_hints,
        remote_cache: args.remote_cache.remote()?,
        just_made: false,
    };
    let pushed = rko::push(&options)?;
    log::info!(
        "rko: pushed {} blobs, mounted {}, copied {}, {} already there, {} referrers; {} HTTP requests",
        pushed.uploaded, pushed.mounted, pushed.copied, pushed.present, pushed.referrers, pushed.requests
    );
    if let Some(remote) = &options.remote_cache {
        log::info!(
            "rko: {} of the pushed blobs came from the remote cache {}: {} bytes read from it",
            pushed.from_cache,
            remote.endpoint,
            pushed.cache_bytes
        );
    }
    results.digest(
        args.digest_file.as_deref(),
        pushed.digest.as_ref(),
        &pushed.reference,
    )
}
