//! Bazel without the bytes (issue 23): with a remote cache (bazel-remote,
//! the production server) and `--remote_download_minimal`, `bazel build`
//! of an image and `bazel run` of its lazy `ko_push` write no layer blob on
//! the client; `rko push` reads from the cache exactly the layers the
//! registry lacks, and pushes the image the eager push pushes, byte for
//! byte; a lazy `ko_load` exports from the cache into podman. A layer the
//! cache evicted is explained, and nothing is tagged.

use crate::util::bazel::{rko_repo_in, Hello, Workspace};
use crate::util::bazel_remote::BazelRemote;
use crate::util::registry::{Auth, Registry};
use crate::util::*;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use walkdir::WalkDir;

/// The layers of every image of the index `reference`, by digest: size.
fn pushed_layers(reference: &str) -> BTreeMap<String, u64> {
    let index = json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{reference}")),
    ));
    let repository = reference.rsplit_once(':').unwrap().0;
    let mut layers = BTreeMap::new();
    for child in index["manifests"].as_array().unwrap() {
        let digest = child["digest"].as_str().unwrap();
        let manifest = json(&run_ok(
            skopeo("inspect")
                .arg("--raw")
                .arg(format!("docker://{repository}@{digest}")),
        ));
        for layer in manifest["layers"].as_array().unwrap() {
            layers.insert(
                layer["digest"].as_str().unwrap().to_string(),
                layer["size"].as_u64().unwrap(),
            );
        }
    }
    layers
}

/// The files under `dir` that are one of `layers` (same size, same
/// SHA-256), and their bytes.
fn layer_copies(dir: &Path, layers: &BTreeMap<String, u64>) -> (Vec<String>, u64) {
    let sizes: Vec<u64> = layers.values().copied().collect();
    let (mut found, mut bytes) = (Vec::new(), 0);
    for entry in WalkDir::new(dir).follow_links(false).into_iter().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() || !sizes.contains(&meta.len()) {
            continue;
        }
        let Ok(content) = fs::read(entry.path()) else {
            continue;
        };
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&content)));
        if layers.contains_key(&digest) {
            found.push(entry.path().display().to_string());
            bytes += meta.len();
        }
    }
    (found, bytes)
}

/// What bazel-remote's log says it served of `layers` (`CAS GET` in a
/// batch, `BYTESTREAM READ COMPLETED` streamed), in bytes.
fn served_bytes(log: &str, layers: &BTreeMap<String, u64>) -> u64 {
    layers
        .iter()
        .map(|(digest, size)| {
            let hex = digest.trim_start_matches("sha256:");
            let times = log
                .lines()
                .filter(|line| {
                    line.contains(&format!("GRPC CAS GET {hex} OK"))
                        || line.contains(&format!("BYTESTREAM READ COMPLETED blobs/{hex}/"))
                })
                .count() as u64;
            times * size
        })
        .sum()
}

