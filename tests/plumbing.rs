//! The plumbing contract, command by command: what `append`, `index` and
//! `export` put in their outputs for the options they are given.

use crate::util::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn blob(layout: &Path, digest: &str) -> Value {
    read_json(
        &layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
}

/// The manifest and config of the single image in `layout`.
fn image_parts(layout: &Path) -> (Value, Value) {
    let manifest = blob(layout, &layout_digest(layout));
    let config = blob(layout, manifest["config"]["digest"].as_str().unwrap());
    (manifest, config)
}

fn small_layer(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let file = dir.join(format!("{name}.txt"));
    fs::write(&file, name).unwrap();
    layer(
        dir,
        name,
        &[&format!("--file={}=/{name}.txt", file.display())],
    )
}

#[test]
fn append_applies_every_config_option() {
    let dir = temp_dir();
    let d = dir.path();
    let l = small_layer(d, "one");
    fs::write(d.join("env"), "# comment\nFROM_FILE=1\n\nSHARED=file\n").unwrap();
    fs::write(d.join("labels"), "team=plumbing\n").unwrap();
    let out = d.join("image");
    run_ok(
        rko()
            .args(["append", "--base=scratch", "--platform=linux/arm/v7"])
            .arg(format!("--layer={}", layer_arg(&l)))
            .arg(format!("--env-file={}", d.join("env").display()))
            .args(["--env", "SHARED=flag", "--env", "EMPTY="])
            .arg(format!("--labels-file={}", d.join("labels").display()))
            .args(["--label", "tier=1", "--annotation", "org.example.note=hi"])
            .args(["--user", "1000:1000", "--workdir", "/work"])
            .args(["--entrypoint", "/bin/app", "--entrypoint", "--verbose"])
            .args(["--cmd", "-c", "--cmd", "serve"])
            .args(["--created", "1700000000", "--tag", "v1"])
            .arg("--out")
            .arg(&out),
    );
    let (manifest, config) = image_parts(&out);
    assert_eq!(config["architecture"], "arm");
    assert_eq!(config["variant"], "v7");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
    let c = &config["config"];
    assert_eq!(c["Env"], json!(["FROM_FILE=1", "SHARED=flag", "EMPTY="]));
    assert_eq!(c["Labels"], json!({"team": "plumbing", "tier": "1"}));
    assert_eq!(c["User"], "1000:1000");
    assert_eq!(c["WorkingDir"], "/work");
    assert_eq!(c["Entrypoint"], json!(["/bin/app", "--verbose"]));
    assert_eq!(c["Cmd"], json!(["-c", "serve"]));
    assert_eq!(
        manifest["annotations"],
        json!({"org.example.note": "hi"}),
        "scratch has no base digest"
    );
    let index = read_json(&out.join("index.json"));
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
}

#[test]
fn arguments_can_come_from_a_params_file() {
    let dir = temp_dir();
    let d = dir.path();
    let l = small_layer(d, "one");
    let out = d.join("image");
    let params = d.join("append.params");
    let lines = [
        "--base=scratch".to_string(),
        format!("--layer={}", layer_arg(&l)),
        "--env".into(),
        "GREETING=hello world".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    fs::write(&params, lines.join("\n") + "\n").unwrap();
    let digest = run_ok(rko().arg("append").arg(format!("@{}", params.display())));
    let (_, config) = image_parts(&out);
    assert_eq!(config["config"]["Env"], json!(["GREETING=hello world"]));
    assert!(digest.starts_with("sha256:"));
}

#[test]
fn append_on_a_layout_keeps_its_layers_and_records_the_base() {
    let dir = temp_dir();
    let d = dir.path();
    let base_layer = small_layer(d, "base");
    let base = d.join("base");
    let base_digest = run_ok(
        rko()
            .args(["append", "--base=builtin:static", "--platform=linux/arm64"])
            .arg(format!("--layer={}", layer_arg(&base_layer)))
            .arg("--out")
            .arg(&base),
    );
    let app = small_layer(d, "app");
    let out = d.join("image");
    let digest_file = d.join("image.digest");
    let digest = run_ok(
        rko()
            .arg("append")
            .arg(format!("--base={}", base.display()))
            .args(["--base-name", "registry.example/base:1", "--ko-app", "app"])
            .arg(format!("--layer={}", layer_arg(&app)))
            .arg("--out")
            .arg(&out)
            .arg("--digest-file")
            .arg(&digest_file),
    );
    assert_eq!(fs::read_to_string(&digest_file).unwrap(), digest.trim());
    let (base_manifest, _) = image_parts(&base);
    let (manifest, config) = image_parts(&out);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "builtin:static, base, app");
    assert_eq!(layers[..2], base_manifest["layers"].as_array().unwrap()[..]);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.digest"],
        base_digest.trim()
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.name"],
        "registry.example/base:1"
    );
    assert_eq!(
        config["architecture"], "arm64",
        "the base's platform is kept"
    );
    assert_eq!(config["config"]["User"], "65532", "the base's user is kept");
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
    // Blobs are hard-linked from their inputs, not copied.
    let app_blob = out.join("blobs/sha256").join(
        layers[2]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:"),
    );
    assert_eq!(
        fs::metadata(&app_blob).unwrap().ino(),
        fs::metadata(&app.0).unwrap().ino()
    );
}

