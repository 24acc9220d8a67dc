//! Which host gets which credential: the rules, pure, beside their tables.
//!
//! - A registry's `Authorization` goes only to its own origin (scheme, host
//!   and port): never to an upload `Location` or a redirect elsewhere.
//! - A token realm gets the password or identity token over HTTPS; over
//!   plain HTTP only on the registry's own loopback (or `--insecure-registry`)
//!   machine, or on a host named in `--insecure-registry`.
//! - Plain HTTP to a registry without being asked: loopback only.
//! - Unverified TLS only to a host named in `--insecure-registry`: a token
//!   realm or a redirect elsewhere is verified like any other host.

use std::net::IpAddr;

/// Where a URL points: scheme, host (lowercased; an IPv6 literal keeps its
/// brackets) and port (the scheme's default when none is written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of an `http://` or `https://` URL; `None` for anything else.
    pub fn of(url: &str) -> Option<Origin> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        // Userinfo (`user:pw@host`) is not part of the origin.
        let authority = authority.rsplit('@').next().unwrap_or("");
        let (host, port) = split_host_port(authority)?;
        Some(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port: port.unwrap_or(default_port),
        })
    }
}

/// `host[:port]` split; `None` when the host is empty or the port is not a number.
pub(super) fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let after = &authority[end + 1..];
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (&authority[..=end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => None,
    };
    Some((host, port))
}

/// Whether a request to `url` may carry the `Authorization` held for the
/// registry at `registry_url` (`scheme://host[:port]`): only when both have
/// the same scheme, host and port. An upload `Location` or a redirect to
/// any other origin (another host, another port, plain HTTP) gets none, as
/// does a URL that cannot be parsed.
pub fn sends_authorization(registry_url: &str, url: &str) -> bool {
    match (Origin::of(registry_url), Origin::of(url)) {
        (Some(registry), Some(target)) => registry == target,
        _ => false,
    }
}

/// Whether a password or identity token may be sent to the token `realm`
/// that `registry` (`host[:port]`) names in its challenge.
///
/// Over HTTPS, yes: the realm is the registry's to name, and nothing can be
/// read on the way. Over plain HTTP only where clear text is already
/// accepted: a realm whose host (or `host:port`) is in `insecure`
/// (`--insecure-registry`), or a realm on the registry's own host when that
/// host is loopback or the registry itself is in `insecure`. A plain-HTTP
/// realm on any other host is refused, even another loopback address.
pub fn realm_gets_credentials(realm: &str, registry: &str, insecure: &[String]) -> bool {
    let Some(realm) = Origin::of(realm) else {
        return false;
    };
    if realm.scheme == "https" {
        return true;
    }
    let named = |entry: &String| {
        let entry = entry.to_ascii_lowercase();
        entry == realm.host || entry == format!("{}:{}", realm.host, realm.port)
    };
    if insecure.iter().any(named) {
        return true;
    }
    let registry_host = split_host_port(registry).map(|(host, _)| host.to_ascii_lowercase());
    let trusted_in_clear = is_loopback(registry) || insecure.iter().any(|r| r == registry);
    registry_host.as_deref() == Some(realm.host.as_str()) && trusted_in_clear
}

/// Whether TLS to `url` may go unverified: only when its origin is a
/// registry named in `insecure` (`--insecure-registry`), as `host:port` or,
/// on 443, as `host`. The registry's token realm, or a redirect, on any
/// other host or port is verified: the registry's own certificate being
/// unknown says nothing of theirs.
pub fn unverified_tls(url: &str, insecure: &[String]) -> bool {
    let Some(origin) = Origin::of(url) else {
        return false;
    };
    let host_port = format!("{}:{}", origin.host, origin.port);
    origin.scheme == "https"
        && insecure.iter().any(|entry| {
            let entry = entry.to_ascii_lowercase();
            entry == host_port || (origin.port == 443 && entry == origin.host)
        })
}