/// The `bytes read` figure of rko push's summary line.
fn rko_read_bytes(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("came from the remote cache"))
        .unwrap_or_else(|| panic!("no remote cache summary: {stderr}"));
    line.rsplit(": ")
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_lazy_push_reads_only_what_the_registry_lacks_from_bazel_remote_and_downloads_no_layer() {
    let dir = temp_dir();
    let d = dir.path();
    let cache = BazelRemote::start(&d.join("bazel-remote"));
    let registry = Registry::start(Auth::None);
    let ws = Workspace::copy(d, "ws", "output_root", &rko_repo_in(d, Hello::Tiny));
    let grpc = format!("grpc://{}", cache.grpc_address());
    ws.append(
        ".bazelrc",
        &format!("build --remote_cache={grpc}\nbuild --define=rko_remote_cache={grpc}\n"),
    );
    ws.load_defs(&["ko_load"]);
    ws.append(
        "BUILD.bazel",
        "\nko_load(\n    name = \"load\",\n    image = \":image\",\n    platform = \"linux/amd64\",\n    repo_tags = [\"example.com/hello:lazy\"],\n)\n",
    );
    let push = |repository: &str, flags: &[&str]| {
        let mut cmd = ws.bazel();
        cmd.arg("run")
            .args(flags)
            .args(["//:push", "--", "--repository"]);
        cmd.arg(format!("{}/{repository}", registry.host()));
        cmd.env("DOCKER_CONFIG", d.join("docker"));
        cmd
    };

    // A first build fills the cache; the eager push is the reference.
    run_ok(ws.bazel().args(["build", "//:image"]));
    run_ok(&mut push("eager", &[]));
    let eager = format!("{}/eager:latest", registry.host());
    let layers = pushed_layers(&eager);

    // Another client: nothing local, every output in the cache. Bazel 4
    // downloads no runfiles for `bazel run` under --remote_download_minimal,
    // so the run downloads the push target's (toplevel): its metadata, and
    // no layer, since a lazy push's runfiles hold none.
    run_ok(ws.bazel().arg("clean"));
    let lazy = "--define=rko_push_strategy=lazy";
    run_ok(
        ws.bazel()
            .args(["build", "//:image", "--remote_download_minimal", lazy]),
    );
    let minimal = ["--remote_download_toplevel", lazy];
    let before = cache.log().len();
    let (_, stderr) = run_ok_with_stderr(&mut push("lazy", &minimal));
    let lazy = format!("{}/lazy:latest", registry.host());
    assert_eq!(
        digest_of(&lazy),
        digest_of(&eager),
        "the lazy push pushed another image than the eager one"
    );

    // Not one layer blob on the client: output base, runfiles, bazel-out.
    // (The base's layers are in the layout: only those rko built count.)
    let built: BTreeMap<String, u64> = layers
        .iter()
        .filter(|(digest, _)| !ws_layout_has(&ws, digest))
        .map(|(d, s)| (d.clone(), *s))
        .collect();
    let output_base = run_ok(ws.bazel().args(["info", "output_base"]).args(minimal));
    let (copies, bytes) = layer_copies(Path::new(output_base.trim()), &built);
    assert!(
        copies.is_empty(),
        "{bytes} bytes of layers on the client: {copies:#?}\n{stderr}"
    );

    // What was read from the cache is what the registry lacked: the layers
    // rko built, each once; rko's own count and bazel-remote's log agree.
    assert!(
        built.len() >= 3,
        "two binary layers and kodata's: {built:?}"
    );
    let lacked: u64 = built.values().sum();
    assert_eq!(rko_read_bytes(&stderr), lacked, "{stderr}");
    assert_eq!(served_bytes(&cache.log()[before..], &built), lacked);
    eprintln!(
        "lazy push: {} layers the registry lacked, {lacked} bytes, read from the cache once each; \
         layer files on the client: {} ({bytes} bytes)",
        built.len(),
        copies.len()
    );

    // A lazy ko_load exports when it runs, reading the layers from the
    // cache: podman gets the amd64 image, and still no layer is on the
    // client.
    let podman_dir = d.join("podman");
    fs::create_dir_all(&podman_dir).unwrap();
    let mut load = ws.bazel();
    load.args(["run", "//:load"]).args(minimal);
    with_podman_storage(&mut load, &podman_dir);
    let (_, loaded) = run_ok_with_stderr(&mut load);
    let id = run_ok(podman(&podman_dir).args([
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        "example.com/hello:lazy",
    ]));
    assert_eq!(
        format!("sha256:{}", id.trim()),
        amd64_config(&lazy),
        "{loaded}"
    );
    let (copies, bytes) = layer_copies(Path::new(output_base.trim()), &built);
    assert!(
        copies.is_empty(),
        "{bytes} bytes of layers: {copies:#?}\n{loaded}"
    );

    // Pushed again: the registry has them all; nothing is read.
    let (_, again) = run_ok_with_stderr(&mut push("lazy", &minimal));
    assert_eq!(rko_read_bytes(&again), 0, "{again}");

    // A cache that evicted the layers (a fresh one): explained, not tagged.
    let empty = BazelRemote::start(&d.join("evicted"));
    let err = run_err(push("evicted", &minimal).env(
        "RKO_REMOTE_CACHE",
        format!("grpc://{}", empty.grpc_address()),
    ));
    assert!(
        err.contains("is not in the cache") && err.contains("evict") && err.contains("--max_size"),
        "{err}"
    );
    assert!(
        listed_tags(&format!("{}/evicted", registry.host())).is_empty(),
        "a push that failed tagged"
    );
}

/// The config digest of the amd64 image of the index `reference`.
fn amd64_config(reference: &str) -> String {
    let index = json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{reference}")),
    ));
    let repository = reference.rsplit_once(':').unwrap().0;
    let child = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["platform"]["architecture"] == "amd64")
        .unwrap();
    let digest = child["digest"].as_str().unwrap();
    let manifest = json(&run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("docker://{repository}@{digest}")),
    ));
    manifest["config"]["digest"].as_str().unwrap().to_string()
}

/// Whether the image layout under bazel-bin holds the blob (the base's
/// layers do; the layers rko built never do).
fn ws_layout_has(ws: &Workspace, digest: &str) -> bool {
    WalkDir::new(ws.path.join("bazel-out"))
        .follow_links(true)
        .into_iter()
        .flatten()
        .any(|e| e.file_name().to_string_lossy() == digest.trim_start_matches("sha256:"))
}

/// The digest skopeo reads for `reference`.
fn digest_of(reference: &str) -> String {
    json(&run_ok(
        skopeo("inspect").arg(format!("docker://{reference}")),
    ))["Digest"]
        .as_str()
        .unwrap()
        .to_string()
}
