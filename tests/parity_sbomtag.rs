//! ko parity for what `rko build` writes beside the image (issue 12, items
//! 16 and 17): the SBOM under cosign's `sha256-<hex>.sbom` tag, ko's config
//! history entries, and the base image annotations on an index. Each test
//! cites the ko (or cosign / go-containerregistry) source it pins.

use crate::util::registry::{Auth, Registry};
use crate::util::*;
use serde_json::{json, Value};
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

const WEB: &str = "example.com/multi/cmd/web";

/// A copy of examples/multi (cmd/web has a kodata/ directory).
fn multi(dir: &Path) -> PathBuf {
    let target = dir.join("multi");
    copy_tree(&repo_root().join("examples/multi"), &target);
    target
}

/// A blob of an OCI layout, as bytes.
fn layout_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.trim_start_matches("sha256:");
    fs::read(layout.join("blobs/sha256").join(hex))
        .unwrap_or_else(|e| panic!("{}: no blob {digest}: {e}", layout.display()))
}

fn layout_json(layout: &Path, digest: &str) -> Value {
    json(&String::from_utf8(layout_blob(layout, digest)).unwrap())
}

/// The raw manifest at `reference`, as skopeo reads it from the registry;
/// `None` when the registry has no such manifest.
fn remote_manifest(reference: &str) -> Option<(Value, String)> {
    let out = skopeo("inspect")
        .arg("--raw")
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("manifest unknown") || stderr.contains("not found"),
            "skopeo inspect {reference}: {stderr}"
        );
        return None;
    }
    let text = String::from_utf8(out.stdout).unwrap();
    Some((json(&text), text))
}

/// A blob straight from the (plain HTTP, no auth) registry: what cosign's
/// `attached.Payload` reads, the layer's bytes as stored.
fn remote_blob(registry: &Registry, repository: &str, digest: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", registry.port)).unwrap();
    write!(
        stream,
        "GET /v2/{repository}/blobs/{digest} HTTP/1.0\r\nHost: {}\r\n\r\n",
        registry.host()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..split]);
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "GET blob {digest}: {head}"
    );
    response[split + 4..].to_vec()
}

/// `sha256:<hex>` as cosign's `normalize` makes it a tag: `sha256-<hex>.sbom`.
fn sbom_tag(digest: &str) -> String {
    format!("{}.sbom", digest.replacen(':', "-", 1))
}

/// The config blob cosign's `static.NewFile` gives a one-file image, as
/// go-containerregistry v0.21.9 marshals it (`v1.ConfigFile` field order,
/// zero times): computed by running `static.NewFile`'s steps
/// (`mutate.MediaType(empty.Image, OCIManifestSchema1)`, `ConfigMediaType
/// (OCIConfigJSON)`, `Append` of one layer, `Annotations({})`) with ggcr v0.21.9.
fn cosign_config(payload_digest: &str) -> String {
    format!(
        r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{payload_digest}"]}},"config":{{}}}}"#
    )
}

