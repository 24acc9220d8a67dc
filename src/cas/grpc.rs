//! gRPC calls over one HTTP/2 connection, behind a blocking API: h2 on a
//! tokio runtime of one thread, which keeps the connection served (pings,
//! window updates) while the caller's threads wait. Every wait is bounded:
//! the connection, each unary call, and each message of a stream.

use crate::cas::endpoint::Endpoint;
use crate::error::{Error, Result};
use bytes::{Buf, Bytes, BytesMut};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest a connection, a unary call or the gap between two messages
/// of a stream may take.
pub const WAIT: Duration = Duration::from_secs(60);

/// The largest message rko accepts from a cache: a `BatchReadBlobs`
/// answer is kept under the server's own limit, 4 MiB by default.
const MAX_MESSAGE: usize = 64 << 20;

/// How rko reaches a cache, besides its address.
#[derive(Debug, Clone, Default)]
pub struct ChannelOptions {
    /// Headers sent with every call (`--remote-header NAME=VALUE`), e.g. an
    /// authorization.
    pub headers: Vec<(String, String)>,
    /// CA certificates (PEM) for grpcs://; Mozilla's roots when empty.
    pub ca_files: Vec<PathBuf>,
    /// A credential helper (Bazel's `--credential_helper`) whose headers go
    /// with every call, after `headers`.
    pub credential_helper: Option<PathBuf>,
}

/// A connection to a gRPC server, made again when it breaks.
pub struct Channel {
    runtime: tokio::runtime::Runtime,
    /// The live connection; `None` once it broke.
    send: Mutex<Option<h2::client::SendRequest<Bytes>>>,
    tls: Option<tokio_rustls::TlsConnector>,
    endpoint: Endpoint,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl Channel {
    /// Connects (and for grpcs://, shakes hands over TLS with ALPN `h2`).
    pub fn connect(endpoint: &Endpoint, options: &ChannelOptions) -> Result<Channel> {
        let mut headers = options.headers.clone();
        if let Some(helper) = &options.credential_helper {
            headers.extend(crate::cas::credential_helper::headers(helper, endpoint)?);
        }
        let headers = parse_headers(&headers)?;
        let tls = match endpoint.tls {
            true => Some(tls_connector(&options.ca_files)?),
            false => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| cache_error(endpoint, "starting its client", e))?;
        let channel = Channel {
            runtime,
            send: Mutex::new(None),
            tls,
            endpoint: endpoint.clone(),
            headers,
        };
        channel.sender()?;
        Ok(channel)
    }

    /// The live connection, made first if there is none.
    fn sender(&self) -> Result<h2::client::SendRequest<Bytes>> {
        let mut send = crate::parallel::lock(&self.send);
        if let Some(send) = send.as_ref() {
            return Ok(send.clone());
        }
        let made = self.runtime.block_on(self.open())?;
        *send = Some(made.clone());
        Ok(made)
    }

    /// Forgets the connection after `error`, unless it ended one stream
    /// only (a reset): the next call connects again.
    fn forget_if_broken(&self, error: &h2::Error) {
        if !error.is_reset() {
            *crate::parallel::lock(&self.send) = None;
        }
    }

    async fn open(&self) -> Result<h2::client::SendRequest<Bytes>> {
        let (endpoint, tls) = (&self.endpoint, self.tls.clone());
        bounded(endpoint, "connecting", async {
            let tcp = tokio::net::TcpStream::connect(endpoint.authority())
                .await
                .map_err(|e| cache_error(endpoint, "connecting", e))?;
            tcp.set_nodelay(true).ok();
            match tls {
                Some(connector) => {
                    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(
                        endpoint.host.clone(),
                    )
                    .map_err(|e| cache_error(endpoint, "naming its host for TLS", e))?;
                    let stream = connector
                        .connect(name, tcp)
                        .await
                        .map_err(|e| cache_error(endpoint, "shaking hands over TLS", e))?;
                    handshake(endpoint, stream).await
                }
                None => handshake(endpoint, tcp).await,
            }
        })
        .await
    }

    /// The cache's address, for messages.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Calls `method` (`/package.Service/Method`) with one request and reads
    /// its one answer.
    pub fn unary<Q: prost::Message, A: prost::Message + Default>(
        &self,
        method: &str,
        request: &Q,
    ) -> Result<A> {
        let mut stream = self.stream(method, request)?;
        let answer = stream
            .next::<A>()?
            .ok_or_else(|| self.error(method, "the server sent no answer"))?;
        while stream.next::<A>()?.is_some() {}
        Ok(answer)
    }

    /// Calls a server-streaming `method`; its answers are read one by one.
    pub fn stream<Q: prost::Message>(&self, method: &str, request: &Q) -> Result<Stream<'_>> {
        let endpoint = &self.endpoint;
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(format!(
                "{}://{}{method}",
                if endpoint.tls { "https" } else { "http" },
                endpoint.request_authority()
            ))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("user-agent", concat!("rko/", env!("CARGO_PKG_VERSION")));
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let head = builder
            .body(())
            .map_err(|e| self.error(method, &e.to_string()))?;
        let body = frame(request);
        let send = self.sender()?;
        let recv = self.block_on(method, async move {
            let mut send = send.ready().await?;
            let (answer, mut out) = send.send_request(head, false)?;
            out.send_data(body, true)?;
            answer.await
        })?;
        let (parts, body) = recv.into_parts();
        if parts.status != http::StatusCode::OK {
            return Err(self.error(method, &format!("HTTP {}", parts.status)));
        }
        // A "trailers-only" answer carries the status in its headers.
        check_status(&parts.headers).map_err(|message| self.error(method, &message))?;
        Ok(Stream {
            channel: self,
            method: method.to_string(),
            body,
            buffer: BytesMut::new(),
            ended: false,
        })
    }

