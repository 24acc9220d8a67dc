//! An adversarial registry: a small HTTP/1.1 server on 127.0.0.1 (and a
//! second on 127.0.0.2, "another host") that misbehaves on purpose. Each
//! test scripts its answers with a closure; the server records every
//! request (method, path, headers) so a test can say what reached which host.
//! Only for what no real registry does: a real one serves everything else.

use super::noise;
use sha2::{Digest as _, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target: path and query.
    pub path: String,
    /// Header names lowercased, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is(&self, method: &str, path_prefix: &str) -> bool {
        self.method == method && self.path.starts_with(path_prefix)
    }
}

/// What the server does with one request.
pub enum Answer {
    /// A whole response.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Headers announcing `length` bytes, the first bytes of `body`, then
    /// silence on an open connection until the server stops.
    Stall { length: u64, prefix: Vec<u8> },
    /// Headers announcing `length` bytes, then filler for as long as the
    /// client keeps reading.
    Endless { length: u64 },
    /// Headers announcing `body`, then `body` one byte every `interval`:
    /// never silent for long, yet next to nothing arrives.
    Drip { body: Vec<u8>, interval: Duration },
    /// A status line, then headers one byte every `interval`, never ending.
    DripHeaders { interval: Duration },
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer::Full {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn bytes(body: &[u8]) -> Answer {
        Answer::status(200).body(body)
    }

    /// A manifest or index with its media type.
    pub fn manifest(media_type: &str, body: &[u8]) -> Answer {
        Answer::bytes(body)
            .header("Content-Type", media_type)
            .header("Docker-Content-Digest", &digest(body))
    }

    pub fn header(mut self, name: &str, value: &str) -> Answer {
        if let Answer::Full { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    pub fn body(mut self, bytes: &[u8]) -> Answer {
        if let Answer::Full { body, .. } = &mut self {
            *body = bytes.to_vec();
        }
        self
    }
}

type Script = dyn Fn(&Request) -> Answer + Send + Sync;

struct Shared {
    script: Box<Script>,
    requests: Mutex<Vec<Request>>,
    body_bytes_sent: AtomicU64,
    stop: AtomicBool,
}

/// A scripted server, stopped when dropped.
pub struct Hostile {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

impl Hostile {
    /// Serves on `ip` (`127.0.0.1` or `127.0.0.2`), a free port.
    pub fn start(ip: &str, script: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: Mutex::default(),
            body_bytes_sent: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let server = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if server.stop.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let server = Arc::clone(&server);
                std::thread::spawn(move || {
                    let _ = serve(stream, &server);
                });
            }
        });
        Hostile { addr, shared }
    }

    /// `IP:PORT`, as a registry name.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many requests had this method and a path starting with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.is(method, prefix))
            .count()
    }

    /// Body bytes sent by `Endless`, `Stall` and `Drip` answers.
    pub fn body_bytes_sent(&self) -> u64 {
        self.shared.body_bytes_sent.load(Ordering::Relaxed)
    }
}

/// One request per connection (`Connection: close`), recorded, then answered.
fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    shared.requests.lock().unwrap().push(request.clone());
    let answer = (shared.script)(&request);
    send(stream, &request, answer, shared)
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn send(
    mut stream: TcpStream,
    request: &Request,
    answer: Answer,
    shared: &Shared,
) -> std::io::Result<()> {
    match answer {
        Answer::Full {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} Scripted\r\nConnection: close\r\n");
            for (name, value) in &headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            stream.write_all(head.as_bytes())?;
            if request.method != "HEAD" {
                stream.write_all(&body)?;
            }
            Ok(())
        }
        Answer::Stall { length, prefix } => {
            write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n")?;
            stream.write_all(&prefix)?;
            stream.flush()?;
            shared
                .body_bytes_sent
                .fetch_add(prefix.len() as u64, Ordering::Relaxed);
            while !shared.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        }
        Answer::Endless { length } => {
            write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {length}\r\n\r\n")?;
            let filler = vec![b' '; 64 << 10];
            while !shared.stop.load(Ordering::Relaxed) {
                stream.write_all(&filler)?;
                shared
                    .body_bytes_sent
                    .fetch_add(filler.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        }
        Answer::Drip { body, interval } => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            drip(&mut stream, &body, interval, shared)
        }
        Answer::DripHeaders { interval } => {
            stream.write_all(b"HTTP/1.1 200 OK\r\n")?;
            let endless = b"X-Padding: ".iter().chain(std::iter::repeat(&b'a'));
            for byte in endless {
                if shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                stream.write_all(&[*byte])?;
                std::thread::sleep(interval);
            }
            Ok(())
        }
    }
}

