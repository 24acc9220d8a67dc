//! `rko build`, the ko-compatible porcelain: examples/multi built with its
//! `.ko.yaml`, pushed to a real registry, run under runc; naming, platforms,
//! destinations, the cache, reproducibility and the errors.

use crate::util::registry::{free_port, Auth, Registry};
use crate::util::runc::{unpack, Container};
use crate::util::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of examples/multi (its .ko.yaml included) in a fresh directory.
fn multi(dir: &Path) -> PathBuf {
    let target = dir.join("multi");
    copy_tree(&repo_root().join("examples/multi"), &target);
    target
}

fn md5_name(import_path: &str) -> String {
    let out = run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s '{import_path}' | md5sum")),
    );
    out.split_whitespace().next().unwrap().to_string()
}

#[test]
fn the_example_module_builds_pushes_and_runs_with_its_ko_yaml() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = multi(dir.path());
    let repo = format!("{}/multi", registry.host());
    let printed = step_build_and_push_web_and_api(&module, dir.path(), &repo);
    let refs: Vec<&str> = printed.lines().collect();
    step_ko_yaml_settings_reach_each_image(&refs);
    step_both_run_under_runc(dir.path(), &refs);
    step_nothing_changed_nothing_is_built_or_uploaded(&module, dir.path(), &repo, &printed);
}

/// Both commands, named as import path and as `ko://`, are built and pushed
/// under ko's names; returns what `rko build` printed.
fn step_build_and_push_web_and_api(module: &Path, state: &Path, repo: &str) -> String {
    let (stdout, stderr) = run_ok_with_stderr(
        rko_build(module, state)
            .env("KO_DOCKER_REPO", repo)
            .args(["./cmd/web", "ko://example.com/multi/cmd/api"]),
    );
    let web_name = format!("{repo}/web-{}", md5_name("example.com/multi/cmd/web"));
    let api_name = format!("{repo}/api-{}", md5_name("example.com/multi/cmd/api"));
    // Each printed digest is that of what the registry holds under latest.
    let pushed = |name: &str| {
        let digest = run_ok(
            skopeo("inspect")
                .args(["--format", "{{.Digest}}"])
                .arg(format!("docker://{name}:latest")),
        );
        format!("{name}@{}\n", digest.trim())
    };
    assert_eq!(stdout, pushed(&web_name) + &pushed(&api_name));
    assert!(stderr.contains("pushed"), "{stderr}");
    stdout
}

