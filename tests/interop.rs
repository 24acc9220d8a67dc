//! What rko writes, read back by independent tools: skopeo, umoci, runc
//! (the image actually runs) and podman (both export formats load).

use crate::util::registry::free_port;
use crate::util::runc::Container;
use crate::util::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// What `skopeo inspect` (with `extra` flags) says of the image tagged latest in `layout`.
fn skopeo_inspect(layout: &Path, extra: &[&str]) -> serde_json::Value {
    json(&run_ok(
        skopeo("inspect")
            .args(extra)
            .arg(format!("oci:{}:latest", layout.display())),
    ))
}

#[test]
fn skopeo_sees_the_platform_env_entrypoint_and_labels_that_were_set() {
    let dir = temp_dir();
    let image = hello_image(dir.path(), "arm64");
    let info = skopeo_inspect(&image, &[]);
    assert_eq!(info["Architecture"], "arm64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Digest"], layout_digest(&image).as_str());
    let env: Vec<&str> = info["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"GREETING=hi"), "{env:?}");
    assert!(env.contains(&"KO_DATA_PATH=/var/run/ko"), "{env:?}");
    assert!(
        env.iter()
            .any(|e| e.starts_with("PATH=") && e.ends_with(":/ko-app")),
        "{env:?}"
    );
    assert_eq!(info["Labels"]["org.example.team"], "rko");

    let config = skopeo_inspect(&image, &["--config"]);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/ko-app/hello"])
    );
    assert!(config["config"].get("Cmd").is_none());
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
}

fn unpack(image: &Path, bundle: &Path) -> std::path::PathBuf {
    crate::util::runc::unpack(image, "latest", bundle)
}

#[test]
fn umoci_unpacks_the_expected_files_with_the_expected_modes() {
    let dir = temp_dir();
    let image = hello_image(dir.path(), "amd64");
    let bundle = unpack(&image, &dir.path().join("bundle"));
    let rootfs = bundle.join("rootfs");
    let cases = [
        ("ko-app", 0o555, 0),
        ("ko-app/hello", 0o555, 0),
        ("var/run/ko", 0o555, 0),
        ("var/run/ko/greeting.txt", 0o555, 0),
        ("etc/passwd", 0o644, 0),
        ("etc/ssl/certs/ca-certificates.crt", 0o644, 0),
        ("tmp", 0o1777, 0),
        ("home/nonroot", 0o700, 65532),
    ];
    for (path, mode, uid) in cases {
        let meta =
            std::fs::symlink_metadata(rootfs.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "mode of {path}");
        assert_eq!(meta.uid(), uid, "owner of {path}");
    }
    let binary = std::fs::read(rootfs.join("ko-app/hello")).unwrap();
    assert!(
        binary == std::fs::read(hello_binary("amd64")).unwrap(),
        "the binary changed on its way"
    );
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains("nonroot:x:65532:65532"), "{passwd}");
    let certs = std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(
        certs.matches("BEGIN CERTIFICATE").count() > 100,
        "a real CA bundle"
    );
}

#[test]
fn the_go_server_image_runs_under_runc_and_answers_http() {
    let dir = temp_dir();
    let image = hello_image(dir.path(), "amd64");
    let bundle = unpack(&image, &dir.path().join("bundle"));
    let container = Container::start(&bundle, dir.path(), free_port());
    let greeting = container.get("/");
    assert!(greeting.starts_with("HTTP/1.0 200"), "{greeting}");
    assert!(
        greeting.contains("Hello from rko! (uid 65532)"),
        "runs as builtin:static's nonroot user: {greeting}"
    );
    let data = container.get("/static/greeting.txt");
    assert!(
        data.contains("This file came from kodata/."),
        "kodata is served: {data}"
    );
}

#[test]
fn podman_loads_the_docker_save_tarball_and_the_oci_archive() {
    let dir = temp_dir();
    let image = hello_image(dir.path(), "amd64");
    let config_digest = skopeo_inspect(&image, &["--raw"])["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    for (format, tag) in [
        ("docker", "rko.test/hello:docker"),
        ("oci", "rko.test/hello:oci"),
    ] {
        let tarball = dir.path().join(format!("{format}.tar"));
        run_ok(
            rko()
                .arg("export")
                .arg(&image)
                .args(["--format", format, "--tag", tag])
                .arg("--out")
                .arg(&tarball),
        );
        let loaded = run_ok(podman(dir.path()).arg("load").arg("--input").arg(&tarball));
        assert!(
            loaded.contains(tag),
            "podman load of the {format} archive: {loaded}"
        );
        let id = run_ok(podman(dir.path()).args(["image", "inspect", "--format", "{{.Id}}", tag]));
        assert_eq!(
            id.trim(),
            config_digest,
            "{format}: podman's image ID is the config digest"
        );
    }
}

#[test]
fn a_two_platform_index_lists_both_images_for_skopeo() {
    let dir = temp_dir();
    let amd = hello_image(dir.path(), "amd64");
    let arm = hello_image(dir.path(), "arm64");
    let index = dir.path().join("index");
    let source = "org.opencontainers.image.source=https://example.com/hello";
    let digest = crate::util::index(&[&amd, &arm], &index, &["--annotation", source]);
    let raw = skopeo_inspect(&index, &["--raw"]);
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let manifests = raw["manifests"].as_array().unwrap();
    let listed: Vec<(String, String)> = manifests
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("amd64".to_string(), layout_digest(&amd)),
            ("arm64".to_string(), layout_digest(&arm))
        ]
    );
    assert_eq!(layout_digest(&index), digest);
    assert_eq!(
        raw["annotations"]["org.opencontainers.image.source"],
        "https://example.com/hello"
    );
    // skopeo resolves the index to the arm64 image when asked for it.
    let arm_info = skopeo_inspect(&index, &["--override-arch", "arm64"]);
    assert_eq!(arm_info["Architecture"], "arm64");
    let arm_layers = skopeo_inspect(&arm, &[])["Layers"].clone();
    assert_eq!(arm_info["Layers"], arm_layers);
}
