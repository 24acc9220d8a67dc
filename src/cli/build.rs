//! `rko build` (alias `publish`): ko's porcelain. Gathers the flags, the
//! environment, the working directory and the time, and hands them to the
//! library, which reads `.ko.yaml`, builds each import path and publishes it.

use super::registry::PorcelainRegistryArgs;
use super::stdout;
use super::string_slice::csv_values;
use super::{jobs, key_values, request_here};
use rko::{
    BuildValues, Error, ImageSettings, NamingFlags, PublishFlags, Result, SbomFormat, Signer,
};
use std::collections::BTreeMap;
use std::env;
use std::path::PathBuf;
use std::sync::Arc;

/// Build Go import paths into images and publish them, as `ko build` does.
///
/// Prints one image reference per import path.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Import paths: ./cmd/app, example.com/m/cmd/app, ko://…, or a .go file [default: .].
    import_paths: Vec<String>,
    #[command(flatten)]
    flags: BuildFlags,
}

/// The flags `build`, `resolve`, `apply`, `create` and `run` share, as in ko.
#[derive(Debug, Clone, clap::Args)]
pub struct BuildFlags {
    /// Platforms: `all` (every platform of the base image) or OS/ARCH[/VARIANT],…
    /// (repeatable; an OS alone picks each platform of the base with that OS) [default: KO_DEFAULTPLATFORMS, .ko.yaml's defaultPlatforms,
    /// GOOS/GOARCH[/GOARM] when both are set, else linux/amd64].
    #[arg(
        long = "platform",
        value_name = "all|OS[/ARCH[/VARIANT]],…",
        allow_hyphen_values = true
    )]
    platforms: Vec<String>,
    /// Name images <repo>/<last element of the import path>.
    #[arg(short = 'B', long)]
    base_import_paths: bool,
    /// Name images <repo>/<import path>.
    #[arg(short = 'P', long)]
    preserve_import_paths: bool,
    /// Name images <repo> itself.
    #[arg(long)]
    bare: bool,
    /// Tags, comma-separated or repeated ("…" quotes a comma).
    #[arg(
        short = 't',
        long = "tags",
        default_value = "latest",
        allow_hyphen_values = true
    )]
    tags: Vec<String>,
    /// Print name:tag references without digests.
    #[arg(long)]
    tag_only: bool,
    /// Push to KO_DOCKER_REPO (`--push=false` to only compute the digest).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    push: bool,
    /// Load into the local docker or podman (as KO_DOCKER_REPO=ko.local).
    #[arg(short = 'L', long)]
    local: bool,
    /// Also write the images into this OCI layout directory.
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    oci_layout_path: Option<PathBuf>,
    /// Also write a tarball: docker-save for one platform, an OCI archive for several.
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    tarball: Option<PathBuf>,
    /// Write the printed references to this file too.
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    image_refs: Option<PathBuf>,
    /// Add labels to the image config (K=V[,K=V]…, repeatable; "…" quotes a comma).
    #[arg(long = "image-label", value_name = "K=V,…", allow_hyphen_values = true)]
    image_labels: Vec<String>,
    /// Add annotations to the manifest (K=V[,K=V]…, repeatable; "…" quotes a comma).
    #[arg(
        long = "image-annotation",
        value_name = "K=V,…",
        allow_hyphen_values = true
    )]
    image_annotations: Vec<String>,
    /// The user the container runs as.
    #[arg(long, allow_hyphen_values = true)]
    image_user: Option<String>,
    /// The base image (overrides .ko.yaml's defaultBaseImage).
    #[arg(long, value_name = "REF", allow_hyphen_values = true)]
    base_image: Option<String>,
    /// -ldflags for go build, replacing .ko.yaml's: repeatable and
    /// comma-separated, the values joined with spaces (`--ldflags -s
    /// --ldflags -w`, `--ldflags "-s -w"` and `--ldflags=-s,-w` are one).
    #[arg(long, allow_hyphen_values = true)]
    ldflags: Vec<String>,
    /// Build with optimizations and inlining off, for debuggers.
    #[arg(long)]
    disable_optimizations: bool,
    /// Run `go build` even for binaries whose inputs are unchanged (which
    /// are otherwise reused without starting Go), and fail if one differs
    /// from the binary kept in KOCACHE.
    #[arg(long)]
    verify_cache: bool,
    /// The SBOM attached to every image and index: spdx, cyclonedx,
    /// go.version-m (`go version -m`'s text, images only) or none.
    #[arg(long, default_value = "spdx", allow_hyphen_values = true)]
    sbom: String,
    /// Also write the SBOMs into this directory.
    #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
    sbom_dir: Option<PathBuf>,
    /// The provenance attached to every image (an in-toto statement with a
    /// SLSA v1 predicate, as an OCI referrer and at cosign's
    /// `sha256-<hex>.att` tag): slsa or none.
    #[arg(long, default_value = "slsa", value_parser = ["slsa", "none"])]
    provenance: String,
    /// Sign each provenance statement with this cosign key (what `cosign
    /// generate-key-pair` writes; its password from COSIGN_PASSWORD), for
    /// `cosign verify-attestation --key`.
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
    /// How many builds and uploads run at once [default: all cores].
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    #[command(flatten)]
    registry: PorcelainRegistryArgs,
}

