//! Registry flags shared by pull, push and login, and by the porcelain
//! (build, resolve, apply, create, run, whose `--insecure-registry` is
//! ko's boolean); and the environment variables docker and podman users
//! expect: `DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`,
//! `SSL_CERT_FILE`; the proxy variables Go's net/http reads
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, `REQUEST_METHOD`); what ko's
//! keychains read (`GITHUB_TOKEN`, `GITHUB_ACTOR`, `GCE_METADATA_HOST`, the
//! cloud credential helpers on `PATH`); and rko's own `RKO_NETWORK_TIMEOUT`,
//! `RKO_LOW_SPEED_LIMIT` and `RKO_LOW_SPEED_TIME`.

use rko::{CloudHelpers, CredentialStore, Error, GceMetadata, GitHubToken, Keychain};
use rko::{Proxies, ProxyEnv};
use rko::{RateFloor, RegistryOptions, Result, RetryPolicy, Secret};
use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The registry flags of pull, push and login.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Allow plain HTTP and unverified TLS for this registry (HOST[:PORT]);
    /// loopback registries get HTTP without it.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure: Vec<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// The registry flags of the porcelain.
#[derive(Debug, Clone, clap::Args)]
pub struct PorcelainRegistryArgs {
    /// Allow plain HTTP and unverified TLS for KO_DOCKER_REPO's registry and
    /// the base images' (ko's boolean; `=false` to turn it off);
    /// `--insecure-registry=HOST[:PORT]` names one more registry.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST[:PORT]",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    insecure: Vec<String>,
    #[command(flatten)]
    connection: ConnectionArgs,
}

/// How rko reaches registries: CAs and timeouts.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// Trust the CA certificates in this PEM file too.
    #[arg(long = "ca-cert", value_name = "PEM")]
    ca_certs: Vec<PathBuf>,
    /// Docker's per-registry CA directory: HOST[:PORT]/*.crt.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/etc/docker/certs.d",
        hide = true
    )]
    certs_dir: PathBuf,
    /// Seconds a connection may stay silent (no byte read or written)
    /// before rko gives up on it, then retries.
    #[arg(
        long = "network-timeout",
        env = "RKO_NETWORK_TIMEOUT",
        value_name = "SECONDS",
        value_parser = seconds,
        default_value = "30"
    )]
    network_timeout: Duration,
    /// The slowest a body may come or go, in bytes per second averaged over
    /// --low-speed-time, before rko gives up on it, then retries (as curl's
    /// --speed-limit); 0 turns the floor off.
    #[arg(
        long = "low-speed-limit",
        env = "RKO_LOW_SPEED_LIMIT",
        value_name = "BYTES_PER_SECOND",
        default_value = "1024"
    )]
    low_speed_limit: u64,
    /// Seconds over which --low-speed-limit is averaged.
    #[arg(
        long = "low-speed-time",
        env = "RKO_LOW_SPEED_TIME",
        value_name = "SECONDS",
        value_parser = seconds,
        default_value = "30"
    )]
    low_speed_time: Duration,
}

fn seconds(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{value:?} is not a number of seconds between 0 and 86400 \
             (--network-timeout, RKO_NETWORK_TIMEOUT, --low-speed-time, RKO_LOW_SPEED_TIME)"
        )),
    }
}

impl RegistryArgs {
    pub fn options(&self) -> RegistryOptions {
        self.connection.options(self.insecure.clone())
    }
}

impl PorcelainRegistryArgs {
    /// ko's `--insecure-registry`: the last boolean given (as pflag keeps
    /// it), false when none is.
    pub fn insecure(&self) -> Result<bool> {
        Ok(self
            .values()?
            .into_iter()
            .rev()
            .find_map(|value| match value {
                Insecure::Flag(on) => Some(on),
                Insecure::Host(_) => None,
            })
            .unwrap_or(false))
    }

    /// The registry options, with the registries named by
    /// `--insecure-registry=HOST` insecure; the porcelain adds those its
    /// boolean opens.
    pub fn options(&self) -> Result<RegistryOptions> {
        let hosts = self
            .values()?
            .into_iter()
            .filter_map(|value| match value {
                Insecure::Host(host) => Some(host),
                Insecure::Flag(_) => None,
            })
            .collect();
        Ok(self.connection.options(hosts))
    }

    fn values(&self) -> Result<Vec<Insecure>> {
        self.insecure.iter().map(|v| insecure_value(v)).collect()
    }
}

