//! `pull`: an image or index from a registry into an OCI image layout, every
//! blob verified while it streams; `--shallow` keeps only manifests and
//! configs and records where the layers are.

use crate::error::{Error, Result};
use crate::image::layout::{self, LayoutWriter};
use crate::image::media_types;
use crate::image::platform::Platform;
use crate::registry::client::{Client, RegistryOptions};
use crate::registry::manifests;
use crate::registry::Reference;
use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageIndexBuilder, ImageManifest};
use std::io::BufWriter;
use std::path::Path;

/// What to pull and how.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub reference: Reference,
    /// Platforms to keep from an index; empty keeps all.
    pub platforms: Vec<Platform>,
    /// Manifests and configs only.
    pub shallow: bool,
    pub registry: RegistryOptions,
    pub jobs: usize,
}

/// What was pulled.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The digest `index.json` points at.
    pub digest: Digest,
    pub requests: u64,
}

/// The digest a tag currently points at (one manifest GET).
pub fn resolve(reference: &Reference, registry: &RegistryOptions) -> Result<Digest> {
    if let Some(digest) = &reference.digest {
        return Ok(digest.clone());
    }
    let client = Client::connect(&reference.registry, registry)?;
    let scopes = [format!("repository:{}:pull", reference.repository)];
    Ok(manifests::get(
        &client,
        &reference.repository,
        &reference.identifier(),
        &scopes,
    )?
    .digest)
}

/// Pulls into a new layout at `out`.
pub fn pull(options: &PullOptions, out: &Path) -> Result<Pulled> {
    let reference = &options.reference;
    let client = Client::connect(&reference.registry, &options.registry)?;
    let scopes = [format!("repository:{}:pull", reference.repository)];
    let repository = &reference.repository;
    let root = manifests::get(&client, repository, &reference.identifier(), &scopes)?;
    let mut writer = LayoutWriter::create(out)?;
    let root_descriptor = Descriptor::new(
        root.media_type.clone(),
        root.bytes.len() as u64,
        root.digest.clone(),
    );

    let (top, images) = if media_types::is_index(&root.media_type) {
        let index: ImageIndex = crate::json::parse(
            &root.bytes,
            Path::new(&reference.to_string()),
            "image index",
        )?;
        let selected = select(&index, &options.platforms, reference)?;
        let children = fetch_children(&client, options, &selected, &scopes)?;
        let mut images = Vec::new();
        for fetched in &children {
            writer.add_bytes(&fetched.bytes)?;
            let manifest = crate::json::parse(
                &fetched.bytes,
                Path::new(&reference.to_string()),
                "image manifest",
            )?;
            images.push(manifest);
        }
        let top = match (options.platforms.len(), selected.len()) {
            (0, _) => {
                writer.add_bytes(&root.bytes)?;
                root_descriptor
            }
            (1, 1) => selected[0].clone(),
            _ => {
                // A subset of the platforms: a new, smaller index.
                let narrowed = ImageIndexBuilder::default()
                    .schema_version(2u32)
                    .media_type(root.media_type.clone())
                    .manifests(selected.clone())
                    .build()
                    .expect("every required index field is set");
                let bytes = crate::json::to_canonical_vec(&narrowed);
                let (digest, size) = writer.add_bytes(&bytes)?;
                Descriptor::new(root.media_type.clone(), size, digest)
            }
        };
        (top, images)
    } else {
        writer.add_bytes(&root.bytes)?;
        let manifest: ImageManifest = crate::json::parse(
            &root.bytes,
            Path::new(&reference.to_string()),
            "image manifest",
        )?;
        (root_descriptor, vec![manifest])
    };

    let mut blobs: Vec<(Digest, u64)> = Vec::new();
    for manifest in &images {
        let config = manifest.config();
        blobs.push((config.digest().clone(), config.size()));
        if !options.shallow {
            blobs.extend(
                manifest
                    .layers()
                    .iter()
                    .map(|l| (l.digest().clone(), l.size())),
            );
        }
    }
    blobs.sort_by_key(|(digest, _)| digest.to_string());
    blobs.dedup();
    download_all(
        &client,
        repository,
        &blobs,
        &mut writer,
        &scopes,
        options.jobs,
    )?;

    if images.len() == 1 && !options.platforms.is_empty() {
        check_platform(&writer, &images[0], &options.platforms, reference)?;
    }
    let digest = top.digest().clone();
    let source = reference.repository_name();
    let top = layout::with_blob_source(top, Some(&source));
    let tag = reference
        .tag
        .clone()
        .unwrap_or_else(|| "latest".to_string());
    writer.finish(vec![layout::with_ref_name(top, &tag)])?;
    Ok(Pulled {
        digest,
        requests: client.requests(),
    })
}

