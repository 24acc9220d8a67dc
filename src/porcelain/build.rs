//! `rko build`'s engine: from import paths to image layouts, in-process,
//! with the library functions the plumbing subcommands use. Binaries go to
//! stable paths in the cache (so Go skips relinking) and layers are cached
//! by their inputs.
//!
//! Parallelism: every (import path, platform) pair is one work item, and
//! that one level owns `--jobs`. Compression inside an item gets the cores
//! the items leave free; `go list` and kodata layers, before the pairs,
//! run one item per import path the same way. When the platforms are
//! given, base images from a registry or the daemon are resolved (and
//! kodata layers made) while `go build` runs.

use crate::error::{Error, IoContext, Result};
use crate::image::append::{self, AppendOptions, LayerInput};
use crate::image::config::{rfc3339, ConfigEdits, History, GO_ZERO_TIME, KO_APP_DIR};
use crate::image::index::{self, IndexOptions};
use crate::image::platform::Platform;
use crate::image::referrers;
use crate::parallel;
use crate::porcelain::announce::Announcer;
use crate::porcelain::assemble::base_image::BaseImage;
use crate::porcelain::assemble::layers::{self, Counters};
use crate::porcelain::attest;
use crate::porcelain::binaries::{self, Binary, Wanted};
use crate::porcelain::cache::Scratch;
use crate::porcelain::context::Context;
use crate::porcelain::go::list::{self, Package};
use crate::porcelain::publish::naming;
use crate::porcelain::settings::plan::{self, PackagePlan, Settings};
use crate::sbom::{self, ImageRef, SbomOptions};
use oci_spec::image::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One import path, built.
#[derive(Debug)]
pub struct Built {
    pub package: Package,
    /// An OCI layout holding the image or index (and its SBOM).
    pub layout: PathBuf,
    /// The image's or the index's digest.
    pub digest: Digest,
    pub platforms: Vec<Platform>,
    pub layers_built: usize,
    pub layers_cached: usize,
    /// Keeps `layout` alive until the caller is done with it.
    _scratch: Scratch,
}

/// An import path ready for its per-platform builds.
struct Prepared {
    package: Package,
    plan: PackagePlan,
    platforms: Vec<Platform>,
    kodata: Option<LayerInput>,
    /// The kodata layer in ko's Windows format, when a platform is Windows.
    kodata_windows: Option<LayerInput>,
    /// The name the image is published under (the SBOM names it).
    image_name: String,
    counters: Counters,
    scratch: Scratch,
}

/// One platform's image, in its own layout.
struct PlatformImage {
    platform: Platform,
    layout: PathBuf,
    digest: Digest,
}

/// Builds every target; results in the order given.
pub fn build_all(cx: Context, targets: &[String]) -> Result<Vec<Built>> {
    build_all_then(cx, targets, &|_, _| {})
}

/// [`build_all`], handing each target's image to `ready`, with the target's
/// index, as soon as it is built: while the others still build.
pub fn build_all_then(
    cx: Context,
    targets: &[String],
    ready: &(dyn Fn(usize, &Built) + Sync),
) -> Result<Vec<Built>> {
    let packages = cx.try_map(targets, |target| {
        list::list_cached(
            &cx.settings.go,
            cx.env,
            cx.work_dir,
            target,
            &cx.cache.list_dir(),
        )
    })?;
    let plans = packages
        .iter()
        .map(|package| plan::for_package(cx.settings, cx.config, package, cx.work_dir))
        .collect::<Result<Vec<_>>>()?;
    let pairs: Vec<(Package, PackagePlan)> = packages.into_iter().zip(plans).collect();
    let announcer = Announcer::default();
    let (bases, prepared, binaries) = match &cx.settings.platforms {
        plan::Platforms::List(platforms)
            if pairs.iter().any(|(_, plan)| waits(&plan.base_image)) =>
        {
            overlapped(cx, &pairs, platforms, &announcer)?
        }
        _ => in_turn(cx, &pairs, &announcer)?,
    };
    let mut binaries = binaries.into_iter();
    let platforms: usize = prepared.iter().map(|p| p.platforms.len()).sum();
    let work: Vec<Pending> = prepared
        .into_iter()
        .map(|p| {
            let own = binaries.by_ref().take(p.platforms.len()).collect();
            (Mutex::new(Some(p)), own)
        })
        .collect();
    let indices: Vec<usize> = (0..work.len()).collect();
    cx.try_map(&indices, |&i| {
        let (slot, binaries) = &work[i];
        let target = parallel::lock(slot)
            .take()
            .expect("each target is finished once");
        let base = &bases[&target.plan.base_image];
        let items: Vec<(&Platform, &Binary)> = target
            .platforms
            .iter()
            .zip(binaries.iter().map(|b| &**b))
            .collect();
        let images = cx.try_map(&items, |item| {
            build_platform(
                cx,
                &target,
                base,
                *item,
                parallel::share(cx.jobs(), platforms),
            )
        })?;
        let built = finish(cx, target, base, images)?;
        ready(i, &built);
        Ok(built)
    })
}

