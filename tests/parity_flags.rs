//! ko parity for `rko build`'s flags and environment (issue 12): each test
//! asserts ko's behaviour and cites the ko source it follows.

use crate::util::registry::{Auth, Registry};
use crate::util::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of `examples/<name>` in a fresh directory.
fn example(dir: &Path, name: &str) -> PathBuf {
    let target = dir.join(name);
    copy_tree(&repo_root().join("examples").join(name), &target);
    target
}

/// A blob of `layout`, as JSON.
fn blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.trim_start_matches("sha256:");
    read_json(&layout.join("blobs/sha256").join(hex))
}

/// The manifest of the one image in `layout` (the first entry of index.json).
fn manifest(layout: &Path) -> Value {
    blob(layout, &layout_digest(layout))
}

/// The config of the one image in `layout`.
fn config(layout: &Path) -> Value {
    let manifest = manifest(layout);
    blob(layout, manifest["config"]["digest"].as_str().unwrap())
}

/// `os/arch[/variant]` of each image the index in `layout` lists.
fn index_platforms(layout: &Path) -> Vec<String> {
    manifest(layout)["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("not an index: {}", manifest(layout)))
        .iter()
        .map(|m| platform_of(&m["platform"]))
        .collect()
}

fn platform_of(value: &Value) -> String {
    let mut platform = format!("{}/{}", value["os"], value["architecture"]).replace('"', "");
    if let Some(variant) = value["variant"].as_str() {
        platform.push('/');
        platform.push_str(variant);
    }
    platform
}

/// Runs a build that must fail; its error is exactly one line.
fn one_line_error(cmd: &mut Command) -> String {
    let err = run_err(cmd);
    assert_eq!(err.trim().lines().count(), 1, "{cmd:?}: {err}");
    err
}

// Item 2. ko: pkg/commands/options/publish.go, AddPublishArg:
// `cmd.Flags().BoolVar(&po.InsecureRegistry, "insecure-registry", ...)`.
#[test]
fn insecure_registry_is_a_boolean_that_never_takes_the_next_argument() {
    let dir = temp_dir();
    let module = example(dir.path(), "multi");
    for flag in ["--insecure-registry", "--insecure-registry=true"] {
        let out = run_ok(
            rko_build(&module, dir.path())
                .env("KO_DOCKER_REPO", "registry.example/team")
                .args(["--push=false", "-B", flag, "./cmd/web", "./cmd/api"]),
        );
        let refs: Vec<&str> = out.lines().collect();
        assert_eq!(refs.len(), 2, "{flag}: both import paths built: {out}");
        assert!(
            refs[0].starts_with("registry.example/team/web:latest@"),
            "{out}"
        );
        assert!(
            refs[1].starts_with("registry.example/team/api:latest@"),
            "{out}"
        );
    }
    let out = run_ok(
        rko_build(&module, dir.path())
            .env("KO_DOCKER_REPO", "registry.example/team")
            .args([
                "--push=false",
                "-B",
                "--insecure-registry=false",
                "./cmd/web",
            ]),
    );
    assert!(
        out.starts_with("registry.example/team/web:latest@"),
        "{out}"
    );
}

// Item 2. ko: pkg/commands/resolver.go, makePublisher
// (`publish.Insecure(po.InsecureRegistry)`: plain HTTP and unverified TLS
// for KO_DOCKER_REPO's registry) and pkg/commands/config.go, getBaseImage
// (`name.Insecure` for the base image's registry).
#[test]
fn insecure_registry_allows_plain_http_to_the_ko_docker_repo_and_base_registries() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = example(dir.path(), "multi");
    // Not loopback as far as rko's trust rules go: no plain HTTP unasked.
    let host = format!("[::ffff:127.0.0.1]:{}", registry.port);
    let base = hello_image(dir.path(), "amd64");
    let base_ref = format!("{host}/base:amd64");
    run_ok(
        rko_in(&dir.path().join("docker"))
            .arg("push")
            .arg(&base)
            .arg(&base_ref)
            .args(["--insecure-registry", &host]),
    );
    let build = || {
        let mut cmd = rko_build(&module, dir.path());
        cmd.env("KO_DOCKER_REPO", format!("{host}/team"))
            .args(["-B", "--base-image", &base_ref]);
        cmd
    };
    let err = one_line_error(build().arg("./cmd/web"));
    assert!(
        err.contains("cannot reach registry [::ffff:127.0.0.1]"),
        "{err}"
    );
    let err = one_line_error(build().args(["--insecure-registry=false", "./cmd/web"]));
    assert!(
        err.contains("cannot reach registry [::ffff:127.0.0.1]"),
        "{err}"
    );

    let out = run_ok(build().args(["--insecure-registry", "./cmd/web"]));
    // What the registry holds under latest, read by skopeo over another
    // name for the same registry: the digest rko printed.
    let pushed = run_ok(
        skopeo("inspect")
            .args(["--format", "{{.Digest}}"])
            .arg(format!(
                "docker://127.0.0.1:{}/team/web:latest",
                registry.port
            )),
    );
    assert_eq!(out.trim(), format!("{host}/team/web@{}", pushed.trim()));
}

