//! Shared test harness: the rko binary, fresh temp dirs, the real tools the
//! tests drive (Go, skopeo, umoci, runc, podman), and small file helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub mod registry;
pub mod runc;

/// The `rko` binary under test.
pub fn rko() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rko"))
}

/// Runs a command, panicking with its output if it fails; returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs a command that must fail; returns its stderr.
pub fn run_err(cmd: &mut Command) -> String {
    let out: Output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded but should have failed\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).expect("stderr is UTF-8")
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("rko-test-")
        .tempdir()
        .unwrap()
}

/// The path of a tool the test needs. A missing tool is a test failure with
/// a message saying how to get it: tests never pass silently without it.
pub fn require(tool: &str) -> PathBuf {
    find_tool(tool).unwrap_or_else(|| {
        panic!(
            "this test needs `{tool}`, which is not installed: run scripts/test \
             (it installs every tool the tests use) or `apt-get install {}`",
            package_of(tool)
        )
    })
}

fn package_of(tool: &str) -> &str {
    match tool {
        "go" => "golang-1.23-go/bookworm-backports",
        other => other,
    }
}

fn find_tool(tool: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if tool == "go" {
        if let Some(go) = std::env::var_os("GO") {
            return Some(PathBuf::from(go));
        }
        dirs.push("/usr/lib/go-1.23/bin".into());
        dirs.push("/usr/lib/go/bin".into());
    }
    dirs.into_iter().map(|d| d.join(tool)).find(|p| p.is_file())
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `go` command that never touches the network.
pub fn go() -> Command {
    let mut cmd = Command::new(require("go"));
    cmd.env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("CGO_ENABLED", "0");
    if std::env::var_os("GOCACHE").is_none() {
        cmd.env(
            "GOCACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        );
    }
    cmd
}

/// Builds `examples/hello` for `goarch` once per test process.
pub fn hello_binary(goarch: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<std::collections::HashMap<String, PathBuf>>> =
        OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap();
    if let Some(path) = built.get(goarch) {
        return path.clone();
    }
    // One directory per test process: test runners may run processes in parallel.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hello-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("hello-{goarch}"));
    run_ok(
        go().current_dir(repo_root().join("examples/hello"))
            .env("GOOS", "linux")
            .env("GOARCH", goarch)
            .args(["build", "-trimpath", "-o"])
            .arg(&out)
            .arg("."),
    );
    built.insert(goarch.to_string(), out.clone());
    out
}

/// Assembles a layer and returns (blob, descriptor) paths.
pub fn layer(dir: &Path, name: &str, entries: &[&str]) -> (PathBuf, PathBuf) {
    let blob = dir.join(format!("{name}.tar.gz"));
    let desc = dir.join(format!("{name}.json"));
    let mut cmd = rko();
    cmd.arg("assemble-layer")
        .args(entries)
        .arg("--out")
        .arg(&blob)
        .arg("--descriptor")
        .arg(&desc);
    run_ok(&mut cmd);
    (blob, desc)
}

/// `BLOB=DESC` for `append --layer`.
pub fn layer_arg(layer: &(PathBuf, PathBuf)) -> String {
    format!("{}={}", layer.0.display(), layer.1.display())
}

/// The hello image for `goarch` on builtin:static, with its kodata; returns the layout.
pub fn hello_image(dir: &Path, goarch: &str) -> PathBuf {
    let binary = hello_binary(goarch);
    let bin = layer(
        dir,
        &format!("bin-{goarch}"),
        &[&format!("--file={}=/ko-app/hello", binary.display())],
    );
    let kodata = repo_root().join("examples/hello/kodata");
    let data = layer(
        dir,
        &format!("data-{goarch}"),
        &[&format!("--tree={}=/var/run/ko", kodata.display())],
    );
    let out = dir.join(format!("image-{goarch}"));
    run_ok(
        rko()
            .args(["append", "--base", "builtin:static", "--ko-app", "hello"])
            .arg(format!("--platform=linux/{goarch}"))
            .arg(format!("--layer={}", layer_arg(&bin)))
            .arg(format!("--layer={}", layer_arg(&data)))
            .args(["--env", "GREETING=hi", "--label", "org.example.team=rko"])
            .arg("--out")
            .arg(&out),
    );
    out
}

/// Runs `rko index` over `images` (plus `extra` flags); returns the printed digest.
pub fn index(images: &[&Path], out: &Path, extra: &[&str]) -> String {
    let mut cmd = rko();
    cmd.arg("index");
    for image in images {
        cmd.arg("--image").arg(image);
    }
    run_ok(cmd.args(extra).arg("--out").arg(out))
        .trim()
        .to_string()
}

/// Every file under `dir` with its content, by relative path, sorted.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// podman with its storage under `root` (vfs), so tests never touch the machine's.
pub fn podman(root: &Path) -> Command {
    let mut cmd = Command::new(require("podman"));
    cmd.arg("--root")
        .arg(root.join("storage"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(["--storage-driver", "vfs"]);
    cmd
}

/// Parses JSON text.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
