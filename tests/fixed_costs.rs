//! No fixed costs (issue 14, item 3): what a `rko build` that changes
//! nothing still does. Pushing again an image the registry already holds,
//! with its SBOMs, writes nothing: a HEAD per tag, per SBOM referrer and
//! per cosign SBOM tag shows that everything is there (go-containerregistry's
//! `remote.Write` likewise skips an image whose manifest exists). Requests
//! are counted by a proxy in front of the real registry. A base image from
//! a registry is resolved, and the registry pushed to pinged, while `go
//! build` runs; a push waits on few round trips one after another.

use crate::util::hostile::{Answer, Hostile, Image};
use crate::util::registry::{helped, Auth, Fault, FaultProxy, Registry, Rule, MEET_TIMEOUT};
use crate::util::*;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A copy of examples/multi (cmd/web has a kodata/ directory).
fn multi(dir: &Path) -> PathBuf {
    let target = dir.join("multi");
    copy_tree(&repo_root().join("examples/multi"), &target);
    target
}

/// `rko build ./cmd/web` pushing to `repo` on `platforms`.
fn push_web(module: &Path, state: &Path, repo: &str, platforms: &str) -> Command {
    let mut cmd = rko_build(module, state);
    cmd.env("KO_DOCKER_REPO", repo)
        .args(["./cmd/web", "-B", "--tags=latest,v1"])
        .arg(format!("--platform={platforms}"));
    cmd
}

/// `rko build ARGS` of `module`, pushing to `repo`.
fn build_to(module: &Path, state: &Path, repo: &str, args: &[&str]) -> Command {
    let mut cmd = rko_build(module, state);
    cmd.env("KO_DOCKER_REPO", repo).args(args);
    cmd
}

/// A `go` for `KO_GO_PATH`, in `dir`: runs the shell `on_build` before a
/// `go build`, then the real `go`.
fn go_wrapper(dir: &Path, on_build: &str) -> PathBuf {
    let wrapper = dir.join("go-wrapper");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = build ]; then\n{on_build}\nfi\nexec '{}' \"$@\"\n",
            require("go").display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

/// How long one side of a meeting waits for the other: a guard against a
/// deadlock when they never meet, not a limit on speed.
const MEET: Duration = Duration::from_secs(20);

/// Shell that waits for `file` to exist, at most [`MEET`].
fn wait_for(file: &Path) -> String {
    format!(
        "  for i in $(seq {}); do [ -e '{}' ] && break; sleep 0.1; done",
        MEET.as_secs() * 10,
        file.display()
    )
}

/// The requests the proxy saw, as `METHOD path` lines, and forgets them.
fn seen(proxy: &FaultProxy) -> Vec<String> {
    let mut seen = proxy.seen.lock().unwrap();
    let lines = seen.iter().map(|(m, p)| format!("{m} {p}")).collect();
    seen.clear();
    lines
}

/// A plain HTTP request to the registry itself; the response's status.
fn request(registry: &Registry, method: &str, path: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", registry.port)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {}\r\nAccept: application/vnd.oci.image.manifest.v1+json\r\n\r\n",
        registry.host()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `sha256:<hex>` as cosign's tag for its SBOM: `sha256-<hex>.sbom`.
fn sbom_tag(digest: &str) -> String {
    format!("{}.sbom", digest.replacen(':', "-", 1))
}

#[test]
fn pushing_an_unchanged_image_again_writes_nothing_and_asks_one_head_each() {
    // (platforms, SBOMs: one per image, and the index's; provenance
    // statements: one per image)
    let cases = [("linux/amd64", 1, 1), ("linux/amd64,linux/arm64", 3, 2)];
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port);
    let repo = format!("{}/team", proxy.host());
    for (platforms, sboms, statements) in cases {
        let dir = temp_dir();
        let module = multi(dir.path());
        let first = run_ok(&mut push_web(&module, dir.path(), &repo, platforms));
        let first_requests = seen(&proxy);
        let again = run_ok(&mut push_web(&module, dir.path(), &repo, platforms));
        let requests = seen(&proxy);
        assert_eq!(again, first, "{platforms}: the same image");
        let writes: Vec<&String> = requests
            .iter()
            .filter(|r| !r.starts_with("HEAD ") && !r.starts_with("GET "))
            .collect();
        assert!(
            writes.is_empty(),
            "{platforms}: pushed again what the registry has: {writes:#?}\n\
             ({} requests; the first push made {})",
            requests.len(),
            first_requests.len()
        );
        // The ping, a HEAD per tag, then per SBOM and per provenance
        // statement its referrer and its cosign tag.
        assert_eq!(
            requests.len(),
            1 + 2 + 2 * sboms + 2 * statements,
            "{platforms}: {requests:#?}"
        );
    }
}

