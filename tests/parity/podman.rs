//! podman's Docker-compatible API (`podman system service`), which ko's
//! `-L` and `ko.local` talk to, on a socket of the harness, with its own
//! storage; rko's podman command line is pointed at the same storage.

use crate::util::{podman, with_podman_storage};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PodmanService {
    child: Child,
    root: PathBuf,
    pub socket: PathBuf,
}

impl PodmanService {
    pub fn start(root: &Path) -> PodmanService {
        std::fs::create_dir_all(root).unwrap();
        let socket = root.join("podman.sock");
        let child = podman(root)
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("podman system service");
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "podman system service did not open {} in 30 s",
                socket.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        PodmanService {
            child,
            root: root.to_path_buf(),
            socket,
        }
    }

    /// `cmd` talking to this service (ko, through `DOCKER_HOST`) and to its
    /// storage (rko, through podman's command line).
    pub fn serve<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("DOCKER_HOST", format!("unix://{}", self.socket.display()));
        with_podman_storage(cmd, &self.root)
    }

    /// `podman image inspect REFERENCE`'s JSON, if the image is there.
    pub fn inspect(&self, reference: &str) -> Option<serde_json::Value> {
        let out = podman(&self.root)
            .args(["image", "inspect", reference])
            .output()
            .ok()?;
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        value.as_array()?.first().cloned()
    }
}

impl Drop for PodmanService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
