//! Real registries for the tests: the CNCF distribution registry
//! (`docker-registry`) on a free 127.0.0.1 port with temporary storage,
//! plain, with htpasswd + TLS, or with token auth; a token server that
//! signs JWTs the registry verifies; and a fault-injecting proxy.

use super::{require, run_ok};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const USER: &str = "rko-user";
pub const PASSWORD: &str = "s3cret-pass";

/// How the registry authenticates.
pub enum Auth {
    None,
    /// htpasswd over TLS; the CA is in `Registry::ca`.
    BasicTls,
    /// Bearer tokens from a `TokenServer`.
    Token,
    /// TLS (its CA in `Registry::ca`) and Bearer tokens from this realm,
    /// whose tokens the registry never accepts: for where rko asks for one.
    TlsTokenAt(String),
}

/// A running registry, stopped when dropped.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The CA that signed the TLS certificate (BasicTls).
    pub ca: Option<PathBuf>,
    _token_server: Option<TokenServer>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn openssl(dir: &Path, args: &[&str]) {
    run_ok(
        Command::new(require("openssl"))
            .current_dir(dir)
            .args(args)
            .stderr(Stdio::null()),
    );
}

/// A self-signed RSA certificate `STEM.pem` with its key `STEM.key`.
fn self_signed(dir: &Path, stem: &str, common_name: &str) {
    let (key, pem, subject) = (
        format!("{stem}.key"),
        format!("{stem}.pem"),
        format!("/CN={common_name}"),
    );
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem,
            "-days", "2", "-subj", &subject,
        ],
    );
}