    fn block_on<T>(
        &self,
        method: &str,
        work: impl Future<Output = std::result::Result<T, h2::Error>>,
    ) -> Result<T> {
        // The timer is made inside: it needs the runtime's context.
        match self
            .runtime
            .block_on(async { tokio::time::timeout(WAIT, work).await })
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.forget_if_broken(&e);
                Err(self.error(method, &e.to_string()))
            }
            Err(_) => {
                // A silent connection may be a dead one.
                *crate::parallel::lock(&self.send) = None;
                Err(self.error(method, &format!("no answer within {} s", WAIT.as_secs())))
            }
        }
    }

    /// An error of `method` on this cache.
    pub fn error(&self, method: &str, message: &str) -> Error {
        Error::RemoteCache {
            what: format!("{} {method}", self.endpoint),
            message: message.to_string(),
        }
    }
}

/// A server stream's answers.
pub struct Stream<'a> {
    channel: &'a Channel,
    method: String,
    body: h2::RecvStream,
    buffer: BytesMut,
    ended: bool,
}

impl Stream<'_> {
    /// The next message, or `None` once the server ended the call with OK.
    pub fn next<M: prost::Message + Default>(&mut self) -> Result<Option<M>> {
        loop {
            if let Some(message) = self.take()? {
                return Ok(Some(message));
            }
            if self.ended {
                if !self.buffer.is_empty() {
                    return Err(self.fail("the answer ended inside a message"));
                }
                return Ok(None);
            }
            let body = &mut self.body;
            let chunk = self.channel.block_on(&self.method, async {
                match body.data().await {
                    Some(chunk) => chunk.map(Some),
                    None => Ok(None),
                }
            })?;
            match chunk {
                Some(chunk) => {
                    let _ = self.body.flow_control().release_capacity(chunk.len());
                    self.buffer.extend_from_slice(&chunk);
                }
                None => {
                    let body = &mut self.body;
                    let trailers = self.channel.block_on(&self.method, body.trailers())?;
                    let trailers = trailers.unwrap_or_default();
                    check_status(&trailers).map_err(|m| self.fail(&m))?;
                    self.ended = true;
                }
            }
        }
    }

    /// A whole message from the buffer, if one is there.
    fn take<M: prost::Message + Default>(&mut self) -> Result<Option<M>> {
        if self.buffer.len() < 5 {
            return Ok(None);
        }
        if self.buffer[0] != 0 {
            return Err(
                self.fail("the server sent a compressed message, which rko did not ask for")
            );
        }
        let length = u32::from_be_bytes(self.buffer[1..5].try_into().expect("4 bytes")) as usize;
        if length > MAX_MESSAGE {
            return Err(self.fail(&format!("a message of {length} bytes is over rko's limit")));
        }
        if self.buffer.len() < 5 + length {
            return Ok(None);
        }
        self.buffer.advance(5);
        let bytes = self.buffer.split_to(length).freeze();
        M::decode(bytes)
            .map(Some)
            .map_err(|e| self.fail(&format!("an answer that is not the message expected: {e}")))
    }

    fn fail(&self, message: &str) -> Error {
        self.channel.error(&self.method, message)
    }
}

