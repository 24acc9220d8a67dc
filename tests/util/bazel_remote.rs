//! bazel-remote (github.com/buchgr/bazel-remote, pinned in
//! scripts/peers.txt): a production REAPI cache, its gRPC and HTTP front
//! ends over one disk store, on 127.0.0.1 with its store under the test's
//! directory.

use super::registry::free_port;
use super::{peer, require, run_ok};
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running bazel-remote, killed by its PID when dropped.
pub struct BazelRemote {
    child: Child,
    /// Its HTTP port: the cache over HTTP, and `/status`.
    pub port: u16,
    /// Its gRPC port: the REAPI (CAS, ActionCache, ByteStream, Capabilities).
    pub grpc_port: u16,
    log: PathBuf,
}

impl Drop for BazelRemote {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl BazelRemote {
    /// Starts bazel-remote with its store under `dir/cache` (1 GiB at most)
    /// and its log at `dir/bazel-remote.log`, on free ports of 127.0.0.1,
    /// and waits until both its ports accept connections.
    pub fn start(dir: &Path) -> BazelRemote {
        BazelRemote::start_with(dir, &[])
    }

    /// [`BazelRemote::start`] with more of its flags (`--htpasswd_file`,
    /// `--tls_cert_file`, ...).
    pub fn start_with(dir: &Path, flags: &[String]) -> BazelRemote {
        let binary = peer("bazel-remote");
        fs::create_dir_all(dir.join("cache")).unwrap();
        let (port, grpc_port) = (free_port(), free_port());
        let log = dir.join("bazel-remote.log");
        let out = fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .arg("--host=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--grpc_port={grpc_port}"))
            .arg(format!("--dir={}", dir.join("cache").display()))
            .arg("--max_size=1")
            .args(flags)
            .stdin(Stdio::null())
            .stderr(out.try_clone().unwrap())
            .stdout(out)
            .spawn()
            .expect("cannot start bazel-remote");
        let mut server = BazelRemote {
            child,
            port,
            grpc_port,
            log,
        };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for port in [self.port, self.grpc_port] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                let exited = self.child.try_wait().unwrap();
                assert!(
                    exited.is_none() && Instant::now() < deadline,
                    "bazel-remote did not start ({exited:?}): {}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// `127.0.0.1:PORT` of its HTTP front end.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT` of its gRPC front end (`--remote_cache=grpc://…`).
    pub fn grpc_address(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    /// What it logged: a line per request, such as `GRPC AC GET <hash> OK`
    /// (an action cache hit), `GRPC AC GET <hash> NOT FOUND`, `GRPC AC PUT
    /// <hash> OK` or `GRPC BYTESTREAM READ COMPLETED blobs/<hash>/<size>`.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The local addresses its process listens on, as `ss -ltnp` shows them.
    pub fn listening(&self) -> Vec<String> {
        let pid = format!("pid={},", self.child.id());
        let mut found: Vec<String> = run_ok(Command::new(require("ss")).arg("-ltnpH"))
            .lines()
            .filter(|line| line.contains(&pid))
            .filter_map(|line| line.split_whitespace().nth(3).map(str::to_string))
            .collect();
        found.sort();
        found
    }
}
