//! Credentials, found the way docker finds them: a `credHelpers` entry for
//! the registry, then `credsStore`, then `auths` in docker's config.json;
//! then podman's auth files; then, for a registry none of them has anything
//! for, ko's built-in keychains (keychain.rs); then anonymous. Also
//! `login`/`logout`, which write the config.json docker writes.
//!
//! Helpers speak docker's credential-helper protocol: `docker-credential-NAME
//! get|store|erase`, the server URL or a JSON object on stdin, JSON on stdout.

use crate::error::{Error, IoContext, Result};
use crate::registry::keychain::Keychain;
use crate::registry::reference::DOCKER_HUB;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// A string that never shows itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What to present to a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    Basic {
        username: String,
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken` in config.json).
    IdentityToken(Secret),
}

/// Where credentials live; the command layer fills this from the environment.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    /// docker's config.json (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// podman's auth files, in the order to try them.
    pub podman_auth: Vec<PathBuf>,
    /// What the environment offers when none of the above has anything.
    pub keychain: Keychain,
    /// What each registry's lookup found, shared by the store's clones: a
    /// build pushing many images there starts its credential helper once.
    pub found: Arc<Mutex<HashMap<String, Credential>>>,
}

/// The key docker uses for a registry in `auths` and with helpers.
fn server_url(registry: &str) -> String {
    if registry == DOCKER_HUB {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

/// The host part of an `auths` key, which may be a URL.
fn key_host(key: &str) -> String {
    let without_scheme = key.split_once("://").map_or(key, |(_, rest)| rest);
    let host = without_scheme.split('/').next().unwrap_or("");
    match host {
        "docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}

impl CredentialStore {
    /// The credential to use for `registry` (`host[:port]`): what is
    /// configured for it, else what ko's keychains find, else anonymous.
    pub fn lookup(&self, registry: &str) -> Result<Credential> {
        // Held while looking: pushes at the same time wait for one lookup.
        let mut found = self.found();
        if let Some(credential) = found.get(registry) {
            return Ok(credential.clone());
        }
        let credential = match self.configured(registry)? {
            Some(credential) => credential,
            None => self
                .keychain
                .lookup(registry)
                .unwrap_or(Credential::Anonymous),
        };
        found.insert(registry.to_string(), credential.clone());
        Ok(credential)
    }

    fn found(&self) -> std::sync::MutexGuard<'_, HashMap<String, Credential>> {
        crate::parallel::lock(&self.found)
    }

    /// What docker's config.json and podman's auth files hold for `registry`.
    fn configured(&self, registry: &str) -> Result<Option<Credential>> {
        if let Some(path) = &self.docker_config {
            if let Some(config) = read_config(path)? {
                if let Some(helper) = helper_for(&config, registry) {
                    if let Some(credential) = ask_helper(helper_program(&helper), registry)? {
                        return Ok(Some(credential));
                    }
                }
                if let Some(credential) = from_auths(&config, registry, path)? {
                    return Ok(Some(credential));
                }
            }
        }
        for path in &self.podman_auth {
            if let Some(config) = read_config(path)? {
                if let Some(credential) = from_auths(&config, registry, path)? {
                    return Ok(Some(credential));
                }
            }
        }
        Ok(None)
    }

    /// Saves a username and password for `registry`, in the helper the
    /// config names for it or in `auths`, as `docker login` does.
    pub fn login(&self, registry: &str, username: &str, password: &Secret) -> Result<PathBuf> {
        self.found().remove(registry);
        let path = self.config_path()?;
        let mut config = read_config(&path)?.unwrap_or_else(|| json!({}));
        if let Some(helper) = helper_for(&config, registry) {
            let request = json!({"ServerURL": server_url(registry), "Username": username, "Secret": password.expose()});
            helper_update(&helper, "store", &request.to_string())?;
            return Ok(path);
        }
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{username}:{}", password.expose()));
        let auths = object_at(&mut config, "auths");
        auths.retain(|key, _| key_host(key) != registry);
        auths.insert(server_url(registry), json!({"auth": auth}));
        write_config(&path, &config)?;
        Ok(path)
    }

    /// Forgets the credentials for `registry`; false if there were none.
    pub fn logout(&self, registry: &str) -> Result<bool> {
        self.found().remove(registry);
        let path = self.config_path()?;
        let Some(mut config) = read_config(&path)? else {
            return Ok(false);
        };
        if let Some(helper) = helper_for(&config, registry) {
            helper_update(&helper, "erase", &server_url(registry))?;
        }
        let auths = object_at(&mut config, "auths");
        let before = auths.len();
        auths.retain(|key, _| key_host(key) != registry);
        let removed = auths.len() != before;
        if removed {
            write_config(&path, &config)?;
        }
        Ok(removed)
    }

    fn config_path(&self) -> Result<PathBuf> {
        self.docker_config
            .clone()
            .ok_or_else(|| Error::invalid("no docker config location: set DOCKER_CONFIG or HOME"))
    }
}

fn read_config(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(bytes) => crate::json::parse(&bytes, path, "credentials file").map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading", path, e)),
    }
}

/// docker writes config.json indented with tabs, readable by its owner
/// only, and through a symlink (a config.json kept with one's dotfiles).
fn write_config(path: &Path, config: &Value) -> Result<()> {
    let path = &through_symlinks(path)?;
    use serde::Serialize;
    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    config
        .serialize(&mut serializer)
        .expect("a JSON value always serializes");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_path("creating", dir)?;
    }
    let mut file = crate::atomic::AtomicFile::create(path)?;
    file.file().write_all(&bytes).with_path("writing", path)?;
    file.commit_with_mode(0o600)
}

/// The file `path` names once every symlink is followed (the path itself
/// when it is not one); a link to a file yet to be made counts too.
fn through_symlinks(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    // Linux's own limit on links in a path.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current).with_path("reading the link", &current)?;
                current = match current.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(Error::file(path, "too many levels of symbolic links"))
}

fn object_at<'a>(config: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !config.is_object() {
        *config = json!({});
    }
    let slot = config
        .as_object_mut()
        .expect("made an object above")
        .entry(key)
        .or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut().expect("made an object above")
}

fn helper_for(config: &Value, registry: &str) -> Option<String> {
    let by_registry = config["credHelpers"]
        .as_object()
        .and_then(|helpers| helpers.iter().find(|(key, _)| key_host(key) == registry))
        .and_then(|(_, name)| name.as_str());
    by_registry
        .or_else(|| config["credsStore"].as_str())
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

fn from_auths(config: &Value, registry: &str, path: &Path) -> Result<Option<Credential>> {
    let Some(auths) = config["auths"].as_object() else {
        return Ok(None);
    };
    let Some((_, entry)) = auths.iter().find(|(key, _)| key_host(key) == registry) else {
        return Ok(None);
    };
    if let Some(token) = entry["identitytoken"].as_str().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(Secret::new(token))));
    }
    if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
        let bad = || {
            Error::file(
                path,
                format!("the auth entry for {registry} is not base64 of USER:PASSWORD"),
            )
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credential::Basic {
            username: username.to_string(),
            password: Secret::new(password),
        }));
    }
    if let (Some(username), Some(password)) =
        (entry["username"].as_str(), entry["password"].as_str())
    {
        return Ok(Some(Credential::Basic {
            username: username.to_string(),
            password: Secret::new(password),
        }));
    }
    Ok(None)
}

/// The program docker runs for the helper named `helper` in config.json.
fn helper_program(helper: &str) -> String {
    format!("docker-credential-{helper}")
}

/// Runs the credential helper `program ACTION` with `input` on stdin.
fn run_helper(program: &OsStr, action: &str, input: &str) -> Result<std::process::Output> {
    Command::new(program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .expect("stdin is piped")
                .write_all(input.as_bytes())?;
            child.wait_with_output()
        })
        .map_err(|e| {
            Error::tool(
                program.to_string_lossy(),
                format!("cannot run the credential helper: {e}"),
            )
        })
}

/// Asks the credential helper `program`; `None` when it has nothing for
/// this registry.
pub(crate) fn ask_helper(program: impl AsRef<OsStr>, registry: &str) -> Result<Option<Credential>> {
    let program = program.as_ref();
    let output = run_helper(program, "get", &server_url(registry))?;
    let program = program.to_string_lossy();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        // A helper's stderr may echo what it was given; show only its exit status.
        return Err(Error::invalid(format!(
            "credential helper {program} failed for {registry} ({})",
            output.status
        )));
    }
    let reply: Value = serde_json::from_str(&stdout).map_err(|_| {
        Error::invalid(format!(
            "credential helper {program} did not answer with JSON"
        ))
    })?;
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

/// Runs a helper's `store` or `erase`, which answer only with their status.
fn helper_update(helper: &str, action: &str, input: &str) -> Result<()> {
    let output = run_helper(OsStr::new(&helper_program(helper)), action, input)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "credential helper docker-credential-{helper} {action} failed ({})",
            output.status
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(config: Value) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let store = CredentialStore {
            docker_config: Some(path),
            ..CredentialStore::default()
        };
        (dir, store)
    }

    #[test]
    fn auths_entries_match_however_the_key_is_written() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let (_dir, store) = store_with(json!({"auths": {
            "https://index.docker.io/v1/": {"auth": b64("hub:pw")},
            "https://ghcr.io": {"identitytoken": "tok"},
            "localhost:5000": {"auth": b64("me:se:cret")},
        }}));
        let basic = |u: &str, p: &str| Credential::Basic {
            username: u.into(),
            password: Secret::new(p),
        };
        assert_eq!(store.lookup(DOCKER_HUB).unwrap(), basic("hub", "pw"));
        assert_eq!(
            store.lookup("ghcr.io").unwrap(),
            Credential::IdentityToken(Secret::new("tok"))
        );
        assert_eq!(
            store.lookup("localhost:5000").unwrap(),
            basic("me", "se:cret")
        );
        assert_eq!(store.lookup("quay.io").unwrap(), Credential::Anonymous);
    }

    // ko: pkg/commands/config.go chains authn.DefaultKeychain (docker's
    // config) with github.Keychain (go-containerregistry
    // pkg/authn/github/keychain.go); authn.NewMultiKeychain takes the first
    // that is not Anonymous. What is configured for a host wins.
    #[test]
    fn github_token_answers_for_ghcr_io_only_when_nothing_is_configured() {
        use crate::registry::keychain::GitHubToken;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let github = Credential::Basic {
            username: "octocat".into(),
            password: Secret::new("ghs_token"),
        };
        let saved = Credential::Basic {
            username: "me".into(),
            password: Secret::new("pw"),
        };
        for (config, want) in [
            (json!({}), &github),
            // docker writes an empty entry when the password is in a store.
            (json!({"auths": {"ghcr.io": {}}}), &github),
            (
                json!({"auths": {"other.io": {"auth": b64("me:pw")}}}),
                &github,
            ),
            (
                json!({"auths": {"https://ghcr.io": {"auth": b64("me:pw")}}}),
                &saved,
            ),
        ] {
            let (_dir, mut store) = store_with(config.clone());
            store.keychain.github = Some(GitHubToken {
                token: Secret::new("ghs_token"),
                actor: Some("octocat".into()),
            });
            assert_eq!(&store.lookup("ghcr.io").unwrap(), want, "{config}");
            assert_eq!(
                store.lookup("quay.io").unwrap(),
                Credential::Anonymous,
                "{config}"
            );
        }
    }

    #[test]
    fn login_writes_through_a_symlink_to_the_file_it_names() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/config.json");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        let link = dir.path().join("docker/config.json");
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        // A dangling link: the file it names is made by the login.
        std::os::unix::fs::symlink("../dotfiles/config.json", &link).unwrap();
        let store = CredentialStore {
            docker_config: Some(link.clone()),
            ..CredentialStore::default()
        };
        store.login("reg.io", "me", &Secret::new("pw")).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let mode = std::fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            store.lookup("reg.io").unwrap(),
            Credential::Basic { .. }
        ));
    }

    #[test]
    fn secrets_never_print() {
        let credential = Credential::Basic {
            username: "me".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{credential:?}").contains("hunter2"));
        assert_eq!(Secret::new("hunter2").to_string(), "<redacted>");
    }

    #[test]
    fn login_then_logout_round_trips_and_keeps_other_settings() {
        let (_dir, store) = store_with(json!({"psFormat": "table", "auths": {}}));
        store
            .login("localhost:5000", "me", &Secret::new("pw"))
            .unwrap();
        let path = store.docker_config.clone().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\t\"auths\""),
            "tab-indented like docker: {text}"
        );
        assert!(text.contains("psFormat"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(
            store.lookup("localhost:5000").unwrap(),
            Credential::Basic { .. }
        ));
        assert!(store.logout("localhost:5000").unwrap());
        assert_eq!(
            store.lookup("localhost:5000").unwrap(),
            Credential::Anonymous
        );
        assert!(!store.logout("localhost:5000").unwrap());
    }
}
