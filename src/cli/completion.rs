//! rko about itself: `rko version` and `rko completion SHELL`, as ko has
//! them (the version alone on a line, a completion script written by
//! clap_complete), and `rko man DIR`, man pages written by clap_mangen
//! from the same definitions the command line is parsed with.

use super::{stdout, Cli};
use clap::CommandFactory;
use clap_complete::Shell;
use rko::{Error, Result};
use std::path::PathBuf;

/// Print rko's version.
#[derive(Debug, clap::Args)]
pub struct VersionArgs {}

/// Print a completion script: `source <(rko completion bash)`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

/// Write man pages (rko.1, rko-build.1, …) into a directory.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The directory (created if missing).
    dir: PathBuf,
}

pub fn version(_: VersionArgs) -> Result<()> {
    stdout::line(env!("CARGO_PKG_VERSION"))
}

pub fn completion(args: CompletionArgs) -> Result<()> {
    // clap_complete panics when its writer fails: it writes to memory.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "rko", &mut script);
    stdout::write(&script)
}

pub fn man(args: ManArgs) -> Result<()> {
    std::fs::create_dir_all(&args.dir).map_err(|e| Error::io("creating", &args.dir, e))?;
    let mut command = Cli::command();
    command.build();
    write_page(&args.dir, "rko", command.clone())?;
    let commands = command.get_subcommands().filter(|s| s.get_name() != "help");
    for sub in commands {
        let name = format!("rko-{}", sub.get_name());
        write_page(&args.dir, &name, sub.clone().name(name.clone()))?;
    }
    Ok(())
}

fn write_page(dir: &std::path::Path, name: &str, command: clap::Command) -> Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|e| Error::invalid(format!("rendering the man page {name}: {e}")))?;
    rko::write_file(&dir.join(format!("{name}.1")), &page)
}
