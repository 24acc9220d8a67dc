//! `rko verify`: an image (each image of an index) rebuilt from the
//! working tree with the inputs its provenance records, and compared.
//! The rebuild uses the recorded import path, platform, base image (as
//! configured: a moved tag shows) and `SOURCE_DATE_EPOCH` (unless the
//! environment sets its own); the working tree, `.ko.yaml` and the Go
//! toolchain are today's. Identical digests verify; otherwise the first
//! difference and the inputs that differ are named.

mod attestation;
mod difference;
mod tree;

use crate::error::{Error, Result};
use crate::image::layout::Layout;
use crate::porcelain::pipeline::{self, Request};
use crate::porcelain::settings::flags::{Flags, PublishFlags};
use crate::provenance::statement::Recorded;
use crate::registry::client::Client;
use crate::registry::pull::{self, PullOptions};
use crate::registry::Reference;
use oci_spec::image::Digest;

/// What verifying one image found.
#[derive(Debug, Clone)]
pub struct Checked {
    pub import_path: String,
    pub platform: String,
    pub image: Digest,
    /// The rebuild's digest.
    pub rebuilt: Digest,
    /// What differs in the working tree, the images and the inputs; empty
    /// when the rebuild is identical.
    pub problems: Vec<String>,
}

impl Checked {
    pub fn verified(&self) -> bool {
        self.image == self.rebuilt
    }
}

/// Verifies every image of `reference`; `base` gives the environment,
/// working directory, registry options and jobs of the rebuilds.
pub fn verify(reference: &Reference, base: &Request) -> Result<Vec<Checked>> {
    let scratch =
        tempfile::tempdir().map_err(|e| Error::invalid(format!("a scratch directory: {e}")))?;
    let original = scratch.path().join("original");
    let options = PullOptions {
        reference: reference.clone(),
        platforms: Vec::new(),
        shallow: false,
        registry: base.registry.clone(),
        jobs: base.jobs.max(4),
    };
    pull::pull(&options, &original)?;
    let layout = Layout::open(&original)?;
    let client = Client::connect(&reference.registry, &base.registry)?;
    let mut checked = Vec::new();
    for image in layout.images()? {
        let digest = image.descriptor.digest().clone();
        let (recorded, _) = attestation::from_registry(&client, reference, &digest)?;
        log::info!(
            "Verifying {}@{digest}: {} for {}",
            reference.repository_name(),
            recorded.import_path,
            recorded.platform
        );
        checked.push(check_one(
            &layout,
            &image.manifest,
            &digest,
            &recorded,
            base,
        )?);
    }
    Ok(checked)
}

/// Rebuilds one image as `recorded` says and compares.
fn check_one(
    layout: &Layout,
    manifest: &oci_spec::image::ImageManifest,
    digest: &Digest,
    recorded: &Recorded,
    base: &Request,
) -> Result<Checked> {
    let mut problems = tree::differences(&base.work_dir, recorded.source.as_ref());
    let request = rebuild_request(recorded, base);
    let (rebuilt, mut found) = pipeline::rebuild(&request, |built| {
        let built = built
            .first()
            .ok_or_else(|| Error::invalid("the rebuild built nothing"))?;
        if &built.digest == digest {
            return Ok((built.digest.clone(), Vec::new()));
        }
        let rebuilt_layout = Layout::open(&built.layout)?;
        let rebuilt_image = rebuilt_layout.find_image(None)?;
        let first = difference::first(layout, manifest, &rebuilt_layout, &rebuilt_image.manifest)?;
        let mut found = vec![format!("first difference: {first}")];
        let (again, _) = attestation::from_layout(&rebuilt_layout, &built.digest)?;
        let causes = difference::causes(recorded, &again);
        if causes.is_empty() {
            found.push(
                "likely cause: a source file (no recorded input differs; the tree is not \
                 in git, or its change is uncommitted)"
                    .to_string(),
            );
        }
        found.extend(causes.into_iter().map(|c| format!("likely cause: {c}")));
        Ok((built.digest.clone(), found))
    })?;
    if rebuilt == *digest {
        problems.clear();
    }
    problems.append(&mut found);
    Ok(Checked {
        import_path: recorded.import_path.clone(),
        platform: recorded.platform.clone(),
        image: digest.clone(),
        rebuilt,
        problems,
    })
}

/// `rko build` of the recorded import path, platform and base, published
/// nowhere, with the recorded `SOURCE_DATE_EPOCH` unless one is set.
fn rebuild_request(recorded: &Recorded, base: &Request) -> Request {
    let mut env = base.env.clone();
    if let Some(epoch) = recorded.source_date_epoch {
        env.entry("SOURCE_DATE_EPOCH".to_string())
            .or_insert_with(|| epoch.to_string());
    }
    Request {
        targets: vec![recorded.import_path.clone()],
        flags: Flags {
            platforms: vec![recorded.platform.clone()],
            base_image: Some(recorded.base.name.clone()),
            publish: PublishFlags {
                push: false,
                ..PublishFlags::default()
            },
            provenance: true,
            ..base.flags.clone()
        },
        env,
        ..base.clone()
    }
}