/// Checks that `repo:sha256-<subject hex>.sbom` holds the SBOM `document`
/// in cosign's attachment layout, as ko pushes it.
///
/// ko: pkg/build/gobuild.go, `buildOne` and `buildAll` (`static.NewFile(sbom,
/// static.WithLayerMediaType(mt))`, then `ocimutate.AttachFileToImage` /
/// `AttachFileToImageIndex(…, "sbom", f)`, with `mt` = `ctypes.SPDXJSONMediaType`
/// = "text/spdx+json" in `spdx`); pkg/publish/default.go, `pushResult`'s
/// `writePeripherals` (`ociremote.SBOMTag(digest)`, `se.Attachment("sbom")`,
/// `pusher.Push(ref, f)`), walked over the index and each image by
/// `walk.SignedEntity`. cosign: pkg/oci/static/file.go `NewFile` (OCI
/// manifest, `application/vnd.oci.image.config.v1+json` config, one layer
/// holding the payload as is); pkg/oci/remote/remote.go `SBOMTag` /
/// `normalize` (`sha256-<hex>.sbom`) and `attachment`, which `cosign
/// download sbom` (cmd/cosign/cli/download/sbom.go `SBOMCmd`) uses: the tag's
/// manifest must have exactly one layer, whose media type is reported and
/// whose stored bytes are the SBOM. cosign itself cannot be installed here,
/// so this reads the registry as `attachment` does.
fn assert_cosign_sbom(registry: &Registry, repository: &str, subject: &str, document: &[u8]) {
    let reference = format!("{}/{repository}:{}", registry.host(), sbom_tag(subject));
    let (manifest, raw) =
        remote_manifest(&reference).unwrap_or_else(|| panic!("no SBOM tag {reference}"));
    let layer_digest = format!("sha256:{}", sha256_hex(document));
    let config = cosign_config(&layer_digest);
    let want = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": config.len(),
            "digest": format!("sha256:{}", sha256_hex(config.as_bytes())),
        },
        "layers": [{
            "mediaType": "text/spdx+json",
            "size": document.len(),
            "digest": layer_digest,
        }],
    });
    assert_eq!(manifest, want, "{reference}: cosign's layout");
    // ggcr marshals `v1.Manifest` in field order: the same bytes, so the
    // same manifest digest as ko pushes for the same document.
    let ggcr = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{},"layers":[{}]}}"#,
        want["mediaType"].as_str().unwrap(),
        descriptor(&want["config"]),
        descriptor(&want["layers"][0]),
    );
    assert_eq!(raw.trim_end(), ggcr, "{reference}: ggcr's bytes");
    let config_blob = remote_blob(
        registry,
        repository,
        want["config"]["digest"].as_str().unwrap(),
    );
    assert_eq!(String::from_utf8(config_blob).unwrap(), config);
    let payload = remote_blob(registry, repository, &layer_digest);
    assert_eq!(
        payload, document,
        "{reference}: the layer is the SBOM document"
    );
}

/// A descriptor as ggcr marshals `v1.Descriptor`: mediaType, size, digest.
fn descriptor(value: &Value) -> String {
    format!(
        r#"{{"mediaType":{},"size":{},"digest":{}}}"#,
        value["mediaType"], value["size"], value["digest"]
    )
}

fn sha256_hex(bytes: &[u8]) -> String {
    let dir = temp_dir();
    let file = dir.path().join("bytes");
    fs::write(&file, bytes).unwrap();
    let out = run_ok(Command::new("sha256sum").arg(&file));
    out.split_whitespace().next().unwrap().to_string()
}

#[test]
fn each_image_and_the_index_get_an_sbom_tag_in_cosigns_layout_as_ko_pushes() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = multi(dir.path());
    let sboms = dir.path().join("sboms");
    let repo = format!("{}/team", registry.host());
    let stdout = run_ok(
        rko_build(&module, dir.path())
            .env("KO_DOCKER_REPO", &repo)
            .args(["./cmd/web", "--platform=linux/amd64,linux/arm64", "-B"])
            .arg("--sbom-dir")
            .arg(&sboms),
    );
    let printed = stdout.trim();
    let index_digest = pushed_digest(printed);
    let name = printed.split('@').next().unwrap();
    let repository = name.trim_start_matches(&format!("{}/", registry.host()));
    let (index, _) = remote_manifest(printed).expect("the index was pushed");
    let document = |file: &str| fs::read(sboms.join(file)).unwrap();

    assert_cosign_sbom(
        &registry,
        repository,
        &index_digest,
        &document("web-index.spdx.json"),
    );
    let entries = index["manifests"].as_array().unwrap();
    let slugs = ["linux-amd64", "linux-arm64"];
    assert_eq!(entries.len(), slugs.len(), "one image a platform: {index}");
    for (entry, slug) in entries.iter().zip(slugs) {
        let platform = &entry["platform"];
        assert_eq!(
            format!("{}-{}", platform["os"], platform["architecture"]).replace('"', ""),
            slug,
            "{index}"
        );
        let image = entry["digest"].as_str().unwrap();
        assert_cosign_sbom(
            &registry,
            repository,
            image,
            &document(&format!("web-{slug}.spdx.json")),
        );
    }
}

#[test]
fn sbom_none_pushes_neither_the_sbom_tag_nor_a_referrer() {
    // ko: pkg/commands/resolver.go `gobuildOptions` (`--sbom=none` →
    // `build.WithDisabledSBOM()`), so pkg/publish/default.go's
    // `writePeripherals` finds no "sbom" attachment and pushes nothing.
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = multi(dir.path());
    let repo = format!("{}/team", registry.host());
    let stdout = run_ok(
        rko_build(&module, dir.path())
            .env("KO_DOCKER_REPO", &repo)
            .args(["./cmd/web", "--sbom=none", "--provenance=none", "-B"]),
    );
    let printed = stdout.trim();
    let digest = pushed_digest(printed);
    let name = printed.split('@').next().unwrap();
    assert!(remote_manifest(printed).is_some(), "the image was pushed");
    assert!(
        remote_manifest(&format!("{name}:{}", sbom_tag(&digest))).is_none(),
        "no .sbom tag with --sbom=none"
    );
    assert!(
        remote_manifest(&format!("{name}:{}", digest.replacen(':', "-", 1))).is_none(),
        "no referrers tag with --sbom=none"
    );
}

