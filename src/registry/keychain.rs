//! ko's built-in keychains: credentials for a registry that nothing is
//! configured for (no docker config entry, no helper, no podman auth file),
//! taken from what a CI machine offers: `GITHUB_TOKEN` for ghcr.io, the
//! ECR, GCR and ACR credential helpers on PATH, the GCE metadata server.
//!
//! ko (pkg/commands/config.go) chains `amazonKeychain, authn.DefaultKeychain,
//! google.Keychain, github.Keychain, azureKeychain`; each answers only for
//! its own hosts, so which keychain a registry gets is one rule,
//! [`sources_for`]. rko asks them only after everything configured (docker's
//! config.json, podman's auth files) has had its say: ko puts its ECR
//! keychain before docker's config, rko lets a saved login win for every host.

use super::credential::{Credential, Secret};
use super::credential_helper::ask_helper;
use super::keychain_gce::GceMetadata;
use crate::helper_process::HelperLimits;
use std::path::{Path, PathBuf};

/// What the environment offers for registries nothing is configured for;
/// the command layer fills it (`GITHUB_TOKEN`, `GITHUB_ACTOR`, PATH,
/// `GCE_METADATA_HOST`). The default offers nothing.
#[derive(Debug, Clone, Default)]
pub struct Keychain {
    /// `GITHUB_TOKEN` and `GITHUB_ACTOR`, for ghcr.io.
    pub github: Option<GitHubToken>,
    /// The cloud credential helpers found on PATH.
    pub helpers: CloudHelpers,
    /// The GCE metadata server to ask for Google registries; `None` asks none.
    pub gce_metadata: Option<GceMetadata>,
}

/// `GITHUB_TOKEN` with the user it belongs to.
#[derive(Debug, Clone)]
pub struct GitHubToken {
    pub token: Secret,
    /// `GITHUB_ACTOR`; without it ko sends the user `unset`.
    pub actor: Option<String>,
}

/// The credential helpers ko has built in, as programs (`docker-credential-*`).
#[derive(Debug, Clone, Default)]
pub struct CloudHelpers {
    /// `docker-credential-ecr-login` (amazon-ecr-credential-helper).
    pub ecr_login: Option<PathBuf>,
    /// `docker-credential-gcr`.
    pub gcr: Option<PathBuf>,
    /// `docker-credential-acr-env`.
    pub acr_env: Option<PathBuf>,
}

/// One place a credential may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    EcrLogin,
    GcrHelper,
    GceMetadata,
    GitHub,
    AcrEnv,
}

/// The keychains that may answer for `registry` (`host[:port]`), in the
/// order to ask them. Each keychain of ko's answers for its own hosts only,
/// and no host is two keychains', so the order between them is moot; within
/// Google's, ko's Application Default Credentials read credential files
/// (which docker-credential-gcr reads too) before the metadata server.
pub fn sources_for(registry: &str) -> &'static [Source] {
    let host = host_name(registry);
    if is_ecr(host) {
        &[Source::EcrLogin]
    } else if is_google(registry) {
        &[Source::GcrHelper, Source::GceMetadata]
    } else if host == "ghcr.io" {
        &[Source::GitHub]
    } else if is_acr(host) {
        &[Source::AcrEnv]
    } else {
        &[]
    }
}

/// The host of `host[:port]` (Go's `url.URL.Hostname`, which the ECR,
/// GitHub and ACR keychains match on).
fn host_name(registry: &str) -> &str {
    if let Some(v6) = registry.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    registry.split(':').next().unwrap_or("")
}

/// go-containerregistry pkg/v1/google/keychain.go `isGoogle`, which is
/// given the registry with its port.
fn is_google(registry: &str) -> bool {
    registry == "gcr.io"
        || [".gcr.io", ".pkg.dev", ".google.com"]
            .iter()
            .any(|suffix| registry.ends_with(suffix))
}

/// amazon-ecr-credential-helper's `ExtractRegistry`: ECR Public, or
/// `^(\d{12})\.dkr[\.\-]ecr(\-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(PARTITION)$`.
fn is_ecr(host: &str) -> bool {
    const PARTITIONS: [&str; 9] = [
        ".amazonaws.com",
        ".amazonaws.com.cn",
        ".amazonaws.eu",
        ".on.aws",
        ".on.amazonwebservices.com.cn",
        ".sc2s.sgov.gov",
        ".c2s.ic.gov",
        ".cloud.adc-e.uk",
        ".csp.hci.ic.gov",
    ];
    if host == "public.ecr.aws" || host == "ecr-public.aws.com" {
        return true;
    }
    PARTITIONS.iter().any(|partition| {
        host.strip_suffix(partition)
            .is_some_and(ecr_account_and_region)
    })
}

