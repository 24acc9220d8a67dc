//! `push`: an image or index from an OCI layout to a registry. Blobs first,
//! in parallel (HEAD, then mount or upload); manifests only once every blob
//! they reference is confirmed, children before their index; then each
//! extra tag.

use crate::error::{Error, Result};
use crate::image::layout::{Layout, REF_NAME};
use crate::image::media_types;
use crate::parallel::joined;
use crate::registry::blob_hints::BlobHints;
use crate::registry::client::{Client, RegistryOptions};
use crate::registry::cosign;
use crate::registry::manifests;
use crate::registry::upload::{self, Mount, Source};
use crate::registry::Reference;
use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What to push and where.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub layout: PathBuf,
    pub reference: Reference,
    /// Extra tags for the same manifest.
    pub tags: Vec<String>,
    pub registry: RegistryOptions,
    pub jobs: usize,
    /// Also push SBOM artifacts as ko does: in cosign's layout, tagged
    /// `sha256-<subject hex>.sbom`; and attestations in cosign's layout,
    /// tagged `sha256-<subject hex>.att`.
    pub sbom_tags: bool,
    /// Files holding blobs the layout lacks (the layers of a sparse
    /// layout), each checked against its digest before it is sent. With a
    /// remote cache, a file that is not there is only a hint.
    pub blob_files: Vec<(Digest, PathBuf)>,
    /// Files that may hold blobs the layout lacks, used when they are there
    /// and hold one (`--blob-hint`).
    pub blob_hints: Vec<PathBuf>,
    /// A Bazel remote cache to read the blobs from that the registry, the
    /// layout and the files lack.
    pub remote_cache: Option<crate::cas::Remote>,
    /// The image was made just now, by a build that built a layer: its
    /// configs and its artifacts' layers (SBOM, provenance), which name
    /// it, cannot be in the registry yet, nor can cosign's configs, so
    /// they go up without a HEAD first (the upload's answer says the same).
    pub just_made: bool,
}

/// What happened, for the caller to print.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `registry/repository@sha256:…`.
    pub reference: String,
    pub digest: Digest,
    pub requests: u64,
    pub uploaded: usize,
    pub mounted: usize,
    /// Blobs of a shallow base copied over from another registry.
    pub copied: usize,
    pub present: usize,
    /// Artifacts (SBOMs) pushed as referrers of what was pushed.
    pub referrers: usize,
    /// Blobs uploaded from the remote cache, and the bytes read from it.
    pub from_cache: usize,
    pub cache_bytes: u64,
}

/// A manifest to PUT, in order.
struct ManifestPut {
    descriptor: Descriptor,
    bytes: Vec<u8>,
}