/// A prepared target, taken out once by the thread that finishes it, and
/// its binaries, one per platform in the order `prepare` lists them.
type Pending = (Mutex<Option<Prepared>>, Vec<Arc<Binary>>);

/// The base images, the prepared import paths and the binaries, one
/// (import path, platform) after another, each in turn.
type Ready = (BTreeMap<String, BaseImage>, Vec<Prepared>, Vec<Arc<Binary>>);

/// Whether resolving `base` may wait on a registry or the local daemon.
fn waits(base: &str) -> bool {
    !matches!(base, "builtin:static" | "scratch")
}

/// Bases first (the platforms may come from them), then the binaries.
fn in_turn(cx: Context, pairs: &[(Package, PackagePlan)], announcer: &Announcer) -> Result<Ready> {
    let (bases, prepared) = bases_and_prepared(cx, pairs, announcer)?;
    let wanted: Vec<Wanted> = prepared
        .iter()
        .flat_map(|p| {
            p.platforms.iter().map(|platform| Wanted {
                package: &p.package,
                plan: &p.plan,
                platform,
            })
        })
        .collect();
    let binaries = binaries::binaries(cx, &wanted, announcer)?;
    Ok((bases, prepared, binaries))
}

/// With the platforms given, `go build` needs nothing from the base
/// images: they are resolved (and pulled) and kodata layers made while it
/// runs. A base's error wins over a build's, as when one comes first.
fn overlapped(
    cx: Context,
    pairs: &[(Package, PackagePlan)],
    platforms: &[Platform],
    announcer: &Announcer,
) -> Result<Ready> {
    // In the order `prepare` lists them: each import path, each platform.
    let wanted: Vec<Wanted> = pairs
        .iter()
        .flat_map(|(package, plan)| {
            platforms.iter().map(move |platform| Wanted {
                package,
                plan,
                platform,
            })
        })
        .collect();
    let (ready, binaries) = std::thread::scope(|scope| {
        let ready = scope.spawn(|| bases_and_prepared(cx, pairs, announcer));
        let binaries = binaries::binaries(cx, &wanted, announcer);
        (crate::parallel::joined(ready), binaries)
    });
    let (bases, prepared) = ready?;
    Ok((bases, prepared, binaries?))
}

/// Each distinct base resolved, then each import path prepared on it.
fn bases_and_prepared(
    cx: Context,
    pairs: &[(Package, PackagePlan)],
    announcer: &Announcer,
) -> Result<(BTreeMap<String, BaseImage>, Vec<Prepared>)> {
    let plans: Vec<&PackagePlan> = pairs.iter().map(|(_, plan)| plan).collect();
    let bases = resolve_bases(cx, &plans)?;
    let prepared = cx.try_map(pairs, |(package, plan)| {
        let jobs = parallel::share(cx.jobs(), pairs.len());
        prepare(cx, package, plan, &bases[&plan.base_image], jobs, announcer)
    })?;
    Ok((bases, prepared))
}

