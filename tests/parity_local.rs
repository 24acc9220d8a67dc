//! ko parity for images that never see a registry (issue 12, items 10 and
//! 6): `KO_DOCKER_REPO=kind.local` loads the image into a kind cluster's
//! nodes, and a base image named `ko.local/…` is read from the local
//! docker or podman. Each test cites the ko source it follows.

use crate::util::registry::free_port;
use crate::util::runc::{unpack, Container};
use crate::util::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of `examples/NAME` under `dir`.
fn example(dir: &Path, name: &str) -> PathBuf {
    let target = dir.join(name);
    copy_tree(&repo_root().join("examples").join(name), &target);
    target
}

fn blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.trim_start_matches("sha256:");
    read_json(&layout.join("blobs/sha256").join(hex))
}

/// The manifest of the one image in `layout`, or of its `arch` image when
/// the layout holds an index; and that manifest's digest.
fn image_manifest(layout: &Path, arch: &str) -> (String, Value) {
    let mut digest = layout_digest(layout);
    let mut manifest = blob(layout, &digest);
    if let Some(manifests) = manifest["manifests"].as_array() {
        digest = manifests
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap_or_else(|| panic!("no {arch} image in {manifest}"))["digest"]
            .as_str()
            .unwrap()
            .to_string();
        manifest = blob(layout, &digest);
    }
    (digest, manifest)
}

fn diff_ids(layout: &Path, manifest: &Value) -> Vec<String> {
    let config = blob(layout, manifest["config"]["digest"].as_str().unwrap());
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect()
}

/// A stand-in `kind` (DESIGN.md allows one: no kind cluster can run here)
/// in `dir/bin`, logging each call to `dir/kind.log`. `get clusters`
/// answers as kind does: the names, one a line, or "No kind clusters
/// found." on stderr. `load image-archive ARCHIVE --name CLUSTER` checks
/// the archive with the real `podman load` into podman storage under
/// `dir`, as kind's nodes import it with `ctr images import`.
fn stand_in_kind(dir: &Path, clusters: &[&str]) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let podman = format!(
        "{} --root {} --runroot {} --storage-driver vfs",
        require("podman").display(),
        dir.join("storage").display(),
        dir.join("run").display()
    );
    let script = format!(
        r#"#!/bin/sh
set -eu
echo "$*" >> {log}
case "$1 $2" in
"get clusters")
  if [ -z "{clusters}" ]; then echo "No kind clusters found." >&2; else printf '%s\n' {clusters}; fi ;;
"load image-archive")
  if [ "$#" -ne 5 ] || [ "$4" != --name ]; then
    echo "stand-in kind: want load image-archive ARCHIVE --name CLUSTER, got: $*" >&2; exit 2
  fi
  {podman} load --input "$3" >&2 ;;
*) echo "stand-in kind: unexpected arguments: $*" >&2; exit 2 ;;
esac
"#,
        log = dir.join("kind.log").display(),
        clusters = clusters.join(" "),
    );
    let kind = bin.join("kind");
    fs::write(&kind, script).unwrap();
    run_ok(Command::new("chmod").arg("755").arg(&kind));
    bin
}