/// Pushes the layout's image or index.
pub fn push(options: &PushOptions) -> Result<Pushed> {
    let layout = Layout::open(&options.layout)?;
    let root = root_descriptor(&layout, &options.reference)?;
    let (manifests, blobs) = collect(&layout, &root)?;
    let reference = &options.reference;
    let repository = &reference.repository;
    let (mount_from, copy_from) = blob_sources(&layout, reference)?;
    let mut scopes = vec![format!("repository:{repository}:pull,push")];
    if let Some(from) = &mount_from {
        scopes.push(format!("repository:{from}:pull"));
    }
    let pushed: Vec<&Digest> = manifests.iter().map(|m| m.descriptor.digest()).collect();
    let artifacts = artifacts(&layout, &pushed, options.sbom_tags)?;
    let made: Vec<(Digest, &[u8])> = artifacts
        .iter()
        .filter_map(|a| a.cosign.as_ref())
        .map(|image| (image.config_digest.clone(), image.config.as_slice()))
        .collect();
    let unasked = match options.just_made {
        true => just_made(&manifests, &artifacts, &made)?,
        false => Vec::new(),
    };
    let client = Client::connect(&reference.registry, &options.registry)?;
    let target = Target {
        client: &client,
        layout: &layout,
        repository,
        scopes: &scopes,
        mount_from: mount_from.as_deref(),
        copy_from: copy_from.map(|reference| Remote {
            reference,
            options: &options.registry,
            client: OnceLock::new(),
        }),
        made: &made,
        unasked: &unasked,
        blob_files: &options.blob_files,
        hints_only: options.remote_cache.is_some(),
        hints: &BlobHints::new(options.blob_hints.clone()),
    };
    // The artifacts' blobs go up with the image's, all under one bound (a
    // blob is harmless before the manifest that names it).
    let all = with_artifact_blobs(&blobs, &artifacts, &made);
    let mut results = push_blobs(&target, &all, options.jobs)?;
    let cache = match &options.remote_cache {
        Some(remote) => from_cache(&target, remote, &all, &mut results, options.jobs)?,
        None => None,
    };
    let (ours, theirs) = results.split_at(blobs.len());
    let outcome = BlobOutcome::of(&blobs, ours);
    if let Some(missing) = outcome.missing {
        return Err(missing_blob(&options.layout, &missing));
    }
    if let Some(missing) = BlobOutcome::of(&all[blobs.len()..], theirs).missing {
        return Err(missing_artifact_blob(&layout, &artifacts, &missing));
    }
    put_all(&target, options, &manifests, &artifacts)?;
    let top = manifests
        .last()
        .expect("the root manifest is always collected");
    let digest = top.descriptor.digest().clone();
    Ok(Pushed {
        reference: format!("{}@{digest}", reference.repository_name()),
        digest,
        requests: client.requests(),
        uploaded: outcome.uploaded,
        mounted: outcome.mounted,
        copied: outcome.copied,
        present: outcome.present,
        referrers: artifacts.len(),
        from_cache: outcome.from_cache,
        cache_bytes: cache.map_or(0, |store| store.bytes_read()),
    })
}

/// PUTs the image's manifests and, at the same time, its artifacts (a
/// referrer may come before its subject: distribution spec 1.1); ko's
/// lines for the artifacts come after the image's.
fn put_all(
    target: &Target<'_>,
    options: &PushOptions,
    manifests: &[ManifestPut],
    artifacts: &[Artifact],
) -> Result<()> {
    let (put, referrers) = std::thread::scope(|scope| {
        let referrers = scope.spawn(|| push_referrers(target, artifacts, options.jobs));
        let put = put_manifests(target.client, options, manifests, target.scopes);
        (put, joined(referrers))
    });
    put?;
    referrers?;
    announce_referrers(target, artifacts);
    Ok(())
}

/// Where the blobs a (shallow) layout lacks come from: a repository on the
/// same registry to mount them from, or a reference on another registry to
/// copy them from, as the layout records its source.
fn blob_sources(
    layout: &Layout,
    reference: &Reference,
) -> Result<(Option<String>, Option<Reference>)> {
    let source = layout
        .blob_source()
        .map(|s| s.parse::<Reference>())
        .transpose()?;
    let mount_from = source
        .as_ref()
        .filter(|s| s.registry == reference.registry && s.repository != reference.repository)
        .map(|s| s.repository.clone());
    let copy_from = source.filter(|s| s.registry != reference.registry);
    Ok((mount_from, copy_from))
}

/// A blob of the image that nothing had: not the registry, the layout, a
/// file given, or a repository the layout names.
fn missing_blob(layout: &Path, missing: &Digest) -> Error {
    Error::file(
        layout,
        format!(
            "blob {missing} is not in the layout, which names no repository to get it from \
             (was it pulled with --shallow by another tool?), and no --layer gives its file \
             (a layout made by `append --layer-descriptor` holds no layer blobs)"
        ),
    )
}