/// One `--insecure-registry` of the porcelain.
#[derive(Debug, PartialEq, Eq)]
enum Insecure {
    Flag(bool),
    Host(String),
}

/// A Go boolean (as pflag's `BoolVar` parses it), else a registry.
fn insecure_value(value: &str) -> Result<Insecure> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Insecure::Flag(true)),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Insecure::Flag(false)),
        host if !host.is_empty() && !host.contains('/') => Ok(Insecure::Host(host.to_string())),
        other => Err(Error::invalid(format!(
            "--insecure-registry={other:?}: expected true, false or a registry HOST[:PORT]"
        ))),
    }
}

impl ConnectionArgs {
    fn options(&self, insecure: Vec<String>) -> RegistryOptions {
        let (ssl_cert_file, warning) = ssl_cert_file(env::var_os("SSL_CERT_FILE"), |file| {
            file.try_exists().unwrap_or(true)
        });
        if let Some(warning) = warning {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| log::warn!("{warning}"));
        }
        let mut ca_files: Vec<PathBuf> = ssl_cert_file.into_iter().collect();
        ca_files.extend(self.ca_certs.iter().cloned());
        RegistryOptions {
            insecure,
            system_ca_files: system_ca_bundle().into_iter().collect(),
            ca_files,
            certs_dir: Some(self.certs_dir.clone()),
            credentials: credential_store().with_helper_timeout(self.network_timeout),
            retry: RetryPolicy::default(),
            idle_timeout: self.network_timeout,
            rate_floor: RateFloor {
                bytes_per_second: self.low_speed_limit,
                window: self.low_speed_time,
            },
            sessions: Default::default(),
            proxies: Proxies::new(&proxy_env()),
        }
    }
}

/// The CA file `SSL_CERT_FILE` (its value, if set) adds, as Go's
/// crypto/x509 (root_unix.go) takes it: unset or empty adds none; a file
/// that `exists` says is not there adds none either, with a warning to
/// print, and the system's store is used as ever.
fn ssl_cert_file(
    value: Option<OsString>,
    exists: impl Fn(&Path) -> bool,
) -> (Option<PathBuf>, Option<String>) {
    let Some(file) = value.filter(|v| !v.is_empty()).map(PathBuf::from) else {
        return (None, None);
    };
    if exists(&file) {
        return (Some(file), None);
    }
    let warning = format!(
        "SSL_CERT_FILE names {}, which does not exist: ignored, using the system's CA certificates",
        file.display()
    );
    (None, Some(warning))
}

/// The proxy variables as Go's `httpproxy.FromEnvironment` reads them:
/// the upper-case name first, then the lower-case one; empty is unset.
fn proxy_env() -> ProxyEnv {
    let first = |names: [&str; 2]| {
        names.iter().find_map(|name| {
            env::var(name)
                .ok()
                .filter(|value| !value.is_empty())
                .map(|value| (name.to_string(), value))
        })
    };
    ProxyEnv {
        http_proxy: first(["HTTP_PROXY", "http_proxy"]),
        https_proxy: first(["HTTPS_PROXY", "https_proxy"]),
        no_proxy: first(["NO_PROXY", "no_proxy"])
            .map(|(_, value)| value)
            .unwrap_or_default(),
        cgi: env::var_os("REQUEST_METHOD").is_some_and(|v| !v.is_empty()),
    }
}

/// The system's CA bundle, where Go's crypto/x509 looks for it on Linux.
fn system_ca_bundle() -> Option<PathBuf> {
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/pki/tls/cacert.pem",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|path| path.is_file())
}

/// Where docker and podman keep credentials, in the order docker's tools look.
pub fn credential_store() -> CredentialStore {
    let docker_config = env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))
        .map(|dir| dir.join("config.json"));
    let mut podman_auth = Vec::new();
    if let Some(file) = env::var_os("REGISTRY_AUTH_FILE") {
        podman_auth.push(PathBuf::from(file));
    }
    if let Some(dir) = env::var_os("XDG_RUNTIME_DIR") {
        podman_auth.push(PathBuf::from(dir).join("containers/auth.json"));
    }
    CredentialStore {
        docker_config,
        podman_auth,
        keychain: keychain(),
        ..CredentialStore::default()
    }
}

