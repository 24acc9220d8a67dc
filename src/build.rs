//! `rko build`'s engine: from an import path to an image layout, in-process,
//! with the same library functions the plumbing subcommands use. Binaries
//! go to stable paths in the cache (so Go skips relinking) and layers are
//! cached by their inputs, so a rebuild with nothing changed does no tar
//! and no compression.

use crate::base::BaseSpec;
use crate::cache::{self, Cache};
use crate::compress::{CompressOptions, Compression};
use crate::config::{ImageSettings, KoConfig};
use crate::descriptor::LayerDescriptor;
use crate::error::{Error, Result};
use crate::gobuild::{self, GoBuild, Package};
use crate::image::{self, AppendOptions, LayerInput};
use crate::image_config::ConfigEdits;
use crate::index::{self, IndexOptions};
use crate::layer::{self, Defaults, EntrySpec, LayerOptions, Source};
use crate::layout::Layout;
use crate::platform::Platform;
use crate::pull::{self, PullOptions};
use crate::registry::{Reference, RegistryOptions};
use oci_spec::image::Digest;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The platforms `builtin:static` offers for `--platform=all`.
const BUILTIN_PLATFORMS: [&str; 5] = [
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/ppc64le",
    "linux/s390x",
];

/// Which platforms to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platforms {
    /// Every platform the base image has.
    All,
    List(Vec<Platform>),
}

/// Everything one `rko build` run shares across its import paths.
#[derive(Debug, Clone)]
pub struct BuildSettings {
    pub go: PathBuf,
    /// Where relative import paths are resolved.
    pub work_dir: PathBuf,
    /// `.ko.yaml`, templates rendered.
    pub config: KoConfig,
    /// The directory holding `.ko.yaml` (builds' `dir` is relative to it).
    pub config_dir: PathBuf,
    /// Build environment before `.ko.yaml`'s (CGO_ENABLED and the like).
    pub env: Vec<(String, String)>,
    pub platforms: Platforms,
    /// `--base-image` / `KO_DEFAULTBASEIMAGE`.
    pub base_image: Option<String>,
    pub ldflags: Vec<String>,
    pub disable_optimizations: bool,
    /// `SOURCE_DATE_EPOCH`: image creation time and the binary layer's mtime.
    pub created: u64,
    /// `KO_DATA_DATE_EPOCH`: the kodata layer's mtime.
    pub kodata_mtime: u64,
    /// `--image-label`, `--image-annotation`, `--image-user`: on top of `.ko.yaml`.
    pub image: ImageSettings,
    pub cache: Cache,
    pub registry: RegistryOptions,
    pub jobs: usize,
    /// The SBOM to attach to every image and index, if any.
    pub sbom: Option<crate::sbom::Format>,
    /// Also write the SBOMs here, one file per image and per index.
    pub sbom_dir: Option<PathBuf>,
    /// The repository and naming the images get (the SBOMs name them).
    pub repository: String,
    pub naming: crate::publish::Naming,
}

/// One import path, built.
#[derive(Debug)]
pub struct Built {
    pub package: Package,
    /// An OCI layout holding the image (one platform) or index.
    pub layout: PathBuf,
    pub digest: Digest,
    pub platforms: Vec<Platform>,
    pub layers_built: usize,
    pub layers_cached: usize,
    /// Keeps `layout` alive until the caller is done with it.
    _scratch: tempfile::TempDir,
}

/// Builds every target, several at a time (up to `settings.jobs`);
/// results in the order given.
pub fn build_all(settings: &BuildSettings, targets: &[String]) -> Result<Vec<Built>> {
    crate::parallel::map(targets, settings.jobs, |target| build(settings, target))
}