/// amd64 and arm64 images on builtin:static, each with a small layer, and
/// the index of both.
fn two_platform_index(d: &Path) -> (Vec<PathBuf>, PathBuf) {
    let images: Vec<PathBuf> = ["amd64", "arm64"]
        .iter()
        .map(|arch| {
            let l = small_layer(d, arch);
            let out = d.join(format!("image-{arch}"));
            run_ok(
                rko()
                    .args(["append", "--base=builtin:static"])
                    .arg(format!("--platform=linux/{arch}"))
                    .arg(format!("--layer={}", layer_arg(&l)))
                    .arg("--out")
                    .arg(&out),
            );
            out
        })
        .collect();
    let out = d.join("index");
    index(&[&images[0], &images[1]], &out, &[]);
    (images, out)
}

#[test]
fn append_picks_the_asked_platform_from_a_base_index() {
    let dir = temp_dir();
    let d = dir.path();
    let (images, index) = two_platform_index(d);
    let out = d.join("image");
    let digest = run_ok(
        rko()
            .arg("append")
            .arg(format!("--base={}", index.display()))
            .args(["--platform", "linux/arm64"])
            .arg("--out")
            .arg(&out),
    );
    let (manifest, config) = image_parts(&out);
    let (arm_manifest, _) = image_parts(&images[1]);
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(manifest["layers"], arm_manifest["layers"]);
    assert!(digest.starts_with("sha256:"));
    let err = run_err(
        rko()
            .arg("append")
            .arg(format!("--base={}", index.display()))
            .arg("--out")
            .arg(d.join("x")),
    );
    assert!(
        err.contains("holds 2 images (linux/amd64, linux/arm64): choose one with --platform"),
        "{err}"
    );
}

/// A one-layer image on scratch at `d/oci-base`, its manifest rewritten as
/// Docker schema 2, as `docker save`-era registries serve it.
fn docker_base(d: &Path) -> PathBuf {
    let l = small_layer(d, "base");
    let oci = d.join("oci-base");
    run_ok(
        rko()
            .args(["append", "--base=scratch"])
            .arg(format!("--layer={}", layer_arg(&l)))
            .arg("--out")
            .arg(&oci),
    );
    let (mut manifest, _) = image_parts(&oci);
    manifest["mediaType"] = json!("application/vnd.docker.distribution.manifest.v2+json");
    manifest["config"]["mediaType"] = json!("application/vnd.docker.container.image.v1+json");
    manifest["layers"][0]["mediaType"] = json!("application/vnd.docker.image.rootfs.diff.tar.gzip");
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = sha256_hex(&bytes);
    fs::write(oci.join("blobs/sha256").join(&digest), &bytes).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "digest": format!("sha256:{digest}"), "size": bytes.len()}]});
    fs::write(oci.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    oci
}

#[test]
fn a_base_with_docker_media_types_gives_a_docker_image() {
    let dir = temp_dir();
    let d = dir.path();
    let oci = docker_base(d);
    let app = small_layer(d, "app");
    let out = d.join("image");
    run_ok(
        rko()
            .arg("append")
            .arg(format!("--base={}", oci.display()))
            .arg(format!("--layer={}", layer_arg(&app)))
            .arg("--out")
            .arg(&out),
    );
    let (manifest, _) = image_parts(&out);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
    }
    let zstd = d.join("z.tar.zst");
    let zstd_desc = d.join("z.json");
    run_ok(
        rko()
            .args(["assemble-layer", "--dir=/z", "--compression=zstd"])
            .arg("--out")
            .arg(&zstd)
            .arg("--descriptor")
            .arg(&zstd_desc),
    );
    let err = run_err(
        rko()
            .arg("append")
            .arg(format!("--base={}", oci.display()))
            .arg(format!(
                "--layer={}={}",
                zstd.display(),
                zstd_desc.display()
            ))
            .arg("--out")
            .arg(d.join("bad")),
    );
    assert!(
        err.contains("which a base with Docker media types cannot hold"),
        "{err}"
    );
}