/// .ko.yaml's image settings, defaultImage merged under each build's.
fn step_ko_yaml_settings_reach_each_image(refs: &[&str]) {
    let config = |reference: &str| {
        json(&run_ok(
            skopeo("inspect")
                .arg("--config")
                .arg(format!("docker://{reference}")),
        ))
    };
    let web = config(refs[0]);
    assert_eq!(web["config"]["User"], "65532");
    assert_eq!(web["config"]["WorkingDir"], "/var/run/ko");
    assert_eq!(web["config"]["Labels"]["example.com/component"], "web");
    assert_eq!(
        web["config"]["Labels"]["org.opencontainers.image.version"], "1.2.3",
        "templates render"
    );
    let api = config(refs[1]);
    assert_eq!(api["config"]["Cmd"], serde_json::json!(["-mode", "served"]));
    assert!(api["config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&"GREETING=Howdy".into()));
    assert_eq!(
        api["config"]["Entrypoint"],
        serde_json::json!(["/ko-app/api"])
    );
}

/// Both run under runc; web serves its kodata file.
fn step_both_run_under_runc(dir: &Path, refs: &[&str]) {
    let layouts = dir.join("layouts");
    for (name, reference) in [("web", refs[0]), ("api", refs[1])] {
        run_ok(
            skopeo("copy")
                .arg(format!("docker://{reference}"))
                .arg(format!("oci:{}:{name}", layouts.display())),
        );
    }
    let web_bundle = unpack(&layouts, "web", &dir.join("web-bundle"));
    let web = Container::start(&web_bundle, dir, free_port());
    let page = web.get("/");
    assert!(
        page.contains("Hello, web! (uid 65532) version=1.2.3 wd=/var/run/ko"),
        "{page}"
    );
    let file = web.get("/static/");
    assert!(file.contains("Served from kodata by cmd/web."), "{file}");
    let api_bundle = unpack(&layouts, "api", &dir.join("api-bundle"));
    let api = Container::start(&api_bundle, dir, free_port());
    let answer = api.get("/");
    assert!(
        answer.contains(r#""mode":"served""#) && answer.contains("Howdy, api!"),
        "{answer}"
    );
}

/// Nothing changed: no layer is built and no blob uploaded.
fn step_nothing_changed_nothing_is_built_or_uploaded(
    module: &Path,
    state: &Path,
    repo: &str,
    printed: &str,
) {
    let (again, stderr) = run_ok_with_stderr(
        rko_build(module, state)
            .env("KO_DOCKER_REPO", repo)
            .args(["./cmd/web", "./cmd/api"]),
    );
    assert_eq!(again, printed, "the same digests");
    assert!(
        stderr.contains("example.com/multi/cmd/web (linux/amd64): 0 layers built, 2 from cache"),
        "{stderr}"
    );
    assert!(
        // Every image has a kodata layer, as ko gives it: api's holds
        // /var/run/ko alone.
        stderr.contains("example.com/multi/cmd/api (linux/amd64): 0 layers built, 2 from cache"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("pushed 0 blobs").count(), 2, "{stderr}");
}

/// The index `rko build -B` wrote into `layout` for cmd/web, as skopeo
/// reads it (the layout's one image, unnamed, as ko writes it).
fn web_index(layout: &Path) -> serde_json::Value {
    json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("oci:{}", layout.display())),
    ))
}

/// The architecture of each image an index lists, in order.
fn architectures(index: &serde_json::Value) -> Vec<&str> {
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect()
}

#[test]
fn two_platforms_give_an_index_with_an_aarch64_binary() {
    let dir = temp_dir();
    let module = multi(dir.path());
    let layout = dir.path().join("layout");
    let (stdout, _) = run_ok_with_stderr(
        rko_build(&module, dir.path())
            .args([
                "./cmd/web",
                "--push=false",
                "--platform=linux/amd64,linux/arm64",
                "-B",
            ])
            .arg("--oci-layout-path")
            .arg(&layout)
            .arg("--image-refs")
            .arg(dir.path().join("refs")),
    );
    let index = web_index(&layout);
    assert_eq!(architectures(&index), ["amd64", "arm64"]);
    // --image-refs: the index, then each of its images (ko's recorder).
    let listed: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_string())
        .collect();
    let refs: Vec<String> = std::iter::once(layout_digest(&layout))
        .chain(listed)
        .map(|digest| format!("{}@{digest}\n", layout.display()))
        .collect();
    assert_eq!(
        fs::read_to_string(dir.path().join("refs")).unwrap(),
        refs.concat()
    );
    assert_eq!(
        stdout.trim(),
        format!("{}@{}", layout.display(), layout_digest(&layout)),
        "the layout, the last publisher, names the index (as ko prints it)"
    );
    // builtin:static is named as the base of each image; the index has no
    // base index to name, as `rko index` (Bazel's RkoIndex) makes it.
    assert!(
        index["annotations"]["org.opencontainers.image.base.name"].is_null(),
        "{index}"
    );
    for entry in index["manifests"].as_array().unwrap() {
        let hex = entry["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let image = read_json(&layout.join("blobs/sha256").join(hex));
        assert_eq!(
            image["annotations"]["org.opencontainers.image.base.name"], "builtin:static",
            "{image}"
        );
        assert!(
            image["annotations"]["org.opencontainers.image.base.digest"]
                .as_str()
                .is_some_and(|d| d.starts_with("sha256:")),
            "{image}"
        );
    }
    // The arm64 image's binary is an aarch64 ELF (e_machine 0xB7).
    let bundle = dir.path().join("arm");
    run_ok(
        skopeo("copy")
            .args(["--override-arch", "arm64"])
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("oci:{}:arm", bundle.display())),
    );
    let rootfs = unpack(&bundle, "arm", &dir.path().join("arm-bundle")).join("rootfs");
    let elf = fs::read(rootfs.join("ko-app/web")).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 0xB7, "EM_AARCH64");
}

