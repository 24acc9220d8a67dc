//! rko against a misbehaving registry: credentials stay home, every read is
//! bounded, wrong bytes are refused (issue 11). The scripted server of
//! util/hostile.rs plays the registry only where it misbehaves in ways no
//! real registry does; the real distribution registry serves the rest, in
//! `machine` (a full disk, a symlinked config.json, SIGKILL).

use crate::util::hostile::{
    basic, digest, docker_config_with, index_of, run_err_or_hang, Answer, Hostile, Image, Request,
    INDEX,
};
use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod machine;
mod waits;

const USER: &str = "ci-bot";
const PASSWORD: &str = "hunter2-secret";

/// How long a command may run before the test calls it hung.
const PATIENCE: Duration = Duration::from_secs(180);

/// `rko pull REFERENCE --out OUT` with its own Docker config.
fn pull(config: &Path, reference: &str, out: &Path) -> Command {
    let mut cmd = rko_in(config);
    cmd.arg("pull").arg(reference).arg("--out").arg(out);
    cmd
}

/// `rko pull` of `app:v1` from `registry`, with no credentials
/// (`dir/docker`), into `dir/out`.
fn pull_app(registry: &Hostile, dir: &Path) -> Command {
    pull(
        &dir.join("docker"),
        &format!("{}/app:v1", registry.host()),
        &dir.join("out"),
    )
}

/// A small layout to push: builtin:static plus one layer of `size` bytes.
fn small_layout(dir: &Path, size: usize) -> PathBuf {
    image_with_file(dir, "data", &noise(7, size), "/data.bin")
}

/// Every request that reached `server` carrying an `Authorization` header.
fn with_credentials(server: &Hostile) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter(|r| r.header("authorization").is_some())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The 401 a registry sends to a request without our Basic credentials.
fn demand_basic(request: &Request) -> Option<Answer> {
    (request.header("authorization") != Some(basic(USER, PASSWORD).as_str()))
        .then(|| Answer::status(401).header("WWW-Authenticate", "Basic realm=\"hostile\""))
}

/// A registry wanting our Basic credentials whose uploads go to `other`.
fn registry_uploading_to(other: &Hostile) -> Hostile {
    let foreign = other.url("/upload/1");
    Hostile::start("127.0.0.1", move |r| {
        if let Some(refused) = demand_basic(r) {
            return refused;
        }
        match r.method.as_str() {
            "POST" => Answer::status(202).header("Location", &foreign),
            "HEAD" => Answer::status(404),
            "PUT" => Answer::status(201),
            _ => Answer::status(200),
        }
    })
}