/// Each distinct base image, resolved (and pulled if needed) once.
fn resolve_bases(cx: Context, plans: &[&PackagePlan]) -> Result<BTreeMap<String, BaseImage>> {
    let mut bases = BTreeMap::new();
    for plan in plans {
        if !bases.contains_key(&plan.base_image) {
            // Downloads wait on the network, not the CPU: at least four.
            let base = BaseImage::resolve(
                &plan.base_image,
                &cx.settings.platforms,
                cx.cache,
                cx.registry,
                cx.jobs().max(4),
            )?;
            bases.insert(plan.base_image.clone(), base);
        }
    }
    Ok(bases)
}

/// The platforms to build, the kodata layer and the image name.
fn prepare(
    cx: Context,
    package: &Package,
    plan: &PackagePlan,
    base: &BaseImage,
    jobs: usize,
    announcer: &Announcer,
) -> Result<Prepared> {
    let platforms = match &cx.settings.platforms {
        plan::Platforms::List(list) => list.clone(),
        plan::Platforms::All => base.all_platforms()?,
        plan::Platforms::Matching(patterns) => {
            let offered = base.all_platforms()?;
            let matched: Vec<Platform> = offered
                .iter()
                .filter(|p| patterns.iter().any(|pattern| pattern.matches(p)))
                .cloned()
                .collect();
            if matched.is_empty() {
                let names = |v: Vec<String>| v.join(",");
                return Err(Error::invalid(format!(
                    "--platform {}: base image {} has no matching image (it has {})",
                    names(patterns.iter().map(|p| p.to_string()).collect()),
                    plan.base_image,
                    names(offered.iter().map(Platform::to_string).collect()),
                )));
            }
            matched
        }
    };
    for platform in platforms.iter().filter(|p| p.os != "linux") {
        check_base_has(&plan.base_image, &base.all_platforms()?, platform)?;
    }
    let base_line = match (base.name(), base.digest()) {
        (Some(name), Some(digest)) => {
            format!("Using base {name}@{digest} for {}", package.import_path)
        }
        _ => format!("Using base {} for {}", plan.base_image, package.import_path),
    };
    announcer.base(&package.import_path, base_line);
    let counters = Counters::default();
    let allowed_root = cx.settings.kodata_allowed_root.as_ref().map(|root| {
        let root = cx.work_dir.join(root);
        root.canonicalize().unwrap_or(root)
    });
    let kodata = |windows: bool| {
        layers::kodata_layer(
            cx.cache,
            &package.dir,
            allowed_root.as_deref(),
            cx.settings.kodata_mtime.unwrap_or(0),
            jobs,
            windows,
            &counters,
        )
    };
    let kodata_windows = if platforms.iter().any(|p| p.os == "windows") {
        Some(kodata(true)?)
    } else {
        None
    };
    let kodata = Some(kodata(false)?);
    let publishing = &cx.settings.publish;
    Ok(Prepared {
        image_name: naming::image_name(
            &publishing.repository,
            &package.import_path,
            publishing.naming,
        ),
        package: package.clone(),
        plan: plan.clone(),
        platforms,
        kodata,
        kodata_windows,
        counters,
        scratch: cx.cache.scratch()?,
    })
}

/// One platform's image from its binary: the binary layer, `append` onto
/// the base, and the image's SBOM.
fn build_platform(
    cx: Context,
    target: &Prepared,
    base: &BaseImage,
    (platform, binary): (&Platform, &Binary),
    jobs: usize,
) -> Result<PlatformImage> {
    let settings = cx.settings;
    let name = target.package.binary_name();
    let app = layers::AppBinary {
        path: &binary.slot.path,
        digest: &binary.digest,
        name: &name,
        // ko's tarBinary writes capabilities for Linux only.
        capabilities: target.plan.capabilities.filter(|_| platform.os == "linux"),
    };
    let windows = platform.os == "windows";
    let kodata = if windows {
        &target.kodata_windows
    } else {
        &target.kodata
    };
    // ko's order: kodata, then the binary.
    let mut layers: Vec<LayerInput> = kodata.iter().cloned().collect();
    layers.push(layers::binary_layer(
        cx.cache,
        app,
        jobs,
        windows,
        &target.counters,
    )?);
    let image = &target.plan.image;
    let options = AppendOptions {
        base: base.spec(),
        base_name: base.annotated_name(),
        platform: Some(platform.clone()),
        layers,
        edits: ConfigEdits {
            env: split_env(&image.env)?,
            labels: image.labels.clone().into_iter().collect(),
            user: image.user.clone(),
            workdir: image.workdir.clone(),
            entrypoint: None,
            cmd: image.args.clone(),
            ko_app: Some(name.clone()),
            created: settings.created,
            author: Some(KO_AUTHOR.to_string()),
            history: ko_history(target, settings, &name),
        },
        annotations: image.annotations.clone().into_iter().collect(),
        tag: "latest".to_string(),
    };
    let layout = target.scratch.path().join(platform_slug(platform));
    let digest = append::append(&options, &layout)?;
    attach_documents(cx, target, base, (platform, binary), &layout, &digest)?;
    Ok(PlatformImage {
        platform: platform.clone(),
        layout,
        digest,
    })
}