/// What ko v0.19.1 prints with `--push=false` (its nopPublisher): the
/// first tag, `latest` too; with `--tag-only`, no digest.
#[test]
fn names_and_tags_follow_ko() {
    let dir = temp_dir();
    let module = multi(dir.path());
    let repo = "registry.example/team";
    let web = "example.com/multi/cmd/web";
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec![],
            format!("{repo}/web-{}:latest@sha256:", md5_name(web)),
        ),
        (vec!["-B"], format!("{repo}/web:latest@sha256:")),
        (vec!["-P"], format!("{repo}/{web}:latest@sha256:")),
        (vec!["--bare"], format!("{repo}:latest@sha256:")),
        (vec!["-B", "-t", "v1"], format!("{repo}/web:v1@sha256:")),
        (vec!["-B", "-t", "v1,v2"], format!("{repo}/web:v1@sha256:")),
        (
            vec!["-B", "-t", "v1", "-t", "v2"],
            format!("{repo}/web:v1@sha256:"),
        ),
        (vec!["-B", "--tags="], format!("{repo}/web@sha256:")),
        (vec!["-B", "--tag-only"], format!("{repo}/web:latest\n")),
        (
            vec!["-B", "-t", "v1", "--tag-only"],
            format!("{repo}/web:v1\n"),
        ),
    ];
    for (flags, want) in cases {
        let refs = dir.path().join("refs.txt");
        let (stdout, _) = run_ok_with_stderr(
            rko_build(&module, dir.path())
                .env("KO_DOCKER_REPO", repo)
                .args(["./cmd/web", "--push=false"])
                .args(&flags)
                .arg("--image-refs")
                .arg(&refs),
        );
        assert!(stdout.starts_with(&want), "{flags:?}: {stdout}");
        assert_eq!(
            fs::read_to_string(&refs).unwrap(),
            stdout,
            "--image-refs holds what was printed"
        );
    }
}

#[test]
fn the_same_module_in_two_places_gives_the_same_digests() {
    let a = temp_dir();
    let b = temp_dir();
    let build = |dir: &Path| {
        let module = multi(&dir.join("deeper/path"));
        let (stdout, _) = run_ok_with_stderr(
            rko_build(&module, dir)
                .env("KO_DOCKER_REPO", "registry.example/team")
                .env("SOURCE_DATE_EPOCH", "1700000000")
                .args([
                    "./cmd/web",
                    "./cmd/api",
                    "--push=false",
                    "--platform=linux/amd64,linux/arm64",
                ]),
        );
        stdout
    };
    fs::create_dir_all(a.path().join("deeper/path")).unwrap();
    fs::create_dir_all(b.path().join("deeper/path")).unwrap();
    let first = build(a.path());
    let second = build(b.path());
    assert_eq!(first, second);
    assert_eq!(first.lines().count(), 2);
}

