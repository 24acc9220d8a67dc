//! `.ko.yaml` as ko reads it (issue 12, item 13): Go template logic in
//! flags and ldflags, rendered for each platform; `linux_capabilities` as
//! the binary's file capabilities; kodata symlinks allowed anywhere in the
//! git work tree. Built with `rko build` from real Go, read back with the
//! go tool, skopeo and umoci, run under runc.

use crate::util::runc::{unpack, Container};
use crate::util::*;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A module `example.com/app` with `cmd/app` (examples/hello's server)
/// under `root`, and `.ko.yaml` holding `ko_yaml`.
fn module(root: &Path, ko_yaml: &str) -> PathBuf {
    fs::create_dir_all(root.join("cmd/app")).unwrap();
    fs::write(root.join("go.mod"), "module example.com/app\n\ngo 1.19\n").unwrap();
    fs::copy(
        repo_root().join("examples/hello/main.go"),
        root.join("cmd/app/main.go"),
    )
    .unwrap();
    fs::write(root.join(".ko.yaml"), ko_yaml).unwrap();
    root.to_path_buf()
}

fn git(dir: &Path, args: &[&str]) {
    run_ok(
        Command::new(require("git"))
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args),
    );
}

/// `rko build ./cmd/app --push=false` in `module` into the OCI layout
/// `state/layout`, with `SOURCE_DATE_EPOCH` fixed.
fn build(module: &Path, state: &Path, args: &[&str]) -> Command {
    let mut cmd = porcelain(state);
    cmd.current_dir(module)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args([
            "build",
            "./cmd/app",
            "--push=false",
            "-B",
            "--oci-layout-path",
        ])
        .arg(state.join("layout"))
        .args(args);
    cmd
}

/// The root filesystem of the `arch` image in `layout`, unpacked by umoci.
fn rootfs(layout: &Path, arch: &str, work: &Path) -> PathBuf {
    let one = work.join(format!("one-{arch}"));
    run_ok(
        skopeo("copy")
            .args(["--override-arch", arch])
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("oci:{}:{arch}", one.display())),
    );
    unpack(&one, arch, &work.join(format!("bundle-{arch}"))).join("rootfs")
}

/// The one image of the --oci-layout-path `layout` (unnamed, as ko writes
/// it) copied into a layout at `out` that names it `app`, for umoci.
fn named(layout: &Path, out: &Path) -> PathBuf {
    run_ok(
        skopeo("copy")
            .arg(format!("oci:{}", layout.display()))
            .arg(format!("oci:{}:app", out.display())),
    );
    out.to_path_buf()
}

/// A program printing what its ldflags set.
const PRINTS_ITS_LDFLAGS: &str = r#"package main

import "fmt"

var arch, goos, cgo, tag, when, opt string

func main() { fmt.Println(arch, goos, cgo, tag, when, opt) }
"#;

/// ko's pkg/build/gobuild.go `createBuildArgs` and `applyTemplating`: each
/// flag and ldflag is a Go template (missingkey=error), rendered for each
/// platform with `.Env` holding that platform's GOARCH, `.GoEnv` from
/// `go env`, `.Git` from the repository; `flags` as one string is split at
/// whitespace (pkg/build/config.go `FlagArray`).
#[test]
fn flags_and_ldflags_are_go_templates_rendered_for_each_platform() {
    let dir = temp_dir();
    let root = module(
        &dir.path().join("app"),
        r#"builds:
- id: app
  main: ./cmd/app
  flags: -tags=netgo
  ldflags:
  - '{{if eq .Env.GOARCH "arm64"}}-X main.arch=arch-arm{{else if eq .Env.GOARCH "amd64"}}-X main.arch=arch-x86{{else}}-X main.arch=other{{end}}'
  - '-X main.goos=goos-{{.GoEnv.GOOS}} -X main.cgo=cgo-{{.GoEnv.CGO_ENABLED}}'
  - '-X main.tag=tag-{{.Git.Tag}} {{- if .Git.IsDirty}}-dirty{{end}}'
  - '-X main.when=when-{{.Timestamp}} -X main.opt=opt-{{or (index .Env "OPTIONAL") "none"}} {{- /* no trace */ -}}'
"#,
    );
    fs::write(root.join("cmd/app/main.go"), PRINTS_ITS_LDFLAGS).unwrap();
    git(&root, &["init", "-q"]);
    git(&root, &["add", "."]);
    git(&root, &["commit", "-q", "-m", "app"]);
    git(&root, &["tag", "v1.2.3"]);
    let state = dir.path().join("state");
    run_ok(&mut build(
        &root,
        &state,
        &["--platform=linux/amd64,linux/arm64"],
    ));
    let layout = state.join("layout");
    let printed =
        |arch: &str| format!("arch-{arch} goos-linux cgo-0 tag-v1.2.3 when-1700000000 opt-none");
    let amd64 = rootfs(&layout, "amd64", dir.path()).join("ko-app/app");
    assert_eq!(run_ok(&mut Command::new(&amd64)).trim(), printed("x86"));
    // The arm64 binary cannot run here: its -X values are in its data.
    let arm64 = fs::read(rootfs(&layout, "arm64", dir.path()).join("ko-app/app")).unwrap();
    let holds = |text: &str| arm64.windows(text.len()).any(|w| w == text.as_bytes());
    for value in printed("arm").split(' ') {
        assert!(holds(value), "the arm64 binary lacks {value:?}");
    }
    assert!(!holds("arch-x86"), "the arm64 binary has amd64's ldflags");
    let tags = run_ok(go().args(["version", "-m"]).arg(&amd64));
    assert!(tags.contains("build\t-tags=netgo"), "{tags}");
}