/// Whether plain HTTP may be used for `registry` (`host[:port]`) without
/// being asked: only when it is this machine (`localhost`, a loopback IP).
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => registry.split(':').next().unwrap_or(""),
    };
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_goes_only_to_the_registrys_own_origin() {
        let registry = "https://reg.io";
        for (url, want) in [
            ("https://reg.io/v2/app/blobs/uploads/1", true),
            ("https://reg.io:443/v2/", true),
            ("HTTPS://REG.IO/v2/", true),
            ("https://user@reg.io/v2/", true),
            // Another host, port or scheme: a foreign upload Location, a redirect.
            ("https://storage.example/upload/1", false),
            ("https://reg.io.evil.example/v2/", false),
            ("https://reg.io:8443/v2/", false),
            ("http://reg.io/v2/", false),
            ("https://evil@other.io/v2/", false),
            ("https://reg.io@other.io/v2/", false),
            // Nothing understood, nothing sent.
            ("/v2/relative", false),
            ("ftp://reg.io/v2/", false),
            ("https://reg.io:99999/v2/", false),
            ("https:///v2/", false),
        ] {
            assert_eq!(sends_authorization(registry, url), want, "{url}");
        }
        for (registry, url, want) in [
            (
                "http://127.0.0.1:5000",
                "http://127.0.0.1:5000/upload/1",
                true,
            ),
            (
                "http://127.0.0.1:5000",
                "http://127.0.0.2:5000/upload/1",
                false,
            ),
            (
                "http://127.0.0.1:5000",
                "http://localhost:5000/upload/1",
                false,
            ),
            ("http://[::1]:5000", "http://[::1]:5000/v2/", true),
            ("http://[::1]:5000", "http://[::1]:5001/v2/", false),
        ] {
            assert_eq!(sends_authorization(registry, url), want, "{registry} {url}");
        }
    }

    #[test]
    fn a_realm_gets_credentials_over_https_or_on_a_trusted_plain_http_host() {
        let none: &[&str] = &[];
        for (realm, registry, insecure, want) in [
            ("https://auth.example/token", "reg.io", none, true),
            ("https://127.0.0.2:9/token", "127.0.0.1:5000", none, true),
            // Plain HTTP on another host: refused, loopback or not.
            ("http://auth.example/token", "reg.io", none, false),
            ("http://127.0.0.2:9/token", "127.0.0.1:5000", none, false),
            ("http://localhost:9/token", "127.0.0.1:5000", none, false),
            // ... unless named in --insecure-registry, by host or host:port.
            (
                "http://127.0.0.2:9/token",
                "127.0.0.1:5000",
                &["127.0.0.2:9"],
                true,
            ),
            (
                "http://127.0.0.2:9/token",
                "127.0.0.1:5000",
                &["127.0.0.2"],
                true,
            ),
            (
                "http://127.0.0.2:9/token",
                "127.0.0.1:5000",
                &["127.0.0.2:10"],
                false,
            ),
            (
                "http://auth.example/token",
                "reg.io",
                &["auth.example:80"],
                true,
            ),
            // The registry's own loopback machine, any port.
            ("http://127.0.0.1:9/token", "127.0.0.1:5000", none, true),
            ("http://localhost/token", "localhost:5000", none, true),
            ("http://[::1]:9/token", "[::1]:5000", none, true),
            // The registry's own host when it is not loopback: only if insecure.
            ("http://reg.io:9/token", "reg.io", none, false),
            (
                "http://reg.io:9/token",
                "reg.io:5000",
                &["reg.io:5000"],
                true,
            ),
            // Nothing understood, nothing sent.
            ("ftp://auth.example/token", "reg.io", none, false),
            ("token", "reg.io", none, false),
            ("", "reg.io", none, false),
        ] {
            let insecure: Vec<String> = insecure.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                realm_gets_credentials(realm, registry, &insecure),
                want,
                "{realm} named by {registry}, insecure {insecure:?}"
            );
        }
    }

    #[test]
    fn only_hosts_named_insecure_get_unverified_tls() {
        let insecure: Vec<String> = ["reg.io:5000", "plain.io", "[::1]:5000", "Upper.IO:8443"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for (url, want) in [
            ("https://reg.io:5000/v2/", true),
            ("https://REG.IO:5000/token", true),
            ("https://plain.io/v2/", true),
            ("https://plain.io:443/v2/", true),
            ("https://[::1]:5000/v2/", true),
            ("https://upper.io:8443/v2/", true),
            // The registry's realm or storage elsewhere: verified.
            ("https://auth.reg.io/token", false),
            ("https://127.0.0.2:5000/token", false),
            ("https://reg.io/token", false),
            ("https://reg.io:5001/token", false),
            ("https://plain.io:8443/token", false),
            ("https://[::1]:5001/v2/", false),
            // Nothing to verify, or nothing understood.
            ("http://reg.io:5000/v2/", false),
            ("reg.io:5000", false),
            ("", false),
        ] {
            assert_eq!(unverified_tls(url, &insecure), want, "{url}");
        }
        assert!(!unverified_tls("https://reg.io:5000/v2/", &[]));
    }

    #[test]
    fn only_loopback_registries_get_plain_http_unasked() {
        for (registry, want) in [
            ("localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("[::1]:5000", true),
            ("[::ffff:127.0.0.1]:5000", false),
            ("registry.example:5000", false),
            ("10.0.0.1", false),
        ] {
            assert_eq!(is_loopback(registry), want, "{registry}");
        }
    }
}
