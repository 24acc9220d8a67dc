//! Pull, push and login against the real distribution registry: anonymous,
//! Basic over TLS, Bearer tokens, a credential helper, and a proxy that
//! injects the faults real registries throw.

use crate::util::registry::{
    free_port, helped, Auth, Fault, FaultProxy, Registry, Rule, PASSWORD, USER,
};
use crate::util::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `rko pull REFERENCE FLAGS --out OUT` with its own Docker config.
fn pull(config: &Path, reference: &str, flags: &[&str], out: &Path) -> Command {
    let mut cmd = rko_in(config);
    cmd.arg("pull")
        .arg(reference)
        .args(flags)
        .arg("--out")
        .arg(out);
    cmd
}

/// A small image with a layer bigger than an upload chunk (> 8 MiB);
/// its layer is `dir/big.tar.gz`.
fn big_image(dir: &Path) -> PathBuf {
    image_with_file(dir, "big", &noise(11, 12 << 20), "/data/big.bin")
}

#[test]
fn anonymous_push_of_an_image_and_an_index_reads_back_with_skopeo() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let image = hello_image(dir.path(), "amd64");
    let arm = hello_image(dir.path(), "arm64");
    let index = dir.path().join("index");
    crate::util::index(&[&image, &arm], &index, &[]);
    let host = registry.host();

    let pushed = run_ok(
        rko_in(&config)
            .arg("push")
            .arg(&image)
            .arg(format!("{host}/hello:v1"))
            .args(["--tag", "stable"]),
    );
    assert_eq!(
        pushed.trim(),
        format!("{host}/hello@{}", layout_digest(&image))
    );
    let info = json(&run_ok(
        skopeo("inspect").arg(format!("docker://{host}/hello:stable")),
    ));
    assert_eq!(info["Digest"], layout_digest(&image).as_str());

    let pushed = run_ok(
        rko_in(&config)
            .arg("push")
            .arg(&index)
            .arg(format!("{host}/hello-multi:v1")),
    );
    assert_eq!(pushed_digest(&pushed), layout_digest(&index));
    let raw = json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{host}/hello-multi:v1")),
    ));
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);
    // skopeo copies the whole index back out with the same digest.
    let copied = dir.path().join("copied");
    run_ok(
        skopeo("copy")
            .args(["--all", "--preserve-digests"])
            .arg(format!("docker://{host}/hello-multi:v1"))
            .arg(format!("oci:{}:v1", copied.display())),
    );
    assert_eq!(layout_digest(&copied), layout_digest(&index));

    // What skopeo pushes, rko pulls with the same digest, and it runs as a base.
    run_ok(
        skopeo("copy")
            .arg(format!("oci:{}:latest", image.display()))
            .arg(format!("docker://{host}/from-skopeo:1")),
    );
    let pulled = dir.path().join("pulled");
    let out = run_ok(&mut pull(
        &config,
        &format!("{host}/from-skopeo:1"),
        &[],
        &pulled,
    ));
    assert_eq!(pushed_digest(&out), layout_digest(&pulled));
    let skopeo_digest = json(&run_ok(
        skopeo("inspect").arg(format!("docker://{host}/from-skopeo:1")),
    ))["Digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(layout_digest(&pulled), skopeo_digest);
    run_ok(skopeo("inspect").arg(format!("oci:{}:1", pulled.display())));
}

#[test]
fn pull_narrows_an_index_to_the_asked_platforms_and_shallow_bases_push_by_mount() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let amd = hello_image(dir.path(), "amd64");
    let arm = hello_image(dir.path(), "arm64");
    let index = dir.path().join("index");
    crate::util::index(&[&amd, &arm], &index, &[]);
    let host = registry.host();
    let base = format!("{host}/base:1");
    run_ok(rko_in(&config).arg("push").arg(&index).arg(&base));
    step_pull_keeps_only_the_asked_platforms(dir.path(), &config, &base, &index, &arm);
    step_a_shallow_base_is_pushed_by_mount(dir.path(), &config, &base, &host);
}

