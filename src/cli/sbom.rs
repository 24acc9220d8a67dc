//! `rko sbom`: an SBOM from a Go binary's embedded build information.

use super::stdout;
use rko::{Error, ImageRef, Result, SbomFormat as Format, SbomOptions};
use std::path::{Path, PathBuf};

/// Write an SPDX 2.3 or CycloneDX 1.5 SBOM for a Go binary, read from the
/// build information Go embeds in it (no `go` needed), optionally attached
/// to an image layout as an OCI 1.1 referrer.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Go executable (ELF, Mach-O or PE; Go 1.18 or later).
    #[arg(long, value_name = "BIN", required_unless_present = "from")]
    binary: Option<PathBuf>,
    /// Attach this SBOM file (of --format), written before, instead of
    /// reading a binary: the document is attached as it is.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "binary",
        requires = "attach"
    )]
    from: Option<PathBuf>,
    /// spdx, cyclonedx or go.version-m (the text `go version -m` prints).
    #[arg(long, default_value = "spdx")]
    format: String,
    /// Where to write the SBOM.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The image holding the binary (registry/repository).
    #[arg(long, value_name = "REF")]
    image_name: Option<String>,
    /// The image's manifest digest.
    #[arg(long, value_name = "DIGEST", conflicts_with = "image_digest_file")]
    image_digest: Option<String>,
    /// A file holding the image's manifest digest (a `.digest` output).
    #[arg(long, value_name = "FILE")]
    image_digest_file: Option<PathBuf>,
    /// The base image the image descends from.
    #[arg(long, value_name = "REF")]
    base_name: Option<String>,
    /// The base image's digest.
    #[arg(long, value_name = "DIGEST")]
    base_digest: Option<String>,
    /// Where the binary is in the image.
    #[arg(long, value_name = "PATH")]
    binary_path: Option<String>,
    /// The document's creation time, in seconds since the epoch.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    created: u64,
    /// Also attach the SBOM to this OCI layout, as an artifact whose subject
    /// is the layout's image (or --subject).
    #[arg(long, value_name = "LAYOUT")]
    attach: Option<PathBuf>,
    /// The manifest digest in the layout the SBOM refers to.
    #[arg(long, value_name = "DIGEST", requires = "attach")]
    subject: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    if args.out.is_none() && args.attach.is_none() {
        return Err(Error::invalid(
            "nowhere to put the SBOM: give --out FILE and/or --attach LAYOUT",
        ));
    }
    let format: Format = args.format.parse()?;
    let document = match (&args.from, &args.binary) {
        (Some(file), _) => std::fs::read(file).map_err(|e| Error::io("reading", file, e))?,
        (None, Some(binary)) => document(&args, format, binary)?,
        (None, None) => unreachable!("clap requires --binary without --from"),
    };
    if let Some(out) = &args.out {
        rko::write_file(out, &document)?;
    }
    if let Some(layout) = &args.attach {
        let subject = args
            .subject
            .as_deref()
            .map(|d| rko::parse_digest(d.trim()))
            .transpose()?;
        let created = rko::rfc3339(args.created);
        let attached = rko::attach_artifact(
            layout,
            format.media_type(),
            &document,
            subject.as_ref(),
            &created,
        )?;
        stdout::line(attached)?;
    }
    Ok(())
}

/// The SBOM of `binary`, from its Go build information.
fn document(args: &Args, format: Format, binary: &Path) -> Result<Vec<u8>> {
    let info = rko::read_build_info(binary)?;
    let digest = |value: &Option<String>| {
        value
            .as_deref()
            .map(|d| rko::parse_digest(d.trim()))
            .transpose()
    };
    let image_digest = match &args.image_digest_file {
        Some(file) => {
            Some(std::fs::read_to_string(file).map_err(|e| Error::io("reading", file, e))?)
        }
        None => args.image_digest.clone(),
    };
    let image = match (&args.image_name, digest(&image_digest)?) {
        (None, None) => None,
        (name, digest) => Some(ImageRef {
            name: name
                .clone()
                .unwrap_or_else(|| info.path.rsplit('/').next().unwrap_or("image").to_string()),
            digest,
        }),
    };
    let base = args.base_name.as_ref().map(|name| -> Result<ImageRef> {
        Ok(ImageRef {
            name: name.clone(),
            digest: digest(&args.base_digest)?,
        })
    });
    let options = SbomOptions {
        image,
        base: base.transpose()?,
        binary_path: args.binary_path.clone(),
        created: args.created,
    };
    Ok(rko::sbom(format, &info, &options))
}