/// Builds the image for `target` (an import path as ko takes it).
pub fn build(settings: &BuildSettings, target: &str) -> Result<Built> {
    let package = gobuild::list_cached(
        &settings.go,
        &settings.work_dir,
        target,
        &settings.cache.list_dir(),
    )?;
    let build_config = settings
        .config
        .builds
        .iter()
        .find(|b| main_dir(settings, b) == package.dir)
        .cloned()
        .unwrap_or_default();
    let base_ref = settings
        .config
        .base_image_overrides
        .get(&package.import_path)
        .cloned()
        .or_else(|| settings.base_image.clone())
        .or_else(|| settings.config.default_base_image.clone())
        .unwrap_or_else(|| "builtin:static".to_string());
    let base = Base::resolve(settings, &base_ref)
        .map_err(|e| Error::invalid(format!("base image {base_ref}: {e}")))?;
    let platforms = match &settings.platforms {
        Platforms::List(list) => list.clone(),
        Platforms::All => base.all_platforms()?,
    };
    let image = settings
        .config
        .default_image
        .merged(&build_config.image)
        .merged(&settings.image);
    let scratch = settings.cache.scratch()?;
    let counters = Counters::default();
    let kodata = kodata_layer(settings, &package, &counters)?;

    let mut env = settings.env.clone();
    for entry in settings.config.default_env.iter().chain(&build_config.env) {
        let (k, v) = entry
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("build env {entry:?} in .ko.yaml is not K=V")))?;
        env.push((k.to_string(), v.to_string()));
    }
    let mut flags = settings.config.default_flags.clone();
    flags.extend(build_config.flags.iter().cloned());
    let mut ldflags = settings.config.default_ldflags.clone();
    ldflags.extend(build_config.ldflags.iter().cloned());
    ldflags.extend(settings.ldflags.iter().cloned());
    let build_dir = if build_config.dir.is_empty() {
        package.module_dir.clone()
    } else {
        settings.config_dir.join(&build_config.dir)
    };

    let image_name =
        crate::publish::image_name(&settings.repository, &package.import_path, settings.naming);
    let per_platform = |platform: &Platform| -> Result<PathBuf> {
        let name = package.binary_name();
        let binary_key = cache::key(&[
            &package.import_path,
            &platform.to_string(),
            &format!(
                "{env:?}{flags:?}{ldflags:?}{}",
                settings.disable_optimizations
            ),
        ]);
        let output = settings.cache.binary(&binary_key, &name)?;
        gobuild::build(&GoBuild {
            go: settings.go.clone(),
            dir: build_dir.clone(),
            import_path: package.import_path.clone(),
            platform: platform.clone(),
            env: env.clone(),
            flags: flags.clone(),
            ldflags: ldflags.clone(),
            disable_optimizations: settings.disable_optimizations,
            output: output.clone(),
        })?;
        let binary_layer = binary_layer(settings, &output, &name, &counters)?;
        let mut layers = vec![binary_layer];
        layers.extend(kodata.iter().cloned());
        let out = scratch.path().join(platform.to_string().replace('/', "-"));
        let options = AppendOptions {
            base: base.spec(),
            base_name: base.name(),
            platform: Some(platform.clone()),
            layers,
            edits: ConfigEdits {
                env: split_env(&image.env)?,
                labels: image.labels.clone().into_iter().collect(),
                user: image.user.clone(),
                workdir: image.workdir.clone(),
                entrypoint: None,
                cmd: image.args.clone(),
                ko_app: Some(name),
                created: settings.created,
            },
            annotations: image.annotations.clone().into_iter().collect(),
            tag: "latest".to_string(),
        };
        let digest = image::append(&options, &out)?;
        if let Some(format) = settings.sbom {
            let info = crate::buildinfo::read(&output)?;
            let sbom = crate::sbom::generate(
                format,
                &info,
                &crate::sbom::SbomOptions {
                    image: Some(crate::sbom::ImageRef {
                        name: image_name.clone(),
                        digest: Some(digest),
                    }),
                    base: base.name().map(|name| crate::sbom::ImageRef {
                        name,
                        digest: base.digest(),
                    }),
                    binary_path: Some(format!("/ko-app/{}", package.binary_name())),
                    created: settings.created,
                },
            );
            attach_sbom(
                settings,
                format,
                &out,
                &sbom,
                &format!(
                    "{}-{}",
                    package.binary_name(),
                    platform.to_string().replace('/', "-")
                ),
            )?;
        }
        Ok(out)
    };

    let layouts = crate::parallel::map(&platforms, settings.jobs, per_platform)?;
    let (layout, digest) = if layouts.len() == 1 {
        let digest = Layout::open(&layouts[0])?.index().manifests()[0]
            .digest()
            .clone();
        (layouts[0].clone(), digest)
    } else {
        let out = scratch.path().join("index");
        let digest = index::build(
            &IndexOptions {
                images: layouts,
                annotations: image.annotations.clone().into_iter().collect(),
                tag: "latest".to_string(),
            },
            &out,
        )?;
        if let Some(format) = settings.sbom {
            let images: Vec<(String, Digest)> = Layout::open(&out)?
                .images()?
                .into_iter()
                .map(|i| (i.platform.to_string(), i.descriptor.digest().clone()))
                .collect();
            let index_ref = crate::sbom::ImageRef {
                name: image_name.clone(),
                digest: Some(digest.clone()),
            };
            let sbom = crate::sbom::generate_index(format, &index_ref, &images, settings.created);
            attach_sbom(
                settings,
                format,
                &out,
                &sbom,
                &format!("{}-index", package.binary_name()),
            )?;
        }
        (out, digest)
    };
    Ok(Built {
        package,
        layout,
        digest,
        platforms,
        layers_built: counters.built.load(Ordering::Relaxed),
        layers_cached: counters.cached.load(Ordering::Relaxed),
        _scratch: scratch,
    })
}

