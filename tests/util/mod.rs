//! Shared test harness: the rko binary (plain, without the machine's
//! credentials, or as the porcelain in an isolated environment), fresh temp
//! dirs, the real tools the tests drive (Go, skopeo, umoci, runc, podman),
//! and small file helpers.
//!
//! Every server a test starts has the same shape: `Type::start(…)` starts
//! it on a free port of 127.0.0.1 and returns once it answers; `host()` is
//! its `127.0.0.1:PORT`; dropping it stops it (by its PID for a process),
//! so a failing test leaves nothing running.
//!
//! | component | start | what it is |
//! |---|---|---|
//! | the distribution registry | `registry::Registry::start(auth)`, `start_named` | Debian's `docker-registry`, plain, htpasswd or token auth, TLS |
//! | a token server | `registry::TokenServer::start(dir)` (by `Registry::start(Auth::Token)`) | the registry's bearer-token realm |
//! | a fault proxy | `registry::FaultProxy::start(upstream)` | resets, 5xx, 429, truncated bodies in front of a registry |
//! | a hostile registry | `hostile::Hostile::start(ip, script)` | answers as a script says: foreign locations, stalls, wrong bytes |
//! | nginx | `nginx::Nginx::start(dir)`, `start_proxy(dir, upstream, max_body)` | Bazel's HTTP remote cache (WebDAV); a body limit before a registry |
//! | squid | `squid::Squid::start(names)`, `start_guarded` | a forward proxy (CONNECT and absolute-form), its access log read back |
//! | RemoteWorker | `remote_worker::RemoteWorker::start(dir)` | Bazel's own REAPI executor |
//! | bazel-remote | `bazel_remote::BazelRemote::start(dir)` | a production REAPI cache (gRPC at `grpc_address()`, HTTP at `host()`) |
//! | Buildbarn | `buildbarn::Buildbarn::start(dir)` | a production REAPI cluster: storage, scheduler, worker, runner (`executor_address()`, `cache_address()`) |
//! | a container | `runc::Container::start(bundle, work, port)` | an image unpacked by umoci, run by runc |
//! | a Kubernetes API | `kube::KubeApi::start()` | discovery and 404s, for `kubectl apply --dry-run=client` |
//!
//! A Bazel workspace (`bazel::Workspace::copy`) is a directory rather than
//! a server; dropping it shuts its Bazel server down.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub mod bazel;
pub mod bazel_remote;
pub mod buildbarn;
pub mod hostile;
pub mod hosts;
pub mod kube;
pub mod nginx;
pub mod registry;
pub mod remote_worker;
pub mod runc;
pub mod squid;

/// The `rko` binary under test.
pub fn rko() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rko"))
}

/// `rko` that sees none of the machine's registry credentials, CAs or
/// proxies: its Docker config is `docker_config`, and podman's auth files,
/// `SSL_CERT_FILE`, the proxy variables and what ko's keychains read
/// (`GITHUB_TOKEN`, `GITHUB_ACTOR`, `GCE_METADATA_HOST`) are out of sight.
pub fn rko_in(docker_config: &Path) -> Command {
    let mut cmd = rko();
    cmd.env("DOCKER_CONFIG", docker_config)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("SSL_CERT_FILE")
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITHUB_ACTOR")
        .env_remove("GCE_METADATA_HOST");
    for proxy in PROXY_VARIABLES {
        cmd.env_remove(proxy);
    }
    cmd
}

/// What Go's net/http (and rko) read for proxies: out of a test's sight
/// unless it sets them (tests/proxy.rs).
pub const PROXY_VARIABLES: [&str; 7] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

/// The porcelain (`rko build`, `resolve`, `apply`; the verb is the caller's)
/// isolated from the machine: its cache, HOME and Docker config under
/// `state` (`state/cache`, `state/home`, `state/docker`), Go local and
/// offline, none of the caller's `KO_*`, `GOFLAGS`, `GOOS`/`GOARCH`/`GOARM`,
/// `CGO_ENABLED` or `SOURCE_DATE_EPOCH`, and the `VERSION` that
/// examples/multi's .ko.yaml templates read (unset, it is an error, as in
/// ko). A test that wants another value sets it after this.
pub fn porcelain(state: &Path) -> Command {
    let home = state.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = rko_in(&state.join("docker"));
    cmd.env("KOCACHE", state.join("cache"))
        .env("HOME", home)
        .env("KO_GO_PATH", require("go"))
        .env("GOCACHE", gocache())
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOMODCACHE", module_cache())
        .env("VERSION", "1.2.3");
    for variable in [
        "KO_DOCKER_REPO",
        "KO_DEFAULTPLATFORMS",
        "KO_DEFAULTBASEIMAGE",
        "KO_CONFIG_PATH",
        "KO_DATA_DATE_EPOCH",
        "SOURCE_DATE_EPOCH",
        "GOFLAGS",
        "GOOS",
        "GOARCH",
        "GOARM",
        "CGO_ENABLED",
        "KIND_CLUSTER_NAME",
    ] {
        cmd.env_remove(variable);
    }
    cmd
}

