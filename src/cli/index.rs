//! `rko index`: per-platform image layouts joined into a multi-platform index.

use super::{key_values, Results};
use rko::{IndexOptions, Result};
use std::path::PathBuf;

/// Join single-platform image layouts into one layout holding an image index.
///
/// Prints the index digest.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An image layout written by `rko append`; repeat for each platform.
    #[arg(long = "image", value_name = "LAYOUT", required = true)]
    images: Vec<PathBuf>,
    /// Add an index annotation.
    #[arg(long = "annotation", value_name = "K=V")]
    annotations: Vec<String>,
    /// A file of K=V annotation lines, applied before --annotation.
    #[arg(long, value_name = "FILE")]
    annotations_file: Option<PathBuf>,
    /// The index's name in the layout's index.json.
    #[arg(long, default_value = "latest")]
    tag: String,
    /// Where to write the OCI image layout.
    #[arg(long, value_name = "LAYOUT")]
    out: PathBuf,
    /// Also write the index digest to this file.
    #[arg(long, value_name = "FILE")]
    digest_file: Option<PathBuf>,
}

pub fn run(args: Args, results: Results) -> Result<()> {
    if let Some(file) = &args.digest_file {
        rko::check_file_target(file)?;
    }
    let options = IndexOptions {
        images: args.images,
        annotations: key_values(
            "--annotation",
            &args.annotations,
            "--annotations-file",
            args.annotations_file.as_deref(),
        )?,
        tag: args.tag,
    };
    let digest = rko::index(&options, &args.out)?;
    results.digest(args.digest_file.as_deref(), digest.as_ref(), &digest)
}
