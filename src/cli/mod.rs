//! The command line: one clap `Args` struct per subcommand, each with a
//! `run` that calls one library function. Environment, clock and defaults
//! that depend on the machine are read here and nowhere below.

mod append;
mod assemble_layer;
mod build;
mod cache;
mod check_image;
mod completion;
mod export;
mod index;
mod kubectl;
mod login;
mod name;
pub mod params;
pub mod progress;
mod provenance;
mod pull;
mod push;
mod registry;
mod remote_cache;
mod resolve_yaml;
mod sbom;
pub mod stdout;
mod string_slice;
mod verify;

use clap::{Parser, Subcommand};
use rko::{Error, Result};
use std::path::Path;

/// Deterministic OCI images for Go programs, without Docker.
///
/// Arguments may also come from a params file: `rko append @args.txt` reads
/// one argument per line.
#[derive(Debug, Parser)]
#[command(name = "rko", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Also log each registry request.
    #[arg(short = 'v', long, global = true, conflicts_with = "quiet")]
    verbose: bool,
    /// Log warnings and errors only; plumbing whose result is in a file
    /// named on its command line prints nothing.
    #[arg(short = 'q', long, global = true)]
    quiet: bool,
}

impl Cli {
    pub fn verbosity(&self) -> progress::Verbosity {
        match (self.quiet, self.verbose) {
            (true, _) => progress::Verbosity::Quiet,
            (_, true) => progress::Verbosity::Verbose,
            _ => progress::Verbosity::Normal,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    AssembleLayer(assemble_layer::Args),
    Append(append::Args),
    Index(index::Args),
    Export(export::Args),
    CheckImage(check_image::Args),
    Pull(pull::Args),
    Push(push::Args),
    Login(login::LoginArgs),
    Logout(login::LogoutArgs),
    /// ko's spelling of login and logout (crane's `auth`): `auth login
    /// REGISTRY -u USER -p PASS` saves without asking the registry.
    #[command(hide = true)]
    Auth(login::AuthArgs),
    ResolveYaml(resolve_yaml::Args),
    Name(name::Args),
    Sbom(sbom::Args),
    Provenance(provenance::Args),
    #[command(alias = "publish")]
    Build(build::Args),
    Cache(cache::Args),
    Resolve(kubectl::ResolveArgs),
    Apply(kubectl::ApplyArgs),
    Create(kubectl::ApplyArgs),
    Delete(kubectl::DeleteArgs),
    Run(kubectl::RunArgs),
    Verify(verify::Args),
    Version(completion::VersionArgs),
    Completion(completion::CompletionArgs),
    Man(completion::ManArgs),
}

pub fn run(cli: Cli) -> Result<()> {
    let results = Results { quiet: cli.quiet };
    match cli.command {
        Command::AssembleLayer(args) => assemble_layer::run(args, results),
        Command::Append(args) => append::run(args, results),
        Command::Index(args) => index::run(args, results),
        Command::Export(args) => export::run(args, results),
        Command::CheckImage(args) => check_image::run(args, results),
        Command::Pull(args) => pull::run(args),
        Command::Push(args) => push::run(args, results),
        Command::Login(args) => login::login(args),
        Command::Logout(args) => login::logout(args),
        Command::Auth(args) => login::auth(args),
        Command::ResolveYaml(args) => resolve_yaml::run(args),
        Command::Name(args) => name::run(args),
        Command::Sbom(args) => sbom::run(args),
        Command::Provenance(args) => provenance::run(args),
        Command::Build(args) => build::run(args),
        Command::Cache(args) => cache::run(args),
        Command::Resolve(args) => kubectl::resolve(args),
        Command::Apply(args) => kubectl::apply(args, "apply"),
        Command::Create(args) => kubectl::apply(args, "create"),
        Command::Delete(args) => kubectl::delete(args),
        Command::Run(args) => kubectl::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Version(args) => completion::version(args),
        Command::Completion(args) => completion::completion(args),
        Command::Man(args) => completion::man(args),
    }
}

/// Splits `LEFT=RIGHT` at the first `=`; `flag` names the option in errors.
fn split_pair<'a>(flag: &str, value: &'a str, shape: &str) -> Result<(&'a str, &'a str)> {
    match value.split_once('=') {
        Some((left, right)) if !left.is_empty() => Ok((left, right)),
        _ => Err(Error::invalid(format!(
            "{flag} {value:?}: expected {shape}"
        ))),
    }
}

/// `K=V` pairs from the command line followed by those from a file of
/// `K=V` lines (blank lines and `#` comments skipped, as in docker's --env-file).
fn key_values(
    flag: &str,
    values: &[String],
    file_flag: &str,
    file: Option<&Path>,
) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = split_pair(
                &format!("{file_flag} {}:{}", path.display(), n + 1),
                line,
                "K=V",
            )?;
            pairs.push((k.to_string(), v.to_string()));
        }
    }
    for value in values {
        let (k, v) = split_pair(flag, value, "K=V")?;
        pairs.push((k.to_string(), v.to_string()));
    }
    Ok(pairs)
}

/// A porcelain request run from here: this process's environment, working
/// directory and clock.
fn request_here(
    targets: Vec<String>,
    flags: rko::BuildValues,
    registry: rko::RegistryOptions,
    jobs: usize,
) -> Result<rko::Request> {
    let work_dir = std::env::current_dir()
        .map_err(|e| Error::invalid(format!("the current directory: {e}")))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Ok(rko::Request {
        targets,
        flags,
        env: std::env::vars().collect(),
        work_dir,
        now,
        registry,
        jobs,
    })
}

/// Worker threads: the machine's cores unless `--jobs` says otherwise.
fn jobs(requested: Option<usize>) -> usize {
    requested
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Parallel transfers for pull and push: as asked, else all cores but at
/// least four (they wait on the network, not the CPU).
fn network_jobs(requested: Option<usize>) -> usize {
    match requested.filter(|&n| n > 0) {
        Some(n) => n,
        None => jobs(None).max(4),
    }
}

/// Writes a digest file (no trailing newline, as `$(cat FILE)` wants).
/// Where a plumbing command's result goes: to the file its command line
/// named, if any, and to stdout, unless `--quiet` was given and a file
/// holds it (a build system shows whatever its actions print).
#[derive(Debug, Clone, Copy)]
pub struct Results {
    quiet: bool,
}

impl Results {
    /// Prints `line`; `filed` says a file named on the command line holds it.
    fn print(self, line: impl std::fmt::Display, filed: bool) -> Result<()> {
        if self.quiet && filed {
            return Ok(());
        }
        stdout::line(line)
    }

    /// Writes `digest` to `file` when one was named, and prints `line`.
    fn digest(self, file: Option<&Path>, digest: &str, line: impl std::fmt::Display) -> Result<()> {
        if let Some(path) = file {
            rko::write_file(path, digest.as_bytes())?;
        }
        self.print(line, file.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_jobs_are_as_asked_else_at_least_four() {
        for (requested, want) in [(Some(1), 1), (Some(2), 2), (Some(16), 16)] {
            assert_eq!(network_jobs(requested), want, "{requested:?}");
        }
        for requested in [None, Some(0)] {
            assert!(network_jobs(requested) >= 4, "{requested:?}");
        }
    }
}
