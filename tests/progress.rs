//! What `rko build` says while it works (issue 12, item 12): ko's log lines,
//! one per step, on stderr (pkg/build/gobuild.go `Building %s for %s`,
//! pkg/commands/config.go `Using base %s@%s for %s`, pkg/publish/default.go
//! `Publishing %v` / `Published %v`, and go-containerregistry's
//! `logs.Progress` lines `pushed blob: …`, `existing blob: …`,
//! `REF: digest: … size: …`, which ko's pkg/commands/root.go always shows);
//! `-v` adds the registry requests (ko's `-v` turns on `logs.Debug`);
//! `--quiet` leaves only errors and warnings; on a terminal the same steps
//! are drawn live. Stdout stays the references only.

use crate::util::registry::{Auth, Registry};
use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn hello(dir: &Path) -> PathBuf {
    let module = dir.join("hello");
    copy_tree(&repo_root().join("examples/hello"), &module);
    module
}

fn build(module: &Path, state: &Path, repo: &str) -> Command {
    let mut cmd = porcelain(state);
    cmd.current_dir(module).env("KO_DOCKER_REPO", repo).args([
        "build",
        "--bare",
        "--insecure-registry",
        ".",
    ]);
    cmd
}

/// The position of the first line of `stderr` starting with `prefix`.
fn line_at(stderr: &str, prefix: &str) -> usize {
    stderr
        .lines()
        .position(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{stderr}"))
}

#[test]
fn each_step_is_logged_as_ko_logs_it_and_stdout_keeps_the_reference_alone() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = hello(dir.path());
    let repo = format!("{}/hello", registry.host());
    let (stdout, stderr) = run_ok_with_stderr(&mut build(&module, dir.path(), &repo));

    let reference = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        reference.starts_with(&format!("{repo}@sha256:")),
        "{stdout}"
    );
    let digest = reference.rsplit('@').next().unwrap();

    let steps = [
        "Using base builtin:static for example.com/hello",
        "Building example.com/hello for linux/amd64",
        &format!("Publishing {repo}:latest"),
        "pushed blob: sha256:",
        &format!("{repo}:latest: digest: {digest} size: "),
        &format!("Published {repo}@{digest}"),
    ];
    let positions: Vec<usize> = steps.iter().map(|s| line_at(&stderr, s)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "steps out of order {positions:?}:\n{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\r'),
        "no terminal drawing when stderr is not a terminal:\n{stderr:?}"
    );

    // Again: every blob is there already, and ko says so.
    let (_, again) = run_ok_with_stderr(&mut build(&module, dir.path(), &repo));
    line_at(&again, "existing blob: sha256:");
    assert!(!again.contains("pushed blob:"), "{again}");
}

#[test]
fn quiet_leaves_stderr_empty_and_verbose_adds_the_registry_requests() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = hello(dir.path());
    let repo = format!("{}/hello", registry.host());

    let (quiet_out, quiet_err) =
        run_ok_with_stderr(build(&module, dir.path(), &repo).arg("--quiet"));
    assert_eq!(quiet_err, "", "--quiet prints nothing on success");
    assert_eq!(quiet_out.lines().count(), 1, "{quiet_out}");

    let (verbose_out, verbose_err) =
        run_ok_with_stderr(build(&module, dir.path(), &repo).arg("-v"));
    assert_eq!(verbose_out, quiet_out, "the same image either way");
    line_at(&verbose_err, "Building example.com/hello for linux/amd64");
    // Nothing changed: rko asks whether the registry has the image already
    // (tests/fixed_costs.rs), and -v shows those requests.
    let request = format!("HEAD http://{}/v2/hello/manifests/", registry.host());
    line_at(&verbose_err, &request);

    let err = run_err(build(&module, dir.path(), &repo).args(["--quiet", "-v"]));
    assert!(
        err.contains("--quiet") && err.contains("--verbose"),
        "{err}"
    );
}

/// On a terminal (here the pseudo-terminal `script` gives) the steps are
/// drawn live, redrawn in place, and the reference still goes to stdout.
#[test]
fn on_a_terminal_the_steps_are_drawn_live() {
    let script = require("script");
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = hello(dir.path());
    let repo = format!("{}/hello", registry.host());
    let refs = dir.path().join("refs");
    let mut cmd = build(&module, dir.path(), &repo);
    cmd.arg("--image-refs").arg(&refs);
    let line = format!("{:?} {}", cmd.get_program(), quoted_args(&cmd));
    let mut under_tty = Command::new(script);
    under_tty
        .args(["-qec", &line, "/dev/null"])
        .current_dir(&module)
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env("TERM", "xterm");
    for (key, value) in cmd.get_envs() {
        if value.is_none() {
            under_tty.env_remove(key);
        }
    }
    let shown = run_ok(&mut under_tty);
    let reference = std::fs::read_to_string(&refs).unwrap();
    assert!(shown.contains(reference.trim()), "{shown:?}");
    assert!(
        shown.contains("\u{1b}[2K"),
        "a live display clears and redraws its line:\n{shown:?}"
    );
    assert!(shown.contains("Published"), "{shown:?}");
}

fn quoted_args(cmd: &Command) -> String {
    cmd.get_args()
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A module of two commands: `first`, small, and `second`, which embeds
/// `megabytes` of bytes that do not compress, so that its layer takes a
/// while to make.
fn first_and_second(dir: &Path, megabytes: usize) -> PathBuf {
    let module = dir.join("two");
    std::fs::create_dir_all(module.join("cmd/first")).unwrap();
    std::fs::create_dir_all(module.join("cmd/second")).unwrap();
    std::fs::write(module.join("go.mod"), "module example.com/two\n\ngo 1.19\n").unwrap();
    let main = "package main\n\nfunc main() { println(\"first\") }\n";
    std::fs::write(module.join("cmd/first/main.go"), main).unwrap();
    let main = "package main\n\nimport _ \"embed\"\n\n//go:embed blob\nvar blob []byte\n\n\
                func main() { println(len(blob)) }\n";
    std::fs::write(module.join("cmd/second/main.go"), main).unwrap();
    // Bytes no deflate can shrink, the same every run.
    std::fs::write(module.join("cmd/second/blob"), noise(2, megabytes << 20)).unwrap();
    module
}

/// Each image is pushed as soon as it is built, while the next one is
/// still being built (as `ko resolve` publishes each reference as its build
/// ends): with `--jobs=1` the images are made one after the other, and the
/// first's push starts before the second's SBOM is written (`--sbom-dir`
/// logs it), the second's 32 MB layer still to compress when the first is
/// handed over. A build that pushed only once all were built would start
/// the first's push after that line.
#[test]
fn an_image_is_published_while_the_next_one_is_still_being_built() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = first_and_second(dir.path(), 32);
    let repo = format!("{}/two", registry.host());
    let sboms = dir.path().join("sboms");
    let (_, stderr) = run_ok_with_stderr(
        porcelain(dir.path())
            .current_dir(&module)
            .env("KO_DOCKER_REPO", &repo)
            .args(["build", "--base-import-paths", "--jobs=1", "--sbom-dir"])
            .arg(&sboms)
            .args(["./cmd/first", "./cmd/second"]),
    );
    let first_pushed = line_at(&stderr, &format!("Publishing {repo}/first:latest"));
    let second_sbom = line_at(
        &stderr,
        &format!("Writing SBOM to {}", sboms.join("second").display()),
    );
    assert!(
        first_pushed < second_sbom,
        "first was pushed only after second was built:\n{stderr}"
    );
}
