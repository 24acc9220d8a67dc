//! Credentials, found the way docker finds them: a `credHelpers` entry for
//! the registry, then `credsStore`, then `auths` in docker's config.json;
//! then podman's auth files; then, for a registry none of them has anything
//! for, ko's built-in keychains (keychain.rs); then anonymous. Also
//! `login`/`logout`, which write the config.json docker writes.
//!
//! Helpers speak docker's credential-helper protocol: `docker-credential-NAME
//! get|store|erase`, the server URL or a JSON object on stdin, JSON on stdout.

use crate::error::{Error, Result};
use crate::helper_process::{self, HelperLimits};
use crate::registry::credential::{Credential, Secret};
use crate::registry::credential_helper::{ask_helper, helper_error, helper_program, server_url};
use crate::registry::docker_config::{self, ConfigFile};
use crate::registry::keychain::Keychain;
use crate::registry::reference::DOCKER_HUB;
use base64::Engine as _;
use serde_json::json;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where credentials live; the command layer fills this from the environment.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    /// docker's config.json (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`).
    pub docker_config: Option<PathBuf>,
    /// podman's auth files, in the order to try them.
    pub podman_auth: Vec<PathBuf>,
    /// What the environment offers when none of the above has anything.
    pub keychain: Keychain,
    /// How long and how much a credential helper may take.
    pub helper_limits: HelperLimits,
    /// What each registry's lookup found, shared by the store's clones: a
    /// build pushing many images there starts its credential helper once.
    pub found: Arc<Mutex<HashMap<String, Credential>>>,
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
    /// This store, its credential helpers given `timeout` (the network
    /// timeout) to answer.
    pub fn with_helper_timeout(mut self, timeout: Duration) -> Self {
        self.helper_limits.timeout = timeout;
        self
    }

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
                .lookup(registry, self.helper_limits)
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
            if let Some(config) = ConfigFile::read_for_lookup(path)? {
                if let Some(helper) = helper_for(&config, registry)? {
                    let program = helper_program(&helper);
                    if let Some(credential) = ask_helper(program, registry, self.helper_limits)? {
                        return Ok(Some(credential));
                    }
                }
                if let Some(credential) = from_auths(&config, registry, path)? {
                    return Ok(Some(credential));
                }
            }
        }
        for path in &self.podman_auth {
            if let Some(config) = ConfigFile::read_for_lookup(path)? {
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
        let config = ConfigFile::read(&path)?;
        if let Some(helper) = config
            .as_ref()
            .map(|c| helper_for(c, registry))
            .transpose()?
            .flatten()
        {
            let request = json!({"ServerURL": server_url(registry), "Username": username, "Secret": password.expose()});
            self.helper_update(&helper, "store", registry, &request.to_string())?;
            return Ok(path);
        }
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{username}:{}", password.expose()));
        docker_config::update(&path, self.helper_limits.timeout, |config| {
            let mut auths = config.auths()?;
            auths.0.retain(|(key, _)| key_host(key) != registry);
            auths
                .0
                .push((server_url(registry), docker_config::auth_entry(&auth)));
            config.set_auths(&auths);
            Ok(true)
        })?;
        Ok(path)
    }

    /// Forgets the credentials for `registry`; false if there were none.
    pub fn logout(&self, registry: &str) -> Result<bool> {
        self.found().remove(registry);
        let path = self.config_path()?;
        let Some(config) = ConfigFile::read(&path)? else {
            return Ok(false);
        };
        if let Some(helper) = helper_for(&config, registry)? {
            self.helper_update(&helper, "erase", registry, &server_url(registry))?;
        }
        docker_config::update(&path, self.helper_limits.timeout, |config| {
            let mut auths = config.auths()?;
            let before = auths.0.len();
            auths.0.retain(|(key, _)| key_host(key) != registry);
            if auths.0.len() == before {
                return Ok(false);
            }
            config.set_auths(&auths);
            Ok(true)
        })
    }

    fn config_path(&self) -> Result<PathBuf> {
        self.docker_config
            .clone()
            .ok_or_else(|| Error::invalid("no docker config location: set DOCKER_CONFIG or HOME"))
    }

    /// Runs a helper's `store` or `erase`, which answer only with their status.
    fn helper_update(&self, helper: &str, action: &str, registry: &str, input: &str) -> Result<()> {
        let program = helper_program(helper);
        let finished = helper_process::run(
            OsStr::new(&program),
            &[action],
            input.as_bytes(),
            self.helper_limits,
        )
        .map_err(|failure| helper_error(&program, action, registry, failure))?;
        if finished.status.success() {
            return Ok(());
        }
        // What it was given holds the password, which its stderr may echo:
        // only its exit status is shown.
        Err(helper_error(
            &program,
            action,
            registry,
            format!("it failed ({})", finished.status),
        ))
    }
}

/// The helper config.json names for `registry`: its `credHelpers` entry,
/// else `credsStore`.
fn helper_for(config: &ConfigFile, registry: &str) -> Result<Option<String>> {
    let helpers = config.value("credHelpers")?;
    let by_registry = helpers
        .as_object()
        .and_then(|helpers| helpers.iter().find(|(key, _)| key_host(key) == registry))
        .and_then(|(_, name)| name.as_str());
    let store = config.value("credsStore")?;
    Ok(by_registry
        .or_else(|| store.as_str())
        .filter(|name| !name.is_empty())
        .map(str::to_string))
}

fn from_auths(config: &ConfigFile, registry: &str, path: &Path) -> Result<Option<Credential>> {
    let auths = config.value("auths")?;
    let Some(auths) = auths.as_object() else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

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
    fn login_then_logout_round_trips_keeps_other_settings_and_narrows_the_mode_to_0600() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, store) = store_with(json!({"psFormat": "table", "auths": {}}));
        let path = store.docker_config.clone().unwrap();
        // docker's own rewrite keeps a wider mode; rko, writing a
        // credential into it, leaves it readable by its owner alone.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        store
            .login("localhost:5000", "me", &Secret::new("pw"))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("\t\"auths\""),
            "tab-indented like docker: {text}"
        );
        assert!(text.contains("psFormat"));
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
