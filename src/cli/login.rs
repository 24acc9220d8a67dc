//! `rko login` / `rko logout`: credentials in docker's config.json.

use super::registry::{credential_store, RegistryArgs};
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

pub fn login(args: LoginArgs) -> Result<()> {
    let password = match (args.password, args.password_stdin) {
        (Some(password), false) => password,
        (None, true) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::invalid(format!("reading the password from stdin: {e}")))?;
            text.trim_end_matches(['\n', '\r']).to_string()
        }
        _ => {
            return Err(Error::invalid(
                "give the password with --password-stdin or -p",
            ))
        }
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
    let path = credential_store().login(&registry, &args.username, &password)?;
    log::info!(
        "rko: credentials for {registry} saved in {}",
        path.display()
    );
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(args: LogoutArgs) -> Result<()> {
    let registry = normalize(&args.registry);
    if credential_store().logout(&registry)? {
        println!("Removing login credentials for {registry}");
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
