//! One registry's HTTP client: TLS and the HTTP fallback where it is
//! allowed, sending calls, and rko's one retry loop, with capped
//! exponential backoff: every request is one operation with one budget of
//! attempts ([`Client::restarting`]), and each call it sends is sent once.
//!
//! Distribution spec: every API call may answer 401 with a challenge; the
//! client has token.rs answer it for the scopes the call needs and tries
//! again once.

use super::agents::Agents;
use super::credential::Credential;
use super::credentials::CredentialStore;
use super::proxy::Proxies;
use super::rate_floor::RateFloor;
use super::response::{registry_error, retryable, Response};
use super::session::{Session, Sessions};
use super::token::Authenticator;
use super::trust;
use super::waits::Waits;
use crate::error::{Error, Result};
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use ureq::tls::{Certificate, PemItem};
use ureq::SendBody;

/// How hard to try before giving up on a request.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries of one request in all, the first included, whatever fails
    /// (a broken connection, a stalled or crawling body, 408, 429, 5xx).
    pub attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// How long a connection may stay silent, by default.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Redirects followed for one call before it fails as a loop.
const MAX_REDIRECTS: usize = 10;

/// What every client needs to know; the command layer fills it from flags
/// and the environment.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`host[:port]`) reachable over plain HTTP or with
    /// unverified TLS, as ko's `--insecure-registry`.
    pub insecure: Vec<String>,
    /// The system's CA bundle (PEM); Mozilla's roots when empty.
    pub system_ca_files: Vec<PathBuf>,
    /// Extra CA certificates (PEM files): `SSL_CERT_FILE`, `--ca-cert`.
    pub ca_files: Vec<PathBuf>,
    /// Docker's `/etc/docker/certs.d`: `HOST[:PORT]/*.crt` are CAs for that registry.
    pub certs_dir: Option<PathBuf>,
    pub credentials: CredentialStore,
    pub retry: RetryPolicy,
    /// The longest any single network read or write may wait (a stalled
    /// body, a silent server) before the attempt fails.
    pub idle_timeout: Duration,
    /// The slowest transfer of a body, read or written, before the attempt
    /// fails: a body sent a byte at a time is never idle.
    pub rate_floor: RateFloor,
    /// Registries already pinged in this run; shared by clones.
    pub sessions: Sessions,
    /// `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, as Go reads them.
    pub proxies: Proxies,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: Vec::new(),
            system_ca_files: Vec::new(),
            ca_files: Vec::new(),
            certs_dir: None,
            credentials: CredentialStore::default(),
            retry: RetryPolicy::default(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            rate_floor: RateFloor::default(),
            sessions: Sessions::default(),
            proxies: Proxies::default(),
        }
    }
}

/// Opens a streamed body, afresh for each time the call is sent (again
/// after a 401 challenge or along a redirect).
pub type Opener<'a> = &'a dyn Fn() -> Result<Box<dyn Read + 'a>>;

/// A request body.
#[derive(Clone, Copy)]
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `length` bytes read as they are sent, so memory stays flat whatever
    /// the size.
    Stream {
        open: Opener<'a>,
        length: u64,
    },
}

impl std::fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Body::Stream { length, .. } => write!(f, "Stream({length} bytes)"),
        }
    }
}

/// One API call: everything needed to (re)send it.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub method: &'static str,
    pub url: String,
    /// Token scopes, such as `repository:app:pull,push`.
    pub scopes: &'a [String],
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<'a>,
}

impl<'a> Call<'a> {
    pub fn new(method: &'static str, url: String, scopes: &'a [String]) -> Self {
        Call {
            method,
            url,
            scopes,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, bytes: &'a [u8]) -> Self {
        self.body = Body::Bytes(bytes);
        self
    }

    /// A body of `length` bytes that `open` reads as they are sent.
    pub fn stream(mut self, open: Opener<'a>, length: u64) -> Self {
        self.body = Body::Stream { open, length };
        self
    }

    fn describe(&self) -> String {
        format!("{} {}", self.method, self.url)
    }

    /// The same call sent where a redirect points; a 303 asks for a GET.
    fn redirected(&self, status: u16, url: String) -> Self {
        let mut call = self.clone();
        call.url = url;
        if status == 303 {
            call.method = "GET";
            call.body = Body::Empty;
        }
        call
    }
}

/// Whether `registry` (`host[:port]`) resolves to any address.
fn resolves(registry: &str) -> bool {
    use std::net::ToSocketAddrs;
    let with_port = if registry
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        registry.to_string()
    } else {
        format!("{registry}:443")
    };
    with_port
        .to_socket_addrs()
        .is_ok_and(|mut addrs| addrs.next().is_some())
}

