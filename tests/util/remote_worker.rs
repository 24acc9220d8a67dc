//! Bazel's own remote execution server and executor (`RemoteWorker`, the
//! one Bazel's integration tests use), built from Debian's
//! `bazel-bootstrap-source` with `javac` against Bazel's server jar and
//! patched to listen on 127.0.0.1 only. The classes are compiled once and
//! kept under target/; each test starts its own worker on a free port.

use super::registry::free_port;
use super::{require, run_ok};
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's bazel-bootstrap-source puts the worker's sources.
const SOURCES: &str = "/usr/src/bazel-bootstrap/src/tools/remote/src/main/java";
/// Bazel's server jar: gRPC, Netty and the remote execution API the worker uses.
const SERVER_JAR: &str = "/usr/share/bazel/A-server.jar";
const MAIN: &str = "com.google.devtools.build.remote.worker.RemoteWorker";
/// Upstream listens on every interface; the tests' worker only on loopback.
const LISTEN_ANY: &str = "NettyServerBuilder.forPort(workerOptions.listenPort)";
const LISTEN_LOOPBACK: &str = "NettyServerBuilder.forAddress(new java.net.InetSocketAddress(\"127.0.0.1\", workerOptions.listenPort))";

/// A running RemoteWorker, killed by its PID when dropped.
pub struct RemoteWorker {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Drop for RemoteWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RemoteWorker {
    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts a worker whose work and CAS directories, PID file and log are
    /// under `dir`, and waits until it accepts connections.
    pub fn start(dir: &Path) -> RemoteWorker {
        let classes = classes();
        fs::create_dir_all(dir.join("work")).unwrap();
        fs::create_dir_all(dir.join("cas")).unwrap();
        let port = free_port();
        let log = dir.join("worker.log");
        let child = Command::new(require("java"))
            // An IPv4 socket, which `ss` shows as 127.0.0.1 rather than [::ffff:127.0.0.1].
            .arg("-Djava.net.preferIPv4Stack=true")
            // Short-lived: the JIT's first tier only, as the tests' Bazel servers.
            .arg("-XX:TieredStopAtLevel=1")
            .arg("-cp")
            .arg(format!("{}:{SERVER_JAR}", classes.display()))
            .arg(MAIN)
            .arg(format!("--listen_port={port}"))
            .arg(format!("--work_path={}", dir.join("work").display()))
            .arg(format!("--cas_path={}", dir.join("cas").display()))
            .arg(format!("--pid_file={}", dir.join("worker.pid").display()))
            .arg("--jobs=2")
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::create(dir.join("worker.err")).unwrap())
            .spawn()
            .expect("cannot start java");
        let mut worker = RemoteWorker { child, port, log };
        worker.wait_until_listening(dir);
        worker
    }

    fn wait_until_listening(&mut self, dir: &Path) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "RemoteWorker did not start ({exited:?}): {}\n{}",
                fs::read_to_string(&self.log).unwrap_or_default(),
                fs::read_to_string(dir.join("worker.err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What the worker logged, stdout then stderr: for failure messages.
    pub fn log(&self) -> String {
        let err = self.log.with_file_name("worker.err");
        fs::read_to_string(&self.log).unwrap_or_default()
            + &fs::read_to_string(err).unwrap_or_default()
    }

    /// The local addresses the worker's process listens on, as `ss -ltnp` shows them.
    pub fn listening(&self) -> Vec<String> {
        let pid = format!("pid={},", self.child.id());
        run_ok(Command::new(require("ss")).arg("-ltnpH"))
            .lines()
            .filter(|line| line.contains(&pid))
            .filter_map(|line| line.split_whitespace().nth(3).map(str::to_string))
            .collect()
    }
}

/// The compiled, patched worker: target/tmp/remote-worker/classes, built
/// on first use (about 15 s) and reused by later runs.
fn classes() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("remote-worker");
    let classes = root.join("classes");
    if classes
        .join("com/google/devtools/build/remote/worker/RemoteWorker.class")
        .is_file()
    {
        return classes;
    }
    let sources = sources();
    // Built beside, then renamed: a concurrent or killed run never leaves
    // half a build where the next one would take it.
    let staging = root.join(format!("staging-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).unwrap();
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(&sources)
            .arg(staging.join("src")),
    );
    let main = staging.join("src/com/google/devtools/build/remote/worker/RemoteWorker.java");
    let text = fs::read_to_string(&main).unwrap();
    assert!(
        text.contains(LISTEN_ANY),
        "{}: no `{LISTEN_ANY}` to patch",
        main.display()
    );
    fs::write(&main, text.replace(LISTEN_ANY, LISTEN_LOOPBACK)).unwrap();
    let files: Vec<PathBuf> = walkdir::WalkDir::new(staging.join("src"))
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "java"))
        .collect();
    run_ok(
        Command::new(require("javac"))
            .args(["-nowarn", "-encoding", "UTF-8", "-d"])
            .arg(staging.join("classes"))
            .args(["-cp", SERVER_JAR])
            .args(&files),
    );
    if fs::rename(staging.join("classes"), &classes).is_err() && !classes.is_dir() {
        panic!(
            "cannot move the compiled RemoteWorker to {}",
            classes.display()
        );
    }
    let _ = fs::remove_dir_all(&staging);
    classes
}

/// The worker's Java sources, from Debian's bazel-bootstrap-source; in CI
/// (as root) the package is installed when missing.
fn sources() -> PathBuf {
    let sources = PathBuf::from(SOURCES);
    if !sources.is_dir() && std::env::var_os("CI").is_some() && is_root() {
        let install = Command::new("apt-get")
            .args(["install", "-y", "-q", "bazel-bootstrap-source"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        if !install.is_ok_and(|s| s.success()) {
            run_ok(Command::new("apt-get").args(["update", "-q"]));
            run_ok(
                Command::new("apt-get")
                    .args(["install", "-y", "-q", "bazel-bootstrap-source"])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            );
        }
    }
    assert!(
        sources.is_dir(),
        "this test needs Bazel's RemoteWorker sources at {SOURCES}: run scripts/test \
         (it installs every tool the tests use) or `apt-get install bazel-bootstrap-source`"
    );
    sources
}

fn is_root() -> bool {
    run_ok(Command::new("id").arg("-u")).trim() == "0"
}
