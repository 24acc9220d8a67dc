//! `push`: an image or index from an OCI layout to a registry. Blobs first,
//! in parallel (HEAD, then mount or upload); manifests only once every blob
//! they reference is confirmed, children before their index; then each
//! extra tag.

use crate::error::{Error, Result};
use crate::layout::{Layout, REF_NAME};
use crate::media_types;
use crate::registry::client::{Client, RegistryOptions};
use crate::registry::manifests;
use crate::registry::upload::{self, BlobData};
use crate::registry::Reference;
use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What to push and where.
#[derive(Debug, Clone)]
pub struct PushOptions {
    pub layout: PathBuf,
    pub reference: Reference,
    /// Extra tags for the same manifest.
    pub tags: Vec<String>,
    pub registry: RegistryOptions,
    pub jobs: usize,
}

/// What happened, for the caller to print.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    /// `registry/repository@sha256:…`.
    pub reference: String,
    pub digest: Option<Digest>,
    pub requests: u64,
    pub uploaded: usize,
    pub mounted: usize,
    pub present: usize,
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
    let source = layout
        .blob_source()
        .and_then(|s| same_registry_source(&s, reference));
    let mut scopes = vec![format!("repository:{repository}:pull,push")];
    if let Some(from) = &source {
        scopes.push(format!("repository:{from}:pull"));
    }
    let client = Client::connect(&reference.registry, &options.registry)?;

    let outcome = push_blobs(
        &client,
        &layout,
        repository,
        &blobs,
        source.as_deref(),
        &scopes,
        options.jobs,
    )?;
    if let Some(missing) = outcome.missing {
        return Err(Error::invalid(format!(
            "{}: blob {missing} is not in the layout and cannot be mounted into {}: \
             push to the registry the base was pulled from, or pull the base without --shallow",
            options.layout.display(),
            reference.repository_name()
        )));
    }
    let (top, children) = manifests
        .split_last()
        .expect("the root manifest is always collected");
    for child in children {
        let digest = child.descriptor.digest().to_string();
        manifests::put(
            &client,
            repository,
            &digest,
            child.descriptor.media_type(),
            &child.bytes,
            &scopes,
        )?;
    }
    // The root goes under each tag (which also makes it reachable by
    // digest), or under its digest when there is no tag.
    let mut names: Vec<String> = reference.tag.iter().cloned().collect();
    for tag in &options.tags {
        reference.with_tag(tag)?;
        names.push(tag.clone());
    }
    if names.is_empty() {
        names.push(top.descriptor.digest().to_string());
    }
    for name in &names {
        manifests::put(
            &client,
            repository,
            name,
            top.descriptor.media_type(),
            &top.bytes,
            &scopes,
        )?;
    }
    let digest = top.descriptor.digest().clone();
    Ok(Pushed {
        reference: format!("{}@{digest}", reference.repository_name()),
        digest: Some(digest),
        requests: client.requests(),
        uploaded: outcome.uploaded,
        mounted: outcome.mounted,
        present: outcome.present,
    })
}

/// The `index.json` entry to push: the only one, or the one whose ref name
/// is the reference's tag.
fn root_descriptor(layout: &Layout, reference: &Reference) -> Result<Descriptor> {
    let entries = layout.index().manifests();
    match entries.len() {
        0 => Err(Error::layout(
            layout.root(),
            "index.json lists nothing to push",
        )),
        1 => Ok(entries[0].clone()),
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
                .cloned()
                .ok_or_else(|| {
                    Error::layout(
                        layout.root(),
                        format!("index.json lists {n} entries and none is named {tag:?}"),
                    )
                })
        }
    }
}

/// The `host/name` part of a blob source, when it is on the registry we push to.
fn same_registry_source(source: &str, reference: &Reference) -> Option<String> {
    let (registry, repository) = source.split_once('/')?;
    (registry == reference.registry).then(|| repository.to_string())
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
                return Err(Error::layout(
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

#[derive(Default)]
struct BlobOutcome {
    uploaded: usize,
    mounted: usize,
    present: usize,
    /// A blob neither in the layout nor mountable.
    missing: Option<Digest>,
}

fn push_blobs(
    client: &Client,
    layout: &Layout,
    repository: &str,
    blobs: &[(Digest, u64)],
    source: Option<&str>,
    scopes: &[String],
    jobs: usize,
) -> Result<BlobOutcome> {
    let next = AtomicUsize::new(0);
    let outcome = Mutex::new(BlobOutcome::default());
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(blobs.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= blobs.len() || failure.lock().expect("no panics").is_some() {
                    return;
                }
                let (digest, size) = &blobs[i];
                match push_blob(client, layout, repository, digest, *size, source, scopes) {
                    Ok(result) => {
                        let mut outcome = outcome.lock().expect("no panics");
                        match result {
                            BlobResult::Present => outcome.present += 1,
                            BlobResult::Mounted => outcome.mounted += 1,
                            BlobResult::Uploaded => outcome.uploaded += 1,
                            BlobResult::Missing => outcome.missing = Some(digest.clone()),
                        }
                    }
                    Err(e) => {
                        failure.lock().expect("no panics").get_or_insert(e);
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("no panics") {
        return Err(e);
    }
    Ok(outcome.into_inner().expect("no panics"))
}

enum BlobResult {
    Present,
    Mounted,
    Uploaded,
    Missing,
}

fn push_blob(
    client: &Client,
    layout: &Layout,
    repository: &str,
    digest: &Digest,
    size: u64,
    source: Option<&str>,
    scopes: &[String],
) -> Result<BlobResult> {
    if upload::exists(client, repository, digest, scopes)? {
        return Ok(BlobResult::Present);
    }
    if let Some(from) = source.filter(|from| *from != repository) {
        if upload::mount(client, repository, digest, from, scopes)? {
            return Ok(BlobResult::Mounted);
        }
    }
    let path = layout.blob_path(digest);
    if !path.exists() {
        return Ok(BlobResult::Missing);
    }
    let actual = std::fs::metadata(&path)
        .map_err(|e| Error::io("reading", &path, e))?
        .len();
    if actual != size {
        return Err(Error::layout(
            &path,
            format!("is {actual} bytes but its descriptor says {size}"),
        ));
    }
    upload::upload(
        client,
        repository,
        digest,
        size,
        BlobData::File(&path),
        scopes,
    )?;
    Ok(BlobResult::Uploaded)
}
