//! Which proxy a request goes through: the rules of Go's net/http
//! (`golang.org/x/net/http/httpproxy`, what ko's transport uses), pure,
//! with their table beside them.
//!
//! - `HTTPS_PROXY` carries https:// URLs, `HTTP_PROXY` http:// ones (the
//!   command layer reads the upper-case name first, then the lower-case one).
//! - `localhost` and loopback addresses are never proxied.
//! - `NO_PROXY` is a comma-separated list, each entry trimmed: `*` (nothing
//!   is proxied); an IP address or CIDR range (for hosts written as IP
//!   addresses); `example.com` (it and its subdomains) or `.example.com` /
//!   `*.example.com` (its subdomains only); any of them with `:port` for
//!   that port only.
//! - A proxy written without a scheme is `http://`.
//! - With `REQUEST_METHOD` set (a CGI program), `HTTP_PROXY` may have come
//!   from a request header ("httpoxy"): an http:// request fails rather
//!   than use it.
//!
//! Differences from Go, on purpose: a proxy value that cannot be used (a
//! SOCKS proxy, a bad port) fails the requests it would carry, naming the
//! variable, where Go silently goes direct; host names are compared in
//! ASCII lower case, without Go's IDNA conversion.

use super::credential::Secret;
use super::trust::{split_host_port, Origin};
use base64::Engine as _;
use std::net::IpAddr;

/// The proxy variables as the command layer found them.
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    /// The variable that was set (`HTTP_PROXY` or `http_proxy`) and its value.
    pub http_proxy: Option<(String, String)>,
    /// `HTTPS_PROXY` or `https_proxy`, and its value.
    pub https_proxy: Option<(String, String)>,
    /// `NO_PROXY` (or `no_proxy`); empty when unset.
    pub no_proxy: String,
    /// Whether `REQUEST_METHOD` is set: rko runs as a CGI program.
    pub cgi: bool,
}

/// A proxy to go through.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// `http` or `https`: how rko speaks to the proxy itself.
    pub scheme: String,
    /// As written; an IPv6 address keeps its brackets.
    pub host: String,
    pub port: u16,
    /// The user and password of the proxy URL, for `Proxy-Authorization`.
    credentials: Option<(String, Secret)>,
    /// The variable that named it, for messages.
    pub variable: String,
}

impl Proxy {
    /// `scheme://host:port`, without the credentials.
    pub fn url(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }

    /// `Proxy-Authorization: Basic …` for a proxy URL with a user.
    pub fn authorization(&self) -> Option<String> {
        let (user, password) = self.credentials.as_ref()?;
        let raw = format!("{user}:{}", password.expose());
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }
}

/// `http://proxy:3128 (HTTPS_PROXY)`: what messages call it.
impl std::fmt::Display for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.url(), self.variable)
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({self})")
    }
}

/// The proxies of a run, and which URLs skip them.
#[derive(Debug, Clone, Default)]
pub struct Proxies {
    /// For http:// URLs; an error says why the value cannot be used.
    http: Option<Result<Proxy, String>>,
    /// For https:// URLs.
    https: Option<Result<Proxy, String>>,
    no_proxy: Vec<Entry>,
    cgi: bool,
}

impl Proxies {
    pub fn new(env: &ProxyEnv) -> Proxies {
        let parse = |setting: &Option<(String, String)>| {
            setting
                .as_ref()
                .map(|(variable, value)| parse_proxy(variable, value))
        };
        Proxies {
            http: parse(&env.http_proxy),
            https: parse(&env.https_proxy),
            no_proxy: parse_no_proxy(&env.no_proxy),
            cgi: env.cgi,
        }
    }

    /// The proxy that carries a request to `url`: `None` to go direct; an
    /// error when the proxy it should take cannot be used.
    pub fn route(&self, url: &str) -> Result<Option<&Proxy>, String> {
        let Some(origin) = Origin::of(url) else {
            return Ok(None);
        };
        let chosen = match origin.scheme.as_str() {
            "https" => &self.https,
            _ => &self.http,
        };
        let Some(chosen) = chosen else {
            return Ok(None);
        };
        if self.cgi && origin.scheme == "http" {
            return Err(
                "refusing HTTP_PROXY in a CGI environment (REQUEST_METHOD is set): it may have \
                 come from a request header; see golang.org/s/cgihttpproxy"
                    .to_string(),
            );
        }
        if !uses_proxy(&self.no_proxy, &origin) {
            return Ok(None);
        }
        chosen.as_ref().map(Some).map_err(Clone::clone)
    }
}