/// The digest of the manifest `index.json` of `layout` lists first.
fn config_of(layout: &Path, manifest_digest: &str) -> Value {
    let manifest = layout_json(layout, manifest_digest);
    layout_json(layout, manifest["config"]["digest"].as_str().unwrap())
}

/// The paths in a gzipped layer blob, as `tar` lists them.
fn layer_paths(layout: &Path, digest: &str) -> Vec<String> {
    let hex = digest.trim_start_matches("sha256:");
    let listing = run_ok(
        Command::new("tar")
            .arg("-tzf")
            .arg(layout.join("blobs/sha256").join(hex)),
    );
    listing.lines().map(str::to_string).collect()
}

#[test]
fn config_history_and_author_are_what_ko_writes() {
    // ko: pkg/build/gobuild.go `buildOne`: the kodata layer is appended
    // first, then the binary, each with a `v1.History` of Author "ko",
    // CreatedBy "ko build " + ref.String() (the `ko://` import path, as
    // `QualifyImport` makes it), Created = KO_DATA_DATE_EPOCH for kodata and
    // SOURCE_DATE_EPOCH for the binary (pkg/commands/config.go
    // `getKoDataCreationTime`, `getCreationTime`), and Comment "kodata
    // contents, at $KO_DATA_PATH" / "go build output, at " + appPath; then
    // `cfg.Author = "github.com/ko-build/ko"`.
    let dir = temp_dir();
    let module = multi(dir.path());
    let layout = dir.path().join("layout");
    run_ok(
        rko_build(&module, dir.path())
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("KO_DATA_DATE_EPOCH", "1600000000")
            .args(["./cmd/web", "--push=false", "-B", "--oci-layout-path"])
            .arg(&layout),
    );
    let digest = layout_digest(&layout);
    let config = config_of(&layout, &digest);
    let history = config["history"].as_array().unwrap();
    let ours = &history[history.len() - 2..];
    let created_by = format!("ko build ko://{WEB}");
    assert_eq!(
        ours,
        [
            json!({
                "author": "ko",
                "created": "2020-09-13T12:26:40Z",
                "created_by": created_by,
                "comment": "kodata contents, at $KO_DATA_PATH",
            }),
            json!({
                "author": "ko",
                "created": "2023-11-14T22:13:20Z",
                "created_by": created_by,
                "comment": "go build output, at /ko-app/web",
            }),
        ],
        "{}",
        config["history"]
    );
    assert_eq!(config["author"], "github.com/ko-build/ko");
    // The layers in the same order as their history entries.
    let manifest = layout_json(&layout, &digest);
    let layers = manifest["layers"].as_array().unwrap();
    let kodata = layer_paths(
        &layout,
        layers[layers.len() - 2]["digest"].as_str().unwrap(),
    );
    let binary = layer_paths(
        &layout,
        layers[layers.len() - 1]["digest"].as_str().unwrap(),
    );
    assert!(
        kodata.iter().any(|p| p.ends_with("var/run/ko/index.html")),
        "{kodata:?}"
    );
    assert!(
        binary.iter().any(|p| p.ends_with("ko-app/web")),
        "{binary:?}"
    );
}

