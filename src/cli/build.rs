//! `rko build` (alias `publish`): ko's porcelain. Reads `.ko.yaml` and the
//! environment ko reads, builds each import path and publishes it.

use super::registry::RegistryArgs;
use super::{jobs, key_values};
use rko::build::{self, BuildSettings, Platforms};
use rko::cache::Cache;
use rko::config::{ImageSettings, KoConfig};
use rko::platform::Platform;
use rko::publish::{self, Destinations, Naming, PublishOptions, LOCAL};
use rko::template::{GitInfo, TemplateData};
use rko::{Error, Result};
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

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
    /// Platforms: `all` (every platform of the base image) or OS/ARCH[/VARIANT],… [default:
    /// KO_DEFAULTPLATFORMS, .ko.yaml's defaultPlatforms, else linux/amd64].
    #[arg(long, value_name = "all|OS/ARCH,…")]
    platform: Option<String>,
    /// Name images <repo>/<last element of the import path>.
    #[arg(short = 'B', long)]
    base_import_paths: bool,
    /// Name images <repo>/<import path>.
    #[arg(short = 'P', long)]
    preserve_import_paths: bool,
    /// Name images <repo> itself.
    #[arg(long)]
    bare: bool,
    /// Tags, comma-separated or repeated.
    #[arg(
        short = 't',
        long = "tags",
        value_delimiter = ',',
        default_value = "latest"
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
    #[arg(long, value_name = "DIR")]
    oci_layout_path: Option<PathBuf>,
    /// Also write a tarball: docker-save for one platform, an OCI archive for several.
    #[arg(long, value_name = "FILE")]
    tarball: Option<PathBuf>,
    /// Write the printed references to this file too.
    #[arg(long, value_name = "FILE")]
    image_refs: Option<PathBuf>,
    /// Add a label to the image config (K=V, repeatable).
    #[arg(long = "image-label", value_name = "K=V")]
    image_labels: Vec<String>,
    /// Add an annotation to the manifest (K=V, repeatable).
    #[arg(long = "image-annotation", value_name = "K=V")]
    image_annotations: Vec<String>,
    /// The user the container runs as.
    #[arg(long)]
    image_user: Option<String>,
    /// The base image (overrides .ko.yaml's defaultBaseImage).
    #[arg(long, value_name = "REF")]
    base_image: Option<String>,
    /// Extra -ldflags for go build (repeatable).
    #[arg(long)]
    ldflags: Vec<String>,
    /// Build with optimizations and inlining off, for debuggers.
    #[arg(long)]
    disable_optimizations: bool,
    /// The SBOM attached to every image and index: spdx, cyclonedx or none.
    #[arg(long, default_value = "spdx")]
    sbom: String,
    /// Also write the SBOMs into this directory.
    #[arg(long, value_name = "DIR")]
    sbom_dir: Option<PathBuf>,
    /// How many builds and uploads run at once [default: all cores].
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: Args) -> Result<()> {
    let targets = if args.import_paths.is_empty() {
        vec![".".to_string()]
    } else {
        args.import_paths.clone()
    };
    for (_, reference) in build_and_publish(&args.flags, &targets)? {
        println!("{reference}");
    }
    Ok(())
}

