//! Sparse layouts (issue 23): an image assembled from its layers'
//! descriptors alone (`append --layer-descriptor`), as Bazel does when the
//! layer blobs stay in a remote cache. The layout holds the manifests and
//! config, byte for byte those of the full layout, and no layer blob;
//! `index` joins such images; `push` sends the blobs from files given
//! beside the layout (`--layer`), and refuses, naming the blob, when one
//! is nowhere.

use crate::util::registry::{Auth, Registry};
use crate::util::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Two layers for `arch`, each (blob, descriptor).
fn layers(d: &Path, arch: &str) -> Vec<(PathBuf, PathBuf)> {
    ["app", "data"]
        .iter()
        .map(|name| {
            let file = d.join(format!("{name}-{arch}.txt"));
            fs::write(&file, format!("{name} for {arch}\n")).unwrap();
            layer(
                d,
                &format!("{name}-{arch}"),
                &[&format!("--file={}=/{name}.txt", file.display())],
            )
        })
        .collect()
}

/// `append` of `layers` on builtin:static for linux/`arch` into `out`,
/// with blobs or by descriptor alone; the printed digest.
fn append(out: &Path, arch: &str, layers: &[(PathBuf, PathBuf)], sparse: bool) -> String {
    let mut cmd = rko();
    cmd.args(["append", "--base=builtin:static", "--created=1700000000"])
        .arg(format!("--platform=linux/{arch}"))
        .args(["--env=K=V", "--ko-app=app"]);
    for layer in layers {
        if sparse {
            cmd.arg(format!("--layer-descriptor={}", layer.1.display()));
        } else {
            cmd.arg(format!("--layer={}", layer_arg(layer)));
        }
    }
    run_ok(cmd.arg("--out").arg(out)).trim().to_string()
}

/// Every file of a layout, by path relative to it, with its bytes.
fn files(layout: &Path) -> BTreeMap<String, Vec<u8>> {
    snapshot(layout).into_iter().collect()
}

/// The layer digests (`sha256:…`) the descriptors name.
fn layer_digests(layers: &[(PathBuf, PathBuf)]) -> Vec<String> {
    layers
        .iter()
        .map(|(_, desc)| read_json(desc)["digest"].as_str().unwrap().to_string())
        .collect()
}

/// A full and a sparse index of amd64 and arm64 images, from the same
/// layers; (full index, sparse index, every layer).
fn full_and_sparse(d: &Path) -> (PathBuf, PathBuf, Vec<(PathBuf, PathBuf)>) {
    let mut all = Vec::new();
    let (mut full, mut sparse) = (Vec::new(), Vec::new());
    for arch in ["amd64", "arm64"] {
        let layers = layers(d, arch);
        let (f, s) = (
            d.join(format!("full-{arch}")),
            d.join(format!("sparse-{arch}")),
        );
        assert_eq!(
            append(&f, arch, &layers, false),
            append(&s, arch, &layers, true)
        );
        full.push(f);
        sparse.push(s);
        all.extend(layers);
    }
    let (full_index, sparse_index) = (d.join("full-index"), d.join("sparse-index"));
    assert_eq!(
        index(&[&full[0], &full[1]], &full_index, &[]),
        index(&[&sparse[0], &sparse[1]], &sparse_index, &[])
    );
    (full_index, sparse_index, all)
}

#[test]
fn a_sparse_layout_is_the_full_layout_without_its_layer_blobs() {
    let dir = temp_dir();
    let d = dir.path();
    let (full, sparse, layers) = full_and_sparse(d);
    let (full, sparse) = (files(&full), files(&sparse));
    let missing: Vec<String> = full
        .keys()
        .filter(|path| !sparse.contains_key(*path))
        .map(|path| format!("sha256:{}", path.trim_start_matches("blobs/sha256/")))
        .collect();
    let mut layer_digests = layer_digests(&layers);
    layer_digests.sort();
    assert_eq!(missing, layer_digests, "what the sparse layout lacks");
    for (path, bytes) in &sparse {
        assert_eq!(Some(bytes), full.get(path), "{path} differs");
    }
    assert!(sparse.contains_key("index.json"));
}

