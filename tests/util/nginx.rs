//! nginx on 127.0.0.1: serving a WebDAV directory (Bazel's HTTP remote
//! cache in the tests), or in front of a registry with a body limit.

use super::registry::free_port;
use super::require;
use std::fs;
use std::path::Path;
use std::process::{Child, Command};

/// nginx serving a WebDAV directory, as Bazel's HTTP remote cache.
pub struct Nginx {
    child: Child,
    pub port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its workers too.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// nginx on 127.0.0.1 serving WebDAV from `dir/cache`, its files under
    /// `dir`, stopped when dropped.
    pub fn start(dir: &Path) -> Nginx {
        start(
            dir,
            "    client_max_body_size 0;\n    location / {\n      dav_methods PUT DELETE;\n      create_full_put_path on;\n      dav_access user:rw group:rw all:r;\n    }\n",
        )
    }

    /// nginx on 127.0.0.1 in front of the server on `upstream`, refusing
    /// request bodies over `max_body` (nginx's `client_max_body_size`, as
    /// `1m`) with 413, as a proxy in front of a registry may.
    pub fn start_proxy(dir: &Path, upstream: u16, max_body: &str) -> Nginx {
        start(
            dir,
            &format!(
                "    client_max_body_size {max_body};\n    location / {{\n      proxy_pass http://127.0.0.1:{upstream};\n      proxy_set_header Host $http_host;\n      proxy_request_buffering off;\n    }}\n"
            ),
        )
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// nginx with `server` inside its one `server` block.
fn start(dir: &Path, server: &str) -> Nginx {
    let nginx = require("nginx");
    let port = free_port();
    for sub in ["cache", "logs", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let config = dir.join("nginx.conf");
    fs::write(
        &config,
        format!(
            "user root;\ndaemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\nevents {{}}\nhttp {{\n  access_log {d}/logs/access.log;\n  client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n  server {{\n    listen 127.0.0.1:{port};\n    root {d}/cache;\n{server}  }}\n}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&config)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nginx did not start: {}",
            fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Nginx { child, port }
}
