//! Where `rko build` puts images, as ko does: a registry, the local docker
//! or podman, an OCI layout, a tarball; and the `--image-refs` file.
//!
//! Also the naming rules (`naming`), the local engines (`daemon`, `kind`)
//! and the options the settings fill in ([`Publishing`]). It may use the
//! cache and every layer below the porcelain, never the settings or the
//! build above it.

pub(crate) mod daemon;
pub(crate) mod early;
pub(crate) mod kind;
pub(crate) mod naming;

use crate::error::{Error, IoContext, Result};
use crate::image::export::{self, ExportOptions, Format};
use crate::image::layout::Layout;
use crate::image::layout_add;
use crate::image::platform::Platform;
use crate::porcelain::cache::Cache;
use crate::registry::push::{self, PushOptions, Pushed};
use crate::registry::unchanged;
use crate::registry::{Client, Reference, RegistryOptions};
use naming::{image_name, local_reference, printed_reference, Naming, Printer};
use oci_spec::image::Digest;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

/// How built images are named, tagged and published.
#[derive(Debug, Clone)]
pub struct Publishing {
    /// `KO_DOCKER_REPO`, or `ko.local`.
    pub repository: String,
    pub naming: Naming,
    pub tags: Vec<String>,
    pub tag_only: bool,
    pub to: Destinations,
    /// Which image of an index the local daemon gets (it holds one per name).
    pub daemon_platform: Platform,
}

/// How many images' "is it there already" checks may run at once.
const MAX_CHECKS_AT_ONCE: usize = 32;

/// The fewest transfers one image's push has at once, however many images
/// share `--jobs`.
const TRANSFERS_PER_IMAGE: usize = 4;

/// Where built images go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinations {
    /// Push to the registry repository.
    pub registry: bool,
    /// Load into the local docker or podman.
    pub local: bool,
    /// Load into the nodes of this kind cluster (`kind.local`).
    pub kind: Option<String>,
    pub layout: Option<PathBuf>,
    pub tarball: Option<PathBuf>,
    /// Write the printed references here too.
    pub image_refs: Option<PathBuf>,
}

/// Pushes `layout` as `name` with `tags`. With `ask_first`, the registry is
/// first asked whether it holds all of it already (one HEAD per tag, SBOM
/// and SBOM tag), and then nothing is pushed: worth it when the image is
/// likely the one pushed last time, and a few requests wasted otherwise.
pub fn to_registry(
    layout: &Path,
    name: &str,
    tags: &[String],
    registry: &RegistryOptions,
    jobs: usize,
    ask_first: bool,
) -> Result<Pushed> {
    let (first, rest) = tags
        .split_first()
        .ok_or_else(|| Error::invalid("at least one tag is needed"))?;
    let reference: Reference = format!("{name}:{first}").parse()?;
    log::info!("Publishing {reference}");
    for tag in rest {
        log::info!("Tagging {name}:{tag}");
    }
    let options = PushOptions {
        layout: layout.to_path_buf(),
        reference,
        tags: rest.to_vec(),
        registry: registry.clone(),
        jobs,
        // ko's SBOM tag besides the referrer (pkg/publish/default.go, `pushResult`).
        sbom_tags: true,
        blob_files: Vec::new(),
        blob_hints: Vec::new(),
        remote_cache: None,
        // An image not reused has a layer built just now.
        just_made: !ask_first,
    };
    let pushed = match ask_first.then(|| unchanged::already_pushed(&options)) {
        Some(Ok(Some(there))) => {
            log::info!("{name}: the registry has it all already; nothing to push");
            there
        }
        asked => {
            if let Some(Err(e)) = asked {
                log::debug!("{name}: pushing, as asking the registry first failed: {e}");
            }
            push::push(&options)?
        }
    };
    log::info!("Published {}", pushed.reference);
    Ok(pushed)
}

/// Connects to the registry of `repository` (`KO_DOCKER_REPO`), so that
/// the pushes to come find it pinged and its credential looked up; run
/// while `go build` works. What goes wrong here, the first push says.
pub fn warm_up(repository: &str, registry: &RegistryOptions) {
    let Ok(reference) = format!("{repository}:latest").parse::<Reference>() else {
        return;
    };
    if let Err(e) = Client::connect(&reference.registry, registry) {
        log::debug!(
            "connecting to {} ahead of the push: {e}",
            reference.registry
        );
    }
}

