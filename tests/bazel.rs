//! The Bazel rules and the Makefile: the example workspace builds offline
//! from a fresh output base; Bazel, Make and `rko build` give the same
//! digest; a second workspace at another path gets every rko action from a
//! remote cache (nginx + WebDAV), which proves them hermetic; a Go change
//! re-runs only the actions downstream of the binary; `bazel run` pushes.

use crate::util::bazel::{copy_rko_repo, outputs, Hello, Workspace, EXAMPLE_ACTIONS};
use crate::util::nginx::Nginx;
use crate::util::registry::{Auth, Registry};
use crate::util::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The creation time Bazel's BUILD file (`CREATED`), Make and `rko build`
/// are all given, so that their digests can agree.
const SOURCE_DATE_EPOCH: &str = "1700000000";

/// `make` in examples/make with this rko, building the copy of
/// examples/hello in `rko_repo` and writing to `out`.
fn make(rko_repo: &Path, out: &Path) -> Command {
    let mut cmd = Command::new("make");
    cmd.current_dir(repo_root().join("examples/make"))
        .arg(format!("RKO={}", env!("CARGO_BIN_EXE_rko")))
        .arg(format!(
            "HELLO={}",
            rko_repo.join("examples/hello").display()
        ))
        .arg(format!("OUT={}", out.display()));
    cmd
}

#[test]
fn bazel_make_and_rko_build_agree_and_bazel_caches_every_rko_action() {
    let dir = temp_dir();
    let d = dir.path();
    let rko_repo = d.join("rko");
    copy_rko_repo(&rko_repo, Hello::Tiny);
    let first = Workspace::copy(d, "first/ws", "bazel-root-1", &rko_repo);
    let nginx = Nginx::start(&d.join("nginx"));
    let remote_cache = format!("--remote_cache=http://{}", nginx.host());

    let digest = step_offline_build_fills_the_remote_cache(&first, &remote_cache);
    step_make_and_rko_build_give_bazels_digest(d, &rko_repo, &digest);
    step_make_reruns_only_what_a_go_change_touches(d, &rko_repo);
    let second = Workspace::copy(d, "elsewhere/deeper/ws", "bazel-root-2", &rko_repo);
    step_elsewhere_every_rko_action_is_a_remote_cache_hit(&second, &remote_cache, &digest, d);
    step_a_go_change_reruns_only_the_binarys_descendants(&first, &rko_repo, &digest, d);
    let registry = Registry::start(Auth::None);
    step_bazel_run_pushes_the_index(&first, &registry, d);
    step_a_base_pinned_by_digest_is_pulled_shallow_and_not_uploaded(&first, &registry, d);
}

/// A fresh output base, offline: everything builds, and fills the remote
/// cache. Returns the digest of the amd64 image.
fn step_offline_build_fills_the_remote_cache(ws: &Workspace, remote_cache: &str) -> String {
    run_ok(ws.bazel().args(["build", "//...", remote_cache]));
    let index_digest = ws.output("image.digest");
    let deploy = ws.output("deploy.yaml");
    assert!(
        // Named as `rko resolve` names it (ko's default: last element, md5).
        deploy.contains(&format!(
            "registry.example.com/team/hello-124ec4359fcc3b362d8aa16b0f28dd36@{index_digest}"
        )),
        "{deploy}"
    );
    assert!(ws.output("sbom.spdx.json").contains("example.com/hello"));
    ws.output("image_amd64.digest")
}

/// Make and `rko build`, from the same sources and SOURCE_DATE_EPOCH, agree
/// with Bazel.
fn step_make_and_rko_build_give_bazels_digest(d: &Path, rko_repo: &Path, bazel_digest: &str) {
    let make_out = d.join("make-out");
    run_ok(
        make(rko_repo, &make_out)
            .arg(format!("GO={}", require("go").display()))
            .arg(format!("SOURCE_DATE_EPOCH={SOURCE_DATE_EPOCH}"))
            .env("GOCACHE", gocache())
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off"),
    );
    assert_eq!(
        fs::read_to_string(make_out.join("image.digest")).unwrap(),
        bazel_digest,
        "make and bazel"
    );
    let built = run_ok(
        porcelain(d)
            .current_dir(rko_repo.join("examples/hello"))
            .args(["build", "--push=false", "--sbom=none"])
            .env("GOFLAGS", "-buildvcs=false")
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH),
    );
    assert!(
        built.trim().ends_with(&format!("@{bazel_digest}")),
        "rko build {built} and bazel {bazel_digest}"
    );
    // `make` again does nothing.
    let again =
        run_ok(make(rko_repo, &make_out).arg(format!("SOURCE_DATE_EPOCH={SOURCE_DATE_EPOCH}")));
    assert!(again.contains("Nothing to be done"), "{again}");
}

/// Touching the Go source re-runs go build, the binary layer and append (and
/// push), not kodata.
fn step_make_reruns_only_what_a_go_change_touches(d: &Path, rko_repo: &Path) {
    let copy_out = d.join("make-copy-out");
    let make_copy = |extra: &[&str]| {
        let mut cmd = make(rko_repo, &copy_out);
        cmd.arg(format!("GO={}", require("go").display()))
            .arg("REPO=registry.example/hello")
            .args(extra)
            .env("GOCACHE", gocache());
        cmd
    };
    run_ok(&mut make_copy(&["all"]));
    let touched = rko_repo.join("examples/hello/main.go");
    run_ok(
        Command::new("touch")
            .arg("-d")
            .arg("+1 minute")
            .arg(&touched),
    );
    let plan = run_ok(&mut make_copy(&["-n", "push"]));
    assert!(
        plan.contains("go build")
            && plan.contains("--ko-app")
            && plan.contains(" append ")
            && plan.contains(" push "),
        "{plan}"
    );
    assert!(
        !plan.contains("--ko-data"),
        "the kodata layer would run again: {plan}"
    );
}

