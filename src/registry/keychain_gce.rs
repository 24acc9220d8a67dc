//! The GCE/GKE metadata server's access token, which Google's libraries
//! use on a Google machine when nothing else is configured (Application
//! Default Credentials, last step): ko's google.Keychain sends it to gcr.io
//! and Artifact Registry as the password of user `_token`.
//!
//! Off Google, the metadata host does not resolve; every step is bounded so
//! that the lookup falls through in seconds at worst, never hangs.

use super::credential::{Credential, Secret};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use ureq::Agent;

/// Where the metadata server answers on GCE and GKE; `GCE_METADATA_HOST`
/// (read by the command layer) overrides it, as in Google's libraries.
pub const DEFAULT_HOST: &str = "metadata.google.internal";

/// The token request of golang.org/x/oauth2's `ComputeTokenSource` with
/// the scope go-containerregistry asks (`cloudPlatformScope`).
const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform";

/// The longest a name lookup or a connection may take: off Google the
/// name does not resolve, or the address is not routed.
const REACH_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest the whole request may take: a server that accepts and then
/// stalls is given up on.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);

/// A token answer is a few hundred bytes.
const MAX_ANSWER: u64 = 64 * 1024;

/// A metadata server, and the token it gave (asked once per process, as
/// ko's google.Keychain resolves once).
#[derive(Debug, Clone)]
pub struct GceMetadata {
    host: String,
    token: Arc<OnceLock<Option<Secret>>>,
}

impl GceMetadata {
    /// The server at `host` (`host[:port]`), over plain HTTP as on GCE.
    pub fn new(host: impl Into<String>) -> Self {
        GceMetadata {
            host: host.into(),
            token: Arc::default(),
        }
    }

    /// ko's credential for a Google registry: user `_token`, the access
    /// token as password; `None` when the server gives none.
    pub fn credential(&self) -> Option<Credential> {
        let token = self.token.get_or_init(|| fetch_token(&self.host));
        Some(Credential::Basic {
            username: "_token".into(),
            password: token.clone()?,
        })
    }
}

/// Asks the server at `host` for the default service account's token;
/// `None` for any failure, which the caller passes over.
fn fetch_token(host: &str) -> Option<Secret> {
    let agent: Agent = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        // HTTP_PROXY is for the outside world; the metadata server is local.
        .proxy(None)
        .timeout_resolve(Some(REACH_TIMEOUT))
        .timeout_connect(Some(REACH_TIMEOUT))
        .timeout_global(Some(TOTAL_TIMEOUT))
        .build()
        .into();
    let mut response = agent
        .get(format!("http://{host}{TOKEN_PATH}"))
        .header("Metadata-Flavor", "Google")
        .call()
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
        .ok()?;
    parse_token(&body)
}

/// The access token of the metadata server's answer; like x/oauth2's
/// `computeSource.Token`, an answer without `access_token` or `expires_in`
/// is no token.
fn parse_token(body: &str) -> Option<Secret> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        access_token: String,
        #[serde(default)]
        expires_in: u64,
    }
    let answer: Answer = serde_json::from_str(body).ok()?;
    if answer.access_token.is_empty() || answer.expires_in == 0 {
        return None;
    }
    Some(Secret::new(answer.access_token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::credentials::CredentialStore;
    use crate::registry::keychain::Keychain;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// What the stand-in metadata server does with a request.
    #[derive(Clone, Copy)]
    enum Answer {
        /// 200 with this body, when the request is the token request with
        /// `Metadata-Flavor: Google` (403 otherwise, as the real server).
        Token(&'static str),
        NotFound,
        /// Reads the request and never answers.
        Stall,
    }

    /// A stand-in metadata server on 127.0.0.1: its `host:port` and the
    /// request lines it was sent.
    fn metadata_server(answer: Answer) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut stalled = Vec::new();
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap();
                let mut flavored = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                    flavored |= line.to_ascii_lowercase().trim() == "metadata-flavor: google";
                }
                log.lock().unwrap().push(request.trim().to_string());
                let token_request = request.starts_with(
                    "GET /computeMetadata/v1/instance/service-accounts/default/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform ",
                );
                let (status, body) = match answer {
                    Answer::Stall => {
                        stalled.push(stream);
                        continue;
                    }
                    Answer::NotFound => ("404 Not Found", "not found"),
                    Answer::Token(body) if token_request && flavored => ("200 OK", body),
                    Answer::Token(_) => ("403 Forbidden", "missing Metadata-Flavor"),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nMetadata-Flavor: Google\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (host, seen)
    }

    fn store(host: &str) -> CredentialStore {
        CredentialStore {
            keychain: Keychain {
                gce_metadata: Some(GceMetadata::new(host)),
                ..Keychain::default()
            },
            ..CredentialStore::default()
        }
    }

    // ko: go-containerregistry pkg/v1/google/keychain.go (isGoogle, resolve
    // once) and auth.go (tokenSourceAuth: user "_token"); golang.org/x/oauth2
    // google/google.go computeSource.Token (the token URI with the
    // cloud-platform scope); cloud.google.com/go/compute/metadata Get
    // (http://GCE_METADATA_HOST/computeMetadata/v1/..., Metadata-Flavor: Google).
    #[test]
    fn the_metadata_servers_token_reaches_google_registries_through_the_lookup() {
        let (host, seen) = metadata_server(Answer::Token(
            r#"{"access_token":"ya29.stand-in","expires_in":3599,"token_type":"Bearer"}"#,
        ));
        let store = store(&host);
        let want = Credential::Basic {
            username: "_token".into(),
            password: Secret::new("ya29.stand-in"),
        };
        assert_eq!(store.lookup("gcr.io").unwrap(), want);
        assert_eq!(store.lookup("us-docker.pkg.dev").unwrap(), want);
        assert_eq!(store.lookup("quay.io").unwrap(), Credential::Anonymous);
        assert_eq!(store.lookup("ghcr.io").unwrap(), Credential::Anonymous);
        assert_eq!(seen.lock().unwrap().len(), 1, "asked once: {seen:?}");
    }

    // x/oauth2 computeSource.Token: a token without access_token or
    // expires_in is an error, which ko's google.Keychain turns into Anonymous.
    #[test]
    fn a_metadata_server_without_a_token_is_passed_over_quickly() {
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        };
        let servers = [
            ("metadata.invalid".to_string(), 3),
            (closed, 3),
            (metadata_server(Answer::NotFound).0, 3),
            (
                metadata_server(Answer::Token(r#"{"access_token":"ya29","expires_in":0}"#)).0,
                3,
            ),
            (
                metadata_server(Answer::Token(r#"{"expires_in":3599}"#)).0,
                3,
            ),
            (
                metadata_server(Answer::Token("<html>captive portal</html>")).0,
                3,
            ),
            (metadata_server(Answer::Stall).0, 10),
        ];
        for (host, seconds) in servers {
            let start = Instant::now();
            assert_eq!(
                store(&host).lookup("gcr.io").unwrap(),
                Credential::Anonymous,
                "{host}"
            );
            assert!(
                start.elapsed() < Duration::from_secs(seconds),
                "{host}: {:?}",
                start.elapsed()
            );
        }
    }
}