/// ko parses each template with Go's text/template: what Go rejects, or
/// (with missingkey=error) a variable that is not set, fails the build. rko
/// also refuses what it does not implement, naming the file, the build and
/// the template, rather than passing it through as text.
#[test]
fn a_template_rko_cannot_run_fails_naming_the_file_the_build_and_the_template() {
    let dir = temp_dir();
    let cases = [
        (
            "  ldflags: ['-X main.v={{html .Env}}']\n",
            "builds[0].ldflags: bad template {{html .Env}} in \"-X main.v={{html .Env}}\": html is outside",
        ),
        (
            "  flags: ['-tags={{.Env.NOT_SET_ANYWHERE}}']\n",
            "builds[0].flags: bad template {{.Env.NOT_SET_ANYWHERE}} in \"-tags={{.Env.NOT_SET_ANYWHERE}}\": map has no entry for key \"NOT_SET_ANYWHERE\"",
        ),
        (
            "  ldflags: ['{{if true}}-s']\n",
            "builds[0].ldflags: bad template {{if true}} in \"{{if true}}-s\": unexpected EOF",
        ),
    ];
    for (i, (entry, says)) in cases.iter().enumerate() {
        let root = module(
            &dir.path().join(format!("app{i}")),
            &format!("builds:\n- main: ./cmd/app\n{entry}"),
        );
        let err = run_err(&mut build(&root, &dir.path().join("state"), &[]));
        let file = root.join(".ko.yaml");
        assert!(
            err.contains(&format!("{}: {says}", file.display())),
            "{entry}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// A tar entry's path and PAX records (key and raw value).
type PaxEntry = (String, Vec<(String, Vec<u8>)>);

/// The entries of the binary layer of the single-platform image in `layout`.
fn binary_layer_entries(layout: &Path) -> Vec<PaxEntry> {
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index = read_json(&layout.join("index.json"));
    let manifest = read_json(&blob(index["manifests"][0]["digest"].as_str().unwrap()));
    for layer in manifest["layers"].as_array().unwrap() {
        let compressed = fs::read(blob(layer["digest"].as_str().unwrap())).unwrap();
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut bytes)
            .unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let entries: Vec<_> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let records = match e.pax_extensions().unwrap() {
                    Some(records) => records
                        .map(|r| {
                            let r = r.unwrap();
                            (r.key().unwrap().to_string(), r.value_bytes().to_vec())
                        })
                        .collect(),
                    None => Vec::new(),
                };
                (path, records)
            })
            .collect();
        if entries.iter().any(|(path, _)| path == "/ko-app/app") {
            return entries;
        }
    }
    panic!("no layer holds /ko-app/app: {manifest}");
}