/// `ACCOUNT.dkr.ecr[-fips].REGION` (or `dkr-ecr`), the part of an ECR
/// host before its partition's domain.
fn ecr_account_and_region(name: &str) -> bool {
    let Some((account, rest)) = name.split_once('.') else {
        return false;
    };
    let Some(rest) = rest
        .strip_prefix("dkr.ecr")
        .or_else(|| rest.strip_prefix("dkr-ecr"))
    else {
        return false;
    };
    let rest = rest.strip_prefix("-fips").unwrap_or(rest);
    let Some(region) = rest.strip_prefix('.') else {
        return false;
    };
    let region_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && region.starts_with(|c: char| c.is_ascii_alphanumeric())
        && region.chars().all(region_char)
}

/// docker-credential-acr-env's `isACRRegistry`: mcr.microsoft.com or a
/// name under an Azure registry domain. Its pattern is not anchored (it
/// would take `x.azurecr.io.evil.io`); rko matches the end of the name.
fn is_acr(host: &str) -> bool {
    host == "mcr.microsoft.com"
        || [".azurecr.io", ".azurecr.cn", ".azurecr.de", ".azurecr.us"]
            .iter()
            .any(|suffix| host.ends_with(suffix))
}

impl Keychain {
    /// A credential for `registry` from the first keychain that has one;
    /// `None` when none has (anonymous). A keychain that fails is passed
    /// over, as ko's are (authn.NewKeychainFromHelper: an error is
    /// Anonymous); a helper runs within `limits`.
    pub fn lookup(&self, registry: &str, limits: HelperLimits) -> Option<Credential> {
        sources_for(registry)
            .iter()
            .find_map(|source| self.ask(*source, registry, limits))
    }

    fn ask(&self, source: Source, registry: &str, limits: HelperLimits) -> Option<Credential> {
        let helpers = &self.helpers;
        let helper = |program: &Option<PathBuf>| helper(program.as_deref()?, registry, limits);
        match source {
            Source::EcrLogin => helper(&helpers.ecr_login),
            Source::GcrHelper => helper(&helpers.gcr),
            Source::AcrEnv => helper(&helpers.acr_env),
            Source::GceMetadata => self.gce_metadata.as_ref()?.credential(),
            Source::GitHub => {
                let github = self.github.as_ref()?;
                Some(Credential::Basic {
                    username: github.actor.clone().unwrap_or_else(|| "unset".into()),
                    password: github.token.clone(),
                })
            }
        }
    }
}

/// What the helper `program` has for `registry`; a helper that fails or
/// cannot run has nothing, and is named in a warning.
fn helper(program: &Path, registry: &str, limits: HelperLimits) -> Option<Credential> {
    ask_helper(program, registry, limits).unwrap_or_else(|e| {
        log::warn!("{e}; going on without its credentials");
        None
    })
}

#[cfg(test)]
mod tests {
    use super::Source::*;
    use super::*;