/// A CA and a server certificate for 127.0.0.1 (and `names`) signed by it.
pub fn make_tls(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    self_signed(dir, "ca", "rko test CA");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    let alt_names: String = names.iter().map(|n| format!(",DNS:{n}")).collect();
    std::fs::write(
        dir.join("server.ext"),
        format!("subjectAltName=IP:127.0.0.1,DNS:localhost{alt_names}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

impl Registry {
    pub fn start(auth: Auth) -> Registry {
        Registry::start_named(auth, &[])
    }

    /// Like `start`; with TLS, the certificate also names `names` (host
    /// names a test maps to 127.0.0.1).
    pub fn start_named(auth: Auth, names: &[&str]) -> Registry {
        let binary = require("docker-registry");
        let dir = super::temp_dir();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        let mut ca = None;
        let mut token_server = None;
        match auth {
            Auth::None => {}
            Auth::BasicTls => {
                let (ca_pem, cert, key) = make_tls(dir.path(), names);
                let htpasswd =
                    run_ok(Command::new(require("htpasswd")).args(["-Bbn", USER, PASSWORD]));
                std::fs::write(dir.path().join("htpasswd"), htpasswd).unwrap();
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: rko-test\n    path: {}\n",
                    cert.display(),
                    key.display(),
                    dir.path().join("htpasswd").display()
                ));
                ca = Some(ca_pem);
            }
            Auth::Token => {
                let server = TokenServer::start(dir.path());
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: http://{}/token\n    service: rko-test-registry\n    issuer: rko-test-issuer\n    rootcertbundle: {}\n",
                    server.host(),
                    server.cert.display()
                ));
                token_server = Some(server);
            }
            Auth::TlsTokenAt(realm) => {
                let (ca_pem, cert, key) = make_tls(dir.path(), names);
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\nauth:\n  token:\n    realm: {realm}\n    service: rko-test-registry\n    issuer: rko-test-issuer\n    rootcertbundle: {}\n",
                    cert.display(),
                    key.display(),
                    ca_pem.display()
                ));
                ca = Some(ca_pem);
            }
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let registry = Registry {
            child,
            port,
            dir,
            ca,
            _token_server: token_server,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start: {}",
                std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A token server (distribution's docs/spec/auth/token.md) that gives any
/// caller with the right Basic credentials a JWT for what it asks, signed
/// RS256 by a key whose certificate the registry trusts (`x5c` header).
pub struct TokenServer {
    pub port: u16,
    pub cert: PathBuf,
    stop: Arc<AtomicBool>,
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn b64url(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn b64std(bytes: &[u8]) -> String {
    let mut s = b64url(bytes).replace('-', "+").replace('_', "/");
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    s
}

impl TokenServer {
    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn start(dir: &Path) -> TokenServer {
        self_signed(dir, "token", "rko test token issuer");
        openssl(
            dir,
            &[
                "x509",
                "-in",
                "token.pem",
                "-outform",
                "DER",
                "-out",
                "token.der",
            ],
        );
        let der = std::fs::read(dir.join("token.der")).unwrap();
        let key = dir.join("token.key");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let work = dir.to_path_buf();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                if let Ok(stream) = stream {
                    let _ = serve_token(stream, &der, &key, &work);
                }
            }
        });
        TokenServer {
            port,
            cert: dir.join("token.pem"),
            stop,
        }
    }
}

fn serve_token(mut stream: TcpStream, der: &[u8], key: &Path, work: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorized = false;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        let expected = format!("basic {}", b64std(format!("{USER}:{PASSWORD}").as_bytes()));
        if line.to_ascii_lowercase().starts_with("authorization:")
            && line[14..].trim().eq_ignore_ascii_case(&expected)
        {
            authorized = true;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut access = Vec::new();
    let mut service = String::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "service" => service = v,
            "scope" => {
                // repository:NAME:ACTIONS
                let parts: Vec<&str> = v.splitn(3, ':').collect();
                if parts.len() == 3 {
                    let actions: Vec<&str> = parts[2].split(',').collect();
                    access.push(
                        serde_json::json!({"type": parts[0], "name": parts[1], "actions": actions}),
                    );
                }
            }
            _ => {}
        }
    }
    if !authorized {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
        write!(stream, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
        return Ok(());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [b64std(der)]});
    let claims = serde_json::json!({
        "iss": "rko-test-issuer", "sub": USER, "aud": service,
        "exp": now + 600, "nbf": now - 60, "iat": now, "jti": format!("{now}-{}", std::process::id()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let input_file = tempfile::NamedTempFile::new_in(work)?;
    std::fs::write(input_file.path(), &signing_input)?;
    let signature = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg(input_file.path())
        .output()?
        .stdout;
    let token = format!("{signing_input}.{}", b64url(&signature));
    let body = serde_json::json!({"token": token, "expires_in": 600}).to_string();
    write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
    Ok(())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the proxy does to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` if given) without forwarding.
    Status(u16, Option<u32>),
    /// Read part of the request body, then drop the connection.
    ResetMidBody,
    /// Forward, but pass on only half of the response body.
    TruncateResponse,
    /// Forward only once this many requests of the rule are held together
    /// (or after [`MEET_TIMEOUT`], counted in [`FaultProxy::missed`]):
    /// shows that a client sends them at the same time.
    Meet(usize),
    /// Forward after this long: makes every request of a round overlap
    /// the others, for [`FaultProxy::rounds`].
    Delay(Duration),
}

/// How long a [`Fault::Meet`] request waits for the others.
pub const MEET_TIMEOUT: Duration = Duration::from_secs(20);

/// Where [`Fault::Meet`] requests wait for each other.
#[derive(Default)]
struct Meeting {
    counts: Mutex<MeetingCounts>,
    arrived: Condvar,
}

#[derive(Default)]
struct MeetingCounts {
    /// Requests that have come so far.
    held: usize,
    /// Requests that gave up waiting for the others.
    missed: usize,
}

impl Meeting {
    /// Holds one request until `n` have come, or [`MEET_TIMEOUT`].
    fn wait(&self, n: usize) {
        let mut counts = self.counts.lock().unwrap();
        counts.held += 1;
        self.arrived.notify_all();
        let (mut counts, timeout) = self
            .arrived
            .wait_timeout_while(counts, MEET_TIMEOUT, |c| c.held < n)
            .unwrap();
        if timeout.timed_out() {
            counts.missed += 1;
        }
    }
}

/// A fault for requests whose method and path (prefix) match.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: &'static str,
    pub path_contains: &'static str,
    pub fault: Fault,
    /// How many matching requests get the fault; `usize::MAX` for all.
    pub times: usize,
}

/// A proxy between rko and a registry: forwards HTTP/1.1, one request per
/// connection, counts requests, and injects the faults its rules ask for.
pub struct FaultProxy {
    pub port: u16,
    pub rules: Arc<Mutex<Vec<Rule>>>,
    /// (method, path) of every request seen, in order.
    pub seen: Arc<Mutex<Vec<(String, String)>>>,
    /// Where in the order of events each forwarded request came and was
    /// answered.
    spans: Arc<Mutex<Vec<Span>>>,
    meeting: Arc<Meeting>,
    stop: Arc<AtomicBool>,
}

/// A forwarded request: `METHOD path`, the event of its coming and that
/// of its answer ([`next_event`]).
type Span = (String, u64, u64);

/// A logical clock: each request's coming and each answer takes the next
/// number, so the order of events is read without a clock's time.
fn next_event() -> u64 {
    static EVENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    EVENTS.fetch_add(1, Ordering::SeqCst)
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl FaultProxy {
    pub fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let meeting: Arc<Meeting> = Arc::default();
        let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
        let (r, s, st) = (Arc::clone(&rules), Arc::clone(&seen), Arc::clone(&stop));
        let (m, sp) = (Arc::clone(&meeting), Arc::clone(&spans));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (r, s, m) = (Arc::clone(&r), Arc::clone(&s), Arc::clone(&m));
                let sp = Arc::clone(&sp);
                std::thread::spawn(move || {
                    let _ = proxy_one(stream, upstream, &r, &s, &m, &sp);
                });
            }
        });
        FaultProxy {
            port,
            rules,
            seen,
            spans,
            meeting,
            stop,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn add(&self, rule: Rule) {
        self.rules.lock().unwrap().push(rule);
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap().clear();
        self.seen.lock().unwrap().clear();
    }

    /// How many [`Fault::Meet`] requests gave up waiting for the others.
    pub fn missed(&self) -> usize {
        self.meeting.counts.lock().unwrap().missed
    }

    /// The longest chain of forwarded requests each of which came only
    /// after the one before it was answered, in the order of events: the
    /// round trips a client waited for one after another (a
    /// [`Fault::Delay`] on every request makes requests sent together
    /// overlap; it decides nothing itself). Its length and its requests.
    pub fn rounds(&self) -> (usize, Vec<String>) {
        let mut spans = self.spans.lock().unwrap().clone();
        spans.sort_by_key(|(_, start, _)| *start);
        // longest[i]: the longest chain ending with request i, and the
        // request before i in it.
        let mut longest: Vec<(usize, Option<usize>)> = Vec::new();
        for (i, (_, start, _)) in spans.iter().enumerate() {
            let before = (0..i)
                .filter(|&j| spans[j].2 <= *start)
                .max_by_key(|&j| longest[j].0);
            longest.push((before.map_or(1, |j| longest[j].0 + 1), before));
        }
        let mut chain = Vec::new();
        let mut at = (0..spans.len()).max_by_key(|&i| longest[i].0);
        while let Some(i) = at {
            chain.push(spans[i].0.clone());
            at = longest[i].1;
        }
        chain.reverse();
        (chain.len(), chain)
    }

    /// Requests seen with this method whose path contains `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p)| m == method && p.contains(part))
            .count()
    }
}

