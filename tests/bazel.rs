//! The Bazel rules and the Makefile: the example workspace builds offline
//! from a fresh output base; Bazel, Make and `rko build` give the same
//! digest; a second workspace at another path gets every rko action from a
//! remote cache (nginx + WebDAV), which proves them hermetic; a Go change
//! re-runs only the actions downstream of the binary; `bazel run` pushes.

mod common;

use common::registry::{free_port, Auth, Registry};
use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// What of the rko repository a workspace needs, copied so the test can edit it.
fn copy_rko_repo(to: &Path) {
    fs::create_dir_all(to.join("examples")).unwrap();
    for item in ["rules", "WORKSPACE", "BUILD.bazel", "MODULE.bazel"] {
        run_ok(
            Command::new("cp")
                .arg("-r")
                .arg(repo_root().join(item))
                .arg(to),
        );
    }
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(repo_root().join("examples/hello"))
            .arg(to.join("examples")),
    );
}

/// examples/bazel copied to `to`, its `@rko` pointing at `rko_repo`.
fn copy_workspace(to: &Path, rko_repo: &Path) {
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(repo_root().join("examples/bazel"))
            .arg(to),
    );
    let workspace = to.join("WORKSPACE");
    let text = fs::read_to_string(&workspace).unwrap();
    fs::write(
        &workspace,
        text.replace(
            "path = \"../..\",",
            &format!("path = \"{}\",", rko_repo.display()),
        ),
    )
    .unwrap();
}

fn gocache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache")
}

