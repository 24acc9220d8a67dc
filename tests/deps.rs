//! examples/deps, a service with real third-party modules (chi, uuid,
//! x/sync, yaml.v3, pinned in its go.sum, fetched once into Go's module
//! cache by the install step): `go list`, the no-`go build` fingerprints,
//! the SBOM and the cache on a module that is not the standard library
//! alone, all offline (`GOPROXY=off`). tests/parity's deps-example builds
//! it beside ko.

use crate::util::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A `go` that logs each of its command lines to `log`, then runs Go.
fn logging_go(dir: &Path, log: &Path) -> std::path::PathBuf {
    let wrapper = dir.join("go");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
        log.display(),
        require("go").display()
    );
    fs::write(&wrapper, script).unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

#[test]
fn real_modules_build_offline_list_in_the_sbom_and_a_no_op_runs_no_go() {
    let dir = temp_dir();
    let module = dir.path().join("deps");
    copy_tree(&repo_root().join("examples/deps"), &module);
    let log = dir.path().join("go.log");
    let go = logging_go(dir.path(), &log);
    let sboms = dir.path().join("sboms");
    let build = || {
        let _ = fs::remove_file(&log);
        let mut cmd = rko_build(&module, &dir.path().join("state"));
        cmd.env("KO_GO_PATH", &go)
            .env("GOFLAGS", "-mod=mod")
            .args(["--push=false", "--sbom-dir"])
            .arg(&sboms)
            .arg(".");
        let out = run_ok(&mut cmd);
        let calls = fs::read_to_string(&log).unwrap_or_default();
        (out, calls)
    };

    let (first, calls) = build();
    assert!(calls.lines().any(|l| l.starts_with("build ")), "{calls}");
    let sbom = fs::read_to_string(sboms.join("deps-linux-amd64.spdx.json")).unwrap();
    for module in [
        "github.com/go-chi/chi/v5",
        "github.com/google/uuid",
        "golang.org/x/sync",
        "gopkg.in/yaml.v3",
    ] {
        assert!(
            sbom.contains(module),
            "{module} not in the SBOM: {sbom:.400}"
        );
    }

    let (again, calls) = build();
    assert_eq!(again, first, "the same image");
    assert_eq!(calls, "", "nothing changed: no go process at all");

    // An edit of the main package rebuilds it, with its dependencies read
    // from the module cache as before.
    let main = module.join("main.go");
    let source = fs::read_to_string(&main).unwrap();
    fs::write(&main, source.replace("Hello from rko!", "Hello again")).unwrap();
    let (edited, calls) = build();
    assert_ne!(edited, first);
    assert_eq!(
        calls.lines().filter(|l| l.starts_with("build ")).count(),
        1,
        "{calls}"
    );
}
