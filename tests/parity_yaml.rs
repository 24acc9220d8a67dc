//! ko parity for `resolve`/`apply`/`create`/`delete`/`run` (issue 12): YAML
//! files and directories as ko reads them, kubectl as ko drives it.
//!
//! kubectl is a stand-in script on PATH that records its arguments and its
//! standard input: the real kubectl cannot reach a cluster here, and what
//! is compared is what ko would have passed it.

use crate::util::registry::{Auth, Registry};
use crate::util::*;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A manifest whose only content that matters is its name.
fn manifest(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n")
}

/// The shape of a real project: `config/` holds its own manifests and
/// symlinks into `vendor/` (one file, one directory of CRDs), plus two
/// loops (a link back to `config/`, and one inside the linked directory
/// back to its parent) and a `.yml` file, which ko does not read.
fn project(root: &Path) {
    let operator = root.join("vendor/example.com/operator");
    fs::create_dir_all(operator.join("crds/more")).unwrap();
    fs::write(operator.join("single.yaml"), manifest("single")).unwrap();
    fs::write(operator.join("crds/a.yaml"), manifest("crd-a")).unwrap();
    fs::write(
        operator.join("crds/b.json"),
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "crd-b"}}"#,
    )
    .unwrap();
    fs::write(operator.join("crds/README.md"), "not a manifest").unwrap();
    fs::write(operator.join("crds/more/c.yaml"), manifest("crd-c")).unwrap();
    symlink("..", operator.join("crds/more/up")).unwrap();

    let config = root.join("config");
    fs::create_dir_all(&config).unwrap();
    fs::write(config.join("00-namespace.yaml"), manifest("namespace")).unwrap();
    symlink(
        "../vendor/example.com/operator/single.yaml",
        config.join("10-single.yaml"),
    )
    .unwrap();
    symlink(
        "../vendor/example.com/operator/crds",
        config.join("20-crds"),
    )
    .unwrap();
    fs::write(config.join("30-deploy.yaml"), manifest("deploy")).unwrap();
    symlink(".", config.join("40-loop")).unwrap();
    fs::write(config.join("50-extra.yml"), manifest("extra")).unwrap();
}

/// `metadata.name` of every document in a YAML stream, in order.
fn names(yaml: &str) -> Vec<String> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .filter_map(|doc: serde_norway::Value| doc["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

/// A stand-in `kubectl` in `dir/bin`: each call appends its arguments (one
/// a line, then `<end>`) to `dir/kubectl.argv` and its standard input to
/// `dir/kubectl.stdin`.
fn stub_kubectl(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let script = bin.join("kubectl");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" '<end>' >> '{argv}'\ncat >> '{stdin}'\n",
            argv = dir.join("kubectl.argv").display(),
            stdin = dir.join("kubectl.stdin").display()
        ),
    )
    .unwrap();
    run_ok(Command::new("chmod").arg("755").arg(&script));
    bin
}

/// The porcelain with the stand-in kubectl first on PATH, run in `dir`.
fn with_stub(dir: &Path) -> Command {
    let bin = stub_kubectl(dir);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(&path));
    let mut cmd = porcelain(&dir.join("state"));
    cmd.current_dir(dir)
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env_remove("KUBECTL");
    cmd
}

/// The argument lists the stand-in kubectl was called with, in order.
fn kubectl_calls(dir: &Path) -> Vec<Vec<String>> {
    let text = fs::read_to_string(dir.join("kubectl.argv")).unwrap_or_default();
    let mut calls = vec![Vec::new()];
    for line in text.lines() {
        if line == "<end>" {
            calls.push(Vec::new());
        } else {
            calls.last_mut().unwrap().push(line.to_string());
        }
    }
    calls.pop();
    calls
}