/// One request as the client sent it: the request line, the headers to
/// pass on (all but `Connection`), and the body.
struct Request {
    head: String,
    method: String,
    path: String,
    headers: Vec<String>,
    length: usize,
}

/// Reads a request's line and headers; `None` for a connection that sends
/// nothing (the wake-up at shutdown).
fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut head = String::new();
    reader.read_line(&mut head)?;
    if head.trim().is_empty() {
        return Ok(None);
    }
    let mut parts = head.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        headers.push(line);
    }
    Ok(Some(Request {
        head,
        method,
        path,
        headers,
        length,
    }))
}

/// The fault of the first rule that matches and has uses left, using one.
fn fault_for(rules: &Mutex<Vec<Rule>>, request: &Request) -> Option<Fault> {
    let mut rules = rules.lock().unwrap();
    let hit = rules.iter_mut().find(|r| {
        r.times > 0 && r.method == request.method && request.path.contains(r.path_contains)
    });
    hit.map(|rule| {
        if rule.times != usize::MAX {
            rule.times -= 1;
        }
        rule.fault.clone()
    })
}

fn proxy_one(
    client: TcpStream,
    upstream: u16,
    rules: &Mutex<Vec<Rule>>,
    seen: &Mutex<Vec<(String, String)>>,
    meeting: &Meeting,
    spans: &Mutex<Vec<Span>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    let came = next_event();
    seen.lock()
        .unwrap()
        .push((request.method.clone(), request.path.clone()));
    let fault = fault_for(rules, &request);
    let length = request.length;
    match fault {
        Some(Fault::Status(status, retry_after)) => {
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body)?;
            let extra = retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let text = format!(
                r#"{{"errors":[{{"code":"UNAVAILABLE","message":"injected fault {status}"}}]}}"#
            );
            write!(client, "HTTP/1.1 {status} Injected\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len())?;
            return Ok(());
        }
        Some(Fault::ResetMidBody) => {
            let mut half = vec![0u8; length / 2];
            reader.read_exact(&mut half)?;
            client.shutdown(Shutdown::Both)?;
            return Ok(());
        }
        Some(Fault::Meet(n)) => meeting.wait(n),
        Some(Fault::Delay(delay)) => std::thread::sleep(delay),
        _ => {}
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    let response = forward(upstream, &request, &body)?;
    if fault == Some(Fault::TruncateResponse) {
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(0, |p| p + 4);
        let keep = split + (response.len() - split) / 2;
        client.write_all(&response[..keep])?;
        client.shutdown(Shutdown::Both)?;
        return Ok(());
    }
    // Make the connection one-shot for the client too.
    let text_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 2);
    client.write_all(&response[..text_end])?;
    client.write_all(b"Connection: close\r\n")?;
    client.write_all(&response[text_end..])?;
    let label = format!("{} {}", request.method, request.path);
    spans.lock().unwrap().push((label, came, next_event()));
    Ok(())
}

