//! ko's Kubernetes workflow: `resolve` (build every `ko://` reference and
//! write the YAML with digests), `apply` / `create` (pipe that into
//! kubectl), `delete` (kubectl with the arguments as given) and `run`
//! (build, then `kubectl run`), as ko drives kubectl.

use super::build::{build_and_publish, BuildFlags};
use super::stdout;
use super::string_slice::csv_values;
use rko::{Error, Reference, Result, Selector, YamlInput as Input, KO_PREFIX};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// The YAML inputs ko takes.
#[derive(Debug, Clone, clap::Args)]
pub struct FileArgs {
    /// A YAML file, a directory of them, or - for standard input (repeatable,
    /// comma-separated).
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE|DIR|-",
        required = true,
        allow_hyphen_values = true
    )]
    files: Vec<String>,
    /// Walk directories recursively.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// Keep only documents whose metadata.labels match (k=v, k!=v, k, !k; comma-joined).
    #[arg(short = 'l', long, value_name = "SELECTOR", allow_hyphen_values = true)]
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

/// `kubectl delete` with these arguments, as ko passes them (nothing is
/// built): -f FILE|DIR, -R, resource names, -n, any kubectl flag.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// What kubectl delete takes, passed on as given.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "KUBECTL ARGS"
    )]
    args: Vec<String>,
}

/// Build import paths and `kubectl run` each, as ko does (`--attach --rm
/// --restart=Never`); arguments after `--` go to kubectl run.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The import paths to build and run, one pod each.
    #[arg(required = true)]
    import_paths: Vec<String>,
    #[command(flatten)]
    build: BuildFlags,
    /// Arguments for kubectl run, after `--`.
    #[arg(last = true)]
    kubectl: Vec<String>,
}

pub fn resolve(args: ResolveArgs) -> Result<()> {
    let output = resolved_yaml(&args.files, &args.build)?;
    stdout::write(output.as_bytes())
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

// ko: pkg/commands/delete.go, passthru: kubectl with ko's own arguments.
pub fn delete(args: DeleteArgs) -> Result<()> {
    let argv = delete_argv(&args.args)?;
    finish(
        kubectl().args(&argv).status().map_err(kubectl_missing),
        "delete",
    )
}

/// `delete` and the arguments as given, plus `-f DIR/LINK/` for each
/// symlinked directory under a `-R -f DIR`: `rko apply` read it, and
/// kubectl's walk, like ko's, would skip it (the trailing slash makes
/// kubectl enter it), so delete removes what apply applied.
fn delete_argv(args: &[String]) -> Result<Vec<String>> {
    let (files, recursive) = filename_args(args);
    let mut linked = Vec::new();
    if recursive {
        for file in files.iter().filter(|f| *f != "-") {
            if Path::new(file).is_dir() {
                for dir in rko::list_manifests(Path::new(file), true)?.linked_dirs {
                    linked.push("-f".to_string());
                    linked.push(format!("{}/", dir.display()));
                }
            }
        }
    }
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let mut argv = vec!["delete".to_string()];
    argv.extend_from_slice(&args[..at]);
    argv.extend(linked);
    argv.extend_from_slice(&args[at..]);
    Ok(argv)
}

/// The `-f` values, and whether `-R` is on, in kubectl's flag grammar
/// (spf13/pflag): `-f V`, `-fV`, `-f=V`, `--filename V`, `--filename=V`,
/// short flags run together (`-Rf V`), `--recursive[=BOOL]`; nothing after `--`.
fn filename_args(args: &[String]) -> (Vec<String>, bool) {
    let mut files = Vec::new();
    let mut recursive = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            break;
        } else if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some(("filename", value)) => files.push(value.to_string()),
                Some(("recursive", value)) => recursive = pflag_true(value),
                None if long == "filename" => files.extend(rest.next().cloned()),
                None if long == "recursive" => recursive = true,
                _ => {}
            }
        } else if let Some(short) = arg.strip_prefix('-') {
            for (i, flag) in short.char_indices() {
                let tail = &short[i + 1..];
                match flag {
                    // kubectl delete's boolean shorthands: -A, -R, -i, -h.
                    'A' | 'i' | 'h' => continue,
                    'R' => match tail.strip_prefix('=') {
                        Some(value) => recursive = pflag_true(value),
                        None => {
                            recursive = true;
                            continue;
                        }
                    },
                    'f' => match tail.strip_prefix('=').unwrap_or(tail) {
                        "" => files.extend(rest.next().cloned()),
                        value => files.push(value.to_string()),
                    },
                    // Any other shorthand (-n, -l, -o, -k, -s, -v) takes a
                    // value: the rest of this argument, or the next one.
                    _ if tail.is_empty() => {
                        rest.next();
                    }
                    _ => {}
                }
                break;
            }
        }
    }
    (files, recursive)
}