/// Builds and publishes `targets`; returns (target as given, printed
/// reference) in the order given.
pub fn build_and_publish(args: &BuildFlags, targets: &[String]) -> Result<Vec<(String, String)>> {
    let work_dir =
        env::current_dir().map_err(|e| Error::invalid(format!("the current directory: {e}")))?;
    let config_path = config_path(&work_dir);
    let config_dir = config_path
        .parent()
        .map_or_else(|| work_dir.clone(), Path::to_path_buf);
    let repo = env::var("KO_DOCKER_REPO").ok().filter(|r| !r.is_empty());
    let local = args.local || repo.as_deref() == Some(LOCAL);
    let to_registry = args.push && !local && repo.is_some();
    if args.push
        && repo.is_none()
        && !local
        && args.oci_layout_path.is_none()
        && args.tarball.is_none()
    {
        return Err(Error::invalid(
            "no destination: set KO_DOCKER_REPO to a registry repository (or ko.local), \
             or pass -L, --oci-layout-path DIR, --tarball FILE, or --push=false",
        ));
    }
    if let Some(flags) = env::var("GOFLAGS").ok().filter(|f| f.contains("-toolexec")) {
        return Err(Error::invalid(format!(
            "GOFLAGS={flags:?}: -toolexec is not supported (it makes builds unreproducible)"
        )));
    }

    let created = epoch("SOURCE_DATE_EPOCH")?;
    // Git is asked only when a template wants it: it costs milliseconds per call.
    let wants_git = std::fs::read_to_string(&config_path).is_ok_and(|text| text.contains(".Git"));
    let data = template_data(&config_dir, created, wants_git);
    let config = KoConfig::load(&config_path)?.render(&data, &config_path)?;
    let platforms = platforms(args.platform.as_deref(), &config)?;
    let mut build_env = Vec::new();
    if env::var_os("CGO_ENABLED").is_none() {
        build_env.push(("CGO_ENABLED".to_string(), "0".to_string()));
    }
    let image = ImageSettings {
        labels: key_values("--image-label", &args.image_labels, "", None)?
            .into_iter()
            .collect(),
        annotations: key_values("--image-annotation", &args.image_annotations, "", None)?
            .into_iter()
            .collect(),
        user: args.image_user.clone(),
        ..Default::default()
    };
    let naming = match (
        args.bare,
        args.preserve_import_paths,
        args.base_import_paths,
    ) {
        (true, _, _) => Naming::Bare,
        (_, true, _) => Naming::PreserveImportPaths,
        (_, _, true) => Naming::BaseImportPaths,
        _ => Naming::Default,
    };
    let sbom = match args.sbom.as_str() {
        "none" => None,
        other => Some(other.parse::<rko::sbom::Format>()?),
    };
    let jobs = jobs(args.jobs);
    let settings = BuildSettings {
        go: env::var_os("KO_GO_PATH").map_or_else(|| PathBuf::from("go"), PathBuf::from),
        work_dir,
        config,
        config_dir,
        env: build_env,
        platforms,
        base_image: args.base_image.clone().or_else(|| {
            env::var("KO_DEFAULTBASEIMAGE")
                .ok()
                .filter(|b| !b.is_empty())
        }),
        ldflags: args.ldflags.clone(),
        disable_optimizations: args.disable_optimizations,
        created: created.unwrap_or(0),
        kodata_mtime: epoch("KO_DATA_DATE_EPOCH")?.unwrap_or(0),
        image,
        cache: Cache::open(&cache_dir()?)?,
        registry: args.registry.options(),
        jobs,
        sbom,
        sbom_dir: args.sbom_dir.clone(),
        repository: repo.clone().unwrap_or_else(|| LOCAL.to_string()),
        naming,
    };
    let builds = build::build_all(&settings, targets)?;
    for built in &builds {
        let platforms: Vec<String> = built.platforms.iter().map(Platform::to_string).collect();
        eprintln!(
            "rko: {} ({}): {} layers built, {} from cache",
            built.package.import_path,
            platforms.join(", "),
            built.layers_built,
            built.layers_cached
        );
    }
    let options = PublishOptions {
        repository: settings.repository.clone(),
        naming,
        tags: args.tags.clone(),
        tag_only: args.tag_only,
        registry: settings.registry.clone(),
        jobs: jobs.max(4),
        to: Destinations {
            registry: to_registry,
            local,
            layout: args.oci_layout_path.clone(),
            tarball: args.tarball.clone(),
            image_refs: args.image_refs.clone(),
        },
    };
    let published = publish::publish_all(&builds, &options, &settings.cache)?;
    for p in &published {
        if let Some(pushed) = &p.pushed {
            eprintln!(
                "rko: {}: pushed {} blobs, mounted {}, {} already there; {} HTTP requests",
                p.name, pushed.uploaded, pushed.mounted, pushed.present, pushed.requests
            );
        }
        if let Some(cli) = &p.loaded_into {
            eprintln!("rko: {}: loaded into {cli}", p.name);
        }
    }
    Ok(targets
        .iter()
        .cloned()
        .zip(published.into_iter().map(|p| p.reference))
        .collect())
}

/// `KO_CONFIG_PATH` (a file, or a directory holding `.ko.yaml`), else `./.ko.yaml`.
fn config_path(work_dir: &Path) -> PathBuf {
    match env::var_os("KO_CONFIG_PATH").map(PathBuf::from) {
        Some(path) if path.is_dir() => path.join(".ko.yaml"),
        Some(path) => path,
        None => work_dir.join(".ko.yaml"),
    }
}

/// `KOCACHE`, else `$XDG_CACHE_HOME/rko`, else `~/.cache/rko`.
fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("KOCACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("rko"));
    }
    env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/rko"))
        .ok_or_else(|| Error::invalid("no cache directory: set KOCACHE or HOME"))
}

/// Seconds since the epoch from an environment variable, if set.
fn epoch(name: &str) -> Result<Option<u64>> {
    match env::var(name) {
        Ok(value) if !value.is_empty() => value.trim().parse().map(Some).map_err(|_| {
            Error::invalid(format!(
                "{name}={value:?} is not a number of seconds since the epoch"
            ))
        }),
        _ => Ok(None),
    }
}

fn platforms(flag: Option<&str>, config: &KoConfig) -> Result<Platforms> {
    let from_env = env::var("KO_DEFAULTPLATFORMS")
        .ok()
        .filter(|p| !p.is_empty());
    let list: Vec<String> = match (flag, from_env) {
        (Some(flag), _) => flag.split(',').map(str::to_string).collect(),
        (None, Some(env)) => env.split(',').map(str::to_string).collect(),
        (None, None) if !config.default_platforms.is_empty() => config.default_platforms.clone(),
        (None, None) => vec!["linux/amd64".to_string()],
    };
    if list.iter().any(|p| p == "all") {
        return Ok(Platforms::All);
    }
    list.iter()
        .map(|p| p.trim().parse())
        .collect::<Result<_>>()
        .map(Platforms::List)
}

/// What `.ko.yaml` templates can use: the environment, git facts, the time.
fn template_data(dir: &Path, created: Option<u64>, wants_git: bool) -> TemplateData {
    let now = created.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    TemplateData {
        env: env::vars().collect(),
        git: if wants_git {
            git_info(dir)
        } else {
            GitInfo::default()
        },
        date: rko::image_config::rfc3339(now),
        timestamp: now.to_string(),
    }
}

fn git_info(dir: &Path) -> GitInfo {
    let git = |args: &[&str]| -> String {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let log = git(&["log", "-1", "--format=%H%n%h%n%cI%n%ct"]);
    let mut lines = log.lines().map(str::to_string);
    let (Some(full_commit), Some(short_commit), Some(commit_date), Some(commit_timestamp)) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        return GitInfo::default();
    };
    let dirty = !git(&["status", "--porcelain"]).is_empty();
    GitInfo {
        branch: git(&["rev-parse", "--abbrev-ref", "HEAD"]),
        tag: git(&["describe", "--tags", "--abbrev=0"]),
        short_commit,
        full_commit,
        commit_date,
        commit_timestamp,
        tree_state: if dirty { "dirty" } else { "clean" }.to_string(),
        is_dirty: dirty,
        is_clean: !dirty,
    }
}
