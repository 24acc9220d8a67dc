//! `rko verify`: rebuild a published image from the working tree with the
//! inputs its provenance records, and compare.

use super::registry::PorcelainRegistryArgs;
use super::stdout;
use super::{jobs, request_here};
use rko::{BuildValues, Error, Reference, Result};

/// Rebuild an image (each image of an index) from the working tree with
/// the inputs its provenance records, and compare digests.
///
/// Run it where `rko build` ran (the module, with its `.ko.yaml`). Prints
/// one line per image, `verified` or `differs`, then what differs: the
/// working tree, the first difference between the images and the inputs
/// most likely at fault. Exits 0 only when every rebuild is identical.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image or index: NAME[:TAG][@DIGEST].
    reference: String,
    /// How many builds run at once [default: all cores].
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    #[command(flatten)]
    registry: PorcelainRegistryArgs,
}

pub fn run(args: Args) -> Result<()> {
    let reference: Reference = args.reference.parse()?;
    let flags = BuildValues {
        insecure_registry: args.registry.insecure()?,
        ..BuildValues::default()
    };
    let base = request_here(Vec::new(), flags, args.registry.options()?, jobs(args.jobs))?;
    let checked = rko::verify(&reference, &base)?;
    let mut differing = 0;
    for image in &checked {
        let verdict = if image.verified() {
            "verified"
        } else {
            "differs"
        };
        stdout::line(format_args!(
            "{verdict}: {} for {}: {}@{} rebuilt as {}",
            image.import_path,
            image.platform,
            reference.repository_name(),
            image.image,
            image.rebuilt
        ))?;
        for problem in &image.problems {
            stdout::line(format_args!("  {problem}"))?;
        }
        differing += usize::from(!image.verified());
    }
    if differing > 0 {
        return Err(Error::invalid(format!(
            "{reference}: {differing} of {} images did not rebuild identically",
            checked.len()
        )));
    }
    Ok(())
}
