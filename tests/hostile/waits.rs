//! Every wait bounded (issue 21, items 4 to 6): a body that drips a byte
//! at a time is cut off at the rate floor, headers that drip fail saying
//! so, every request has one retry budget however it fails, and an image
//! config is capped as a manifest is, from a registry or from a layout.

use super::{pull, pull_app, PATIENCE};
use crate::util::hostile::{
    digest, run_err_or_hang, run_ok_or_hang, Answer, Hostile, Image, MANIFEST,
};
use crate::util::*;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a dripping body sends its next byte: far more often than the
/// idle timeout, far slower than the rate floor.
const DRIP: Duration = Duration::from_millis(500);

/// Tries per request, the first included: the budget docs/security.md
/// promises ("at most 6 tries"), a literal, so that a change of the policy
/// under test fails here rather than moving the expectation with it.
fn attempts() -> usize {
    6
}

/// Answers `request` by dripping `body` the first time its path is asked
/// for; `None` every later time.
fn drip_once(dripped: &Mutex<HashSet<String>>, path: &str, body: &[u8]) -> Option<Answer> {
    dripped
        .lock()
        .unwrap()
        .insert(path.to_string())
        .then(|| Answer::Drip {
            body: body.to_vec(),
            interval: DRIP,
        })
}

#[test]
fn a_token_manifest_or_blob_dripping_a_byte_at_a_time_is_cut_off_at_the_rate_floor_and_fetched_again(
) {
    let dripped = Arc::new(Mutex::new(HashSet::new()));
    let token_dripped = Arc::clone(&dripped);
    let realm = Hostile::start("127.0.0.1", move |_| {
        let token = br#"{"token":"t"}"#;
        drip_once(&token_dripped, "token", token).unwrap_or(Answer::bytes(token))
    });
    let challenge = format!("Bearer realm=\"{}\",service=\"s\"", realm.url("/token"));
    let image = Image::new(21, 50_000);
    let config = digest(&image.config);
    let (manifest_path, config_path) = (
        "/v2/app/manifests/v1".to_string(),
        format!("/v2/app/blobs/{config}"),
    );
    let (manifest, config_bytes) = (image.manifest.clone(), image.config.clone());
    let registry = Hostile::start("127.0.0.1", move |r| {
        if r.header("authorization") != Some("Bearer t") {
            return Answer::status(401).header("WWW-Authenticate", &challenge);
        }
        let first = if r.path == manifest_path {
            drip_once(&dripped, &r.path, &manifest)
        } else if r.path == config_path {
            drip_once(&dripped, &r.path, &config_bytes)
        } else {
            None
        };
        first.unwrap_or_else(|| image.answer(r, "v1").unwrap_or(Answer::status(200)))
    });
    let dir = temp_dir();
    let out = dir.path().join("out");

    run_ok_or_hang(
        pull(
            &dir.path().join("docker"),
            &format!("{}/app:v1", registry.host()),
            &out,
        )
        .env("RKO_LOW_SPEED_TIME", "2"),
        PATIENCE,
    );
    let with_token = |prefix: &str| {
        registry
            .requests()
            .iter()
            .filter(|r| r.is("GET", prefix) && r.header("authorization").is_some())
            .count()
    };
    assert_eq!(
        realm.count("GET", "/token"),
        2,
        "the token: cut, then fetched again"
    );
    assert_eq!(with_token("/v2/app/manifests/v1"), 2, "the manifest");
    assert_eq!(
        with_token(&format!("/v2/app/blobs/{config}")),
        2,
        "the config"
    );
    assert!(out.join("index.json").is_file());
}