/// The hex sha256 of `bytes`, by the system's sha256sum, independent of rko's code.
fn sha256_hex(bytes: &[u8]) -> String {
    let dir = temp_dir();
    let file = dir.path().join("blob");
    fs::write(&file, bytes).unwrap();
    let out = run_ok(std::process::Command::new("sha256sum").arg(&file));
    out.split_whitespace().next().unwrap().to_string()
}

#[test]
fn export_docker_picks_one_platform_of_an_index() {
    let dir = temp_dir();
    let d = dir.path();
    let (images, index) = two_platform_index(d);
    let tarball = d.join("arm.tar");
    run_ok(
        rko()
            .arg("export")
            .arg(&index)
            .args(["--platform", "linux/arm64", "--tag", "hello"])
            .arg("--out")
            .arg(&tarball),
    );
    let unpacked = d.join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    run_ok(
        std::process::Command::new("tar")
            .arg("-xf")
            .arg(&tarball)
            .arg("-C")
            .arg(&unpacked),
    );
    let listing = read_json(&unpacked.join("manifest.json"));
    let (arm_manifest, _) = image_parts(&images[1]);
    let config_digest = arm_manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    // go-containerregistry's names, as ko's --tarball has them.
    assert_eq!(listing[0]["Config"], format!("sha256:{config_digest}"));
    assert_eq!(listing[0]["RepoTags"], json!(["hello:latest"]));
    let err = run_err(
        rko()
            .arg("export")
            .arg(&index)
            .arg("--out")
            .arg(d.join("x.tar")),
    );
    assert!(err.contains("choose one with --platform"), "{err}");
}