async fn handshake<T>(endpoint: &Endpoint, io: T) -> Result<h2::client::SendRequest<Bytes>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(4 << 20)
        .initial_connection_window_size(8 << 20)
        .max_frame_size(1 << 20)
        .handshake(io)
        .await
        .map_err(|e| cache_error(endpoint, "starting HTTP/2", e))?;
    let endpoint = endpoint.clone();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            log::debug!("{endpoint}: the connection ended: {e}");
        }
    });
    Ok(send)
}

async fn bounded<T>(
    endpoint: &Endpoint,
    what: &str,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(WAIT, work).await {
        Ok(done) => done,
        Err(_) => Err(Error::RemoteCache {
            what: endpoint.to_string(),
            message: format!("{what}: no answer within {} s", WAIT.as_secs()),
        }),
    }
}

fn cache_error(endpoint: &Endpoint, what: &str, error: impl std::fmt::Display) -> Error {
    Error::RemoteCache {
        what: endpoint.to_string(),
        message: format!("{what}: {error}"),
    }
}

/// A message in gRPC's framing: uncompressed, its length, its bytes.
fn frame(message: &impl prost::Message) -> Bytes {
    let body = message.encode_to_vec();
    let mut framed = Vec::with_capacity(5 + body.len());
    framed.push(0);
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(&body);
    Bytes::from(framed)
}

/// `grpc-status` 0, or the status's name and `grpc-message`.
fn check_status(headers: &http::HeaderMap) -> std::result::Result<(), String> {
    let Some(code) = headers.get("grpc-status") else {
        return Ok(());
    };
    let code: i32 = code.to_str().ok().and_then(|c| c.parse().ok()).unwrap_or(2);
    if code == 0 {
        return Ok(());
    }
    // Percent-encoded (gRPC over HTTP/2, "Responses").
    let message = headers
        .get("grpc-message")
        .map(|m| crate::percent::decode(m.as_bytes()))
        .unwrap_or_default();
    Err(format!(
        "{}: {}",
        code_name(code),
        crate::untrusted::escape(&message)
    ))
}

/// The name gRPC gives a status code.
pub fn code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|c| NAMES.get(c))
        .copied()
        .unwrap_or("UNKNOWN")
}

fn parse_headers(
    headers: &[(String, String)],
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>> {
    headers
        .iter()
        .map(|(name, value)| {
            let bad = || Error::invalid(format!("--remote-header {name}: not a valid header"));
            Ok((
                http::HeaderName::try_from(name.to_ascii_lowercase()).map_err(|_| bad())?,
                http::HeaderValue::try_from(value.as_str()).map_err(|_| bad())?,
            ))
        })
        .collect()
}

/// TLS with ALPN `h2`, trusting `ca_files` (or Mozilla's roots).
fn tls_connector(ca_files: &[PathBuf]) -> Result<tokio_rustls::TlsConnector> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    if ca_files.is_empty() {
        roots.add_parsable_certificates(
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|der| CertificateDer::from(der.as_ref().to_vec())),
        );
    }
    for file in ca_files {
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
            .map_err(|e| Error::file(file, format!("cannot read CA certificates: {e}")))?
            .filter_map(|c| c.ok())
            .collect();
        if certificates.is_empty() {
            return Err(Error::file(file, "no PEM certificates in it"));
        }
        roots.add_parsable_certificates(certificates);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid(format!("TLS for the remote cache: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_other_than_ok_is_named_with_its_decoded_message() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(check_status(&headers), Ok(()));
        headers.insert("grpc-status", "0".parse().unwrap());
        assert_eq!(check_status(&headers), Ok(()));
        headers.insert("grpc-status", "5".parse().unwrap());
        headers.insert(
            "grpc-message",
            "blob%20sha256:ab%25 missing".parse().unwrap(),
        );
        assert_eq!(
            check_status(&headers),
            Err("NOT_FOUND: blob sha256:ab% missing".to_string())
        );
        headers.insert("grpc-status", "99".parse().unwrap());
        assert!(check_status(&headers).unwrap_err().starts_with("UNKNOWN"));
    }
}
