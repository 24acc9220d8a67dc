//! `WWW-Authenticate` challenges as a registry sends them: any header gives
//! a challenge or none, and a challenge written back as RFC 7235 would
//! write it (each value a quoted-string) parses to the same challenge.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rko::fuzzing::parse_challenge;

fuzz_target!(|header: &str| {
    let Some(challenge) = parse_challenge(header) else {
        return;
    };
    assert!(!challenge.scheme.is_empty(), "{header:?}");
    let quoted = |value: &str| {
        let mut out = String::from("\"");
        for c in value.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    };
    let params: Vec<String> = challenge
        .params
        .iter()
        .map(|(name, value)| format!("{name}={}", quoted(value)))
        .collect();
    let written = format!("{} {}", challenge.scheme, params.join(", "));
    let again = parse_challenge(&written)
        .unwrap_or_else(|| panic!("{header:?} written as {written:?} is no challenge"));
    assert_eq!(again, challenge, "{header:?} written as {written:?}");
});