/// A proxy URL as Go's `parseProxy` reads it: `http://` when no scheme is
/// written; the port defaults to the scheme's.
fn parse_proxy(variable: &str, value: &str) -> Result<Proxy, String> {
    let bad = |why: &str| format!("{variable}={value:?}: {why}");
    let written = match value.split_once("://") {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty() =>
        {
            value.to_string()
        }
        _ => format!("http://{value}"),
    };
    let (scheme, rest) = written.split_once("://").unwrap_or(("http", &written));
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        s if s.starts_with("socks") => {
            return Err(bad(
                "SOCKS proxies are not supported: give an http:// proxy",
            ))
        }
        _ => return Err(bad("not an http:// or https:// proxy")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let (host, port) =
        split_host_port(host_port).ok_or_else(|| bad("expected [scheme://]host[:port]"))?;
    let credentials = userinfo.map(|userinfo| {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        (
            crate::percent::decode(user.as_bytes()),
            Secret::new(crate::percent::decode(password.as_bytes())),
        )
    });
    Ok(Proxy {
        scheme,
        host: host.to_string(),
        port: port.unwrap_or(default_port),
        credentials,
        variable: variable.to_string(),
    })
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    All,
    /// A CIDR range: network address and prefix length.
    Cidr(IpAddr, u8),
    /// An address, on one port or any.
    Ip(IpAddr, Option<String>),
    /// `.example.com` (with its dot); `and_itself`: `example.com` matches too.
    Domain {
        suffix: String,
        port: Option<String>,
        and_itself: bool,
    },
}

/// `NO_PROXY` as Go's `config.init` reads it.
fn parse_no_proxy(value: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for entry in value.split(',') {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            continue;
        }
        if entry == "*" {
            return vec![Entry::All];
        }
        if let Some(cidr) = parse_cidr(&entry) {
            entries.push(cidr);
            continue;
        }
        let (host, port) = match go_split_host_port(&entry) {
            Some((host, port)) => (host, Some(port.to_string())),
            None => (entry.as_str(), None),
        };
        if host.is_empty() {
            continue;
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            entries.push(Entry::Ip(ip.to_canonical(), port.filter(|p| !p.is_empty())));
            continue;
        }
        let host = host.strip_prefix('*').unwrap_or(host);
        let and_itself = !host.starts_with('.');
        entries.push(Entry::Domain {
            suffix: if and_itself {
                format!(".{host}")
            } else {
                host.to_string()
            },
            port: port.filter(|p| !p.is_empty()),
            and_itself,
        });
    }
    entries
}

