//! Where `rko build` puts images and how it names them, as ko does:
//! `KO_DOCKER_REPO` plus a name from the import path, tags, and the
//! destinations (a registry, the local docker or podman, an OCI layout, a
//! tarball).

use crate::error::{Error, Result};
use crate::export::{self, ExportOptions, Format};
use crate::layout::{self, Layout, LayoutWriter};
use crate::push::{self, PushOptions, Pushed};
use crate::registry::{Reference, RegistryOptions};
use md5::{Digest as _, Md5};
use oci_spec::image::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;

/// ko's repository for images loaded into the local daemon.
pub const LOCAL: &str = "ko.local";

/// How an import path becomes an image name under the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `<repo>/<last element>-<md5 of the import path>`.
    Default,
    /// `-B`: `<repo>/<last element>`.
    BaseImportPaths,
    /// `-P`: `<repo>/<import path>`.
    PreserveImportPaths,
    /// `--bare`: `<repo>`.
    Bare,
}

/// The image name for `import_path` under `repo`.
pub fn image_name(repo: &str, import_path: &str, naming: Naming) -> String {
    let base = import_path.rsplit('/').next().unwrap_or(import_path);
    match naming {
        Naming::Default => {
            let hash = hex::encode(Md5::digest(import_path.as_bytes()));
            format!("{repo}/{base}-{hash}")
        }
        Naming::BaseImportPaths => format!("{repo}/{base}"),
        Naming::PreserveImportPaths => format!("{repo}/{}", import_path.to_lowercase()),
        Naming::Bare => repo.to_string(),
    }
}

/// What ko prints: `name@digest`, `name:tag@digest` for a single tag that
/// is not `latest`, and `name:tag` with `--tag-only`.
pub fn printed_reference(name: &str, tags: &[String], digest: &Digest, tag_only: bool) -> String {
    if tag_only {
        let tag = tags.first().map_or("latest", String::as_str);
        return format!("{name}:{tag}");
    }
    match tags {
        [tag] if tag != "latest" => format!("{name}:{tag}@{digest}"),
        _ => format!("{name}@{digest}"),
    }
}

/// Pushes `layout` as `name` with `tags`.
pub fn to_registry(
    layout: &Path,
    name: &str,
    tags: &[String],
    registry: &RegistryOptions,
    jobs: usize,
) -> Result<Pushed> {
    let (first, rest) = tags
        .split_first()
        .ok_or_else(|| Error::invalid("at least one tag is needed"))?;
    let reference: Reference = format!("{name}:{first}").parse()?;
    push::push(&PushOptions {
        layout: layout.to_path_buf(),
        reference,
        tags: rest.to_vec(),
        registry: registry.clone(),
        jobs,
        sbom_tags: false,
    })
}

/// Writes `layout` as a tarball: docker-save for one image, an OCI archive
/// for an index (which docker-save cannot hold).
pub fn to_tarball(layout_path: &Path, name: &str, tags: &[String], out: &Path) -> Result<()> {
    let layout = Layout::open(layout_path)?;
    let is_index = crate::media_types::is_index(layout.index().manifests()[0].media_type());
    let tag = tags.first().map_or("latest", String::as_str);
    let options = ExportOptions {
        format: if is_index {
            Format::Oci
        } else {
            Format::Docker
        },
        tag: Some(format!("{name}:{tag}")),
        platform: None,
    };
    export::export(layout_path, &options, out)
}

