//! What a registry's answer means: its error envelope
//! (`{"errors":[{code,message,detail}]}`) turned into an [`Error`], and which
//! failures are worth trying again (408, 429, 5xx, a broken connection,
//! `Retry-After`).

use crate::error::Error;
use std::time::Duration;

pub type Response = ureq::http::Response<ureq::Body>;

/// 408, 429 and 5xx: worth trying again.
pub fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// Failures of the connection rather than of the request: worth trying again.
pub fn transient(error: &ureq::Error) -> bool {
    matches!(
        error,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

/// `Retry-After` in seconds (the HTTP-date form is treated as absent).
pub fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The registry's error envelope, or its status line when there is none;
/// the registry's words escaped, as anything a remote party wrote.
pub fn registry_error(what: &str, response: Response) -> Error {
    let status = response.status();
    let retry_after = retry_after(&response);
    let mut body = response.into_body();
    let text = body
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            let errors = v["errors"].as_array()?.clone();
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = e["code"].as_str().unwrap_or("");
                    let message = e["message"].as_str().unwrap_or("");
                    match e.get("detail").filter(|d| !d.is_null()) {
                        Some(detail) => format!("{code}: {message} ({detail})"),
                        None => format!("{code}: {message}"),
                    }
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
    Error::Registry {
        what: what.to_string(),
        status: status.as_u16(),
        message: crate::untrusted::escape(&message),
        retry_after,
    }
}
