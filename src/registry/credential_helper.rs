//! docker's credential helper protocol (`docker-credential-NAME get`,
//! `store`, `erase`): which program, what it is asked, what its answer
//! means, and its failures in words naming the helper and the registry.

use super::credential::{Credential, Secret};
use super::reference::DOCKER_HUB;
use crate::error::{Error, Result};
use crate::helper_process::{self, HelperLimits};
use serde_json::Value;
use std::ffi::OsStr;
use std::fmt;

/// The key docker uses for a registry in `auths` and with helpers.
pub(crate) fn server_url(registry: &str) -> String {
    if registry == DOCKER_HUB {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

/// The program docker runs for the helper named `helper` in config.json.
pub(crate) fn helper_program(helper: &str) -> String {
    format!("docker-credential-{helper}")
}

/// A helper's failure, naming the helper, what it was asked and for which registry.
pub(crate) fn helper_error(
    program: &str,
    action: &str,
    registry: &str,
    why: impl fmt::Display,
) -> Error {
    Error::tool(
        format!("{program} {action}"),
        format!("credential helper for {registry}: {why}"),
    )
}

/// The first line of what a helper wrote on stderr, made safe to print
/// and cut to a line's length: `: LINE`, or nothing when it wrote nothing.
fn complaint(stderr: &[u8]) -> String {
    const LONGEST: usize = 200;
    let text = String::from_utf8_lossy(stderr);
    let Some(line) = text.lines().map(str::trim).find(|line| !line.is_empty()) else {
        return String::new();
    };
    let mut line: String = line.chars().take(LONGEST).collect();
    if line.len() < text.trim().len() {
        line.push_str(" …");
    }
    format!(": {}", crate::untrusted::escape(&line))
}

/// Asks the credential helper `program` within `limits`; `None` when it
/// has nothing for this registry.
pub(crate) fn ask_helper(
    program: impl AsRef<OsStr>,
    registry: &str,
    limits: HelperLimits,
) -> Result<Option<Credential>> {
    let program = program.as_ref();
    let input = server_url(registry);
    let name = program.to_string_lossy();
    let output = helper_process::run(program, &["get"], input.as_bytes(), limits)
        .map_err(|failure| helper_error(&name, "get", registry, failure))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        let why = format!("it failed ({}){}", output.status, complaint(&output.stderr));
        return Err(helper_error(&name, "get", registry, why));
    }
    let reply: Value = serde_json::from_str(&stdout)
        .map_err(|_| helper_error(&name, "get", registry, "it did not answer with JSON"))?;
    let username = reply["Username"].as_str().unwrap_or_default();
    let secret = reply["Secret"].as_str().unwrap_or_default();
    Ok(match (username, secret) {
        (_, "") => None,
        ("<token>", token) => Some(Credential::IdentityToken(Secret::new(token))),
        (username, password) => Some(Credential::Basic {
            username: username.to_string(),
            password: Secret::new(password),
        }),
    })
}