/// Sends `request` with `body` upstream on a one-shot connection; returns
/// the whole response.
fn forward(upstream: u16, request: &Request, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream))?;
    write!(upstream, "{}", request.head)?;
    for line in &request.headers {
        write!(upstream, "{line}")?;
    }
    write!(upstream, "Connection: close\r\n\r\n")?;
    upstream.write_all(body)?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    Ok(response)
}

/// A stand-in `docker-credential-NAME` in `bin` that logs each request to
/// `log` and answers the test registry's user and password.
pub fn credential_helper(bin: &Path, name: &str, log: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin).unwrap();
    let helper = bin.join(format!("docker-credential-{name}"));
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\necho \"$1 $server\" >> '{}'\nprintf '{{\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A docker config whose `credHelpers` send `host` to a stand-in helper
/// ([`credential_helper`] `rkotest`), all under `dir`.
pub struct Helped {
    /// The docker config directory (`DOCKER_CONFIG`).
    pub config: PathBuf,
    /// `PATH` with the helper's directory first.
    pub path: String,
    /// Where the helper logs each request (`get HOST`).
    pub log: PathBuf,
}

pub fn helped(dir: &Path, host: &str) -> Helped {
    let (bin, log) = (dir.join("bin"), dir.join("helper.log"));
    credential_helper(&bin, "rkotest", &log);
    let config = dir.join("docker");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"credHelpers": {{"{host}": "rkotest"}}}}"#),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Helped { config, path, log }
}
