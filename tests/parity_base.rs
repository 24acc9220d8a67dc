//! ko parity for base images (issue 12, items 8 and 9): the default base
//! has what a distroless static base has, and a Windows base gets the image
//! layout ko writes for Windows.

use crate::util::registry::{free_port, Auth, Registry};
use crate::util::runc::{unpack, Container};
use crate::util::*;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A Go module `example.com/NAME` in `dir/NAME` whose main package is `main_go`.
fn go_module(dir: &Path, name: &str, main_go: &str) -> PathBuf {
    let module = dir.join(name);
    fs::create_dir_all(&module).unwrap();
    fs::write(
        module.join("go.mod"),
        format!("module example.com/{name}\n\ngo 1.21\n"),
    )
    .unwrap();
    fs::write(module.join("main.go"), main_go).unwrap();
    module
}

/// A blob of `layout`, as bytes.
fn blob_bytes(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.trim_start_matches("sha256:");
    fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
}

fn blob(layout: &Path, digest: &str) -> Value {
    serde_json::from_slice(&blob_bytes(layout, digest)).unwrap()
}

/// Serves the Paris time zone's name and offset in January and July, or
/// the error `time.LoadLocation` gives.
const PARIS: &str = r#"package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		loc, err := time.LoadLocation("Europe/Paris")
		if err != nil {
			fmt.Fprintf(w, "LoadLocation: %v\n", err)
			return
		}
		for _, month := range []time.Month{time.January, time.July} {
			name, offset := time.Date(2024, month, 15, 12, 0, 0, 0, time.UTC).In(loc).Zone()
			fmt.Fprintf(w, "%s %d\n", name, offset)
		}
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil))
}
"#;

// Item 8. ko: pkg/commands/options/build.go, AddBuildOptions and
// pkg/commands/config.go (the default base, cgr.dev/chainguard/static: a
// distroless static root with tzdata, CA certificates, passwd/group with
// nonroot 65532, os-release and the licences of what it ships). A Go program
// that loads a time zone works on it; on builtin:static it must too.
#[test]
fn the_default_base_has_time_zones_os_release_and_licences() {
    let dir = temp_dir();
    let module = go_module(dir.path(), "paris", PARIS);
    let layout = dir.path().join("layout");
    run_ok(
        porcelain(dir.path())
            .current_dir(&module)
            .args([
                "build",
                "--push=false",
                "--sbom=none",
                "-B",
                "--oci-layout-path",
            ])
            .arg(&layout)
            .arg("."),
    );
    let named = dir.path().join("named");
    run_ok(
        skopeo("copy")
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("oci:{}:paris", named.display())),
    );
    let bundle = unpack(&named, "paris", &dir.path().join("bundle"));
    let container = Container::start(&bundle, dir.path(), free_port());
    let answer = container.get("/");
    assert!(
        answer.ends_with("\r\n\r\nCET 3600\nCEST 7200\n"),
        "{answer}"
    );

    let rootfs = bundle.join("rootfs");
    for file in [
        "etc/os-release",
        "usr/share/doc/tzdata/copyright",
        "usr/share/doc/webpki-root-certs/copyright",
        "usr/share/zoneinfo/Europe/Paris",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
        "etc/group",
        "etc/nsswitch.conf",
    ] {
        assert!(rootfs.join(file).is_file(), "{file} is not in the image");
    }
    let os_release = fs::read_to_string(rootfs.join("etc/os-release")).unwrap();
    for key in ["NAME=", "ID=", "PRETTY_NAME="] {
        assert!(
            os_release.lines().any(|l| l.starts_with(key)),
            "{key}: {os_release}"
        );
    }
}

/// ko's `userOwnerAndGroupSID` (owner and group BUILTIN\Users), which
/// Windows needs on a file to execute it.
const WINDOWS_SID: &str =
    "AQAAgBQAAAAkAAAAAAAAAAAAAAABAgAAAAAABSAAAAAhAgAAAQIAAAAAAAUgAAAAIQIAAA==";

/// Writes `bytes` as a blob of the layout at `root`; returns its digest.
fn put_blob(root: &Path, bytes: &[u8]) -> String {
    let hex = hex::encode(Sha256::digest(bytes));
    fs::write(root.join("blobs/sha256").join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

/// A synthetic Windows base (no real one is reachable offline): one dummy
/// layer in the Windows layer format, a config with `os.version` and the
/// PATH and user nanoserver has.
fn windows_base(dir: &Path) -> PathBuf {
    let (layer_blob, layer_descriptor) = layer(
        dir,
        "windows-base-layer",
        &["--dir=/Hives", "--dir=/Files/Windows/System32"],
    );
    let descriptor = read_json(&layer_descriptor);
    let root = dir.join("windows-base");
    fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layer_digest = put_blob(&root, &fs::read(&layer_blob).unwrap());
    let config = json!({
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.20348.2762",
        "config": {"Env": ["PATH=C:\\Windows\\system32;C:\\Windows"], "User": "ContainerUser"},
        "rootfs": {"type": "layers", "diff_ids": [descriptor["diffID"]]},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": put_blob(&root, &config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest,
            "size": descriptor["size"],
        }],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": put_blob(&root, &manifest),
            "size": manifest.len(),
        }],
    });
    fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    root
}

/// One tar entry as ko's layer tests look at it: name as stored, type
/// flag, mode, uid, gid, PAX records and the first bytes of the content.
#[derive(Debug, PartialEq, Eq)]
struct TarEntry {
    name: String,
    kind: char,
    mode: u32,
    owner: (u64, u64),
    pax: Vec<(String, String)>,
    head: Vec<u8>,
}