/// No platform: the index itself; one: that image; one it lacks: an error
/// listing what it has.
fn step_pull_keeps_only_the_asked_platforms(
    dir: &Path,
    config: &Path,
    base: &str,
    index: &Path,
    arm: &Path,
) {
    let full = dir.join("full");
    run_ok(&mut pull(config, base, &[], &full));
    assert_eq!(
        layout_digest(&full),
        layout_digest(index),
        "all platforms: the index itself"
    );
    let one = dir.join("one");
    run_ok(&mut pull(
        config,
        base,
        &["--platform", "linux/arm64"],
        &one,
    ));
    assert_eq!(
        layout_digest(&one),
        layout_digest(arm),
        "one platform: that image"
    );
    let err = run_err(&mut pull(
        config,
        base,
        &["--platform", "linux/s390x"],
        &dir.join("none"),
    ));
    assert!(
        err.contains("has no image for platform linux/s390x (it has: linux/amd64, linux/arm64)"),
        "{err}"
    );
}

/// A shallow base: no layers on disk, yet append and push work.
fn step_a_shallow_base_is_pushed_by_mount(dir: &Path, config: &Path, base: &str, host: &str) {
    let shallow = dir.join("shallow");
    run_ok(&mut pull(
        config,
        base,
        &["--platform", "linux/amd64", "--shallow"],
        &shallow,
    ));
    let blobs = fs::read_dir(shallow.join("blobs/sha256")).unwrap().count();
    assert_eq!(
        blobs, 2,
        "a shallow pull holds the manifest and config only"
    );
    let app_file = dir.join("app.txt");
    fs::write(&app_file, "app").unwrap();
    let app = layer(
        dir,
        "app",
        &[&format!("--file={}=/app.txt", app_file.display())],
    );
    let image = dir.join("on-shallow");
    run_ok(
        rko()
            .arg("append")
            .arg(format!("--base={}", shallow.display()))
            .arg(format!("--layer={}", layer_arg(&app)))
            .arg("--out")
            .arg(&image),
    );
    let (_, stderr) = run_ok_with_stderr(
        rko_in(config)
            .arg("push")
            .arg(&image)
            .arg(format!("{host}/app:1")),
    );
    assert!(
        stderr.contains("pushed 2 blobs, mounted 3"),
        "the base's three layers are mounted, not uploaded: {stderr}"
    );
    run_ok(
        skopeo("copy")
            .arg(format!("docker://{host}/app:1"))
            .arg(format!("oci:{}:x", dir.join("check").display())),
    );
}

#[test]
fn basic_auth_over_tls_with_login_a_ca_and_the_podman_auth_file() {
    let registry = Registry::start(Auth::BasicTls);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let ca = registry.ca.clone().unwrap();
    let host = registry.host();
    let image = hello_image(dir.path(), "amd64");
    step_anonymous_is_refused_with_advice(&config, &image, &host, &ca);
    step_login_saves_the_right_password_only(&config, &host, &ca);
    step_trust_comes_from_certs_d_or_not_at_all(dir.path(), &config, &image, &host, &ca);
    step_podmans_auth_file_alone_is_enough(dir.path(), &config, &image, &host, &ca);
    let out = run_ok(rko_in(&config).args(["logout", &host]));
    assert!(out.contains("Removing login credentials"), "{out}");
    let saved = read_json(&config.join("config.json"));
    assert!(saved["auths"].get(&host).is_none());
}

fn step_anonymous_is_refused_with_advice(config: &Path, image: &Path, host: &str, ca: &Path) {
    let err = run_err(
        rko_in(config)
            .arg("push")
            .arg(image)
            .arg(format!("{host}/secure:1"))
            .arg("--ca-cert")
            .arg(ca),
    );
    assert!(
        err.contains("HTTP 401") && err.contains("rko login"),
        "{err}"
    );
}

