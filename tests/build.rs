//! `rko build`, the ko-compatible porcelain: examples/multi built with its
//! `.ko.yaml`, pushed to a real registry, run under runc; naming, platforms,
//! destinations, the cache, reproducibility and the errors.

mod common;

use common::registry::{Auth, Registry};
use common::runc::{unpack, Container};
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A copy of examples/multi (its .ko.yaml included) in a fresh directory.
fn multi(dir: &Path) -> PathBuf {
    let target = dir.join("multi");
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(repo_root().join("examples/multi"))
            .arg(&target),
    );
    target
}

/// `rko build` in `module` with its own cache and no host credentials.
fn rko_build(module: &Path, cache: &Path) -> Command {
    let go = require("go");
    let mut cmd = rko();
    cmd.current_dir(module)
        .arg("build")
        .env("KOCACHE", cache)
        .env("KO_GO_PATH", &go)
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env(
            "GOCACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        )
        .env("DOCKER_CONFIG", cache.join("docker"))
        .env("VERSION", "1.2.3")
        .env_remove("KO_DOCKER_REPO")
        .env_remove("KO_DEFAULTPLATFORMS")
        .env_remove("KO_DEFAULTBASEIMAGE")
        .env_remove("KO_CONFIG_PATH")
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn output(cmd: &mut Command) -> (String, String) {
    let out: Output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?} failed\n{stderr}");
    (stdout, stderr)
}

fn md5_name(import_path: &str) -> String {
    let out = run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s '{import_path}' | md5sum")),
    );
    out.split_whitespace().next().unwrap().to_string()
}

fn skopeo_config(image: &str) -> serde_json::Value {
    json(&run_ok(
        Command::new(require("skopeo"))
            .args(["inspect", "--tls-verify=false", "--config"])
            .arg(image),
    ))
}