fn bazel(workspace: &Path, output_root: &Path) -> Command {
    let mut cmd = Command::new(require("bazel"));
    cmd.current_dir(workspace)
        .args(["--nosystem_rc", "--nohome_rc", "--max_idle_secs=30"])
        .arg(format!("--output_user_root={}", output_root.display()))
        .env("GOCACHE", gocache())
        .env("RKO_BINARY", env!("CARGO_BIN_EXE_rko"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                require("go").parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
    cmd
}

/// The spawns in a Bazel execution log (a stream of JSON objects).
fn spawns(log: &Path) -> Vec<Value> {
    let text = fs::read_to_string(log).unwrap();
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .map(|v| v.unwrap())
        .collect()
}

fn outputs(spawn: &Value) -> String {
    spawn["actualOutputs"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|x| x["path"].as_str().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The digest in `REPO@sha256:…`.
fn digest_of_push(printed: &str) -> String {
    printed.trim().rsplit('@').next().unwrap().to_string()
}

/// nginx serving a WebDAV directory, as Bazel's HTTP remote cache.
struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its workers too.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn start_nginx(dir: &Path) -> Nginx {
    let nginx = require("nginx");
    let port = free_port();
    for sub in ["cache", "logs", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let config = dir.join("nginx.conf");
    fs::write(
        &config,
        format!(
            "user root;\ndaemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\nevents {{}}\nhttp {{\n  access_log {d}/logs/access.log;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n  server {{\n    listen 127.0.0.1:{port};\n    root {d}/cache;\n    client_max_body_size 0;\n    location / {{\n      dav_methods PUT DELETE;\n      create_full_put_path on;\n      dav_access user:rw group:rw all:r;\n    }}\n  }}\n}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&config)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nginx did not start: {}",
            fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Nginx { child, port }
}

#[test]
fn bazel_make_and_rko_build_agree_and_bazel_caches_every_rko_action() {
    let dir = temp_dir();
    let d = dir.path();
    let rko_repo = d.join("rko");
    copy_rko_repo(&rko_repo);
    let first = d.join("first/ws");
    fs::create_dir_all(first.parent().unwrap()).unwrap();
    copy_workspace(&first, &rko_repo);
    let nginx = start_nginx(&d.join("nginx"));
    let remote = format!("--remote_cache=http://127.0.0.1:{}", nginx.port);

    // A fresh output base, offline: everything builds, and fills the remote cache.
    let first_root = d.join("bazel-root-1");
    run_ok(bazel(&first, &first_root).args(["build", "//...", &remote]));
    let bazel_digest = fs::read_to_string(first.join("bazel-bin/image_amd64.digest")).unwrap();
    let index_digest = fs::read_to_string(first.join("bazel-bin/image.digest")).unwrap();
    let deploy = fs::read_to_string(first.join("bazel-bin/deploy.yaml")).unwrap();
    assert!(
        deploy.contains(&format!("registry.example.com/team/hello@{index_digest}")),
        "{deploy}"
    );
    assert!(fs::read_to_string(first.join("bazel-bin/sbom.spdx.json"))
        .unwrap()
        .contains("example.com/hello"));

    // Make and rko build, from the same sources and SOURCE_DATE_EPOCH, agree.
    let make_out = d.join("make-out");
    run_ok(
        Command::new("make")
            .current_dir(repo_root().join("examples/make"))
            .arg(format!("RKO={}", env!("CARGO_BIN_EXE_rko")))
            .arg(format!("GO={}", require("go").display()))
            .arg(format!("OUT={}", make_out.display()))
            .arg("SOURCE_DATE_EPOCH=1700000000")
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
        rko()
            .current_dir(rko_repo.join("examples/hello"))
            .args(["build", "--push=false", "--sbom=none"])
            .env("KOCACHE", d.join("kocache"))
            .env("KO_GO_PATH", require("go"))
            .env("GOCACHE", gocache())
            .env("GOFLAGS", "-buildvcs=false")
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env_remove("KO_DOCKER_REPO"),
    );
    assert!(
        built.trim().ends_with(&format!("@{bazel_digest}")),
        "rko build {built} and bazel {bazel_digest}"
    );
    // `make` again does nothing.
    let again = run_ok(
        Command::new("make")
            .current_dir(repo_root().join("examples/make"))
            .arg(format!("RKO={}", env!("CARGO_BIN_EXE_rko")))
            .arg(format!("OUT={}", make_out.display()))
            .arg("SOURCE_DATE_EPOCH=1700000000"),
    );
    assert!(again.contains("Nothing to be done"), "{again}");
    // Touching the Go source re-runs go build, the binary layer and append (and push), not kodata.
    let copy_out = d.join("make-copy-out");
    let make_copy = |extra: &[&str]| {
        let mut cmd = Command::new("make");
        cmd.current_dir(repo_root().join("examples/make"))
            .arg(format!("RKO={}", env!("CARGO_BIN_EXE_rko")))
            .arg(format!("GO={}", require("go").display()))
            .arg(format!("OUT={}", copy_out.display()))
            .arg(format!(
                "HELLO={}",
                rko_repo.join("examples/hello").display()
            ))
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
            && plan.contains("--file")
            && plan.contains(" append ")
            && plan.contains(" push "),
        "{plan}"
    );
    assert!(
        !plan.contains("--tree"),
        "the kodata layer would run again: {plan}"
    );

    // A copy of the workspace elsewhere, a fresh output base: every rko action is a remote cache hit.
    let second = d.join("elsewhere/deeper/ws");
    fs::create_dir_all(second.parent().unwrap()).unwrap();
    copy_workspace(&second, &rko_repo);
    let second_root = d.join("bazel-root-2");
    let log = d.join("second.json");
    run_ok(
        bazel(&second, &second_root)
            .args(["build", "//...", &remote])
            .arg(format!("--execution_log_json_file={}", log.display())),
    );
    let rko_spawns: Vec<Value> = spawns(&log)
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
    assert_eq!(
        fs::read_to_string(second.join("bazel-bin/image_amd64.digest")).unwrap(),
        bazel_digest
    );

    // A Go change re-runs the binary's descendants only: never the kodata layer.
    let main_go = rko_repo.join("examples/hello/main.go");
    let source = fs::read_to_string(&main_go).unwrap();
    fs::write(
        &main_go,
        source.replace("Hello from rko!", "Hello again from rko!"),
    )
    .unwrap();
    let log = d.join("change.json");
    run_ok(
        bazel(&first, &first_root)
            .args(["build", "//..."])
            .arg(format!("--execution_log_json_file={}", log.display())),
    );
    let ran: Vec<(String, String)> = spawns(&log)
        .iter()
        .map(|s| (s["mnemonic"].as_str().unwrap_or("").to_string(), outputs(s)))
        .collect();
    let mnemonics: std::collections::BTreeSet<&str> = ran.iter().map(|(m, _)| m.as_str()).collect();
    for want in [
        "Genrule",
        "RkoLayer",
        "RkoAppend",
        "RkoIndex",
        "RkoSbom",
        "RkoResolve",
    ] {
        assert!(mnemonics.contains(want), "{want} did not run: {ran:?}");
    }
    assert!(
        ran.iter()
            .all(|(m, o)| m != "RkoLayer" || !o.contains("kodata")),
        "the kodata layer ran again: {ran:?}"
    );
    assert!(
        ran.iter().filter(|(m, _)| m == "RkoLayer").count() == 2,
        "one binary layer per platform: {ran:?}"
    );
    assert_ne!(
        fs::read_to_string(first.join("bazel-bin/image_amd64.digest")).unwrap(),
        bazel_digest
    );

    // bazel run pushes the index; skopeo reads it.
    let registry = Registry::start(Auth::None);
    let repository = format!("{}/hello", registry.host());
    run_ok(
        bazel(&first, &first_root)
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
        Command::new(require("skopeo"))
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{repository}:v1")),
    ));
    assert_eq!(pushed["manifests"].as_array().unwrap().len(), 2);

    // A base image pinned by digest, pulled shallow by rko_base_image; its
    // layers are mounted from the registry when the image is pushed there.
    let base = hello_image(d, "amd64");
    let base_ref = format!("{}/base", registry.host());
    let base_digest = digest_of_push(&run_ok(
        rko()
            .env("DOCKER_CONFIG", d.join("docker"))
            .arg("push")
            .arg(&base)
            .arg(format!("{base_ref}:1")),
    ));
    let workspace = first.join("WORKSPACE");
    let mut text = fs::read_to_string(&workspace).unwrap();
    text.push_str(&format!(
        "\nload(\"@rko//rules:repositories.bzl\", \"rko_base_image\")\n\nrko_base_image(\n    name = \"hello_base\",\n    reference = \"{base_ref}\",\n    digest = \"{base_digest}\",\n)\n"
    ));
    fs::write(&workspace, text).unwrap();
    let build = first.join("BUILD.bazel");
    let mut text = fs::read_to_string(&build).unwrap();
    text.push_str(&format!(
        "\nko_image(\n    name = \"on_base\",\n    base = \"@hello_base//:layout\",\n    base_name = \"{base_ref}\",\n    binary = \":hello_amd64\",\n    created = CREATED,\n)\n\nko_push(\n    name = \"push_on_base\",\n    image = \":on_base\",\n    repository = \"{base_ref}\",\n    tags = [\"app\"],\n)\n"
    ));
    fs::write(&build, text).unwrap();
    let out = bazel(&first, &first_root)
        .args(["run", "//:push_on_base"])
        .env("DOCKER_CONFIG", d.join("docker"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("pushed 2 blobs, mounted 0, copied 0, 3 already there"),
        "the base's layers were already in the repository: {stderr}"
    );
    let on_base = json(&run_ok(
        Command::new(require("skopeo"))
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{base_ref}:app")),
    ));
    assert_eq!(
        on_base["layers"].as_array().unwrap().len(),
        4,
        "three base layers and the binary"
    );
    assert_eq!(
        on_base["annotations"]["org.opencontainers.image.base.digest"],
        base_digest.as_str()
    );

    for (ws, root) in [(&first, &first_root), (&second, &second_root)] {
        let _ = bazel(ws, root).arg("shutdown").output();
    }
}
