//! The HTTP agents of one registry's client: which TLS each URL gets
//! (verified, unless its origin is named in `--insecure-registry`: see
//! trust.rs), which proxy (proxy.rs), and the bounds on every connection.

use super::proxy::Proxies;
use super::proxy_connect::{ProxyConnector, ProxyResolver};
use super::trust;
use std::sync::Arc;
use std::time::Duration;
use ureq::config::Config;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::unversioned::transport::{Connector as _, RustlsConnector, TcpConnector};
use ureq::Agent;

/// A verified agent for every URL, and an unverified one for the origins
/// named in `--insecure-registry`. Clones share their connection pools.
#[derive(Clone)]
pub struct Agents {
    verified: Agent,
    unverified: Option<Agent>,
    insecure: Vec<String>,
    proxies: Arc<Proxies>,
}

impl Agents {
    /// Agents trusting `roots` (ureq's defaults when `None`), unverified
    /// for the `insecure` registries, through `proxies`; no read or write
    /// may wait longer than `idle`.
    pub fn new(
        roots: Option<Vec<Certificate<'static>>>,
        insecure: &[String],
        proxies: &Proxies,
        idle: Duration,
    ) -> Agents {
        let roots = roots.map(RootCerts::from);
        let tls = |unverified: bool| {
            let builder = TlsConfig::builder().disable_verification(unverified);
            match &roots {
                Some(roots) => builder.root_certs(roots.clone()).build(),
                None => builder.build(),
            }
        };
        let proxies = Arc::new(proxies.clone());
        let verified_tls = tls(false);
        let unverified =
            (!insecure.is_empty()).then(|| agent(tls(true), verified_tls.clone(), idle, &proxies));
        Agents {
            verified: agent(verified_tls.clone(), verified_tls, idle, &proxies),
            unverified,
            insecure: insecure.to_vec(),
            proxies,
        }
    }

    /// The agent for a request to `url`.
    pub fn for_url(&self, url: &str) -> &Agent {
        match &self.unverified {
            Some(agent) if trust::unverified_tls(url, &self.insecure) => agent,
            _ => &self.verified,
        }
    }

    /// Whether a request to `url` goes through a proxy (or should, and
    /// cannot): then the machine's DNS has no say in reaching it.
    pub fn proxied(&self, url: &str) -> bool {
        !matches!(self.proxies.route(url), Ok(None))
    }

    /// ` through proxy http://proxy:3128 (HTTPS_PROXY)` for a proxied `url`,
    /// else nothing: an answer may be the proxy's, not the registry's.
    pub fn via(&self, url: &str) -> String {
        match self.proxies.route(url) {
            Ok(Some(proxy)) => format!(" through proxy {proxy}"),
            _ => String::new(),
        }
    }
}

/// An agent with `tls` that follows no redirect itself: the client does,
/// deciding which may carry credentials. Proxies are chosen per URL by the
/// connector (`proxy_tls` for an https:// proxy), never by ureq, which
/// would read the environment.
fn agent(tls: TlsConfig, proxy_tls: TlsConfig, idle: Duration, proxies: &Arc<Proxies>) -> Agent {
    let connector = ProxyConnector {
        proxies: Arc::clone(proxies),
        proxy_config: config(proxy_tls, idle),
        tls: RustlsConnector::default(),
    }
    .chain(TcpConnector::default())
    .chain(RustlsConnector::default());
    let resolver = ProxyResolver {
        proxies: Arc::clone(proxies),
    };
    Agent::with_parts(config(tls, idle), connector, resolver)
}

fn config(tls: TlsConfig, idle: Duration) -> Config {
    Agent::config_builder()
        .tls_config(tls)
        .proxy(None)
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("rko/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(super::waits::CONNECT_TIMEOUT))
        .timeout_recv_response(Some(super::waits::header_timeout(idle)))
        .timeout_per_read(Some(idle))
        .timeout_per_write(Some(idle))
        .build()
}
