//! `rko login` / `rko logout` (docker's spelling: the login is checked
//! against the registry) and ko's hidden `auth` group (`rko auth login`,
//! `logout`, `get`: crane's, which saves without asking the registry):
//! credentials in docker's config.json or its credential helpers.

use super::registry::{credential_store, RegistryArgs};
use super::stdout;
use rko::{Client, Credential, CredentialStore, Secret};
use rko::{Error, Result};
use std::io::Read;

/// Log in to a registry: check the credentials, then save them where
/// docker saves them (a credential helper if configured, else config.json).
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The registry: HOST[:PORT].
    registry: String,
    /// The username.
    #[arg(long, short = 'u')]
    username: String,
    /// The password (visible to other users of this machine: prefer --password-stdin).
    #[arg(long, short = 'p', conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
    #[command(flatten)]
    registry_args: RegistryArgs,
}

/// Log out of a registry: forget its saved credentials.
#[derive(Debug, clap::Args)]
pub struct LogoutArgs {
    /// The registry: HOST[:PORT].
    registry: String,
}

/// ko's `auth` group (crane's `auth`, hidden in ko's help as here).
#[derive(Debug, clap::Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    verb: AuthVerb,
}

#[derive(Debug, clap::Subcommand)]
enum AuthVerb {
    Login(AuthLoginArgs),
    Logout(LogoutArgs),
    Get(AuthGetArgs),
}

/// Save credentials for a registry, as `ko auth login` does: without
/// asking the registry whether they are right.
#[derive(Debug, clap::Args)]
pub struct AuthLoginArgs {
    /// The registry: HOST[:PORT].
    registry: String,
    /// The username.
    #[arg(long, short = 'u', default_value = "", allow_hyphen_values = true)]
    username: String,
    /// The password (visible to other users of this machine: prefer --password-stdin).
    #[arg(long, short = 'p', allow_hyphen_values = true)]
    password: Option<String>,
    /// Read the password from standard input (over -p, as in ko).
    #[arg(long)]
    password_stdin: bool,
}

/// Print the credentials for a registry as a docker credential helper
/// does (`{"Username":…,"Secret":…}`): the registry is the argument, else
/// standard input.
#[derive(Debug, clap::Args)]
pub struct AuthGetArgs {
    /// The registry: HOST[:PORT] [default: read from standard input].
    registry: Option<String>,
}

pub fn auth(args: AuthArgs) -> Result<()> {
    match args.verb {
        AuthVerb::Login(args) => auth_login(args),
        AuthVerb::Logout(args) => auth_logout(args),
        AuthVerb::Get(args) => auth_get(args),
    }
}

/// The password from `-p` or standard input (crane's rule: without its
/// final line end; standard input wins over `-p`).
fn password(flag: Option<String>, from_stdin: bool) -> Result<Option<String>> {
    if !from_stdin {
        return Ok(flag);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Error::invalid(format!("reading the password from stdin: {e}")))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(Some(text.strip_suffix('\r').unwrap_or(text).to_string()))
}

fn auth_login(args: AuthLoginArgs) -> Result<()> {
    let password = password(args.password, args.password_stdin)?.unwrap_or_default();
    if args.username.is_empty() && password.is_empty() {
        return Err(Error::invalid(
            "auth login: username and password required: give -u and -p or --password-stdin",
        ));
    }
    let registry = normalize(&args.registry);
    let path = credential_store().login(&registry, &args.username, &Secret::new(password))?;
    log::info!("logged in via {}", path.display());
    Ok(())
}

fn auth_logout(args: LogoutArgs) -> Result<()> {
    let registry = normalize(&args.registry);
    let store = credential_store();
    store.logout(&registry)?;
    if let Some(path) = &store.docker_config {
        log::info!("logged out via {}", path.display());
    }
    Ok(())
}

fn auth_get(args: AuthGetArgs) -> Result<()> {
    let registry = match args.registry {
        Some(registry) => registry,
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::invalid(format!("reading the registry from stdin: {e}")))?;
            text.trim().to_string()
        }
    };
    let registry = normalize(&registry);
    let (username, secret) = match credential_store().lookup(&registry)? {
        Credential::Basic { username, password } => (username, password),
        Credential::IdentityToken(token) => ("<token>".to_string(), token),
        Credential::Anonymous => {
            // The words docker's credential helpers answer with.
            stdout::line("credentials not found in native keychain")?;
            return Err(Error::invalid(format!(
                "auth get: no credentials for {registry}"
            )));
        }
    };
    let helper_answer = HelperAnswer {
        username: &username,
        secret: secret.expose(),
    };
    stdout::line(serde_json::to_string(&helper_answer).expect("strings always serialize"))
}

/// A docker credential helper's answer to `get`, as crane writes it.
#[derive(serde::Serialize)]
struct HelperAnswer<'a> {
    #[serde(rename = "Username", skip_serializing_if = "str::is_empty")]
    username: &'a str,
    #[serde(rename = "Secret", skip_serializing_if = "str::is_empty")]
    secret: &'a str,
}

pub fn login(args: LoginArgs) -> Result<()> {
    let Some(password) = password(args.password, args.password_stdin)? else {
        return Err(Error::invalid(
            "give the password with --password-stdin or -p",
        ));
    };
    let registry = normalize(&args.registry);
    let password = Secret::new(password);
    // Check the credentials against the registry before saving them.
    let mut options = args.registry_args.options();
    options.credentials = CredentialStore::default();
    let client = Client::connect_with(
        &registry,
        &options,
        Credential::Basic {
            username: args.username.clone(),
            password: password.clone(),
        },
    )?;
    client.check_login()?;
    let store = credential_store().with_helper_timeout(options.idle_timeout);
    let path = store.login(&registry, &args.username, &password)?;
    log::info!(
        "rko: credentials for {registry} saved in {}",
        path.display()
    );
    stdout::line("Login Succeeded")
}

pub fn logout(args: LogoutArgs) -> Result<()> {
    let registry = normalize(&args.registry);
    if credential_store().logout(&registry)? {
        stdout::line(format_args!("Removing login credentials for {registry}"))?;
    } else {
        log::warn!("not logged in to {registry}");
    }
    Ok(())
}

/// `https://host/` and `docker.io` name the same registries as `host` and `index.docker.io`.
fn normalize(registry: &str) -> String {
    let host = registry
        .split_once("://")
        .map_or(registry, |(_, rest)| rest);
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "docker.io" | "registry-1.docker.io" => rko::DOCKER_HUB.to_string(),
        other => other.to_string(),
    }
}