/// Writes `layout` as a tarball: docker-save for one image, named by each
/// of `tags` as ko's tarball publisher names it; an OCI archive for an
/// index (which docker-save cannot hold, and ko refuses).
pub fn to_tarball(layout_path: &Path, name: &str, tags: &[String], out: &Path) -> Result<()> {
    let layout = Layout::open(layout_path)?;
    let is_index = crate::image::media_types::is_index(layout.index().manifests()[0].media_type());
    if !is_index {
        let tags: Vec<String> = tags.iter().map(|tag| format!("{name}:{tag}")).collect();
        return export::export_docker(layout_path, None, &tags, out);
    }
    let tag = tags.first().map_or("latest", String::as_str);
    let options = ExportOptions {
        format: Format::Oci,
        tag: Some(format!("{name}:{tag}")),
        platform: None,
        blob_files: Vec::new(),
    };
    export::export(layout_path, &options, out)
}

/// Loads the image into the local docker or podman, as ko's daemon
/// publisher does: under `name:<hex of its digest>`, then tagged with each
/// of `tags`; of an index, the `platform` image (a daemon holds one per
/// name). Goes through `load` of a docker-save tarball: no daemon API
/// needed. Returns the CLI used and the loaded image's digest.
pub fn to_local(
    layout_path: &Path,
    name: &str,
    tags: &[String],
    platform: &Platform,
    scratch: &Path,
) -> Result<(String, Digest)> {
    let image = daemon::one_image(layout_path, name, platform, "the local daemon")?;
    let digest = image.descriptor.digest().clone();
    let loaded = local_reference(name, &digest);
    let tarball = scratch.join("local.tar");
    export::export(
        layout_path,
        &ExportOptions {
            format: Format::Docker,
            tag: Some(loaded.clone()),
            platform: Some(image.platform.clone()),
            blob_files: Vec::new(),
        },
        &tarball,
    )?;
    let cli = daemon::local_cli()?;
    let mut load = Command::new(&cli);
    load.arg("load").arg("--input").arg(&tarball);
    log::info!("Loading {loaded}");
    daemon::run_cli(&cli, "load", &mut load)?;
    log::info!("Loaded {loaded}");
    for tag in tags {
        let tagged = format!("{name}:{tag}");
        log::info!("Adding tag {tagged}");
        daemon::run_cli(
            &cli,
            "tag",
            Command::new(&cli).args(["tag", &loaded, &tagged]),
        )?;
        log::info!("Added tag {tagged}");
    }
    Ok((cli, digest))
}

/// Adds each image (or index) of `layouts` to the OCI layout at `out`, as
/// ko's layout publisher does (pkg/publish/layout.go): the image alone,
/// with neither a name nor its SBOM, so that `skopeo inspect oci:DIR`
/// reads it. An existing layout is added to; see [`layout_add::add_image`].
pub fn to_layout(layouts: &[&Path], out: &Path) -> Result<()> {
    // ko's layout publisher creates missing parents (layout.Write's
    // os.MkdirAll).
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_path("creating", parent)?;
    }
    for path in layouts {
        let source = Layout::open(path)?;
        let root = source
            .roots()
            .next()
            .cloned()
            .ok_or_else(|| Error::file(path, "holds no image"))?;
        layout_add::add_image(&source, &root, out)?;
    }
    Ok(())
}

/// What ko's `--image-refs` file lists for one published image
/// (pkg/publish/recorder.go): the printed reference; for an index, the
/// index and then each of its images, each as `repository@digest`.
fn recorded_refs(
    reference: &str,
    repository: &str,
    layout: &Path,
    digest: &Digest,
) -> Result<Vec<String>> {
    let source = Layout::open(layout)?;
    let Some(root) = source.roots().find(|d| d.digest() == digest) else {
        return Ok(vec![reference.to_string()]);
    };
    if !crate::image::media_types::is_index(root.media_type()) {
        return Ok(vec![reference.to_string()]);
    }
    let index: oci_spec::image::ImageIndex = source.read_json(root, "image index")?;
    Ok(std::iter::once(digest)
        .chain(index.manifests().iter().map(|d| d.digest()))
        .map(|d| format!("{repository}@{d}"))
        .collect())
}

/// One built image to publish.
#[derive(Debug, Clone, Copy)]
pub struct Image<'a> {
    pub import_path: &'a str,
    /// An OCI layout holding the image or index.
    pub layout: &'a Path,
    pub digest: &'a Digest,
}

/// What happened to one image.
#[derive(Debug, Clone)]
pub struct Published {
    pub name: String,
    /// As ko prints it.
    pub reference: String,
    pub pushed: Option<Pushed>,
    pub loaded_into: Option<String>,
}

/// Refuses destinations that cannot take `count` images, before any is
/// built or pushed.
pub fn check_count(publishing: &Publishing, count: usize) -> Result<()> {
    if publishing.to.tarball.is_some() && count > 1 {
        return Err(Error::invalid("--tarball takes one import path"));
    }
    Ok(())
}

