//! Host names that resolve to 127.0.0.1 for one command alone: the command
//! runs in a mount namespace of its own (`unshare`) with the test's
//! /etc/hosts bound over the machine's, which is never touched.

use super::require;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// An /etc/hosts that maps `names` to 127.0.0.1, above the machine's own.
pub fn hosts_file(dir: &Path, names: &[&str]) -> PathBuf {
    let path = dir.join("hosts");
    let machine = fs::read_to_string("/etc/hosts").unwrap_or_default();
    fs::write(&path, format!("127.0.0.1 {}\n{machine}", names.join(" "))).unwrap();
    path
}

/// `cmd` run with `hosts` as its /etc/hosts, in a mount namespace of its
/// own: the machine's file is never touched.
pub fn with_hosts(cmd: &Command, hosts: &Path) -> Command {
    let mut wrapped = Command::new(require("unshare"));
    wrapped
        .args(["--map-root-user", "--mount", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc/hosts && exec "$@""#)
        .arg(hosts)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}
