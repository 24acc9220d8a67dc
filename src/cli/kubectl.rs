//! ko's Kubernetes workflow: `resolve` (build every `ko://` reference and
//! write the YAML with digests), `apply` / `create` (pipe that into
//! kubectl), `delete` (kubectl on the files as they are) and `run`.

use super::build::{build_and_publish, BuildFlags};
use rko::{Error, Result, Selector, YamlInput as Input, KO_PREFIX};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The YAML inputs ko takes.
#[derive(Debug, Clone, clap::Args)]
pub struct FileArgs {
    /// A YAML file, a directory of them, or - for standard input (repeatable).
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        required = true
    )]
    files: Vec<String>,
    /// Walk directories recursively.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// Keep only documents whose metadata.labels match (k=v, k!=v, k, !k; comma-joined).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    selector: Option<String>,
}

/// Build the `ko://` references in YAML and print the YAML with digests.
#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    files: FileArgs,
    #[command(flatten)]
    build: BuildFlags,
}

/// Resolve, then `kubectl apply` (or `create`) the result; arguments after
/// `--` go to kubectl.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    files: FileArgs,
    #[command(flatten)]
    build: BuildFlags,
    /// Arguments for kubectl, after `--`.
    #[arg(last = true)]
    kubectl: Vec<String>,
}

/// `kubectl delete` the files as they are (nothing is built).
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// A YAML file or directory (repeatable).
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR",
        required = true
    )]
    files: Vec<String>,
    /// Walk directories recursively.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// Arguments for kubectl, after `--`.
    #[arg(last = true)]
    kubectl: Vec<String>,
}

/// Build an import path and `kubectl run` it; arguments after `--` go to kubectl.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The import path to build and run.
    import_path: String,
    #[command(flatten)]
    build: BuildFlags,
    /// Arguments for kubectl run, after `--`.
    #[arg(last = true)]
    kubectl: Vec<String>,
}

pub fn resolve(args: ResolveArgs) -> Result<()> {
    let output = resolved_yaml(&args.files, &args.build)?;
    std::io::stdout()
        .write_all(output.as_bytes())
        .map_err(|e| Error::invalid(format!("writing standard output: {e}")))
}

pub fn apply(args: ApplyArgs, verb: &str) -> Result<()> {
    let output = resolved_yaml(&args.files, &args.build)?;
    let mut child = kubectl()
        .arg(verb)
        .args(["-f", "-"])
        .args(&args.kubectl)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(kubectl_missing)?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(output.as_bytes())
        .map_err(|e| Error::invalid(format!("writing to kubectl {verb}: {e}")))?;
    finish(child.wait().map_err(kubectl_missing), verb)
}

pub fn delete(args: DeleteArgs) -> Result<()> {
    let mut cmd = kubectl();
    cmd.arg("delete");
    for file in &args.files {
        cmd.args(["-f", file]);
    }
    if args.recursive {
        cmd.arg("-R");
    }
    finish(
        cmd.args(&args.kubectl).status().map_err(kubectl_missing),
        "delete",
    )
}

pub fn run(args: RunArgs) -> Result<()> {
    let built = build_and_publish(&args.build, std::slice::from_ref(&args.import_path))?;
    let reference = &built[0].1;
    let name = args
        .import_path
        .trim_start_matches("ko://")
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != ".")
        .unwrap_or("app")
        .to_lowercase();
    let status = kubectl()
        .args(["run", &name, &format!("--image={reference}")])
        .args(&args.kubectl)
        .status()
        .map_err(kubectl_missing);
    finish(status, "run")
}

/// Reads, builds and rewrites: the YAML with every `ko://` reference resolved.
fn resolved_yaml(files: &FileArgs, build: &BuildFlags) -> Result<String> {
    let inputs = read_inputs(&files.files, files.recursive)?;
    let selector = files
        .selector
        .as_deref()
        .map(str::parse::<Selector>)
        .transpose()?;
    let prepared = rko::prepare_yaml(inputs, selector.as_ref())?;
    let targets = prepared.import_paths();
    let resolved: BTreeMap<String, String> = if targets.is_empty() {
        BTreeMap::new()
    } else {
        let targets: Vec<String> = targets
            .iter()
            .map(|t| format!("{}{t}", KO_PREFIX))
            .collect();
        build_and_publish(build, &targets)?
            .into_iter()
            .map(|(target, reference)| {
                (target.trim_start_matches(KO_PREFIX).to_string(), reference)
            })
            .collect()
    };
    let (output, missing) = prepared.render(&resolved);
    super::resolve_yaml::report_missing(&missing, true, "the build")?;
    Ok(output)
}

/// Files in the order given; a directory's YAML files sorted by name.
fn read_inputs(names: &[String], recursive: bool) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for name in names {
        if name == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::invalid(format!("reading standard input: {e}")))?;
            inputs.push(Input {
                name: "<stdin>".to_string(),
                text,
            });
            continue;
        }
        let path = Path::new(name);
        let meta = std::fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
        let files: Vec<PathBuf> = if meta.is_dir() {
            let depth = if recursive { usize::MAX } else { 1 };
            let found: Vec<PathBuf> = walkdir::WalkDir::new(path)
                .max_depth(depth)
                .sort_by_file_name()
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .filter(|p| {
                    p.extension()
                        .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
                })
                .collect();
            if found.is_empty() {
                return Err(Error::file(
                    path,
                    "no YAML files (*.yaml, *.yml, *.json) in this directory",
                ));
            }
            found
        } else {
            vec![path.to_path_buf()]
        };
        for file in files {
            let text =
                std::fs::read_to_string(&file).map_err(|e| Error::io("reading", &file, e))?;
            inputs.push(Input {
                name: file.display().to_string(),
                text,
            });
        }
    }
    Ok(inputs)
}

fn kubectl() -> Command {
    Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()))
}

fn kubectl_missing(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::invalid("kubectl is not installed or not on PATH: install it (apt-get install kubectl) to apply, create, delete or run")
    } else {
        Error::invalid(format!("running kubectl: {e}"))
    }
}

fn finish(status: std::result::Result<std::process::ExitStatus, Error>, verb: &str) -> Result<()> {
    let status = status?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::invalid(format!("kubectl {verb} failed ({status})")))
    }
}
