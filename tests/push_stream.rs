//! How `rko push` sends blobs (issue 14, item 5): each blob streamed from
//! its file in one request (POST, then one PUT carrying the whole blob),
//! chunks only when a registry refuses that PUT, and the blobs of an
//! index's images uploaded under one bound. The real distribution registry
//! behind the counting proxy of util/registry.rs receives them; skopeo reads
//! them back.

use crate::util::hostile::{Answer, Hostile};
use crate::util::nginx::Nginx;
use crate::util::registry::{Auth, Fault, FaultProxy, Registry, Rule};
use crate::util::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Bigger than the 8 MiB pieces rko used to send: three of them.
const BIG: usize = 20 << 20;

/// The size of each PATCH when a registry wants chunks.
const CHUNK: u64 = 8 << 20;

/// (digest, size) of every blob the layout's one image references.
fn blobs(layout: &Path) -> Vec<(String, u64)> {
    let digest = layout_digest(layout);
    let hex = digest.trim_start_matches("sha256:");
    let manifest = read_json(&layout.join("blobs/sha256").join(hex));
    let config = &manifest["config"];
    std::iter::once(config)
        .chain(manifest["layers"].as_array().unwrap())
        .map(|d| {
            let digest = d["digest"].as_str().unwrap().to_string();
            (digest, d["size"].as_u64().unwrap())
        })
        .collect()
}

/// The biggest blob: the layer holding the noise.
fn biggest(layout: &Path) -> (String, u64) {
    blobs(layout).into_iter().max_by_key(|(_, s)| *s).unwrap()
}

/// Copies `reference` back out with skopeo (which checks every digest) and
/// asserts each blob's bytes equal the layout's.
fn assert_reads_back(reference: &str, layout: &Path, dir: &Path) {
    let copied = dir.join("copied");
    run_ok(
        skopeo("copy")
            .arg(format!("docker://{reference}"))
            .arg(format!("oci:{}:x", copied.display())),
    );
    assert_eq!(layout_digest(&copied), layout_digest(layout));
    for (digest, _) in blobs(layout) {
        let hex = digest.trim_start_matches("sha256:");
        let sent = std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap();
        let back = std::fs::read(copied.join("blobs/sha256").join(hex)).unwrap();
        assert!(sent == back, "blob {digest} differs after the round trip");
    }
}

/// `rko push` of the layout `image` to `target`, which must push it whole.
fn push_whole(image: &Path, target: &str, dir: &Path) {
    let pushed = run_ok(
        rko_in(&dir.join("docker"))
            .arg("push")
            .arg(image)
            .arg(target),
    );
    assert_eq!(pushed_digest(&pushed), layout_digest(image));
}

fn big_image(dir: &Path) -> PathBuf {
    image_with_file(dir, "big", &noise(14, BIG), "/data/big.bin")
}

#[test]
fn each_blob_goes_in_one_post_and_one_streamed_put() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port);
    let dir = temp_dir();
    let image = big_image(dir.path());
    let (layer, size) = biggest(&image);
    assert!(size > 2 * CHUNK, "the layer is {size} bytes");
    let target = format!("{}/stream:1", proxy.host());
    push_whole(&image, &target, dir.path());

    let count = blobs(&image).len();
    assert_eq!(proxy.count("HEAD", "/blobs/"), count);
    assert_eq!(proxy.count("POST", "/blobs/uploads/"), count);
    assert_eq!(proxy.count("PATCH", "/blobs/"), 0, "no chunks");
    assert_eq!(proxy.count("PUT", "/blobs/uploads/"), count);
    assert_eq!(
        proxy.count("PUT", &format!("digest={layer}")),
        1,
        "the big layer went in one PUT"
    );
    assert_reads_back(&target, &image, dir.path());
}