// ko: pkg/commands/options/filestuff.go, EnumerateFiles, walks each -f
// with filepath.Walk and sends every non-directory whose extension is
// .json or .yaml (any name when given explicitly); resolveFile
// (pkg/commands/resolver.go) reads it with os.ReadFile, which follows a
// symlinked file. filepath.Walk does not descend a symlinked directory:
// ko skips it without a word, the silent loss this issue is about, so rko
// follows it under -R (each directory once per path: a link back to an
// ancestor is a loop, skipped with a warning, since everything under it is
// read anyway).
#[test]
fn resolve_reads_symlinked_files_and_follows_symlinked_directories_as_ko_reads_files() {
    let dir = temp_dir();
    project(dir.path());
    let (stdout, stderr) =
        run_ok_with_stderr(with_stub(dir.path()).args(["resolve", "-R", "-f", "config"]));
    assert_eq!(
        names(&stdout),
        ["namespace", "single", "crd-a", "crd-b", "crd-c", "deploy"],
        "every manifest, in ko's walk order\nstderr: {stderr}"
    );
    for skipped in [
        "config/40-loop",
        "config/20-crds/more/up",
        "config/50-extra.yml",
    ] {
        assert!(
            stderr.contains(&format!("warning: {skipped}")),
            "{skipped} named: {stderr}"
        );
    }

    // Without -R, as in ko: the directory's own files (a symlinked file
    // among them), no subdirectory, linked or not.
    let (stdout, stderr) =
        run_ok_with_stderr(with_stub(dir.path()).args(["resolve", "-f", "config"]));
    assert_eq!(
        names(&stdout),
        ["namespace", "single", "deploy"],
        "{stderr}"
    );
    assert!(!stderr.contains("40-loop"), "{stderr}");

    // A file named on the command line is read whatever its extension.
    let stdout = run_ok(with_stub(dir.path()).args(["resolve", "-f", "config/50-extra.yml"]));
    assert_eq!(names(&stdout), ["extra"]);
}

// ko: pkg/commands/apply.go and create.go pipe ResolveFilesToWriter's output
// into `kubectl apply|create -f -`: the issue's project applied 7 of 12.
#[test]
fn apply_and_create_send_kubectl_every_symlinked_manifest() {
    let dir = temp_dir();
    project(dir.path());
    for verb in ["apply", "create"] {
        let _ = fs::remove_file(dir.path().join("kubectl.stdin"));
        let _ = fs::remove_file(dir.path().join("kubectl.argv"));
        run_ok(with_stub(dir.path()).args([verb, "-Rf", "config", "--", "--dry-run=server"]));
        assert_eq!(
            kubectl_calls(dir.path()),
            [[verb, "-f", "-", "--dry-run=server"]]
        );
        let sent = fs::read_to_string(dir.path().join("kubectl.stdin")).unwrap();
        assert_eq!(
            names(&sent),
            ["namespace", "single", "crd-a", "crd-b", "crd-c", "deploy"],
            "{verb}"
        );
    }
}

