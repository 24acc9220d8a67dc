//! `rko export`: an OCI layout as a docker-save tarball or an OCI archive.

use super::remote_cache::RemoteCacheArgs;
use super::{split_pair, Results};
use rko::{Error, ExportFormat, ExportOptions, LayerInput, Platform, Result};
use std::path::{Path, PathBuf};

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
    /// A file whose first line is --tag (as a stamped tags file holds it).
    #[arg(long, value_name = "FILE", conflicts_with = "tag")]
    tag_file: Option<PathBuf>,
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
    /// A file that may hold a layer blob the layout lacks (where a build
    /// system would have written it; repeatable): used when it is there.
    #[arg(long = "blob-hint", value_name = "FILE")]
    blob_hints: Vec<PathBuf>,
    #[command(flatten)]
    remote_cache: RemoteCacheArgs,
}

pub fn run(args: Args, results: Results) -> Result<()> {
    let mut blob_files = Vec::new();
    for value in &args.layers {
        let (blob, descriptor) = split_pair("--layer", value, "BLOB=DESC.json")?;
        let layer = LayerInput::read(blob.as_ref(), descriptor.as_ref())?;
        blob_files.push((layer.descriptor.digest, blob.into()));
    }
    let remote = args.remote_cache.remote()?;
    let fetched =
        rko::fetch_missing_blobs(&args.layout, &blob_files, args.blob_hints, remote.as_ref())?;
    blob_files.extend(fetched.files.iter().cloned());
    let options = ExportOptions {
        blob_files,
        format: args.format.parse::<ExportFormat>()?,
        tag: match &args.tag_file {
            Some(file) => Some(first_line(file)?),
            None => args.tag,
        },
        platform: args
            .platform
            .as_deref()
            .map(str::parse::<Platform>)
            .transpose()?,
    };
    rko::export(&args.layout, &options, &args.out)?;
    results.print(args.out.display(), true)
}

/// The first non-empty line of `file`, trimmed.
fn first_line(file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io("reading", file, e))?;
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::file(file, "holds no tag (--tag-file)"))
}