/// A wrong password fails at login and saves nothing; the right one is saved.
fn step_login_saves_the_right_password_only(config: &Path, host: &str, ca: &Path) {
    let login = || {
        let mut cmd = rko_in(config);
        cmd.args(["login", host, "-u", USER, "--password-stdin", "--ca-cert"])
            .arg(ca);
        cmd
    };
    let err = run_with_stdin(&mut login(), "not-the-password\n", false);
    assert!(
        err.contains("HTTP 401") && err.contains("check the username and password"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-password"),
        "the password is never shown: {err}"
    );
    assert!(!config.join("config.json").exists());

    let out = run_with_stdin(&mut login(), &format!("{PASSWORD}\n"), true);
    assert!(out.contains("Login Succeeded"), "{out}");
    let saved = read_json(&config.join("config.json"));
    assert!(saved["auths"][host]["auth"].is_string(), "{saved}");
}

/// TLS trust through Docker's certs.d convention instead of --ca-cert;
/// without any trust, TLS fails and says so.
fn step_trust_comes_from_certs_d_or_not_at_all(
    dir: &Path,
    config: &Path,
    image: &Path,
    host: &str,
    ca: &Path,
) {
    let certs_d = dir.join("certs.d");
    fs::create_dir_all(certs_d.join(host)).unwrap();
    fs::copy(ca, certs_d.join(host).join("ca.crt")).unwrap();
    let pushed = run_ok(
        rko_in(config)
            .arg("push")
            .arg(image)
            .arg(format!("{host}/secure:1"))
            .arg("--certs-dir")
            .arg(&certs_d),
    );
    assert_eq!(pushed_digest(&pushed), layout_digest(image));

    let err = run_err(&mut pull(
        config,
        &format!("{host}/secure:1"),
        &[],
        &dir.join("x"),
    ));
    assert!(
        err.contains(&format!("cannot reach registry {host}")) && err.contains("UnknownIssuer"),
        "{err}"
    );
}

/// podman's auth file alone is enough too.
fn step_podmans_auth_file_alone_is_enough(
    dir: &Path,
    config: &Path,
    image: &Path,
    host: &str,
    ca: &Path,
) {
    let auth_file = dir.join("auth.json");
    fs::write(&auth_file, fs::read(config.join("config.json")).unwrap()).unwrap();
    let empty = dir.join("empty-docker");
    let pulled = dir.join("pulled");
    run_ok(
        pull(&empty, &format!("{host}/secure:1"), &[], &pulled)
            .env("REGISTRY_AUTH_FILE", &auth_file)
            .arg("--ca-cert")
            .arg(ca),
    );
    assert_eq!(layout_digest(&pulled), layout_digest(image));
}

fn run_with_stdin(cmd: &mut Command, input: &str, succeed: bool) -> String {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.success(), succeed, "{text}");
    text
}

#[test]
fn a_credential_helper_supplies_the_password() {
    let registry = Registry::start(Auth::BasicTls);
    let dir = temp_dir();
    let host = registry.host();
    let helped = helped(dir.path(), &host);
    let image = hello_image(dir.path(), "amd64");
    let pushed = run_ok(
        rko_in(&helped.config)
            .env("PATH", &helped.path)
            .arg("push")
            .arg(&image)
            .arg(format!("{host}/helped:1"))
            .arg("--ca-cert")
            .arg(registry.ca.as_ref().unwrap()),
    );
    assert_eq!(pushed_digest(&pushed), layout_digest(&image));
    assert_eq!(
        fs::read_to_string(&helped.log).unwrap().trim(),
        format!("get {host}")
    );
}

