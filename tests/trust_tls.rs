//! Which TLS each host gets: `--insecure-registry` makes that registry
//! alone unverified; a token realm on another host is verified like any
//! other host unless it is named too. The registry is the real one over
//! TLS; the realm is `openssl s_server` on 127.0.0.2 with a self-signed
//! certificate nobody trusts.

use crate::util::registry::{free_port, Auth, Registry};
use crate::util::*;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `openssl s_server -www` on 127.0.0.2: a self-signed certificate, and a
/// status page (not a token) for any request. Stopped by its PID when dropped.
struct UntrustedRealm {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for UntrustedRealm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl UntrustedRealm {
    fn start() -> UntrustedRealm {
        let dir = temp_dir();
        run_ok(
            Command::new(require("openssl"))
                .current_dir(dir.path())
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
                .args(["-keyout", "key.pem", "-out", "cert.pem", "-days", "2"])
                .args([
                    "-subj",
                    "/CN=127.0.0.2",
                    "-addext",
                    "subjectAltName=IP:127.0.0.2",
                ])
                .stderr(Stdio::null()),
        );
        let port = free_port();
        let child = Command::new(require("openssl"))
            .current_dir(dir.path())
            .args(["s_server", "-www", "-cert", "cert.pem", "-key", "key.pem"])
            .arg("-accept")
            .arg(format!("127.0.0.2:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.2", port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        UntrustedRealm {
            child,
            port,
            _dir: dir,
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.2:{}", self.port)
    }
}

fn pull(config: &Path, reference: &str, insecure: &[String], out: &Path) -> Command {
    let mut cmd = rko_in(config);
    cmd.arg("pull").arg(reference).arg("--out").arg(out);
    for host in insecure {
        cmd.arg(format!("--insecure-registry={host}"));
    }
    cmd
}

// Issue 21, item 10: the realm used to be fetched with the registry's
// unverified TLS, so anyone answering for the realm's host could issue the
// tokens (and read the credentials sent there).
#[test]
fn an_insecure_registrys_realm_on_another_host_gets_verified_tls() {
    let realm = UntrustedRealm::start();
    let realm_url = format!("https://{}/token", realm.host());
    let registry = Registry::start(Auth::TlsTokenAt(realm_url.clone()));
    let dir = temp_dir();
    let config = dir.path().join("docker");
    let reference = format!("{}/app:v1", registry.host());
    let out = dir.path().join("out");

    // The registry is insecure; the realm is not: its certificate is refused
    // before a byte of the request goes there.
    let err = run_err(&mut pull(&config, &reference, &[registry.host()], &out));
    assert!(
        err.contains(&realm_url) && err.contains("certificate"),
        "{err}"
    );
    assert!(!err.contains("not JSON"), "the realm was read: {err}");

    // Named too, the realm is reached (and answers no token).
    let err = run_err(&mut pull(
        &config,
        &reference,
        &[registry.host(), realm.host()],
        &out,
    ));
    assert!(
        err.contains(&realm_url) && err.contains("not JSON"),
        "{err}"
    );
    assert!(!out.exists());
}
