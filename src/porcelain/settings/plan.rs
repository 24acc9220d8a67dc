//! The settings plan: which base image, platforms, Go environment, flags,
//! ldflags, build directory and image settings each import path gets, from
//! `.ko.yaml`, the command line and the environment. Every precedence rule
//! of `rko build` lives here, in pure functions with a table test beside
//! them. ko is the reference: `pkg/commands/options/build.go`,
//! `pkg/commands/resolver.go` and `pkg/build/gobuild.go` (`build`).

use super::env::{epoch, go_command, var, Env};
use super::flags::Flags;
use super::publishing::{is_kind, is_local, naming_warnings, publishing};
use crate::error::{Error, Result};
use crate::image::platform::{Platform, PlatformPattern};
use crate::porcelain::go::list::Package;
use crate::porcelain::publish::Publishing;
use crate::porcelain::settings::capabilities::FileCaps;
use crate::porcelain::settings::ko_yaml::{BuildConfig, ImageSettings, KoConfig};
use crate::porcelain::settings::template::Origin;
use crate::registry::Reference;
use crate::sbom;
use std::path::{Path, PathBuf};

/// The base image when nothing else names one.
pub const DEFAULT_BASE: &str = "builtin:static";

/// Which platforms to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platforms {
    /// Every platform the base image has.
    All,
    List(Vec<Platform>),
    /// The base image's platforms that one of these matches: a list in
    /// which some platform is named by its OS alone (`--platform=linux`).
    Matching(Vec<PlatformPattern>),
}

/// What one run shares across its import paths.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `go` command.
    pub go: PathBuf,
    pub platforms: Platforms,
    /// The image's creation time and the binary layer's mtime.
    pub created: u64,
    /// The kodata layer's mtime.
    /// `KO_DATA_DATE_EPOCH`: the kodata layer's time; without it, ko's
    /// zero time (0 in the tar, 0001-01-01 in the history).
    pub kodata_mtime: Option<u64>,
    /// `KO_DATA_PATH_ALLOWED_ROOT`: where kodata symlinks may point, when
    /// it holds the kodata directory (relative to the working directory).
    pub kodata_allowed_root: Option<PathBuf>,
    pub disable_optimizations: bool,
    /// `--verify-cache`.
    pub verify_cache: bool,
    pub sbom: Option<sbom::Format>,
    pub sbom_dir: Option<PathBuf>,
    /// Attach a SLSA provenance statement to each image.
    pub provenance: bool,
    /// Sign each statement with this key.
    pub signer: Option<std::sync::Arc<crate::provenance::sign::Signer>>,
    /// The base image for import paths `baseImageOverrides` does not name.
    pub default_base: String,
    /// The Go environment that comes before `.ko.yaml`'s.
    pub env: Vec<(String, String)>,
    /// `defaultEnv`, `defaultFlags` and `defaultLdflags`, from the
    /// environment or `.ko.yaml`.
    pub defaults: GoDefaults,
    /// `--ldflags`, which replace `.ko.yaml`'s.
    pub ldflags: Vec<String>,
    /// The image settings from flags, over `.ko.yaml`'s.
    pub image: ImageSettings,
    pub publish: Publishing,
    /// Registries reached over plain HTTP or unverified TLS.
    pub insecure_registries: Vec<String>,
    /// What the flags deserve a word about, as ko warns.
    pub warnings: Vec<String>,
}

/// The lists a package gets when its `builds[]` entry has none: each
/// with where it came from.
#[derive(Debug, Clone, Default)]
pub struct GoDefaults {
    pub env: (Vec<String>, Origin),
    pub flags: (Vec<String>, Origin),
    pub ldflags: (Vec<String>, Origin),
}

/// Everything the build of one import path needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagePlan {
    pub base_image: String,
    /// The Go environment, applied in order (a later key wins).
    pub env: Vec<(String, String)>,
    /// Templates, rendered for each platform (as ko does).
    pub flags: Vec<String>,
    pub ldflags: Vec<String>,
    /// Where the flags and ldflags come from, for messages.
    pub flags_from: Origin,
    pub ldflags_from: Origin,
    /// Where `go build` runs.
    pub dir: PathBuf,
    pub image: ImageSettings,
    /// The binary's file capabilities (`builds[].linux_capabilities`).
    pub capabilities: Option<FileCaps>,
    /// The `id` of the `builds[]` entry that applies (`#N` for the Nth
    /// without one), which ko names before building.
    pub build_config: Option<String>,
}

/// The `default*` lists: `KO_DEFAULTENV`, `KO_DEFAULTFLAGS` and
/// `KO_DEFAULTLDFLAGS` over `.ko.yaml`'s keys, as viper's AutomaticEnv
/// reads them: a variable that is set and not empty wins, split at
/// whitespace (so a blank one is an empty list), and never at commas.
fn go_defaults(env: &Env, config: &KoConfig) -> GoDefaults {
    let list = |name: &str, key: &str, yaml: &Vec<String>| match var(env, name) {
        Some(value) => (
            value.split_whitespace().map(str::to_string).collect(),
            Origin::flag(name),
        ),
        None => (yaml.clone(), config.origin(key)),
    };
    GoDefaults {
        env: list("KO_DEFAULTENV", "defaultEnv", &config.default_env),
        flags: list("KO_DEFAULTFLAGS", "defaultFlags", &config.default_flags),
        ldflags: list(
            "KO_DEFAULTLDFLAGS",
            "defaultLdflags",
            &config.default_ldflags,
        ),
    }
}

/// The run-wide settings.
pub fn settings(flags: &Flags, env: &Env, config: &KoConfig) -> Result<Settings> {
    if let Some(goflags) = var(env, "GOFLAGS").filter(|f| f.contains("-toolexec")) {
        return Err(Error::invalid(format!(
            "GOFLAGS={goflags:?}: -toolexec is not supported (it makes builds unreproducible)"
        )));
    }
    // ko starts the Go environment with CGO_ENABLED=0; the process's own
    // CGO_ENABLED, which `go` inherits, overrides it.
    let env_defaults = if env.contains_key("CGO_ENABLED") {
        Vec::new()
    } else {
        vec![("CGO_ENABLED".to_string(), "0".to_string())]
    };
    let default_base = default_base(flags, env, config);
    let bases = std::iter::once(default_base.as_str())
        .chain(config.base_image_overrides.values().map(String::as_str));
    let insecure_registries =
        insecure_registries(flags.insecure_registry, var(env, "KO_DOCKER_REPO"), bases);
    Ok(Settings {
        go: go_command(env),
        platforms: platforms(&flags.platforms, env, config)?,
        created: epoch(env, "SOURCE_DATE_EPOCH")?.unwrap_or(0),
        kodata_mtime: epoch(env, "KO_DATA_DATE_EPOCH")?,
        kodata_allowed_root: var(env, "KO_DATA_PATH_ALLOWED_ROOT").map(PathBuf::from),
        disable_optimizations: flags.disable_optimizations,
        verify_cache: flags.verify_cache,
        sbom: flags.sbom,
        sbom_dir: flags.sbom_dir.clone(),
        provenance: flags.provenance,
        signer: flags.signer.clone(),
        default_base,
        env: env_defaults,
        defaults: go_defaults(env, config),
        ldflags: flags.ldflags.clone(),
        image: flags.image.clone(),
        publish: publishing(flags, env)?,
        insecure_registries,
        warnings: naming_warnings(flags.naming),
    })
}