/// The entries of a gzip-compressed layer blob.
fn tar_entries(gzipped: &[u8]) -> Vec<TarEntry> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gzipped));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let pax = match e.pax_extensions().unwrap() {
                Some(records) => records
                    .map(|r| {
                        let r = r.unwrap();
                        (r.key().unwrap().to_string(), r.value().unwrap().to_string())
                    })
                    .collect(),
                None => Vec::new(),
            };
            let header = e.header().clone();
            let mut head = vec![0; 2.min(header.size().unwrap() as usize)];
            e.read_exact(&mut head).unwrap();
            TarEntry {
                name: String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                kind: header.entry_type().as_byte() as char,
                mode: header.mode().unwrap(),
                owner: (header.uid().unwrap(), header.gid().unwrap()),
                pax,
                head,
            }
        })
        .collect()
}

fn dir_entry(name: &str) -> TarEntry {
    TarEntry {
        name: name.to_string(),
        kind: '5',
        mode: 0o555,
        owner: (0, 0),
        pax: Vec::new(),
        head: Vec::new(),
    }
}

fn windows_file(name: &str, head: &[u8]) -> TarEntry {
    TarEntry {
        name: name.to_string(),
        kind: '0',
        mode: 0o555,
        owner: (0, 0),
        pax: vec![("MSWINDOWS.rawsd".to_string(), WINDOWS_SID.to_string())],
        head: head.to_vec(),
    }
}

// Item 9. ko: pkg/build/gobuild.go, tarBinary (`Hives`, `Files`,
// `Files/ko-app` and the binary at `Files/ko-app/NAME`, no `.exe` since
// ko#400, mode 0555, PAX record MSWINDOWS.rawsd = userOwnerAndGroupSID),
// tarKoData (kodata under `Files/var/run/ko`, the same PAX record on each
// file) and buildOne (Entrypoint `C:\ko-app\NAME`, updatePath appending
// `:C:\ko-app` to PATH, `KO_DATA_PATH=C:\var\run\ko`).
#[test]
fn a_windows_base_gets_ko_s_windows_layers_entrypoint_and_environment() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let base = windows_base(dir.path());
    let base_ref = format!("{}/base:windows", registry.host());
    run_ok(
        rko_in(&dir.path().join("docker"))
            .arg("push")
            .arg(&base)
            .arg(&base_ref),
    );
    let module = tiny_hello(&dir.path().join("hello"));
    let layout = dir.path().join("layout");
    run_ok(
        porcelain(dir.path())
            .current_dir(&module)
            .args(["build", "--push=false", "--sbom=none", "-B"])
            .args(["--platform=windows/amd64", "--base-image", &base_ref])
            .arg("--oci-layout-path")
            .arg(&layout)
            .arg("."),
    );

    let manifest = blob(&layout, &layout_digest(&layout));
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "the base's layer, kodata and the binary");
    let mut added: Vec<Vec<TarEntry>> = layers[1..]
        .iter()
        .map(|l| tar_entries(&blob_bytes(&layout, l["digest"].as_str().unwrap())))
        .collect();
    added.sort_by_key(|entries| entries.len());
    assert_eq!(
        added[0],
        [
            dir_entry("Hives"),
            dir_entry("Files"),
            dir_entry("Files/ko-app"),
            windows_file("Files/ko-app/hello", b"MZ"),
        ]
    );
    let greeting = fs::read(repo_root().join("examples/hello/kodata/greeting.txt")).unwrap();
    assert_eq!(
        added[1],
        [
            dir_entry("Hives"),
            dir_entry("Files"),
            dir_entry("Files/var"),
            dir_entry("Files/var/run"),
            dir_entry("Files/var/run/ko"),
            windows_file("Files/var/run/ko/greeting.txt", &greeting[..2]),
        ]
    );

    let config = blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["os"], "windows");
    assert_eq!(config["os.version"], "10.0.20348.2762");
    let runtime = &config["config"];
    assert_eq!(runtime["Entrypoint"], json!(["C:\\ko-app\\hello"]));
    assert!(runtime.get("Cmd").is_none(), "{runtime}");
    assert_eq!(
        runtime["Env"],
        json!([
            "PATH=C:\\Windows\\system32;C:\\Windows:C:\\ko-app",
            "KO_DATA_PATH=C:\\var\\run\\ko"
        ])
    );
    assert_eq!(runtime["User"], "ContainerUser");
}

// Item 9, for the plumbing: `assemble-layer --windows` writes the layer
// ko's tarBinary writes (pkg/build/gobuild.go), so a build system can make
// Windows images from the subcommands too.
#[test]
fn assemble_layer_windows_writes_ko_s_windows_layer() {
    let dir = temp_dir();
    let binary = dir.path().join("hello.exe");
    fs::write(&binary, b"MZ rest of a PE file").unwrap();
    let (blob, _) = layer(
        dir.path(),
        "windows",
        &[
            "--windows",
            &format!("--file={}=/ko-app/hello", binary.display()),
        ],
    );
    assert_eq!(
        tar_entries(&fs::read(&blob).unwrap()),
        [
            dir_entry("Hives"),
            dir_entry("Files"),
            dir_entry("Files/ko-app"),
            windows_file("Files/ko-app/hello", b"MZ"),
        ]
    );
}