// ko: filestuff.go, EnumerateFiles, returns every walk error
// (log.Fatalf "Error enumerating files"), and resolveFile fails on a file
// it cannot read: a broken link is never skipped.
#[test]
fn a_broken_symlink_is_an_error_naming_it() {
    let dir = temp_dir();
    project(dir.path());
    symlink(
        "../vendor/example.com/operator/gone.yaml",
        dir.path().join("config/60-gone.yaml"),
    )
    .unwrap();
    for recursive in [false, true] {
        let mut cmd = with_stub(dir.path());
        cmd.args(["resolve", "-f", "config"]);
        if recursive {
            cmd.arg("-R");
        }
        let err = run_err(&mut cmd);
        assert!(
            err.contains("config/60-gone.yaml") && err.contains("broken symlink"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    let err = run_err(with_stub(dir.path()).args(["apply", "-R", "-f", "config"]));
    assert!(err.contains("config/60-gone.yaml"), "{err}");
    assert!(kubectl_calls(dir.path()).is_empty(), "kubectl never ran");
}

// ko: pkg/commands/delete.go, passthru("kubectl"), runs kubectl with ko's
// own arguments (os.Args[1:]), so kubectl walks -f DIR itself and, like
// ko's walk, does not descend a symlinked directory. rko adds each
// symlinked directory that `rko apply` followed as `-f DIR/LINK/` (the
// trailing slash makes kubectl's walk enter it), so that delete removes
// what apply applied.
#[test]
fn delete_names_the_symlinked_directories_that_apply_followed() {
    let dir = temp_dir();
    project(dir.path());
    run_ok(with_stub(dir.path()).args(["delete", "-Rf", "config", "--wait=false"]));
    assert_eq!(
        kubectl_calls(dir.path()),
        [[
            "delete",
            "-Rf",
            "config",
            "--wait=false",
            "-f",
            "config/20-crds/"
        ]]
    );
}

// ko: pkg/commands/delete.go, passthru: `kubectl` with os.Args[1:] (which
// starts with "delete"), its standard input, output and environment; the
// command accepts any flag (FParseErrWhitelist UnknownFlags).
#[test]
fn delete_passes_every_argument_through_to_kubectl_as_ko_does() {
    let dir = temp_dir();
    fs::write(dir.path().join("app.yaml"), manifest("app")).unwrap();
    let cases: [&[&str]; 4] = [
        &["deployment", "web", "-n", "prod", "--wait=false"],
        &["-f", "app.yaml", "--namespace", "prod", "--grace-period=0"],
        &["--all", "-A", "--selector=app=web", "pods"],
        &["-f", "-", "--dry-run=client", "-o", "name"],
    ];
    for args in cases {
        let _ = fs::remove_file(dir.path().join("kubectl.argv"));
        let mut cmd = with_stub(dir.path());
        cmd.arg("delete").args(args);
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"from: stdin\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut expected = vec!["delete"];
        expected.extend_from_slice(args);
        assert_eq!(kubectl_calls(dir.path()), [expected]);
    }
    let stdin = fs::read_to_string(dir.path().join("kubectl.stdin")).unwrap();
    assert!(stdin.contains("from: stdin"), "stdin passed on: {stdin}");
}

// ko: pkg/commands/run.go, addRun: for each published image,
// `kubectl run <pod> --image <ref> --attach --rm --restart=Never
// --log-flush-frequency=1s <arguments after -->`, where pod is
// filepath.Base(ref.Context().String()), the repository's last element.
#[test]
fn run_adds_kos_kubectl_run_defaults() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    copy_tree(
        &repo_root().join("examples/multi"),
        &dir.path().join("multi"),
    );
    let mut cmd = with_stub(dir.path());
    run_ok(
        cmd.current_dir(dir.path().join("multi"))
            .env("KO_DOCKER_REPO", format!("{}/k8s", registry.host()))
            .args([
                "run",
                "./cmd/web",
                "./cmd/api",
                "--",
                "-n",
                "prod",
                "--port=8080",
            ]),
    );
    let calls = kubectl_calls(dir.path());
    assert_eq!(calls.len(), 2, "one kubectl run per import path: {calls:?}");
    for (call, name) in calls.iter().zip(["web", "api"]) {
        let reference = &call[3];
        assert!(
            reference.starts_with(&format!("{}/k8s/{name}-", registry.host()))
                && reference.contains("@sha256:"),
            "{call:?}"
        );
        let repository = reference.split('@').next().unwrap();
        let pod = repository.rsplit('/').next().unwrap();
        assert_eq!(
            call,
            &[
                "run",
                pod,
                "--image",
                reference,
                "--attach",
                "--rm",
                "--restart=Never",
                "--log-flush-frequency=1s",
                "-n",
                "prod",
                "--port=8080",
            ]
        );
    }
}

// ko qualifies and checks every import path with go/packages
// (pkg/build/gobuild.go, IsSupportedReference); rko asks `go list`, whose
// message for a path no module provides goes on to an indented line
// ("; to add it:\n\tgo get PATH"): the error is the whole message on one
// line, naming the import path.
#[test]
fn a_full_import_path_not_found_is_one_complete_sentence() {
    let dir = temp_dir();
    copy_tree(
        &repo_root().join("examples/multi"),
        &dir.path().join("multi"),
    );
    let err = run_err(
        porcelain(&dir.path().join("state"))
            .current_dir(dir.path().join("multi"))
            .args(["build", "--push=false", "example.com/nope/cmd/x"]),
    );
    let line = err.trim();
    assert_eq!(line.lines().count(), 1, "one line: {err}");
    assert!(
        line.contains("no required module provides package example.com/nope/cmd/x")
            && line.ends_with("go get example.com/nope/cmd/x"),
        "a complete sentence: {err}"
    );
}