#[test]
fn tarballs_layouts_and_the_local_daemon_are_destinations() {
    let dir = temp_dir();
    let module = multi(dir.path());

    // One platform: a docker-save tarball; several: an OCI archive. Both load.
    let one = dir.path().join("one.tar");
    run_ok_with_stderr(
        rko_build(&module, dir.path())
            .args(["./cmd/web", "--push=false", "-B", "-t", "one"])
            .arg("--tarball")
            .arg(&one),
    );
    let loaded = run_ok(podman(dir.path()).arg("load").arg("--input").arg(&one));
    assert!(loaded.contains("ko.local/web:one"), "{loaded}");
    let many = dir.path().join("many.tar");
    run_ok_with_stderr(
        rko_build(&module, dir.path())
            .args([
                "./cmd/web",
                "--push=false",
                "-B",
                "-t",
                "many",
                "--platform=linux/amd64,linux/arm64",
            ])
            .arg("--tarball")
            .arg(&many),
    );
    let loaded = run_ok(podman(dir.path()).arg("load").arg("--input").arg(&many));
    assert!(loaded.contains("ko.local/web:many"), "{loaded}");

    // -L loads into podman (docker has no daemon here); its storage is the test's own.
    let (_, stderr) = run_ok_with_stderr(
        with_podman_storage(&mut rko_build(&module, dir.path()), dir.path()).args([
            "./cmd/api",
            "-L",
            "-B",
        ]),
    );
    assert!(stderr.contains("loaded into"), "{stderr}");
    let images =
        run_ok(podman(dir.path()).args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(images.contains("ko.local/api:latest"), "{images}");

    // --push=false alone still computes the digest: that of the image
    // the same build writes to a layout.
    let (stdout, _) =
        run_ok_with_stderr(rko_build(&module, dir.path()).args(["./cmd/api", "--push=false"]));
    let layout = dir.path().join("api-layout");
    run_ok_with_stderr(
        rko_build(&module, dir.path())
            .args(["./cmd/api", "--push=false", "--oci-layout-path"])
            .arg(&layout),
    );
    let api = md5_name("example.com/multi/cmd/api");
    assert_eq!(
        stdout,
        format!("ko.local/api-{api}:latest@{}\n", manifest_digest(&layout))
    );
}

/// The digest of the one image (or index) in `layout`: the SHA-256 of its
/// manifest's bytes as skopeo reads them.
fn manifest_digest(layout: &Path) -> String {
    let raw = skopeo("inspect")
        .arg("--raw")
        .arg(format!("oci:{}", layout.display()))
        .output()
        .unwrap();
    assert!(raw.status.success(), "skopeo inspect {}", layout.display());
    sha256_digest(&raw.stdout)
}

fn build_err(module: &Path, state: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = rko_build(module, state);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let err = run_err(&mut cmd);
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    err
}

#[test]
fn mistakes_get_one_clear_line() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = multi(dir.path());
    // ko ignores a key it does not know (rko warns); a file that is not
    // there is an error in both.
    let missing = dir.path().join("missing.yaml");
    let bad_type = dir.path().join("bad-type.yaml");
    fs::write(
        &bad_type,
        "defaultBaseImage: builtin:static\ndefaultPlatforms: {a: b}\n",
    )
    .unwrap();
    let bad_template = dir.path().join("bad-template.yaml");
    fs::write(
        &bad_template,
        "defaultLdflags: ['-X main.version={{.Version}}']\n",
    )
    .unwrap();
    // A base image with only linux/amd64, asked for linux/arm64.
    let base = hello_image(dir.path(), "amd64");
    let base_ref = format!("{}/base:amd64", registry.host());
    run_ok(
        rko_in(&dir.path().join("docker"))
            .arg("push")
            .arg(&base)
            .arg(&base_ref),
    );
    let names_the_base = format!("base image {base_ref}:");

    let web = ["./cmd/web", "--push=false"];
    let on_arm64 = [
        &web[..],
        &["--platform=linux/arm64", "--base-image", &base_ref],
    ]
    .concat();
    let cases = [
        Mistake {
            args: &["./cmd/web"],
            env: &[],
            says: &["no destination: set KO_DOCKER_REPO"],
        },
        Mistake {
            args: &["./internal/greeting", "--push=false"],
            env: &[],
            says: &["is package greeting, not a main package"],
        },
        Mistake {
            args: &web,
            env: &[("KO_GO_PATH", "/nonexistent/go")],
            says: &["Go is not installed"],
        },
        Mistake {
            args: &web,
            env: &[("KO_CONFIG_PATH", missing.to_str().unwrap())],
            says: &["KO_CONFIG_PATH", "missing.yaml: No such file"],
        },
        Mistake {
            args: &web,
            env: &[("KO_CONFIG_PATH", bad_type.to_str().unwrap())],
            says: &["bad-type.yaml", "defaultPlatforms", "line 2"],
        },
        Mistake {
            args: &web,
            env: &[("KO_CONFIG_PATH", bad_template.to_str().unwrap())],
            says: &["bad template {{.Version}}", "defaultLdflags"],
        },
        Mistake {
            args: &on_arm64,
            env: &[],
            says: &[
                &names_the_base,
                "is an image for linux/amd64, not linux/arm64",
            ],
        },
    ];
    for Mistake { args, env, says } in cases {
        let err = build_err(&module, dir.path(), args, env);
        for needle in says {
            assert!(err.contains(needle), "{args:?} {env:?}: {err}");
        }
    }
}