/// A connection to one registry.
pub struct Client {
    registry: String,
    base: String,
    agents: Agents,
    auth: Authenticator,
    retry: RetryPolicy,
    waits: Waits,
    requests: Arc<AtomicU64>,
}

impl Client {
    /// Pings `registry` (`host[:port]`): HTTPS first, then plain HTTP where allowed.
    pub fn connect(registry: &str, options: &RegistryOptions) -> Result<Client> {
        let credential = options.credentials.lookup(registry)?;
        Client::connect_with(registry, options, credential)
    }

    /// Like [`connect`](Self::connect), presenting `credential`. A
    /// registry this run has pinged already is not pinged again: the
    /// client starts from what that ping learned ([`Sessions`]).
    pub fn connect_with(
        registry: &str,
        options: &RegistryOptions,
        credential: Credential,
    ) -> Result<Client> {
        let insecure = options.insecure.iter().any(|r| r == registry);
        let slot = options.sessions.slot(registry, insecure);
        let mut known = crate::parallel::lock(&slot);
        match known.as_ref() {
            Some(Ok(session)) => return Ok(Client::resume(registry, options, credential, session)),
            Some(Err(message)) => return Err(Error::invalid(message.clone())),
            None => {}
        }
        let pinged = Client::ping_first(registry, options, credential, insecure);
        *known = Some(match &pinged {
            Ok(client) => Ok(Session {
                base: client.base.clone(),
                agents: client.agents.clone(),
                challenge: client.auth.challenge(),
            }),
            Err(e) => Err(e.to_string()),
        });
        pinged
    }

    /// A client of a registry pinged before, as that ping left it.
    fn resume(
        registry: &str,
        options: &RegistryOptions,
        credential: Credential,
        session: &Session,
    ) -> Client {
        let requests = Arc::new(AtomicU64::new(0));
        let auth = Authenticator::new(
            registry,
            credential,
            &options.insecure,
            Arc::clone(&requests),
        );
        auth.set_challenge(session.challenge.clone());
        Client {
            registry: registry.to_string(),
            base: session.base.clone(),
            agents: session.agents.clone(),
            auth,
            retry: options.retry,
            waits: waits_of(options),
            requests,
        }
    }

    /// A client of a registry not pinged yet: pings it over HTTPS, or
    /// over HTTP where that is allowed.
    fn ping_first(
        registry: &str,
        options: &RegistryOptions,
        credential: Credential,
        insecure: bool,
    ) -> Result<Client> {
        let requests = Arc::new(AtomicU64::new(0));
        let idle = options.idle_timeout;
        let agents = |roots| Agents::new(roots, &options.insecure, &options.proxies, idle);
        let mut client = Client {
            registry: registry.to_string(),
            base: format!("http://{registry}"),
            agents: agents(None),
            auth: Authenticator::new(
                registry,
                credential,
                &options.insecure,
                Arc::clone(&requests),
            ),
            retry: options.retry,
            waits: waits_of(options),
            requests,
        };
        if trust::is_loopback(registry) {
            // Nothing leaves the machine: plain HTTP first, which spares
            // loading CA certificates, then HTTPS.
            let Err(http_error) = client.ping() else {
                return Ok(client);
            };
            client.agents = agents(Some(roots(registry, options)?));
            client.base = format!("https://{registry}");
            client.ping().map_err(|https_error| {
                Error::invalid(format!(
                    "cannot reach registry {registry}: over HTTP: {http_error}; over HTTPS: {https_error}"
                ))
            })?;
            return Ok(client);
        }
        client.agents = agents(Some(roots(registry, options)?));
        client.base = format!("https://{registry}");
        match client.ping() {
            Ok(()) => Ok(client),
            Err(https_error) if insecure => {
                client.base = format!("http://{registry}");
                client.ping().map_err(|http_error| {
                    Error::invalid(format!(
                        "cannot reach registry {registry}: over HTTPS: {https_error}; over HTTP: {http_error}"
                    ))
                })?;
                Ok(client)
            }
            // Plain HTTP cannot help a name that does not resolve: say so
            // (a proxied name is the proxy's to resolve, not the machine's).
            Err(_) if !client.agents.proxied(&client.base) && !resolves(registry) => {
                Err(Error::invalid(format!(
                    "cannot reach registry {registry}: its host name cannot be resolved \
                     (check the name and the DNS)"
                )))
            }
            Err(e) => Err(Error::invalid(format!(
                "cannot reach registry {registry} over HTTPS: {e} (if it serves plain HTTP, pass --insecure-registry={registry})"
            ))),
        }
    }