/// Uploads from the remote cache every blob that nothing else had: small
/// ones read in batches, large ones streamed into their uploads. A blob
/// the cache lacks stops the push before any manifest, explained.
fn from_cache(
    target: &Target<'_>,
    remote: &crate::cas::Remote,
    blobs: &[Blob],
    results: &mut [BlobResult],
    jobs: usize,
) -> Result<Option<crate::cas::Store>> {
    let wanted: Vec<Blob> = blobs
        .iter()
        .zip(results.iter())
        .filter(|(_, result)| matches!(result, BlobResult::Missing))
        .map(|(blob, _)| blob.clone())
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let store = remote.connect()?;
    store.require(&wanted)?;
    let (small, large): (Vec<Blob>, Vec<Blob>) = wanted
        .into_iter()
        .partition(|(_, size)| *size <= crate::cas::BATCH_BLOB);
    let read = store.read_small(&small)?;
    let (client, repository, scopes) = (target.client, target.repository, target.scopes);
    let sources: Vec<(Blob, Source<'_>)> = read
        .iter()
        .map(|(digest, bytes)| ((digest.clone(), bytes.len() as u64), Source::Bytes(bytes)))
        .chain(large.into_iter().map(|blob| (blob, Source::Cache(&store))))
        .collect();
    crate::parallel::try_map(&sources, jobs, |((digest, size), source)| {
        upload::upload(client, repository, (digest, *size), *source, scopes, None)?;
        log::info!("pushed blob: {digest}");
        Ok(())
    })?;
    for ((digest, _), result) in blobs.iter().zip(results.iter_mut()) {
        if sources.iter().any(|((d, _), _)| d == digest) {
            *result = BlobResult::FromCache;
        }
    }
    Ok(Some(store))
}

/// PUTs the manifests, children before the root (the last). The root goes
/// under each tag (which also makes it reachable by digest), or under its
/// digest when there is no tag.
fn put_manifests(
    client: &Client,
    options: &PushOptions,
    manifests: &[ManifestPut],
    scopes: &[String],
) -> Result<()> {
    let (reference, repository) = (&options.reference, &options.reference.repository);
    let (top, children) = manifests
        .split_last()
        .expect("the root manifest is always collected");
    for child in children {
        let digest = child.descriptor.digest().to_string();
        let media_type = child.descriptor.media_type();
        manifests::put(
            client,
            repository,
            &digest,
            media_type,
            &child.bytes,
            scopes,
        )?;
    }
    let mut names: Vec<String> = reference.tag.iter().cloned().collect();
    for tag in &options.tags {
        reference.with_tag(tag)?;
        names.push(tag.clone());
    }
    if names.is_empty() {
        names.push(top.descriptor.digest().to_string());
    }
    for name in &names {
        let media_type = top.descriptor.media_type();
        manifests::put(client, repository, name, media_type, &top.bytes, scopes)?;
        let separator = if name.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        log::info!(
            "{}{separator}{name}: digest: {} size: {}",
            reference.repository_name(),
            top.descriptor.digest(),
            top.bytes.len()
        );
    }
    Ok(())
}

/// An artifact of the layout (an SBOM) whose subject is being pushed.
struct Artifact {
    descriptor: Descriptor,
    manifest: ImageManifest,
    bytes: Vec<u8>,
    /// The same SBOM in cosign's attachment layout, as ko pushes it, when
    /// asked for and the artifact is one SBOM file.
    cosign: Option<cosign::FileImage>,
}

impl Artifact {
    fn subject(&self) -> &Digest {
        self.manifest
            .subject()
            .as_ref()
            .expect("in_layout returns manifests with a subject")
            .digest()
    }
}

/// The layout's artifacts whose subject is one of `pushed`.
fn artifacts(layout: &Layout, pushed: &[&Digest], sbom_tags: bool) -> Result<Vec<Artifact>> {
    let mut found = Vec::new();
    for (descriptor, manifest, bytes) in crate::image::referrers::in_layout(layout)? {
        let cosign = sbom_tags.then(|| cosign::cosign_form(&manifest)).flatten();
        let artifact = Artifact {
            descriptor,
            manifest,
            bytes,
            cosign,
        };
        if pushed.contains(&artifact.subject()) {
            found.push(artifact);
        }
    }
    Ok(found)
}

/// The image's `blobs`, then those of its artifacts and the configs of
/// their cosign forms (`made`) that are not among them.
fn with_artifact_blobs(
    blobs: &[Blob],
    artifacts: &[Artifact],
    made: &[(Digest, &[u8])],
) -> Vec<Blob> {
    let mut all = blobs.to_vec();
    for artifact in artifacts {
        add_blobs(&artifact.manifest, &mut all);
    }
    all.extend(made.iter().map(|(d, b)| (d.clone(), b.len() as u64)));
    let mut seen = std::collections::HashSet::new();
    all.retain(|(digest, _)| seen.insert(digest.to_string()));
    all
}

/// What a push of an image made just now need not ask about (see
/// [`PushOptions::just_made`]): its images' configs (from the manifests
/// `collect` read), its artifacts' layers and cosign's configs.
fn just_made(
    manifests: &[ManifestPut],
    artifacts: &[Artifact],
    made: &[(Digest, &[u8])],
) -> Result<Vec<Digest>> {
    let mut unasked = Vec::new();
    for put in manifests {
        if media_types::is_manifest(put.descriptor.media_type()) {
            let what = std::path::Path::new(put.descriptor.digest().as_ref());
            let manifest: ImageManifest = crate::json::parse(&put.bytes, what, "image manifest")?;
            unasked.push(manifest.config().digest().clone());
        }
    }
    let layers = artifacts
        .iter()
        .flat_map(|a| a.manifest.layers().iter().map(|l| l.digest().clone()));
    unasked.extend(layers);
    unasked.extend(made.iter().map(|(digest, _)| digest.clone()));
    Ok(unasked)
}

/// The error for an artifact's blob that is nowhere to be had.
fn missing_artifact_blob(layout: &Layout, artifacts: &[Artifact], missing: &Digest) -> Error {
    let artifact = artifacts
        .iter()
        .find(|a| {
            a.manifest.config().digest() == missing
                || a.manifest.layers().iter().any(|l| l.digest() == missing)
        })
        .map_or(String::new(), |a| a.descriptor.digest().to_string());
    Error::file(
        layout.root(),
        format!("is missing blob {missing} of artifact {artifact}"),
    )
}

/// PUTs the artifacts' manifests, their blobs being there: each by digest,
/// and in cosign's layout tagged `sha256-<subject hex>.sbom` (for `cosign
/// download sbom`) or `.att`. A registry without the referrers API (no
/// `OCI-Subject` in its answer) gets the referrers tag schema instead: an
/// index tagged `sha256-<subject hex>` listing them (distribution spec 1.1,
/// "Referrers Tag Schema"). Each subject's artifacts go at once, then
/// their one index; every subject at once.
fn push_referrers(target: &Target<'_>, artifacts: &[Artifact], jobs: usize) -> Result<()> {
    let mut by_subject: Vec<(&Digest, Vec<&Artifact>)> = Vec::new();
    for artifact in artifacts {
        match by_subject
            .iter_mut()
            .find(|(s, _)| *s == artifact.subject())
        {
            Some((_, group)) => group.push(artifact),
            None => by_subject.push((artifact.subject(), vec![artifact])),
        }
    }
    crate::parallel::try_map(&by_subject, jobs, |(subject, group)| {
        put_referrers(target, subject, group)
    })?;
    Ok(())
}

/// ko's line for each artifact pushed in cosign's layout, in order.
fn announce_referrers(target: &Target<'_>, artifacts: &[Artifact]) {
    for artifact in artifacts {
        if let Some(image) = &artifact.cosign {
            let what = if image.suffix == "att" {
                "attestation"
            } else {
                "SBOM"
            };
            let (registry, repository) = (target.client.registry(), target.repository);
            let tag = cosign::tag(artifact.subject(), image.suffix);
            log::info!("Published {what} {registry}/{repository}:{tag}");
        }
    }
}

/// One manifest of an artifact's to PUT: its own, or its cosign form.
enum ArtifactPut<'a> {
    Referrer(&'a Artifact),
    Cosign(&'a cosign::FileImage),
}

/// PUTs the artifacts of one subject, each in both its forms, while the
/// fallback index is fetched in case the registry turns out to have no
/// referrers API: one round trip for them all. Then that index, once,
/// naming each artifact the registry did not take as a referrer.
fn put_referrers(target: &Target<'_>, subject: &Digest, group: &[&Artifact]) -> Result<()> {
    let (client, repository, scopes) = (target.client, target.repository, target.scopes);
    let tag = fallback_tag(subject);
    let puts: Vec<ArtifactPut> = group
        .iter()
        .flat_map(|artifact| {
            let cosign = artifact.cosign.as_ref();
            std::iter::once(ArtifactPut::Referrer(artifact)).chain(cosign.map(ArtifactPut::Cosign))
        })
        .collect();
    let (fallback, processed) = std::thread::scope(|scope| {
        let fallback = scope.spawn(|| manifests::get_optional(client, repository, &tag, scopes));
        let processed = crate::parallel::try_map(&puts, puts.len(), |put| match put {
            ArtifactPut::Referrer(artifact) => {
                let descriptor = &artifact.descriptor;
                let media_type = descriptor.media_type();
                let name = descriptor.digest().as_ref();
                manifests::put(
                    client,
                    repository,
                    name,
                    media_type,
                    &artifact.bytes,
                    scopes,
                )
            }
            ArtifactPut::Cosign(image) => {
                let name = cosign::tag(subject, image.suffix);
                let media_type = &oci_spec::image::MediaType::ImageManifest;
                manifests::put(
                    client,
                    repository,
                    &name,
                    media_type,
                    &image.manifest,
                    scopes,
                )
            }
        });
        (joined(fallback), processed)
    });
    let processed = processed?;
    let unprocessed: Vec<&Artifact> = puts
        .iter()
        .zip(processed)
        .filter_map(|(put, processed)| match put {
            ArtifactPut::Referrer(artifact) if !processed => Some(*artifact),
            _ => None,
        })
        .collect();
    if unprocessed.is_empty() {
        return Ok(());
    }
    add_to_fallback_index(target, &tag, fallback?, &unprocessed)
}

/// The referrers tag schema's tag for `subject`: `sha256-<hex>`.
fn fallback_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm(), subject.digest())
}