#[test]
fn an_sbom_tag_removed_from_the_registry_is_pushed_again() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = multi(dir.path());
    let repo = format!("{}/team", registry.host());
    let printed = run_ok(&mut push_web(&module, dir.path(), &repo, "linux/amd64"));
    let digest = pushed_digest(&printed);
    let repository = printed
        .trim()
        .split('@')
        .next()
        .unwrap()
        .trim_start_matches(&format!("{}/", registry.host()))
        .to_string();
    let tag = format!("/v2/{repository}/manifests/{}", sbom_tag(&digest));
    assert_eq!(request(&registry, "HEAD", &tag), 200, "{tag} after a push");
    // The registry deletes a manifest by digest, with every tag naming it.
    let cosign = run_ok(
        skopeo("inspect")
            .args(["--format", "{{.Digest}}"])
            .arg(format!("docker://{}{}", registry.host(), {
                format!("/{repository}:{}", sbom_tag(&digest))
            })),
    );
    let manifest = format!("/v2/{repository}/manifests/{}", cosign.trim());
    assert_eq!(request(&registry, "DELETE", &manifest), 202);
    assert_eq!(request(&registry, "HEAD", &tag), 404, "{tag} deleted");

    let again = run_ok(&mut push_web(&module, dir.path(), &repo, "linux/amd64"));
    assert_eq!(again, printed);
    assert_eq!(request(&registry, "HEAD", &tag), 200, "{tag} pushed again");
}

/// With the platforms given, the base image is resolved while `go build`
/// runs. The two sides meet: the registry holds its answer for the base
/// until the `go` wrapper has seen `go build` start, and the wrapper holds
/// `go build` until the registry has been asked for the base. Each waits
/// at most [`MEET`] (a deadlock guard, not a speed limit) and records
/// whether the other came: both do only when the two overlap. A build that
/// resolves the base first, or builds first, leaves one side alone.
#[test]
fn a_registry_base_is_resolved_while_go_build_runs() {
    let dir = temp_dir();
    let started = dir.path().join("go-build-started");
    let asked = dir.path().join("base-asked");
    let build_saw_base = dir.path().join("go-build-saw-the-base-asked");
    let image = Image::new(7, 2000);
    let base_saw_build = Arc::new(AtomicBool::new(false));
    let (marker, flag, asked_marker) =
        (started.clone(), Arc::clone(&base_saw_build), asked.clone());
    let registry = Hostile::start("127.0.0.1", move |request| {
        if request.path.contains("/manifests/") {
            let _ = fs::write(&asked_marker, "");
            let deadline = Instant::now() + MEET;
            while !marker.exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            flag.fetch_or(marker.exists(), Ordering::Relaxed);
        }
        match image.answer(request, "v1") {
            Some(answer) => answer,
            None if request.path == "/v2/" => Answer::status(200),
            None => Answer::status(404),
        }
    });
    let on_build = format!(
        "  touch '{started}'\n{wait}\n  [ -e '{asked}' ] && touch '{saw}'",
        started = started.display(),
        wait = wait_for(&asked),
        asked = asked.display(),
        saw = build_saw_base.display()
    );
    let wrapper = go_wrapper(dir.path(), &on_build);
    let module = dir.path().join("hello");
    copy_tree(&repo_root().join("examples/hello"), &module);

    run_ok(
        rko_build(&module, dir.path())
            .env("KO_GO_PATH", &wrapper)
            .args(["--push=false", "--platform=linux/amd64", "."])
            .arg(format!("--base-image={}/base:v1", registry.host())),
    );
    assert!(started.exists(), "go build ran");
    assert!(
        base_saw_build.load(Ordering::Relaxed),
        "the base was resolved before go build started"
    );
    assert!(
        build_saw_base.exists(),
        "go build ran to its end before the base was asked for"
    );
}

/// The images of one `rko build` are pushed at the same time, as `ko
/// resolve` publishes its references (`ko build` goes one after another):
/// the proxy holds each image's manifest PUT until the other's arrives,
/// which happens only if neither push waits for the other to finish.
#[test]
fn the_images_of_one_build_are_pushed_at_the_same_time() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port);
    proxy.add(Rule {
        method: "PUT",
        path_contains: "/manifests/latest",
        fault: Fault::Meet(2),
        times: usize::MAX,
    });
    let dir = temp_dir();
    let module = multi(dir.path());
    let team = format!("{}/team", proxy.host());
    let printed = run_ok(&mut build_to(
        &module,
        dir.path(),
        &team,
        &["./cmd/api", "./cmd/web"],
    ));
    assert_eq!(
        proxy.missed(),
        0,
        "one image's manifest waited {MEET_TIMEOUT:?} for the other's: the pushes ran one after the other"
    );
    let names: Vec<&str> = printed
        .lines()
        .map(|l| l.split('@').next().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{printed}");
    assert!(
        names[0].contains("/team/api-") && names[1].contains("/team/web-"),
        "in the order given: {printed}"
    );
}