    /// GET /v2/: learns whether and how the registry wants authentication.
    fn ping(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        self.requests.fetch_add(1, Ordering::Relaxed);
        // The ping carries no credentials, so its redirects may be followed.
        let response = self
            .agents
            .for_url(&url)
            .get(&url)
            .config()
            .max_redirects(MAX_REDIRECTS as u32)
            .build()
            .call()
            .map_err(|e| Error::invalid(format!("GET {url}: {}", self.waits.explain(&e))))?;
        log::debug!("GET {url} {}", response.status());
        match response.status().as_u16() {
            200 => Ok(()),
            401 => {
                self.auth.remember(&response);
                Ok(())
            }
            status => Err(Error::invalid(format!(
                "GET {url}{}: unexpected HTTP {status}",
                self.agents.via(&url)
            ))),
        }
    }

    /// Proves the credential works, as `docker login` does: an
    /// authenticated GET /v2/ (after a Bearer token for the registry itself).
    pub fn check_login(&self) -> Result<()> {
        let scopes: [String; 0] = [];
        let url = self.url("/v2/");
        self.restarting(|| {
            let response = self.send(&Call::new("GET", url.clone(), &scopes))?;
            match response.status().as_u16() {
                200 => Ok(()),
                _ => Err(registry_error(&format!("GET {url}"), response)),
            }
        })
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `scheme://host[:port]` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A `Location` header made absolute (the spec allows relative ones).
    pub fn absolute(&self, location: &str) -> String {
        resolve(&format!("{}/", self.base), location)
    }

    /// Runs `operation` until it succeeds, fails for good, or the retry
    /// policy's attempts run out, backing off in between (as long as a
    /// `Retry-After` asks, up to the cap). This is rko's one retry loop:
    /// each request, with its body (a manifest, a blob download, a whole
    /// upload session), is one operation with one budget, and the calls it
    /// sends are each sent once, so retries never multiply.
    pub fn restarting<T>(&self, mut operation: impl FnMut() -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match operation() {
                Ok(value) => return Ok(value),
                Err(e) if e.is_transient() && attempt < self.retry.attempts => {
                    log::debug!("attempt {attempt} failed, trying again: {e}");
                    std::thread::sleep(self.delay(attempt, e.retry_after()));
                }
                Err(e) => return Err(e.after_attempts(attempt)),
            }
        }
    }

    /// The bounds on this client's waits.
    pub fn waits(&self) -> &Waits {
        &self.waits
    }

    /// How many HTTP requests this client has made.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Sends `call` once, authenticating and following redirects as
    /// needed; [`restarting`](Self::restarting) is what tries again. Returns
    /// the response for any status but 401 and the retryable ones (408,
    /// 429, 5xx), which are errors worth another try, and the redirects,
    /// which are followed (at most ten) with credentials only while they
    /// stay on the registry. The response's body is held to the rate floor.
    pub fn send(&self, first: &Call<'_>) -> Result<Response> {
        let mut call = first.clone();
        for _ in 0..=MAX_REDIRECTS {
            let response = self.send_here(&call)?;
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok());
            match location {
                Some(to) if matches!(status, 301 | 302 | 303 | 307 | 308) => {
                    call = call.redirected(status, resolve(&call.url, to));
                }
                _ => return Ok(response),
            }
        }
        Err(Error::invalid(format!(
            "{}: registry {} redirected more than {MAX_REDIRECTS} times (a redirect loop)",
            first.describe(),
            self.registry
        )))
    }

    /// Sends `call` to its URL, without following redirects. Only the
    /// registry's own origin gets the `Authorization` header, and only its
    /// challenges are answered (a foreign host's realm gets nothing).
    fn send_here(&self, call: &Call<'_>) -> Result<Response> {
        let own = trust::sends_authorization(&self.base, &call.url);
        let mut challenged = false;
        loop {
            let authorization = own.then(|| self.auth.authorization(call.scopes)).flatten();
            let mut stream = match call.body {
                Body::Stream { open, .. } => Some(self.waits.floor.reader(open()?)),
                _ => None,
            };
            let stream = stream.as_mut().map(|s| s as &mut dyn Read);
            let response = self
                .run(call, authorization.as_deref(), stream)
                .map_err(|e| self.waits.failure(&self.answered(call), &e))?;
            let response = self.waits.floored(response);
            match response.status().as_u16() {
                401 if own && !challenged => {
                    challenged = true;
                    self.auth
                        .answer(&self.agents, &self.waits, &response, call.scopes)?;
                }
                401 => {
                    return Err(registry_error(&self.answered(call), response)
                        .hint(self.auth.rejected_hint()));
                }
                status if retryable(status) => {
                    return Err(registry_error(&self.answered(call), response))
                }
                _ => return Ok(response),
            }
        }
    }

    /// Sends `call` once; a streamed body is read from `stream`.
    fn run<'r>(
        &self,
        call: &Call<'_>,
        authorization: Option<&str>,
        stream: Option<&mut (dyn Read + 'r)>,
    ) -> std::result::Result<Response, ureq::Error> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let agent = self.agents.for_url(&call.url);
        let mut builder = ureq::http::Request::builder()
            .method(call.method)
            .uri(&call.url);
        for (name, value) in &call.headers {
            builder = builder.header(*name, value);
        }
        if let Some(value) = authorization {
            builder = builder.header("Authorization", value);
        }
        let result = match (call.body, stream) {
            (Body::Bytes(bytes), _) => agent.run(builder.body(bytes)?),
            (Body::Stream { length, .. }, Some(reader)) => {
                // A known length: sent as is, not in chunked transfer encoding,
                // which some registries and proxies refuse.
                let builder = builder.header("Content-Length", length.to_string());
                agent.run(builder.body(SendBody::from_reader(reader))?)
            }
            _ => agent.run(builder.body(())?),
        };
        match &result {
            Ok(response) => log::debug!("{} {} {}", call.method, call.url, response.status()),
            Err(e) => log::debug!("{} {} failed: {e}", call.method, call.url),
        }
        result
    }

    /// Backoff: doubling from the initial delay, capped, with jitter in
    /// [50%, 100%]; a server's `Retry-After` wins (up to the cap).
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.retry.max_delay);
        }
        let exponential = self
            .retry
            .initial_delay
            .saturating_mul(1 << (attempt - 1).min(16));
        let capped = exponential.min(self.retry.max_delay);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(attempt);
        let fraction = 0.5 + (hasher.finish() % 1000) as f64 / 2000.0;
        capped.mul_f64(fraction)
    }
}