/// Adds the artifacts to the fallback index under `tag`, `fetched` being
/// that index as it was before; PUTs it if any was not there.
fn add_to_fallback_index(
    target: &Target<'_>,
    tag: &str,
    fetched: Option<manifests::Fetched>,
    artifacts: &[&Artifact],
) -> Result<()> {
    let mut entries: Vec<Descriptor> = match fetched {
        Some(fetched) => {
            let index: ImageIndex =
                crate::json::parse(&fetched.bytes, std::path::Path::new(tag), "referrers index")?;
            index.manifests().clone()
        }
        None => Vec::new(),
    };
    let listed = entries.len();
    for Artifact {
        descriptor,
        manifest,
        ..
    } in artifacts
    {
        if entries.iter().any(|d| d.digest() == descriptor.digest()) {
            continue;
        }
        let mut entry = Descriptor::new(
            descriptor.media_type().clone(),
            descriptor.size(),
            descriptor.digest().clone(),
        );
        entry.set_artifact_type(manifest.artifact_type().clone());
        entry.set_annotations(manifest.annotations().clone());
        entries.push(entry);
    }
    if entries.len() == listed {
        return Ok(());
    }
    let index = oci_spec::image::ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(oci_spec::image::MediaType::ImageIndex)
        .manifests(entries)
        .build()
        .expect("every required index field is set");
    let bytes = crate::json::to_canonical_vec(&index);
    manifests::put(
        target.client,
        target.repository,
        tag,
        &oci_spec::image::MediaType::ImageIndex,
        &bytes,
        target.scopes,
    )?;
    Ok(())
}