#[test]
fn bearer_tokens_from_a_token_server_the_registry_trusts() {
    let registry = Registry::start(Auth::Token);
    let dir = temp_dir();
    let host = registry.host();
    let config = dir.path().join("docker");
    let image = hello_image(dir.path(), "amd64");
    let err = run_err(
        rko_in(&config)
            .arg("push")
            .arg(&image)
            .arg(format!("{host}/tokens:1")),
    );
    assert!(
        err.contains("getting a token") && err.contains("HTTP 401"),
        "{err}"
    );

    let mut login = rko_in(&config);
    login.args(["login", &host, "-u", USER, "--password-stdin"]);
    run_with_stdin(&mut login, PASSWORD, true);
    let pushed = run_ok(
        rko_in(&config)
            .arg("push")
            .arg(&image)
            .arg(format!("{host}/tokens:1")),
    );
    assert_eq!(pushed_digest(&pushed), layout_digest(&image));
    let pulled = dir.path().join("pulled");
    run_ok(&mut pull(
        &config,
        &format!("{host}/tokens:1"),
        &[],
        &pulled,
    ));
    assert_eq!(layout_digest(&pulled), layout_digest(&image));
}

#[test]
fn a_re_push_of_an_unchanged_image_uploads_no_blob() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let image = hello_image(dir.path(), "amd64");
    let target = format!("{}/again:1", proxy.host());
    run_ok(rko_in(&config).arg("push").arg(&image).arg(&target));
    assert_eq!(
        proxy.count("POST", "/blobs/uploads/"),
        4,
        "first push: config and three layers"
    );
    proxy.clear();
    run_ok(rko_in(&config).arg("push").arg(&image).arg(&target));
    assert_eq!(proxy.count("HEAD", "/blobs/"), 4);
    assert_eq!(
        proxy.count("POST", "/blobs/uploads/"),
        0,
        "no upload on re-push"
    );
    assert_eq!(proxy.count("PATCH", "/blobs/"), 0);
    assert_eq!(proxy.count("PUT", "/blobs/"), 0);
}

#[test]
fn pushes_survive_resets_5xx_and_429_and_give_up_clearly_when_faults_never_stop() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let image = big_image(dir.path());
    let rule = |method, path_contains, fault, times| Rule {
        method,
        path_contains,
        fault,
        times,
    };
    // Blobs stream in one PUT each: two of them break mid-body.
    proxy.add(rule("PUT", "/blobs/uploads/", Fault::ResetMidBody, 2));
    proxy.add(rule("HEAD", "/blobs/", Fault::Status(500, None), 1));
    proxy.add(rule("POST", "/blobs/uploads/", Fault::Status(503, None), 2));
    proxy.add(rule("PUT", "/manifests/", Fault::Status(429, Some(1)), 1));
    let target = format!("{}/faulty:1", proxy.host());
    let pushed = run_ok(
        rko_in(&config)
            .arg("push")
            .arg(&image)
            .arg(&target)
            .args(["--jobs", "2"]),
    );
    assert_eq!(pushed_digest(&pushed), layout_digest(&image));
    assert!(
        proxy.rules.lock().unwrap().iter().all(|r| r.times == 0),
        "every fault was met"
    );
    let copied = dir.path().join("copied");
    run_ok(
        skopeo("copy")
            .arg(format!("docker://{target}"))
            .arg(format!("oci:{}:x", copied.display())),
    );

    // Faults that never stop: a clear failure, and no manifest without its blobs.
    proxy.clear();
    proxy.add(rule(
        "PATCH",
        "/blobs/uploads/",
        Fault::Status(500, None),
        usize::MAX,
    ));
    proxy.add(rule(
        "PUT",
        "/blobs/uploads/",
        Fault::Status(500, None),
        usize::MAX,
    ));
    let other = hello_image(dir.path(), "arm64");
    let broken = big_image_with(dir.path(), &other);
    let stuck = format!("{}/stuck:1", proxy.host());
    let err = run_err(rko_in(&config).arg("push").arg(&broken).arg(&stuck));
    assert!(
        err.contains("HTTP 500") && err.contains("injected fault 500"),
        "{err}"
    );
    assert_eq!(
        proxy.count("PUT", "/manifests/"),
        0,
        "no manifest is pushed when a blob failed"
    );
    let missing = skopeo("inspect")
        .arg(format!("docker://{}/stuck:1", registry.host()))
        .output()
        .unwrap();
    assert!(
        !missing.status.success(),
        "the registry holds no manifest for the failed push"
    );
}