/// `--platform`, else `KO_DEFAULTPLATFORMS`, else `.ko.yaml`'s
/// `defaultPlatforms`, else GOOS/GOARCH, else linux/amd64; `all` means
/// every platform of the base, and comes alone (ko's `Validate`). As in
/// ko's `gobuildOptions`, a platform named by any of the first three beside
/// GOOS, GOARCH or GOARM is refused: the two would disagree.
fn platforms(flag: &[String], env: &Env, config: &KoConfig) -> Result<Platforms> {
    // viper splits the variable at whitespace, ko each part at commas.
    let from_env = var(env, "KO_DEFAULTPLATFORMS").map(|v| {
        v.split_whitespace()
            .flat_map(|p| p.split(','))
            .map(str::to_string)
            .collect()
    });
    let (source, list): (&str, Vec<String>) = if !flag.is_empty() {
        ("--platform", flag.to_vec())
    } else if let Some(list) = from_env {
        ("KO_DEFAULTPLATFORMS", list)
    } else if !config.default_platforms.is_empty() {
        (
            ".ko.yaml defaultPlatforms",
            config.default_platforms.clone(),
        )
    } else {
        let platform = go_env_platform(env);
        return platform
            .parse()
            .map(|p| Platforms::List(vec![p]))
            .map_err(|e| Error::invalid(format!("GOOS/GOARCH/GOARM: {e}")));
    };
    let list: Vec<String> = list.iter().map(|p| p.trim().to_string()).collect();
    let shown = list.join(",");
    let go_env = ["GOOS", "GOARCH", "GOARM"]
        .into_iter()
        .find_map(|name| var(env, name).map(|value| (name, value)));
    if let Some((name, value)) = go_env {
        return Err(Error::invalid(format!(
            "{source} {shown} cannot be combined with {name}={value:?}, as in ko: \
             unset {name}, or drop {source}"
        )));
    }
    if list.iter().any(|p| p == "all") {
        if list.len() > 1 {
            return Err(Error::invalid(format!(
                "{source} {shown}: all or specific platforms should be used, not both"
            )));
        }
        return Ok(Platforms::All);
    }
    let patterns: Vec<PlatformPattern> = list
        .iter()
        .map(|p| {
            p.parse()
                .map_err(|e| Error::invalid(format!("{source}: {e}")))
        })
        .collect::<Result<_>>()?;
    let full: Option<Vec<Platform>> = patterns
        .iter()
        .map(|p| match p {
            PlatformPattern::Full(platform) => Some(platform.clone()),
            PlatformPattern::Os(_) => None,
        })
        .collect();
    Ok(match full {
        Some(list) => Platforms::List(list),
        None => Platforms::Matching(patterns),
    })
}

/// ko's platform when nothing names one: GOOS/GOARCH when both are set,
/// with GOARM as the variant of arm; else linux/amd64. (ko appends GOARM to
/// any GOARCH containing "arm", arm64 too, where Go ignores it; rko only to arm.)
fn go_env_platform(env: &Env) -> String {
    match (var(env, "GOOS"), var(env, "GOARCH")) {
        (Some(os), Some(arch)) => match var(env, "GOARM") {
            Some(arm) if arch == "arm" => format!("{os}/{arch}/v{arm}"),
            _ => format!("{os}/{arch}"),
        },
        _ => "linux/amd64".to_string(),
    }
}

/// `--base-image`, else `KO_DEFAULTBASEIMAGE`, else `.ko.yaml`'s
/// `defaultBaseImage`, else `builtin:static`.
fn default_base(flags: &Flags, env: &Env, config: &KoConfig) -> String {
    flags
        .base_image
        .as_deref()
        .or_else(|| var(env, "KO_DEFAULTBASEIMAGE"))
        .or(config.default_base_image.as_deref())
        .unwrap_or(DEFAULT_BASE)
        .to_string()
}

/// The plan for one package: `.ko.yaml`'s `builds[]` entry whose `dir/main`
/// is the package's directory, over the defaults, under the flags.
/// As in ko, a list in the entry replaces the default list (env, flags,
/// ldflags), and `--ldflags` replaces both; image settings merge key by key.
pub fn for_package(
    settings: &Settings,
    config: &KoConfig,
    package: &Package,
    work_dir: &Path,
) -> Result<PackagePlan> {
    let found = config
        .builds
        .iter()
        .enumerate()
        .rev() // ko keeps the last entry for a package
        .find(|(_, b)| b.main_dir == package.dir);
    let build = found.map(|(_, b)| b);
    // The entry's list where it has one, else the default, and which it was.
    let chosen =
        |key: &str, own: fn(&BuildConfig) -> &Vec<String>, default: &(Vec<String>, Origin)| {
            match found.filter(|(_, b)| !own(b).is_empty()) {
                Some((i, b)) => (own(b).clone(), config.origin(format!("builds[{i}].{key}"))),
                None => default.clone(),
            }
        };
    let defaults = &settings.defaults;
    let mut env = settings.env.clone();
    let (build_env, env_from) = chosen("env", |b| &b.env, &defaults.env);
    for entry in build_env {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| env_from.invalid(format!("build env {entry:?} is not K=V")))?;
        env.push((key.to_string(), value.to_string()));
    }
    let (ldflags, ldflags_from) = if settings.ldflags.is_empty() {
        chosen("ldflags", |b| &b.ldflags, &defaults.ldflags)
    } else {
        (settings.ldflags.clone(), Origin::flag("--ldflags"))
    };
    let (flags, flags_from) = chosen("flags", |b| &b.flags, &defaults.flags);
    let capabilities = match found {
        Some((i, b)) => FileCaps::new(&b.linux_capabilities).map_err(|e| {
            Error::file(&config.path, format!("builds[{i}].linux_capabilities: {e}"))
        })?,
        None => None,
    };
    // ko runs `go build` in the working directory, or in a `builds[]`
    // entry's `dir` (pkg/build/gobuilds.go): for a package of a dependency
    // the main module is then the user's, with its go.sum.
    let dir = match build {
        Some(b) if !b.dir.is_empty() => b.build_dir.clone(),
        _ => work_dir.to_path_buf(),
    };
    let own_image = build.map(|b| b.image.clone()).unwrap_or_default();
    Ok(PackagePlan {
        base_image: base_image(settings, config, &package.import_path),
        env,
        flags,
        ldflags,
        flags_from,
        ldflags_from,
        dir,
        image: config
            .default_image
            .merged(&own_image)
            .merged(&settings.image),
        capabilities,
        build_config: found.map(|(i, b)| match b.id.as_deref() {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => format!("#{i}"),
        }),
    })
}