/// A credential helper runs once per registry, however many images one
/// `rko build` pushes there: each push looking the credential up again
/// would start the helper (a process, often a network call) per image.
#[test]
fn a_credential_helper_runs_once_for_all_the_images_of_a_build() {
    let registry = Registry::start(Auth::BasicTls);
    let host = registry.host();
    let dir = temp_dir();
    let module = multi(dir.path());
    let helped = helped(dir.path(), &host);
    let mut build = build_to(
        &module,
        dir.path(),
        &format!("{host}/team"),
        &["./cmd/api", "./cmd/web"],
    );
    build
        .env("SSL_CERT_FILE", registry.ca.as_ref().unwrap())
        .env("DOCKER_CONFIG", &helped.config)
        .env("PATH", &helped.path);
    let printed = run_ok(&mut build);
    assert_eq!(printed.lines().count(), 2, "{printed}");
    let asked = fs::read_to_string(&helped.log).unwrap();
    assert_eq!(
        asked.lines().collect::<Vec<_>>(),
        [format!("get {host}")],
        "the helper was asked:\n{asked}"
    );
}

/// A proxy in front of `registry` that delays every request, so that
/// those sent together overlap and [`FaultProxy::rounds`] counts the round
/// trips a client waited for one after another.
fn delaying_proxy(registry: &Registry) -> FaultProxy {
    let proxy = FaultProxy::start(registry.port);
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH"] {
        proxy.add(Rule {
            method,
            path_contains: "/v2/",
            fault: Fault::Delay(Duration::from_millis(300)),
            times: usize::MAX,
        });
    }
    proxy
}

/// The client waited on at most `most` round trips one after another.
fn assert_rounds_at_most(proxy: &FaultProxy, most: usize) {
    let (rounds, chain) = proxy.rounds();
    assert!(
        rounds <= most,
        "{rounds} round trips one after another:\n{}",
        chain.join("\n")
    );
}

/// Pushing an image with its SBOM (the OCI referrer, its fallback index,
/// cosign's `.sbom` tag) waits on few round trips one after another: the
/// ping; each blob's HEAD, POST and PUT, all blobs at once, the SBOM's and
/// cosign's config among them; the image manifest, the SBOM's two forms
/// and the fallback index's GET at once; the fallback index's PUT. A far
/// registry makes every round trip count. `--jobs=2`, as on a 2-core
/// machine: pushing is not bound by the CPU. The proxy numbers every
/// request's coming and every answer in one order of events and finds the
/// longest chain of requests each of which came after the one before was
/// answered; it delays every request, so that those sent together overlap
/// (a request that waited for an answer can only come after it, however
/// long the delay).
#[test]
fn a_push_with_its_sbom_waits_on_six_round_trips() {
    let registry = Registry::start(Auth::None);
    let proxy = delaying_proxy(&registry);
    let dir = temp_dir();
    let module = multi(dir.path());
    let team = format!("{}/team", proxy.host());
    run_ok(&mut build_to(
        &module,
        dir.path(),
        &team,
        &["./cmd/api", "--jobs=2", "--provenance=none"],
    ));
    assert_rounds_at_most(&proxy, 6);
}

/// A base on the registry pushed to (mounted from its repository), and the
/// image's provenance beside its SBOM, add no round trip to a push: a blob
/// the base's repository lacks goes up in the session its refused mount
/// opened (HEAD, the mount's POST, PUT), and the SBOM's and the
/// provenance's manifests, their cosign tags and the fallback index's GET
/// go at once with the image manifest, then the fallback index's one PUT
/// naming both. The chain: the ping, the base's tag, manifest and config
/// (the platform is given, so they come while `go build` runs), a blob's
/// three round trips, the manifests, the fallback index.
#[test]
fn a_push_mounting_from_its_base_with_sbom_and_provenance_waits_on_nine_round_trips() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let base = dir.path().join("base");
    run_ok(
        rko()
            .args([
                "append",
                "--base",
                "builtin:static",
                "--platform",
                "linux/amd64",
                "--out",
            ])
            .arg(&base),
    );
    run_ok(
        rko_in(&dir.path().join("docker"))
            .arg("push")
            .arg(&base)
            .arg(format!("{}/base:v1", registry.host())),
    );
    let proxy = delaying_proxy(&registry);
    let module = multi(dir.path());
    let team = format!("{}/team", proxy.host());
    let mut build = build_to(
        &module,
        dir.path(),
        &team,
        &["./cmd/api", "--jobs=2", "--platform=linux/amd64"],
    );
    run_ok(build.env("KO_DEFAULTBASEIMAGE", format!("{}/base:v1", proxy.host())));
    assert!(
        proxy.count("POST", "mount=") > 0,
        "a blob was mounted from the base's repository"
    );
    assert_rounds_at_most(&proxy, 9);
}