/// Attaches an SBOM to the layout's image or index and, with `--sbom-dir`,
/// writes it there as `<file_stem>.<format>.json`.
fn attach_sbom(
    settings: &BuildSettings,
    format: crate::sbom::Format,
    layout: &Path,
    sbom: &[u8],
    file_stem: &str,
) -> Result<()> {
    let created = crate::image_config::rfc3339(settings.created);
    crate::referrers::attach(layout, format.media_type(), sbom, None, &created)?;
    if let Some(dir) = &settings.sbom_dir {
        crate::atomic::write_file(
            &dir.join(format!("{file_stem}.{}", format.extension())),
            sbom,
        )?;
    }
    Ok(())
}

fn main_dir(settings: &BuildSettings, build: &crate::config::BuildConfig) -> PathBuf {
    let dir = settings.config_dir.join(&build.dir);
    let main = if build.main.is_empty() {
        "."
    } else {
        build.main.as_str()
    };
    let path = dir.join(main);
    path.canonicalize().unwrap_or(path)
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

#[derive(Default)]
struct Counters {
    built: AtomicUsize,
    cached: AtomicUsize,
}

fn layer_options(
    settings: &BuildSettings,
    mtime: u64,
    allow_root: Option<PathBuf>,
) -> LayerOptions {
    LayerOptions {
        defaults: Defaults {
            file_mode: 0o555,
            dir_mode: 0o555,
            uid: 0,
            gid: 0,
            allow_root,
        },
        mtime,
        compress: CompressOptions {
            compression: Compression::Gzip,
            level: None,
            jobs: settings.jobs,
        },
    }
}

/// A layer from the cache, or built into it.
fn cached_layer(
    settings: &BuildSettings,
    key: &str,
    specs: &[EntrySpec],
    options: &LayerOptions,
    counters: &Counters,
) -> Result<LayerInput> {
    if let Some((blob, descriptor)) = settings.cache.layer(key) {
        counters.cached.fetch_add(1, Ordering::Relaxed);
        return Ok(LayerInput { blob, descriptor });
    }
    let (blob, descriptor_path) = settings.cache.layer_paths(key);
    let descriptor: LayerDescriptor = layer::assemble(specs, options, &blob, &descriptor_path)?;
    counters.built.fetch_add(1, Ordering::Relaxed);
    Ok(LayerInput { blob, descriptor })
}

/// `/ko-app/NAME`, keyed by the binary's digest and the layer options.
fn binary_layer(
    settings: &BuildSettings,
    binary: &Path,
    name: &str,
    counters: &Counters,
) -> Result<LayerInput> {
    let (digest, _) = crate::digest::sha256_file(binary)?;
    let options = layer_options(settings, settings.created, None);
    let key = cache::key(&[
        "binary",
        digest.as_ref(),
        name,
        &settings.created.to_string(),
        "gzip-default",
    ]);
    let specs = [EntrySpec::File {
        source: Source::Path(binary.to_path_buf()),
        dest: format!("/ko-app/{name}"),
        mode: None,
    }];
    cached_layer(settings, &key, &specs, &options, counters)
}

/// `<package>/kodata` under `/var/run/ko`, when the package has one. The
/// cache key lists every file's path, size, mode and mtime (symlinks
/// followed), so any change to the tree rebuilds the layer.
fn kodata_layer(
    settings: &BuildSettings,
    package: &Package,
    counters: &Counters,
) -> Result<Option<LayerInput>> {
    let dir = package.dir.join("kodata");
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut listing = String::new();
    for entry in walkdir::WalkDir::new(&dir)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| Error::invalid(format!("reading {}: {e}", dir.display())))?;
        let meta = entry
            .metadata()
            .map_err(|e| Error::invalid(format!("reading {}: {e}", entry.path().display())))?;
        use std::os::unix::fs::MetadataExt;
        listing.push_str(&format!(
            "{}\0{}\0{}\0{}\0{}\n",
            entry.path().display(),
            meta.len(),
            meta.mode(),
            meta.mtime(),
            meta.mtime_nsec()
        ));
    }
    let options = layer_options(
        settings,
        settings.kodata_mtime,
        Some(package.module_dir.clone()),
    );
    let key = cache::key(&[
        "kodata",
        &listing,
        &settings.kodata_mtime.to_string(),
        &package.module_dir.display().to_string(),
    ]);
    let specs = [EntrySpec::Tree {
        source: dir,
        dest: "/var/run/ko".to_string(),
    }];
    cached_layer(settings, &key, &specs, &options, counters).map(Some)
}

