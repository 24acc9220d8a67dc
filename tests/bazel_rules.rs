//! The Bazel rules as a Bazel user meets them (issue 13): a base pinned by
//! digest is tracked, so a new digest rebuilds the image without `bazel
//! clean` and a remote cache keys on the base's content; `ko_export` of a
//! shallow base names the attribute to set; `bazel run` of `ko_load` loads
//! into podman; `ko_push` pushes tags from a file, stamped; the toolchain
//! runs only on its exec platform; every `.bzl` has a `bzl_library`;
//! `ko_resolve` names images as `rko resolve` does; docs/rules.md is
//! generated from the `doc=` strings and up to date. And (issue 23) a
//! binary whose runfiles an image would drop is refused, naming them;
//! stamped labels, annotations and ko_load tags, an image without
//! placeholders unchanged by --stamp; ko_push to several repositories
//! (the first failure named) with the image's SBOM for `cosign download sbom`;
//! `ko_image_test` checks an image from its metadata, no layer blob in its
//! runfiles.

use crate::util::bazel::{rko_repo_in, spawns, Hello, Workspace};
use crate::util::nginx::Nginx;
use crate::util::registry::{Auth, Registry};
use crate::util::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The manifest of the one image in `layout`.
fn manifest(layout: &Path) -> Value {
    let digest = layout_digest(layout);
    read_json(
        &layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
}

// ---------------------------------------------------------------------------
// 1 and 2: a base pinned by digest; ko_export of a shallow base.

/// The rko_base_image block the workspace gets, pinned at `digest`.
fn base_image_block(reference: &str, digest: &str, extra: &str) -> String {
    format!(
        "\nrko_base_image(\n    name = \"pinned_base\",\n    reference = \"{reference}\",\n    digest = \"{digest}\",{extra}\n)\n"
    )
}

/// Pushes an image whose one layer holds `text` at /etc/base-version;
/// returns its digest.
fn push_base(d: &Path, registry: &Registry, version: &str) -> String {
    let layout = image_with_file(
        d,
        &format!("base-{version}"),
        format!("base {version}\n").as_bytes(),
        "/etc/base-version",
    );
    pushed_digest(&run_ok(
        rko_in(&d.join("docker"))
            .arg("push")
            .arg(&layout)
            .arg(format!("{}/base:{version}", registry.host())),
    ))
}

/// A workspace whose `//:on_base` is the hello binary on `@pinned_base`
/// (pinned at `digest`), with `//:on_base_tar` exporting it.
fn workspace_on_base(d: &Path, at: &str, root: &str, reference: &str, digest: &str) -> Workspace {
    let ws = Workspace::copy(d, at, root, &rko_repo_in(d, Hello::Tiny));
    ws.append(
        "WORKSPACE",
        "\nload(\"@rko//rules:repositories.bzl\", \"rko_base_image\")\n",
    );
    ws.append("WORKSPACE", &base_image_block(reference, digest, ""));
    ws.append(
        "BUILD.bazel",
        &format!(
            "\nko_image(\n    name = \"on_base\",\n    base = \"@pinned_base//:layout\",\n    base_name = \"{reference}\",\n    binary = \":hello\",\n    platform = \"linux/amd64\",\n    created = CREATED,\n)\n\nko_export(\n    name = \"on_base_tar\",\n    image = \":on_base\",\n    repo_tag = \"example.com/on-base:latest\",\n)\n"
        ),
    );
    ws
}

/// `bazel build //:on_base` with `flags`; the base digest the image
/// records, and whether its RkoAppend came from the remote cache.
fn build_on_base(ws: &Workspace, flags: &[&str], log: &Path) -> (String, bool) {
    run_ok(
        ws.bazel()
            .args(["build", "//:on_base"])
            .args(flags)
            .arg(format!("--execution_log_json_file={}", log.display())),
    );
    let base = manifest(&ws.output_path("on_base"))["annotations"]
        ["org.opencontainers.image.base.digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let append_hit = spawns(log)
        .iter()
        .any(|s| s["mnemonic"] == "RkoAppend" && s["remoteCacheHit"] == true);
    (base, append_hit)
}

#[test]
fn a_new_base_digest_rebuilds_the_image_without_clean_and_the_remote_cache_keys_on_the_base() {
    let dir = temp_dir();
    let d = dir.path();
    let registry = Registry::start(Auth::None);
    let reference = format!("{}/base", registry.host());
    let old = push_base(d, &registry, "v1");
    let new = push_base(d, &registry, "v2");
    let nginx = Nginx::start(&d.join("nginx"));
    let remote_cache = format!("--remote_cache=http://{}", nginx.host());

    // The old base fills the remote cache.
    let first = workspace_on_base(d, "first/ws", "root-1", &reference, &old);
    let (base, _) = build_on_base(&first, &[&remote_cache], &d.join("1.json"));
    assert_eq!(base, old);

    // Elsewhere, pinned at the new base: the cache has nothing for it.
    let second = workspace_on_base(d, "second/ws", "root-2", &reference, &new);
    let (base, hit) = build_on_base(&second, &[&remote_cache], &d.join("2.json"));
    assert_eq!(base, new, "a remote cache served the image on the old base");
    assert!(!hit, "RkoAppend on the new base came from the cache");

    // The first workspace (its server still running) moves to the new
    // digest: no `bazel clean`, and the image is the new one, which the
    // cache has from the second workspace.
    first.replace("WORKSPACE", &old, &new);
    let (base, hit) = build_on_base(&first, &[&remote_cache], &d.join("3.json"));
    assert_eq!(base, new, "the image stayed on the old base");
    assert!(hit, "the same base content should give the same action key");

    step_export_of_a_shallow_base_names_the_attribute(&first, &reference, &new);
}

/// ko_export of an image on a shallow base fails naming the attribute to
/// set; with it set, the tarball holds every layer.
fn step_export_of_a_shallow_base_names_the_attribute(
    ws: &Workspace,
    reference: &str,
    digest: &str,
) {
    let stderr = run_err(ws.bazel().args(["build", "//:on_base_tar"]));
    assert!(
        stderr.contains("shallow = False") && stderr.contains("rko_base_image"),
        "no hint at rko_base_image's shallow attribute: {stderr}"
    );
    ws.replace(
        "WORKSPACE",
        &base_image_block(reference, digest, ""),
        &base_image_block(reference, digest, "\n    shallow = False,"),
    );
    run_ok(ws.bazel().args(["build", "//:on_base_tar"]));
    let listing = run_ok(
        Command::new("tar")
            .arg("-xOf")
            .arg(ws.output_path("on_base_tar.tar"))
            .arg("manifest.json"),
    );
    let layers = json(&listing)[0]["Layers"].as_array().unwrap().len();
    assert_eq!(
        layers, 4,
        "builtin:static, the base's file, kodata (empty, as ko adds it), the binary"
    );
}

// ---------------------------------------------------------------------------
// 3 and 4: ko_load, ko_push with stamped tags from a file.

#[test]
fn bazel_run_loads_into_podman_and_pushes_stamped_tags_from_a_file() {
    let dir = temp_dir();
    let d = dir.path();
    let registry = Registry::start(Auth::None);
    let repository = format!("{}/hello", registry.host());
    let ws = Workspace::copy(d, "ws", "root", &rko_repo_in(d, Hello::Example));
    ws.share_go_builds();
    ws.load_defs(&["ko_load"]);
    ws.append(
        "BUILD.bazel",
        &format!(
            "\nko_load(\n    name = \"load\",\n    image = \":image_amd64\",\n    repo_tags = [\"example.com/hello:bazel\", \"example.com/hello:second\"],\n)\n\nko_push(\n    name = \"push_stamped\",\n    image = \":image\",\n    repository = \"{repository}\",\n    remote_tags = \"release_tags.txt\",\n)\n"
        ),
    );
    ws.append(
        "release_tags.txt",
        "v1\n{STABLE_RELEASE}\ncommit-{BUILD_SCM_REVISION}\n",
    );
    let status = ws.path.join("status.sh");
    fs::write(
        &status,
        "#!/bin/sh\necho STABLE_RELEASE 1.2.3\necho BUILD_SCM_REVISION abc123\n",
    )
    .unwrap();
    run_ok(Command::new("chmod").arg("+x").arg(&status));

    step_bazel_run_load_puts_the_image_into_podman(&ws, d);

    let docker = d.join("docker");
    let stderr = run_err(
        ws.bazel()
            .args(["run", "//:push_stamped"])
            .env("DOCKER_CONFIG", &docker),
    );
    assert!(
        stderr.contains("--stamp") && stderr.contains("{STABLE_RELEASE}"),
        "an unstamped placeholder should name --stamp: {stderr}"
    );
    run_ok(
        ws.bazel()
            .args(["run", "--stamp"])
            .arg(format!("--workspace_status_command={}", status.display()))
            .arg("//:push_stamped")
            .env("DOCKER_CONFIG", &docker),
    );
    let listed = json(&run_ok(
        skopeo("list-tags").arg(format!("docker://{repository}")),
    ));
    let mut tags: Vec<&str> = listed["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort();
    assert_eq!(tags, ["1.2.3", "commit-abc123", "v1"]);
    let pushed = json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{repository}:1.2.3")),
    ));
    assert_eq!(pushed["manifests"].as_array().unwrap().len(), 2);

    step_stamped_labels_sbom_and_two_repositories(&ws, &registry, &status, &docker);
    step_ko_load_stamps_its_tags(&ws, d, &status);
}

/// BUILD targets of the stamping steps: an image whose label and
/// annotation are stamped, its SBOM, a ko_push to two repositories with
/// that SBOM, one whose first repository refuses, a ko_load whose tag is
/// stamped.
fn stamping_targets(registry: &Registry) -> String {
    let host = registry.host();
    format!(
        r#"
ko_image(
    name = "image_labeled",
    annotations = {{"org.opencontainers.image.revision": "{{BUILD_SCM_REVISION}}"}},
    binary = ":hello",
    created = CREATED,
    importpath = "example.com/hello",
    labels = {{
        "org.opencontainers.image.version": "{{STABLE_RELEASE}}",
        "plain": "no placeholder",
    }},
    layers = [":kodata"],
    platforms = ["@rko//rules/platforms:linux_amd64"],
)

ko_sbom(
    name = "sbom_labeled",
    created = CREATED,
    image = ":image_labeled",
)

ko_push(
    name = "push_everywhere",
    image = ":image_labeled",
    repositories = ["{host}/first", "{host}/second"],
    sbom = ":sbom_labeled",
    tags = ["{{STABLE_RELEASE}}"],
)

ko_push(
    name = "push_first_fails",
    image = ":image_amd64",
    repositories = ["127.0.0.1:1/refused", "{host}/never"],
)

ko_load(
    name = "load_stamped",
    image = ":image_amd64",
    repo_tags = ["example.com/hello:{{STABLE_RELEASE}}", "example.com/hello:also-{{BUILD_SCM_REVISION}}"],
)
"#
    )
}

/// Under --stamp, one ko_push pushes the image to both of its repositories
/// with its stamped tag, the config's label and the manifest's annotation
/// stamped (a value without a placeholder as it is), and its SBOM where
/// `cosign download sbom` finds it.
fn step_stamped_labels_sbom_and_two_repositories(
    ws: &Workspace,
    registry: &Registry,
    status: &Path,
    docker: &Path,
) {
    ws.append("BUILD.bazel", &stamping_targets(registry));
    run_ok(
        ws.bazel()
            .args(["run", "--stamp"])
            .arg(format!("--workspace_status_command={}", status.display()))
            .arg("//:push_everywhere")
            .env("DOCKER_CONFIG", docker),
    );
    let digest = ws.output("image_labeled.digest");
    for name in ["first", "second"] {
        let repository = format!("{}/{name}", registry.host());
        let config = json(&run_ok(
            skopeo("inspect")
                .arg("--config")
                .arg(format!("docker://{repository}:1.2.3")),
        ));
        let labels = &config["config"]["Labels"];
        assert_eq!(
            labels["org.opencontainers.image.version"], "1.2.3",
            "{repository}: {config}"
        );
        assert_eq!(labels["plain"], "no placeholder", "{repository}: {config}");
        let manifest = json(&run_ok(
            skopeo("inspect")
                .arg("--raw")
                .arg(format!("docker://{repository}:1.2.3")),
        ));
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.revision"], "abc123",
            "{repository}: {manifest}"
        );
        let sbom = run_ok(
            Command::new(peer("cosign"))
                .args(["download", "sbom", "--allow-http-registry"])
                .arg(format!("{repository}@{}", digest.trim())),
        );
        assert_eq!(
            json(&sbom),
            read_json(&ws.output_path("sbom_labeled.spdx.json")),
            "{repository}: cosign download sbom"
        );
    }

    // The first repository fails: the run fails naming it, and the one
    // after it gets nothing.
    let stderr = run_err(
        ws.bazel()
            .args(["run", "//:push_first_fails"])
            .env("DOCKER_CONFIG", docker),
    );
    assert!(
        stderr.contains("pushing to 127.0.0.1:1/refused failed"),
        "the failing repository is not named: {stderr}"
    );
    let never = skopeo("inspect")
        .arg("--raw")
        .arg(format!("docker://{}/never:latest", registry.host()))
        .output()
        .unwrap();
    assert!(
        !never.status.success(),
        "a repository after the failing one was pushed to"
    );
}