/// The image's SBOM and provenance, as the settings ask.
fn attach_documents(
    cx: Context,
    target: &Prepared,
    base: &BaseImage,
    (platform, binary): (&Platform, &Binary),
    layout: &Path,
    digest: &Digest,
) -> Result<()> {
    let settings = cx.settings;
    if settings.sbom.is_none() && !settings.provenance {
        return Ok(());
    }
    let info = sbom::buildinfo::read(&binary.slot.path)?;
    let name = target.package.binary_name();
    if let Some(format) = settings.sbom {
        let options = SbomOptions {
            image: Some(ImageRef {
                name: target.image_name.clone(),
                digest: Some(digest.clone()),
            }),
            base: base.name().map(|name| ImageRef {
                name,
                digest: base.digest(),
            }),
            binary_path: Some(format!("/ko-app/{name}")),
            created: settings.created,
        };
        let document = sbom::generate(format, &info, &options);
        let stem = format!("{name}-{}", platform_slug(platform));
        attach_sbom(settings, format, layout, &document, &stem)?;
    }
    if settings.provenance {
        let made = attest::Made {
            import_path: &target.package.import_path,
            package_dir: &target.package.dir,
            platform,
            plan: &target.plan,
            base,
            build_info: &info,
            ko_yaml: cx.config.digest.as_ref(),
        };
        let statement = attest::statement(settings, &made, digest);
        attest::attach(settings, layout, digest, &statement)?;
    }
    Ok(())
}

/// One image as it is, or several joined into an index with its own SBOM.
fn finish(
    cx: Context,
    target: Prepared,
    base: &BaseImage,
    images: Vec<PlatformImage>,
) -> Result<Built> {
    let (layout, digest) = match <[PlatformImage; 1]>::try_from(images) {
        Ok([image]) => (image.layout, image.digest),
        Err(images) => {
            let out = target.scratch.path().join("index");
            // A base index names itself on the index, as ko's does;
            // builtin:static has no index to name (its images name it, and
            // `rko index`, which Bazel's rules run, gives the same index).
            let mut annotations = index::base_annotations(base.name(), base.digest());
            annotations.extend(target.plan.image.annotations.clone());
            let digest = index::build(
                &IndexOptions {
                    images: images.iter().map(|i| i.layout.clone()).collect(),
                    annotations,
                    tag: "latest".to_string(),
                },
                &out,
            )?;
            if let Some(format) = cx.settings.sbom {
                let children: Vec<(String, Digest)> = images
                    .iter()
                    .map(|i| (i.platform.to_string(), i.digest.clone()))
                    .collect();
                let index_ref = ImageRef {
                    name: target.image_name.clone(),
                    digest: Some(digest.clone()),
                };
                let document =
                    sbom::generate_index(format, &index_ref, &children, cx.settings.created);
                if let Some(document) = document {
                    let stem = format!("{}-index", target.package.binary_name());
                    attach_sbom(cx.settings, format, &out, &document, &stem)?;
                }
            }
            (out, digest)
        }
    };
    Ok(Built {
        layers_built: target.counters.built(),
        layers_cached: target.counters.cached(),
        package: target.package,
        layout,
        digest,
        platforms: target.platforms,
        _scratch: target.scratch,
    })
}

