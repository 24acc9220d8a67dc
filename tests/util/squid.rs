//! A real forward proxy for the tests: Debian's squid on a free 127.0.0.1
//! port. Names a test gives resolve to 127.0.0.1 for squid alone (its own
//! hosts file), `blocked.test` is refused (403), and the access log says
//! what went through it: `CONNECT host:port` for a tunnel, `GET http://…`
//! for a request in absolute form. A guarded squid also wants a user and
//! password (407 without them) and listens over TLS too.

use super::registry::{free_port, make_tls};
use super::{require, run_ok, temp_dir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The host squid always refuses.
pub const BLOCKED: &str = "blocked.test";

/// A running squid, stopped (by its PID) when dropped.
pub struct Squid {
    child: Child,
    pub port: u16,
    /// A guarded squid's TLS port, and the CA of its certificate.
    pub tls: Option<(u16, PathBuf)>,
    dir: tempfile::TempDir,
    sentinels: AtomicU32,
}

impl Drop for Squid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One line of the access log: what was asked and how squid answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub method: String,
    /// `host:port` for CONNECT, the absolute URL otherwise.
    pub url: String,
    /// Squid's result code and status, such as `TCP_DENIED/403`.
    pub result: String,
    /// The user the client proved to be, `-` for none.
    pub user: String,
}

impl Squid {
    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts squid with `names` (and `blocked.test`) resolving to 127.0.0.1.
    pub fn start(names: &[&str]) -> Squid {
        Squid::launch(names, None)
    }

    /// Like [`start`](Self::start), wanting `user` and `password` (Basic)
    /// from every client, and listening over TLS too (`tls`).
    pub fn start_guarded(names: &[&str], user: &str, password: &str) -> Squid {
        Squid::launch(names, Some((user, password)))
    }

    fn launch(names: &[&str], guard: Option<(&str, &str)>) -> Squid {
        let binary = require("squid");
        let dir = temp_dir();
        // Squid drops root for the `proxy` user, who writes the logs here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = free_port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(
            dir.path().join("hosts"),
            format!("127.0.0.1 {BLOCKED} {}\n", names.join(" ")),
        )
        .unwrap();
        let mut config = format!(
            "http_port 127.0.0.1:{port}\n\
             pid_filename {pid}\n\
             access_log stdio:{access}\n\
             cache_log {cache}\n\
             coredump_dir {dir}\n\
             hosts_file {hosts}\n\
             dns_nameservers 127.0.0.1\n\
             cache deny all\n\
             cache_mem 8 MB\n\
             pinger_enable off\n\
             shutdown_lifetime 0 seconds\n\
             acl blocked dstdomain {BLOCKED}\n\
             http_access deny blocked\n",
            pid = path("squid.pid"),
            access = path("access.log"),
            cache = path("cache.log"),
            dir = dir.path().display(),
            hosts = path("hosts"),
        );
        let mut tls = None;
        match guard {
            None => config.push_str("http_access allow all\n"),
            Some((user, password)) => {
                run_ok(
                    Command::new(require("htpasswd"))
                        .args(["-b", "-c", "-m", &path("passwd"), user, password])
                        .stderr(Stdio::null()),
                );
                let (ca, cert, key) = make_tls(dir.path(), &[]);
                let tls_port = free_port();
                config.push_str(&format!(
                    "https_port 127.0.0.1:{tls_port} tls-cert={} tls-key={}\n\
                     auth_param basic program /usr/lib/squid/basic_ncsa_auth {}\n\
                     auth_param basic realm rko-test-proxy\n\
                     acl authenticated proxy_auth REQUIRED\n\
                     http_access allow authenticated\n\
                     http_access deny all\n",
                    cert.display(),
                    key.display(),
                    path("passwd"),
                ));
                tls = Some((tls_port, ca));
            }
        }
        std::fs::write(dir.path().join("squid.conf"), config).unwrap();
        let child = Command::new(binary)
            .arg("-N")
            .arg("-f")
            .arg(dir.path().join("squid.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        let squid = Squid {
            child,
            port,
            tls,
            dir,
            sentinels: AtomicU32::new(0),
        };
        squid.wait_ready();
        squid
    }

    /// Waits until squid answers; the first connection that opens carries
    /// a sentinel request, so that no connection is logged as one that
    /// said nothing.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                self.send_sentinel(stream);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "squid did not start: {}{}",
                std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default(),
                std::fs::read_to_string(self.dir.path().join("cache.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asks for a URL squid refuses at once, on `stream`, and returns it.
    fn send_sentinel(&self, mut stream: TcpStream) -> String {
        let n = self.sentinels.fetch_add(1, Ordering::Relaxed);
        let sentinel = format!("http://{BLOCKED}/sentinel-{n}");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(stream, "GET {sentinel} HTTP/1.0\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        sentinel
    }

    /// `http://127.0.0.1:PORT`, as `HTTPS_PROXY` names it.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// Everything squid has logged so far, once it has logged all that came
    /// before this call: a sentinel request is sent and waited for (squid
    /// logs a tunnel when it closes, after the client is gone). The
    /// sentinels themselves are left out.
    pub fn settled_log(&self) -> Vec<Logged> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let sentinel = self.send_sentinel(stream);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = self.log();
            if log.iter().any(|l| l.url == sentinel) {
                return log
                    .into_iter()
                    .filter(|l| !l.url.contains("/sentinel-"))
                    .collect();
            }
            assert!(Instant::now() < deadline, "squid never logged {sentinel}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> Vec<Logged> {
        let text = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                // time elapsed client result bytes method url user …
                let fields: Vec<&str> = line.split_whitespace().collect();
                Some(Logged {
                    result: fields.get(3)?.to_string(),
                    method: fields.get(5)?.to_string(),
                    url: fields.get(6)?.to_string(),
                    user: fields.get(7)?.to_string(),
                })
            })
            .collect()
    }
}
