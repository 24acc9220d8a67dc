//! `rko build` from start to end: `.ko.yaml` read and rendered, the plan
//! made, every import path built, every image published. `resolve`,
//! `apply`, `create` and `run` call it for the `ko://` references they find.

use crate::error::{Error, Result};
use crate::image::platform::Platform;
use crate::porcelain::build;
use crate::porcelain::cache::Cache;
use crate::porcelain::context::Context;
use crate::porcelain::publish::{self, Image, Published};
use crate::porcelain::settings::env::{self, Env};
use crate::porcelain::settings::flags::Flags;
use crate::porcelain::settings::ko_yaml::KoConfig;
use crate::porcelain::settings::plan;
use crate::porcelain::settings::template::Templating;
use crate::registry::RegistryOptions;
use std::path::PathBuf;

/// One run of `rko build`, everything it depends on given as values.
#[derive(Debug, Clone)]
pub struct Request {
    /// Import paths as the user gave them.
    pub targets: Vec<String>,
    pub flags: Flags,
    /// The process environment.
    pub env: Env,
    /// Where relative import paths and `.ko.yaml` are found.
    pub work_dir: PathBuf,
    /// Seconds since the epoch, for `.ko.yaml`'s `{{.Date}}` without
    /// `SOURCE_DATE_EPOCH`.
    pub now: u64,
    pub registry: RegistryOptions,
    pub jobs: usize,
}

/// What happened to one target.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The target as given.
    pub target: String,
    pub import_path: String,
    pub platforms: Vec<Platform>,
    pub layers_built: usize,
    pub layers_cached: usize,
    pub published: Published,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// One per target, in the order given.
    pub outcomes: Vec<Outcome>,
    /// What was found broken in `KOCACHE` and rebuilt.
    pub warnings: Vec<String>,
}

/// Builds and publishes every target.
pub fn build_and_publish(request: &Request) -> Result<Report> {
    with_context(request, |context| {
        if context.settings.publish.to.registry {
            // Not waited for: a build that fails says so at once, whatever the
            // registry. The first push waits for it instead (see Sessions).
            let settings = context.settings;
            let (repository, registry) = (
                settings.publish.repository.clone(),
                context.registry.clone(),
            );
            std::thread::spawn(move || publish::warm_up(&repository, &registry));
        }
        publish_built(request, context)
    })
}

/// Builds every target into layouts in the cache and hands them to `use_built`
/// before they go: what `rko verify` rebuilds with. Nothing is published.
pub fn rebuild<T>(
    request: &Request,
    use_built: impl FnOnce(&[build::Built]) -> Result<T>,
) -> Result<T> {
    with_context(request, |context| {
        let builds = build::build_all(context, &request.targets)?;
        use_built(&builds)
    })
}

/// Runs `run` with the context of `request`: `.ko.yaml` read, the
/// settings planned, the cache open (and settled after).
fn with_context<T>(request: &Request, run: impl FnOnce(Context) -> Result<T>) -> Result<T> {
    let (config, templating) = load_config(request)?;
    let settings = plan::settings(&request.flags, &request.env, &config)?;
    let cap = crate::porcelain::cache::size::cap(&request.env)?;
    let cache = Cache::open(&env::cache_dir(&request.env)?)?;
    let registry = with_insecure(&request.registry, &settings.insecure_registries);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(request.jobs.max(1))
        .thread_name(|i| format!("rko-job-{i}"))
        .build()
        .map_err(|e| {
            Error::invalid(format!(
                "--jobs={}: cannot start its threads: {e}",
                request.jobs
            ))
        })?;
    let context = Context {
        settings: &settings,
        config: &config,
        cache: &cache,
        registry: &registry,
        work_dir: &request.work_dir,
        pool: &pool,
        templating: &templating,
        env: &request.env,
        now: request.now,
    };
    let result = run(context);
    cache.settle(cap);
    result
}

/// [`build_and_publish`] once the context is set: each image pushed as
/// soon as it is built, then published elsewhere in order.
fn publish_built(request: &Request, context: Context) -> Result<Report> {
    let (settings, cache, registry) = (context.settings, context.cache, context.registry);
    let publishing = &settings.publish;
    publish::check_count(publishing, request.targets.len())?;
    // Pushing waits on the network, not the CPU: at least sixteen requests
    // at once, so that no blob of an image with its SBOM and provenance
    // (base, binary and kodata layers, config; the SBOM, the statement,
    // their empty config, cosign's two configs) waits for another.
    let jobs = request.jobs.max(16);
    let (builds, pushed) = if publishing.to.registry {
        let count = request.targets.len();
        publish::early::while_building(publishing, registry, jobs, count, |ready| {
            build::build_all_then(context, &request.targets, &|index, built| {
                ready(publish::early::Ready {
                    index,
                    import_path: built.package.import_path.clone(),
                    layout: built.layout.clone(),
                    // Every layer from the cache: likely the image pushed
                    // last time, so the registry is asked first.
                    reused: built.layers_built == 0,
                })
            })
        })?
    } else {
        (build::build_all(context, &request.targets)?, Vec::new())
    };
    let images: Vec<Image> = builds
        .iter()
        .map(|b| Image {
            import_path: &b.package.import_path,
            layout: &b.layout,
            digest: &b.digest,
        })
        .collect();
    let published = publish::publish_all(&images, publishing, pushed, cache)?;
    let outcomes = request
        .targets
        .iter()
        .zip(builds)
        .zip(published)
        .map(|((target, built), published)| Outcome {
            target: target.clone(),
            import_path: built.package.import_path.clone(),
            platforms: built.platforms.clone(),
            layers_built: built.layers_built,
            layers_cached: built.layers_cached,
            published,
        })
        .collect();
    let mut warnings = settings.warnings.clone();
    warnings.extend(cache.take_warnings());
    Ok(Report { outcomes, warnings })
}

/// `options` with `registries` (what `--insecure-registry` opens) insecure too.
fn with_insecure(options: &RegistryOptions, registries: &[String]) -> RegistryOptions {
    let mut options = options.clone();
    for registry in registries {
        if !options.insecure.contains(registry) {
            options.insecure.push(registry.clone());
        }
    }
    options
}

/// `.ko.yaml` with its image settings rendered and its build templates
/// checked, and what build templates will read. `go env` and git are
/// asked only when a template reads them.
fn load_config(request: &Request) -> Result<(KoConfig, Templating)> {
    let config = KoConfig::load(
        &env::config_path(&request.env, &request.work_dir),
        &request.work_dir,
    )?;
    // Said at once: a key mistyped may be why the build goes wrong.
    for warning in config.warnings() {
        log::warn!("{warning}");
    }
    let created = env::epoch(&request.env, "SOURCE_DATE_EPOCH")?;
    let templating = Templating::new(
        request.env.clone(),
        env::go_command(&request.env),
        request.work_dir.clone(),
        created.unwrap_or(request.now),
    );
    Ok((config.render(&templating)?, templating))
}
