//! ko's built-in keychains through the binary: a registry reached without
//! `docker login`. The real registry (htpasswd + TLS) answers under the name
//! of an ECR registry or of ghcr.io: that name resolves to 127.0.0.1 for rko
//! alone, run in its own mount namespace (`unshare`) with the test's
//! /etc/hosts bound over the machine's. The Google keychain cannot be shown
//! this way: ko matches `*.gcr.io` with the port, and the test registry is
//! not on 443; the metadata server's token is checked end to end through the
//! credential lookup instead (src/registry/keychain_gce.rs).

use crate::util::hosts::{hosts_file, with_hosts};
use crate::util::registry::{credential_helper, Auth, Registry, PASSWORD, USER};
use crate::util::*;
use std::fs;
use std::path::Path;
use std::process::Command;

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// `rko push IMAGE REFERENCE`, trusting the test CA.
fn push(config: &Path, image: &Path, reference: &str, ca: &Path) -> Command {
    let mut cmd = rko_in(config);
    cmd.arg("push")
        .arg(image)
        .arg(reference)
        .arg("--ca-cert")
        .arg(ca);
    cmd
}

// ko: pkg/commands/config.go (amazonKeychain, an ECR helper, in the
// chain); go-containerregistry pkg/authn/keychain.go NewKeychainFromHelper
// (the helper gets the registry, host:port); amazon-ecr-credential-helper
// ecr-login/api/client.go ExtractRegistry (ECR names, matched without the port).
#[test]
fn the_ecr_login_helper_on_path_logs_in_to_an_ecr_registry() {
    let registry = Registry::start_named(Auth::BasicTls, &[ECR]);
    let ca = registry.ca.clone().unwrap();
    let dir = temp_dir();
    let hosts = hosts_file(dir.path(), &[ECR]);
    let (bin, log) = (dir.path().join("bin"), dir.path().join("helper.log"));
    credential_helper(&bin, "ecr-login", &log);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let config = dir.path().join("docker");
    fs::create_dir_all(&config).unwrap();
    let image = hello_image(dir.path(), "amd64");
    let ecr = format!("{ECR}:{}", registry.port);

    // What is configured for the host wins, even when it is wrong.
    fs::write(
        config.join("config.json"),
        format!(r#"{{"auths": {{"{ecr}": {{"username": "{USER}", "password": "wrong"}}}}}}"#),
    )
    .unwrap();
    let err = run_err(&mut with_hosts(
        push(&config, &image, &format!("{ecr}/app:v1"), &ca).env("PATH", &path),
        &hosts,
    ));
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(
        !log.exists(),
        "the helper was asked although the host is configured"
    );

    // Nothing configured: the helper on PATH logs rko in.
    fs::remove_file(config.join("config.json")).unwrap();
    let pushed = run_ok(&mut with_hosts(
        push(&config, &image, &format!("{ecr}/app:v1"), &ca).env("PATH", &path),
        &hosts,
    ));
    assert_eq!(pushed_digest(&pushed), layout_digest(&image), "{pushed}");
    let asked = fs::read_to_string(&log).unwrap();
    assert!(
        !asked.is_empty() && asked.lines().all(|line| line == format!("get {ecr}")),
        "{asked}"
    );
    let inspected = json(&run_ok(
        skopeo("inspect")
            .arg(format!("--creds={USER}:{PASSWORD}"))
            .arg(format!("docker://{}/app:v1", registry.host())),
    ));
    assert_eq!(inspected["Digest"], layout_digest(&image));

    // The helper is for ECR hosts only: the same registry under its
    // loopback address gets nothing from it.
    let err = run_err(
        push(&config, &image, &format!("{}/app:v2", registry.host()), &ca).env("PATH", &path),
    );
    assert!(err.contains("HTTP 401"), "{err}");
    assert_eq!(fs::read_to_string(&log).unwrap(), asked);
}

// ko: pkg/commands/config.go (github.Keychain in the chain);
// go-containerregistry pkg/authn/github/keychain.go githubKeychain.Resolve
// (ghcr.io by host name, GITHUB_TOKEN as password, GITHUB_ACTOR as user).
#[test]
fn github_token_logs_in_to_ghcr_io_for_rko_build() {
    let registry = Registry::start_named(Auth::BasicTls, &["ghcr.io"]);
    let ca = registry.ca.clone().unwrap();
    let dir = temp_dir();
    let hosts = hosts_file(dir.path(), &["ghcr.io"]);
    let module = dir.path().join("hello");
    copy_tree(&repo_root().join("examples/hello"), &module);
    let repo = format!("ghcr.io:{}/team", registry.port);
    let build = |token: &str| {
        let mut cmd = porcelain(&dir.path().join("state"));
        cmd.current_dir(&module)
            .args(["build", "--bare", "--ca-cert"])
            .arg(&ca)
            .arg(".")
            .env("KO_DOCKER_REPO", &repo)
            .env("GITHUB_ACTOR", USER)
            .env("GITHUB_TOKEN", token);
        with_hosts(&cmd, &hosts)
    };

    let err = run_err(&mut build("not-the-token"));
    assert!(err.contains("HTTP 401"), "{err}");
    let printed = run_ok(&mut build(PASSWORD));
    assert!(printed.starts_with(&format!("{repo}@sha256:")), "{printed}");
    let inspected = json(&run_ok(
        skopeo("inspect")
            .arg(format!("--creds={USER}:{PASSWORD}"))
            .arg(format!("docker://{}/team:latest", registry.host())),
    ));
    assert_eq!(inspected["Digest"], pushed_digest(&printed));
}