// Item 3. ko: pkg/commands/options/build.go, AddBuildOptions:
// `StringSliceVar(&bo.Labels, "image-label", ...)` and
// `StringSliceVar(&bo.Annotations, "image-annotation", ...)`, which pflag
// reads as CSV; pkg/commands/resolver.go, gobuildOptions, then splits each
// at its first `=`.
#[test]
fn image_labels_and_annotations_split_on_commas_as_ko_does() {
    let dir = temp_dir();
    let module = example(dir.path(), "hello");
    let layout = dir.path().join("layout");
    run_ok(
        rko_build(&module, dir.path())
            .args(["--push=false", "--sbom=none", "--oci-layout-path"])
            .arg(&layout)
            .args([
                "--image-label",
                "a=1,b=2",
                "--image-label=c=x=y",
                "--image-label",
                "\"d=4,5\",e=",
                "--image-annotation",
                "example.com/x=1,example.com/y=2",
                ".",
            ]),
    );
    let labels = &config(&layout)["config"]["Labels"];
    for (key, want) in [
        ("a", "1"),
        ("b", "2"),
        ("c", "x=y"),
        ("d", "4,5"),
        ("e", ""),
    ] {
        assert_eq!(labels[key], want, "label {key}: {labels}");
    }
    let annotations = &manifest(&layout)["annotations"];
    assert_eq!(annotations["example.com/x"], "1", "{annotations}");
    assert_eq!(annotations["example.com/y"], "2", "{annotations}");

    let err = one_line_error(rko_build(&module, dir.path()).args([
        "--push=false",
        "--image-label",
        "a=1,b",
        ".",
    ]));
    assert!(
        err.contains("--image-label") && err.contains("\"b\""),
        "{err}"
    );
}

// Item 4. ko: pkg/commands/options/build.go, AddBuildOptions:
// `StringSliceVar(&bo.Platforms, "platform", ...)`: repeatable and CSV.
#[test]
fn platform_is_repeatable_as_in_ko() {
    let dir = temp_dir();
    let module = tiny_hello(&dir.path().join("hello"));
    let layout = dir.path().join("layout");
    run_ok(
        rko_build(&module, dir.path())
            .args(["--push=false", "--sbom=none", "--oci-layout-path"])
            .arg(&layout)
            .args([
                "--platform",
                "linux/amd64",
                "--platform=linux/arm64,linux/arm/v7",
                ".",
            ]),
    );
    assert_eq!(
        index_platforms(&layout),
        ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    );
}

// Item 4. ko: pkg/commands/resolver.go, gobuildOptions: with no platform
// anywhere, GOOS/GOARCH when both are set (and GOARM as the variant of
// arm), else linux/amd64.
#[test]
fn goos_goarch_and_goarm_are_the_default_platform_as_in_ko() {
    let dir = temp_dir();
    let module = tiny_hello(&dir.path().join("hello"));
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("GOOS", "linux"), ("GOARCH", "arm64")], "linux/arm64"),
        (
            &[("GOOS", "linux"), ("GOARCH", "arm"), ("GOARM", "7")],
            "linux/arm/v7",
        ),
        (&[("GOARCH", "arm64")], "linux/amd64"),
    ];
    for (env, want) in cases {
        let layout = dir.path().join(want.replace('/', "-"));
        let mut cmd = rko_build(&module, dir.path());
        cmd.args(["--push=false", "--sbom=none", "--oci-layout-path"])
            .arg(&layout)
            .arg(".");
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_ok(&mut cmd);
        assert_eq!(platform_of(&config(&layout)), want, "{env:?}");
    }
}

