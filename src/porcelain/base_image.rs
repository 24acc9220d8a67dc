//! The base image a build starts from, by name: `builtin:static`,
//! `scratch`, or a registry image pulled into the cache by digest.

use super::cache::{self, Cache};
use super::plan::Platforms;
use crate::error::{Error, Result};
use crate::image::base::BaseSpec;
use crate::image::layout::Layout;
use crate::image::platform::Platform;
use crate::registry::pull::{self, PullOptions};
use crate::registry::{Reference, RegistryOptions};
use oci_spec::image::Digest;
use std::path::PathBuf;

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
    Pulled {
        reference: Reference,
        /// The manifest or index digest the reference was pulled at.
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
            "builtin:static" => return Ok(BaseImage::Builtin),
            "scratch" => return Ok(BaseImage::Scratch),
            _ => {}
        }
        let reference: Reference = name.parse()?;
        let wanted = match platforms {
            Platforms::All => Vec::new(),
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

    pub fn digest(&self) -> Option<Digest> {
        match self {
            BaseImage::Pulled { digest, .. } => Some(digest.clone()),
            _ => None,
        }
    }
}