/// A new image's push asks the registry only about the blobs it may have
/// already: the image's layers and the artifacts' empty config. The config,
/// the SBOM and the provenance statement, and cosign's configs, were made
/// by this build and name its new image: they go up without a HEAD (the
/// upload's answer says the same). Read from the proxy's log beside the
/// manifest the registry then serves.
#[test]
fn a_new_image_asks_no_head_for_the_blobs_its_build_just_made() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port);
    let dir = temp_dir();
    let module = multi(dir.path());
    let team = format!("{}/team", proxy.host());
    let printed = run_ok(&mut build_to(&module, dir.path(), &team, &["./cmd/web"]));
    let reference = printed.trim().replace(&proxy.host(), &registry.host());
    let raw = run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{reference}")),
    );
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let mut may_exist: Vec<String> = layers
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    // `{}`, the config of every OCI artifact.
    may_exist.push(
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".to_string(),
    );
    may_exist.sort();
    let mut asked: Vec<String> = seen(&proxy)
        .iter()
        .filter_map(|line| line.strip_prefix("HEAD ")?.split("/blobs/").nth(1))
        .map(str::to_string)
        .collect();
    asked.sort();
    assert_eq!(
        asked, may_exist,
        "HEADs of blobs, against the image's layers and {{}}"
    );
}

/// The registry a build pushes to is pinged while `go build` runs, and
/// once for all the build's images: the `go` wrapper here holds `go
/// build` until the proxy has seen `GET /v2/` (or a bounded wait, when rko
/// pings only after the build), and says which it was.
#[test]
fn the_registry_is_pinged_once_while_go_build_runs() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port);
    let dir = temp_dir();
    let (pinged, seen_by_go) = (dir.path().join("pinged"), dir.path().join("seen"));
    let mark = format!(
        "  [ -e '{}' ] && touch '{}'",
        pinged.display(),
        seen_by_go.display()
    );
    let wrapper = go_wrapper(dir.path(), &format!("{}\n{mark}", wait_for(&pinged)));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (seen, done, pinged) = (Arc::clone(&proxy.seen), Arc::clone(&done), pinged.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if seen
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|(m, p)| m == "GET" && p == "/v2/")
                {
                    fs::write(&pinged, "").unwrap();
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let module = multi(dir.path());
    let team = format!("{}/team", proxy.host());
    let mut build = build_to(&module, dir.path(), &team, &["./cmd/api", "./cmd/web"]);
    run_ok(build.env("KO_GO_PATH", &wrapper));
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    assert!(
        seen_by_go.exists(),
        "go build started before the registry was pinged"
    );
    let requests = seen(&proxy);
    let pings = requests.iter().filter(|r| *r == "GET /v2/").count();
    assert_eq!(pings, 1, "{requests:#?}");
}

/// The ping ahead of the pushes is not waited for when the build fails:
/// the compile error comes at once, even with `KO_DOCKER_REPO` on a
/// registry that accepts connections and never answers (they are held
/// until rko has exited; a bounded wait tells a hang from an exit). The
/// `go` wrapper starts `go build` only once rko has connected.
#[test]
fn a_failing_build_does_not_wait_for_the_registry_it_would_push_to() {
    let dir = temp_dir();
    let connected = dir.path().join("connected");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    silent.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let holding = {
        let (stop, connected) = (Arc::clone(&stop), connected.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok((stream, _)) = silent.accept() {
                    held.push(stream);
                    fs::write(&connected, "").unwrap();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let wrapper = go_wrapper(dir.path(), &wait_for(&connected));
    let module = dir.path().join("hello");
    copy_tree(&repo_root().join("examples/hello"), &module);
    fs::write(
        module.join("main.go"),
        "package main\n\nfunc main() { undefined() }\n",
    )
    .unwrap();
    let mut child = build_to(
        &module,
        dir.path(),
        &format!("127.0.0.1:{port}/team"),
        &["."],
    )
    .env("KO_GO_PATH", &wrapper)
    .env("RKO_NETWORK_TIMEOUT", "600")
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("rko was still running 120 s after starting: it waited on the silent registry");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    stop.store(true, Ordering::Relaxed);
    holding.join().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("undefined"),
        "the compile error is said: {stderr}"
    );
    assert!(
        connected.exists(),
        "rko connected to the registry ahead of the push"
    );
}
