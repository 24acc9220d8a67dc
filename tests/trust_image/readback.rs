//! Reading back what the verified-blob paths wrote, with readers that are
//! not rko's: skopeo (which checks every blob against its digest), Python's
//! tarfile and GNU tar.

use crate::readers::{check_entries, read_tar, sha256_hex, Want};
use crate::util::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// Checks that skopeo, which verifies every blob against its digest, reads
/// `small_image`'s layout at `image` into the `dir:` copy at `copy`: the
/// same manifest, builtin:static's layer and then one holding what
/// `small_image` put in (read by Python's tarfile), each layer's diffID in
/// the config. Returns the config.
pub fn check_small_image(image: &Path, copy: &Path) -> serde_json::Value {
    run_ok(
        skopeo("copy")
            .arg("--quiet")
            .arg(format!("oci:{}:latest", image.display()))
            .arg(format!("dir:{}", copy.display())),
    );
    let manifest = fs::read(copy.join("manifest.json")).unwrap();
    assert_eq!(
        format!("sha256:{}", sha256_hex(&manifest)),
        layout_digest(image),
        "the manifest skopeo read"
    );
    let manifest = json(&String::from_utf8(manifest).unwrap());
    let blob = |digest: &serde_json::Value| {
        copy.join(digest.as_str().unwrap().trim_start_matches("sha256:"))
    };
    let config = read_json(&blob(&manifest["config"]["digest"]));
    let layers: Vec<_> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| read_tar(&blob(&layer["digest"])))
        .collect();
    assert_eq!(layers.len(), 2, "the base's layer and the one added");
    layers[0].entry("etc/passwd"); // builtin:static's
    check_entries(
        &layers[1].entries,
        &[Want::file("image.txt", "image\n".repeat(100), 0o555)],
    );
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|layer| format!("sha256:{}", layer.tar_sha256))
        .collect();
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!(diff_ids));
    config
}

/// Checks that skopeo reads the index at `index_dir` as listing the
/// image at `image`, for the platform its `config` names.
pub fn check_index_of(index_dir: &Path, image: &Path, config: &serde_json::Value) {
    let raw = run_ok(
        skopeo("inspect")
            .arg("--raw")
            .arg(format!("oci:{}:latest", index_dir.display())),
    );
    let index = json(&raw);
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{raw}"
    );
    let listed = &index["manifests"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{raw}");
    assert_eq!(listed[0]["digest"], layout_digest(image), "{raw}");
    assert_eq!(listed[0]["platform"]["os"], config["os"], "{raw}");
    let architecture = &config["architecture"];
    assert_eq!(
        listed[0]["platform"]["architecture"], *architecture,
        "{raw}"
    );
}

/// Checks the docker-save tarball at `archive` against skopeo's `dir:`
/// copy of the image at `copy`. Python's tarfile reads it as
/// go-containerregistry's `tarball.Write` lays it out: the config as
/// `sha256:<hex>`, each layer blob as `<hex>.tar.gz`, then
/// `manifest.json` naming them; files 0644, root's, dated 0. skopeo
/// reads it as the same image: the same config, layers whose digests
/// (skopeo decompresses them) are the config's diffIDs.
pub fn check_docker_archive(archive: &Path, copy: &Path) {
    let manifest = read_json(&copy.join("manifest.json"));
    let hex = |d: &serde_json::Value| d["digest"].as_str().unwrap()[7..].to_string();
    let config = hex(&manifest["config"]);
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex)
        .collect();
    let docker_manifest = run_ok(
        Command::new(require("tar"))
            .arg("-xOf")
            .arg(archive)
            .arg("manifest.json"),
    );
    let file = |name: &str, content: Vec<u8>| Want::file(name, content, 0o644);
    let mut want = vec![file(
        &format!("sha256:{config}"),
        fs::read(copy.join(&config)).unwrap(),
    )];
    for layer in &layers {
        want.push(file(
            &format!("{layer}.tar.gz"),
            fs::read(copy.join(layer)).unwrap(),
        ));
    }
    // Its content as GNU tar extracts it, which must say the same.
    want.push(file("manifest.json", docker_manifest.clone().into_bytes()));
    check_entries(&read_tar(archive).entries, &want);
    let layer_files: Vec<String> = layers.iter().map(|l| format!("{l}.tar.gz")).collect();
    assert_eq!(
        json(&docker_manifest),
        serde_json::json!([{
            "Config": format!("sha256:{config}"),
            "RepoTags": [],
            "Layers": layer_files,
        }]),
        "manifest.json"
    );

    let read = archive.with_extension("copy");
    run_ok(
        skopeo("copy")
            .arg("--quiet")
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("dir:{}", read.display())),
    );
    let read_manifest = read_json(&read.join("manifest.json"));
    assert_eq!(
        hex(&read_manifest["config"]),
        config,
        "config, as skopeo read it"
    );
    let config = read_json(&copy.join(&config));
    let read_layers: Vec<String> = read_manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("sha256:{}", hex(l)))
        .collect();
    assert_eq!(
        serde_json::json!(read_layers),
        config["rootfs"]["diff_ids"],
        "layers, as skopeo read them, are the config's diffIDs"
    );
}

/// Checks that the OCI archive at `archive` is the layout at `image` as a
/// tar, as Python's tarfile reads it: each directory (0755) and file
/// (0644, the layout's bytes) in path order, root's, dated 0.
pub fn check_oci_archive(archive: &Path, image: &Path) {
    let want: Vec<Want> = walkdir::WalkDir::new(image)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter()
        .map(|item| {
            let item = item.unwrap();
            let name = item.path().strip_prefix(image).unwrap().to_str().unwrap();
            if item.file_type().is_dir() {
                Want::dir(name, 0o755)
            } else {
                Want::file(name, fs::read(item.path()).unwrap(), 0o644)
            }
        })
        .collect();
    check_entries(&read_tar(archive).entries, &want);
}

/// The hex sha256 of a file, by the system's sha256sum.
pub fn sha256_of(path: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(path));
    format!("sha256:{}", out.split_whitespace().next().unwrap())
}