/// Publishes every image to every destination but the registry, which
/// [`early::while_building`] pushed them to as they were built (`pushed`,
/// by image; empty when not to a registry): one after another, in order.
pub fn publish_all(
    images: &[Image],
    publishing: &Publishing,
    pushed: Vec<Pushed>,
    cache: &Cache,
) -> Result<Vec<Published>> {
    let to = &publishing.to;
    let tags = &publishing.tags;
    let printer = last_publisher(to);
    let names: Vec<String> = images
        .iter()
        .map(|image| image_name(&publishing.repository, image.import_path, publishing.naming))
        .collect();
    let mut pushed = pushed.into_iter();
    let pushes: Vec<Option<Pushed>> = images.iter().map(|_| pushed.next()).collect();
    let mut published = Vec::new();
    let mut refs = Vec::new();
    for ((image, name), pushed) in images.iter().zip(names).zip(pushes) {
        let loaded = to_daemon_or_kind(image, &name, publishing, cache)?;
        to_files(image, &name, tags, to)?;
        let reference = match &loaded {
            Some((_, digest)) => local_reference(&name, digest),
            None => printed_reference(&name, tags, image.digest, publishing.tag_only, printer),
        };
        // --image-refs names an index's children in the printed repository.
        let repository = match (&loaded, printer) {
            (None, Printer::Layout(dir)) => dir.display().to_string(),
            _ => name.clone(),
        };
        if to.image_refs.is_some() {
            refs.extend(recorded_refs(
                &reference,
                &repository,
                image.layout,
                image.digest,
            )?);
        }
        published.push(Published {
            reference,
            name,
            pushed,
            loaded_into: loaded.map(|(cli, _)| cli),
        });
    }
    if let Some(path) = &to.image_refs {
        write_refs(path, &refs)?;
    }
    Ok(published)
}

/// `image` loaded into the local daemon or a kind cluster, if asked:
/// where, and the digest it has there.
fn to_daemon_or_kind(
    image: &Image,
    name: &str,
    publishing: &Publishing,
    cache: &Cache,
) -> Result<Option<(String, Digest)>> {
    let (to, tags, platform) = (
        &publishing.to,
        &publishing.tags,
        &publishing.daemon_platform,
    );
    if to.local {
        let scratch = cache.scratch()?;
        return to_local(image.layout, name, tags, platform, scratch.path()).map(Some);
    }
    let Some(cluster) = &to.kind else {
        return Ok(None);
    };
    let scratch = cache.scratch()?;
    let digest = kind::load(image.layout, name, tags, platform, cluster, scratch.path())?;
    Ok(Some((format!("kind cluster {cluster}"), digest)))
}

/// `image` written into the layout and the tarball, if asked, in ko's
/// order (pkg/commands/resolver.go).
fn to_files(image: &Image, name: &str, tags: &[String], to: &Destinations) -> Result<()> {
    if let Some(dir) = &to.layout {
        // ko's layout publisher names the import path, not the directory.
        log::info!("Saving ko://{}", image.import_path);
        to_layout(&[image.layout], dir)?;
        log::info!("Saved ko://{}", image.import_path);
    }
    if let Some(tarball) = &to.tarball {
        log::info!("Saving {}", tarball.display());
        to_tarball(image.layout, name, tags, tarball)?;
        log::info!("Saved {}", tarball.display());
    }
    Ok(())
}

/// The publisher whose reference ko prints: ko chains the layout, the
/// tarball and the registry in that order (pkg/commands/resolver.go,
/// `makePublisher`) and prints what the last one returns.
fn last_publisher(to: &Destinations) -> Printer<'_> {
    match (to.registry, &to.tarball, &to.layout) {
        (true, _, _) => Printer::Registry,
        (false, Some(_), _) => Printer::Tarball,
        (false, None, Some(dir)) => Printer::Layout(dir),
        (false, None, None) => Printer::Nothing,
    }
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
    use std::path::PathBuf;

    #[test]
    fn the_printed_reference_is_the_last_publishers_as_in_ko() {
        let dir = PathBuf::from("out/layout");
        let to = |registry: bool, tarball: bool, layout: bool| Destinations {
            registry,
            tarball: tarball.then(|| PathBuf::from("app.tar")),
            layout: layout.then(|| dir.clone()),
            ..Destinations::default()
        };
        let cases = [
            (to(true, true, true), Printer::Registry),
            (to(true, false, false), Printer::Registry),
            (to(false, true, true), Printer::Tarball),
            (to(false, false, true), Printer::Layout(&dir)),
            (to(false, false, false), Printer::Nothing),
        ];
        for (destinations, want) in cases {
            assert_eq!(last_publisher(&destinations), want, "{destinations:?}");
        }
    }
}