/// ko's pkg/build/gobuild.go `tarBinary` gives the binary the PAX record
/// `SCHILY.xattr.security.capability`, whose value is pkg/caps
/// `FileCaps.ToXattrBytes` (bytes pinned from ko's caps_dd_test.go); the
/// `ko-app` directory gets none. Under runc, as the base's nonroot user,
/// the program binds port 80 only thanks to it.
#[test]
fn linux_capabilities_are_the_binarys_file_capabilities_as_ko_writes_them() {
    let dir = temp_dir();
    let cases: [(&str, [u8; 20]); 2] = [
        // A list of names is `names=p` (docs/advanced/linux-capabilities.md).
        (
            "[net_bind_service]",
            [0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
        // setcap's syntax; `e` sets the effective flag (ko's FlagEffective).
        (
            "cap_net_bind_service=ep",
            [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ),
    ];
    for (i, (caps, xattr)) in cases.iter().enumerate() {
        let root = module(
            &dir.path().join(format!("app{i}")),
            &format!("builds:\n- main: ./cmd/app\n  linux_capabilities: {caps}\n"),
        );
        let state = dir.path().join(format!("state{i}"));
        run_ok(&mut build(&root, &state, &[]));
        let entries = binary_layer_entries(&state.join("layout"));
        let want = vec![(
            "SCHILY.xattr.security.capability".to_string(),
            xattr.to_vec(),
        )];
        assert_eq!(
            entries,
            // ko's names: `ko-app`, then `/ko-app/app`.
            [
                ("ko-app".to_string(), vec![]),
                ("/ko-app/app".to_string(), want)
            ],
            "{caps}"
        );
    }
    // The first image: permitted only; the program does not raise it, so
    // its nonroot bind to port 80 is refused.
    let bundle = unpack(
        &named(
            &dir.path().join("state0/layout"),
            &dir.path().join("named0"),
        ),
        "app",
        &dir.path().join("bundle0"),
    );
    let refused = Container::start(&bundle, dir.path(), 80);
    wait_for_log(&refused.log, "bind: permission denied");
    drop(refused);
    // The second image: effective, so the nonroot server binds port 80.
    let bundle = unpack(
        &named(
            &dir.path().join("state1/layout"),
            &dir.path().join("named1"),
        ),
        "app",
        &dir.path().join("bundle"),
    );
    let getcap = run_ok(Command::new(require("getcap")).arg(bundle.join("rootfs/ko-app/app")));
    assert!(getcap.contains("cap_net_bind_service=ep"), "{getcap}");
    let server = Container::start(&bundle, dir.path(), 80);
    let page = server.get("/");
    assert!(page.contains("Hello from rko! (uid 65532)"), "{page}");
}

/// ko v0.19.1's pkg/build/gobuild.go `tarKoData`: kodata symlinks are
/// followed but must resolve inside `kodata/` itself, even to a file kept
/// elsewhere in the same git work tree (later ko releases widen that with
/// `KO_DATA_PATH_ALLOWED_ROOT`, which rko reads too). tests/parity's
/// kodata-symlink-escapes runs ko beside rko on it.
#[test]
fn kodata_symlinks_stay_inside_kodata_unless_an_allowed_root_holds_them() {
    let dir = temp_dir();
    let repo = dir.path().join("repo");
    fs::create_dir_all(repo.join("shared")).unwrap();
    fs::write(
        repo.join("shared/banner.txt"),
        "shared across the repository\n",
    )
    .unwrap();
    let root = module(&repo.join("services/app"), "");
    let kodata = root.join("cmd/app/kodata");
    fs::create_dir_all(&kodata).unwrap();
    std::os::unix::fs::symlink(
        "../../../../../shared/banner.txt",
        kodata.join("banner.txt"),
    )
    .unwrap();
    git(&repo, &["init", "-q"]);

    let state = dir.path().join("state");
    let err = run_err(&mut build(&root, &state, &[]));
    let real_kodata = kodata.canonicalize().unwrap();
    assert!(
        err.contains(&kodata.join("banner.txt").display().to_string())
            && err.contains(&format!(
                "outside the kodata root {}",
                real_kodata.display()
            )),
        "{err}"
    );

    run_ok(build(&root, &state, &[]).env("KO_DATA_PATH_ALLOWED_ROOT", &repo));
    let rootfs = rootfs(&state.join("layout"), "amd64", dir.path());
    let banner = fs::read_to_string(rootfs.join("var/run/ko/banner.txt")).unwrap();
    assert_eq!(banner, "shared across the repository\n");
}

/// Waits up to 30 s for `log` to contain `text`.
fn wait_for_log(log: &Path, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let content = fs::read_to_string(log).unwrap_or_default();
        if content.contains(text) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{text:?} never in the log: {content}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