#[test]
fn an_index_is_annotated_with_its_base_as_ko_does() {
    // ko: pkg/build/gobuild.go `buildAll`: the index gets
    // `org.opencontainers.image.base.name` = baseRef.Name() and
    // `.base.digest` = the base index's digest (besides the user's
    // annotations); each image gets the same name and the digest of the
    // base image it was built on.
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let module = multi(dir.path());
    let amd = hello_image(dir.path(), "amd64");
    let arm = hello_image(dir.path(), "arm64");
    let base_layout = dir.path().join("base-index");
    let base_digest = index(&[&amd, &arm], &base_layout, &[]);
    let base = format!("{}/hello-base:1", registry.host());
    run_ok(
        rko_in(&dir.path().join("docker"))
            .arg("push")
            .arg(&base_layout)
            .arg(&base),
    );
    let base_index = layout_json(&base_layout, &base_digest);

    let layout = dir.path().join("layout");
    run_ok(
        rko_build(&module, dir.path())
            .env("KO_DEFAULTBASEIMAGE", &base)
            .args([
                "./cmd/web",
                "--push=false",
                "--platform=all",
                "-B",
                "--sbom=none",
            ])
            .args(["--image-annotation", "org.example/team=web"])
            .arg("--oci-layout-path")
            .arg(&layout),
    );
    let index = layout_json(&layout, &layout_digest(&layout));
    assert_eq!(
        index["annotations"],
        json!({
            "org.opencontainers.image.base.name": base,
            "org.opencontainers.image.base.digest": base_digest,
            "org.example/team": "web",
        }),
        "{index}"
    );
    let entries = index["manifests"].as_array().unwrap();
    let base_entries = base_index["manifests"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        base_entries.len(),
        "--platform=all: an image for each of the base's\n{index}\n{base_index}"
    );
    for (entry, base_entry) in entries.iter().zip(base_entries) {
        assert_eq!(entry["platform"], base_entry["platform"], "{index}");
        let image = layout_json(&layout, entry["digest"].as_str().unwrap());
        assert_eq!(
            image["annotations"]["org.opencontainers.image.base.name"],
            base.as_str()
        );
        assert_eq!(
            image["annotations"]["org.opencontainers.image.base.digest"], base_entry["digest"],
            "{}",
            entry["platform"]
        );
    }
}

#[test]
fn append_takes_history_text_from_a_file_and_keeps_its_neutral_default() {
    // The plumbing's side of ko's history entries (ko: pkg/build/gobuild.go
    // `buildOne`, `mutate.Addendum{History: …}`): `append --history-file`
    // gives each new layer its entry; without it, `rko append`'s own.
    let dir = temp_dir();
    let file = dir.path().join("a.txt");
    fs::write(&file, "a").unwrap();
    let first = layer(
        dir.path(),
        "one",
        &[&format!("--file={}=/a.txt", file.display())],
    );
    let second = layer(
        dir.path(),
        "two",
        &[&format!("--file={}=/b.txt", file.display())],
    );
    let history = dir.path().join("history.json");
    fs::write(
        &history,
        r#"[{"author":"ko","created_by":"ko build ko://x","comment":"kodata contents, at $KO_DATA_PATH","created":1600000000},
            {"comment":"go build output, at /ko-app/x"}]"#,
    )
    .unwrap();
    let append = |out: &Path, extra: &[&std::ffi::OsStr]| {
        run_ok(
            rko()
                .args(["append", "--base=scratch", "--created=1700000000"])
                .arg(format!("--layer={}", layer_arg(&first)))
                .arg(format!("--layer={}", layer_arg(&second)))
                .args(extra)
                .arg("--out")
                .arg(out),
        )
        .trim()
        .to_string()
    };
    let with = dir.path().join("with");
    let digest = append(&with, &["--history-file".as_ref(), history.as_os_str()]);
    assert_eq!(
        config_of(&with, &digest)["history"],
        json!([
            {"author": "ko", "created": "2020-09-13T12:26:40Z", "created_by": "ko build ko://x",
             "comment": "kodata contents, at $KO_DATA_PATH"},
            {"created": "2023-11-14T22:13:20Z", "comment": "go build output, at /ko-app/x"},
        ])
    );
    let without = dir.path().join("without");
    let digest = append(&without, &[]);
    let history = config_of(&without, &digest)["history"].clone();
    assert_eq!(history[0]["created_by"], "rko append", "{history}");
    assert_eq!(history[1]["created"], "2023-11-14T22:13:20Z", "{history}");

    let short = dir.path().join("short.json");
    fs::write(&short, r#"[{"comment":"one"}]"#).unwrap();
    let stderr = run_err(
        rko()
            .args(["append", "--base=scratch"])
            .arg(format!("--layer={}", layer_arg(&first)))
            .arg(format!("--layer={}", layer_arg(&second)))
            .arg("--history-file")
            .arg(&short)
            .arg("--out")
            .arg(dir.path().join("short")),
    );
    assert!(
        stderr.contains("short.json") && stderr.contains("1 entr") && stderr.contains("2 --layer"),
        "{stderr}"
    );
}
