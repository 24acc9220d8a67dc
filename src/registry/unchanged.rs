//! Whether a registry already holds a layout's image as [`push`] would
//! leave it: every tag names the image's digest, every artifact (SBOM)
//! whose subject is the image or one of its children is there by digest,
//! and each SBOM's cosign tag names the manifest `push` would write. Then
//! pushing again would upload nothing and rewrite the same manifests, so it
//! is skipped: one HEAD each instead of a HEAD per blob and a PUT per
//! manifest and tag. The tags are asked first (a changed image ends the
//! check there), then every artifact's HEAD at once: two round trips.
//! go-containerregistry's `remote.Write` likewise skips an image whose
//! manifest exists.
//!
//! A registry keeps every blob a manifest it holds references, so a
//! manifest there means its blobs are there too.

use crate::error::Result;
use crate::image::layout::Layout;
use crate::registry::client::Client;
use crate::registry::cosign;
use crate::registry::manifests;
use crate::registry::push::{PushOptions, Pushed};
use oci_spec::image::{Digest, ImageManifest};
use std::collections::BTreeSet;

/// What a push of `options` would report, when the registry already holds
/// everything it would write; `None` when anything is missing or differs
/// (the first difference ends the check), or the layout holds more than one
/// image to choose from.
pub fn already_pushed(options: &PushOptions) -> Result<Option<Pushed>> {
    let layout = Layout::open(&options.layout)?;
    let roots: Vec<_> = layout.roots().collect();
    let [root] = roots[..] else {
        return Ok(None);
    };
    let digest = root.digest().clone();
    let images = layout.images()?;
    let mut subjects: Vec<&Digest> = vec![&digest];
    subjects.extend(images.iter().map(|image| image.descriptor.digest()));
    let mut blobs: Vec<String> = images
        .iter()
        .flat_map(|image| blob_digests(&image.manifest))
        .collect();
    // Push counts the image's blobs, not its artifacts'.
    let present = blobs.iter().collect::<BTreeSet<_>>().len();

    let reference = &options.reference;
    let repository = &reference.repository;
    let scopes = [format!("repository:{repository}:pull,push")];
    let client = Client::connect(&reference.registry, &options.registry)?;
    let holds = |name: &str, want: &Digest| -> Result<bool> {
        Ok(manifests::head(&client, repository, name, &scopes)?.as_ref() == Some(want))
    };
    // Where push puts the image: under each tag, or its digest without one.
    let mut names: Vec<String> = reference.tag.iter().chain(&options.tags).cloned().collect();
    if names.is_empty() {
        names.push(digest.to_string());
    }
    for name in &names {
        if !holds(name, &digest)? {
            return Ok(None);
        }
    }
    // The image is there: its artifacts are asked about all at once.
    let mut checks: Vec<(String, Digest)> = Vec::new();
    let mut referrers = 0;
    for (descriptor, manifest, _) in crate::image::referrers::in_layout(&layout)? {
        let subject = manifest
            .subject()
            .as_ref()
            .expect("in_layout returns manifests with a subject")
            .digest()
            .clone();
        if !subjects.contains(&&subject) {
            continue;
        }
        checks.push((descriptor.digest().to_string(), descriptor.digest().clone()));
        blobs.extend(blob_digests(&manifest));
        let cosign = cosign::cosign_form(&manifest).filter(|_| options.sbom_tags);
        if let Some(image) = cosign {
            let cosign_manifest = crate::digest::sha256(&image.manifest);
            checks.push((cosign::tag(&subject, image.suffix), cosign_manifest));
        }
        referrers += 1;
    }
    let held = crate::parallel::try_map(&checks, checks.len(), |(name, want)| holds(name, want))?;
    if held.contains(&false) {
        return Ok(None);
    }
    // What push logs for a blob the registry has (go-containerregistry's
    // words, which ko shows): true of each, as a manifest there has them.
    let mut seen = BTreeSet::new();
    blobs.retain(|digest| seen.insert(digest.clone()));
    for digest in &blobs {
        log::info!("existing blob: {digest}");
    }
    Ok(Some(Pushed {
        reference: format!("{}@{digest}", reference.repository_name()),
        digest,
        requests: client.requests(),
        uploaded: 0,
        mounted: 0,
        copied: 0,
        present,
        referrers,
        from_cache: 0,
        cache_bytes: 0,
    }))
}

/// The config and layers an image references.
fn blob_digests(manifest: &ImageManifest) -> Vec<String> {
    let layers = manifest.layers().iter().map(|l| l.digest().to_string());
    std::iter::once(manifest.config().digest().to_string())
        .chain(layers)
        .collect()
}