/// A copy of the workspace elsewhere, a fresh output base: every rko action
/// is a remote cache hit.
fn step_elsewhere_every_rko_action_is_a_remote_cache_hit(
    ws: &Workspace,
    remote_cache: &str,
    bazel_digest: &str,
    d: &Path,
) {
    let rko_spawns: Vec<Value> = ws
        .build_logged(&["//..."], &[remote_cache], &d.join("second.json"))
        .into_iter()
        .filter(|s| s["mnemonic"].as_str().unwrap_or("").starts_with("Rko"))
        .collect();
    assert!(rko_spawns.len() >= 8, "{rko_spawns:?}");
    for spawn in &rko_spawns {
        assert_eq!(
            spawn["remoteCacheHit"],
            true,
            "not from the remote cache: {} {}",
            spawn["mnemonic"],
            outputs(spawn)
        );
    }
    assert_eq!(ws.output("image_amd64.digest"), bazel_digest);
}

/// A Go change re-runs the binary's descendants only: never the kodata layer.
fn step_a_go_change_reruns_only_the_binarys_descendants(
    ws: &Workspace,
    rko_repo: &Path,
    bazel_digest: &str,
    d: &Path,
) {
    let main_go = rko_repo.join("examples/hello/main.go");
    let source = fs::read_to_string(&main_go).unwrap();
    // A change that reaches the binary (a comment alone would not: Bazel
    // would stop at GoBuild's unchanged output).
    fs::write(
        &main_go,
        source + "\nfunc init() { println(\"changed\") }\n",
    )
    .unwrap();
    let ran: Vec<(String, String)> = ws
        .build_logged(&["//..."], &[], &d.join("change.json"))
        .iter()
        .map(|s| (s["mnemonic"].as_str().unwrap_or("").to_string(), outputs(s)))
        .collect();
    let mnemonics: std::collections::BTreeSet<&str> = ran.iter().map(|(m, _)| m.as_str()).collect();
    for want in EXAMPLE_ACTIONS {
        assert!(mnemonics.contains(want), "{want} did not run: {ran:?}");
    }
    assert!(
        ran.iter()
            .all(|(m, o)| m != "RkoLayer" || !o.contains("kodata")),
        "the kodata layer ran again: {ran:?}"
    );
    assert!(
        ran.iter().filter(|(m, _)| m == "RkoLayer").count() == 3,
        "one binary layer per image: the index's two and image_amd64's: {ran:?}"
    );
    assert_ne!(ws.output("image_amd64.digest"), bazel_digest);
}

/// `bazel run` pushes the index; skopeo reads it.
fn step_bazel_run_pushes_the_index(ws: &Workspace, registry: &Registry, d: &Path) {
    let repository = format!("{}/hello", registry.host());
    run_ok(
        ws.bazel()
            .args([
                "run",
                "//:push",
                "--",
                "--repository",
                &repository,
                "--tag",
                "v1",
            ])
            .env("DOCKER_CONFIG", d.join("docker")),
    );
    let pushed = json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{repository}:v1")),
    ));
    assert_eq!(pushed["manifests"].as_array().unwrap().len(), 2);
}

/// A base image pinned by digest, pulled shallow by rko_base_image; its
/// layers are mounted from the registry when the image is pushed there.
fn step_a_base_pinned_by_digest_is_pulled_shallow_and_not_uploaded(
    ws: &Workspace,
    registry: &Registry,
    d: &Path,
) {
    let base = hello_image(d, "amd64");
    let base_ref = format!("{}/base", registry.host());
    let base_digest = pushed_digest(&run_ok(
        rko_in(&d.join("docker"))
            .arg("push")
            .arg(&base)
            .arg(format!("{base_ref}:1")),
    ));
    ws.append(
        "WORKSPACE",
        &format!(
            "\nload(\"@rko//rules:repositories.bzl\", \"rko_base_image\")\n\nrko_base_image(\n    name = \"hello_base\",\n    reference = \"{base_ref}\",\n    digest = \"{base_digest}\",\n)\n"
        ),
    );
    ws.append(
        "BUILD.bazel",
        &format!(
            "\nko_image(\n    name = \"on_base\",\n    base = \"@hello_base//:layout\",\n    base_name = \"{base_ref}\",\n    binary = \":hello\",\n    created = CREATED,\n)\n\nko_push(\n    name = \"push_on_base\",\n    image = \":on_base\",\n    repository = \"{base_ref}\",\n    tags = [\"app\"],\n)\n"
        ),
    );
    let (_, stderr) = run_ok_with_stderr(
        ws.bazel()
            .args(["run", "//:push_on_base"])
            .env("DOCKER_CONFIG", d.join("docker")),
    );
    // The (empty) kodata layer ko gives every image, the binary's and the
    // config go up; the base's three are there.
    assert!(
        stderr.contains("pushed 3 blobs, mounted 0, copied 0, 3 already there"),
        "the base's layers were already in the repository: {stderr}"
    );
    let on_base = json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{base_ref}:app")),
    ));
    assert_eq!(
        on_base["layers"].as_array().unwrap().len(),
        5,
        "three base layers, ko's (empty) kodata layer and the binary"
    );
    assert_eq!(
        on_base["annotations"]["org.opencontainers.image.base.digest"],
        base_digest.as_str()
    );
}