/// The CAs to trust for `registry`: the system bundle (or Mozilla's roots
/// when there is none), the extra files, and Docker's certs.d for this host.
fn roots(registry: &str, options: &RegistryOptions) -> Result<Vec<Certificate<'static>>> {
    let mut roots: Vec<Certificate<'static>> = Vec::new();
    for file in &options.system_ca_files {
        roots.extend(read_pem_certificates(file)?);
    }
    if roots.is_empty() {
        roots.extend(
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|der| Certificate::from_der(der.as_ref()).to_owned()),
        );
    }
    let mut files = options.ca_files.clone();
    if let Some(dir) = &options.certs_dir {
        // Docker's convention: every *.crt in certs.d/HOST[:PORT]/ is a CA.
        let host_dir = dir.join(registry);
        if let Ok(entries) = std::fs::read_dir(&host_dir) {
            let mut crts: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                .collect();
            crts.sort();
            files.extend(crts);
        }
    }
    for file in &files {
        let certificates = read_pem_certificates(file)?;
        if certificates.is_empty() {
            return Err(Error::file(file, "no PEM certificates in it"));
        }
        roots.extend(certificates);
    }
    Ok(roots)
}

fn read_pem_certificates(file: &std::path::Path) -> Result<Vec<Certificate<'static>>> {
    let pem = std::fs::read(file).map_err(|e| Error::io("reading CA certificates", file, e))?;
    Ok(ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect())
}

impl Client {
    /// What an error calls `call`: through a proxy, the answer or the
    /// broken connection may be the proxy's, so the proxy is named too.
    fn answered(&self, call: &Call<'_>) -> String {
        format!("{}{}", call.describe(), self.agents.via(&call.url))
    }
}

/// The bounds on the waits of a client made with `options`.
fn waits_of(options: &RegistryOptions) -> Waits {
    Waits {
        idle: options.idle_timeout,
        floor: options.rate_floor,
    }
}

/// `location` (absolute, scheme-relative, absolute-path or relative) made
/// absolute against the URL `from`.
fn resolve(from: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let (scheme, rest) = from.split_once("://").unwrap_or(("https", from));
    if let Some(authority_and_path) = location.strip_prefix("//") {
        return format!("{scheme}://{authority_and_path}");
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = rest[authority_end..].split(['?', '#']).next().unwrap_or("");
    let directory = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let directory = if directory.is_empty() { "/" } else { directory };
    format!("{origin}{directory}{location}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_url_that_named_them() {
        let from = "http://127.0.0.1:5000/v2/app/blobs/uploads/?mount=x";
        for (location, want) in [
            ("http://127.0.0.2:9/upload/1", "http://127.0.0.2:9/upload/1"),
            ("https://s3.example/b?sig=1", "https://s3.example/b?sig=1"),
            (
                "/v2/app/blobs/uploads/abc",
                "http://127.0.0.1:5000/v2/app/blobs/uploads/abc",
            ),
            ("//other:1/x", "http://other:1/x"),
            (
                "abc?state=1",
                "http://127.0.0.1:5000/v2/app/blobs/uploads/abc?state=1",
            ),
        ] {
            assert_eq!(resolve(from, location), want, "{location}");
        }
        assert_eq!(resolve("http://h:1", "x"), "http://h:1/x");
        assert_eq!(resolve("http://h:1/", "/x"), "http://h:1/x");
    }
}
