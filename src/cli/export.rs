//! `rko export`: an OCI layout as a docker-save tarball or an OCI archive.

use super::{split_pair, Results};
use rko::{ExportFormat, ExportOptions, LayerInput, Platform, Result};
use std::path::PathBuf;

/// Write a layout as one tarball: `docker` for `docker load` / `podman load`
/// (one platform), `oci` for an OCI archive (every platform).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The OCI layout to export.
    layout: PathBuf,
    /// docker or oci.
    #[arg(long, default_value = "docker")]
    format: String,
    /// REPO:TAG the loaded image gets (docker), or the ref name (oci).
    #[arg(long, value_name = "REPO:TAG")]
    tag: Option<String>,
    /// Which image of an index to export (docker format only).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Where to write the tarball.
    #[arg(long, value_name = "TAR")]
    out: PathBuf,
    /// A layer blob the layout lacks (a layout `append --layer-descriptor`
    /// wrote): its file and descriptor, as `append --layer` takes them.
    #[arg(long = "layer", value_name = "BLOB=DESC.json")]
    layers: Vec<String>,
}

pub fn run(args: Args, results: Results) -> Result<()> {
    let mut blob_files = Vec::new();
    for value in &args.layers {
        let (blob, descriptor) = split_pair("--layer", value, "BLOB=DESC.json")?;
        let layer = LayerInput::read(blob.as_ref(), descriptor.as_ref())?;
        blob_files.push((layer.descriptor.digest, blob.into()));
    }
    let options = ExportOptions {
        blob_files,
        format: args.format.parse::<ExportFormat>()?,
        tag: args.tag,
        platform: args
            .platform
            .as_deref()
            .map(str::parse::<Platform>)
            .transpose()?,
    };
    rko::export(&args.layout, &options, &args.out)?;
    results.print(args.out.display(), true)
}
