//! `assemble-layer --listing` and `check-image`: an image's config and
//! files checked from its layout and its layers' listings alone, the layer
//! blobs nowhere (a sparse layout, as `ko_image` writes).

use crate::util::*;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A layer with its listing: (blob, descriptor, listing).
fn listed_layer(dir: &Path, name: &str, entries: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let blob = dir.join(format!("{name}.tar.gz"));
    let desc = dir.join(format!("{name}.json"));
    let listing = dir.join(format!("{name}.listing.json"));
    run_ok(
        rko()
            .arg("assemble-layer")
            .args(entries)
            .arg("--out")
            .arg(&blob)
            .arg("--descriptor")
            .arg(&desc)
            .arg("--listing")
            .arg(&listing),
    );
    (blob, desc, listing)
}

/// The hello image on builtin:static as a sparse layout: the ko-app and
/// kodata layers known by their descriptors only. Returns the layout and
/// the two listings.
fn sparse_hello(d: &Path) -> (PathBuf, Vec<PathBuf>) {
    let kodata = d.join("kodata");
    fs::create_dir_all(&kodata).unwrap();
    fs::write(kodata.join("index.html"), "<p>hi</p>").unwrap();
    let hello = d.join("hello");
    fs::write(&hello, "not really a Go binary").unwrap();
    let app = listed_layer(d, "app", &[&format!("--ko-app={}=hello", hello.display())]);
    let data = listed_layer(d, "kodata", &[&format!("--ko-data={}", kodata.display())]);
    fs::remove_file(&app.0).unwrap();
    fs::remove_file(&data.0).unwrap();
    let out = d.join("image");
    run_ok(
        rko()
            .args(["append", "--base=builtin:static"])
            .arg(format!("--layer-descriptor={}", app.1.display()))
            .arg(format!("--layer-descriptor={}", data.1.display()))
            .args([
                "--entrypoint",
                "/ko-app/hello",
                "--env",
                "KO_DATA_PATH=/var/run/ko",
            ])
            .arg("--out")
            .arg(&out),
    );
    (out, vec![app.2, data.2])
}

fn check(layout: &Path, listings: &[PathBuf], expect: &str) -> std::process::Command {
    let file = layout.with_extension("expect.json");
    fs::write(&file, expect).unwrap();
    let mut cmd = rko();
    cmd.arg("check-image")
        .arg(layout)
        .arg("--expect")
        .arg(&file);
    for listing in listings {
        cmd.arg("--listing").arg(listing);
    }
    cmd
}

#[test]
fn a_listing_lists_every_tar_entry_in_order_with_its_metadata() {
    let dir = temp_dir();
    let d = dir.path();
    let file = d.join("f.txt");
    fs::write(&file, "12345").unwrap();
    let (blob, desc, listing) = listed_layer(
        d,
        "l",
        &[
            &format!("--file={}=/etc/app/f.txt", file.display()),
            "--symlink=/etc/app/link=f.txt",
            "--mode=0640",
            "--uid=7",
            "--gid=8",
        ],
    );
    let mut tar = String::new();
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(fs::File::open(&blob).unwrap()));
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        tar.push_str(&format!("{} ", entry.path().unwrap().display()));
    }
    assert_eq!(tar, "etc/ etc/app/ etc/app/f.txt etc/app/link ");
    let text = fs::read_to_string(&listing).unwrap();
    let descriptor = read_json(&desc);
    assert_eq!(
        text,
        format!(
            "{{\n  \"digest\": \"{}\",\n  \"diffID\": \"{}\",\n  \"entries\": [\n    \
             {{\"path\":\"/etc\",\"type\":\"dir\",\"mode\":\"0555\",\"uid\":7,\"gid\":8,\"size\":0}},\n    \
             {{\"path\":\"/etc/app\",\"type\":\"dir\",\"mode\":\"0555\",\"uid\":7,\"gid\":8,\"size\":0}},\n    \
             {{\"path\":\"/etc/app/f.txt\",\"type\":\"file\",\"mode\":\"0640\",\"uid\":7,\"gid\":8,\"size\":5}},\n    \
             {{\"path\":\"/etc/app/link\",\"type\":\"symlink\",\"mode\":\"0777\",\"uid\":7,\"gid\":8,\"size\":0,\"link\":\"f.txt\"}}\n  \
             ]\n}}\n",
            descriptor["digest"].as_str().unwrap(),
            descriptor["diffID"].as_str().unwrap()
        )
    );
    assert!(temporaries_beside(&listing).is_empty());
}

