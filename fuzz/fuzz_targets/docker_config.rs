//! docker's `config.json` (and podman's `auth.json`), as the user or a tool
//! left it: looking a registry up gives a credential or an error, never a
//! panic; where no credential helper is named (none is run here), a
//! `login` reads back as the credential saved, and a `logout` forgets it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rko::{Credential, CredentialStore, Secret};

const REGISTRIES: [&str; 4] = ["index.docker.io", "ghcr.io", "localhost:5000", "[::1]:5000"];

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, data).unwrap();

    // podman's auth files are read for `auths` only: no helper is ever run.
    let podman = CredentialStore {
        podman_auth: vec![path.clone()],
        ..CredentialStore::default()
    };
    for registry in REGISTRIES {
        let _ = podman.lookup(registry);
    }

    let names_helper = serde_json::from_slice::<serde_json::Value>(data)
        .map(|v| !v["credHelpers"].is_null() || !v["credsStore"].is_null())
        .unwrap_or(false);
    if names_helper {
        return;
    }
    let docker = CredentialStore {
        docker_config: Some(path),
        ..CredentialStore::default()
    };
    for registry in REGISTRIES {
        let _ = docker.lookup(registry);
    }
    let registry = REGISTRIES[data.len() % REGISTRIES.len()];
    let password = Secret::new("pa:ss word");
    if docker.login(registry, "user", &password).is_err() {
        return;
    }
    let saved = Credential::Basic {
        username: "user".into(),
        password,
    };
    assert_eq!(docker.lookup(registry).unwrap(), saved, "{registry}");
    assert!(docker.logout(registry).unwrap(), "{registry}");
    assert_eq!(
        docker.lookup(registry).unwrap(),
        Credential::Anonymous,
        "{registry}"
    );
});