/// The manifests `entries` name, each fetched once however often it is
/// named, on `options.jobs` threads; in the order first named.
fn fetch_children(
    client: &Client,
    options: &PullOptions,
    entries: &[Descriptor],
    scopes: &[String],
) -> Result<Vec<manifests::Fetched>> {
    let mut seen = std::collections::HashSet::new();
    let digests: Vec<&Digest> = entries
        .iter()
        .map(Descriptor::digest)
        .filter(|digest| seen.insert(digest.to_string()))
        .collect();
    let repository = &options.reference.repository;
    crate::parallel::map(&digests, options.jobs, |digest| {
        manifests::get(client, repository, digest.as_ref(), scopes)
    })
}

/// The index entries for the asked platforms (all image entries when none).
fn select(
    index: &ImageIndex,
    platforms: &[Platform],
    reference: &Reference,
) -> Result<Vec<Descriptor>> {
    let entries: Vec<&Descriptor> = index.manifests().iter().collect();
    for entry in &entries {
        if media_types::is_index(entry.media_type()) {
            return Err(Error::reference(
                reference,
                "nested image indexes are not supported",
            ));
        }
    }
    if platforms.is_empty() {
        return Ok(entries.into_iter().cloned().collect());
    }
    let mut selected = Vec::new();
    for want in platforms {
        let found = entries.iter().find(|d| {
            d.platform()
                .as_ref()
                .is_some_and(|p| want.matches(&Platform::from_oci(p)))
        });
        match found {
            Some(d) if !selected.contains(*d) => selected.push((*d).clone()),
            Some(_) => {}
            None => {
                let available: Vec<String> = entries
                    .iter()
                    .filter_map(|d| {
                        d.platform()
                            .as_ref()
                            .map(|p| Platform::from_oci(p).to_string())
                    })
                    .collect();
                return Err(Error::reference(
                    reference,
                    format!(
                        "has no image for platform {want} (it has: {})",
                        available.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(selected)
}

/// A single image pulled for a platform must be for that platform.
fn check_platform(
    writer: &LayoutWriter,
    image: &ImageManifest,
    platforms: &[Platform],
    reference: &Reference,
) -> Result<()> {
    let config_path = writer.target(image.config().digest());
    let config: serde_json::Value = crate::json::read_file(&config_path, "image config")?;
    let field = |name: &str| config[name].as_str().unwrap_or("").to_string();
    let platform = Platform::new(
        &field("os"),
        &field("architecture"),
        Some(&field("variant")),
    );
    if platforms.iter().any(|want| want.matches(&platform)) {
        Ok(())
    } else {
        Err(Error::reference(
            reference,
            format!("is an image for {platform}, not {}", platforms[0]),
        ))
    }
}

/// Downloads blobs on `jobs` threads into the staged layout.
fn download_all(
    client: &Client,
    repository: &str,
    blobs: &[(Digest, u64)],
    writer: &mut LayoutWriter,
    scopes: &[String],
    jobs: usize,
) -> Result<()> {
    let targets: Vec<_> = blobs
        .iter()
        .map(|(digest, size)| (digest.clone(), *size, writer.target(digest)))
        .collect();
    crate::parallel::map(&targets, jobs, |(digest, size, target)| {
        download(client, repository, digest, *size, target, scopes)
    })?;
    for (digest, _) in blobs {
        writer.mark(digest);
    }
    Ok(())
}

/// Downloads one verified blob to `target`, starting over when the
/// transfer breaks or does not match its digest.
pub(crate) fn download(
    client: &Client,
    repository: &str,
    digest: &Digest,
    size: u64,
    target: &Path,
    scopes: &[String],
) -> Result<()> {
    client.restarting(|| {
        let file = std::fs::File::create(target).map_err(|e| Error::io("creating", target, e))?;
        let mut out = BufWriter::new(file);
        let result =
            manifests::get_blob(client, repository, digest, size, &mut out, target, scopes)
                .and_then(|()| {
                    out.into_inner()
                        .map(drop)
                        .map_err(|e| Error::io("writing", target, e.into_error()))
                });
        if result.is_err() {
            // Never leave unverified bytes under a digest's name.
            let _ = std::fs::remove_file(target);
        }
        result
    })
}
