//! Platforms in the Bazel rules: one `ko_image(platforms = [...])` target
//! builds the Go binary once per platform through a transition and gives one
//! image index, the digest `rko build --platform` gives; and a binary built
//! for another platform than the image's fails the build, naming both (or,
//! at analysis, the `goos`/`goarch` attribute that asks for it).

use crate::util::bazel::{copy_rko_repo, outputs, Hello, Workspace};
use crate::util::*;
use std::fs;
use std::path::Path;
use std::process::Command;

/// The platforms of the manifests an index layout's index lists, in order,
/// with their digests.
fn index_platforms(layout: &Path) -> Vec<(String, String)> {
    let top = read_json(&layout.join("index.json"));
    let digest = top["manifests"][0]["digest"].as_str().unwrap();
    let index = read_json(&layout.join("blobs").join(digest.replace(':', "/")));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            (
                format!(
                    "{}/{}",
                    p["os"].as_str().unwrap(),
                    p["architecture"].as_str().unwrap()
                ),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn one_ko_image_target_builds_the_binary_per_platform_into_one_index() {
    let dir = temp_dir();
    let d = dir.path();
    let rko_repo = d.join("rko");
    copy_rko_repo(&rko_repo, Hello::Tiny);
    let ws = Workspace::copy(d, "ws", "bazel-root", &rko_repo);
    ws.share_go_builds();
    let spawns = ws.build_logged(
        &["//:image", "//:image_amd64", "//:hello"],
        &[],
        &d.join("log.json"),
    );

    let platforms = index_platforms(&ws.output_path("image"));
    let names: Vec<&str> = platforms.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        names,
        ["linux/amd64", "linux/arm64"],
        "in the order of `platforms`"
    );
    assert_eq!(
        ws.output("image_amd64.digest"),
        platforms[0].1,
        "one platform is one image, the index's own"
    );
    assert_eq!(
        ws.output("image.digest"),
        layout_digest(&ws.output_path("image"))
    );

    // The binary is built once per platform, the bare :hello sharing the
    // default platform's build; the kodata layer (a ko_layer both ko_image
    // targets name) once for both images and both platforms.
    let go_builds: Vec<String> = spawns
        .iter()
        .filter(|s| s["mnemonic"] == "GoBuild")
        .map(outputs)
        .collect();
    assert_eq!(go_builds.len(), 2, "{go_builds:?}");
    let kodata = spawns
        .iter()
        .filter(|s| s["mnemonic"] == "RkoLayer" && outputs(s).contains("kodata"))
        .count();
    assert_eq!(kodata, 1, "one kodata layer, shared");

    let built = run_ok(
        porcelain(d)
            .current_dir(rko_repo.join("examples/hello"))
            .args(["build", "--push=false", "--sbom=none"])
            .args(["--platform=linux/amd64,linux/arm64"])
            .env("GOFLAGS", "-buildvcs=false")
            .env("SOURCE_DATE_EPOCH", "1700000000"),
    );
    let bazel_digest = ws.output("image.digest");
    assert!(
        built.trim().ends_with(&format!("@{bazel_digest}")),
        "rko build {built} and bazel {bazel_digest}"
    );
}

#[test]
fn a_binary_for_another_platform_than_the_image_fails_the_build_naming_both_or_the_goos_goarch_attribute_and_ko_sbom_reads_the_images_binary(
) {
    let dir = temp_dir();
    let d = dir.path();
    let rko_repo = d.join("rko");
    copy_rko_repo(&rko_repo, Hello::Tiny);
    let ws = Workspace::copy(d, "ws", "bazel-root", &rko_repo);
    ws.share_go_builds();
    ws.append(
        "BUILD.bazel",
        r#"
go_binary(
    name = "hello_darwin",
    srcs = ["@rko//examples/hello:srcs"],
    goarch = "arm64",
    goos = "darwin",
)

ko_image(
    name = "wrong",
    binary = ":hello_darwin",
    platform = "linux/amd64",
)

go_binary(
    name = "hello_linux_arm64",
    srcs = ["@rko//examples/hello:srcs"],
    goarch = "arm64",
    goos = "linux",
)

ko_image(
    name = "wrong_in_index",
    binary = ":hello_linux_arm64",
    platforms = [
        "@rko//rules/platforms:linux_amd64",
        "@rko//rules/platforms:linux_arm64",
    ],
)

ko_image(
    name = "wrong_arch",
    binary = ":hello",
    platform = "linux/arm64",
)
"#,
    );
    // rules_go's go_binary has goos and goarch attributes too: a binary
    // that sets them against the image's platform is refused at analysis,
    // naming the attribute.
    let err = run_err(ws.bazel().args(["build", "--nobuild", "//:wrong"]));
    assert!(
        err.contains(
            r#"ko_image //:wrong: binary //:hello_darwin sets goos = "darwin" and goarch = "arm64", but the image is for linux/amd64"#
        ),
        "{err}"
    );
    let err = run_err(ws.bazel().args(["build", "--nobuild", "//:wrong_in_index"]));
    assert!(
        err.contains(
            r#"binary //:hello_linux_arm64 sets goarch = "arm64", but the image is for linux/amd64"#
        ),
        "only the attribute that conflicts, with the index's platform it conflicts with: {err}"
    );

    // Without such attributes, the binary's own build information is the
    // judge: `platform` takes the binary of the current configuration
    // (linux/amd64 here), and RkoAppend refuses it for linux/arm64.
    let err = run_err(ws.bazel().args(["build", "//:wrong_arch"]));
    assert!(
        err.contains("RkoAppend //:wrong_arch")
            && err.contains("is a Go binary for linux/amd64")
            && err.contains("the image is for linux/arm64"),
        "{err}"
    );
    step_ko_sbom_describes_the_images_own_binary_and_refuses_an_index(&ws, d);
}

// ko_sbom reads the binary from the image it describes (ImageInfo), so the
// two cannot disagree; an index holds several binaries, and is refused.
fn step_ko_sbom_describes_the_images_own_binary_and_refuses_an_index(ws: &Workspace, d: &Path) {
    ws.append(
        "BUILD.bazel",
        "\nko_sbom(\n    name = \"sbom_of_index\",\n    image = \":image\",\n)\n",
    );
    run_ok(ws.bazel().args(["build", "//:sbom"]));
    let sbom = ws.output("sbom.spdx.json");
    // The binary as the image holds it, out of its binary layer.
    let unpacked = d.join("unpacked");
    fs::create_dir_all(&unpacked).unwrap();
    run_ok(
        Command::new("tar")
            .arg("-xzf")
            .arg(ws.output_path("image_amd64.bin.tar.gz"))
            .arg("-C")
            .arg(&unpacked),
    );
    let out = d.join("expected.spdx.json");
    run_ok(
        rko()
            .args(["sbom", "--format=spdx", "--image-name=image_amd64"])
            .args(["--created=1700000000", "--binary"])
            .arg(unpacked.join("ko-app/hello"))
            .arg("--image-digest-file")
            .arg(ws.output_path("image_amd64.digest"))
            .arg("--out")
            .arg(&out),
    );
    let image_binary = fs::read_to_string(&out).unwrap();
    assert_eq!(sbom, image_binary);
    let err = run_err(ws.bazel().args(["build", "//:sbom_of_index"]));
    assert!(
        err.contains("ko_sbom //:sbom_of_index: //:image is an image index"),
        "{err}"
    );
}