// Item 4. ko: pkg/commands/resolver.go, gobuildOptions ("cannot use
// --platform or defaultPlatforms in .ko.yaml or env KO_DEFAULTPLATFORMS
// combined with GOARCH=...") and pkg/commands/options/validate.go,
// Validate ("all or specific platforms should be used").
#[test]
fn a_platform_combined_with_goos_goarch_or_goarm_is_refused_as_in_ko() {
    let dir = temp_dir();
    let hello = example(dir.path(), "hello");
    // examples/multi's .ko.yaml has defaultPlatforms.
    let multi = example(dir.path(), "multi");
    let refusal = |module: &Path, args: &[&str], env: &[(&str, &str)], says: &[&str]| {
        let mut cmd = rko_build(module, dir.path());
        cmd.arg("--push=false").args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let err = one_line_error(&mut cmd);
        for needle in says {
            assert!(err.contains(needle), "{args:?} {env:?}: {err}");
        }
    };
    refusal(
        &hello,
        &["--platform=linux/amd64", "."],
        &[("GOARCH", "arm64")],
        &["--platform", "GOARCH=\"arm64\""],
    );
    refusal(
        &hello,
        &["."],
        &[("KO_DEFAULTPLATFORMS", "linux/arm64"), ("GOOS", "linux")],
        &["KO_DEFAULTPLATFORMS", "GOOS=\"linux\""],
    );
    refusal(
        &multi,
        &["./cmd/web"],
        &[("GOARM", "7")],
        &["defaultPlatforms", "GOARM=\"7\""],
    );
    refusal(
        &hello,
        &["--platform=all,linux/amd64", "."],
        &[],
        &["--platform", "all or specific platforms"],
    );
    refusal(
        &hello,
        &["--platform=linux/amd64", "--platform=all", "."],
        &[],
        &["--platform", "all or specific platforms"],
    );
}

// Item 5. ko: pkg/publish/default.go, defaultOpener.Open ("must specify
// exactly one tag to resolve images into tag-only references", "latest tag
// cannot be used in tag-only references"); pkg/commands/resolver.go,
// makePublisher (`unique(po.Tags)`) and nopPublisher.Publish (without a
// push, the first tag, whatever it is).
#[test]
fn tag_only_refuses_latest_and_several_tags_when_pushing_as_in_ko() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = example(dir.path(), "multi");
    let repo = format!("{}/team", registry.host());
    let build = |args: &[&str]| {
        let mut cmd = rko_build(&module, dir.path());
        cmd.env("KO_DOCKER_REPO", &repo)
            .args(["-B", "--tag-only"])
            .args(args)
            .arg("./cmd/web");
        cmd
    };
    let err = one_line_error(&mut build(&[]));
    assert!(
        err.contains("--tag-only") && err.contains("latest"),
        "{err}"
    );
    let err = one_line_error(&mut build(&["-t", "v1,v2"]));
    assert!(
        err.contains("--tag-only") && err.contains("exactly one tag"),
        "{err}"
    );
    assert_eq!(
        remote_tags(&format!("{repo}/web")),
        None,
        "nothing pushed before the refusals: not even the repository"
    );

    let out = run_ok(&mut build(&["-t", "v1,v1"]));
    assert_eq!(out, format!("{repo}/web:v1\n"));
    // v1 once; beside it the SBOM's cosign tag (ko's `writePeripherals`),
    // the referrers fallback tag, rko's listed difference (docs/ko.md,
    // `--sbom`), and the provenance's cosign tag (rko's, docs/provenance.md);
    // no latest, no second tag.
    let image = run_ok(
        skopeo("inspect")
            .args(["--format", "{{.Digest}}"])
            .arg(format!("docker://{repo}/web:v1")),
    );
    let referrers = image.trim().replacen(':', "-", 1);
    let sbom = format!("{referrers}.sbom");
    let att = format!("{referrers}.att");
    let pushed = remote_tags(&format!("{repo}/web"));
    assert_eq!(
        pushed,
        Some(sorted(vec![referrers, att, sbom, "v1".to_string()]))
    );
    let out = run_ok(&mut build(&["--push=false"]));
    assert_eq!(
        out,
        format!("{repo}/web:latest\n"),
        "no push: ko's nopPublisher"
    );
    assert_eq!(
        remote_tags(&format!("{repo}/web")),
        pushed,
        "--push=false tags nothing"
    );
}