    // ko: pkg/commands/config.go (the chain); go-containerregistry
    // pkg/authn/github/keychain.go (Resolve: Hostname() == "ghcr.io"),
    // pkg/v1/google/keychain.go (isGoogle, on RegistryStr(), port kept);
    // amazon-ecr-credential-helper ecr-login/api/client.go (ExtractRegistry:
    // ecrPattern on Hostname(), public.ecr.aws, ecr-public.aws.com);
    // docker-credential-acr-env pkg/credhelper/helper.go (isACRRegistry).
    #[test]
    fn each_registry_host_gets_the_keychains_ko_gives_it() {
        let google: &[Source] = &[GcrHelper, GceMetadata];
        let none: &[Source] = &[];
        for (registry, want) in [
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                &[EcrLogin][..],
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com:5000",
                &[EcrLogin],
            ),
            (
                "123456789012.dkr-ecr-fips.us-gov-west-1.on.aws",
                &[EcrLogin],
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                &[EcrLogin],
            ),
            (
                "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
                &[EcrLogin],
            ),
            ("public.ecr.aws", &[EcrLogin]),
            ("ecr-public.aws.com", &[EcrLogin]),
            // Not ECR: the account is twelve digits, the name ends there.
            ("12345.dkr.ecr.us-east-1.amazonaws.com", none),
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.io", none),
            ("123456789012.dkr.ecr..amazonaws.com", none),
            ("x123456789012.dkr.ecr.us-east-1.amazonaws.com", none),
            ("gcr.io", google),
            ("eu.gcr.io", google),
            ("us-docker.pkg.dev", google),
            ("europe-west1-docker.pkg.dev", google),
            ("source.developers.google.com", google),
            // ko matches the registry with its port: none for these.
            ("gcr.io:443", none),
            ("gcr.io.evil.io", none),
            ("notgcr.io", none),
            ("ghcr.io", &[GitHub]),
            // ... but ghcr.io by host name alone.
            ("ghcr.io:443", &[GitHub]),
            ("ghcr.io.evil.io", none),
            ("docker.pkg.github.com", none),
            ("team.azurecr.io", &[AcrEnv]),
            ("team.azurecr.cn", &[AcrEnv]),
            ("team.azurecr.de", &[AcrEnv]),
            ("team.azurecr.us:443", &[AcrEnv]),
            ("mcr.microsoft.com", &[AcrEnv]),
            // Better than acr-env's unanchored pattern: a name that only
            // contains an ACR name is not ACR.
            ("team.azurecr.io.evil.io", none),
            ("index.docker.io", none),
            ("quay.io", none),
            ("127.0.0.1:5000", none),
            ("localhost:5000", none),
            ("[::1]:5000", none),
        ] {
            assert_eq!(sources_for(registry), want, "{registry}");
        }
    }

    fn github(actor: Option<&str>) -> Keychain {
        Keychain {
            github: Some(GitHubToken {
                token: Secret::new("ghs_token"),
                actor: actor.map(str::to_string),
            }),
            ..Keychain::default()
        }
    }

    // go-containerregistry pkg/authn/github/keychain.go, githubKeychain.Resolve:
    // GITHUB_TOKEN for ghcr.io only, user GITHUB_ACTOR or "unset".
    #[test]
    fn ghcr_io_gets_github_token_as_github_actor_or_unset() {
        let basic = |user: &str| {
            Some(Credential::Basic {
                username: user.to_string(),
                password: Secret::new("ghs_token"),
            })
        };
        for (keychain, registry, want) in [
            (github(Some("octocat")), "ghcr.io", basic("octocat")),
            (github(None), "ghcr.io", basic("unset")),
            (github(Some("octocat")), "ghcr.io:443", basic("octocat")),
            (github(Some("octocat")), "quay.io", None),
            (github(Some("octocat")), "docker.pkg.github.com", None),
            (Keychain::default(), "ghcr.io", None),
        ] {
            assert_eq!(
                keychain.lookup(registry, HelperLimits::default()),
                want,
                "{registry}"
            );
        }
    }

    /// A stand-in `docker-credential-*` that logs its request and answers `reply`.
    fn stand_in_helper(dir: &Path, reply: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let program = dir.join("docker-credential-stand-in");
        let log = dir.join("helper.log");
        let script = format!(
            "#!/bin/sh\nread server\necho \"$1 $server\" >> '{}'\n{reply}\n",
            log.display()
        );
        std::fs::write(&program, script).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        program
    }

    // ko: authn.NewKeychainFromHelper (go-containerregistry
    // pkg/authn/keychain.go, wrapper.Resolve): the helper is asked with the
    // registry; `<token>` means an identity token; an error is Anonymous.
    #[test]
    fn cloud_helpers_answer_for_their_hosts_and_a_failure_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let ok = r#"printf '{"Username":"AWS","Secret":"ecr-pw"}'"#;
        let token = r#"printf '{"Username":"<token>","Secret":"acr-refresh"}'"#;
        let fails = "echo 'no AWS credentials' >&2; exit 1";
        let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        let cases = [
            (
                ok,
                ecr,
                Some(Credential::Basic {
                    username: "AWS".into(),
                    password: Secret::new("ecr-pw"),
                }),
            ),
            (
                token,
                "team.azurecr.io",
                Some(Credential::IdentityToken(Secret::new("acr-refresh"))),
            ),
            (
                ok,
                "eu.gcr.io",
                Some(Credential::Basic {
                    username: "AWS".into(),
                    password: Secret::new("ecr-pw"),
                }),
            ),
            (fails, ecr, None),
            (ok, "quay.io", None),
        ];
        for (reply, registry, want) in cases {
            let program = stand_in_helper(dir.path(), reply);
            let keychain = Keychain {
                helpers: CloudHelpers {
                    ecr_login: Some(program.clone()),
                    gcr: Some(program.clone()),
                    acr_env: Some(program),
                },
                ..Keychain::default()
            };
            assert_eq!(
                keychain.lookup(registry, HelperLimits::default()),
                want,
                "{registry}"
            );
        }
        let log = std::fs::read_to_string(dir.path().join("helper.log")).unwrap();
        assert_eq!(
            log,
            format!("get {ecr}\nget team.azurecr.io\nget eu.gcr.io\nget {ecr}\n"),
            "each helper asked once, with the registry; never for quay.io"
        );
    }
}