/// `.ko.yaml`'s `baseImageOverrides` entry for the import path (compared
/// without case, as ko does; an empty entry counts as none), else the
/// run's default base.
fn base_image(settings: &Settings, config: &KoConfig, import_path: &str) -> String {
    config
        .base_image_overrides
        .iter()
        .find(|(path, image)| path.eq_ignore_ascii_case(import_path) && !image.is_empty())
        .map_or_else(|| settings.default_base.clone(), |(_, image)| image.clone())
}

/// The registries `--insecure-registry` (ko's boolean) opens to plain HTTP
/// and unverified TLS: `KO_DOCKER_REPO`'s, which ko's publisher gets
/// `publish.Insecure` for, and every base image's, which ko's
/// `getBaseImage` parses with `name.Insecure`. Each once, in that order.
pub fn insecure_registries<'a>(
    flag: bool,
    repository: Option<&str>,
    bases: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    if !flag {
        return Vec::new();
    }
    // A repository may be a bare registry (`localhost:5000`): give it a name.
    let repository = repository
        .filter(|repo| !is_local(repo) && !is_kind(repo))
        .map(|repo| format!("{repo}/image"));
    let bases = bases
        .filter(|name| *name != DEFAULT_BASE && *name != "scratch" && !is_local(name))
        .map(str::to_string);
    let mut registries: Vec<String> = Vec::new();
    for name in repository.into_iter().chain(bases) {
        if let Ok(reference) = name.parse::<Reference>() {
            if !registries.contains(&reference.registry) {
                registries.push(reference.registry);
            }
        }
    }
    registries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::porcelain::settings::env::{cache_dir, config_path};
    use crate::porcelain::settings::flags::PublishFlags;
    use crate::porcelain::settings::ko_yaml::ConfigSource;

    /// What a row of the table looks at.
    #[derive(Debug, Clone, Copy)]
    enum Look {
        Base,
        Platforms,
        GoEnv,
        GoFlags,
        Ldflags,
        Dir,
        User,
        Labels,
        Naming,
        Repository,
        Destinations,
        Created,
        CachePath,
        ConfigPath,
        BuildConfig,
        Tags,
        Insecure,
        Warnings,
        DaemonPlatform,
        Kind,
    }

    struct Case {
        rule: &'static str,
        yaml: &'static str,
        env: &'static [(&'static str, &'static str)],
        flags: fn(&mut Flags),
        look: Look,
        want: &'static str,
    }

    fn no_flags(_: &mut Flags) {}

    const BUILDS: &str = "builds:\n- main: ./cmd/app\n  dir: .\n";

    /// Runs the plan for one row and shows what it looks at; rows about
    /// something other than publishing get a `KO_DOCKER_REPO`.
    fn observe(case: &Case) -> String {
        let mut env: Env = case
            .env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !matches!(case.look, Look::Destinations | Look::Repository) {
            env.entry("KO_DOCKER_REPO".into())
                .or_insert_with(|| "r.io/me".into());
        }
        let mut flags = Flags {
            publish: PublishFlags {
                push: true,
                tags: vec!["latest".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        (case.flags)(&mut flags);
        match case.look {
            Look::CachePath => {
                return cache_dir(&env).map_or_else(|e| e.to_string(), |p| p.display().to_string())
            }
            Look::ConfigPath => {
                return match config_path(&env, Path::new("/w")) {
                    ConfigSource::Named { given, path } => format!("{given} {}", path.display()),
                    ConfigSource::Search(dir) => format!("search {}", dir.display()),
                }
            }
            _ => {}
        }
        let config = KoConfig::parse(case.yaml, Path::new("/m/.ko.yaml"), Path::new("/m")).unwrap();
        let settings = match settings(&flags, &env, &config) {
            Ok(settings) => settings,
            Err(e) => return format!("error: {e}"),
        };
        let package = Package {
            import_path: "example.com/m/cmd/app".into(),
            dir: "/m/cmd/app".into(),
            module_path: "example.com/m".into(),
            module_dir: "/m".into(),
        };
        let plan = for_package(&settings, &config, &package, Path::new("/m")).unwrap();
        shown(&case.look, settings, plan)
    }

    /// What a row looks at, as text.
    fn shown(look: &Look, settings: Settings, plan: PackagePlan) -> String {
        let pairs = |v: &[(String, String)]| {
            v.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match look {
            Look::Base => plan.base_image,
            Look::Platforms => match settings.platforms {
                Platforms::All => "all".into(),
                Platforms::List(list) => list
                    .iter()
                    .map(Platform::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                Platforms::Matching(list) => format!(
                    "matching {}",
                    list.iter()
                        .map(PlatformPattern::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            },
            Look::GoEnv => pairs(&plan.env),
            Look::GoFlags => plan.flags.join(" "),
            Look::Ldflags => plan.ldflags.join(" "),
            Look::Dir => plan.dir.display().to_string(),
            Look::User => plan.image.user.unwrap_or_default(),
            Look::Labels => plan
                .image
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            Look::Naming => format!("{:?}", settings.publish.naming),
            Look::Repository => settings.publish.repository,
            Look::Destinations => {
                let to = settings.publish.to;
                format!("registry={} local={}", to.registry, to.local)
            }
            Look::Created => {
                let kodata = settings.kodata_mtime.map(|t| t.to_string());
                format!(
                    "{} {}",
                    settings.created,
                    kodata.as_deref().unwrap_or("zero")
                )
            }
            Look::Tags => settings.publish.tags.join(","),
            Look::Insecure => settings.insecure_registries.join(" "),
            Look::Warnings => settings.warnings.join("; "),
            Look::DaemonPlatform => settings.publish.daemon_platform.to_string(),
            Look::Kind => settings.publish.to.kind.unwrap_or_else(|| "none".into()),
            Look::BuildConfig => plan.build_config.unwrap_or_else(|| "none".into()),
            Look::CachePath | Look::ConfigPath => unreachable!(),
        }
    }

    /// Which base image and platforms.
    fn base_and_platform_cases() -> Vec<Case> {
        vec![
            // Base image.
            Case { rule: "no base anywhere: builtin:static", yaml: "", env: &[], flags: no_flags, look: Look::Base, want: "builtin:static" },
            Case { rule: ".ko.yaml defaultBaseImage over the default", yaml: "defaultBaseImage: a.io/yaml\n", env: &[], flags: no_flags, look: Look::Base, want: "a.io/yaml" },
            Case { rule: "KO_DEFAULTBASEIMAGE over defaultBaseImage", yaml: "defaultBaseImage: a.io/yaml\n", env: &[("KO_DEFAULTBASEIMAGE", "a.io/env")], flags: no_flags, look: Look::Base, want: "a.io/env" },
            Case { rule: "an empty KO_DEFAULTBASEIMAGE counts as unset", yaml: "defaultBaseImage: a.io/yaml\n", env: &[("KO_DEFAULTBASEIMAGE", "")], flags: no_flags, look: Look::Base, want: "a.io/yaml" },
            Case { rule: "--base-image over KO_DEFAULTBASEIMAGE", yaml: "", env: &[("KO_DEFAULTBASEIMAGE", "a.io/env")], flags: |f| f.base_image = Some("a.io/flag".into()), look: Look::Base, want: "a.io/flag" },
            Case { rule: "baseImageOverrides over every default", yaml: "baseImageOverrides:\n  example.com/m/cmd/app: a.io/override\n", env: &[("KO_DEFAULTBASEIMAGE", "a.io/env")], flags: |f| f.base_image = Some("a.io/flag".into()), look: Look::Base, want: "a.io/override" },
            Case { rule: "baseImageOverrides keys match without case", yaml: "baseImageOverrides:\n  Example.com/M/cmd/app: a.io/override\n", env: &[], flags: no_flags, look: Look::Base, want: "a.io/override" },
            Case { rule: "baseImageOverrides for another path do not apply", yaml: "baseImageOverrides:\n  example.com/m/cmd/other: a.io/override\n", env: &[], flags: no_flags, look: Look::Base, want: "builtin:static" },
            // Platforms.
            Case { rule: "no platform anywhere: linux/amd64", yaml: "", env: &[], flags: no_flags, look: Look::Platforms, want: "linux/amd64" },
            Case { rule: ".ko.yaml defaultPlatforms over the default", yaml: "defaultPlatforms: [linux/arm64]\n", env: &[], flags: no_flags, look: Look::Platforms, want: "linux/arm64" },
            Case { rule: "KO_DEFAULTPLATFORMS over defaultPlatforms", yaml: "defaultPlatforms: [linux/arm64]\n", env: &[("KO_DEFAULTPLATFORMS", "linux/s390x,linux/arm/v7")], flags: no_flags, look: Look::Platforms, want: "linux/s390x,linux/arm/v7" },
            Case { rule: "KO_DEFAULTPLATFORMS may be split at whitespace too (viper's string slice)", yaml: "", env: &[("KO_DEFAULTPLATFORMS", "linux/s390x linux/arm64,linux/arm/v7")], flags: no_flags, look: Look::Platforms, want: "linux/s390x,linux/arm64,linux/arm/v7" },
            Case { rule: "--platform over KO_DEFAULTPLATFORMS", yaml: "", env: &[("KO_DEFAULTPLATFORMS", "linux/s390x")], flags: |f| f.platforms = vec!["linux/ppc64le".into()], look: Look::Platforms, want: "linux/ppc64le" },
            Case { rule: "--platform values add up (repeated, comma-split)", yaml: "", env: &[], flags: |f| f.platforms = vec!["linux/amd64".into(), "linux/arm64".into()], look: Look::Platforms, want: "linux/amd64,linux/arm64" },
            Case { rule: "an OS alone matches every platform of the base with that OS", yaml: "", env: &[], flags: |f| f.platforms = vec!["linux".into(), "windows/amd64".into()], look: Look::Platforms, want: "matching linux,windows/amd64" },
            Case { rule: "an invalid OS is refused by name", yaml: "", env: &[], flags: |f| f.platforms = vec!["Linux".into()], look: Look::Platforms, want: "error: --platform: invalid platform \"Linux\"" },
            Case { rule: "all means every platform of the base", yaml: "", env: &[], flags: |f| f.platforms = vec!["all".into()], look: Look::Platforms, want: "all" },
            Case { rule: "all beside a platform is an error (ko's Validate)", yaml: "", env: &[], flags: |f| f.platforms = vec!["linux/amd64".into(), "all".into()], look: Look::Platforms, want: "error: --platform linux/amd64,all: all or specific platforms" },
            Case { rule: "no platform anywhere: GOOS/GOARCH when both are set", yaml: "", env: &[("GOOS", "linux"), ("GOARCH", "arm64")], flags: no_flags, look: Look::Platforms, want: "linux/arm64" },
            Case { rule: "GOARM is the variant of GOARCH=arm", yaml: "", env: &[("GOOS", "linux"), ("GOARCH", "arm"), ("GOARM", "6")], flags: no_flags, look: Look::Platforms, want: "linux/arm/v6" },
            Case { rule: "GOARM is no variant of arm64", yaml: "", env: &[("GOOS", "linux"), ("GOARCH", "arm64"), ("GOARM", "7")], flags: no_flags, look: Look::Platforms, want: "linux/arm64" },
            Case { rule: "GOARCH without GOOS: linux/amd64", yaml: "", env: &[("GOARCH", "arm64")], flags: no_flags, look: Look::Platforms, want: "linux/amd64" },
            Case { rule: "--platform beside GOARCH is an error", yaml: "", env: &[("GOARCH", "arm64")], flags: |f| f.platforms = vec!["linux/amd64".into()], look: Look::Platforms, want: "error: --platform linux/amd64 cannot be combined with GOARCH=\"arm64\"" },
            Case { rule: "KO_DEFAULTPLATFORMS beside GOOS is an error", yaml: "", env: &[("KO_DEFAULTPLATFORMS", "linux/arm64"), ("GOOS", "linux")], flags: no_flags, look: Look::Platforms, want: "error: KO_DEFAULTPLATFORMS linux/arm64 cannot be combined with GOOS=\"linux\"" },
            Case { rule: "defaultPlatforms beside GOARM is an error", yaml: "defaultPlatforms: [linux/arm64]\n", env: &[("GOARM", "7")], flags: no_flags, look: Look::Platforms, want: "error: .ko.yaml defaultPlatforms linux/arm64 cannot be combined with GOARM=\"7\"" },
            Case { rule: "an empty GOOS counts as unset", yaml: "", env: &[("GOOS", "")], flags: |f| f.platforms = vec!["linux/s390x".into()], look: Look::Platforms, want: "linux/s390x" },
        ]
    }

    /// How `go build` runs and what the image config gets.
    fn go_build_cases() -> Vec<Case> {
        vec![
            // The Go environment, flags and ldflags.
            Case { rule: "CGO_ENABLED=0 unless the environment sets it", yaml: "", env: &[], flags: no_flags, look: Look::GoEnv, want: "CGO_ENABLED=0" },
            Case { rule: "the environment's CGO_ENABLED is inherited", yaml: "", env: &[("CGO_ENABLED", "1")], flags: no_flags, look: Look::GoEnv, want: "" },
            Case { rule: "defaultEnv applies without a builds[] entry", yaml: "defaultEnv: [GOEXPERIMENT=x]\n", env: &[], flags: no_flags, look: Look::GoEnv, want: "CGO_ENABLED=0 GOEXPERIMENT=x" },
            Case { rule: "builds[].env replaces defaultEnv", yaml: "defaultEnv: [A=1]\nbuilds:\n- main: ./cmd/app\n  env: [B=2]\n", env: &[], flags: no_flags, look: Look::GoEnv, want: "CGO_ENABLED=0 B=2" },
            Case { rule: "builds[].flags replaces defaultFlags", yaml: "defaultFlags: [-tags=a]\nbuilds:\n- main: ./cmd/app\n  flags: [-tags=b]\n", env: &[], flags: no_flags, look: Look::GoFlags, want: "-tags=b" },
            Case { rule: "defaultFlags when builds[] has none", yaml: "defaultFlags: [-tags=a]\nbuilds:\n- main: ./cmd/app\n", env: &[], flags: no_flags, look: Look::GoFlags, want: "-tags=a" },
            Case { rule: "builds[] for another package does not apply", yaml: "defaultFlags: [-tags=a]\nbuilds:\n- main: ./cmd/other\n  flags: [-tags=b]\n", env: &[], flags: no_flags, look: Look::GoFlags, want: "-tags=a" },
            Case { rule: "the last builds[] entry for a package wins", yaml: "builds:\n- main: ./cmd/app\n  flags: [-tags=first]\n- main: cmd/app\n  flags: [-tags=last]\n", env: &[], flags: no_flags, look: Look::GoFlags, want: "-tags=last" },
            Case { rule: "builds[].ldflags replaces defaultLdflags", yaml: "defaultLdflags: [-s]\nbuilds:\n- main: ./cmd/app\n  ldflags: [-X a=b]\n", env: &[], flags: no_flags, look: Look::Ldflags, want: "-X a=b" },
            Case { rule: "--ldflags replaces .ko.yaml's ldflags", yaml: "defaultLdflags: [-s]\nbuilds:\n- main: ./cmd/app\n  ldflags: [-X a=b]\n", env: &[], flags: |f| f.ldflags = vec!["-w".into()], look: Look::Ldflags, want: "-w" },
            // Where go build runs.
            Case { rule: "go build runs in the module without builds[].dir", yaml: "", env: &[], flags: no_flags, look: Look::Dir, want: "/m" },
            Case { rule: "builds[].dir is relative to the working directory (ko's NewGobuilds)", yaml: "builds:\n- dir: cmd\n  main: ./app\n", env: &[], flags: no_flags, look: Look::Dir, want: "/m/cmd" },
            Case { rule: "builds[] matches by dir/main", yaml: BUILDS, env: &[], flags: no_flags, look: Look::Dir, want: "/m" },
            Case { rule: "the builds[] entry is named by its id", yaml: "builds:\n- id: the-app\n  main: ./cmd/app\n", env: &[], flags: no_flags, look: Look::BuildConfig, want: "the-app" },
            Case { rule: "... or #N without one (ko's createBuildConfigMap)", yaml: "builds:\n- main: ./cmd/other\n- main: ./cmd/app\n", env: &[], flags: no_flags, look: Look::BuildConfig, want: "#1" },
            Case { rule: "... an empty id too", yaml: "builds:\n- id: ''\n  main: ./cmd/app\n", env: &[], flags: no_flags, look: Look::BuildConfig, want: "#0" },
            Case { rule: "no builds[] entry, no name", yaml: "builds:\n- id: x\n  main: ./cmd/other\n", env: &[], flags: no_flags, look: Look::BuildConfig, want: "none" },
            // viper's AutomaticEnv: KO_DEFAULTENV, KO_DEFAULTFLAGS, KO_DEFAULTLDFLAGS.
            Case { rule: "KO_DEFAULTENV over defaultEnv, split at whitespace", yaml: "defaultEnv: [A=yaml]\n", env: &[("KO_DEFAULTENV", "B=1 C=2")], flags: no_flags, look: Look::GoEnv, want: "CGO_ENABLED=0 B=1 C=2" },
            Case { rule: "KO_DEFAULTENV is not split at commas", yaml: "", env: &[("KO_DEFAULTENV", "A=1,B=2")], flags: no_flags, look: Look::GoEnv, want: "CGO_ENABLED=0 A=1,B=2" },
            Case { rule: "an empty KO_DEFAULTENV counts as unset", yaml: "defaultEnv: [A=yaml]\n", env: &[("KO_DEFAULTENV", "")], flags: no_flags, look: Look::GoEnv, want: "CGO_ENABLED=0 A=yaml" },
            Case { rule: "a blank KO_DEFAULTENV is an empty list over defaultEnv", yaml: "defaultEnv: [A=yaml]\n", env: &[("KO_DEFAULTENV", " ")], flags: no_flags, look: Look::GoEnv, want: "CGO_ENABLED=0" },
            Case { rule: "builds[].env over KO_DEFAULTENV", yaml: "builds:\n- main: ./cmd/app\n  env: [B=2]\n", env: &[("KO_DEFAULTENV", "A=1")], flags: no_flags, look: Look::GoEnv, want: "CGO_ENABLED=0 B=2" },
            Case { rule: "KO_DEFAULTFLAGS over defaultFlags", yaml: "defaultFlags: [-x]\n", env: &[("KO_DEFAULTFLAGS", "-v -tags=extra")], flags: no_flags, look: Look::GoFlags, want: "-v -tags=extra" },
            Case { rule: "builds[].flags over KO_DEFAULTFLAGS", yaml: "builds:\n- main: ./cmd/app\n  flags: [-tags=b]\n", env: &[("KO_DEFAULTFLAGS", "-v")], flags: no_flags, look: Look::GoFlags, want: "-tags=b" },
            Case { rule: "KO_DEFAULTLDFLAGS over defaultLdflags, split at whitespace", yaml: "defaultLdflags: [-s]\n", env: &[("KO_DEFAULTLDFLAGS", "-X main.a=b -w")], flags: no_flags, look: Look::Ldflags, want: "-X main.a=b -w" },
            Case { rule: "--ldflags over KO_DEFAULTLDFLAGS", yaml: "", env: &[("KO_DEFAULTLDFLAGS", "-s")], flags: |f| f.ldflags = vec!["-w".into()], look: Look::Ldflags, want: "-w" },
            // Image settings.
            Case { rule: "builds[].image.user over defaultImage.user", yaml: "defaultImage: {user: '1'}\nbuilds:\n- main: ./cmd/app\n  image: {user: '2'}\n", env: &[], flags: no_flags, look: Look::User, want: "2" },
            Case { rule: "--image-user over .ko.yaml's user", yaml: "defaultImage: {user: '1'}\n", env: &[], flags: |f| f.image.user = Some("3".into()), look: Look::User, want: "3" },
            Case { rule: "labels merge key by key, flags last", yaml: "defaultImage: {labels: {a: '1', b: '1'}}\nbuilds:\n- main: ./cmd/app\n  image: {labels: {b: '2', c: '2'}}\n", env: &[], flags: |f| { f.image.labels.insert("c".into(), "3".into()); }, look: Look::Labels, want: "a=1 b=2 c=3" },
        ]
    }

    /// How images are named, tagged and published.
    fn publishing_cases() -> Vec<Case> {
        vec![
            // Naming.
            Case { rule: "default naming is ko's md5 naming", yaml: "", env: &[], flags: no_flags, look: Look::Naming, want: "Default" },
            Case { rule: "-B names by the last element", yaml: "", env: &[], flags: |f| f.naming.base_import_paths = true, look: Look::Naming, want: "BaseImportPaths" },
            Case { rule: "--bare names the repository itself", yaml: "", env: &[], flags: |f| f.naming.bare = true, look: Look::Naming, want: "Bare" },
            Case { rule: "-P over -B", yaml: "", env: &[], flags: |f| { f.naming.base_import_paths = true; f.naming.preserve_import_paths = true; }, look: Look::Naming, want: "PreserveImportPaths" },
            Case { rule: "-P over --bare (ko's MakeNamer)", yaml: "", env: &[], flags: |f| { f.naming.bare = true; f.naming.preserve_import_paths = true; }, look: Look::Naming, want: "PreserveImportPaths" },
            Case { rule: "-B over --bare (ko's MakeNamer)", yaml: "", env: &[], flags: |f| { f.naming.bare = true; f.naming.base_import_paths = true; }, look: Look::Naming, want: "BaseImportPaths" },
            Case { rule: "-B with --bare is warned about (ko's Validate)", yaml: "", env: &[], flags: |f| { f.naming.bare = true; f.naming.base_import_paths = true; }, look: Look::Warnings, want: "both --base-import-paths (-B) and --bare were set: --base-import-paths wins and --bare is ignored, as in ko" },
            Case { rule: "-B alone is not warned about", yaml: "", env: &[], flags: |f| f.naming.base_import_paths = true, look: Look::Warnings, want: "" },
            // Tags.
            Case { rule: "each tag once, in the order given", yaml: "", env: &[], flags: |f| f.publish.tags = vec!["v1".into(), "v2".into(), "v1".into()], look: Look::Tags, want: "v1,v2" },
            Case { rule: "--tag-only with latest is refused when pushing", yaml: "", env: &[], flags: |f| f.publish.tag_only = true, look: Look::Tags, want: "error: --tag-only: the latest tag cannot be used" },
            Case { rule: "--tag-only with several tags is refused when pushing", yaml: "", env: &[], flags: |f| { f.publish.tag_only = true; f.publish.tags = vec!["v1".into(), "v2".into()]; }, look: Look::Tags, want: "error: --tag-only with --tags v1,v2: must specify exactly one tag" },
            Case { rule: "--tag-only with one tag twice is one tag", yaml: "", env: &[], flags: |f| { f.publish.tag_only = true; f.publish.tags = vec!["v1".into(), "v1".into()]; }, look: Look::Tags, want: "v1" },
            Case { rule: "a push without tags is refused by flag (ko would print a digest it never pushed)", yaml: "", env: &[], flags: |f| f.publish.tags = vec![], look: Look::Tags, want: "error: --tags is empty" },
            Case { rule: "no tags without a push print name@digest", yaml: "", env: &[], flags: |f| { f.publish.tags = vec![]; f.publish.push = false; }, look: Look::Tags, want: "" },
            Case { rule: "--tag-only without a push needs a tag to print", yaml: "", env: &[], flags: |f| { f.publish.tag_only = true; f.publish.push = false; f.publish.tags = vec![]; }, look: Look::Tags, want: "error: --tag-only without a tag" },
            Case { rule: "--tag-only without a push takes the first tag, latest too", yaml: "", env: &[], flags: |f| { f.publish.tag_only = true; f.publish.push = false; }, look: Look::Tags, want: "latest" },
            // --insecure-registry.
            Case { rule: "without --insecure-registry no registry is insecure", yaml: "defaultBaseImage: b.io/base\n", env: &[], flags: no_flags, look: Look::Insecure, want: "" },
            Case { rule: "--insecure-registry: KO_DOCKER_REPO's registry and the bases'", yaml: "defaultBaseImage: b.io:5000/base\nbaseImageOverrides:\n  example.com/m/cmd/other: c.io/base\n", env: &[], flags: |f| f.insecure_registry = true, look: Look::Insecure, want: "r.io b.io:5000 c.io" },
            Case { rule: "--insecure-registry: a bare registry repository is a registry", yaml: "", env: &[("KO_DOCKER_REPO", "localhost:5000")], flags: |f| f.insecure_registry = true, look: Look::Insecure, want: "localhost:5000" },
            Case { rule: "--insecure-registry: no ko.local, no builtin base", yaml: "", env: &[("KO_DOCKER_REPO", "ko.local/team"), ("KO_DEFAULTBASEIMAGE", "scratch")], flags: |f| f.insecure_registry = true, look: Look::Insecure, want: "" },
            Case { rule: "--insecure-registry: the same registry once", yaml: "defaultBaseImage: r.io/base\n", env: &[], flags: |f| f.insecure_registry = true, look: Look::Insecure, want: "r.io" },
            // Destinations.
            Case { rule: "KO_DOCKER_REPO is the repository, pushed to", yaml: "", env: &[("KO_DOCKER_REPO", "r.io/me")], flags: no_flags, look: Look::Destinations, want: "registry=true local=false" },
            Case { rule: "a malformed KO_DOCKER_REPO is refused by name, before any build", yaml: "", env: &[("KO_DOCKER_REPO", "r.io/Not_A_Valid/REPO!")], flags: no_flags, look: Look::Destinations, want: "error: KO_DOCKER_REPO=\"r.io/Not_A_Valid/REPO!\" is not a repository: repository \"Not_A_Valid/REPO!\" contains 'N'" },
            Case { rule: "a malformed KO_DOCKER_REPO is refused without a push too", yaml: "", env: &[("KO_DOCKER_REPO", "r.io/a//b")], flags: |f| f.publish.push = false, look: Look::Destinations, want: "error: KO_DOCKER_REPO=\"r.io/a//b\" is not a repository: repository \"a//b\" has an empty path component" },
            Case { rule: "a registry alone is a repository", yaml: "", env: &[("KO_DOCKER_REPO", "localhost:5000")], flags: no_flags, look: Look::Destinations, want: "registry=true local=false" },
            Case { rule: "no KO_DOCKER_REPO and nowhere else to go is an error", yaml: "", env: &[], flags: no_flags, look: Look::Destinations, want: "error: no destination: set KO_DOCKER_REPO" },
            Case { rule: "KO_DOCKER_REPO=ko.local loads locally", yaml: "", env: &[("KO_DOCKER_REPO", "ko.local")], flags: no_flags, look: Look::Destinations, want: "registry=false local=true" },
            Case { rule: "-L loads locally whatever KO_DOCKER_REPO says", yaml: "", env: &[("KO_DOCKER_REPO", "r.io/me")], flags: |f| f.publish.local = true, look: Look::Destinations, want: "registry=false local=true" },
            Case { rule: "--push=false pushes nowhere", yaml: "", env: &[("KO_DOCKER_REPO", "r.io/me")], flags: |f| f.publish.push = false, look: Look::Destinations, want: "registry=false local=false" },
            Case { rule: "without KO_DOCKER_REPO the repository is ko.local", yaml: "", env: &[], flags: |f| f.publish.push = false, look: Look::Repository, want: "ko.local" },
            Case { rule: "a KO_DOCKER_REPO under ko.local loads locally", yaml: "", env: &[("KO_DOCKER_REPO", "ko.local/team")], flags: no_flags, look: Look::Destinations, want: "registry=false local=true" },
            Case { rule: "... and names the images", yaml: "", env: &[("KO_DOCKER_REPO", "ko.local/team")], flags: no_flags, look: Look::Repository, want: "ko.local/team" },
            Case { rule: "a registry whose name starts ko.local is a registry", yaml: "", env: &[("KO_DOCKER_REPO", "ko.localhost:5000/team")], flags: no_flags, look: Look::Destinations, want: "registry=true local=false" },
            Case { rule: "-L names images under KO_DOCKER_REPO (ko's LocalDomain = repoName)", yaml: "", env: &[("KO_DOCKER_REPO", "r.io/me")], flags: |f| f.publish.local = true, look: Look::Repository, want: "r.io/me" },
            Case { rule: "the daemon gets an index's linux/amd64 image", yaml: "", env: &[], flags: no_flags, look: Look::DaemonPlatform, want: "linux/amd64" },
            Case { rule: "... or its GOOS/GOARCH image", yaml: "", env: &[("GOOS", "linux"), ("GOARCH", "arm64")], flags: no_flags, look: Look::DaemonPlatform, want: "linux/arm64" },
            // kind.local: ko's makePublisher (pkg/commands/resolver.go) and
            // getNodes (pkg/publish/kind/write.go).
            Case { rule: "KO_DOCKER_REPO=kind.local loads into kind, pushes nowhere", yaml: "", env: &[("KO_DOCKER_REPO", "kind.local")], flags: no_flags, look: Look::Destinations, want: "registry=false local=false" },
            Case { rule: "... into the cluster named kind by default", yaml: "", env: &[("KO_DOCKER_REPO", "kind.local")], flags: no_flags, look: Look::Kind, want: "kind" },
            Case { rule: "KIND_CLUSTER_NAME names the cluster", yaml: "", env: &[("KO_DOCKER_REPO", "kind.local"), ("KIND_CLUSTER_NAME", "dev")], flags: no_flags, look: Look::Kind, want: "dev" },
            Case { rule: "an empty KIND_CLUSTER_NAME counts as unset", yaml: "", env: &[("KO_DOCKER_REPO", "kind.local"), ("KIND_CLUSTER_NAME", "")], flags: no_flags, look: Look::Kind, want: "kind" },
            Case { rule: "a KO_DOCKER_REPO under kind.local loads into kind", yaml: "", env: &[("KO_DOCKER_REPO", "kind.local/team")], flags: no_flags, look: Look::Kind, want: "kind" },
            Case { rule: "... and names the images", yaml: "", env: &[("KO_DOCKER_REPO", "kind.local/team")], flags: no_flags, look: Look::Repository, want: "kind.local/team" },
            Case { rule: "kind.local loads into kind even with --push=false (ko picks the kind publisher first)", yaml: "", env: &[("KO_DOCKER_REPO", "kind.local")], flags: |f| f.publish.push = false, look: Look::Kind, want: "kind" },
            Case { rule: "-L wins over kind.local (ko checks Local first)", yaml: "", env: &[("KO_DOCKER_REPO", "kind.local")], flags: |f| f.publish.local = true, look: Look::Kind, want: "none" },
            Case { rule: "... and loads into the local daemon", yaml: "", env: &[("KO_DOCKER_REPO", "kind.local")], flags: |f| f.publish.local = true, look: Look::Destinations, want: "registry=false local=true" },
            Case { rule: "a registry KO_DOCKER_REPO loads into no kind cluster", yaml: "", env: &[("KO_DOCKER_REPO", "r.io/me"), ("KIND_CLUSTER_NAME", "dev")], flags: no_flags, look: Look::Kind, want: "none" },
            Case { rule: "a registry whose name starts kind.local is a registry", yaml: "", env: &[("KO_DOCKER_REPO", "kind.localhost:5000/team")], flags: no_flags, look: Look::Destinations, want: "registry=true local=false" },
            Case { rule: "--insecure-registry: no kind.local, no ko.local base", yaml: "defaultBaseImage: ko.local/base:1\n", env: &[("KO_DOCKER_REPO", "kind.local")], flags: |f| f.insecure_registry = true, look: Look::Insecure, want: "" },
        ]
    }

    /// Times, paths and refusals.
    fn environment_cases() -> Vec<Case> {
        vec![
            // Times, paths and refusals.
            Case {
                rule: "SOURCE_DATE_EPOCH, else 0; KO_DATA_DATE_EPOCH, else Go's zero time",
                yaml: "",
                env: &[("SOURCE_DATE_EPOCH", "7")],
                flags: no_flags,
                look: Look::Created,
                want: "7 zero",
            },
            Case {
                rule: "KO_DATA_DATE_EPOCH dates kodata",
                yaml: "",
                env: &[("KO_DATA_DATE_EPOCH", "9")],
                flags: no_flags,
                look: Look::Created,
                want: "0 9",
            },
            Case {
                rule: "a SOURCE_DATE_EPOCH that is not a number is an error",
                yaml: "",
                env: &[("SOURCE_DATE_EPOCH", "yesterday")],
                flags: no_flags,
                look: Look::Created,
                want: "error: SOURCE_DATE_EPOCH=\"yesterday\" is not a number",
            },
            Case {
                rule: "GOFLAGS with -toolexec is refused",
                yaml: "",
                env: &[("GOFLAGS", "-toolexec=x")],
                flags: no_flags,
                look: Look::Created,
                want: "error: GOFLAGS=\"-toolexec=x\": -toolexec is not supported",
            },
            Case {
                rule: "KOCACHE over XDG_CACHE_HOME over HOME",
                yaml: "",
                env: &[("KOCACHE", "/k"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")],
                flags: no_flags,
                look: Look::CachePath,
                want: "/k",
            },
            Case {
                rule: "XDG_CACHE_HOME/rko over HOME",
                yaml: "",
                env: &[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")],
                flags: no_flags,
                look: Look::CachePath,
                want: "/x/rko",
            },
            Case {
                rule: "~/.cache/rko last",
                yaml: "",
                env: &[("HOME", "/h")],
                flags: no_flags,
                look: Look::CachePath,
                want: "/h/.cache/rko",
            },
            Case {
                rule: "KO_CONFIG_PATH over ./.ko.yaml, from the working directory",
                yaml: "",
                env: &[("KO_CONFIG_PATH", "conf/ko.yaml")],
                flags: no_flags,
                look: Look::ConfigPath,
                want: "conf/ko.yaml /w/conf/ko.yaml",
            },
            Case {
                rule: ".ko.yaml (or .ko.yml, .ko.json) in the working directory",
                yaml: "",
                env: &[("KO_CONFIG_PATH", "")],
                flags: no_flags,
                look: Look::ConfigPath,
                want: "search /w",
            },
        ]
    }

    #[test]
    fn precedence_follows_ko() {
        let cases = [
            base_and_platform_cases(),
            go_build_cases(),
            publishing_cases(),
            environment_cases(),
        ];
        let mut failures = Vec::new();
        for case in cases.iter().flatten() {
            let got = observe(case);
            let ok = if case.want.starts_with("error: ") || case.want.is_empty() {
                got.starts_with(case.want) && (case.want.is_empty() == got.is_empty())
            } else {
                got == case.want
            };
            if !ok {
                failures.push(format!("{}: got {got:?}, want {:?}", case.rule, case.want));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Where a package's flags and ldflags come from (for template
    /// errors), and its `linux_capabilities` (ko's pkg/build/gobuild.go
    /// `buildOne`: `caps.NewFileCaps(config.LinuxCapabilities...)`, an error
    /// prefixed `linux_capabilities:`).
    #[test]
    fn flags_say_where_they_come_from_and_capabilities_are_parsed() {
        let app = "- main: ./cmd/app\n  dir: .\n";
        let cases = [
            ("defaultFlags: [-a]\nbuilds:\n- main: ./other\n", None, "defaultFlags defaultLdflags none"),
            ("builds:\n- main: ./other\n  flags: [-a]\n", None, "defaultFlags defaultLdflags none"),
            (&*format!("builds:\n- main: ./other\n{app}  flags: [-a]\n  linux_capabilities: [net_bind_service]\n"), None, "builds[1].flags defaultLdflags Some"),
            (&*format!("builds:\n{app}  ldflags: [-s]\n"), Some("-w"), "defaultFlags --ldflags none"),
            (&*format!("builds:\n{app}  ldflags: [-s]\n"), None, "defaultFlags builds[0].ldflags none"),
            (&*format!("builds:\n{app}  linux_capabilities: [net_bind_servic]\n"), None, "error: /m/.ko.yaml: builds[0].linux_capabilities: unknown capability: \"net_bind_servic\""),
        ];
        let package = Package {
            import_path: "example.com/m/cmd/app".into(),
            dir: "/m/cmd/app".into(),
            module_path: "example.com/m".into(),
            module_dir: "/m".into(),
        };
        for (yaml, ldflags, want) in cases {
            let config = KoConfig::parse(yaml, Path::new("/m/.ko.yaml"), Path::new("/m")).unwrap();
            let env = Env::from([("KO_DOCKER_REPO".to_string(), "r.io/me".to_string())]);
            let flags = Flags {
                ldflags: ldflags.into_iter().map(str::to_string).collect(),
                ..Default::default()
            };
            let got = match for_package(
                &settings(&flags, &env, &config).unwrap(),
                &config,
                &package,
                Path::new("/m"),
            ) {
                Ok(plan) => format!(
                    "{} {} {}",
                    plan.flags_from.key,
                    plan.ldflags_from.key,
                    plan.capabilities.map_or("none", |_| "Some")
                ),
                Err(e) => format!("error: {e}"),
            };
            assert_eq!(got, want, "{yaml}");
        }
    }
}
