//! Headers for a cache from a credential helper, as Bazel's
//! `--credential_helper` gets them (the credential helper spec, EngFlow's
//! credential-helper-spec): `HELPER get` with `{"uri": "https://HOST:PORT"}`
//! on its stdin answers `{"headers": {"NAME": ["VALUE", ...]}}`. The helper
//! runs bounded in time and output, like docker's credential helpers.

use crate::cas::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::helper_process::{self, HelperLimits};
use std::collections::BTreeMap;
use std::path::Path;

/// The headers `helper` gives for calls to `endpoint`.
pub fn headers(helper: &Path, endpoint: &Endpoint) -> Result<Vec<(String, String)>> {
    let uri = format!(
        "{}://{}",
        if endpoint.tls { "https" } else { "http" },
        endpoint.authority()
    );
    let input = serde_json::json!({ "uri": uri }).to_string();
    let fail = |why: String| {
        Error::invalid(format!(
            "--remote-credential-helper {}: for {uri}: {why}",
            helper.display()
        ))
    };
    let finished = helper_process::run(
        helper.as_os_str(),
        &["get"],
        input.as_bytes(),
        HelperLimits::default(),
    )
    .map_err(|e| fail(e.to_string()))?;
    if !finished.status.success() {
        let said = String::from_utf8_lossy(&finished.stderr);
        return Err(fail(format!(
            "it failed ({}): {}",
            finished.status,
            crate::untrusted::escape(said.trim())
        )));
    }
    parse(&finished.stdout).map_err(fail)
}

/// The headers of a helper's answer, in name order.
fn parse(answer: &[u8]) -> std::result::Result<Vec<(String, String)>, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        headers: BTreeMap<String, Vec<String>>,
    }
    let answer: Answer = serde_json::from_slice(answer)
        .map_err(|e| format!("its answer is not the spec's JSON: {e}"))?;
    Ok(answer
        .headers
        .into_iter()
        .flat_map(|(name, values)| values.into_iter().map(move |v| (name.clone(), v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_gives_each_value_of_each_header_and_nothing_else() {
        let answer = br#"{"headers":{"x-b":["2","3"],"authorization":["Bearer t"]},"expires":"2026-12-07T00:00:00Z"}"#;
        assert_eq!(
            parse(answer).unwrap(),
            vec![
                ("authorization".to_string(), "Bearer t".to_string()),
                ("x-b".to_string(), "2".to_string()),
                ("x-b".to_string(), "3".to_string()),
            ]
        );
        assert_eq!(parse(b"{}").unwrap(), vec![]);
        assert!(parse(b"user:password").unwrap_err().contains("spec's JSON"));
    }
}
