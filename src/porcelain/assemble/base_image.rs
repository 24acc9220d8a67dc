//! The base image a build starts from, by name: `builtin:static`,
//! `scratch`, an image of the local docker or podman (`ko.local/…`), or a
//! registry image pulled into the cache by digest.

use crate::error::{Error, Result};
use crate::image::base_spec::BaseSpec;
use crate::image::docker_archive;
use crate::image::layout::Layout;
use crate::image::platform::Platform;
use crate::porcelain::cache::{self, Cache};
use crate::porcelain::publish::daemon;
use crate::porcelain::publish::naming::LOCAL;
use crate::porcelain::settings::plan::Platforms;
use crate::registry::pull::{self, PullOptions};
use crate::registry::{Reference, RegistryOptions};
use oci_spec::image::Digest;
use std::path::PathBuf;

/// What `--base-image` and `defaultBaseImage` call rko's embedded base.
const BUILTIN_NAME: &str = "builtin:static";

/// The platforms `builtin:static` and `scratch` offer for `--platform=all`.
const BUILTIN_PLATFORMS: [&str; 5] = [
    "linux/amd64",
    "linux/arm64",
    "linux/arm/v7",
    "linux/ppc64le",
    "linux/s390x",
];

/// A resolved base image.
#[derive(Debug)]
pub enum BaseImage {
    Builtin,
    Scratch,
    /// From a registry, or from the local daemon (`ko.local/…`).
    Pulled {
        reference: Reference,
        /// The manifest or index digest the reference was pulled at (of
        /// the daemon's image, the manifest rko gives it, as ko's
        /// `daemon.Image` does).
        digest: Digest,
        layout: PathBuf,
    },
}

impl BaseImage {
    /// Resolves `name`: a tag is resolved on every build (it may have
    /// moved); the content is pulled once per digest and platform set.
    /// `jobs` bounds the concurrent downloads.
    pub fn resolve(
        name: &str,
        platforms: &Platforms,
        cache: &Cache,
        registry: &RegistryOptions,
        jobs: usize,
    ) -> Result<BaseImage> {
        Self::resolve_unnamed(name, platforms, cache, registry, jobs)
            .map_err(|e| Error::invalid(format!("base image {name}: {e}")))
    }

    fn resolve_unnamed(
        name: &str,
        platforms: &Platforms,
        cache: &Cache,
        registry: &RegistryOptions,
        jobs: usize,
    ) -> Result<BaseImage> {
        match name {
            BUILTIN_NAME => return Ok(BaseImage::Builtin),
            "scratch" => return Ok(BaseImage::Scratch),
            _ => {}
        }
        let reference: Reference = name.parse()?;
        if reference.registry == LOCAL {
            return Self::from_daemon(reference, cache, jobs);
        }
        let wanted = match platforms {
            Platforms::All | Platforms::Matching(_) => Vec::new(),
            Platforms::List(list) => list.clone(),
        };
        let digest = match &reference.digest {
            Some(digest) => digest.clone(),
            None => pull::resolve(&reference, registry)?,
        };
        let platforms_key: Vec<String> = wanted.iter().map(Platform::to_string).collect();
        let key = format!(
            "{}-{}",
            digest.digest(),
            cache::key(&[&platforms_key.join(",")])
        );
        let layout = cache.base(&key);
        if !layout.join("index.json").is_file() {
            let options = PullOptions {
                reference: reference.with_digest(digest.clone()),
                platforms: wanted,
                shallow: false,
                registry: registry.clone(),
                jobs,
            };
            pull::pull(&options, &layout)?;
        }
        Ok(BaseImage::Pulled {
            reference,
            digest,
            layout,
        })
    }

    /// The image `reference` of the local docker or podman, as ko's
    /// `getBaseImage` reads a base whose registry is `ko.local`
    /// (`daemon.Image`): saved as a docker-save tarball and read into the
    /// cache once per image ID. A tag is looked up on every build (it may
    /// have moved).
    fn from_daemon(reference: Reference, cache: &Cache, jobs: usize) -> Result<BaseImage> {
        let cli = daemon::local_cli()?;
        let id = daemon::image_id(&cli, &reference.to_string())?.ok_or_else(|| {
            Error::invalid(format!(
                "not in the local {cli}: load or tag an image under that name first \
                 ({cli} load, {cli} tag, or rko build -L)"
            ))
        })?;
        let layout = cache.base(&format!("daemon-{}", cache::key(&[&cli, &id])));
        let digest = if layout.join("index.json").is_file() {
            let images = Layout::open(&layout)?.images()?;
            let image = images
                .first()
                .ok_or_else(|| Error::file(&layout, "holds no image: remove it and build again"))?;
            image.descriptor.digest().clone()
        } else {
            let scratch = cache.scratch()?;
            let archive = scratch.path().join("base.tar");
            daemon::save(&cli, &id, &archive)?;
            docker_archive::import(&archive, &layout, jobs)?
        };
        Ok(BaseImage::Pulled {
            reference,
            digest,
            layout,
        })
    }

    /// Every platform the base offers (for `--platform=all`).
    pub fn all_platforms(&self) -> Result<Vec<Platform>> {
        match self {
            BaseImage::Builtin | BaseImage::Scratch => {
                BUILTIN_PLATFORMS.iter().map(|p| p.parse()).collect()
            }
            BaseImage::Pulled { layout, .. } => {
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

    /// What `append` takes.
    pub fn spec(&self) -> BaseSpec {
        match self {
            BaseImage::Builtin => BaseSpec::BuiltinStatic,
            BaseImage::Scratch => BaseSpec::Scratch,
            BaseImage::Pulled { layout, .. } => BaseSpec::Layout(layout.clone()),
        }
    }

    /// The reference, for the base-name annotation and the SBOM.
    pub fn name(&self) -> Option<String> {
        match self {
            BaseImage::Pulled { reference, .. } => Some(reference.to_string()),
            _ => None,
        }
    }

    /// The `org.opencontainers.image.base.name` the image records: the
    /// reference, or `builtin:static` as the user writes it (the value
    /// `--base-image` and `defaultBaseImage` take); none for `scratch`,
    /// which is no base at all.
    pub fn annotated_name(&self) -> Option<String> {
        match self {
            BaseImage::Builtin => Some(BUILTIN_NAME.to_string()),
            _ => self.name(),
        }
    }

    pub fn digest(&self) -> Option<Digest> {
        match self {
            BaseImage::Pulled { digest, .. } => Some(digest.clone()),
            _ => None,
        }
    }
}