/// Attaches an SBOM to the layout's image or index and, with `--sbom-dir`
/// (created if missing, as ko does), writes it there as
/// `<file_stem>.<extension>`.
fn attach_sbom(
    settings: &Settings,
    format: sbom::Format,
    layout: &Path,
    document: &[u8],
    file_stem: &str,
) -> Result<()> {
    let created = rfc3339(settings.created);
    referrers::attach(layout, format.media_type(), document, None, &created)?;
    if let Some(dir) = &settings.sbom_dir {
        std::fs::create_dir_all(dir).with_path("creating the --sbom-dir", dir)?;
        let path = dir.join(format!("{file_stem}.{}", format.extension()));
        log::info!("Writing SBOM to {}", path.display());
        crate::atomic::write_file(&path, document)?;
    }
    Ok(())
}

/// Refuses a platform the base image has no image for, as ko does (its
/// `buildOne` and `buildAll` build a platform only from a base image for
/// it): a Windows image needs a Windows base. Linux platforms are left to
/// `append`, which names what the base has.
fn check_base_has(base_name: &str, offered: &[Platform], platform: &Platform) -> Result<()> {
    if !offered.contains(platform) {
        let offered: Vec<String> = offered.iter().map(Platform::to_string).collect();
        return Err(Error::invalid(format!(
            "--platform {platform}: base image {base_name} has no {platform} image (it has {})",
            offered.join(", ")
        )));
    }
    Ok(())
}

/// The config author ko writes (pkg/build/gobuild.go, `buildOne`).
const KO_AUTHOR: &str = "github.com/ko-build/ko";

/// ko's history entries for the layers `build_platform` adds, kodata (if
/// any) then the binary `name` (pkg/build/gobuild.go, `buildOne`): author
/// "ko", created by `ko build ko://IMPORT_PATH`, created at
/// `KO_DATA_DATE_EPOCH` and `SOURCE_DATE_EPOCH`.
fn ko_history(target: &Prepared, settings: &Settings, name: &str) -> Vec<History> {
    let entry = |created: i64, comment: String| History {
        author: Some("ko".to_string()),
        created: Some(created),
        created_by: Some(format!("ko build ko://{}", target.package.import_path)),
        comment: Some(comment),
    };
    let kodata_time = settings.kodata_mtime.map_or(GO_ZERO_TIME, |t| t as i64);
    let kodata = target
        .kodata
        .as_ref()
        .map(|_| entry(kodata_time, "kodata contents, at $KO_DATA_PATH".to_string()));
    let binary = entry(
        settings.created as i64,
        format!("go build output, at {KO_APP_DIR}/{name}"),
    );
    kodata.into_iter().chain([binary]).collect()
}

/// `linux/arm/v7` as `linux-arm-v7`, for file names.
fn platform_slug(platform: &Platform) -> String {
    platform.to_string().replace('/', "-")
}

fn split_env(entries: &[String]) -> Result<Vec<(String, String)>> {
    entries
        .iter()
        .map(|e| {
            e.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::invalid(format!("image env {e:?} in .ko.yaml is not K=V")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_base_with_the_platform_builds_it() {
        let p = |s: &str| s.parse::<Platform>().unwrap();
        let linux = [p("linux/amd64"), p("linux/arm64")];
        let with_windows = [p("linux/amd64"), p("windows/amd64")];
        let with_darwin = [p("darwin/arm64")];
        let cases: [(&[Platform], &str, &str); 4] = [
            (
                &linux,
                "windows/amd64",
                "--platform windows/amd64: base image b has no windows/amd64 image \
                 (it has linux/amd64, linux/arm64)",
            ),
            (&with_windows, "windows/amd64", ""),
            (&with_darwin, "darwin/arm64", ""),
            (
                &linux,
                "darwin/arm64",
                "--platform darwin/arm64: base image b has no",
            ),
        ];
        for (offered, platform, want) in cases {
            let got = check_base_has("b", offered, &p(platform))
                .map_or_else(|e| e.to_string(), |()| String::new());
            assert!(
                got.starts_with(want) && want.is_empty() == got.is_empty(),
                "{platform} on {offered:?}: {got}"
            );
        }
    }
}
