//! SBOMs: the build-info reader agrees with `go version -m`, both formats
//! pass the official validators and list exactly the binary's modules, and
//! an attached SBOM is pushed as a referrer the registry can list.

use crate::util::registry::{Auth, Registry};
use crate::util::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `go version -m` says: (go version, path, modules as "path version sum", settings).
fn go_version_m(binary: &Path) -> (String, String, Vec<String>, Vec<(String, String)>) {
    let out = run_ok(go().args(["version", "-m"]).arg(binary));
    let mut lines = out.lines();
    let go_version = lines
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let (mut path, mut modules, mut settings) = (String::new(), Vec::new(), Vec::new());
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.trim_start_matches('\t').split('\t').collect();
        match fields[0] {
            "path" => path = fields[1].to_string(),
            "mod" | "dep" => modules.push(format!(
                "{} {} {}",
                fields[1],
                fields[2],
                fields.get(3).unwrap_or(&"")
            )),
            "=>" => {
                let last = modules.last_mut().unwrap();
                last.push_str(&format!(" => {} {}", fields[1], fields[2]));
            }
            "build" => {
                let (k, v) = fields[1].split_once('=').unwrap();
                settings.push((k.to_string(), v.trim_matches('"').to_string()));
            }
            other => panic!("unexpected go version -m line {other:?}"),
        }
    }
    (go_version, path, modules, settings)
}

fn rko_view(binary: &Path) -> (String, String, Vec<String>, Vec<(String, String)>) {
    let info = rko::read_build_info(binary).unwrap();
    let module = |m: &rko::Module| {
        let mut s = format!("{} {} {}", m.path, m.version, m.sum);
        if let Some(r) = &m.replace {
            s.push_str(&format!(" => {} {}", r.path, r.version));
        }
        s
    };
    let modules = std::iter::once(&info.main)
        .chain(&info.deps)
        .map(module)
        .collect();
    (info.go_version, info.path, modules, info.settings)
}

/// A module with a local `replace`d dependency (stdlib only), in a git checkout.
fn module_with_replace(dir: &Path) -> PathBuf {
    let lib = dir.join("lib");
    fs::create_dir_all(&lib).unwrap();
    fs::write(lib.join("go.mod"), "module example.com/lib\n\ngo 1.19\n").unwrap();
    fs::write(
        lib.join("lib.go"),
        "package lib\n\nfunc Greeting() string { return \"hi\" }\n",
    )
    .unwrap();
    let app = dir.join("app");
    fs::create_dir_all(&app).unwrap();
    fs::write(
        app.join("go.mod"),
        "module example.com/app\n\ngo 1.19\n\nrequire example.com/lib v0.0.0\n\nreplace example.com/lib => ../lib\n",
    )
    .unwrap();
    fs::write(
        app.join("main.go"),
        "package main\n\nimport \"example.com/lib\"\n\nfunc main() { println(lib.Greeting()) }\n",
    )
    .unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &[
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "init",
        ],
    ] {
        run_ok(Command::new("git").current_dir(&app).args(args));
    }
    app
}

fn build(dir: &Path, module: &Path, name: &str, env: &[(&str, &str)], args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut cmd = go();
    cmd.current_dir(module)
        .arg("build")
        .args(args)
        .arg("-o")
        .arg(&out)
        .arg(".");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_ok(&mut cmd);
    out
}

#[test]
fn the_reader_agrees_with_go_version_m() {
    let dir = temp_dir();
    let d = dir.path();
    let app = module_with_replace(d);
    let hello = repo_root().join("examples/hello");
    // The other platforms and the build without -trimpath from a copy with
    // an empty main: the reader's subject is each format's build info,
    // which does not depend on how much of the standard library is in.
    let tiny = tiny_hello(&d.join("tiny"));
    let binaries = [
        build(d, &hello, "hello-trimpath", &[], &["-trimpath"]),
        build(d, &tiny, "hello-plain", &[], &[]),
        build(
            d,
            &hello,
            "hello-arm64",
            &[("GOARCH", "arm64")],
            &["-trimpath"],
        ),
        build(
            d,
            &tiny,
            "hello-darwin",
            &[("GOOS", "darwin"), ("GOARCH", "arm64")],
            &["-trimpath"],
        ),
        build(
            d,
            &tiny,
            "hello.exe",
            &[("GOOS", "windows")],
            &["-trimpath"],
        ),
        build(d, &app, "app-vcs", &[], &["-buildvcs=true"]),
        build(d, &app, "app-ldflags", &[], &["-ldflags=-s -w -X main.v=1"]),
    ];
    for binary in &binaries {
        assert_eq!(
            rko_view(binary),
            go_version_m(binary),
            "{}",
            binary.display()
        );
    }
    let vcs = rko::read_build_info(&binaries[5]).unwrap();
    assert_eq!(vcs.setting("vcs"), Some("git"));
    assert_eq!(vcs.setting("vcs.revision").map(str::len), Some(40));
    assert_eq!(vcs.deps[0].replace.as_ref().unwrap().path, "../lib");
    assert_eq!(
        rko::read_build_info(&binaries[0])
            .unwrap()
            .setting("-trimpath"),
        Some("true")
    );
    assert_eq!(
        rko::read_build_info(&binaries[1])
            .unwrap()
            .setting("-trimpath"),
        None
    );
}

