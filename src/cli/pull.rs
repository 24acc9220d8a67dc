//! `rko pull`: a registry image into an OCI layout.

use super::network_jobs;
use super::registry::RegistryArgs;
use super::stdout;
use rko::{Platform, PullOptions, Reference, Result};
use std::path::PathBuf;

/// Pull an image or index into an OCI image layout, verifying every blob.
///
/// Prints `REPO@sha256:…` of what the layout holds.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: NAME[:TAG][@DIGEST].
    reference: String,
    /// Keep only this platform of an index (repeatable) [default: all].
    #[arg(long = "platform", value_name = "OS/ARCH[/VARIANT]")]
    platforms: Vec<String>,
    /// Manifests and configs only: layers stay in the registry (append and
    /// push accept the result as a base).
    #[arg(long)]
    shallow: bool,
    /// Parallel downloads, at most [default: all cores, at least 4].
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Where to write the OCI image layout.
    #[arg(long, value_name = "LAYOUT")]
    out: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: Args) -> Result<()> {
    let reference: Reference = args.reference.parse()?;
    let options = PullOptions {
        platforms: args
            .platforms
            .iter()
            .map(|p| p.parse::<Platform>())
            .collect::<Result<_>>()?,
        shallow: args.shallow,
        registry: args.registry.options(),
        jobs: network_jobs(args.jobs),
        reference,
    };
    let pulled = rko::pull(&options, &args.out)?;
    log::info!("rko: pulled with {} HTTP requests", pulled.requests);
    stdout::line(format_args!(
        "{}@{}",
        options.reference.repository_name(),
        pulled.digest
    ))
}