/// `PATH` with `bin` first.
fn path_with(bin: &Path) -> std::ffi::OsString {
    let mut dirs = vec![bin.to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

// Item 10. ko: pkg/publish/kind.go, kindPublisher.Publish (of an index, the
// GOOS/GOARCH image, linux/amd64 by default; loaded as NAME:<digest hex>,
// then tagged with each tag; that digest tag is the printed reference);
// pkg/publish/kind/write.go, Write (a `docker save` tarball imported on
// every node) and getNodes (KIND_CLUSTER_NAME, else "kind"); and
// pkg/commands/resolver.go, makePublisher (KO_DOCKER_REPO under kind.local).
#[test]
fn kind_local_loads_the_image_and_its_tags_into_the_cluster_as_ko_does() {
    let dir = temp_dir();
    let module = example(dir.path(), "hello");
    let bin = stand_in_kind(dir.path(), &["other", "dev"]);
    let layout = dir.path().join("layout");
    let (stdout, stderr) = run_ok_with_stderr(
        rko_build(&module, dir.path())
            .env("PATH", path_with(&bin))
            .env("KO_DOCKER_REPO", "kind.local")
            .env("KIND_CLUSTER_NAME", "dev")
            .args(["-B", "-t", "v1,v2", "--platform=linux/arm64,linux/amd64"])
            .arg("--oci-layout-path")
            .arg(&layout)
            .arg("."),
    );
    let (amd64, manifest) = image_manifest(&layout, "amd64");
    let hex = amd64.trim_start_matches("sha256:");
    assert_eq!(stdout, format!("kind.local/hello:{hex}\n"), "{stderr}");
    assert!(
        stderr.contains("kind.local/hello: loaded into kind cluster dev"),
        "{stderr}"
    );

    let log = fs::read_to_string(dir.path().join("kind.log")).unwrap();
    let calls: Vec<&str> = log.lines().collect();
    assert_eq!(calls.len(), 2, "one check, one load: {log}");
    assert_eq!(calls[0], "get clusters");
    assert!(
        calls[1].starts_with("load image-archive ") && calls[1].ends_with(" --name dev"),
        "{log}"
    );

    // The nodes got the linux/amd64 image, under its digest tag and each tag.
    let config = manifest["config"]["digest"].as_str().unwrap();
    for tag in [hex, "v1", "v2"] {
        let reference = format!("kind.local/hello:{tag}");
        let id = run_ok(
            podman(dir.path())
                .args(["image", "inspect", "--format", "{{.Id}}"])
                .arg(&reference),
        );
        assert_eq!(format!("sha256:{}", id.trim()), config, "{reference}");
    }
    let images =
        run_ok(podman(dir.path()).args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(!images.contains("kind.local/hello:latest"), "{images}");
}

// Item 10. ko: pkg/publish/kind/write.go, getNodes ("no nodes found for
// cluster %q" when the cluster named by KIND_CLUSTER_NAME, else "kind",
// has no nodes). rko asks `kind get clusters` first and names the variable.
#[test]
fn kind_local_without_the_cluster_is_an_error_naming_kind_cluster_name() {
    let dir = temp_dir();
    let module = example(dir.path(), "hello");
    for (clusters, variable, says) in [
        (
            &[][..],
            None,
            r#"no kind cluster "kind" (kind get clusters lists none)"#,
        ),
        (
            &["other"][..],
            Some("dev"),
            r#"no kind cluster "dev" (kind get clusters lists other)"#,
        ),
    ] {
        let state = dir.path().join(format!("state-{}", clusters.len()));
        let bin = stand_in_kind(&state, clusters);
        let mut cmd = rko_build(&module, &state);
        cmd.env("PATH", path_with(&bin))
            .env("KO_DOCKER_REPO", "kind.local")
            .args(["-B", "."]);
        if let Some(name) = variable {
            cmd.env("KIND_CLUSTER_NAME", name);
        }
        let err = run_err(&mut cmd);
        assert!(err.contains(says), "{says}: {err}");
        assert!(err.contains("KIND_CLUSTER_NAME"), "{err}");
        let log = fs::read_to_string(state.join("kind.log")).unwrap();
        assert_eq!(log, "get clusters\n", "nothing loaded");
    }
}

// Item 10. ko links kind's library; rko runs the kind CLI, so a missing
// one is said to be missing, with where to get it.
#[test]
fn kind_local_without_kind_on_path_is_a_clear_error() {
    let dir = temp_dir();
    let module = example(dir.path(), "hello");
    let empty = dir.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let err = run_err(
        rko_build(&module, dir.path())
            .env("PATH", &empty)
            .env("KO_DOCKER_REPO", "kind.local")
            .args(["-B", "."]),
    );
    assert!(
        err.contains("KO_DOCKER_REPO=kind.local needs the kind command"),
        "{err}"
    );
    assert!(err.contains("PATH"), "{err}");
}

// Item 6. ko: pkg/commands/config.go, getBaseImage (a base whose registry
// is ko.local is `daemon.Image`, read from the local daemon) and
// pkg/build/gobuild.go, Build (the image is annotated with the base's
// name as given and its digest).
#[test]
fn a_ko_local_base_image_is_read_from_the_local_daemon_as_ko_does() {
    let dir = temp_dir();
    let hello = example(dir.path(), "hello");
    let base_layout = dir.path().join("base-layout");
    let mut cmd = rko_build(&hello, dir.path());
    with_podman_storage(&mut cmd, dir.path());
    run_ok(
        cmd.env("KO_DOCKER_REPO", "ko.local/base")
            .args(["--bare", "-t", "1", "--oci-layout-path"])
            .arg(&base_layout)
            .arg("."),
    );
    let (_, base_manifest) = image_manifest(&base_layout, "amd64");
    let base_diff_ids = diff_ids(&base_layout, &base_manifest);

    let multi = example(dir.path(), "multi");
    fs::write(
        multi.join(".ko.yaml"),
        "defaultBaseImage: ko.local/base:1\n",
    )
    .unwrap();
    let build = |state: &str| {
        let layout = dir.path().join(format!("{state}-layout"));
        let mut cmd = rko_build(&multi, &dir.path().join(state));
        with_podman_storage(&mut cmd, dir.path());
        let (_, stderr) = run_ok_with_stderr(
            cmd.args(["./cmd/api", "-B", "--push=false", "--oci-layout-path"])
                .arg(&layout),
        );
        (layout, stderr)
    };
    let (layout, stderr) = build("first");
    let (digest, manifest) = image_manifest(&layout, "amd64");
    let ids = diff_ids(&layout, &manifest);
    assert_eq!(
        ids[..base_diff_ids.len()],
        base_diff_ids[..],
        "the base's layers first"
    );
    assert_eq!(
        ids.len(),
        base_diff_ids.len() + 2,
        "and ko's two: kodata (empty here, as ko adds it) and the binary"
    );
    let annotations = &manifest["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.base.name"],
        "ko.local/base:1"
    );
    let base_layers = &manifest["layers"].as_array().unwrap()[..base_diff_ids.len()];
    let base_digest = daemon_base_digest(dir.path(), "ko.local/base:1", base_layers);
    assert_eq!(
        annotations["org.opencontainers.image.base.digest"],
        base_digest.as_str(),
        "{manifest}"
    );
    // The same digest where ko logs the base (pkg/build/gobuild.go,
    // `Using base %s@%s for %s`).
    assert!(
        stderr.contains(&format!(
            "Using base ko.local/base:1@{base_digest} for example.com/multi/cmd/api\n"
        )),
        "{stderr}"
    );
    assert_eq!(
        manifest["mediaType"], "application/vnd.docker.distribution.manifest.v2+json",
        "Docker media types, as on ko's daemon base"
    );

    // The same daemon image gives the same bytes, from a fresh cache too.
    let (again, _) = build("second");
    assert_eq!(image_manifest(&again, "amd64").0, digest);

    // It runs: the api on top of the base, whose /ko-app/hello is there.
    // (skopeo's oci: transport reads OCI media types only: through a
    // docker-save tarball, which it converts.)
    let tarball = dir.path().join("api.tar");
    run_ok(rko().arg("export").arg(&layout).arg("--out").arg(&tarball));
    let copy = dir.path().join("copy");
    run_ok(
        skopeo("copy")
            .arg(format!("docker-archive:{}", tarball.display()))
            .arg(format!("oci:{}:api", copy.display())),
    );
    let bundle = unpack(&copy, "api", &dir.path().join("bundle"));
    assert!(
        bundle.join("rootfs/ko-app/hello").is_file(),
        "the base's binary"
    );
    let api = Container::start(&bundle, dir.path(), free_port());
    let answer = api.get("/");
    // uid 65532: the base's user, from the config the daemon saved.
    assert!(answer.contains("Hello, api! (uid 65532)"), "{answer}");
}

/// The digest of the daemon's image `reference` as a base: that of the
/// manifest made, as go-containerregistry's `tarball.Image` makes one for
/// ko's `daemon.Image`, of the config the daemon saves (read here with
/// `podman save`, checked against the image ID podman reports) and
/// `layers`, each saved layer gzip-compressed (as the image built on it
/// lists them), with Docker media types; written as rko writes every
/// manifest, compact with its keys sorted.
fn daemon_base_digest(root: &Path, reference: &str, layers: &[Value]) -> String {
    let saved = root.join("daemon-base.tar");
    run_ok(
        podman(root)
            .args(["save", "--format", "docker-archive", "--output"])
            .arg(&saved)
            .arg(reference),
    );
    let member = |name: &str| {
        let out = Command::new("tar")
            .arg("-xOf")
            .arg(&saved)
            .arg(name)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name} in {}", saved.display());
        out.stdout
    };
    let listing = json(&String::from_utf8(member("manifest.json")).unwrap());
    let config = member(listing[0]["Config"].as_str().unwrap());
    let id = run_ok(
        podman(root)
            .args(["image", "inspect", "--format", "{{.Id}}"])
            .arg(reference),
    );
    let config_digest = sha256_digest(&config);
    assert_eq!(
        config_digest,
        format!("sha256:{}", id.trim()),
        "{reference}"
    );
    for layer in layers {
        assert_eq!(
            layer["mediaType"], "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "{layer}"
        );
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config.len(),
            "digest": config_digest,
        },
        "layers": layers,
    });
    sha256_digest(&serde_json::to_vec(&manifest).unwrap())
}

// Item 6. ko: pkg/commands/config.go, getBaseImage ("loading %s from
// daemon: %w"); rko names the base and the daemon it asked.
#[test]
fn a_ko_local_base_the_daemon_lacks_is_an_error_naming_it() {
    let dir = temp_dir();
    let multi = example(dir.path(), "multi");
    fs::write(
        multi.join(".ko.yaml"),
        "defaultBaseImage: ko.local/missing:1\n",
    )
    .unwrap();
    let layout = dir.path().join("layout");
    let mut cmd = rko_build(&multi, dir.path());
    with_podman_storage(&mut cmd, dir.path());
    let err = run_err(
        cmd.args(["./cmd/api", "--push=false", "--oci-layout-path"])
            .arg(&layout),
    );
    assert!(
        err.contains("base image ko.local/missing:1: not in the local podman"),
        "{err}"
    );
    assert!(!layout.exists(), "nothing written");
}