/// The `index.json` entry to push: the only one, or the one whose ref name
/// is the reference's tag.
fn root_descriptor(layout: &Layout, reference: &Reference) -> Result<Descriptor> {
    let entries: Vec<&Descriptor> = layout.roots().collect();
    match entries.len() {
        0 => Err(Error::file(
            layout.root(),
            "index.json lists nothing to push",
        )),
        1 => Ok((*entries[0]).clone()),
        n => {
            let tag = reference.tag.as_deref().unwrap_or("latest");
            entries
                .iter()
                .find(|d| {
                    d.annotations()
                        .as_ref()
                        .and_then(|a| a.get(REF_NAME))
                        .map(String::as_str)
                        == Some(tag)
                })
                .map(|d| (*d).clone())
                .ok_or_else(|| {
                    Error::file(
                        layout.root(),
                        format!("index.json lists {n} entries and none is named {tag:?}"),
                    )
                })
        }
    }
}

/// A blob to push: its digest and size.
type Blob = (Digest, u64);

/// Manifests in PUT order (children first) and the blobs they reference.
fn collect(layout: &Layout, root: &Descriptor) -> Result<(Vec<ManifestPut>, Vec<Blob>)> {
    let mut manifests = Vec::new();
    let mut blobs = Vec::new();
    let bytes = layout.read_blob(root)?;
    let path = layout.blob_path(root.digest());
    if media_types::is_index(root.media_type()) {
        let index: ImageIndex = crate::json::parse(&bytes, &path, "image index")?;
        for child in index.manifests() {
            if !media_types::is_manifest(child.media_type()) {
                return Err(Error::file(
                    &path,
                    format!("lists {}, which rko cannot push", child.media_type()),
                ));
            }
            let child_bytes = layout.read_blob(child)?;
            let manifest: ImageManifest = crate::json::parse(
                &child_bytes,
                &layout.blob_path(child.digest()),
                "image manifest",
            )?;
            add_blobs(&manifest, &mut blobs);
            manifests.push(ManifestPut {
                descriptor: child.clone(),
                bytes: child_bytes,
            });
        }
    } else {
        let manifest: ImageManifest = crate::json::parse(&bytes, &path, "image manifest")?;
        add_blobs(&manifest, &mut blobs);
    }
    manifests.push(ManifestPut {
        descriptor: root.clone(),
        bytes,
    });
    let mut seen = std::collections::HashSet::new();
    blobs.retain(|(digest, _)| seen.insert(digest.to_string()));
    Ok((manifests, blobs))
}