#[test]
fn a_sparse_layout_pushes_with_its_layer_files_as_the_full_one_does() {
    let dir = temp_dir();
    let d = dir.path();
    let registry = Registry::start(Auth::None);
    let (full, sparse, layers) = full_and_sparse(d);
    let push = |layout: &Path, repository: &str, with: &[(PathBuf, PathBuf)]| {
        let mut cmd = rko_in(&d.join("docker"));
        cmd.arg("push").arg(layout);
        cmd.arg(format!("{}/{repository}:v1", registry.host()));
        for layer in with {
            cmd.arg(format!("--layer={}", layer_arg(layer)));
        }
        cmd
    };
    let full_digest = pushed_digest(&run_ok(&mut push(&full, "full", &[])));
    let sparse_digest = pushed_digest(&run_ok(&mut push(&sparse, "sparse", &layers)));
    assert_eq!(sparse_digest, full_digest);
    // Every blob is there: skopeo copies the whole index out of the registry.
    run_ok(
        skopeo("copy")
            .args(["--all", "--preserve-digests"])
            .arg(format!("docker://{}/sparse:v1", registry.host()))
            .arg(format!("oci:{}:v1", d.join("copied").display())),
    );

    // One layer file missing: refused, naming the blob, and nothing tagged.
    let err = run_err(&mut push(&sparse, "short", &layers[1..]));
    let first = &layer_digests(&layers)[0];
    assert!(
        err.contains(first.as_str()) && err.contains("--layer"),
        "{err}"
    );
    let tags = skopeo("list-tags")
        .arg(format!("docker://{}/short", registry.host()))
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&tags.stdout).contains("v1"),
        "a failed push tagged v1"
    );

    // A layer file that holds other bytes: refused, naming the file.
    let wrong = layers.clone();
    fs::write(&wrong[0].0, b"not the layer").unwrap();
    let err = run_err(&mut push(&sparse, "wrong", &wrong));
    assert!(
        err.contains(&wrong[0].0.display().to_string()) && err.contains(first.as_str()),
        "{err}"
    );
}

#[test]
fn a_sparse_layout_exports_with_its_layer_files_to_the_same_bytes_as_the_full_one() {
    let dir = temp_dir();
    let d = dir.path();
    let (full, sparse, layers) = full_and_sparse(d);
    let export = |layout: &Path,
                  format: &str,
                  platform: Option<&str>,
                  with: &[(PathBuf, PathBuf)],
                  out: &str| {
        let mut cmd = rko();
        cmd.arg("export")
            .arg(layout)
            .arg(format!("--format={format}"));
        cmd.args(["--tag", "app:v1"]);
        if let Some(platform) = platform {
            cmd.arg(format!("--platform={platform}"));
        }
        for layer in with {
            cmd.arg(format!("--layer={}", layer_arg(layer)));
        }
        cmd.arg("--out").arg(d.join(out));
        cmd
    };
    for (format, platform) in [("oci", None), ("docker", Some("linux/arm64"))] {
        run_ok(&mut export(&full, format, platform, &[], "full.tar"));
        run_ok(&mut export(
            &sparse,
            format,
            platform,
            &layers,
            "sparse.tar",
        ));
        assert!(
            fs::read(d.join("full.tar")).unwrap() == fs::read(d.join("sparse.tar")).unwrap(),
            "{format}: the sparse layout's archive differs from the full one's"
        );
    }

    // Without the files: refused, naming the blob; nothing written.
    let err = run_err(&mut export(&sparse, "oci", None, &layers[1..], "short.tar"));
    assert!(err.contains(&layer_digests(&layers)[0]), "{err}");
    assert!(!d.join("short.tar").exists());
}