/// The tags of `repository` as skopeo lists them, sorted; `None` when the
/// registry does not know the repository (no tag was ever pushed to it:
/// its tags list is a 404, which skopeo 1.9 reports without the body).
fn remote_tags(repository: &str) -> Option<Vec<String>> {
    let out = skopeo("list-tags")
        .arg(format!("docker://{repository}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(
            stderr.contains("fetching tags list: invalid status code from registry 404"),
            "skopeo list-tags {repository} failed ({}) for another reason: {stderr}",
            out.status
        );
        return None;
    }
    let listed = json(&String::from_utf8(out.stdout).unwrap());
    let tags = listed["Tags"]
        .as_array()
        .unwrap_or_else(|| panic!("skopeo list-tags {repository}: no Tags: {listed}"))
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    Some(sorted(tags))
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

// Item 5. ko: pkg/commands/options/validate.go, Validate (the "Both
// --base-import-paths and --bare were set" warning) and
// pkg/commands/options/publish.go, MakeNamer (-P, then -B, then --bare).
#[test]
fn base_import_paths_wins_over_bare_with_a_warning_as_in_ko() {
    let dir = temp_dir();
    let module = example(dir.path(), "multi");
    let repo = "registry.example/team";
    let build = |flags: &[&str]| {
        run_ok_with_stderr(
            rko_build(&module, dir.path())
                .env("KO_DOCKER_REPO", repo)
                .args(["--push=false", "--sbom=none"])
                .args(flags)
                .arg("./cmd/web"),
        )
    };
    let (out, err) = build(&["-B", "--bare"]);
    assert!(
        out.starts_with(&format!("{repo}/web:latest@sha256:")),
        "{out}"
    );
    assert!(
        err.contains("warning") && err.contains("--base-import-paths") && err.contains("--bare"),
        "{err}"
    );
    let (out, _) = build(&["-P", "--bare"]);
    assert!(
        out.starts_with(&format!("{repo}/example.com/multi/cmd/web:latest@sha256:")),
        "{out}"
    );
    let (_, err) = build(&["-B"]);
    assert!(!err.contains("warning"), "{err}");
}

// Item 7. ko: pkg/build/gobuild.go, writeSBOM (`os.MkdirAll(sbomDir, ...)`).
#[test]
fn sbom_dir_is_created_when_missing_as_in_ko() {
    let dir = temp_dir();
    let module = example(dir.path(), "hello");
    let sbom_dir = dir.path().join("not/yet/there");
    run_ok(
        rko_build(&module, dir.path())
            .args(["--push=false", "--sbom-dir"])
            .arg(&sbom_dir)
            .arg("."),
    );
    let spdx = read_json(&sbom_dir.join("hello-linux-amd64.spdx.json"));
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3");
}

/// `/ko-app/NAME` of the image in `layout`, copied out of its layers to `out`.
fn binary_from(layout: &Path, name: &str, out: &Path) -> PathBuf {
    fs::create_dir_all(out).unwrap();
    // ko's name, with its leading slash; GNU tar extracts it without.
    let member = format!("/ko-app/{name}");
    for layer in manifest(layout)["layers"].as_array().unwrap() {
        let hex = layer["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let blob = layout.join("blobs/sha256").join(hex);
        let listing = run_ok(Command::new("tar").arg("-tzf").arg(&blob));
        if listing.lines().any(|l| l == member) {
            run_ok(
                Command::new("tar")
                    .arg("-xzf")
                    .arg(&blob)
                    .arg("-C")
                    .arg(out)
                    .arg(&member),
            );
            return out.join(member.trim_start_matches('/'));
        }
    }
    panic!("no {member} in {}", layout.display());
}

// Item 7. ko (v0.16 and before; later versions read any value but none as
// spdx): pkg/build/gobuild.go, goversionm: `go version -m FILE` with FILE
// replaced by the path in the image, media type application/vnd.go.version-m,
// written as `<app>-<platform>.go.version-m`; none for an index.
#[test]
fn sbom_go_version_m_is_go_version_m_output_as_in_ko() {
    let dir = temp_dir();
    let module = example(dir.path(), "hello");
    let sbom_dir = dir.path().join("sboms");
    let layout = dir.path().join("layout");
    run_ok(
        rko_build(&module, dir.path())
            .args(["--push=false", "--sbom=go.version-m", "--sbom-dir"])
            .arg(&sbom_dir)
            .arg("--oci-layout-path")
            .arg(&layout)
            .arg("."),
    );
    let binary = binary_from(&layout, "hello", &dir.path().join("extracted"));
    let want = run_ok(go().args(["version", "-m"]).arg(&binary)).replacen(
        &binary.display().to_string(),
        "/ko-app/hello",
        1,
    );
    let written = fs::read_to_string(sbom_dir.join("hello-linux-amd64.go.version-m")).unwrap();
    assert_eq!(written, want);
    // The SBOM goes to the registry with the image, never into the
    // --oci-layout-path, which holds the image alone (ko: pkg/publish/layout.go).
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1, "{index}");

    let two = dir.path().join("two");
    run_ok(
        rko_build(&module, dir.path())
            .args(["--push=false", "--sbom=go.version-m", "--sbom-dir"])
            .arg(&two)
            .args(["--platform=linux/amd64,linux/arm64", "."]),
    );
    let mut files: Vec<String> = fs::read_dir(&two)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "hello-linux-amd64.go.version-m",
            "hello-linux-arm64.go.version-m"
        ],
        "none for the index"
    );
}

