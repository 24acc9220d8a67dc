//! `SSL_CERT_FILE` naming a file that is not there (issue 21, item 8): Go's
//! crypto/x509 (root_unix.go) tries it and goes on with the system's
//! certificates; rko warns once, naming the variable and the file, and
//! goes on with the system store.

use crate::util::registry::{Auth, Registry, PASSWORD, USER};
use crate::util::*;

#[test]
fn a_missing_ssl_cert_file_is_warned_about_once_and_the_system_store_used() {
    let registry = Registry::start(Auth::BasicTls);
    let (host, ca) = (registry.host(), registry.ca.clone().unwrap());
    let dir = temp_dir();
    let missing = dir.path().join("no-such-bundle.pem");
    let (stdout, stderr) = run_ok_with_stderr(
        rko_in(&dir.path().join("docker"))
            .env("SSL_CERT_FILE", &missing)
            .args(["login", &host, "-u", USER, "-p", PASSWORD, "--ca-cert"])
            .arg(&ca),
    );
    assert!(stdout.contains("Login Succeeded"), "{stdout}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("SSL_CERT_FILE"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].starts_with("rko: warning: ")
            && warnings[0].contains(&missing.display().to_string()),
        "{stderr}"
    );
}
