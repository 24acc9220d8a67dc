//! `rko append --binary`: the Go binary put in a layer is checked against
//! the image's platform through its build information, so an image of the
//! wrong architecture is never written.

use crate::util::*;
use std::path::{Path, PathBuf};

/// A Go program (examples/hello's module, an empty main) built for
/// `goos`/`goarch` into `dir`.
fn hello_for(dir: &Path, goos: &str, goarch: &str) -> PathBuf {
    let out = dir.join(format!("hello-{goos}-{goarch}"));
    let module = tiny_hello(&dir.join(format!("module-{goos}-{goarch}")));
    run_ok(
        go().current_dir(&module)
            .env("GOOS", goos)
            .env("GOARCH", goarch)
            .args(["build", "-trimpath", "-o"])
            .arg(&out)
            .arg("."),
    );
    out
}

/// `rko append` of `binary` as /ko-app/hello for `platform`, into `out`.
fn append(dir: &Path, binary: &Path, platform: &str, out: &Path) -> std::process::Command {
    let layer = layer(
        dir,
        &format!("bin-{}", platform.replace('/', "-")),
        &[&format!("--file={}=/ko-app/hello", binary.display())],
    );
    let mut cmd = rko();
    cmd.args(["append", "--base", "builtin:static", "--ko-app", "hello"])
        .arg(format!("--platform={platform}"))
        .arg(format!("--layer={}", layer_arg(&layer)))
        .arg("--out")
        .arg(out);
    cmd
}

#[test]
fn append_refuses_a_binary_built_for_another_platform_naming_both() {
    let dir = temp_dir();
    let d = dir.path();
    let darwin = hello_for(d, "darwin", "arm64");
    let out = d.join("image");
    let err = run_err(
        append(d, &darwin, "linux/amd64", &out)
            .arg("--binary")
            .arg(&darwin),
    );
    assert!(
        err.contains(&darwin.display().to_string())
            && err.contains("is a Go binary for darwin/arm64")
            && err.contains("the image is for linux/amd64"),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written for a refused binary");

    let arm64 = hello_binary("arm64");
    let err = run_err(
        append(d, &arm64, "linux/amd64", &out)
            .arg("--binary")
            .arg(&arm64),
    );
    assert!(
        err.contains("is a Go binary for linux/arm64") && err.contains("GOARCH=amd64"),
        "{err}"
    );

    let not_go = repo_root().join("examples/hello/main.go");
    let err = run_err(
        append(d, &arm64, "linux/arm64", &out)
            .arg("--binary")
            .arg(&not_go),
    );
    assert!(
        err.contains("main.go") && err.contains("not an executable"),
        "{err}"
    );

    let err = run_err(
        rko()
            .args(["append", "--base", "builtin:static", "--binary"])
            .arg(&arm64)
            .arg("--out")
            .arg(&out),
    );
    assert!(
        err.contains("--platform"),
        "--binary needs --platform: {err}"
    );
}

#[test]
fn append_checks_a_fitting_binary_without_changing_a_byte() {
    let dir = temp_dir();
    let d = dir.path();
    let arm64 = hello_binary("arm64");
    let checked = d.join("checked");
    let printed = run_ok(
        append(d, &arm64, "linux/arm64", &checked)
            .arg("--binary")
            .arg(&arm64),
    );
    let unchecked = d.join("unchecked");
    run_ok(&mut append(d, &arm64, "linux/arm64", &unchecked));
    assert_eq!(printed.trim(), layout_digest(&checked));
    assert_eq!(snapshot(&checked), snapshot(&unchecked));
}