pub fn run(args: Args) -> Result<()> {
    let targets = if args.import_paths.is_empty() {
        vec![".".to_string()]
    } else {
        args.import_paths.clone()
    };
    for (_, reference) in build_and_publish(&args.flags, &targets)? {
        stdout::line(reference)?;
    }
    Ok(())
}

/// Builds and publishes `targets`, reporting progress on stderr; returns
/// (target as given, printed reference) in the order given.
pub fn build_and_publish(flags: &BuildFlags, targets: &[String]) -> Result<Vec<(String, String)>> {
    let request = request_here(
        targets.to_vec(),
        flags.values()?,
        flags.registry.options()?,
        jobs(flags.jobs),
    )?;
    let report = rko::build_and_publish(&request)?;
    for warning in &report.warnings {
        log::warn!("{warning}");
    }
    let outcomes = report.outcomes;
    for outcome in &outcomes {
        let platforms: Vec<String> = outcome.platforms.iter().map(|p| p.to_string()).collect();
        log::info!(
            "rko: {} ({}): {} layers built, {} from cache",
            outcome.import_path,
            platforms.join(", "),
            outcome.layers_built,
            outcome.layers_cached
        );
        let published = &outcome.published;
        if let Some(pushed) = &published.pushed {
            log::info!(
                "rko: {}: pushed {} blobs, mounted {}, {} already there; {} HTTP requests",
                published.name,
                pushed.uploaded,
                pushed.mounted,
                pushed.present,
                pushed.requests
            );
        }
        if let Some(cli) = &published.loaded_into {
            log::info!("rko: {}: loaded into {cli}", published.name);
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| (o.target, o.published.reference))
        .collect())
}

impl BuildFlags {
    /// The flags as the library takes them.
    fn values(&self) -> Result<BuildValues> {
        Ok(BuildValues {
            platforms: csv_values("--platform", &self.platforms)?,
            base_image: self.base_image.clone(),
            ldflags: csv_values("--ldflags", &self.ldflags)?,
            disable_optimizations: self.disable_optimizations,
            verify_cache: self.verify_cache,
            image: ImageSettings {
                labels: pairs("--image-label", &self.image_labels)?,
                annotations: pairs("--image-annotation", &self.image_annotations)?,
                user: self.image_user.clone(),
                ..Default::default()
            },
            naming: NamingFlags {
                bare: self.bare,
                preserve_import_paths: self.preserve_import_paths,
                base_import_paths: self.base_import_paths,
            },
            publish: PublishFlags {
                tags: csv_values("--tags", &self.tags)?,
                tag_only: self.tag_only,
                push: self.push,
                local: self.local,
                oci_layout_path: self.oci_layout_path.clone(),
                tarball: self.tarball.clone(),
                image_refs: self.image_refs.clone(),
            },
            sbom: sbom_format(&self.sbom)?,
            sbom_dir: self.sbom_dir.clone(),
            provenance: self.provenance != "none",
            signer: self.signer()?,
            insecure_registry: self.registry.insecure()?,
        })
    }
}

impl BuildFlags {
    /// `--sign-key`, opened with COSIGN_PASSWORD.
    fn signer(&self) -> Result<Option<Arc<Signer>>> {
        let Some(path) = &self.sign_key else {
            return Ok(None);
        };
        if self.provenance == "none" {
            return Err(Error::invalid(
                "--sign-key signs the provenance, which --provenance=none turns off",
            ));
        }
        let pem = std::fs::read(path).map_err(|e| Error::io("reading --sign-key", path, e))?;
        let password = env::var("COSIGN_PASSWORD").map_err(|_| {
            Error::invalid(format!(
                "--sign-key {}: set COSIGN_PASSWORD to the key's password (rko does not prompt)",
                path.display()
            ))
        })?;
        Signer::from_cosign_key(&pem, password.as_bytes(), path).map(|s| Some(Arc::new(s)))
    }
}

/// `--sbom`: a format, or `None` for `none`.
fn sbom_format(value: &str) -> Result<Option<SbomFormat>> {
    match value {
        "none" => Ok(None),
        other => other.parse().map(Some).map_err(|_| {
            Error::invalid(format!(
                "--sbom {other:?}: expected spdx, cyclonedx, go.version-m or none"
            ))
        }),
    }
}

/// `K=V` pairs from the values of a ko string-slice flag.
fn pairs(flag: &str, values: &[String]) -> Result<BTreeMap<String, String>> {
    Ok(key_values(flag, &csv_values(flag, values)?, "", None)?
        .into_iter()
        .collect())
}