fn validator() -> PathBuf {
    let python = std::env::var_os("RKO_SBOM_VALIDATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/validators/bin/python"));
    assert!(
        python.is_file(),
        "the SBOM validators are missing ({}): run scripts/test, which installs spdx-tools and cyclonedx-python-lib there",
        python.display()
    );
    python
}

/// `rko sbom` with every option, for `binary` in an image with `digest`.
fn write_sbom(format: &str, binary: &Path, digest: &str, out: &Path) {
    run_ok(
        rko()
            .args([
                "sbom",
                "--format",
                format,
                "--created",
                "1700000000",
                "--image-name",
                "registry.example/app",
            ])
            .args([
                "--image-digest",
                digest,
                "--base-name",
                "registry.example/base:1",
                "--binary-path",
                "/ko-app/app",
            ])
            .arg("--binary")
            .arg(binary)
            .arg("--out")
            .arg(out),
    );
}

#[test]
fn both_formats_validate_and_list_exactly_the_binarys_modules() {
    let dir = temp_dir();
    let d = dir.path();
    let app = module_with_replace(d);
    let binary = build(d, &app, "app-bin", &[], &["-trimpath"]);
    let (_, _, modules, _) = go_version_m(&binary);
    let module_paths: Vec<String> = modules
        .iter()
        .map(|m| m.split(' ').next().unwrap().to_string())
        .collect();
    let digest = format!("sha256:{}", "ab".repeat(32));
    for (format, kind) in [("spdx", "spdx"), ("cyclonedx", "cyclonedx")] {
        let out = d.join(format!("app.{format}.json"));
        write_sbom(format, &binary, &digest, &out);
        let check = Command::new(validator())
            .arg(repo_root().join("tests/data/validate_sbom.py"))
            .arg(kind)
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{format} does not validate:\n{}",
            String::from_utf8_lossy(&check.stdout)
        );
        let doc = read_json(&out);
        let mut listed: Vec<String> = if format == "spdx" {
            doc["packages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| {
                    p["externalRefs"][0]["referenceLocator"]
                        .as_str()
                        .unwrap()
                        .starts_with("pkg:golang/")
                })
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect()
        } else {
            doc["components"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_string())
                .collect()
        };
        listed.sort();
        let mut expected = module_paths.clone();
        expected.sort();
        assert_eq!(listed, expected, "{format}");
        // Same inputs, same bytes.
        let again = d.join(format!("again.{format}.json"));
        write_sbom(format, &binary, &digest, &again);
        assert_eq!(
            fs::read(&out).unwrap(),
            fs::read(&again).unwrap(),
            "{format} is reproducible"
        );
    }
    let spdx = read_json(&d.join("app.spdx.json"));
    let relationships = spdx["relationships"].to_string();
    assert!(
        relationships.contains("DEPENDS_ON")
            && relationships.contains("DESCENDANT_OF")
            && relationships.contains("CONTAINS")
    );
    assert!(spdx["packages"]
        .to_string()
        .contains("pkg:oci/app@sha256%3A"));
}