#[test]
fn a_blob_dripping_forever_fails_at_the_rate_floor_after_the_retry_budget_naming_the_floor() {
    let image = Image::new(22, 100_000);
    let layer = digest(&image.layer);
    let (body, dripping) = (image.layer.clone(), layer.clone());
    let registry = Hostile::start("127.0.0.1", move |r| {
        if r.path.ends_with(&dripping) {
            return Answer::Drip {
                body: body.clone(),
                interval: DRIP,
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
        .env("RKO_LOW_SPEED_TIME", "2"),
        PATIENCE,
    );
    assert!(
        err.contains(&registry.host()) && err.contains(&layer),
        "names the registry and the blob: {err}"
    );
    assert!(
        err.contains("1024 bytes/s") && err.contains("--low-speed-limit"),
        "says the transfer fell under the floor, and how to change it: {err}"
    );
    assert_eq!(
        registry.count("GET", &format!("/v2/app/blobs/{layer}")),
        attempts(),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn headers_sent_a_byte_at_a_time_fail_saying_they_came_too_slowly() {
    let registry = Hostile::start("127.0.0.1", |r| match r.path.as_str() {
        "/v2/" => Answer::status(200),
        _ => Answer::DripHeaders {
            interval: Duration::from_millis(100),
        },
    });
    let dir = temp_dir();

    let err = run_err_or_hang(
        pull_app(&registry, dir.path()).env("RKO_NETWORK_TIMEOUT", "0.5"),
        PATIENCE,
    );
    assert!(
        err.contains("response headers too slowly") && err.contains("not complete after 2 s"),
        "says what happened, and how long it took: {err}"
    );
    assert!(!err.contains("sent nothing"), "{err}");
    assert_eq!(
        registry.count("GET", "/v2/app/manifests/v1"),
        attempts(),
        "retried as a stall is: {err}"
    );
}

#[test]
fn a_blob_answering_500_forever_gets_exactly_the_retry_budget_of_tries() {
    let image = Image::new(23, 5_000);
    let layer = digest(&image.layer);
    let failing = layer.clone();
    let registry = Hostile::start("127.0.0.1", move |r| {
        if r.path.ends_with(&failing) {
            return Answer::status(500);
        }
        image.answer(r, "v1").unwrap_or(Answer::status(200))
    });
    let dir = temp_dir();

    let err = run_err_or_hang(&mut pull_app(&registry, dir.path()), PATIENCE);
    assert!(err.contains(&layer) && err.contains("500"), "{err}");
    assert_eq!(
        registry.count("GET", &format!("/v2/app/blobs/{layer}")),
        attempts(),
        "{err}"
    );
}

#[test]
fn a_manifest_whose_body_stalls_once_is_retried_and_the_pull_succeeds() {
    let image = Image::new(24, 5_000);
    let stalled = Mutex::new(false);
    let registry = Hostile::start("127.0.0.1", move |r| {
        if r.path == "/v2/app/manifests/v1"
            && !std::mem::replace(&mut *stalled.lock().unwrap(), true)
        {
            return Answer::Stall {
                length: image.manifest.len() as u64,
                prefix: image.manifest[..10].to_vec(),
            };
        }
        image.answer(r, "v1").unwrap_or(Answer::status(200))
    });
    let dir = temp_dir();
    let out = dir.path().join("out");

    run_ok_or_hang(
        pull(
            &dir.path().join("docker"),
            &format!("{}/app:v1", registry.host()),
            &out,
        )
        .env("RKO_NETWORK_TIMEOUT", "1"),
        PATIENCE,
    );
    assert_eq!(registry.count("GET", "/v2/app/manifests/v1"), 2);
    assert!(out.join("index.json").is_file());
}

/// The limit on configs, as rko states it in its errors.
const CAP: &str = "16 MiB";

#[test]
fn a_config_larger_than_the_cap_is_refused_without_reading_it() {
    let announced: u64 = 64 << 20;
    let config = format!("sha256:{}", "c".repeat(64));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": announced},
        "layers": [],
    })
    .to_string()
    .into_bytes();
    let registry = Hostile::start("127.0.0.1", move |r| match r.path.as_str() {
        "/v2/" => Answer::status(200),
        "/v2/app/manifests/v1" => Answer::manifest(MANIFEST, &manifest),
        _ => Answer::Endless { length: announced },
    });
    let dir = temp_dir();
    let out = dir.path().join("out");

    let err = run_err_or_hang(
        &mut pull(
            &dir.path().join("docker"),
            &format!("{}/app:v1", registry.host()),
            &out,
        ),
        PATIENCE,
    );
    assert!(
        err.contains(&config) && err.contains(&registry.host()) && err.contains(CAP),
        "names the config, the registry and the limit: {err}"
    );
    assert!(err.contains(&announced.to_string()), "{err}");
    assert_eq!(registry.count("GET", "/v2/app/blobs/"), 0, "{err}");
    assert_eq!(registry.body_bytes_sent(), 0);
    assert!(!out.exists());
}

/// A layout whose one image has a config of `config` bytes, its
/// descriptor saying `announced` bytes.
fn layout_with_config(dir: &Path, config: &[u8], announced: usize) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = digest(bytes);
        std::fs::write(blobs.join(&digest["sha256:".len()..]), bytes).unwrap();
        digest
    };
    let config_digest = put(config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": announced},
        "layers": [],
    })
    .to_string()
    .into_bytes();
    let manifest_digest = put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": MANIFEST, "digest": manifest_digest, "size": manifest.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    config_digest
}

#[test]
fn a_base_layouts_config_larger_than_the_cap_is_refused_naming_it_and_the_limit() {
    let dir = temp_dir();
    let label = "x".repeat(17 << 20);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"big": label}},
        "rootfs": {"type": "layers", "diff_ids": []},
    })
    .to_string()
    .into_bytes();
    let append = |base: &Path| {
        let mut cmd = rko();
        cmd.arg("append")
            .arg(format!("--base={}", base.display()))
            .arg("--out")
            .arg(dir.path().join("out"));
        cmd
    };

    // The descriptor says how big it is: refused before a byte is read.
    let honest = dir.path().join("honest");
    let digest = layout_with_config(&honest, &config, config.len());
    let err = run_err(&mut append(&honest));
    assert!(
        err.contains(&digest["sha256:".len()..])
            && err.contains(CAP)
            && err.contains(&config.len().to_string()),
        "names the config, its size and the limit: {err}"
    );

    // The descriptor lies: refused all the same, for the lie.
    let lying = dir.path().join("lying");
    let digest = layout_with_config(&lying, &config, 1000);
    let err = run_err(&mut append(&lying));
    assert!(
        err.contains(&digest["sha256:".len()..]) && err.contains("descriptor says 1000"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists());
}
