//! `rko check-image`: an image's config and files against EXPECT.json.

use super::Results;
use rko::{Error, Expectations, Platform, Result};
use std::path::PathBuf;

/// Check an image against expectations, with no container runtime and no
/// layer blob: its config fields (entrypoint, cmd, user, workdir, env,
/// labels, exposed ports) from the layout, its files (type, mode, owner,
/// link target) from the layers' listings.
///
/// EXPECT.json holds what to check, every field optional:
/// {"entrypoint": [..], "cmd": [..], "user": "..", "workdir": "..",
/// "env": {"K": "V"}, "labels": {"K": "V"}, "exposedPorts": ["8080/tcp"],
/// "files": {"/path": {"mode": "0555", "uid": 0, "gid": 0, "type": "file",
/// "link": ".."}}, "absent": ["/path"]}. Prints one line per check, `ok`
/// or `FAIL` with what was wanted and what was found; exits non-zero if
/// any failed. A layer without a listing is read from its blob, which the
/// layout must then hold.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The OCI layout holding the image (a sparse one will do).
    layout: PathBuf,
    /// What the image must be.
    #[arg(long, value_name = "EXPECT.json")]
    expect: PathBuf,
    /// A layer's listing (`assemble-layer --listing`); repeat for each.
    /// Listings of layers the image lacks are ignored.
    #[arg(long = "listing", value_name = "LISTING.json")]
    listings: Vec<PathBuf>,
    /// Which image of an index to check.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
}

pub fn run(args: Args, results: Results) -> Result<()> {
    let expect: Expectations = read_expectations(&args.expect)?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()?;
    let lines = rko::check_image(&args.layout, platform.as_ref(), &args.listings, &expect)?;
    for line in &lines {
        // Failures print even with --quiet: they are the result.
        results.print(line, line.ok)?;
    }
    let failed = lines.iter().filter(|l| !l.ok).count();
    if failed > 0 {
        return Err(Error::invalid(format!(
            "{}: {failed} of {} checks failed (see the FAIL lines above)",
            args.layout.display(),
            lines.len()
        )));
    }
    Ok(())
}

fn read_expectations(path: &std::path::Path) -> Result<Expectations> {
    let text = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    serde_json::from_slice(&text)
        .map_err(|e| Error::file(path, format!("is not an EXPECT.json for --expect: {e}")))
}
