//! `rko cache info` and `rko cache prune`: what `KOCACHE` holds, and
//! removing its least recently used entries.

use super::stdout;
use clap::Subcommand;
use rko::{CacheUsage, Error, PruneTo, Pruned, Result};
use std::collections::BTreeMap;

/// Show or prune the build cache (KOCACHE).
///
/// rko build and resolve keep KOCACHE under KOCACHE_MAX_SIZE (default 5GB;
/// `off` for no cap) by removing its least recently used entries when a
/// run ends over the cap; an entry a running build uses is never removed.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Print KOCACHE's path, size, cap and entries by kind.
    Info,
    /// Remove the least recently used entries until KOCACHE fits its cap.
    Prune(PruneArgs),
}

#[derive(Debug, clap::Args)]
struct PruneArgs {
    /// Prune to this size instead of KOCACHE_MAX_SIZE: bytes with an
    /// optional unit (5GB, 500MB, 2GiB).
    #[arg(long, value_name = "SIZE", conflicts_with = "all")]
    max_size: Option<String>,
    /// Remove every entry no running build uses.
    #[arg(long)]
    all: bool,
}

pub fn run(args: Args) -> Result<()> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let dir = rko::cache_dir(&env)?;
    match args.verb {
        Verb::Info => {
            let cap = rko::cache_cap(&env)?;
            stdout::write(describe(&rko::cache_info(&dir), cap).as_bytes())
        }
        Verb::Prune(prune) => {
            let to = prune_to(&prune, &env)?;
            let pruned = rko::prune_cache(&dir, to)?;
            for failure in &pruned.failures {
                log::warn!("{failure}");
            }
            stdout::line(summary(&pruned))
        }
    }
}

/// `--all`, else `--max-size`, else the cap.
fn prune_to(args: &PruneArgs, env: &BTreeMap<String, String>) -> Result<PruneTo> {
    if args.all {
        return Ok(PruneTo::All);
    }
    if let Some(text) = &args.max_size {
        return rko::parse_size(text).map(PruneTo::Size).ok_or_else(|| {
            Error::invalid(format!(
                "--max-size {text:?} is not a size: write bytes with an optional unit \
                 (5GB, 500MB, 2GiB)"
            ))
        });
    }
    rko::cache_cap(env)?.map(PruneTo::Size).ok_or_else(|| {
        Error::invalid(
            "KOCACHE_MAX_SIZE=off sets no cap to prune to: give --max-size SIZE or --all",
        )
    })
}

/// `rko cache info`'s lines: one fact each, its name first.
fn describe(usage: &CacheUsage, cap: Option<u64>) -> String {
    let mut lines = vec![
        format!("path    {}", usage.path.display()),
        format!(
            "size    {} in {}",
            rko::describe_size(usage.bytes()),
            entries(usage.entries())
        ),
        match cap {
            Some(cap) => format!("cap     {}", rko::describe_size(cap)),
            None => "cap     none (KOCACHE_MAX_SIZE=off)".to_string(),
        },
    ];
    for kind in &usage.kinds {
        lines.push(format!(
            "{:<8}{}, {}",
            kind.kind,
            entries(kind.entries),
            rko::describe_size(kind.bytes)
        ));
    }
    lines.push(format!(
        "tmp     {} scratch directories (of running builds; not counted)",
        usage.scratch
    ));
    if usage.foreign_bytes > 0 {
        lines.push(format!(
            "other   {} not written by rko (never pruned)",
            rko::describe_size(usage.foreign_bytes)
        ));
    }
    lines.iter().map(|line| format!("{line}\n")).collect()
}

fn summary(pruned: &Pruned) -> String {
    format!(
        "removed {} ({}); {} in use kept; KOCACHE holds {} in {}",
        entries(pruned.removed),
        rko::format_size(pruned.removed_bytes),
        pruned.in_use,
        rko::format_size(pruned.left_bytes),
        entries(pruned.left)
    )
}

fn entries(count: usize) -> String {
    match count {
        1 => "1 entry".to_string(),
        n => format!("{n} entries"),
    }
}