/// The base image: builtin, scratch, or pulled into the cache by digest.
enum Base {
    Builtin,
    Scratch,
    Pulled {
        reference: Reference,
        /// The manifest or index digest the reference was pulled at.
        digest: Digest,
        layout: PathBuf,
    },
}

impl Base {
    fn resolve(settings: &BuildSettings, name: &str) -> Result<Base> {
        match name {
            "builtin:static" => return Ok(Base::Builtin),
            "scratch" => return Ok(Base::Scratch),
            _ => {}
        }
        let reference: Reference = name.parse()?;
        let wanted = match &settings.platforms {
            Platforms::All => Vec::new(),
            Platforms::List(list) => list.clone(),
        };
        let platforms_key: Vec<String> = wanted.iter().map(Platform::to_string).collect();
        // A tag is resolved on every build; the content is cached by digest.
        let digest = match &reference.digest {
            Some(digest) => digest.clone(),
            None => pull::resolve(&reference, &settings.registry)?,
        };
        let key = format!(
            "{}-{}",
            digest.digest(),
            cache::key(&[&platforms_key.join(",")])
        );
        let layout = settings.cache.base(&key);
        if !layout.join("index.json").is_file() {
            let options = PullOptions {
                reference: reference.with_digest(digest.clone()),
                platforms: wanted,
                shallow: false,
                registry: settings.registry.clone(),
                jobs: settings.jobs.max(4),
            };
            pull::pull(&options, &layout)?;
        }
        Ok(Base::Pulled {
            reference,
            digest,
            layout,
        })
    }

    fn all_platforms(&self) -> Result<Vec<Platform>> {
        match self {
            Base::Builtin | Base::Scratch => BUILTIN_PLATFORMS.iter().map(|p| p.parse()).collect(),
            Base::Pulled { layout, .. } => {
                let mut platforms: Vec<Platform> = Layout::open(layout)?
                    .images()?
                    .into_iter()
                    .map(|i| i.platform)
                    .filter(|p| p.os != "unknown")
                    .collect();
                platforms.dedup();
                Ok(platforms)
            }
        }
    }

    fn spec(&self) -> BaseSpec {
        match self {
            Base::Builtin => BaseSpec::BuiltinStatic,
            Base::Scratch => BaseSpec::Scratch,
            Base::Pulled { layout, .. } => BaseSpec::Layout(layout.clone()),
        }
    }

    fn name(&self) -> Option<String> {
        match self {
            Base::Pulled { reference, .. } => Some(reference.to_string()),
            _ => None,
        }
    }

    fn digest(&self) -> Option<Digest> {
        match self {
            Base::Pulled { digest, .. } => Some(digest.clone()),
            _ => None,
        }
    }
}