#[test]
fn a_registry_refusing_the_whole_blob_in_one_put_gets_it_in_chunks() {
    let registry = Registry::start(Auth::None);
    let proxy = FaultProxy::start(registry.port);
    let dir = temp_dir();
    let image = big_image(dir.path());
    let (layer, size) = biggest(&image);
    // A proxy's body limit: 413 to the PUT carrying the big layer.
    let needle: &'static str = Box::leak(format!("digest={layer}").into_boxed_str());
    proxy.add(Rule {
        method: "PUT",
        path_contains: needle,
        fault: Fault::Status(413, None),
        times: 1,
    });
    let target = format!("{}/chunks:1", proxy.host());
    push_whole(&image, &target, dir.path());
    let count = blobs(&image).len();
    assert_eq!(
        proxy.count("POST", "/blobs/uploads/"),
        count + 1,
        "a fresh upload session for the chunks"
    );
    assert_eq!(
        proxy.count("PATCH", "/blobs/uploads/") as u64,
        size.div_ceil(CHUNK),
        "8 MiB chunks"
    );
    assert_eq!(
        proxy.count("PUT", needle),
        2,
        "the refused PUT and the closing one"
    );
    assert_reads_back(&target, &image, dir.path());
}

/// A registry that takes every blob and manifest, holding each blob upload a
/// moment and counting how many are in flight at once.
fn counting_registry(most: Arc<AtomicUsize>) -> Hostile {
    let now = Arc::new(AtomicUsize::new(0));
    Hostile::start("127.0.0.1", move |r| {
        if r.method == "HEAD" {
            return Answer::status(404);
        }
        if r.is("POST", "/v2/app/blobs/uploads/") {
            return Answer::status(202).header("Location", "/v2/app/blobs/uploads/session");
        }
        if r.is("PUT", "/v2/app/blobs/uploads/") {
            most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(200));
            now.fetch_sub(1, Ordering::SeqCst);
            return Answer::status(201);
        }
        if r.is("PUT", "/v2/app/manifests/") {
            return Answer::status(201);
        }
        // No referrers index yet (the referrers tag schema's GET).
        if r.is("GET", "/v2/app/manifests/") {
            return Answer::status(404);
        }
        Answer::status(200)
    })
}

#[test]
fn the_blobs_of_an_index_and_its_sbom_upload_under_one_bound() {
    let dir = temp_dir();
    let images: Vec<PathBuf> = ["amd64", "arm64"]
        .iter()
        .map(|arch| hello_image(dir.path(), arch))
        .collect();
    let index = dir.path().join("index");
    let refs: Vec<&Path> = images.iter().map(PathBuf::as_path).collect();
    crate::util::index(&refs, &index, &[]);
    // With an SBOM, whose blobs go up beside the images'.
    run_ok(
        rko()
            .args(["sbom", "--binary"])
            .arg(hello_binary("amd64"))
            .arg("--attach")
            .arg(&index),
    );
    for jobs in [1, 3] {
        let most = Arc::new(AtomicUsize::new(0));
        let registry = counting_registry(Arc::clone(&most));
        run_ok(
            rko_in(&dir.path().join("docker"))
                .arg("push")
                .arg(&index)
                .arg(format!("{}/app:v1", registry.host()))
                .args(["--jobs", &jobs.to_string()]),
        );
        let most = most.load(Ordering::SeqCst);
        assert!(
            most <= jobs,
            "--jobs {jobs}: {most} uploads at once across the index's images"
        );
        if jobs > 1 {
            assert!(most > 1, "--jobs {jobs}: blobs went one after another");
        }
    }
}

/// nginx in front of a registry refuses bodies over its
/// `client_max_body_size` (1 MB by default; crane's push of a bigger layer
/// then fails, its one PATCH refused): rko sends the layer in ever smaller chunks
/// until they pass, and the image reads back whole.
#[test]
fn a_registry_behind_an_nginx_body_limit_gets_chunks_small_enough() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let nginx = Nginx::start_proxy(&dir.path().join("nginx"), registry.port, "1m");
    let image = image_with_file(dir.path(), "big", &noise(15, 3 << 20), "/data/big.bin");
    let target = format!("{}/limited:1", nginx.host());
    push_whole(&image, &target, dir.path());
    assert_reads_back(&target, &image, dir.path());
}