#[test]
fn credentials_never_follow_an_upload_location_to_another_host() {
    let dir = temp_dir();
    let layout = small_layout(dir.path(), 1000);
    let push = |registry: &Hostile| {
        let config = dir.path().join(format!("docker-{}", registry.addr.port()));
        docker_config_with(&config, &registry.host(), USER, PASSWORD);
        let mut cmd = rko_in(&config);
        cmd.arg("push")
            .arg(&layout)
            .arg(format!("{}/app:v1", registry.host()));
        cmd
    };

    // Storage that wants nothing, as a pre-signed URL: the push works.
    let other = Hostile::start("127.0.0.2", |r| match r.method.as_str() {
        "PUT" | "PATCH" => Answer::status(201),
        _ => Answer::status(404),
    });
    let registry = registry_uploading_to(&other);
    run_ok(&mut push(&registry));
    assert!(
        !with_credentials(&registry).is_empty(),
        "the registry itself gets the credentials"
    );
    let uploads = other.requests();
    assert!(
        uploads
            .iter()
            .any(|r| r.is("PUT", "/upload/1") && !r.body.is_empty()),
        "the blobs went to the Location"
    );
    assert_eq!(
        with_credentials(&other),
        Vec::<String>::new(),
        "requests to {} carried credentials",
        other.host()
    );

    // A host that asks for them does not get them either: the push fails.
    let other = Hostile::start("127.0.0.2", |_| {
        Answer::status(401).header("WWW-Authenticate", "Basic realm=\"give me yours\"")
    });
    let registry = registry_uploading_to(&other);
    let err = run_err(&mut push(&registry));
    assert_eq!(with_credentials(&other), Vec::<String>::new(), "{err}");
    assert!(
        err.contains(&other.url("/upload/1")) && err.contains("401"),
        "{err}"
    );

    // Nor a realm it names: only the registry's own challenges are answered.
    let realm = Hostile::start("127.0.0.1", |_| Answer::bytes(br#"{"token":"t"}"#));
    let challenge = format!("Bearer realm=\"{}\"", realm.url("/token"));
    let other = Hostile::start("127.0.0.2", move |_| {
        Answer::status(401).header("WWW-Authenticate", &challenge)
    });
    let registry = registry_uploading_to(&other);
    let err = run_err(&mut push(&registry));
    assert_eq!(realm.requests().len(), 0, "{err}");
    assert_eq!(with_credentials(&other), Vec::<String>::new(), "{err}");
}

#[test]
fn a_redirect_carries_credentials_only_while_it_stays_on_the_registry() {
    let image = Arc::new(Image::new(1, 5000));
    let served = Arc::clone(&image);
    let other = Hostile::start("127.0.0.2", move |r| {
        let name = r.path.rsplit('/').next().unwrap_or("");
        match [&served.config, &served.layer]
            .into_iter()
            .find(|b| digest(b) == name)
        {
            Some(blob) => Answer::bytes(blob),
            None => Answer::status(404),
        }
    });
    let (foreign, layer) = (other.url("/storage/"), digest(&image.layer));
    let served = Arc::clone(&image);
    let registry = Hostile::start("127.0.0.1", move |r| {
        if let Some(refused) = demand_basic(r) {
            return refused;
        }
        let name = r.path.rsplit('/').next().unwrap_or("").to_string();
        if r.path.starts_with("/v2/app/blobs/") {
            // The layer moves to another host; the config to this one's storage.
            let to = if name == layer {
                format!("{foreign}{name}")
            } else {
                format!("/own-storage/{name}")
            };
            return Answer::status(307).header("Location", &to);
        }
        if r.path.starts_with("/own-storage/") {
            let blob = &served.config;
            return if name == digest(blob) {
                Answer::bytes(blob)
            } else {
                Answer::status(404)
            };
        }
        served.answer(r, "v1").unwrap_or(Answer::status(200))
    });
    let dir = temp_dir();
    let config = dir.path().join("docker");
    docker_config_with(&config, &registry.host(), USER, PASSWORD);

    run_ok(&mut pull(
        &config,
        &format!("{}/app:v1", registry.host()),
        &dir.path().join("out"),
    ));
    assert_eq!(other.count("GET", "/storage/"), 1, "{:?}", other.requests());
    assert_eq!(with_credentials(&other), Vec::<String>::new());
    assert_eq!(registry.count("GET", "/own-storage/"), 1);
}

/// A registry whose token realm is plain HTTP on another host (127.0.0.2):
/// what it gets depends on the credentials and on `--insecure-registry`.
#[test]
fn basic_credentials_never_go_to_a_plain_http_realm_on_another_host() {
    let realm_server = Hostile::start("127.0.0.2", |r| {
        let token = match r.header("authorization") {
            Some(a) if a == basic(USER, PASSWORD) => "user-token",
            Some(_) => return Answer::status(401),
            None => "anonymous-token",
        };
        Answer::bytes(format!("{{\"token\":\"{token}\"}}").as_bytes())
    });
    let realm = realm_server.url("/token");
    let image = Image::new(2, 3000);
    let challenge = format!("Bearer realm=\"{realm}\",service=\"hostile\"");
    let registry = Hostile::start("127.0.0.1", move |r| match r.header("authorization") {
        Some("Bearer user-token" | "Bearer anonymous-token") => {
            image.answer(r, "v1").unwrap_or(Answer::status(200))
        }
        _ => Answer::status(401).header("WWW-Authenticate", &challenge),
    });
    let dir = temp_dir();
    let reference = format!("{}/app:v1", registry.host());
    let with_login = dir.path().join("docker");
    docker_config_with(&with_login, &registry.host(), USER, PASSWORD);

    // With credentials: refused, with the way out.
    let refused = pull(&with_login, &reference, &dir.path().join("a"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(
        with_credentials(&realm_server),
        Vec::<String>::new(),
        "{err}"
    );
    assert!(!refused.status.success());
    let allow = format!("--insecure-registry={}", realm_server.host());
    assert!(err.contains(&realm) && err.contains(&allow), "{err}");
    assert!(!dir.path().join("a").exists());

    // Without credentials there is nothing to leak: an anonymous token.
    run_ok(&mut pull(
        &dir.path().join("nobody"),
        &reference,
        &dir.path().join("b"),
    ));
    assert!(realm_server.count("GET", "/token") > 0);
    assert_eq!(with_credentials(&realm_server), Vec::<String>::new());

    // Allowed by name: the credentials go there.
    run_ok(
        pull(&with_login, &reference, &dir.path().join("c"))
            .args(["--insecure-registry", &realm_server.host()]),
    );
    assert!(!with_credentials(&realm_server).is_empty());
}

#[test]
fn a_stalled_blob_is_retried_then_fails_naming_the_registry_and_the_blob() {
    let image = Image::new(3, 100_000);
    let layer = digest(&image.layer);
    let (length, prefix) = (image.layer.len() as u64, image.layer[..10].to_vec());
    let stalled = layer.clone();
    let registry = Hostile::start("127.0.0.1", move |r| {
        if r.path.ends_with(&stalled) {
            return Answer::Stall {
                length,
                prefix: prefix.clone(),
            };
        }
        image.answer(r, "v1").unwrap_or(Answer::status(200))
    });
    let dir = temp_dir();
    let out = dir.path().join("out");

    let err = run_err_or_hang(
        pull(
            &dir.path().join("docker"),
            &format!("{}/app:v1", registry.host()),
            &out,
        )
        .env("RKO_NETWORK_TIMEOUT", "1"),
        PATIENCE,
    );
    assert!(
        err.contains(&registry.host()) && err.contains(&layer),
        "names the registry and the blob: {err}"
    );
    // 6 tries in all, the first included, as docs/security.md promises:
    // `RetryPolicy::default().attempts` in src/registry/client.rs, spent by
    // `Client::restarting`; each stall is one try ended by the idle timeout
    // (src/registry/waits.rs). A literal, so that a change of policy fails here.
    assert_eq!(
        registry.count("GET", &format!("/v2/app/blobs/{layer}")),
        6,
        "GETs of the stalled blob"
    );
    assert!(!out.exists());
}

/// Serves `image` under tag v1 but answers `wrong` (same length) for the
/// blob or manifest whose digest is `target`.
fn lying_registry(image: Image, target: String, wrong: Vec<u8>) -> Hostile {
    Hostile::start("127.0.0.1", move |r| {
        if r.path.ends_with(&target) {
            let media_type = crate::util::hostile::MANIFEST;
            return Answer::manifest(media_type, &wrong);
        }
        image.answer(r, "v1").unwrap_or(Answer::status(200))
    })
}

#[test]
fn wrong_bytes_for_a_blob_or_a_manifest_digest_are_refused() {
    let dir = temp_dir();
    let config = dir.path().join("docker");

    let image = Image::new(4, 4000);
    let layer = digest(&image.layer);
    let registry = lying_registry(image, layer.clone(), noise(99, 4000));
    let out = dir.path().join("blob");
    let err = run_err(&mut pull(
        &config,
        &format!("{}/app:v1", registry.host()),
        &out,
    ));
    assert!(err.contains(&layer) && err.contains("digest"), "{err}");
    assert!(!out.exists());

    let image = Image::new(5, 4000);
    let manifest = digest(&image.manifest);
    let other = Image::new(6, 4000).manifest;
    let registry = lying_registry(image, manifest.clone(), other);
    let out = dir.path().join("manifest");
    let reference = format!("{}/app@{manifest}", registry.host());
    let err = run_err(&mut pull(&config, &reference, &out));
    assert!(err.contains(&manifest) && err.contains("digest"), "{err}");
    assert!(!out.exists());
}

#[test]
fn a_redirect_loop_ends_with_a_clear_error() {
    let registry = Hostile::start("127.0.0.1", |r| match r.path.as_str() {
        "/v2/" => Answer::status(200),
        "/v2/app/manifests/v1" => Answer::status(302).header("Location", "/elsewhere"),
        _ => Answer::status(302).header("Location", "/v2/app/manifests/v1"),
    });
    let dir = temp_dir();
    let err = run_err_or_hang(&mut pull_app(&registry, dir.path()), PATIENCE);
    assert!(
        err.contains("redirect") && err.contains(&registry.host()),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_manifest_announcing_a_gigabyte_is_refused_without_reading_it() {
    let registry = Hostile::start("127.0.0.1", |r| match r.path.as_str() {
        "/v2/" => Answer::status(200),
        _ => Answer::Endless { length: 1 << 30 },
    });
    let dir = temp_dir();
    let err = run_err_or_hang(&mut pull_app(&registry, dir.path()), PATIENCE);
    assert!(err.contains("1073741824") && err.contains("MiB"), "{err}");
    // What the kernel buffers, at most; not the gigabyte.
    assert!(
        registry.body_bytes_sent() < 16 << 20,
        "{} bytes sent",
        registry.body_bytes_sent()
    );
}

#[test]
fn an_index_naming_one_child_5000_times_fetches_it_once() {
    let image = Image::new(8, 1000);
    let child = (digest(&image.manifest), image.manifest.len());
    let index = index_of(&vec![child.clone(); 5000]);
    let registry = Hostile::start("127.0.0.1", move |r| {
        if r.path == "/v2/app/manifests/v1" {
            return Answer::manifest(INDEX, &index);
        }
        image.answer(r, "none").unwrap_or(Answer::status(200))
    });
    let dir = temp_dir();
    let (config, out) = (dir.path().join("docker"), dir.path().join("out"));
    run_ok(&mut pull(
        &config,
        &format!("{}/app:v1", registry.host()),
        &out,
    ));
    let fetches = registry.count("GET", &format!("/v2/app/manifests/{}", child.0));
    assert_eq!(fetches, 1);
}

#[test]
fn distinct_children_of_an_index_are_fetched_in_parallel() {
    let images: Vec<Image> = (0..8).map(|i| Image::new(100 + i, 1000)).collect();
    let children: Vec<_> = images
        .iter()
        .map(|i| (digest(&i.manifest), i.manifest.len()))
        .collect();
    let index = index_of(&children);
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (now_, most_) = (Arc::clone(&now), Arc::clone(&most));
    let registry = Hostile::start("127.0.0.1", move |r| {
        if r.path == "/v2/app/manifests/v1" {
            return Answer::manifest(INDEX, &index);
        }
        let answer = images.iter().find_map(|i| i.answer(r, "none"));
        if r.path.contains("/manifests/") {
            // Hold each child a moment, counting how many are asked at once.
            most_.fetch_max(now_.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            now_.fetch_sub(1, Ordering::SeqCst);
        }
        answer.unwrap_or(Answer::status(200))
    });
    let dir = temp_dir();
    let (config, out) = (dir.path().join("docker"), dir.path().join("out"));
    run_ok(pull(&config, &format!("{}/app:v1", registry.host()), &out).args(["--jobs", "4"]));
    assert!(
        most.load(Ordering::SeqCst) > 1,
        "children were fetched one after another"
    );
}

#[test]
fn text_a_registry_wrote_reaches_the_terminal_escaped() {
    // A 404 whose message would print a line of rko's own and retitle
    // the terminal, were it printed raw.
    let fake = "MANIFEST_UNKNOWN\nrko: pushed reg.io/app@sha256:0 \u{1b}]0;pwned\u{7}\u{1b}[2J";
    let body = serde_json::json!({
        "errors": [{"code": "MANIFEST_UNKNOWN", "message": fake, "detail": {"why": "\u{9b}31m"}}]
    });
    let body = body.to_string().into_bytes();
    let registry = Hostile::start("127.0.0.1", move |r| match r.path.as_str() {
        "/v2/" => Answer::status(200),
        _ => Answer::status(404).body(&body),
    });
    let dir = temp_dir();
    let err = run_err_or_hang(&mut pull_app(&registry, dir.path()), PATIENCE);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        !err.contains(['\u{1b}', '\u{7}', '\u{9b}', '\r']),
        "{err:?}"
    );
    assert!(err.contains(r"MANIFEST_UNKNOWN\nrko: pushed"), "{err}");
}
