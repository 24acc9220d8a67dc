//! Credential helpers (`docker-credential-*`, named by `credHelpers` in
//! docker's config.json) that misbehave: one that hangs, one that leaves a
//! child holding its stdout, one that writes without end, one that never
//! reads its stdin. rko bounds each helper's time (the network timeout) and
//! output (1 MiB a stream), stops its whole process group, and names the
//! helper and the registry when it gives up (issue 21, item 3).
//!
//! Every run is watched by a deadlock detector: a run still going after
//! [`HANG`] is killed with its process group and the test fails with
//! "hung". That is not a speed threshold; a healthy run ends in seconds.

use crate::util::registry::free_port;
use crate::util::*;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a run may take before it is taken for a deadlock.
const HANG: Duration = Duration::from_secs(90);

/// A docker config whose `credHelpers` send `registry` to
/// `docker-credential-NAME`, a shell script with `body`; returns the docker
/// config directory and the `PATH` that finds the helper.
fn helper_for(dir: &Path, registry: &str, name: &str, body: &str) -> (PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper = bin.join(format!("docker-credential-{name}"));
    fs::write(&helper, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.join("docker");
    fs::create_dir_all(&config).unwrap();
    fs::write(
        config.join("config.json"),
        format!(r#"{{"credHelpers": {{"{registry}": "{name}"}}}}"#),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (config, path)
}

/// Runs `cmd` in a process group of its own to the end, or kills the group
/// (rko and whatever it started) and fails the test after [`HANG`].
fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HANG {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            child.wait().unwrap();
            panic!("{cmd:?} hung: still running after {HANG:?}, killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A registry address nothing listens on: the helper is asked before any
/// connection is made, so the run is about the helper alone.
fn unreachable_registry() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// `rko pull REGISTRY/app:1` with a 2 s network timeout.
fn pull(config: &Path, path: &str, registry: &str, out: &Path) -> Command {
    let mut cmd = rko_in(config);
    cmd.env("PATH", path)
        .args(["pull", "--network-timeout", "2"])
        .arg(format!("{registry}/app:1"))
        .arg("--out")
        .arg(out);
    cmd
}

/// `cmd` run with at most 4 GiB of address space (`ulimit -v`).
fn with_memory_limit(cmd: &Command) -> Command {
    let mut wrapped = Command::new("sh");
    wrapped
        .args(["-c", "ulimit -v 4194304 && exec \"$@\"", "sh"])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
}

/// Whether the process `pid` is gone (or dead, waiting to be reaped).
fn is_gone(pid: &str) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Waits (boundedly) for the process whose pid `file` holds to be gone.
fn assert_killed(file: &Path) {
    let pid = fs::read_to_string(file).unwrap().trim().to_string();
    let started = Instant::now();
    while !is_gone(&pid) {
        assert!(
            started.elapsed() < HANG,
            "the helper's process {pid} still runs: its group was not stopped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_helper_that_hangs_is_stopped_at_the_network_timeout_and_named() {
    let dir = temp_dir();
    let registry = unreachable_registry();
    let pid = dir.path().join("helper.pid");
    let body = format!("echo $$ > '{}'\nexec sleep 600", pid.display());
    let (config, path) = helper_for(dir.path(), &registry, "hangs", &body);
    let out = run_bounded(&mut pull(&config, &path, &registry, &dir.path().join("o")));
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("docker-credential-hangs")
            && err.contains(&registry)
            && err.contains("no answer within 2 s"),
        "{err}"
    );
    assert_killed(&pid);
}

#[test]
fn a_helper_whose_child_holds_its_stdout_answers_without_hanging_rko() {
    let dir = temp_dir();
    let registry = unreachable_registry();
    let pid = dir.path().join("child.pid");
    // The answer, then a child that keeps the stdout pipe open.
    let body = format!(
        "read server\nprintf '{{\"Username\":\"me\",\"Secret\":\"pw\"}}'\nsleep 600 &\necho $! > '{}'",
        pid.display()
    );
    let (config, path) = helper_for(dir.path(), &registry, "lingers", &body);
    let out = run_bounded(
        rko_in(&config)
            .env("PATH", &path)
            .args(["auth", "get", &registry]),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        r#"{"Username":"me","Secret":"pw"}"#
    );
    assert_killed(&pid);
}

#[test]
fn a_helper_that_writes_without_end_is_stopped_at_1_mib_and_named() {
    let dir = temp_dir();
    let registry = unreachable_registry();
    for (name, body) in [
        ("floods-stdout", "yes '{\"Username\":\"me\"}'"),
        ("floods-stderr", "yes 'complaint' >&2"),
    ] {
        let (config, path) = helper_for(dir.path(), &registry, name, body);
        // Memory bounded too: were the output read whole, rko would run
        // out of its 4 GiB of address space and abort.
        let mut cmd = with_memory_limit(&pull(&config, &path, &registry, &dir.path().join("o")));
        let out = run_bounded(&mut cmd);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{name}: {err}");
        assert!(
            err.contains(&format!("docker-credential-{name}"))
                && err.contains(&registry)
                && err.contains("more than 1 MiB"),
            "{name}: {err}"
        );
    }
}

// docker (docker-credential-helpers client/command.go) and Go's os/exec
// ignore EPIPE on a helper's stdin: a helper may answer without reading.
#[test]
fn a_helper_that_never_reads_its_stdin_answers_every_time() {
    let dir = temp_dir();
    let registry = unreachable_registry();
    let body = r#"printf '{"Username":"me","Secret":"pw"}'"#;
    let (config, path) = helper_for(dir.path(), &registry, "deaf", body);
    for round in 0..20 {
        let out = run_bounded(
            rko_in(&config)
                .env("PATH", &path)
                .args(["auth", "get", &registry]),
        );
        assert!(out.status.success(), "round {round}: {}", text(&out.stderr));
        assert_eq!(
            text(&out.stdout).trim(),
            r#"{"Username":"me","Secret":"pw"}"#,
            "round {round}"
        );
    }
}