#[test]
fn check_image_passes_a_sparse_image_that_matches_with_one_ok_line_per_check() {
    let dir = temp_dir();
    let (layout, listings) = sparse_hello(dir.path());
    let out = run_ok(&mut check(
        &layout,
        &listings,
        r#"{"entrypoint": ["/ko-app/hello"], "user": "65532",
            "env": {"KO_DATA_PATH": "/var/run/ko"},
            "files": {"/ko-app/hello": {"mode": "0555", "uid": 0, "gid": 0, "type": "file"},
                      "/var/run/ko/index.html": {},
                      "/etc/passwd": {"mode": "0644"}},
            "absent": ["/bin/sh"]}"#,
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 10, "{out}");
    assert!(lines.iter().all(|l| l.starts_with("ok ")), "{out}");
    assert!(
        out.contains("ok   /var/run/ko/index.html present (file "),
        "{out}"
    );
}

#[test]
fn check_image_reports_every_mismatch_with_want_and_got() {
    let dir = temp_dir();
    let (layout, listings) = sparse_hello(dir.path());
    let out = run_err(&mut check(
        &layout,
        &listings,
        r#"{"entrypoint": ["/app"], "user": "0", "workdir": "/srv",
            "labels": {"team": "x"},
            "files": {"/ko-app/hello": {"mode": "0755"}, "/missing": {}},
            "absent": ["/etc/passwd"]}"#,
    ));
    let stdout = String::from_utf8(
        check(
            &layout,
            &listings,
            &fs::read_to_string(layout.with_extension("expect.json")).unwrap(),
        )
        .output()
        .unwrap()
        .stdout,
    )
    .unwrap();
    for want in [
        "FAIL entrypoint: want [\"/app\"], got [\"/ko-app/hello\"]",
        "FAIL user: want \"0\", got \"65532\"",
        "FAIL workdir: want \"/srv\", got \"\"",
        "FAIL label team: want \"x\", got (unset)",
        "FAIL /ko-app/hello mode: want 0755, got 0555",
        "FAIL /missing: want present, got absent",
        "FAIL /etc/passwd: want absent, got file 0644 0:0",
    ] {
        assert!(stdout.contains(want), "{want:?} not in\n{stdout}");
    }
    assert!(out.contains("7 of 7 checks failed"), "{out}");
}

#[test]
fn check_image_without_a_layers_listing_or_blob_names_the_layer() {
    let dir = temp_dir();
    let (layout, listings) = sparse_hello(dir.path());
    let err = run_err(&mut check(
        &layout,
        &listings[..1],
        r#"{"absent": ["/bin/sh"]}"#,
    ));
    assert!(err.contains(&layout.display().to_string()), "{err}");
    assert!(
        err.contains("no blob of layer 2") && err.contains("--listing"),
        "{err}"
    );
    // Config alone needs no layer at all.
    run_ok(&mut check(&layout, &[], r#"{"user": "65532"}"#));
}

#[test]
fn a_whiteout_in_a_later_layer_hides_a_base_file() {
    let dir = temp_dir();
    let d = dir.path();
    let empty = d.join("empty");
    fs::write(&empty, "").unwrap();
    let layer = listed_layer(
        d,
        "wh",
        &[&format!("--file={}=/etc/.wh.passwd", empty.display())],
    );
    let out = d.join("image");
    run_ok(
        rko()
            .args(["append", "--base=builtin:static"])
            .arg(format!(
                "--layer={}={}",
                layer.0.display(),
                layer.1.display()
            ))
            .arg("--out")
            .arg(&out),
    );
    let stdout = run_ok(&mut check(
        &out,
        std::slice::from_ref(&layer.2),
        r#"{"absent": ["/etc/passwd", "/etc/.wh.passwd"], "files": {"/etc/group": {}}}"#,
    ));
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        3,
        "{stdout}"
    );
}

#[test]
fn a_base_layer_blob_that_is_not_its_digest_is_refused() {
    let dir = temp_dir();
    let (layout, listings) = sparse_hello(dir.path());
    let manifest = read_json(
        &layout
            .join("blobs/sha256")
            .join(layout_digest(&layout).trim_start_matches("sha256:")),
    );
    let base = manifest["layers"][0]["digest"].as_str().unwrap();
    let path = layout
        .join("blobs/sha256")
        .join(base.trim_start_matches("sha256:"));
    let mut bytes = Vec::new();
    fs::File::open(&path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    // The same tar, compressed again: readable, but not the blob its digest names.
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut tar)
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    fs::write(&path, gz.finish().unwrap()).unwrap();
    let err = run_err(&mut check(
        &layout,
        &listings,
        r#"{"files": {"/etc/passwd": {}}}"#,
    ));
    assert!(err.contains(base.trim_start_matches("sha256:")), "{err}");
}