#[test]
fn an_attached_sbom_is_pushed_as_a_referrer() {
    let registry = Registry::start(Auth::None);
    let dir = temp_dir();
    let image = hello_image(dir.path(), "amd64");
    let image_digest = layout_digest(&image);
    let artifact = run_ok(
        rko()
            .args(["sbom", "--format", "spdx", "--attach"])
            .arg(&image)
            .arg("--binary")
            .arg(hello_binary("amd64")),
    );
    let artifact = artifact.trim();
    let target = format!("{}/with-sbom", registry.host());
    let (pushed, stderr) = run_ok_with_stderr(
        rko_in(&dir.path().join("docker"))
            .arg("push")
            .arg(&image)
            .arg(format!("{target}:v1"))
            .arg("--sbom-tags"),
    );
    assert!(stderr.contains("1 referrers"), "{stderr}");
    // The image itself is what was pushed, and what the registry holds.
    assert_eq!(pushed, format!("{target}@{image_digest}\n"));
    let held = run_ok(
        skopeo("inspect")
            .args(["--format", "{{.Digest}}"])
            .arg(format!("docker://{target}:v1")),
    );
    assert_eq!(held.trim(), image_digest);

    // distribution 2.8 has no referrers API: the tag schema lists it.
    let hex = image_digest.trim_start_matches("sha256:");
    let raw = |reference: &str| {
        json(&run_ok(
            skopeo("inspect")
                .arg("--raw")
                .arg(format!("docker://{reference}")),
        ))
    };
    let referrers = raw(&format!("{target}:sha256-{hex}"));
    assert_eq!(referrers["manifests"][0]["digest"], artifact);
    assert_eq!(
        referrers["manifests"][0]["artifactType"],
        "application/spdx+json"
    );
    let manifest = raw(&format!("{target}@{artifact}"));
    assert_eq!(manifest["subject"]["digest"], image_digest.as_str());
    assert_eq!(manifest["layers"][0]["mediaType"], "application/spdx+json");
    // ko's layout, on request: cosign's one-file image, no subject (see
    // parity_sbomtag for the whole layout).
    let ko_style = raw(&format!("{target}:sha256-{hex}.sbom"));
    assert_eq!(ko_style["layers"][0]["mediaType"], "text/spdx+json");
    assert_eq!(
        ko_style["layers"][0]["digest"],
        manifest["layers"][0]["digest"]
    );
    assert!(ko_style.get("subject").is_none(), "{ko_style}");
    // The image still exports and loads as one image.
    run_ok(skopeo("inspect").arg(format!("oci:{}:latest", image.display())));
}

#[test]
fn what_is_not_a_go_binary_is_named() {
    let dir = temp_dir();
    let hello = hello_binary("amd64");
    let bytes = fs::read(&hello).unwrap();
    let magic = bytes
        .windows(14)
        .position(|w| w == b"\xff Go buildinf:")
        .unwrap();
    let truncated = dir.path().join("truncated");
    fs::write(&truncated, &bytes[..magic + 40]).unwrap();
    let script = dir.path().join("script.sh");
    fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let stripped_go = dir.path().join("stripped-go");
    fs::copy(&hello, &stripped_go).unwrap();
    run_ok(Command::new("strip").arg(&stripped_go));
    let cases: [(&Path, &str); 4] = [
        (
            Path::new("/bin/true"),
            "no Go build information in it: not a Go binary",
        ),
        (&script, "not an executable (ELF, Mach-O or PE)"),
        (&truncated, "the file is truncated"),
        (Path::new("/no/such/binary"), "No such file"),
    ];
    for (binary, want) in cases {
        let err = run_err(
            rko()
                .args(["sbom", "--out"])
                .arg(dir.path().join("x.json"))
                .arg("--binary")
                .arg(binary),
        );
        assert!(err.contains(want), "{}: {err}", binary.display());
        assert!(!dir.path().join("x.json").exists());
    }
    // `strip` drops the symbols but keeps Go's build information (the
    // .go.buildinfo section): a stripped Go binary has the SBOM of the
    // binary it was, listing what `go version -m` reads from it.
    let sbom = |binary: &Path, out: &str| {
        let out = dir.path().join(out);
        run_ok(
            rko()
                .args(["sbom", "--created", "1700000000", "--out"])
                .arg(&out)
                .arg("--binary")
                .arg(binary),
        );
        out
    };
    let stripped = sbom(&stripped_go, "stripped.json");
    let unstripped = sbom(&hello, "unstripped.json");
    let (go_version, path, modules, _) = go_version_m(&stripped_go);
    let doc = read_json(&stripped);
    let packages: Vec<(&str, &str)> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["versionInfo"].as_str().unwrap(),
            )
        })
        .collect();
    let listed: Vec<(&str, &str)> = modules
        .iter()
        .map(|m| {
            let mut fields = m.split(' ');
            (fields.next().unwrap(), fields.next().unwrap())
        })
        .collect();
    assert_eq!(packages, listed, "{doc}");
    assert_eq!(
        doc["packages"][0]["comment"],
        format!("main package {path} built with {go_version}")
    );
    assert_eq!(
        fs::read(&stripped).unwrap(),
        fs::read(&unstripped).unwrap(),
        "the stripped binary's SBOM is the unstripped one's"
    );
}