/// `ADDRESS/BITS`, as Go's `net.ParseCIDR`.
fn parse_cidr(text: &str) -> Option<Entry> {
    let (address, bits) = text.split_once('/')?;
    let address: IpAddr = address.parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bits: u8 = bits.parse().ok().filter(|b| *b <= max)?;
    Some(Entry::Cidr(address, bits))
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6]:port`, brackets removed;
/// `None` without a port or with a bare IPv6 address.
fn go_split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return Some((host, after.strip_prefix(':')?));
    }
    let (host, port) = text.rsplit_once(':')?;
    (!host.contains(':')).then_some((host, port))
}

/// Go's `config.useProxy`: whether a request to `origin` goes through the proxy.
fn uses_proxy(no_proxy: &[Entry], origin: &Origin) -> bool {
    let host = origin.host.as_str();
    if host == "localhost" {
        return false;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip = bare.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return false;
    }
    let port = origin.port.to_string();
    let port_matches = |wanted: &Option<String>| wanted.as_ref().is_none_or(|p| *p == port);
    !no_proxy.iter().any(|entry| match (entry, ip) {
        (Entry::All, _) => true,
        (Entry::Cidr(network, bits), Some(ip)) => in_range(ip, *network, *bits),
        (Entry::Ip(address, wanted), Some(ip)) => *address == ip && port_matches(wanted),
        (
            Entry::Domain {
                suffix,
                port: wanted,
                and_itself,
            },
            None,
        ) => {
            (host.ends_with(suffix.as_str()) || (*and_itself && host == &suffix[1..]))
                && port_matches(wanted)
        }
        _ => false,
    })
}

/// Whether `ip` lies in `network/bits` (an IPv4 range holds IPv4-mapped
/// IPv6 addresses too, as in Go: both are canonical here).
fn in_range(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    let (ip, network, width) = match (ip, network.to_canonical()) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => (u32::from(ip) as u128, u32::from(net) as u128, 32),
        (IpAddr::V6(ip), IpAddr::V6(net)) => (u128::from(ip), u128::from(net), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    shift >= width || (ip >> shift) == (network >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(http: &str, https: &str, no_proxy: &str) -> Proxies {
        let set = |name: &str, value: &str| {
            (!value.is_empty()).then(|| (name.to_string(), value.to_string()))
        };
        Proxies::new(&ProxyEnv {
            http_proxy: set("HTTP_PROXY", http),
            https_proxy: set("HTTPS_PROXY", https),
            no_proxy: no_proxy.to_string(),
            cgi: false,
        })
    }

    fn route(proxies: &Proxies, url: &str) -> Option<String> {
        proxies.route(url).unwrap().map(Proxy::url)
    }

    // The cases of Go's golang.org/x/net/http/httpproxy proxy_test.go that
    // rko meets (proxyForURLTests and UseProxyTests), and the scheme split.
    #[test]
    fn each_scheme_takes_its_own_variable_and_loopback_goes_direct() {
        let p = proxies("http://hp:3128", "https://sp", "");
        for (url, want) in [
            ("https://reg.io/v2/", Some("https://sp:443")),
            ("http://reg.io/v2/", Some("http://hp:3128")),
            ("https://reg.io:5000/v2/", Some("https://sp:443")),
            // Loopback and localhost: never, whatever the variables say.
            ("http://localhost:5000/v2/", None),
            ("https://localhost/v2/", None),
            ("http://127.0.0.1:5000/v2/", None),
            ("http://127.1.2.3/v2/", None),
            ("http://[::1]:5000/v2/", None),
            ("http://[::ffff:127.0.0.1]:5000/v2/", None),
            // A name that happens to point at this machine is not loopback.
            ("http://localhost.example/v2/", Some("http://hp:3128")),
            ("http://10.0.0.1/v2/", Some("http://hp:3128")),
            ("ftp://reg.io/", None),
        ] {
            assert_eq!(route(&p, url).as_deref(), want, "{url}");
        }
        let only_http = proxies("hp:3128", "", "");
        assert_eq!(route(&only_http, "https://reg.io/v2/"), None);
        assert_eq!(
            route(&only_http, "http://reg.io/v2/").as_deref(),
            Some("http://hp:3128")
        );
        let only_https = proxies("", "sp:3128", "");
        assert_eq!(route(&only_https, "http://reg.io/v2/"), None);
    }

    #[test]
    fn no_proxy_takes_cidrs_addresses_ports_domains_suffixes_and_a_star() {
        let p = |no_proxy| proxies("http://hp", "http://hp", no_proxy);
        for (no_proxy, url, proxied) in [
            ("", "https://reg.io/", true),
            ("*", "https://reg.io/", false),
            ("*", "http://10.0.0.1/", false),
            ("foo.com, *", "https://reg.io/", false),
            // Domains: the name and its subdomains; a leading dot or `*.`
            // for the subdomains only.
            ("reg.io", "https://reg.io/", false),
            ("reg.io", "https://a.b.reg.io/", false),
            ("reg.io", "https://xreg.io/", true),
            (".reg.io", "https://reg.io/", true),
            (".reg.io", "https://a.reg.io/", false),
            ("*.reg.io", "https://reg.io/", true),
            ("*.reg.io", "https://a.reg.io/", false),
            ("REG.IO", "https://reg.io/", false),
            ("reg.io", "https://REG.IO/", false),
            // Spaces around entries are trimmed; empty entries skipped.
            ("other.example,  reg.io ", "https://reg.io/", false),
            (" , ,.io", "https://reg.io/", false),
            // Ports: the entry's port only (the scheme's when the URL has none).
            ("reg.io:5000", "https://reg.io:5000/", false),
            ("reg.io:5000", "https://reg.io/", true),
            ("reg.io:443", "https://reg.io/", false),
            ("reg.io:80", "https://reg.io/", true),
            // Addresses and CIDR ranges: for hosts written as addresses.
            ("10.0.0.1", "https://10.0.0.1:5000/", false),
            ("10.0.0.1:5000", "https://10.0.0.1:5000/", false),
            ("10.0.0.1:5001", "https://10.0.0.1:5000/", true),
            ("10.0.0.0/8", "https://10.20.30.40/", false),
            ("10.0.0.0/8", "https://11.0.0.1/", true),
            ("10.0.0.0/8", "https://[::ffff:10.0.0.1]/", false),
            ("192.168.1.0/24", "https://192.168.1.255/", false),
            ("192.168.1.0/24", "https://192.168.2.1/", true),
            ("0.0.0.0/0", "https://8.8.8.8/", false),
            ("2001:db8::/32", "https://[2001:db8::1]/", false),
            ("2001:db8::/32", "https://[2001:db9::1]/", true),
            ("[2001:db8::1]:5000", "https://[2001:db8::1]:5000/", false),
            ("2001:db8::1", "https://[2001:db8::1]:5000/", false),
            // A range or an address never matches a name, nor a domain an address.
            ("10.0.0.0/8", "https://ten.example/", true),
            ("0.0.1", "https://10.0.0.1/", true),
            // Malformed entries are skipped.
            (":5000", "https://reg.io:5000/", true),
            ("10.0.0.0/33", "https://10.0.0.1/", true),
        ] {
            let got = route(&p(no_proxy), url).is_some();
            assert_eq!(got, proxied, "NO_PROXY={no_proxy:?} {url}");
        }
    }

    #[test]
    fn proxy_values_read_as_go_reads_them() {
        for (value, want) in [
            ("proxy.corp:3128", Ok("http://proxy.corp:3128")),
            ("proxy.corp", Ok("http://proxy.corp:80")),
            ("127.0.0.1:3128", Ok("http://127.0.0.1:3128")),
            ("http://proxy.corp", Ok("http://proxy.corp:80")),
            ("HTTPS://proxy.corp/", Ok("https://proxy.corp:443")),
            (
                "http://user:p%40ss@proxy.corp:8080",
                Ok("http://proxy.corp:8080"),
            ),
            ("http://[::1]:3128", Ok("http://[::1]:3128")),
            ("socks5://proxy.corp:1080", Err("SOCKS")),
            ("ftp://proxy.corp", Err("not an http:// or https:// proxy")),
            ("http://proxy.corp:99999", Err("expected")),
            ("http://", Err("expected")),
        ] {
            let got = parse_proxy("HTTPS_PROXY", value);
            match (want, &got) {
                (Ok(url), Ok(proxy)) => assert_eq!(proxy.url(), url, "{value}"),
                (Err(part), Err(message)) => {
                    assert!(message.contains(part), "{value}: {message}");
                    assert!(message.starts_with("HTTPS_PROXY="), "{message}");
                }
                _ => panic!("{value}: {got:?}"),
            }
        }
        let proxy = parse_proxy("HTTP_PROXY", "http://user:p%40ss@proxy.corp").unwrap();
        assert_eq!(proxy.authorization().as_deref(), Some("Basic dXNlcjpwQHNz"));
        assert!(!format!("{proxy} {proxy:?}").contains("p@ss"));
        assert_eq!(proxy.to_string(), "http://proxy.corp:80 (HTTP_PROXY)");
        assert_eq!(
            parse_proxy("HTTP_PROXY", "proxy.corp")
                .unwrap()
                .authorization(),
            None
        );
    }

    #[test]
    fn an_unusable_proxy_fails_only_the_requests_it_would_carry() {
        let p = proxies("socks5://s:1080", "http://sp:3128", "direct.example");
        let err = p.route("http://reg.io/v2/").unwrap_err();
        assert!(err.contains("HTTP_PROXY") && err.contains("SOCKS"), "{err}");
        assert_eq!(
            route(&p, "https://reg.io/v2/").as_deref(),
            Some("http://sp:3128")
        );
        assert_eq!(route(&p, "http://direct.example/v2/"), None);
        assert_eq!(route(&p, "http://127.0.0.1:5000/v2/"), None);
    }

    #[test]
    fn a_cgi_program_refuses_http_proxy_but_keeps_https_proxy() {
        let mut env = ProxyEnv {
            http_proxy: Some(("HTTP_PROXY".into(), "http://evil:3128".into())),
            https_proxy: Some(("HTTPS_PROXY".into(), "http://sp:3128".into())),
            no_proxy: String::new(),
            cgi: true,
        };
        let p = Proxies::new(&env);
        assert!(p.route("http://reg.io/").unwrap_err().contains("CGI"));
        assert_eq!(
            route(&p, "https://reg.io/").as_deref(),
            Some("http://sp:3128")
        );
        env.http_proxy = None;
        assert_eq!(route(&Proxies::new(&env), "http://reg.io/"), None);
    }
}
