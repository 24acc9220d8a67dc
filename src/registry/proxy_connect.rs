//! The proxy rules (proxy.rs) put to work in ureq, as Go's net/http does
//! it: a resolver that leaves a proxied host name to the proxy, and a
//! connector that reaches the registry through the proxy: a CONNECT tunnel
//! for https:// (TLS to the registry inside it), absolute-form requests
//! (`GET http://host/path`) for http://. ureq's own proxy support is not
//! used: it tunnels plain HTTP too, and reads the environment itself.

use super::proxy::{Proxies, Proxy};
use crate::untrusted::escape;
use std::sync::Arc;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, RustlsConnector, TcpConnector, Transport,
};
use ureq::Error;

/// The most a proxy may say in answer to CONNECT.
const MAX_CONNECT_ANSWER: usize = 64 << 10;

/// Resolves only what goes direct: a proxied host is the proxy's to
/// resolve (behind a corporate proxy, the machine's DNS may not know it).
#[derive(Debug)]
pub struct ProxyResolver {
    pub proxies: Arc<Proxies>,
}

impl Resolver for ProxyResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, Error> {
        match self.proxies.route(&uri.to_string()) {
            // A proxy that cannot be used is reported by the connector.
            Ok(Some(_)) | Err(_) => Ok(self.empty()),
            Ok(None) => DefaultResolver::default().resolve(uri, config, timeout),
        }
    }
}

/// First in the connector chain: for a proxied URL, the connection through
/// the proxy; for any other, nothing (the TCP connector after it connects
/// directly). The TLS connector last wraps an https:// connection either way.
#[derive(Debug)]
pub struct ProxyConnector {
    pub proxies: Arc<Proxies>,
    /// For the connection to an https:// proxy itself: always verified.
    pub proxy_config: Config,
    /// TLS to an https:// proxy (it keeps the TLS settings it built).
    pub tls: RustlsConnector,
}

impl Connector<()> for ProxyConnector {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _: Option<()>,
    ) -> Result<Option<Self::Out>, Error> {
        let proxy = match self.proxies.route(&details.uri.to_string()) {
            Ok(None) => return Ok(None),
            Ok(Some(proxy)) => proxy,
            Err(message) => return Err(Error::Other(message.into())),
        };
        let transport = self.open(proxy, details)?;
        let authority = target_authority(details.uri);
        if details.needs_tls() {
            return tunnel(proxy, transport, &authority, details.timeout).map(Some);
        }
        Ok(Some(Box::new(AbsoluteForm {
            inner: transport,
            origin: format!("http://{authority}"),
            authorization: proxy.authorization(),
            used: false,
        })))
    }
}

impl ProxyConnector {
    /// A connection to `proxy` itself (TLS for an https:// proxy); a
    /// failure names the proxy and stays transient, as a registry's would.
    fn open(
        &self,
        proxy: &Proxy,
        details: &ConnectionDetails,
    ) -> Result<Box<dyn Transport>, Error> {
        let unreachable = |e: Error| {
            let (kind, why) = match &e {
                Error::Io(io) => (io.kind(), io.to_string()),
                Error::Timeout(_) => (std::io::ErrorKind::TimedOut, e.to_string()),
                _ => (std::io::ErrorKind::Other, e.to_string()),
            };
            Error::Io(std::io::Error::new(
                kind,
                format!("cannot connect to proxy {proxy}: {why}"),
            ))
        };
        let uri: Uri = proxy.url().parse().map_err(|_| Error::InvalidProxyUrl)?;
        let addrs = DefaultResolver::default()
            .resolve(&uri, &self.proxy_config, details.timeout)
            .map_err(unreachable)?;
        let to_proxy = ConnectionDetails {
            uri: &uri,
            addrs,
            config: &self.proxy_config,
            request_level: false,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        let tcp = TcpConnector::default()
            .connect(&to_proxy, None::<()>)
            .map_err(unreachable)?
            .ok_or(Error::ConnectionFailed)?;
        let transport = self
            .tls
            .connect(&to_proxy, Some(tcp))
            .map_err(unreachable)?
            .ok_or(Error::ConnectionFailed)?;
        Ok(Box::new(transport))
    }
}

/// `host:port` of `uri`, the port written out.
fn target_authority(uri: &Uri) -> String {
    let host = uri.host().unwrap_or("");
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    format!("{host}:{port}")
}

/// Asks `proxy` for a tunnel to `authority` over `transport`; the tunnel,
/// or an error saying what the proxy answered.
fn tunnel(
    proxy: &Proxy,
    mut transport: Box<dyn Transport>,
    authority: &str,
    timeout: NextTimeout,
) -> Result<Box<dyn Transport>, Error> {
    let mut request = format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: rko/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(authorization) = proxy.authorization() {
        request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    send(&mut transport, request.as_bytes(), timeout)?;
    let head = read_head(&mut transport, timeout).map_err(|why| {
        Error::ConnectProxyFailed(format!("proxy {proxy}, asked for {authority}: {why}"))
    })?;
    let status_line = head.lines().next().unwrap_or("");
    let status = status_line.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        let refusal = format!(
            "proxy {proxy} refused a tunnel to {authority}: {}",
            escape(status_line)
        );
        // A proxy whose upstream is down for the moment: worth trying again.
        if matches!(status, "502" | "503" | "504") {
            return Err(Error::Io(std::io::Error::other(refusal)));
        }
        return Err(Error::ConnectProxyFailed(refusal));
    }
    Ok(Box::new(Tunnel(transport)))
}

/// The proxy's answer up to its blank line, consumed from the input; what
/// follows stays for the TLS handshake.
fn read_head(transport: &mut Box<dyn Transport>, timeout: NextTimeout) -> Result<String, String> {
    loop {
        let progressed = transport
            .maybe_await_input(timeout)
            .map_err(|e| e.to_string())?;
        let input = transport.buffers().input();
        if let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&input[..end]).into_owned();
            transport.buffers().input_consume(end + 4);
            return Ok(head);
        }
        if input.len() > MAX_CONNECT_ANSWER {
            return Err(format!(
                "answered more than {MAX_CONNECT_ANSWER} bytes of headers"
            ));
        }
        if !progressed {
            return Err("closed the connection without answering".to_string());
        }
        // Nothing consumed: the next wait reads more.
        transport.buffers().input_consume(0);
    }
}

