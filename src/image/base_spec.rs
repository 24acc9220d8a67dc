//! Which base to build on, as `--base` names it (`scratch`, the embedded
//! `builtin:static`, or an OCI layout), and resolving it for a platform.

use crate::error::{Error, Result};
use crate::image::base::{Base, BaseBlobs};
use crate::image::builtin;
use crate::image::config;
use crate::image::layout::Layout;
use crate::image::media_types;
use crate::image::platform::Platform;
use serde_json::Value;
use std::path::PathBuf;

/// What to build on, as given to `--base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSpec {
    /// No base at all.
    Scratch,
    /// rko's embedded minimal root (see DESIGN.md).
    BuiltinStatic,
    /// An OCI image layout on disk.
    Layout(PathBuf),
}

impl BaseSpec {
    pub fn parse(value: &str) -> Result<Self> {
        match value {
            "scratch" => Ok(BaseSpec::Scratch),
            "builtin:static" => Ok(BaseSpec::BuiltinStatic),
            other if other.starts_with("builtin:") => Err(Error::invalid(format!(
                "unknown builtin base {other:?}: the only one is builtin:static"
            ))),
            path => Ok(BaseSpec::Layout(PathBuf::from(path))),
        }
    }
}

/// Resolves `spec` for `platform` (default: the base's own, or linux/amd64).
pub fn resolve(spec: &BaseSpec, platform: Option<&Platform>) -> Result<Base> {
    match spec {
        BaseSpec::Scratch => {
            let platform = platform.cloned().unwrap_or_else(Platform::default_target);
            Ok(Base {
                config: config::empty(&platform),
                layers: Vec::new(),
                blobs: BaseBlobs::None,
                manifest_digest: None,
                docker: false,
                blob_source: None,
                platform,
            })
        }
        BaseSpec::BuiltinStatic => {
            builtin::base(platform.cloned().unwrap_or_else(Platform::default_target))
        }
        BaseSpec::Layout(path) => from_layout(path, platform),
    }
}

fn from_layout(path: &std::path::Path, platform: Option<&Platform>) -> Result<Base> {
    let layout = Layout::open(path)?;
    let image = layout.find_image(platform)?;
    let config: Value = layout.read_json(image.manifest.config(), "image config")?;
    let docker = media_types::is_docker(image.manifest.config().media_type());
    Ok(Base {
        config,
        layers: image.manifest.layers().clone(),
        manifest_digest: Some(image.descriptor.digest().clone()),
        docker,
        blob_source: layout.blob_source(),
        platform: image.platform,
        blobs: BaseBlobs::Layout(Box::new(layout)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_parse() {
        assert_eq!(BaseSpec::parse("scratch").unwrap(), BaseSpec::Scratch);
        assert_eq!(
            BaseSpec::parse("builtin:static").unwrap(),
            BaseSpec::BuiltinStatic
        );
        assert!(BaseSpec::parse("builtin:distroless").is_err());
        assert_eq!(
            BaseSpec::parse("out/base").unwrap(),
            BaseSpec::Layout("out/base".into())
        );
    }
}
