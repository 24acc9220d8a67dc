//! `WWW-Authenticate` challenges (RFC 7235 section 4.1), as registries send
//! them: `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"`.

use std::collections::BTreeMap;

/// One challenge: its scheme (lowercased) and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses a header value holding one challenge (the first, if several).
pub fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = match header.split_once(char::is_whitespace) {
        Some((scheme, rest)) => (scheme, rest),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if name.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quoted_and_bare_values() {
        let c = parse(r#"Bearer realm="https://auth.io/token",service="reg.io",scope="repository:a/b:pull,push""#).unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.io/token"));
        assert_eq!(c.param("service"), Some("reg.io"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        let c = parse(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(
            (c.scheme.as_str(), c.param("realm")),
            ("basic", Some("Registry Realm"))
        );
        let c = parse("Bearer realm=http://x/t, service=y").unwrap();
        assert_eq!(c.param("realm"), Some("http://x/t"));
        assert_eq!(c.param("service"), Some("y"));
        assert!(parse("").is_none());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A parameter value quoted as RFC 7230's quoted-string: `"` and `\` escaped.
    fn quoted(value: &str) -> String {
        let mut out = String::from("\"");
        for c in value.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn parsing_any_header_never_panics(header in "\\PC{0,120}") {
            let _ = parse(&header);
        }

        #[test]
        fn parsing_challenge_like_headers_never_panics(
            header in "(Bearer|Basic|[a-z]{0,6})[ ,]{0,2}([a-z]{0,6}=?(\"[^\"]{0,10}\"?|[^,]{0,10}),?[ ]?){0,5}",
        ) {
            let _ = parse(&header);
        }

        #[test]
        fn a_rendered_challenge_parses_back_to_its_parameters(
            scheme in "[A-Za-z]{1,10}",
            params in prop::collection::btree_map("[a-z]{1,8}", "[!-~]([ -~]{0,30}[!-~])?", 0..5),
        ) {
            let rendered: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", quoted(v))).collect();
            let header = format!("{scheme} {}", rendered.join(","));
            let parsed = parse(&header).expect("a challenge with a scheme parses");
            prop_assert_eq!(parsed.scheme, scheme.to_ascii_lowercase());
            prop_assert_eq!(parsed.params, params, "{}", header);
        }
    }
}
