//! `rko provenance`: the SLSA provenance statement of an image in a
//! layout, from its Go binary; optionally attached to the layout.

use super::stdout;
use rko::{Error, ImageProvenance, Result};
use std::path::PathBuf;

/// Write the in-toto statement (SLSA Provenance v1) of an image in an OCI
/// layout, read from the image and its Go binary's build information, as
/// `rko build` attaches it; optionally attach it to the layout as an OCI
/// referrer (pushed with `rko push --sbom-tags` also at cosign's
/// `sha256-<hex>.att` tag).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The OCI layout holding the image.
    #[arg(long, value_name = "LAYOUT", required_unless_present = "from")]
    image: Option<PathBuf>,
    /// The image's Go binary.
    #[arg(long, value_name = "BIN", required_unless_present = "from")]
    binary: Option<PathBuf>,
    /// The binary's Go import path.
    #[arg(long, value_name = "PATH", required_unless_present = "from")]
    import_path: Option<String>,
    /// Attach this statement file, written before by `rko provenance
    /// --out`, as it is (with --attach and --subject or --subject-file).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["image", "binary", "import_path"], requires = "attach")]
    from: Option<PathBuf>,
    /// Which image of the layout (a manifest digest) [default: its only one].
    #[arg(long, value_name = "DIGEST")]
    subject: Option<String>,
    /// A file holding that digest (a `.digest` output).
    #[arg(long, value_name = "FILE", conflicts_with = "subject")]
    subject_file: Option<PathBuf>,
    /// SOURCE_DATE_EPOCH the image was built with, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    created: u64,
    /// Where to write the statement.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Attach it (unsigned, in a DSSE envelope) to this layout, a copy of
    /// --image or --image itself.
    #[arg(long, value_name = "LAYOUT")]
    attach: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    if args.out.is_none() && args.attach.is_none() {
        return Err(Error::invalid(
            "nowhere to put the statement: give --out FILE and/or --attach LAYOUT",
        ));
    }
    let subject = match (&args.subject, &args.subject_file) {
        (Some(digest), _) => Some(rko::parse_digest(digest.trim())?),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| Error::io("reading --subject-file", file, e))?;
            Some(rko::parse_digest(text.trim())?)
        }
        (None, None) => None,
    };
    let (digest, statement) = match (&args.from, &args.image, &args.binary, &args.import_path) {
        (Some(file), ..) => {
            let digest = subject.ok_or_else(|| {
                Error::invalid("--from: say which image it is of with --subject or --subject-file")
            })?;
            let statement =
                std::fs::read(file).map_err(|e| Error::io("reading --from", file, e))?;
            (digest, statement)
        }
        (None, Some(layout), Some(binary), Some(import_path)) => {
            rko::image_provenance(&ImageProvenance {
                binary,
                layout,
                subject: subject.as_ref(),
                import_path,
                created: args.created,
            })?
        }
        _ => unreachable!("clap requires --image, --binary and --import-path without --from"),
    };
    if let Some(out) = &args.out {
        rko::write_file(out, &statement)?;
    }
    if let Some(layout) = &args.attach {
        let attached =
            rko::attach_provenance(layout, Some(&digest), &statement, None, args.created)?;
        stdout::line(attached)?;
    }
    Ok(())
}