// Item 7. ko: pkg/commands/options/build.go, AddBuildOptions ("none will
// disable SBOM synthesis and upload"): the refusal lists every value.
#[test]
fn an_unknown_sbom_value_is_refused_listing_none() {
    let dir = temp_dir();
    let module = example(dir.path(), "hello");
    let err =
        one_line_error(rko_build(&module, dir.path()).args(["--push=false", "--sbom=bogus", "."]));
    for needle in [
        "--sbom",
        "bogus",
        "spdx",
        "cyclonedx",
        "go.version-m",
        "none",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

// Item 9. ko: pkg/build/gobuild.go, buildOne ("base image platform %q does
// not match desired platforms %v") and buildAll (only the base's matching
// platforms): ko builds a platform only from a base image for it.
#[test]
fn a_windows_platform_on_a_linux_base_is_refused_naming_both() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = tiny_hello(&dir.path().join("hello"));
    let docker = dir.path().join("docker");
    let linux = hello_image(dir.path(), "amd64");
    let linux_ref = format!("{}/base:linux", registry.host());
    run_ok(rko_in(&docker).arg("push").arg(&linux).arg(&linux_ref));
    // A Windows base is built on as ko does: parity_base.rs.
    let cases: [(&[&str], &[&str]); 2] = [
        (&[], &["builtin:static", "windows/amd64"]),
        (
            &["--base-image", &linux_ref],
            &[&linux_ref, "windows/amd64"],
        ),
    ];
    for (flags, says) in cases {
        let layout = dir.path().join("layout");
        let err = one_line_error(
            rko_build(&module, dir.path())
                .args([
                    "--push=false",
                    "--platform=windows/amd64",
                    "--oci-layout-path",
                ])
                .arg(&layout)
                .args(flags)
                .arg("."),
        );
        for needle in says {
            assert!(err.contains(needle), "{flags:?}: {needle}: {err}");
        }
        assert!(!layout.exists(), "nothing written: {flags:?}");
    }
}

// Item 6. ko: pkg/publish/daemon.go, demon.Publish (loads NAME:<digest hex>,
// adds every tag asked for, returns the digest tag; an index gives its
// GOOS/GOARCH image, linux/amd64 by default) and pkg/commands/resolver.go,
// makePublisher (any KO_DOCKER_REPO under ko.local loads locally).
#[test]
fn ko_local_prints_and_tags_name_colon_digest_hex_as_ko_does() {
    let dir = temp_dir();
    let module = example(dir.path(), "multi");
    let layout = dir.path().join("layout");
    let mut cmd = rko_build(&module, dir.path());
    with_podman_storage(&mut cmd, dir.path());
    let out = run_ok(
        cmd.env("KO_DOCKER_REPO", "ko.local")
            .args(["./cmd/api", "-B", "-t", "v1,v2", "--oci-layout-path"])
            .arg(&layout)
            .arg("--platform=linux/arm64,linux/amd64"),
    );
    let index = manifest(&layout);
    let amd64 = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    assert_eq!(
        out,
        format!("ko.local/api:{amd64}\n"),
        "the linux/amd64 image"
    );
    let images =
        run_ok(podman(dir.path()).args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    for tag in [amd64.as_str(), "v1", "v2"] {
        assert!(
            images.contains(&format!("ko.local/api:{tag}")),
            "{tag}: {images}"
        );
    }
    assert!(!images.contains("ko.local/api:latest"), "{images}");

    let mut cmd = rko_build(&module, dir.path());
    with_podman_storage(&mut cmd, dir.path());
    let out = run_ok(
        cmd.env("KO_DOCKER_REPO", "ko.local/team")
            .args(["./cmd/api", "-B"]),
    );
    assert!(out.starts_with("ko.local/team/api:"), "{out}");
    assert!(!out.contains('@'), "{out}");
    let images =
        run_ok(podman(dir.path()).args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(images.contains("ko.local/team/api:latest"), "{images}");
}