/// pflag's true (strconv.ParseBool).
fn pflag_true(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

// ko: pkg/commands/run.go, addRun: one `kubectl run` per image.
pub fn run(args: RunArgs) -> Result<()> {
    let built = build_and_publish(&args.build, &args.import_paths)?;
    for (import_path, reference) in &built {
        let argv = run_argv(reference, &args.kubectl)?;
        log::info!("rko: running {import_path}: kubectl {}", argv.join(" "));
        finish(
            kubectl().args(&argv).status().map_err(kubectl_missing),
            "run",
        )?;
    }
    Ok(())
}

/// ko's `kubectl run`: the pod named after the image's repository (its last
/// element), the image, ko's defaults, then the arguments after `--`.
fn run_argv(reference: &str, extra: &[String]) -> Result<Vec<String>> {
    let parsed: Reference = reference.parse()?;
    let pod = parsed
        .repository
        .rsplit('/')
        .next()
        .unwrap_or(&parsed.repository);
    let mut argv: Vec<String> = [
        "run",
        pod,
        "--image",
        reference,
        "--attach",                 // stream the logs back
        "--rm",                     // delete the pod when it ends
        "--restart=Never",          // run once
        "--log-flush-frequency=1s", // flush logs often
    ]
    .map(String::from)
    .to_vec();
    argv.extend_from_slice(extra);
    Ok(argv)
}

/// Reads, builds and rewrites: the YAML with every `ko://` reference resolved.
fn resolved_yaml(files: &FileArgs, build: &BuildFlags) -> Result<String> {
    let names = csv_values("--filename", &files.files)?;
    let inputs = read_inputs(&names, files.recursive)?;
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

/// Files in the order given; a directory's as ko walks it (see
/// `rko::list_manifests`), with a warning for each entry left out that a
/// person may have expected read.
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
        let listing = rko::list_manifests(path, recursive)?;
        for note in &listing.notes {
            log::warn!("{note}");
        }
        if listing.files.is_empty() {
            return Err(Error::file(
                path,
                "no YAML files (*.yaml, *.json) in this directory",
            ));
        }
        for file in listing.files {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn filename_args_read_kubectls_flag_grammar() {
        let cases: [(&[&str], &[&str], bool); 12] = [
            (&["-f", "a"], &["a"], false),
            (
                &["-fa", "-f=b", "--filename", "c", "--filename=d"],
                &["a", "b", "c", "d"],
                false,
            ),
            (&["-Rf", "config"], &["config"], true),
            (&["-R", "-f", "x"], &["x"], true),
            (&["-Af", "x", "--recursive"], &["x"], true),
            (&["-f", "x", "--recursive=false"], &["x"], false),
            (&["-f", "x", "-R=true"], &["x"], true),
            (&["-n", "-f", "-f", "x"], &["x"], false),
            (&["-nprod", "-f", "x"], &["x"], false),
            (&["-lf=x", "-f", "y"], &["y"], false),
            (&["deployment", "web", "-n", "prod"], &[], false),
            (&["-f", "x", "--", "-R", "-f", "y"], &["x"], false),
        ];
        for (args, files, recursive) in cases {
            assert_eq!(
                filename_args(&strings(args)),
                (strings(files), recursive),
                "{args:?}"
            );
        }
    }

    #[test]
    fn run_names_the_pod_after_the_repository_as_ko_does() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for (reference, pod) in [
            (
                format!("registry.example.com/team/web-0123@{digest}"),
                "web-0123",
            ),
            (
                format!("127.0.0.1:5000/k8s/example.com/m/cmd/api@{digest}"),
                "api",
            ),
            ("ko.local/hello:v1".to_string(), "hello"),
        ] {
            let argv = run_argv(&reference, &strings(&["--", "-v"])).unwrap();
            assert_eq!(
                argv,
                strings(&[
                    "run",
                    pod,
                    "--image",
                    &reference,
                    "--attach",
                    "--rm",
                    "--restart=Never",
                    "--log-flush-frequency=1s",
                    "--",
                    "-v"
                ])
            );
        }
    }
}