fn add_blobs(manifest: &ImageManifest, blobs: &mut Vec<(Digest, u64)>) {
    blobs.push((manifest.config().digest().clone(), manifest.config().size()));
    blobs.extend(
        manifest
            .layers()
            .iter()
            .map(|l| (l.digest().clone(), l.size())),
    );
}

/// Where the blobs go, and where the ones the layout lacks come from.
struct Target<'a> {
    client: &'a Client,
    layout: &'a Layout,
    repository: &'a str,
    scopes: &'a [String],
    /// A repository on the same registry to mount missing blobs from.
    mount_from: Option<&'a str>,
    /// A repository on another registry to copy missing blobs from.
    copy_from: Option<Remote<'a>>,
    /// Blobs made for the push, not in the layout: cosign's configs.
    made: &'a [(Digest, &'a [u8])],
    /// Blobs uploaded without a HEAD first (see [`PushOptions::just_made`]).
    unasked: &'a [Digest],
    /// Files for blobs the layout lacks.
    blob_files: &'a [(Digest, PathBuf)],
    /// Whether those files are only hints (a remote cache has the blobs).
    hints_only: bool,
    hints: &'a BlobHints,
}

/// Another registry, connected to on first use.
struct Remote<'a> {
    reference: Reference,
    options: &'a RegistryOptions,
    client: OnceLock<std::result::Result<Client, String>>,
}

impl Remote<'_> {
    fn client(&self) -> Result<&Client> {
        self.client
            .get_or_init(|| {
                Client::connect(&self.reference.registry, self.options).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::invalid(e.clone()))
    }
}

#[derive(Default)]
struct BlobOutcome {
    uploaded: usize,
    mounted: usize,
    copied: usize,
    present: usize,
    from_cache: usize,
    /// A blob neither in the layout nor to be had from a known repository.
    missing: Option<Digest>,
}

impl BlobOutcome {
    /// What happened to `blobs`, as `results` say.
    fn of(blobs: &[Blob], results: &[BlobResult]) -> BlobOutcome {
        let mut outcome = BlobOutcome::default();
        for ((digest, _), result) in blobs.iter().zip(results) {
            match result {
                BlobResult::Present => outcome.present += 1,
                BlobResult::Mounted => outcome.mounted += 1,
                BlobResult::Copied => outcome.copied += 1,
                BlobResult::Uploaded => outcome.uploaded += 1,
                BlobResult::FromCache => {
                    outcome.uploaded += 1;
                    outcome.from_cache += 1;
                }
                BlobResult::Missing => {
                    outcome.missing.get_or_insert_with(|| digest.clone());
                }
            }
        }
        outcome
    }
}

