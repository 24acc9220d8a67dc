//! Running an image for real: `umoci unpack` into a runtime bundle, the
//! tweaks DESIGN.md describes (no terminal; the host's network namespace so
//! the test reaches the server on 127.0.0.1), then `runc run`.

use super::{read_json, require, run_ok};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `umoci unpack` of the image named `name` in `layout` into `bundle`.
pub fn unpack(layout: &Path, name: &str, bundle: &Path) -> PathBuf {
    run_ok(
        Command::new(require("umoci"))
            .args(["unpack", "--image"])
            .arg(format!("{}:{name}", layout.display()))
            .arg(bundle),
    );
    bundle.to_path_buf()
}

/// A container started by runc, killed and deleted when dropped.
pub struct Container {
    runc: PathBuf,
    state: PathBuf,
    id: String,
    child: Child,
    pub log: PathBuf,
    pub port: u16,
}

impl Drop for Container {
    fn drop(&mut self) {
        let runc = |args: &[&str]| {
            let _ = Command::new(&self.runc)
                .arg("--root")
                .arg(&self.state)
                .args(args)
                .output();
        };
        runc(&["kill", &self.id, "KILL"]);
        let _ = self.child.wait();
        runc(&["delete", "--force", &self.id]);
    }
}

impl Container {
    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Runs the unpacked `bundle` with `PORT` set; `work` holds runc's state and the log.
    pub fn start(bundle: &Path, work: &Path, port: u16) -> Container {
        let config_path = bundle.join("config.json");
        let mut config = read_json(&config_path);
        config["process"]["terminal"] = false.into();
        config["process"]["env"]
            .as_array_mut()
            .unwrap()
            .push(format!("PORT={port}").into());
        config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|ns| ns["type"] != "network");
        std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();

        let runc = require("runc");
        let state = work.join("runc-state");
        let id = format!("rko-test-{}-{port}", std::process::id());
        let log = work.join(format!("container-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(&runc)
            .arg("--root")
            .arg(&state)
            .args(["run", &id])
            .current_dir(bundle)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Container {
            runc,
            state,
            id,
            child,
            log,
            port,
        }
    }

    /// GET `path`, waiting up to 30 s for the server to come up.
    pub fn get(&self, path: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match http_get(&self.host(), path) {
                Ok(response) => return response,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!(
                    "the server never answered: {e}\ncontainer log: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ),
            }
        }
    }
}

fn http_get(host: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}
