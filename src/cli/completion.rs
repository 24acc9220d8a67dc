//! `rko version` and `rko completion SHELL`, as ko has them: the version
//! alone on a line, and a completion script written by clap_complete.

use super::Cli;
use clap::CommandFactory;
use clap_complete::Shell;
use rko::Result;

/// Print rko's version.
#[derive(Debug, clap::Args)]
pub struct VersionArgs {}

/// Print a completion script: `source <(rko completion bash)`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

pub fn version(_: VersionArgs) -> Result<()> {
    println!("{}", env!("CARGO_PKG_VERSION"));
    Ok(())
}

pub fn completion(args: CompletionArgs) -> Result<()> {
    clap_complete::generate(
        args.shell,
        &mut Cli::command(),
        "rko",
        &mut std::io::stdout(),
    );
    Ok(())
}