/// Pushes every blob, `jobs` at a time; what happened to each, in order.
fn push_blobs(target: &Target<'_>, blobs: &[Blob], jobs: usize) -> Result<Vec<BlobResult>> {
    crate::parallel::try_map(blobs, jobs, |(digest, size)| {
        push_blob(target, digest, *size)
    })
}

enum BlobResult {
    Present,
    Mounted,
    Copied,
    Uploaded,
    /// Uploaded from the remote cache.
    FromCache,
    /// In none of the places `push_blob` looks (the cache comes after).
    Missing,
}

/// Pushes one blob and logs what happened to it in go-containerregistry's
/// words (ko shows them: `existing blob: …`, `mounted blob: …`, `pushed
/// blob: …`).
fn push_blob(target: &Target<'_>, digest: &Digest, size: u64) -> Result<BlobResult> {
    let result = push_blob_quietly(target, digest, size)?;
    match result {
        BlobResult::Present => log::info!("existing blob: {digest}"),
        BlobResult::Mounted => log::info!("mounted blob: {digest}"),
        BlobResult::Copied | BlobResult::Uploaded => log::info!("pushed blob: {digest}"),
        BlobResult::FromCache | BlobResult::Missing => {}
    }
    Ok(result)
}

fn push_blob_quietly(target: &Target<'_>, digest: &Digest, size: u64) -> Result<BlobResult> {
    let (client, repository, scopes) = (target.client, target.repository, target.scopes);
    let ask = !target.unasked.contains(digest);
    if ask && upload::exists(client, repository, digest, scopes)? {
        return Ok(BlobResult::Present);
    }
    let opened = match target.mount_from {
        Some(from) => match upload::mount(client, repository, digest, from, scopes)? {
            Mount::Mounted => return Ok(BlobResult::Mounted),
            Mount::Declined(session) => session,
        },
        None => None,
    };
    let send = |source| upload::upload(client, repository, (digest, size), source, scopes, opened);
    if let Some((_, bytes)) = target.made.iter().find(|(d, _)| d == digest) {
        send(Source::Bytes(bytes))?;
        return Ok(BlobResult::Uploaded);
    }
    let Some(path) = blob_file(target, digest)? else {
        let Some(remote) = &target.copy_from else {
            return Ok(BlobResult::Missing);
        };
        // Through a temporary file: the upload may have to start over.
        let temp = tempfile::NamedTempFile::new()
            .map_err(|e| Error::io("creating", std::env::temp_dir(), e))?;
        let source_scopes = [format!("repository:{}:pull", remote.reference.repository)];
        let from = &remote.reference.repository;
        let (path, client) = (temp.path(), remote.client()?);
        crate::registry::pull::download(client, from, digest, size, path, &source_scopes)?;
        send(Source::File(path))?;
        return Ok(BlobResult::Copied);
    };
    let actual = std::fs::metadata(&path)
        .map_err(|e| Error::io("reading", &path, e))?
        .len();
    if actual != size {
        return Err(Error::file(
            &path,
            format!("is {actual} bytes but its descriptor says {size}"),
        ));
    }
    send(Source::File(&path))?;
    Ok(BlobResult::Uploaded)
}

/// Where the blob is here: in the layout, in a file given for it (checked
/// first), or in a hint; `None` when nowhere.
fn blob_file(target: &Target<'_>, digest: &Digest) -> Result<Option<PathBuf>> {
    let path = target.layout.blob_path(digest);
    if path.exists() {
        return Ok(Some(path));
    }
    let given = target
        .blob_files
        .iter()
        .find(|(d, file)| d == digest && (!target.hints_only || file.exists()));
    if let Some((_, file)) = given {
        check_blob_file(file, digest)?;
        return Ok(Some(file.clone()));
    }
    target.hints.find(digest)
}

/// A blob file given beside the layout holds what its digest says: it is
/// not in the layout, so nothing checked it yet.
fn check_blob_file(file: &Path, digest: &Digest) -> Result<()> {
    let (actual, _) = crate::digest::sha256_file(file)?;
    if &actual != digest {
        return Err(Error::file(
            file,
            format!("holds {actual}, but it was given for blob {digest}"),
        ));
    }
    Ok(())
}