/// Writes `body` one byte every `interval`, until done or the server stops.
fn drip(
    stream: &mut TcpStream,
    body: &[u8],
    interval: Duration,
    shared: &Shared,
) -> std::io::Result<()> {
    for byte in body {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        stream.write_all(&[*byte])?;
        shared.body_bytes_sent.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(interval);
    }
    Ok(())
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A small image for the hostile registry to serve: its manifest, config
/// and one layer (the layer's bytes are opaque to `pull`).
pub struct Image {
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
}

impl Image {
    /// An image whose layer is `layer_size` bytes derived from `seed`.
    pub fn new(seed: u64, layer_size: usize) -> Image {
        let layer = noise(seed, layer_size);
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest(&layer)]},
            "config": {"Env": [format!("SEED={seed}")]},
        })
        .to_string()
        .into_bytes();
        let descriptor = |media_type: &str, bytes: &[u8]| serde_json::json!({"mediaType": media_type, "digest": digest(bytes), "size": bytes.len()});
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer)],
        })
        .to_string()
        .into_bytes();
        Image {
            manifest,
            config,
            layer,
        }
    }

    /// The answer to `request` if it asks for this image (by `tag` or
    /// digest) or one of its blobs, in any repository.
    pub fn answer(&self, request: &Request, tag: &str) -> Option<Answer> {
        let path = request.path.split('?').next().unwrap_or("");
        let name = path.rsplit('/').next().unwrap_or("");
        if path.contains("/manifests/") && (name == tag || name == digest(&self.manifest)) {
            return Some(Answer::manifest(MANIFEST, &self.manifest));
        }
        if path.contains("/blobs/") {
            for blob in [&self.config, &self.layer] {
                if name == digest(blob) {
                    return Some(Answer::bytes(blob));
                }
            }
        }
        None
    }
}

/// An index whose entries are `children` (manifest digests and sizes).
pub fn index_of(children: &[(String, usize)]) -> Vec<u8> {
    let manifests: Vec<_> = children
        .iter()
        .map(|(digest, size)| {
            serde_json::json!({
                "mediaType": MANIFEST, "digest": digest, "size": size,
                "platform": {"architecture": "amd64", "os": "linux"},
            })
        })
        .collect();
    serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests})
        .to_string()
        .into_bytes()
}

/// A Docker config directory holding `user:password` for `registry`.
pub fn docker_config_with(dir: &Path, registry: &str, user: &str, password: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let auth = base64_encode(format!("{user}:{password}").as_bytes());
    let config = serde_json::json!({"auths": {registry: {"auth": auth}}});
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `Basic base64(user:password)`, as a client sends it.
pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64_encode(format!("{user}:{password}").as_bytes())
    )
}

/// Runs `cmd`, which must fail; if it is still running after `patience`,
/// it is killed and the test fails saying it hung. Returns its stderr.
pub fn run_err_or_hang(cmd: &mut Command, patience: Duration) -> String {
    let output = run_or_hang(cmd, patience);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{cmd:?} succeeded but should have failed\nstderr: {stderr}"
    );
    stderr
}

/// Runs `cmd`, which must succeed; if it is still running after
/// `patience`, it is killed and the test fails saying it hung. Returns its stderr.
pub fn run_ok_or_hang(cmd: &mut Command, patience: Duration) -> String {
    let output = run_or_hang(cmd, patience);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{cmd:?} failed\nstderr: {stderr}");
    stderr
}

/// Runs `cmd` with its output captured, killing it and failing the test
/// if it is still running after `patience`.
fn run_or_hang(cmd: &mut Command, patience: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    wait_or_kill(child, patience)
        .unwrap_or_else(|| panic!("{cmd:?} hung: still running after {patience:?}, killed"))
}

/// The child's output, or `None` (and the child killed) after `patience`.
fn wait_or_kill(mut child: Child, patience: Duration) -> Option<Output> {
    let deadline = Instant::now() + patience;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(child.wait_with_output().unwrap())
}