/// Writes all of `bytes` through the transport's output buffer.
fn send(
    transport: &mut Box<dyn Transport>,
    bytes: &[u8],
    timeout: NextTimeout,
) -> Result<(), Error> {
    let room = transport.buffers().output().len().max(1);
    for piece in bytes.chunks(room) {
        transport.buffers().output()[..piece.len()].copy_from_slice(piece);
        transport.transmit_output(piece.len(), timeout)?;
    }
    Ok(())
}

/// A CONNECT tunnel: not TLS to the registry yet, even over a TLS proxy,
/// so that the TLS connector wraps it.
#[derive(Debug)]
struct Tunnel(Box<dyn Transport>);

impl Transport for Tunnel {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.0.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }

    fn is_tls(&self) -> bool {
        false
    }
}

/// A connection to an HTTP proxy carrying one plain-HTTP request, whose
/// request line is rewritten to absolute form on its way out (RFC 9112
/// §3.2.2: "a client MUST send the target URI in absolute-form" to a
/// proxy). One request per connection: ureq writes a request's head at
/// the start of the connection's first output, and only there is it known
/// to be a head, so the connection is never reused.
#[derive(Debug)]
struct AbsoluteForm {
    inner: Box<dyn Transport>,
    /// `http://host:port`.
    origin: String,
    /// `Proxy-Authorization` value, for a proxy URL with credentials.
    authorization: Option<String>,
    used: bool,
}

impl Transport for AbsoluteForm {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        if self.used {
            return self.inner.transmit_output(amount, timeout);
        }
        self.used = true;
        let head = self.inner.buffers().output()[..amount].to_vec();
        let rewritten = absolute_form(&head, &self.origin, self.authorization.as_deref())
            .ok_or_else(|| Error::Other("a request without a request line".into()))?;
        send(&mut self.inner, &rewritten, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        !self.used && self.inner.is_open()
    }
}

/// `bytes` (a request head, perhaps with body bytes after it) with the
/// request target made absolute (`GET /v2/ HTTP/1.1` to
/// `GET http://host:port/v2/ HTTP/1.1`) and `Proxy-Authorization` added
/// after the request line; `None` when there is no request line.
fn absolute_form(bytes: &[u8], origin: &str, authorization: Option<&str>) -> Option<Vec<u8>> {
    let target = bytes.iter().position(|b| *b == b' ')? + 1;
    let line_end = bytes.windows(2).position(|w| w == b"\r\n")? + 2;
    if bytes.get(target) != Some(&b'/') || target >= line_end {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() + origin.len() + 64);
    out.extend_from_slice(&bytes[..target]);
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(&bytes[target..line_end]);
    if let Some(value) = authorization {
        out.extend_from_slice(format!("Proxy-Authorization: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(&bytes[line_end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_to_a_proxy_carry_the_absolute_url() {
        let origin = "http://reg.test:5000";
        for (head, authorization, want) in [
            (
                "GET /v2/ HTTP/1.1\r\nhost: reg.test:5000\r\n\r\n",
                None,
                Some("GET http://reg.test:5000/v2/ HTTP/1.1\r\nhost: reg.test:5000\r\n\r\n"),
            ),
            (
                "PUT /v2/app/blobs/uploads/1?digest=sha256:ab HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc",
                Some("Basic dTpw"),
                Some("PUT http://reg.test:5000/v2/app/blobs/uploads/1?digest=sha256:ab HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\ncontent-length: 3\r\n\r\nabc"),
            ),
            // Body bytes that look like a request line stay as they are.
            (
                "POST /x HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n",
                None,
                Some("POST http://reg.test:5000/x HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n"),
            ),
            // Not a request head: refused rather than mangled.
            ("GET", None, None),
            ("GET http://x/ HTTP/1.1\r\n\r\n", None, None),
            ("\r\nGET / HTTP/1.1\r\n", None, None),
        ] {
            let got = absolute_form(head.as_bytes(), origin, authorization)
                .map(|b| String::from_utf8(b).unwrap());
            assert_eq!(got.as_deref(), want, "{head:?}");
        }
    }

    #[test]
    fn the_tunnel_target_always_names_its_port() {
        for (uri, want) in [
            ("https://reg.io/v2/", "reg.io:443"),
            ("https://reg.io:5000/v2/", "reg.io:5000"),
            ("http://reg.io/v2/", "reg.io:80"),
            ("https://[::1]:5000/v2/", "[::1]:5000"),
        ] {
            let uri: Uri = uri.parse().unwrap();
            assert_eq!(target_authority(&uri), want);
        }
    }
}