/// What ko's built-in keychains take from the environment.
fn keychain() -> Keychain {
    let github = env::var("GITHUB_TOKEN")
        .ok()
        .filter(|token| !token.is_empty())
        .map(|token| GitHubToken {
            token: Secret::new(token),
            actor: env::var("GITHUB_ACTOR").ok().filter(|a| !a.is_empty()),
        });
    let path = env::var_os("PATH").unwrap_or_default();
    let on_path = |name: &str| find_program(&path, &format!("docker-credential-{name}"));
    let metadata_host = env::var("GCE_METADATA_HOST")
        .ok()
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| rko::GCE_METADATA_HOST.to_string());
    Keychain {
        github,
        helpers: CloudHelpers {
            ecr_login: on_path("ecr-login"),
            gcr: on_path("gcr"),
            acr_env: on_path("acr-env"),
        },
        gce_metadata: Some(GceMetadata::new(metadata_host)),
    }
}

/// The executable `name` in the first directory of `path` (a `PATH`
/// value) that has one, as a shell finds it.
fn find_program(path: &OsString, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |file: &Path| {
        std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    env::split_paths(path)
        // An empty entry is the current directory, which a credential
        // helper is never taken from.
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|file| executable(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// clap's defaults are written as text; they must be the library's.
    #[test]
    fn the_connection_defaults_are_the_librarys() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            connection: ConnectionArgs,
        }
        let cli = Cli::try_parse_from(["rko"]).unwrap();
        let (library, floor) = (RegistryOptions::default(), RateFloor::default());
        if env::var_os("RKO_NETWORK_TIMEOUT").is_none() {
            assert_eq!(cli.connection.network_timeout, library.idle_timeout);
        }
        if env::var_os("RKO_LOW_SPEED_LIMIT").is_none() {
            assert_eq!(cli.connection.low_speed_limit, floor.bytes_per_second);
        }
        if env::var_os("RKO_LOW_SPEED_TIME").is_none() {
            assert_eq!(cli.connection.low_speed_time, floor.window);
        }
    }

    #[test]
    fn cloud_helpers_are_found_on_path_as_a_shell_finds_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let make = |sub: &str, mode: u32| {
            let file = dir.path().join(sub).join("docker-credential-ecr-login");
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            file
        };
        let (plain, first, second) = (make("plain", 0o644), make("a", 0o755), make("b", 0o755));
        let path = |dirs: &[&Path]| env::join_paths(dirs).unwrap();
        let dir_of = |file: &Path| file.parent().unwrap().to_path_buf();
        for (dirs, want) in [
            (vec![dir_of(&first), dir_of(&second)], Some(first.clone())),
            (vec![dir_of(&plain), dir_of(&second)], Some(second.clone())),
            (vec![dir_of(&plain)], None),
            (vec![PathBuf::from("relative"), PathBuf::new()], None),
        ] {
            let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
            assert_eq!(
                find_program(&path(&dirs), "docker-credential-ecr-login"),
                want
            );
        }
    }

    #[test]
    fn ssl_cert_file_adds_a_file_that_exists_and_warns_of_one_that_does_not() {
        let there = |file: &Path| file == Path::new("/etc/ca.pem");
        let warning = "SSL_CERT_FILE names /gone.pem, which does not exist: ignored, \
                       using the system's CA certificates";
        for (value, want) in [
            (None, (None, None)),
            (Some(""), (None, None)),
            (
                Some("/etc/ca.pem"),
                (Some(PathBuf::from("/etc/ca.pem")), None),
            ),
            (Some("/gone.pem"), (None, Some(warning.to_string()))),
        ] {
            assert_eq!(
                ssl_cert_file(value.map(OsString::from), there),
                want,
                "{value:?}"
            );
        }
    }

    #[test]
    fn the_porcelains_insecure_registry_is_a_go_boolean_or_a_host() {
        let host = |h: &str| -> std::result::Result<Insecure, String> {
            Ok(Insecure::Host(h.to_string()))
        };
        for (value, want) in [
            ("true", Ok(Insecure::Flag(true))),
            ("1", Ok(Insecure::Flag(true))),
            ("T", Ok(Insecure::Flag(true))),
            ("false", Ok(Insecure::Flag(false))),
            ("F", Ok(Insecure::Flag(false))),
            ("reg.io:5000", host("reg.io:5000")),
            ("[::1]:5000", host("[::1]:5000")),
        ] {
            assert_eq!(
                insecure_value(value).map_err(|e| e.to_string()),
                want,
                "{value}"
            );
        }
        for bad in ["", "./cmd/app", "reg.io/team"] {
            let err = insecure_value(bad).unwrap_err().to_string();
            assert!(err.contains("--insecure-registry"), "{bad}: {err}");
        }
    }
}
