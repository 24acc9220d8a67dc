//! Runs one fixture through one tool: a copy of its module, the same
//! environment for ko and rko but for the repository each pushes to and the
//! directory each writes to, and what came out (exit, stdout, stderr).

use super::fixture::Fixture;
use crate::util::{copy_tree, gocache, module_cache, peer, repo_root, require};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Ko,
    Rko,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Ko => "ko",
            Tool::Rko => "rko",
        }
    }

    fn program(self) -> PathBuf {
        match self {
            Tool::Ko => peer("ko"),
            // RKO_PARITY_BIN runs another rko (an older build, for a
            // before-and-after table).
            Tool::Rko => std::env::var_os("RKO_PARITY_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rko"))),
        }
    }
}

/// What the harness shares between the two tools of every fixture.
pub struct Stage {
    /// `127.0.0.1:PORT` of the registry both push to.
    pub registry: String,
    /// The base image both get as `KO_DEFAULTBASEIMAGE`.
    pub base: String,
    /// A scratch directory the whole run lives in.
    pub root: PathBuf,
    /// podman's Docker API, for the fixtures that load into the daemon.
    pub podman: super::podman::PodmanService,
}

/// What one tool did.
pub struct Outcome {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// The tool's output directory (`{out}`).
    pub out: PathBuf,
    /// `KO_DOCKER_REPO` as the tool saw it.
    pub repo: String,
}

impl Stage {
    /// `{registry}`, `{base}`, `{out}` and `{repo}` replaced.
    fn expand(&self, text: &str, out: &Path, repo: &str) -> String {
        text.replace("{registry}", &self.registry)
            .replace("{base}", &self.base)
            .replace("{repo}", repo)
            .replace("{out}", &out.display().to_string())
    }

    /// Where a fixture's module is copied to, the same path for both tools
    /// (ko's and rko's error messages name files in it).
    fn module_copy(&self, fixture: &Fixture) -> PathBuf {
        self.root.join(&fixture.name).join("src")
    }

    /// Copies the fixture's module, with its files and symlinks added.
    pub fn prepare(&self, fixture: &Fixture) -> PathBuf {
        let dest = self.module_copy(fixture);
        let _ = std::fs::remove_dir_all(&dest);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let source = if fixture.module.contains('/') {
            repo_root().join(&fixture.module)
        } else {
            repo_root()
                .join("tests/parity/modules")
                .join(&fixture.module)
        };
        copy_tree(&source, &dest);
        for (path, content) in &fixture.files {
            let path = dest.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let content = content
                .replace("{registry}", &self.registry)
                .replace("{base}", &self.base);
            std::fs::write(&path, content).unwrap();
        }
        for (path, target) in &fixture.symlinks {
            let path = dest.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, &path).unwrap();
        }
        dest
    }

    /// Runs `tool` on the prepared fixture.
    pub fn run(&self, fixture: &Fixture, tool: Tool) -> Outcome {
        let module = self.module_copy(fixture);
        let state = self.root.join(&fixture.name).join(tool.name());
        let out = state.join("out");
        let home = state.join("home");
        for dir in [&out, &home, &state.join("docker")] {
            std::fs::create_dir_all(dir).unwrap();
        }
        // Each fixture pushes under its own prefix, so that the tags found
        // afterwards are this fixture's alone.
        let repo = format!("{}/{}/{}", self.registry, fixture.name, tool.name());
        let mut cmd = Command::new(tool.program());
        cmd.current_dir(module.join(fixture.dir.as_deref().unwrap_or(".")))
            .env_clear()
            .env("PATH", search_path())
            .env("HOME", &home)
            .env("TMPDIR", std::env::temp_dir())
            .env("DOCKER_CONFIG", state.join("docker"))
            .env("KOCACHE", state.join("kocache"))
            .env("GOCACHE", gocache())
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("KO_DOCKER_REPO", &repo)
            .env("KO_DEFAULTBASEIMAGE", &self.base)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("KO_DATA_DATE_EPOCH", "1700000100")
            .env("GOMODCACHE", module_cache());
        for (key, value) in &fixture.env {
            cmd.env(key, self.expand(value, &out, &repo));
        }
        for key in &fixture.unset {
            cmd.env_remove(key);
        }
        if fixture.local {
            self.podman.serve(&mut cmd);
        }
        cmd.args(fixture.args.iter().map(|a| self.expand(a, &out, &repo)));
        let output = if fixture.close_stdout {
            first_line_then_close(&mut cmd)
        } else {
            cmd.output()
        }
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.name()));
        Outcome {
            // Killed by SIGPIPE is how a Go program ends quietly when its
            // reader has gone.
            success: output.status.success() || output.status.signal() == Some(13),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            out,
            repo,
        }
    }
}

/// PATH with the Go toolchain the tests use first, so that ko's `go` and
/// rko's are the same.
fn search_path() -> String {
    let go = require("go");
    let mut dirs = vec![go.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Runs `cmd` reading one line of its stdout and then closing it, as
/// `cmd | head -1` does.
fn first_line_then_close(cmd: &mut Command) -> std::io::Result<Output> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    drop(stdout);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr)?;
    let status = child.wait()?;
    Ok(Output {
        status,
        stdout: line.into_bytes(),
        stderr: stderr.into_bytes(),
    })
}
