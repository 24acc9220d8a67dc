//! Image references, parsed and normalised the way docker does it
//! (distribution's `reference` grammar): `ubuntu` is
//! `index.docker.io/library/ubuntu:latest`.

use crate::error::{Error, Result};
use oci_spec::image::Digest;
use std::fmt;
use std::str::FromStr;

/// Docker Hub, as configs and the API name it.
pub const DOCKER_HUB: &str = "index.docker.io";
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// A parsed reference: where, which repository, and a tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`, normalised (`docker.io` becomes `index.docker.io`).
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self> {
        check_tag(tag, tag)?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// The same repository at `digest`.
    pub fn with_digest(&self, digest: Digest) -> Self {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// What to ask the registry for: the digest if there is one, else the tag.
    pub fn identifier(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// `registry/repository`, as used in `REPO@sha256:…`.
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        let bad = |part: &str, why: &str| Error::BadReference {
            input: input.to_string(),
            message: format!("{part} {why}"),
        };
        if input.is_empty() {
            return Err(bad("it", "is empty"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                let parsed = crate::digest::parse(digest).map_err(|_| {
                    bad(
                        &format!("digest {digest:?}"),
                        "is not sha256:<64 hex digits>",
                    )
                })?;
                (rest, Some(parsed))
            }
            None => (input, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(input, tag)?;
        }
        let (registry, repository) = split_registry(name);
        let registry = match registry {
            Some(host) => {
                check_host(input, host)?;
                if DOCKER_HUB_ALIASES.contains(&host) {
                    DOCKER_HUB.to_string()
                } else {
                    host.to_string()
                }
            }
            None => DOCKER_HUB.to_string(),
        };
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        check_repository(input, &repository)?;
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

/// Checks a repository named without tag or digest, as `KO_DOCKER_REPO`
/// is: a registry alone (`host[:port]`) or `[host/]path`, the two forms
/// ko accepts (`name.NewRegistry`, else `name.NewRepository`).
pub fn check_repository_name(input: &str) -> Result<()> {
    if input.is_empty() {
        return Err(bad_reference(input, "it is empty".to_string()));
    }
    let (registry, repository) = split_registry(input);
    match registry {
        Some(host) => check_host(input, host)?,
        None if !input.contains('/') && check_host(input, input).is_ok() => return Ok(()),
        None => {}
    }
    check_repository(input, repository)
}

/// A first component is a registry if it looks like a host: it has a `.`
/// or a `:` or is `localhost` (or an IPv6 literal in brackets).
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                || first.starts_with('[') =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn check_host(input: &str, host: &str) -> Result<()> {
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').unwrap_or((v6, ""));
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad_reference(
                input,
                format!("registry {host:?} is not a valid IPv6 address"),
            ));
        }
        (None, after.strip_prefix(':'))
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        }
    };
    if let Some(name) = name {
        let valid = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !valid {
            return Err(bad_reference(
                input,
                format!("registry {host:?} is not a valid host name"),
            ));
        }
    }
    if let Some(port) = port {
        if port.parse::<u16>().is_err() {
            return Err(bad_reference(
                input,
                format!("registry port {port:?} is not a number"),
            ));
        }
    }
    Ok(())
}

/// Path components: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn check_repository(input: &str, repository: &str) -> Result<()> {
    let bad = |why: String| {
        Err(bad_reference(
            input,
            format!("repository {repository:?} {why}"),
        ))
    };
    if repository.len() > 255 {
        return bad("is longer than 255 characters".into());
    }
    for component in repository.split('/') {
        if component.is_empty() {
            return bad("has an empty path component".into());
        }
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        if let Some(c) = component
            .chars()
            .find(|&c| !alnum(c) && !matches!(c, '.' | '_' | '-'))
        {
            return bad(format!(
                "contains {c:?}: only lowercase letters, digits and . _ - are allowed"
            ));
        }
        let starts_ends = component.starts_with(alnum) && component.ends_with(alnum);
        let separators_ok = component
            .split(alnum)
            .filter(|sep| !sep.is_empty())
            .all(|sep| sep == "." || sep == "_" || sep == "__" || sep.chars().all(|c| c == '-'));
        if !starts_ends || !separators_ok {
            return bad(format!("has a badly placed separator in {component:?}"));
        }
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`.
fn check_tag(input: &str, tag: &str) -> Result<()> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let valid = tag.len() <= 128
        && tag.starts_with(word)
        && tag.chars().all(|c| word(c) || c == '.' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(bad_reference(
            input,
            format!(
                "tag {tag:?} must be 1 to 128 letters, digits, _ . or - and not start with . or -"
            ),
        ))
    }
}

fn bad_reference(input: &str, message: String) -> Error {
    Error::BadReference {
        input: input.to_string(),
        message,
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn references_normalise_like_docker() {
        let cases = [
            ("ubuntu", "index.docker.io/library/ubuntu:latest"),
            (
                "docker.io/library/ubuntu:22.04",
                "index.docker.io/library/ubuntu:22.04",
            ),
            ("user/app", "index.docker.io/user/app:latest"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/a/b:v1", "localhost:5000/a/b:v1"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
            ("[::1]:5000/app:x", "[::1]:5000/app:x"),
            ("ghcr.io/o/r@DIGEST", "ghcr.io/o/r@DIGEST"),
            ("ghcr.io/o/r:v2@DIGEST", "ghcr.io/o/r:v2@DIGEST"),
            ("gcr.io/a__b/c-d.e_f", "gcr.io/a__b/c-d.e_f:latest"),
        ];
        for (input, want) in cases {
            let input = input.replace("DIGEST", DIGEST);
            let got: Reference = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.to_string(), want.replace("DIGEST", DIGEST), "{input}");
        }
    }

    #[test]
    fn invalid_references_say_which_part_is_wrong() {
        let cases = [
            ("", "is empty"),
            ("Ubuntu", "repository \"library/Ubuntu\" contains 'U'"),
            ("app:", "tag \"\""),
            ("app:-x", "tag \"-x\""),
            ("app@sha256:abc", "digest \"sha256:abc\""),
            ("host:port/app", "port \"port\""),
            ("bad_host.com/app", "registry \"bad_host.com\""),
            ("a.io/x//y", "empty path component"),
            ("a.io/x-/y", "badly placed separator"),
        ];
        for (input, want) in cases {
            let err = input.parse::<Reference>().unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }

    #[test]
    fn repository_names_are_a_registry_alone_or_a_path() {
        let cases = [
            ("127.0.0.1:5000", Ok(())),
            ("gcr.io", Ok(())),
            ("localhost", Ok(())),
            ("me", Ok(())),
            ("gcr.io/me/apps", Ok(())),
            ("127.0.0.1:5000/a/b", Ok(())),
            ("me/apps", Ok(())),
            ("", Err("is empty")),
            (
                "127.0.0.1:5000/Not_A_Valid/REPO!",
                Err("repository \"Not_A_Valid/REPO!\" contains 'N'"),
            ),
            ("gcr.io/me/", Err("empty path component")),
            ("bad_host.com/app", Err("registry \"bad_host.com\"")),
            ("host:port/app", Err("port \"port\"")),
            ("REPO!", Err("repository \"REPO!\" contains 'R'")),
            ("gcr.io/me:v1", Err("contains ':'")),
        ];
        for (input, want) in cases {
            match (check_repository_name(input), want) {
                (Ok(()), Ok(())) => {}
                (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{input:?}: {e}"),
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_identifier_prefers_the_digest() {
        let r: Reference = format!("a.io/b:t@{DIGEST}").parse().unwrap();
        assert_eq!(r.identifier(), DIGEST);
        let r: Reference = "a.io/b:t".parse().unwrap();
        assert_eq!(r.identifier(), "t");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Text shaped like references, mostly valid: hosts, ports, paths,
    /// tags and digests, with now and then a part that is wrong.
    fn reference_like() -> impl Strategy<Value = String> {
        let host = prop_oneof![
            3 => Just(String::new()),
            2 => prop::sample::select(vec![
                "docker.io/", "index.docker.io/", "registry-1.docker.io/", "localhost/",
                "localhost:5000/", "127.0.0.1:5000/", "[::1]:5000/", "Reg.Example:443/",
                "a-b.c/", "[zz]/", "-a.b/", "a.b:99999/",
            ])
            .prop_map(String::from),
            4 => "[a-zA-Z0-9]{1,6}(\\.[a-zA-Z0-9-]{1,6}){0,2}(:[0-9]{1,5})?/",
        ];
        let component = "[a-z0-9]{1,6}((\\.|_|__|-{1,2})[a-z0-9]{1,6}){0,2}";
        let path = (component, prop::collection::vec(component, 0..3)).prop_map(|(first, rest)| {
            std::iter::once(first)
                .chain(rest)
                .collect::<Vec<_>>()
                .join("/")
        });
        let tag = prop_oneof![
            3 => Just(String::new()),
            6 => ":[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}",
            1 => ":[^@]{0,5}",
        ];
        let digest = prop_oneof![
            6 => Just(String::new()),
            3 => "@sha256:[0-9a-f]{64}",
            1 => "@[a-z0-9]{0,8}:[0-9a-fA-F]{0,66}",
        ];
        (host, path, tag, digest).prop_map(|(h, p, t, d)| format!("{h}{p}{t}{d}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parsing_any_text_never_panics(input in "\\PC{0,100}") {
            let _ = input.parse::<Reference>();
        }

        #[test]
        fn parsing_reference_like_text_never_panics(input in "[a-zA-Z0-9.:/@_\\[\\]-]{0,60}") {
            let _ = input.parse::<Reference>();
        }

        #[test]
        fn a_parsed_reference_prints_as_text_that_parses_back_to_it(input in reference_like()) {
            if let Ok(parsed) = input.parse::<Reference>() {
                let printed = parsed.to_string();
                let reparsed = printed.parse::<Reference>();
                prop_assert_eq!(reparsed.ok(), Some(parsed), "{} printed as {}", input, printed);
            }
        }
    }
}