/// `rko build` in `module`, isolated with its state under `state`.
pub fn rko_build(module: &Path, state: &Path) -> Command {
    let mut cmd = porcelain(state);
    cmd.current_dir(module).arg("build");
    cmd
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

/// Runs a command that must succeed; returns its stdout and its stderr
/// (where rko reports what it built, pushed or loaded).
pub fn run_ok_with_stderr(cmd: &mut Command) -> (String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    (stdout, stderr)
}

/// Runs a command that must fail; returns its stderr without the progress
/// lines logged before the failure (see [`is_progress`]): what is left is
/// what went wrong.
pub fn run_err(cmd: &mut Command) -> String {
    let out: Output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded but should have failed\nstdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    stderr
        .lines()
        .filter(|line| !is_progress(line))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Whether `line` is one of the step lines rko logs as ko does
/// (`Building … for …`, `pushed blob: …`; tests/progress.rs pins them).
pub fn is_progress(line: &str) -> bool {
    const STEPS: [&str; 17] = [
        "Using base ",
        "Using build config ",
        "Building ",
        "Publishing ",
        "Published ",
        "Tagging ",
        "pushed blob: ",
        "existing blob: ",
        "mounted blob: ",
        "Loading ",
        "Loaded ",
        "Adding tag ",
        "Added tag ",
        "Saving ",
        "Saved ",
        "Writing SBOM to ",
        "Published SBOM ",
    ];
    STEPS.iter().any(|step| line.starts_with(step)) || line.contains(": digest: sha256:")
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

/// The tags skopeo lists for `repository` (`HOST/NAME`); none for a
/// repository the registry does not know.
pub fn listed_tags(repository: &str) -> Vec<String> {
    let out = skopeo("list-tags")
        .arg(format!("docker://{repository}"))
        .output()
        .unwrap();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // distribution 2.8 answers 404 for a repository it does not know.
        assert!(
            stderr.contains("NAME_UNKNOWN") || stderr.contains("404 (Not Found)"),
            "skopeo list-tags {repository}: {stderr}"
        );
        return Vec::new();
    }
    json(&String::from_utf8_lossy(&out.stdout))["Tags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A peer installed by `scripts/peers` (pinned in scripts/peers.txt):
/// ko, crane, cosign, bazel-remote. Missing, it is a test failure saying
/// how to install it, as for [`require`].
pub fn peer(name: &str) -> PathBuf {
    let path = repo_root().join("target/peers").join(name);
    assert!(
        path.is_file(),
        "this test needs the peer `{name}` at {}: run scripts/peers (scripts/test runs it), \
         which builds the versions pinned in scripts/peers.txt from the Go module proxy",
        path.display()
    );
    path
}

fn package_of(tool: &str) -> &str {
    match tool {
        "go" => "golang-1.23-go/bookworm-backports",
        "ss" => "iproute2",
        "java" | "javac" => "default-jdk-headless",
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
        dirs.push("/usr/local/go/bin".into());
        dirs.push("/usr/lib/go-1.23/bin".into());
        dirs.push("/usr/lib/go/bin".into());
    }
    dirs.into_iter().map(|d| d.join(tool)).find(|p| p.is_file())
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Go build cache every test shares, so Go compiles the standard
/// library once.
pub fn gocache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache")
}

/// A `go` command that never touches the network.
pub fn go() -> Command {
    let mut cmd = Command::new(require("go"));
    cmd.env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("CGO_ENABLED", "0");
    if std::env::var_os("GOCACHE").is_none() {
        cmd.env("GOCACHE", gocache());
    }
    cmd
}

/// The machine's Go module cache, which the install step filled for the
/// examples with dependencies (examples/deps); named explicitly because the
/// tests give rko and ko a HOME of their own.
pub fn module_cache() -> PathBuf {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE
        .get_or_init(|| PathBuf::from(run_ok(go().args(["env", "GOMODCACHE"])).trim()))
        .clone()
}

/// `cp -r from to`.
pub fn copy_tree(from: &Path, to: &Path) {
    run_ok(Command::new("cp").arg("-r").arg(from).arg(to));
}

/// A copy of examples/hello at `to` (its module path, go.mod and kodata)
/// whose main package imports nothing: for tests about platforms, where
/// any Go program does, so that Go compiles the runtime for another
/// platform instead of all net/http (seconds of CPU instead of half a
/// minute, on a machine the suite keeps busy).
pub fn tiny_hello(to: &Path) -> PathBuf {
    copy_tree(&repo_root().join("examples/hello"), to);
    std::fs::write(to.join("main.go"), "package main\n\nfunc main() {}\n").unwrap();
    to.to_path_buf()
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

/// The digest of the first (for rko's layouts, the only) manifest listed in
/// `layout`'s index.json.
pub fn layout_digest(layout: &Path) -> String {
    read_json(&layout.join("index.json"))["manifests"][0]["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no manifest digest in index.json", layout.display()))
        .to_string()
}

/// The digest in what `rko push` prints, `REPO@sha256:…`.
pub fn pushed_digest(printed: &str) -> String {
    printed.trim().rsplit('@').next().unwrap().to_string()
}

/// `skopeo VERB` trusting any image (no policy.json needed) and speaking
/// plain HTTP to the tests' registries, whichever side of a copy they are on.
pub fn skopeo(verb: &str) -> Command {
    let mut cmd = Command::new(require("skopeo"));
    cmd.args(["--insecure-policy", verb]);
    match verb {
        "copy" => cmd.args(["--src-tls-verify=false", "--dest-tls-verify=false"]),
        _ => cmd.arg("--tls-verify=false"),
    };
    cmd
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

/// Points `cmd` (rko, or anything that runs podman itself) at podman
/// storage under `root`, where `podman(root)` finds it too.
pub fn with_podman_storage<'a>(cmd: &'a mut Command, root: &Path) -> &'a mut Command {
    let storage_conf = root.join("storage.conf");
    std::fs::write(
        &storage_conf,
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            root.join("storage").display(),
            root.join("run").display()
        ),
    )
    .unwrap();
    cmd.env("CONTAINERS_STORAGE_CONF", &storage_conf)
}

/// Parses JSON text.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Parses a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    json(&text)
}

/// `size` pseudo-random bytes from `seed` (xorshift64).
pub fn noise(seed: u64, size: usize) -> Vec<u8> {
    let mut prng = Prng::new(seed);
    (0..size).map(|_| prng.next() as u8).collect()
}

/// A small seeded PRNG (xorshift64): repeatable "random" delays and bytes.
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// An image on builtin:static whose one layer holds `bytes` at `dest`; the
/// layer is `dir/NAME.tar.gz` (+ `.json`), the image the layout `dir/NAME-image`.
pub fn image_with_file(dir: &Path, name: &str, bytes: &[u8], dest: &str) -> PathBuf {
    let data = dir.join(format!("{name}.bin"));
    std::fs::write(&data, bytes).unwrap();
    let l = layer(dir, name, &[&format!("--file={}={dest}", data.display())]);
    let out = dir.join(format!("{name}-image"));
    run_ok(
        rko()
            .args(["append", "--base=builtin:static"])
            .arg(format!("--layer={}", layer_arg(&l)))
            .arg("--out")
            .arg(&out),
    );
    out
}

/// The temporaries an rko run keeps beside `out` while it writes it
/// (`.NAME.rko-tmp-…`, renamed into place at the end; src/atomic.rs). Left
/// there after a SIGKILL, which no handler can clean up, they show that the
/// kill landed while `out` was being written.
pub fn temporaries_beside(out: &Path) -> Vec<PathBuf> {
    let prefix = format!(".{}.rko-tmp-", out.file_name().unwrap().to_string_lossy());
    let mut found: Vec<PathBuf> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// `sha256:<hex>` of `bytes`, computed by the test itself: what a digest
/// rko reports is checked against when the test rebuilds the bytes it names.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