/// `base` with the 12 MiB layer on top (a new image the registry lacks).
fn big_image_with(dir: &Path, base: &Path) -> PathBuf {
    let l = (dir.join("big.tar.gz"), dir.join("big.json"));
    let out = dir.join("big-on-arm");
    run_ok(
        rko()
            .arg("append")
            .arg(format!("--base={}", base.display()))
            .arg(format!("--layer={}", layer_arg(&l)))
            .arg("--out")
            .arg(&out),
    );
    out
}

#[test]
fn a_truncated_blob_on_pull_is_caught_by_its_digest() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let image = big_image(dir.path());
    let target = format!("{}/trunc:1", proxy.host());
    run_ok(rko_in(&config).arg("push").arg(&image).arg(&target));

    // Once: retried, and the pull is whole.
    proxy.add(Rule {
        method: "GET",
        path_contains: "/blobs/sha256:",
        fault: Fault::TruncateResponse,
        times: 1,
    });
    let pulled = dir.path().join("pulled");
    run_ok(&mut pull(&config, &target, &[], &pulled));
    assert_eq!(
        snapshot(&pulled.join("blobs")),
        snapshot(&image.join("blobs"))
    );

    // Always: an error, and no layout.
    proxy.add(Rule {
        method: "GET",
        path_contains: "/blobs/sha256:",
        fault: Fault::TruncateResponse,
        times: usize::MAX,
    });
    let never = dir.path().join("never");
    let err = run_err(&mut pull(&config, &target, &[], &never));
    assert!(
        err.contains("/blobs/sha256:") && err.contains("connection broke after"),
        "{err}"
    );
    assert!(err.contains("(after 6 attempts)"), "{err}");
    assert!(!never.exists());
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".never"))
        .collect();
    assert!(leftovers.is_empty(), "no staging directory is left behind");
}

#[test]
fn bad_references_hosts_and_layouts_get_one_clear_line() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let image = hello_image(dir.path(), "amd64");
    let down = free_port();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["pull".into(), "Bad/Name".into()],
            "invalid reference \"Bad/Name\"".into(),
        ),
        (
            vec![
                "push".into(),
                image.display().to_string(),
                "localhost:5000/app:-bad".into(),
            ],
            "tag \"-bad\"".into(),
        ),
        (
            vec!["pull".into(), "no-such-host.invalid/app:1".into()],
            "cannot reach registry no-such-host.invalid".into(),
        ),
        (
            vec!["pull".into(), format!("127.0.0.1:{down}/app:1")],
            format!("cannot reach registry 127.0.0.1:{down}"),
        ),
        (
            vec![
                "push".into(),
                dir.path().display().to_string(),
                format!("{}/app:1", registry.host()),
            ],
            "not an OCI image layout".into(),
        ),
        (
            vec![
                "pull".into(),
                format!("[::ffff:127.0.0.1]:{}/app:1", registry.port),
            ],
            format!(
                "pass --insecure-registry=[::ffff:127.0.0.1]:{}",
                registry.port
            ),
        ),
    ];
    for (args, want) in cases {
        let mut cmd = rko_in(&config);
        cmd.args(&args);
        if args[0] == "pull" {
            cmd.arg("--out").arg(dir.path().join("out"));
        }
        let err = run_err(&mut cmd);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(&want), "{args:?}: expected {want:?} in {err}");
        assert!(!dir.path().join("out").exists());
    }
    // The same HTTP-only registry is fine once named insecure.
    let host = format!("[::ffff:127.0.0.1]:{}", registry.port);
    run_ok(
        rko_in(&config)
            .arg("push")
            .arg(&image)
            .arg(format!("{host}/app:1"))
            .arg("--insecure-registry")
            .arg(&host),
    );
}