/// Without --stamp, a ko_load whose tag holds a placeholder names --stamp;
/// with it, the image loads under the stamped names. An image without
/// placeholders keeps its digest under --stamp.
fn step_ko_load_stamps_its_tags(ws: &Workspace, d: &Path, status: &Path) {
    let unstamped = ws.output("image_amd64.digest");
    let podman_dir = d.join("podman");
    let mut run = ws.bazel();
    run.args(["run", "//:load_stamped"]);
    with_podman_storage(&mut run, &podman_dir);
    let stderr = run_err(&mut run);
    assert!(
        stderr.contains("--stamp") && stderr.contains("{STABLE_RELEASE}"),
        "an unstamped placeholder should name --stamp: {stderr}"
    );
    let mut run = ws.bazel();
    run.args(["run", "--stamp"])
        .arg(format!("--workspace_status_command={}", status.display()))
        .arg("//:load_stamped");
    with_podman_storage(&mut run, &podman_dir);
    run_ok(&mut run);
    let images =
        run_ok(podman(&podman_dir).args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    for name in ["example.com/hello:1.2.3", "example.com/hello:also-abc123"] {
        assert!(images.lines().any(|l| l == name), "{name} not in {images}");
    }
    assert_eq!(
        ws.output("image_amd64.digest"),
        unstamped,
        "--stamp changed an image without placeholders"
    );
}

/// `bazel run //:load` loads the amd64 image under both names; podman's
/// image ID is the image's config digest.
fn step_bazel_run_load_puts_the_image_into_podman(ws: &Workspace, d: &Path) {
    let podman_dir = d.join("podman");
    fs::create_dir_all(&podman_dir).unwrap();
    let mut run = ws.bazel();
    run.args(["run", "//:load"]);
    with_podman_storage(&mut run, &podman_dir);
    run_ok(&mut run);
    let images =
        run_ok(podman(&podman_dir).args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    for name in ["example.com/hello:bazel", "example.com/hello:second"] {
        assert!(images.lines().any(|l| l == name), "{name} not in {images}");
    }
    let id = run_ok(podman(&podman_dir).args([
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "example.com/hello:bazel",
    ]));
    let config = manifest(&ws.output_path("image_amd64"))["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(format!("sha256:{}", id.trim()), config);
}

// ---------------------------------------------------------------------------
// 5 and 7: the toolchain's exec platform, bzl_library, ko_resolve's names.

#[test]
fn the_toolchain_runs_only_on_its_exec_platform_and_every_bzl_file_has_a_bzl_library() {
    let dir = temp_dir();
    let ws = Workspace::copy(
        dir.path(),
        "ws",
        "root",
        &rko_repo_in(dir.path(), Hello::Example),
    );
    ws.append(
        "BUILD.bazel",
        "\nplatform(\n    name = \"arm64_exec\",\n    constraint_values = [\"@platforms//os:linux\", \"@platforms//cpu:aarch64\"],\n)\n",
    );
    run_ok(ws.bazel().args(["build", "--nobuild", "//:image_amd64"]));
    let stderr = run_err(ws.bazel().args([
        "build",
        "--nobuild",
        "--host_platform=//:arm64_exec",
        "//:image_amd64",
    ]));
    assert!(
        stderr.contains("@rko//rules:toolchain_type"),
        "an rko built for this machine was chosen for an arm64 exec platform: {stderr}"
    );

    let listed = run_ok(
        ws.bazel()
            .args(["query", "labels(srcs, kind(bzl_library, @rko//rules/...))"]),
    );
    let mut in_libraries: Vec<String> = listed
        .lines()
        .map(|l| l.trim().trim_start_matches("@rko//").replace(':', "/"))
        .collect();
    in_libraries.sort();
    let mut bzl_files: Vec<String> = walkdir::WalkDir::new(repo_root().join("rules"))
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.path().extension().is_some_and(|x| x == "bzl"))
        .map(|e| {
            e.path()
                .strip_prefix(repo_root())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    bzl_files.sort();
    assert_eq!(in_libraries, bzl_files);
    run_ok(ws.bazel().args(["build", "@rko//rules:defs"]));
}

/// Each `ko://` reference's replacement in resolved YAML: its repository,
/// without tag or digest (`--push=false` prints ko's `name:latest@digest`,
/// ko_resolve the `name@digest` a push gives).
fn resolved_names(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|l| l.split_once("image: "))
        .map(|(_, r)| {
            let name = r.split('@').next().unwrap().trim();
            match name.rsplit_once(':') {
                Some((repository, tag)) if !tag.contains('/') => repository.to_string(),
                _ => name.to_string(),
            }
        })
        .collect()
}

#[test]
fn ko_resolve_names_images_as_rko_resolve_does() {
    let dir = temp_dir();
    let d = dir.path();
    let ws = Workspace::copy(d, "ws", "root", &rko_repo_in(d, Hello::Example));
    ws.share_go_builds();
    run_ok(ws.bazel().args(["build", "//:deploy"]));
    let bazel = resolved_names(&fs::read_to_string(ws.output_path("deploy.yaml")).unwrap());

    let resolved = run_ok(
        porcelain(d)
            .current_dir(d.join("rko/examples/hello"))
            .args(["resolve", "--push=false", "--sbom=none", "-f"])
            .arg(ws.path.join("deploy.yaml"))
            .env("KO_DOCKER_REPO", "registry.example.com/team")
            .env("GOFLAGS", "-buildvcs=false"),
    );
    let rko = resolved_names(&resolved);
    assert_eq!(bazel, rko, "ko_resolve and rko resolve");
    assert!(
        rko[0].starts_with("registry.example.com/team/hello-"),
        "{rko:?}"
    );
}

// ---------------------------------------------------------------------------
// Issue 23: a binary with runfiles.

#[test]
fn ko_image_refuses_at_analysis_a_binary_with_runfiles_naming_them_but_not_the_binarys_own_files() {
    let dir = temp_dir();
    let ws = Workspace::copy(
        dir.path(),
        "ws",
        "root",
        &rko_repo_in(dir.path(), Hello::Example),
    );
    fs::create_dir_all(ws.path.join("config")).unwrap();
    ws.append("data.txt", "read at run time\n");
    ws.append("config/settings.json", "{}\n");
    ws.append("script.sh", "#!/bin/sh\necho hello\n");
    ws.append(
        "BUILD.bazel",
        r#"
go_binary(
    name = "hello_with_data",
    srcs = ["@rko//examples/hello:srcs"],
    data = ["config/settings.json", "data.txt"],
)

ko_image(
    name = "image_with_data",
    binary = ":hello_with_data",
    platforms = ["@rko//rules/platforms:linux_amd64"],
)

sh_binary(
    name = "script",
    srcs = ["script.sh"],
)

ko_image(
    name = "image_of_script",
    binary = ":script",
    platform = "linux/amd64",
)

sh_binary(
    name = "script_with_data",
    srcs = ["script.sh"],
    data = ["data.txt"],
)

ko_image(
    name = "image_of_script_with_data",
    binary = ":script_with_data",
    platform = "linux/amd64",
)
"#,
    );

    // A go_binary and an sh_binary have their own executable (and the
    // sh_binary its script) in their runfiles: those are the image's binary.
    run_ok(
        ws.bazel()
            .args(["build", "--nobuild", "//:image_amd64", "//:image_of_script"]),
    );

    let err = run_err(
        ws.bazel()
            .args(["build", "--nobuild", "//:image_with_data"]),
    );
    assert!(
        err.contains("ko_image //:image_with_data: binary //:hello_with_data has runfiles")
            && err.contains("config/settings.json")
            && err.contains("data.txt"),
        "the error should name the image, the binary and each runfile: {err}"
    );
    assert!(
        err.contains("kodata"),
        "the error should say where such files go instead: {err}"
    );

    let err = run_err(
        ws.bazel()
            .args(["build", "--nobuild", "//:image_of_script_with_data"]),
    );
    assert!(
        err.contains("binary //:script_with_data has runfiles (data.txt)"),
        "only data.txt, not the script itself: {err}"
    );
}

// ---------------------------------------------------------------------------
// 6: docs/rules.md.

#[test]
fn docs_rules_md_is_generated_from_the_doc_strings_and_up_to_date() {
    let dir = temp_dir();
    let out = dir.path().join("rules.md");
    run_ok(
        Command::new(require("python3"))
            .arg(repo_root().join("scripts/gen-rules-doc"))
            .arg("--out")
            .arg(&out),
    );
    let generated = fs::read_to_string(&out).unwrap();
    let committed = fs::read_to_string(repo_root().join("docs/rules.md")).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/rules.md is out of date: run scripts/gen-rules-doc"
    );
    for name in [
        "ko_image",
        "ko_image_index",
        "ko_push",
        "ko_load",
        "ko_export",
        "ko_resolve",
        "ko_sbom",
        "rko_base_image",
        "rko_toolchain",
        "ImageInfo",
        "ko_layer",
        "LayerInfo",
        "bzl_library",
    ] {
        assert!(
            generated.contains(&format!("## {name}\n")),
            "docs/rules.md has no section for {name}"
        );
    }
}

// ---------------------------------------------------------------------------
// Issue 23: ko_image_test.

#[test]
fn ko_image_test_passes_the_example_fails_naming_field_and_values_and_ships_no_layer_blob() {
    let dir = temp_dir();
    let d = dir.path();
    let ws = Workspace::copy(d, "ws", "root", &rko_repo_in(d, Hello::Example));
    ws.share_go_builds();
    let (stdout, stderr) =
        run_ok_with_stderr(
            ws.bazel()
                .args(["test", "//:image_test", "--test_output=all"]),
        );
    let output = format!("{stdout}{stderr}");
    for line in [
        "ok   entrypoint [\"/ko-app/hello\"]",
        "ok   /ko-app/hello mode 0555",
        "ok   /var/run/ko/greeting.txt uid 0",
        "ok   /etc/passwd mode 0644",
        "ok   /bin/sh absent",
    ] {
        assert!(output.contains(line), "{line:?} not in\n{output}");
    }

    // The runfiles: rko, the sparse layout, the listings; never a layer blob.
    let manifest = fs::read_to_string(ws.output_path("image_test.sh.runfiles_manifest")).unwrap();
    assert!(manifest.contains(".listing.json "), "{manifest}");
    assert!(
        manifest.contains("/image_amd64 ") || manifest.contains("/image_amd64/"),
        "{manifest}"
    );
    let blobs: Vec<&str> = manifest.lines().filter(|l| l.contains(".tar.gz")).collect();
    assert!(blobs.is_empty(), "layer blobs in the runfiles: {blobs:?}");

    // A wrong user and a wrong mode: the test fails, naming both, with
    // what was wanted and what the image has.
    ws.replace("BUILD.bazel", "user = \"65532\",", "user = \"0\",");
    ws.replace(
        "BUILD.bazel",
        "\"/ko-app/hello\": \"0555 0:0\",",
        "\"/ko-app/hello\": \"0755 0:0\",",
    );
    let out = ws
        .bazel()
        .args(["test", "//:image_test", "--test_output=errors"])
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the test passed:\n{output}");
    for line in [
        "FAIL user: want \"0\", got \"65532\"",
        "FAIL /ko-app/hello mode: want 0755, got 0555",
        "2 of 14 checks failed",
    ] {
        assert!(output.contains(line), "{line:?} not in\n{output}");
    }
}