/// stdout and stderr of a successful run of `cmd`.
fn said(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

// A build system shows whatever an action prints (Bazel's "INFO: From
// RkoLayer …" after each one), so with --quiet a plumbing command whose
// result is in a file named on its command line prints nothing at all;
// a result that is in no file is still printed.
#[test]
fn quiet_plumbing_prints_nothing_when_its_result_is_in_a_file() {
    let dir = temp_dir();
    let d = dir.path();
    let file = d.join("f.txt");
    fs::write(&file, "f").unwrap();
    let blob = d.join("l.tar.gz");
    let descriptor = d.join("l.json");
    let quiet_layer = said(
        rko()
            .args(["--quiet", "assemble-layer"])
            .arg(format!("--file={}=/f.txt", file.display()))
            .arg("--out")
            .arg(&blob)
            .arg("--descriptor")
            .arg(&descriptor),
    );
    assert_eq!(quiet_layer, (String::new(), String::new()));

    let layer = format!("--layer={}={}", blob.display(), descriptor.display());
    let append = |quiet: bool, name: &str, digest_file: bool| {
        let mut cmd = rko();
        if quiet {
            cmd.arg("-q");
        }
        cmd.args(["append", "--base=builtin:static", &layer, "--out"])
            .arg(d.join(name));
        if digest_file {
            cmd.arg("--digest-file")
                .arg(d.join(format!("{name}.digest")));
        }
        said(&mut cmd)
    };
    assert_eq!(append(true, "a", true), (String::new(), String::new()));
    let (digest, _) = append(false, "b", true);
    assert_eq!(
        digest.trim(),
        fs::read_to_string(d.join("b.digest")).unwrap()
    );
    assert_eq!(append(true, "c", false).0, digest, "no file: still printed");

    let quiet_index = said(
        rko()
            .args(["-q", "index", "--out"])
            .arg(d.join("index"))
            .arg("--digest-file")
            .arg(d.join("index.digest"))
            .arg("--image")
            .arg(d.join("a")),
    );
    assert_eq!(quiet_index, (String::new(), String::new()));
    let quiet_export = said(
        rko()
            .args(["-q", "export"])
            .arg(d.join("a"))
            .arg("--out")
            .arg(d.join("a.tar")),
    );
    assert_eq!(quiet_export, (String::new(), String::new()));
}

/// Issue 21, item 1: an `--out` directory is replaced only when it is
/// empty or an OCI layout; one holding anything else (a git work tree
/// given by mistake, a `notes.txt`) is refused, naming it, and kept as it
/// was, before any work is done.
#[test]
fn an_out_directory_that_is_neither_empty_nor_a_layout_is_refused_and_kept() {
    let dir = temp_dir();
    let image = dir.path().join("image");
    run_ok(
        rko()
            .args(["append", "--base", "builtin:static", "--out"])
            .arg(&image),
    );
    let notes = dir.path().join("notes");
    fs::create_dir_all(notes.join(".git")).unwrap();
    fs::write(notes.join("notes.txt"), "mine\n").unwrap();
    let runs: [(&str, Vec<std::ffi::OsString>); 2] = [
        ("append", vec!["--base".into(), "builtin:static".into()]),
        ("index", vec!["--image".into(), image.clone().into()]),
    ];
    for (verb, args) in runs {
        let err = run_err(rko().arg(verb).args(&args).arg("--out").arg(&notes));
        assert!(
            err.contains(&notes.display().to_string())
                && err.contains("neither empty nor an OCI layout"),
            "{verb}: {err}"
        );
        assert_eq!(
            fs::read_to_string(notes.join("notes.txt")).unwrap(),
            "mine\n",
            "{verb}"
        );
        assert!(notes.join(".git").is_dir(), "{verb}");
    }
    // An existing layout and an empty directory are outputs rko may replace.
    run_ok(
        rko()
            .args(["append", "--base", "builtin:static", "--out"])
            .arg(&image),
    );
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    run_ok(
        rko()
            .args(["index", "--image"])
            .arg(&image)
            .arg("--out")
            .arg(&empty),
    );
}

/// The file outputs (a layer blob, its descriptor, a digest file, an
/// archive) replace only what is at their own path: a symlink there is
/// replaced, the file it points at is kept, and a directory there is
/// refused, before any output of the command is written.
#[test]
fn a_file_output_replaces_only_its_own_path() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    fs::write(&data, "layer content\n").unwrap();
    let mine = dir.path().join("mine.txt");
    fs::write(&mine, "mine\n").unwrap();
    let blob = dir.path().join("layer.tar.gz");
    let descriptor = dir.path().join("layer.json");
    std::os::unix::fs::symlink(&mine, &blob).unwrap();
    std::os::unix::fs::symlink(&mine, &descriptor).unwrap();
    run_ok(
        rko()
            .arg("assemble-layer")
            .arg("--file")
            .arg(format!("{}=/data", data.display()))
            .arg("--out")
            .arg(&blob)
            .arg("--descriptor")
            .arg(&descriptor),
    );
    assert_eq!(fs::read_to_string(&mine).unwrap(), "mine\n");
    assert!(!fs::symlink_metadata(&blob)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(read_json(&descriptor)["digest"].is_string());

    let image = dir.path().join("image");
    let digest_file = dir.path().join("held");
    fs::create_dir_all(digest_file.join("inside")).unwrap();
    fs::write(digest_file.join("inside/keep.txt"), "mine\n").unwrap();
    let err = run_err(
        rko()
            .args(["append", "--base", "builtin:static", "--out"])
            .arg(&image)
            .arg("--digest-file")
            .arg(&digest_file),
    );
    assert!(
        err.contains(&digest_file.display().to_string()) && err.contains("a directory is there"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(digest_file.join("inside/keep.txt")).unwrap(),
        "mine\n"
    );
    // Refused before any work: the layout was not written either.
    assert!(!image.exists(), "append wrote its layout and then failed");
    let err = run_err(
        rko()
            .arg("assemble-layer")
            .arg("--file")
            .arg(format!("{}=/data", data.display()))
            .arg("--out")
            .arg(dir.path().join("second.tar.gz"))
            .arg("--descriptor")
            .arg(&digest_file),
    );
    assert!(err.contains("a directory is there"), "{err}");
    assert!(!dir.path().join("second.tar.gz").exists());
    let tarball = dir.path().join("image.tar");
    std::os::unix::fs::symlink(&mine, &tarball).unwrap();
    run_ok(
        rko()
            .args(["append", "--base", "builtin:static", "--out"])
            .arg(&image),
    );
    run_ok(
        rko()
            .arg("export")
            .arg(&image)
            .args(["--format", "oci", "--out"])
            .arg(&tarball),
    );
    assert_eq!(fs::read_to_string(&mine).unwrap(), "mine\n");
}