/// `rko build ARGS` with `env` set, and what its one line of error says.
struct Mistake<'a> {
    args: &'a [&'a str],
    env: &'a [(&'a str, &'a str)],
    says: &'a [&'a str],
}

#[test]
fn a_registry_base_image_serves_all_its_platforms() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = multi(dir.path());
    let amd = hello_image(dir.path(), "amd64");
    let arm = hello_image(dir.path(), "arm64");
    let index = dir.path().join("base-index");
    crate::util::index(&[&amd, &arm], &index, &[]);
    let base = format!("{}/hello-base:1", registry.host());
    run_ok(
        rko_in(&dir.path().join("docker"))
            .arg("push")
            .arg(&index)
            .arg(&base),
    );

    let layout = dir.path().join("layout");
    let (stdout, stderr) = run_ok_with_stderr(
        rko_build(&module, dir.path())
            .env("KO_DEFAULTBASEIMAGE", &base)
            .args(["main.go", "--push=false", "--platform=all", "-B"])
            .current_dir(module.join("cmd/web"))
            .arg("--oci-layout-path")
            .arg(&layout),
    );
    // ko prints the layout when it is the only place written.
    assert!(
        stderr.contains("Saving ko://example.com/multi/cmd/web"),
        "a .go file names its package: {stderr}"
    );
    assert_eq!(
        stdout,
        format!("{}@{}\n", layout.display(), manifest_digest(&layout)),
        "the layout, the last publisher, is printed"
    );
    let index = web_index(&layout);
    assert_eq!(
        architectures(&index),
        ["amd64", "arm64"],
        "all: every platform of the base"
    );
    let arm_digest = index["manifests"][1]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let arm_manifest = read_json(&layout.join("blobs/sha256").join(arm_digest));
    assert_eq!(
        arm_manifest["annotations"]["org.opencontainers.image.base.name"],
        base.as_str()
    );
    assert_eq!(
        arm_manifest["layers"].as_array().unwrap().len(),
        5,
        "the base's three layers, then kodata and the binary (ko's order)"
    );
    assert_eq!(
        fs::read_dir(dir.path().join("cache/bases"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            // Each entry has its lock file beside it (tests/cache.rs).
            .filter(|name| !name.ends_with(".rko-lock"))
            .count(),
        1,
        "the base is cached by digest"
    );
}

/// ko v0.19.1 refuses a kodata symlink that leaves `kodata/`
/// (tests/parity's kodata-symlink-escapes proves it side by side);
/// `KO_DATA_PATH_ALLOWED_ROOT`, from later ko releases, widens where
/// links may point, when it holds `kodata/`.
#[test]
fn kodata_symlinks_stay_in_kodata_unless_ko_data_path_allowed_root_holds_them() {
    let dir = temp_dir();
    let module = dir.path().join("hello");
    copy_tree(&repo_root().join("examples/hello"), &module);
    std::os::unix::fs::symlink("../go.mod", module.join("kodata/go.mod")).unwrap();
    let state = dir.path().join("state");
    let err = build_err(&module, &state, &["--push=false"], &[]);
    assert!(
        err.contains("kodata/go.mod") && err.contains("outside the kodata root"),
        "{err}"
    );
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let err = build_err(
        &module,
        &state,
        &["--push=false"],
        &[("KO_DATA_PATH_ALLOWED_ROOT", elsewhere.to_str().unwrap())],
    );
    assert!(
        err.contains("outside the kodata root"),
        "a root not holding kodata/ is ignored: {err}"
    );
    let layout = dir.path().join("layout");
    run_ok(
        rko_build(&module, &state)
            .env("KO_DATA_PATH_ALLOWED_ROOT", &module)
            .args(["--push=false", "--oci-layout-path"])
            .arg(&layout),
    );
}