#[test]
fn the_example_module_builds_pushes_and_runs_with_its_ko_yaml() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = multi(dir.path());
    let cache = dir.path().join("cache");
    let repo = format!("{}/multi", registry.host());
    let (stdout, stderr) = output(
        rko_build(&module, &cache)
            .env("KO_DOCKER_REPO", &repo)
            .args(["./cmd/web", "ko://example.com/multi/cmd/api"]),
    );
    let refs: Vec<&str> = stdout.lines().collect();
    assert_eq!(refs.len(), 2, "{stdout}");
    let web_name = format!("{repo}/web-{}", md5_name("example.com/multi/cmd/web"));
    let api_name = format!("{repo}/api-{}", md5_name("example.com/multi/cmd/api"));
    assert!(
        refs[0].starts_with(&format!("{web_name}@sha256:")),
        "{stdout}"
    );
    assert!(
        refs[1].starts_with(&format!("{api_name}@sha256:")),
        "{stdout}"
    );
    assert!(stderr.contains("pushed"), "{stderr}");

    // .ko.yaml's image settings, defaultImage merged under each build's.
    let web = skopeo_config(&format!("docker://{}", refs[0]));
    assert_eq!(web["config"]["User"], "65532");
    assert_eq!(web["config"]["WorkingDir"], "/var/run/ko");
    assert_eq!(web["config"]["Labels"]["example.com/component"], "web");
    assert_eq!(
        web["config"]["Labels"]["org.opencontainers.image.version"], "1.2.3",
        "templates render"
    );
    let api = skopeo_config(&format!("docker://{}", refs[1]));
    assert_eq!(api["config"]["Cmd"], serde_json::json!(["-mode", "served"]));
    assert!(api["config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&"GREETING=Howdy".into()));
    assert_eq!(
        api["config"]["Entrypoint"],
        serde_json::json!(["/ko-app/api"])
    );

    // Both run under runc; web serves its kodata file.
    let layouts = dir.path().join("layouts");
    for (name, reference) in [("web", refs[0]), ("api", refs[1])] {
        run_ok(
            Command::new(require("skopeo"))
                .args(["copy", "--src-tls-verify=false"])
                .arg(format!("docker://{reference}"))
                .arg(format!("oci:{}:{name}", layouts.display())),
        );
    }
    let web_bundle = unpack(&layouts, "web", &dir.path().join("web-bundle"));
    let web = Container::start(&web_bundle, dir.path(), common::registry::free_port());
    let page = web.get("/");
    assert!(
        page.contains("Hello, web! (uid 65532) version=1.2.3 wd=/var/run/ko"),
        "{page}"
    );
    let file = web.get("/static/");
    assert!(file.contains("Served from kodata by cmd/web."), "{file}");
    let api_bundle = unpack(&layouts, "api", &dir.path().join("api-bundle"));
    let api = Container::start(&api_bundle, dir.path(), common::registry::free_port());
    let answer = api.get("/");
    assert!(
        answer.contains(r#""mode":"served""#) && answer.contains("Howdy, api!"),
        "{answer}"
    );

    // Nothing changed: no layer is built and no blob uploaded.
    let (again, stderr) = output(
        rko_build(&module, &cache)
            .env("KO_DOCKER_REPO", &repo)
            .args(["./cmd/web", "./cmd/api"]),
    );
    assert_eq!(again, stdout, "the same digests");
    assert!(
        stderr.contains("example.com/multi/cmd/web (linux/amd64): 0 layers built, 2 from cache"),
        "{stderr}"
    );
    assert!(
        stderr.contains("example.com/multi/cmd/api (linux/amd64): 0 layers built, 1 from cache"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("pushed 0 blobs").count(), 2, "{stderr}");
}

#[test]
fn two_platforms_give_an_index_with_an_aarch64_binary() {
    let dir = temp_dir();
    let module = multi(dir.path());
    let cache = dir.path().join("cache");
    let layout = dir.path().join("layout");
    let (stdout, _) = output(
        rko_build(&module, &cache)
            .args([
                "./cmd/web",
                "--push=false",
                "--platform=linux/amd64,linux/arm64",
                "-B",
            ])
            .arg("--oci-layout-path")
            .arg(&layout),
    );
    let index = json(&run_ok(
        Command::new(require("skopeo"))
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:ko.local/web:latest", layout.display())),
    ));
    let arches: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    assert!(
        stdout.trim().ends_with(index_digest(&layout).as_str()) || stdout.contains("@sha256:"),
        "{stdout}"
    );
    // The arm64 image's binary is an aarch64 ELF (e_machine 0xB7).
    let bundle = dir.path().join("arm");
    run_ok(
        Command::new(require("skopeo"))
            .args(["copy", "--override-arch", "arm64"])
            .arg(format!("oci:{}:ko.local/web:latest", layout.display()))
            .arg(format!("oci:{}:arm", bundle.display())),
    );
    let rootfs = unpack(&bundle, "arm", &dir.path().join("arm-bundle")).join("rootfs");
    let elf = fs::read(rootfs.join("ko-app/web")).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), 0xB7, "EM_AARCH64");
}

fn index_digest(layout: &Path) -> String {
    let index = json(&fs::read_to_string(layout.join("index.json")).unwrap());
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn names_and_tags_follow_ko() {
    let dir = temp_dir();
    let module = multi(dir.path());
    let cache = dir.path().join("cache");
    let repo = "registry.example/team";
    let web = "example.com/multi/cmd/web";
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec![], format!("{repo}/web-{}@sha256:", md5_name(web))),
        (vec!["-B"], format!("{repo}/web@sha256:")),
        (vec!["-P"], format!("{repo}/{web}@sha256:")),
        (vec!["--bare"], format!("{repo}@sha256:")),
        (vec!["-B", "-t", "v1"], format!("{repo}/web:v1@sha256:")),
        (vec!["-B", "-t", "v1,v2"], format!("{repo}/web@sha256:")),
        (
            vec!["-B", "-t", "v1", "--tag-only"],
            format!("{repo}/web:v1\n"),
        ),
    ];
    for (flags, want) in cases {
        let refs = dir.path().join("refs.txt");
        let (stdout, _) = output(
            rko_build(&module, &cache)
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
        let (stdout, _) = output(
            rko_build(&module, &dir.join("cache"))
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
    let cache = dir.path().join("cache");

    // One platform: a docker-save tarball; several: an OCI archive. Both load.
    let one = dir.path().join("one.tar");
    output(
        rko_build(&module, &cache)
            .args(["./cmd/web", "--push=false", "-B", "-t", "one"])
            .arg("--tarball")
            .arg(&one),
    );
    let loaded = run_ok(podman(dir.path()).arg("load").arg("--input").arg(&one));
    assert!(loaded.contains("ko.local/web:one"), "{loaded}");
    let many = dir.path().join("many.tar");
    output(
        rko_build(&module, &cache)
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
    let storage_conf = dir.path().join("storage.conf");
    fs::write(
        &storage_conf,
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            dir.path().join("storage").display(),
            dir.path().join("run").display()
        ),
    )
    .unwrap();
    let (_, stderr) = output(
        rko_build(&module, &cache)
            .env("CONTAINERS_STORAGE_CONF", &storage_conf)
            .args(["./cmd/api", "-L", "-B"]),
    );
    assert!(stderr.contains("loaded into"), "{stderr}");
    let images =
        run_ok(podman(dir.path()).args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    assert!(images.contains("ko.local/api:latest"), "{images}");

    // --push=false alone still computes the digest.
    let (stdout, _) = output(rko_build(&module, &cache).args(["./cmd/api", "--push=false"]));
    assert!(stdout.contains("@sha256:"), "{stdout}");
}

fn build_err(module: &Path, cache: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = rko_build(module, cache);
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
    let cache = dir.path().join("cache");
    let err = build_err(&module, &cache, &["./cmd/web"], &[]);
    assert!(err.contains("no destination: set KO_DOCKER_REPO"), "{err}");
    let err = build_err(
        &module,
        &cache,
        &["./internal/greeting", "--push=false"],
        &[],
    );
    assert!(
        err.contains("is package greeting, not a main package"),
        "{err}"
    );
    let err = build_err(
        &module,
        &cache,
        &["./cmd/web", "--push=false"],
        &[("KO_GO_PATH", "/nonexistent/go")],
    );
    assert!(err.contains("Go is not installed"), "{err}");

    let bad_key = dir.path().join("bad-key.yaml");
    fs::write(
        &bad_key,
        "defaultBaseImage: builtin:static\ndefaultPlatform: [linux/amd64]\n",
    )
    .unwrap();
    let err = build_err(
        &module,
        &cache,
        &["./cmd/web", "--push=false"],
        &[("KO_CONFIG_PATH", bad_key.to_str().unwrap())],
    );
    assert!(err.contains("unknown field `defaultPlatform`"), "{err}");
    let bad_template = dir.path().join("bad-template.yaml");
    fs::write(
        &bad_template,
        "defaultLdflags: ['-X main.version={{.Version}}']\n",
    )
    .unwrap();
    let err = build_err(
        &module,
        &cache,
        &["./cmd/web", "--push=false"],
        &[("KO_CONFIG_PATH", bad_template.to_str().unwrap())],
    );
    assert!(
        err.contains("bad template {{.Version}}") && err.contains("defaultLdflags"),
        "{err}"
    );

    // A base image with only linux/amd64, asked for linux/arm64.
    let base = hello_image(dir.path(), "amd64");
    run_ok(
        rko()
            .env("DOCKER_CONFIG", cache.join("docker"))
            .arg("push")
            .arg(&base)
            .arg(format!("{}/base:amd64", registry.host())),
    );
    let base_ref = format!("{}/base:amd64", registry.host());
    let err = build_err(
        &module,
        &cache,
        &[
            "./cmd/web",
            "--push=false",
            "--platform=linux/arm64",
            "--base-image",
            &base_ref,
        ],
        &[],
    );
    assert!(
        err.contains(&format!("base image {base_ref}:"))
            && err.contains("is an image for linux/amd64, not linux/arm64"),
        "{err}"
    );
}

#[test]
fn a_registry_base_image_serves_all_its_platforms() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = multi(dir.path());
    let cache = dir.path().join("cache");
    let amd = hello_image(dir.path(), "amd64");
    let arm = hello_image(dir.path(), "arm64");
    let index = dir.path().join("base-index");
    common::index(&[&amd, &arm], &index, &[]);
    let base = format!("{}/hello-base:1", registry.host());
    run_ok(
        rko()
            .env("DOCKER_CONFIG", cache.join("docker"))
            .arg("push")
            .arg(&index)
            .arg(&base),
    );

    let layout = dir.path().join("layout");
    let (stdout, _) = output(
        rko_build(&module, &cache)
            .env("KO_DEFAULTBASEIMAGE", &base)
            .args(["main.go", "--push=false", "--platform=all", "-B"])
            .current_dir(module.join("cmd/web"))
            .arg("--oci-layout-path")
            .arg(&layout),
    );
    assert!(
        stdout.starts_with("ko.local/web@sha256:"),
        "a .go file names its package: {stdout}"
    );
    let raw = json(&run_ok(
        Command::new(require("skopeo"))
            .args(["inspect", "--raw"])
            .arg(format!("oci:{}:ko.local/web:latest", layout.display())),
    ));
    let arches: Vec<&str> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(
        arches,
        ["amd64", "arm64"],
        "all: every platform of the base"
    );
    let arm_digest = raw["manifests"][1]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let config = json(&fs::read_to_string(layout.join("blobs/sha256").join(arm_digest)).unwrap());
    assert_eq!(
        config["annotations"]["org.opencontainers.image.base.name"],
        base.as_str()
    );
    assert_eq!(
        config["layers"].as_array().unwrap().len(),
        5,
        "the base's three layers, then the binary and kodata"
    );
    assert_eq!(
        fs::read_dir(cache.join("bases")).unwrap().count(),
        1,
        "the base is cached by digest"
    );
}