/// Loads the image into the local docker or podman, through `load` of a
/// docker-save tarball: no daemon API needed. Returns the CLI used.
pub fn to_local(layout_path: &Path, name: &str, tags: &[String], scratch: &Path) -> Result<String> {
    let layout = Layout::open(layout_path)?;
    let images = layout.images()?;
    // A daemon holds one platform per name: the first image of an index.
    let platform = (images.len() > 1).then(|| images[0].platform.clone());
    let tarball = scratch.join("local.tar");
    let tag = tags.first().map_or("latest", String::as_str);
    export::export(
        layout_path,
        &ExportOptions {
            format: Format::Docker,
            tag: Some(format!("{name}:{tag}")),
            platform,
        },
        &tarball,
    )?;
    let cli = local_cli()?;
    let output = Command::new(&cli)
        .arg("load")
        .arg("--input")
        .arg(&tarball)
        .output()
        .map_err(|e| Error::invalid(format!("running {cli} load: {e}")))?;
    if !output.status.success() {
        return Err(Error::invalid(format!(
            "{cli} load failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    for extra in tags.iter().skip(1) {
        let status = Command::new(&cli)
            .args(["tag", &format!("{name}:{tag}"), &format!("{name}:{extra}")])
            .output()
            .map_err(|e| Error::invalid(format!("running {cli} tag: {e}")))?;
        if !status.status.success() {
            return Err(Error::invalid(format!("{cli} tag {name}:{extra} failed")));
        }
    }
    Ok(cli)
}

/// docker when its daemon answers, else podman.
fn local_cli() -> Result<String> {
    let works = |cli: &str, args: &[&str]| {
        Command::new(cli)
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if works("docker", &["version", "--format", "{{.Server.Version}}"]) {
        Ok("docker".to_string())
    } else if works("podman", &["--version"]) {
        Ok("podman".to_string())
    } else {
        Err(Error::invalid(
            "cannot load into a local daemon: neither docker (with a running daemon) nor podman is available",
        ))
    }
}

/// Writes every `(layout, name)` into one OCI layout at `out`, each entry
/// named `name:tag` (`org.opencontainers.image.ref.name`).
pub fn to_layout(images: &[(PathBuf, String)], out: &Path) -> Result<()> {
    let mut writer = LayoutWriter::create(out)?;
    let mut entries = Vec::new();
    for (path, name) in images {
        let source = Layout::open(path)?;
        for digest in source.blob_digests()? {
            writer.add_file(&source.blob_path(&digest), &digest)?;
        }
        entries.extend(
            source
                .roots()
                .map(|d| layout::with_ref_name(d.clone(), name)),
        );
        // SBOMs are not named: they refer to the image.
        entries.extend(source.artifacts().cloned());
    }
    writer.finish(entries)
}

/// Where built images go.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// Push to the registry repository.
    pub registry: bool,
    /// Load into the local docker or podman.
    pub local: bool,
    pub layout: Option<PathBuf>,
    pub tarball: Option<PathBuf>,
    /// Write the printed references here too.
    pub image_refs: Option<PathBuf>,
}

/// How built images are named, tagged and published.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    /// `KO_DOCKER_REPO`, or `ko.local`.
    pub repository: String,
    pub naming: Naming,
    pub tags: Vec<String>,
    pub tag_only: bool,
    pub registry: RegistryOptions,
    pub jobs: usize,
    pub to: Destinations,
}

/// What happened to one build.
#[derive(Debug, Clone)]
pub struct Published {
    pub name: String,
    /// As ko prints it.
    pub reference: String,
    pub pushed: Option<Pushed>,
    pub loaded_into: Option<String>,
}

/// Publishes every build to every destination, in order.
pub fn publish_all(
    builds: &[crate::build::Built],
    options: &PublishOptions,
    cache: &crate::cache::Cache,
) -> Result<Vec<Published>> {
    if options.to.tarball.is_some() && builds.len() > 1 {
        return Err(Error::invalid("--tarball takes one import path"));
    }
    let mut published = Vec::new();
    let mut layouts = Vec::new();
    for built in builds {
        let name = image_name(
            &options.repository,
            &built.package.import_path,
            options.naming,
        );
        let pushed = if options.to.registry {
            Some(to_registry(
                &built.layout,
                &name,
                &options.tags,
                &options.registry,
                options.jobs,
            )?)
        } else {
            None
        };
        let loaded_into = if options.to.local {
            let scratch = cache.scratch()?;
            Some(to_local(
                &built.layout,
                &name,
                &options.tags,
                scratch.path(),
            )?)
        } else {
            None
        };
        if let Some(tarball) = &options.to.tarball {
            to_tarball(&built.layout, &name, &options.tags, tarball)?;
        }
        let tag = options.tags.first().map_or("latest", String::as_str);
        layouts.push((built.layout.clone(), format!("{name}:{tag}")));
        let reference = printed_reference(&name, &options.tags, &built.digest, options.tag_only);
        published.push(Published {
            name,
            reference,
            pushed,
            loaded_into,
        });
    }
    if let Some(dir) = &options.to.layout {
        to_layout(&layouts, dir)?;
    }
    if let Some(path) = &options.to.image_refs {
        let refs: Vec<String> = published.iter().map(|p| p.reference.clone()).collect();
        write_refs(path, &refs)?;
    }
    Ok(published)
}

/// Writes the printed references, one per line, for `--image-refs`.
pub fn write_refs(path: &Path, refs: &[String]) -> Result<()> {
    let mut text = refs.join("\n");
    text.push('\n');
    crate::atomic::write_file(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_ko() {
        let ip = "github.com/example/app/cmd/server";
        let cases = [
            (Naming::Default, "r.io/me/server-"),
            (Naming::BaseImportPaths, "r.io/me/server"),
            (
                Naming::PreserveImportPaths,
                "r.io/me/github.com/example/app/cmd/server",
            ),
            (Naming::Bare, "r.io/me"),
        ];
        for (naming, want) in cases {
            let got = image_name("r.io/me", ip, naming);
            assert!(got.starts_with(want), "{naming:?}: {got}");
        }
        // md5("github.com/example/app/cmd/server"), as ko computes it.
        let default = image_name("r.io/me", ip, Naming::Default);
        assert_eq!(default.len(), "r.io/me/server-".len() + 32);
    }

    #[test]
    fn printed_references_follow_ko() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            printed_reference("r/a", &t(&["latest"]), &d, false),
            format!("r/a@{d}")
        );
        assert_eq!(
            printed_reference("r/a", &t(&["v1"]), &d, false),
            format!("r/a:v1@{d}")
        );
        assert_eq!(
            printed_reference("r/a", &t(&["v1", "v2"]), &d, false),
            format!("r/a@{d}")
        );
        assert_eq!(printed_reference("r/a", &t(&["v1"]), &d, true), "r/a:v1");
    }
}
