//! Where a REAPI cache is, as Bazel's `--remote_cache` names it:
//! `grpc://HOST:PORT` in plain text, `grpcs://HOST[:PORT]` (or a bare
//! `HOST:PORT`, as Bazel takes it) over TLS; `USER:PASSWORD@` before the
//! host goes in each call's `:authority`, as Bazel sends it (bazel-remote's
//! basic authentication reads it there), and is never printed.

use crate::error::{Error, Result};

/// A cache's address.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// `USER:PASSWORD`, for the `:authority` only.
    userinfo: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl Endpoint {
    /// Reads `--remote-cache`'s value; the error names the flag.
    pub fn parse(text: &str) -> Result<Endpoint> {
        let bad = |why: &str| Error::invalid(format!("--remote-cache {text:?}: {why}"));
        let (tls, rest) = match text.split_once("://") {
            Some(("grpc", rest)) => (false, rest),
            Some(("grpcs", rest)) => (true, rest),
            Some(("http" | "https", _)) => {
                return Err(bad(
                    "rko reads blobs from a gRPC (REAPI) cache; give its grpc:// or grpcs:// \
                     address (bazel-remote serves both on different ports)",
                ))
            }
            Some((scheme, _)) => return Err(bad(&format!("unknown scheme {scheme:?}"))),
            None => (true, text),
        };
        let rest = rest.trim_end_matches('/');
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo.to_string()), rest),
            None => (None, rest),
        };
        if rest.contains('/') || rest.is_empty() {
            return Err(bad("expected HOST:PORT after the scheme, with no path"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| bad(&format!("{port:?} is not a port")))?;
                (host, port)
            }
            _ if tls => (rest, 443),
            _ => return Err(bad("grpc:// needs a port (HOST:PORT)")),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Endpoint {
            tls,
            host: host.to_string(),
            port,
            userinfo,
        })
    }

    /// `HOST:PORT`, to connect to.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `[USER:PASSWORD@]HOST:PORT`, each call's `:authority`.
    pub fn request_authority(&self) -> String {
        match &self.userinfo {
            Some(userinfo) => format!("{userinfo}@{}", self.authority()),
            None => self.authority(),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "grpcs" } else { "grpc" };
        write!(f, "{scheme}://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_as_bazel_reads_remote_cache() {
        let ok = |tls, host: &str, port| Ok::<_, String>((tls, host.to_string(), port));
        let with_password = Endpoint::parse("grpcs://user:pa:ss@cache.example:9092").unwrap();
        assert_eq!(
            with_password.request_authority(),
            "user:pa:ss@cache.example:9092"
        );
        assert_eq!(with_password.authority(), "cache.example:9092");
        assert_eq!(with_password.to_string(), "grpcs://cache.example:9092");
        assert!(!format!("{with_password:?}").contains("pa:ss"));
        for (text, want) in [
            ("grpc://127.0.0.1:9092", ok(false, "127.0.0.1", 9092)),
            (
                "grpc://cache.example:9092/",
                ok(false, "cache.example", 9092),
            ),
            ("grpcs://cache.example", ok(true, "cache.example", 443)),
            (
                "grpcs://cache.example:8443",
                ok(true, "cache.example", 8443),
            ),
            ("cache.example:8443", ok(true, "cache.example", 8443)),
            ("grpc://[::1]:9092", ok(false, "::1", 9092)),
            ("grpc://cache.example", Err("grpc:// needs a port".into())),
            (
                "http://cache.example:8080",
                Err("gRPC (REAPI) cache".into()),
            ),
            ("ftp://x:1", Err("unknown scheme".into())),
            ("grpc://x:1/instance", Err("no path".into())),
            ("grpc://x:port", Err("is not a port".into())),
        ] {
            let got = Endpoint::parse(text)
                .map(|e| (e.tls, e.host, e.port))
                .map_err(|e| e.to_string());
            match (&got, &want) {
                (Err(got), Err(want)) => assert!(
                    got.contains(want.as_str()) && got.contains("--remote-cache"),
                    "{text}: {got}"
                ),
                _ => assert_eq!(got, want, "{text}"),
            }
        }
        let endpoint = Endpoint::parse("grpc://[::1]:9092").unwrap();
        assert_eq!(endpoint.to_string(), "grpc://[::1]:9092");
    }
}
