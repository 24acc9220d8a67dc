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

/// How long the token request may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timeouts {
    /// The longest a name lookup or a connection may take: off Google the
    /// name does not resolve, or the address is not routed.
    reach: Duration,
    /// The longest the whole request may take: a server that accepts and
    /// then stalls is given up on.
    total: Duration,
}

const TIMEOUTS: Timeouts = Timeouts {
    reach: Duration::from_secs(2),
    total: Duration::from_secs(5),
};

/// A token answer is a few hundred bytes.
const MAX_ANSWER: u64 = 64 * 1024;

/// A metadata server, and the token it gave (asked once per process, as
/// ko's google.Keychain resolves once).
#[derive(Debug, Clone)]
pub struct GceMetadata {
    host: String,
    timeouts: Timeouts,
    token: Arc<OnceLock<Option<Secret>>>,
}

impl GceMetadata {
    /// The server at `host` (`host[:port]`), over plain HTTP as on GCE.
    pub fn new(host: impl Into<String>) -> Self {
        GceMetadata {
            host: host.into(),
            timeouts: TIMEOUTS,
            token: Arc::default(),
        }
    }

    /// This server, its request given `total` in all: a test's stalled
    /// server is given up on without waiting the seconds a real one gets.
    #[cfg(test)]
    fn with_total_timeout(mut self, total: Duration) -> Self {
        self.timeouts.total = total;
        self
    }

    /// ko's credential for a Google registry: user `_token`, the access
    /// token as password; `None` when the server gives none.
    pub fn credential(&self) -> Option<Credential> {
        let token = self.token.get_or_init(|| self.fetch_token());
        Some(Credential::Basic {
            username: "_token".into(),
            password: token.clone()?,
        })
    }

    /// The client for the token request, every step of it bounded.
    fn agent(&self) -> Agent {
        Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            // HTTP_PROXY is for the outside world; the metadata server is local.
            .proxy(None)
            .timeout_resolve(Some(self.timeouts.reach))
            .timeout_connect(Some(self.timeouts.reach))
            .timeout_global(Some(self.timeouts.total))
            .build()
            .into()
    }

    /// Asks the server for the default service account's token, once;
    /// `None` for any failure, which the caller passes over.
    fn fetch_token(&self) -> Option<Secret> {
        let mut response = self
            .agent()
            .get(format!("http://{}{TOKEN_PATH}", self.host))
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
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Mutex;
    use std::time::Duration;

    /// What the stand-in metadata server does with a request.
    #[derive(Clone, Copy)]
    enum Answer {
        /// 200 with this body, when the request is the token request with
        /// `Metadata-Flavor: Google` (403 otherwise, as the real server).
        Token(&'static str),
        NotFound,
        /// Reads the request and never answers; logs who then closed the
        /// connection.
        Stall,
    }

    /// How long a stalled connection is held open waiting for the client to
    /// close it. Not a measure of speed: only so that a client that never
    /// gives up fails the test (logged as [`HELD_UNTIL_THE_GUARD`]) instead
    /// of hanging it.
    const HANG_GUARD: Duration = Duration::from_secs(120);

    const CLOSED_BY_THE_CLIENT: &str = "closed by the client";
    const HELD_UNTIL_THE_GUARD: &str = "still open when the server gave up";

    /// A stand-in metadata server on 127.0.0.1: its `host:port` and the
    /// request lines it was sent (each stalled one followed by who closed it).
    fn metadata_server(answer: Answer) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
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
                        stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
                        let ended = match stream.read(&mut [0; 1]) {
                            Ok(0) => CLOSED_BY_THE_CLIENT,
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                                CLOSED_BY_THE_CLIENT
                            }
                            _ => HELD_UNTIL_THE_GUARD,
                        };
                        log.lock().unwrap().push(ended.to_string());
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
        store_of(GceMetadata::new(host))
    }

    fn store_of(metadata: GceMetadata) -> CredentialStore {
        CredentialStore {
            keychain: Keychain {
                gce_metadata: Some(metadata),
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

    // Off Google the lookup must fall through in seconds at worst: the
    // metadata host does not resolve, or its address is not routed, or a
    // server accepts and never answers.
    #[test]
    fn the_token_request_gives_up_after_two_seconds_to_reach_the_server_and_five_in_all() {
        let timeouts = GceMetadata::new(DEFAULT_HOST).agent().config().timeouts();
        let cases = [
            ("resolve", timeouts.resolve, Duration::from_secs(2)),
            ("connect", timeouts.connect, Duration::from_secs(2)),
            ("global", timeouts.global, Duration::from_secs(5)),
        ];
        for (step, bound, want) in cases {
            assert_eq!(bound, Some(want), "{step}");
        }
    }

    // x/oauth2 computeSource.Token: a token without access_token or
    // expires_in is an error, which ko's google.Keychain turns into Anonymous.
    #[test]
    fn a_metadata_server_without_a_token_is_passed_over_after_one_request() {
        let answers = [
            Answer::NotFound,
            Answer::Token(r#"{"access_token":"ya29","expires_in":0}"#),
            Answer::Token(r#"{"expires_in":3599}"#),
            Answer::Token("<html>captive portal</html>"),
        ];
        for answer in answers {
            let (host, seen) = metadata_server(answer);
            assert_eq!(
                store(&host).lookup("gcr.io").unwrap(),
                Credential::Anonymous,
                "{host}"
            );
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1, "one request, no retry: {seen:?}");
        }
    }

    #[test]
    fn an_unreachable_metadata_server_is_passed_over() {
        let closed = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().to_string()
        };
        for host in ["metadata.invalid".to_string(), closed] {
            assert_eq!(
                store(&host).lookup("gcr.io").unwrap(),
                Credential::Anonymous,
                "{host}"
            );
        }
    }

    // The whole request's bound (asserted above) is what frees the lookup
    // from a server that accepts and never answers: here a short one, so
    // that the test need not wait five seconds.
    #[test]
    fn a_stalled_metadata_server_is_given_up_by_the_requests_own_timeout() {
        let (host, seen) = metadata_server(Answer::Stall);
        let metadata = GceMetadata::new(host).with_total_timeout(Duration::from_millis(500));
        assert_eq!(
            store_of(metadata).lookup("gcr.io").unwrap(),
            Credential::Anonymous
        );
        // The server logs how the connection ended once it sees the end,
        // which may come a moment after the lookup returned.
        let deadline = std::time::Instant::now() + HANG_GUARD;
        while seen.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let token_request = format!("GET {TOKEN_PATH} HTTP/1.1");
        assert_eq!(
            *seen.lock().unwrap(),
            [token_request.as_str(), CLOSED_BY_THE_CLIENT],
            "one request, abandoned by the client, no retry"
        );
    }
}
