//! OCI image layouts (image-spec `image-layout.md`): reading one, finding the
//! image for a platform in it, and writing a new one atomically.

use crate::atomic::AtomicDir;
use crate::digest;
use crate::error::{Error, IoContext, Result};
use crate::image::blob::{self, Blob};
use crate::image::media_types;
use crate::image::platform::Platform;
use crate::json;
use oci_spec::image::{
    Descriptor, Digest, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType,
};
use serde::de::DeserializeOwned;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The annotation naming an image in a layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// rko's annotation on an `index.json` entry: the repository
/// (`registry/name`) holding the blobs this layout does not (a shallow pull,
/// or an image built on one). `append` carries it on; `push` mounts from it.
pub const BLOB_SOURCE: &str = "dev.rko.blob-source";
/// The largest blob rko reads whole into memory: a manifest, an index or
/// an image config. Real ones are kilobytes and the distribution registry
/// takes manifests up to 4 MiB; 16 MiB leaves room and still bounds memory.
pub const DOCUMENT_LIMIT: u64 = 16 << 20;
const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// An existing OCI image layout on disk.
#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    index: ImageIndex,
}

/// One image found in a layout: its descriptor, manifest and platform.
#[derive(Debug, Clone)]
pub struct FoundImage {
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub platform: Platform,
}

impl Layout {
    pub fn open(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::file(
                root,
                "is not an OCI image layout: no such directory",
            ));
        }
        let marker = root.join(LAYOUT_FILE);
        if !marker.is_file() {
            return Err(Error::file(
                root,
                "not an OCI image layout: it has no oci-layout file",
            ));
        }
        let index = json::read_file(&root.join("index.json"), "OCI image index")?;
        Ok(Layout {
            root: root.to_path_buf(),
            index,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// `index.json`'s images and indexes; artifacts (SBOMs) left out.
    pub fn roots(&self) -> impl Iterator<Item = &Descriptor> {
        self.index.manifests().iter().filter(|d| !is_artifact(d))
    }

    /// `index.json`'s artifacts (SBOMs), which refer to its images.
    pub fn artifacts(&self) -> impl Iterator<Item = &Descriptor> {
        self.index.manifests().iter().filter(|d| is_artifact(d))
    }

    /// Where the blobs missing from this layout are, if it says (see [`BLOB_SOURCE`]).
    pub fn blob_source(&self) -> Option<String> {
        self.index
            .manifests()
            .iter()
            .find_map(|d| d.annotations().as_ref()?.get(BLOB_SOURCE).cloned())
    }

    /// `blobs/<algorithm>/<hex>`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        blob_path(&self.root, digest)
    }

    /// The digests of every blob stored in `blobs/sha256`, sorted.
    pub fn blob_digests(&self) -> Result<Vec<Digest>> {
        let dir = self.root.join("blobs").join("sha256");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .with_path("reading", &dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .with_path("reading", &dir)?;
        names.sort();
        names
            .iter()
            .map(|name| {
                digest::parse(&format!("sha256:{name}")).map_err(|_| {
                    Error::file(
                        &dir,
                        format!("holds {name:?}, which is not a sha256 blob name"),
                    )
                })
            })
            .collect()
    }

    /// Opens a blob to pass it on: a regular file in this layout (see
    /// [`blob`] for the one symlink allowed), checked as it is read.
    pub(crate) fn open_blob(&self, digest: &Digest) -> Result<Blob> {
        let path = self.blob_path(digest);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(self.missing(digest, "")),
            _ => blob::open_in_layout(&path, digest),
        }
    }

    /// Whether the layout holds the blob (as a file or a symlink: which
    /// one is checked when it is opened).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        std::fs::symlink_metadata(self.blob_path(digest)).is_ok()
    }

    /// Reads a small blob (a manifest, index or config) and checks its
    /// size and digest. One larger than [`DOCUMENT_LIMIT`] is refused
    /// before a byte is read, by its descriptor's size or, when that lies,
    /// by the file's.
    pub fn read_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        if let Some(refused) = too_big_to_read(descriptor) {
            return Err(Error::file(self.blob_path(descriptor.digest()), refused));
        }
        let blob = self.open_blob(descriptor.digest())?;
        if blob.size() != descriptor.size() {
            return Err(Error::file(
                self.blob_path(descriptor.digest()),
                format!(
                    "is {} bytes but its descriptor says {}",
                    blob.size(),
                    descriptor.size()
                ),
            ));
        }
        blob.read_all()
    }

    pub fn read_json<T: DeserializeOwned>(
        &self,
        descriptor: &Descriptor,
        what: &'static str,
    ) -> Result<T> {
        let bytes = self.read_blob(descriptor)?;
        json::parse(&bytes, &self.blob_path(descriptor.digest()), what)
    }

    /// Checks that every blob `index.json` leads to is here: the indexes
    /// and manifests it lists (read, and checked against their digests),
    /// and their configs and layers.
    pub fn check_complete(&self) -> Result<()> {
        self.check_listed(self.index.manifests(), "index.json", 0)
    }

    fn check_listed(
        &self,
        descriptors: &[Descriptor],
        listed_by: &str,
        depth: usize,
    ) -> Result<()> {
        if depth > 4 {
            return Err(Error::file(&self.root, "image indexes nested too deeply"));
        }
        for descriptor in descriptors {
            self.require(descriptor.digest(), listed_by)?;
            let media_type = descriptor.media_type();
            let this = format!("{media_type} {}", descriptor.digest());
            if media_types::is_index(media_type) {
                let index: ImageIndex = self.read_json(descriptor, "image index")?;
                self.check_listed(index.manifests(), &this, depth + 1)?;
            } else if media_types::is_manifest(media_type) {
                let manifest: ImageManifest = self.read_json(descriptor, "image manifest")?;
                self.require(manifest.config().digest(), &this)?;
                for layer in manifest.layers() {
                    self.require(layer.digest(), &this)?;
                }
            }
        }
        Ok(())
    }

    /// The blobs `root` leads to, itself first: for an index its
    /// manifests, for a manifest its config and layers; each once, in
    /// that order. Artifacts that refer to `root` are not among them.
    pub fn blobs_of(&self, root: &Descriptor) -> Result<Vec<Digest>> {
        let mut found = Vec::new();
        self.gather(root, &mut found, 0)?;
        Ok(found)
    }

    fn gather(&self, descriptor: &Descriptor, found: &mut Vec<Digest>, depth: usize) -> Result<()> {
        if depth > 4 {
            return Err(Error::file(&self.root, "image indexes nested too deeply"));
        }
        let mut add = |digest: &Digest| {
            if !found.contains(digest) {
                found.push(digest.clone());
            }
        };
        add(descriptor.digest());
        let media_type = descriptor.media_type();
        if media_types::is_index(media_type) {
            let index: ImageIndex = self.read_json(descriptor, "image index")?;
            for child in index.manifests() {
                self.gather(child, found, depth + 1)?;
            }
        } else if media_types::is_manifest(media_type) {
            let manifest: ImageManifest = self.read_json(descriptor, "image manifest")?;
            add(manifest.config().digest());
            for layer in manifest.layers() {
                add(layer.digest());
            }
        }
        Ok(())
    }

    fn require(&self, digest: &Digest, listed_by: &str) -> Result<()> {
        if self.has_blob(digest) {
            return Ok(());
        }
        Err(self.missing(digest, &format!(", listed by {listed_by}")))
    }

    /// A blob is not here; a shallow layout says where it is and how to
    /// get a full one, from the command line or from Bazel.
    fn missing(&self, digest: &Digest, context: &str) -> Error {
        let shallow = match self.blob_source() {
            Some(source) => format!(
                "; it is a shallow layout (its layers are in {source}): pull it without \
                 --shallow (in Bazel, set `shallow = False` on its rko_base_image)"
            ),
            None => String::new(),
        };
        Error::file(
            &self.root,
            format!("is missing blob {digest}{context}{shallow}"),
        )
    }

    /// Every image in the layout, following nested indexes, in index order.
    pub fn images(&self) -> Result<Vec<FoundImage>> {
        let mut found = Vec::new();
        self.collect(self.index.manifests(), &mut found, 0)?;
        Ok(found)
    }

    fn collect(
        &self,
        descriptors: &[Descriptor],
        found: &mut Vec<FoundImage>,
        depth: usize,
    ) -> Result<()> {
        if depth > 4 {
            return Err(Error::file(&self.root, "image indexes nested too deeply"));
        }
        for descriptor in descriptors {
            // Artifacts (SBOMs and the like) refer to images; they are not images.
            if is_artifact(descriptor) {
                continue;
            }
            let media_type = descriptor.media_type();
            if media_types::is_index(media_type) {
                let index: ImageIndex = self.read_json(descriptor, "image index")?;
                self.collect(index.manifests(), found, depth + 1)?;
            } else if media_types::is_manifest(media_type) {
                let manifest: ImageManifest = self.read_json(descriptor, "image manifest")?;
                let platform = match descriptor.platform() {
                    Some(p) => Platform::from_oci(p),
                    None => self.config_platform(&manifest)?,
                };
                found.push(FoundImage {
                    descriptor: descriptor.clone(),
                    manifest,
                    platform,
                });
            }
            // Anything else (attestations, SBOM artifacts) is not an image to build on.
        }
        Ok(())
    }

    fn config_platform(&self, manifest: &ImageManifest) -> Result<Platform> {
        let config: serde_json::Value = self.read_json(manifest.config(), "image config")?;
        let field = |name: &str| config.get(name).and_then(|v| v.as_str()).unwrap_or("");
        Ok(Platform::new(
            field("os"),
            field("architecture"),
            Some(field("variant")),
        ))
    }

    /// The one image for `platform`, or the only image when none is asked for.
    pub fn find_image(&self, platform: Option<&Platform>) -> Result<FoundImage> {
        let images = self.images()?;
        let available = || {
            images
                .iter()
                .map(|i| i.platform.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if images.is_empty() {
            return Err(Error::file(&self.root, "holds no image manifest"));
        }
        match platform {
            None if images.len() == 1 => Ok(images[0].clone()),
            None => Err(Error::file(
                &self.root,
                format!(
                    "holds {} images ({}): choose one with --platform",
                    images.len(),
                    available()
                ),
            )),
            Some(want) => images
                .iter()
                .find(|i| want.matches(&i.platform))
                .cloned()
                .ok_or_else(|| {
                    Error::file(
                        &self.root,
                        format!("has no image for platform {want} (it has: {})", available()),
                    )
                }),
        }
    }
}

/// Why the blob `descriptor` names may not be read whole into memory
/// (a manifest, an index or an image config over [`DOCUMENT_LIMIT`]), if so.
pub fn too_big_to_read(descriptor: &Descriptor) -> Option<String> {
    (descriptor.size() > DOCUMENT_LIMIT).then(|| {
        format!(
            "{} {} is {} bytes, more than the {} MiB rko reads of a manifest, an index \
             or an image config: refused unread (no real image has one so large)",
            descriptor.media_type(),
            descriptor.digest(),
            descriptor.size(),
            DOCUMENT_LIMIT >> 20
        )
    })
}

/// Whether an `index.json` or index entry is an artifact (an SBOM) rather
/// than an image: it has an `artifactType`, and not the one
/// go-containerregistry gives every image (its config's media type,
/// `partial.Descriptor`), which ko's indexes and layouts carry.
pub fn is_artifact(descriptor: &Descriptor) -> bool {
    descriptor
        .artifact_type()
        .as_ref()
        .is_some_and(|t| !media_types::is_config(t))
}

/// The descriptor go-containerregistry writes for `manifest`, as ko's
/// `--oci-layout-path` has it: an image's carries its `artifactType`, or
/// else its config's media type (`partial.Descriptor`). rko's image
/// indexes leave that out (see `index.rs`).
pub fn image_descriptor(
    media_type: MediaType,
    size: u64,
    digest: Digest,
    manifest: &ImageManifest,
) -> Descriptor {
    let mut descriptor = Descriptor::new(media_type, size, digest);
    let artifact_type = manifest
        .artifact_type()
        .clone()
        .unwrap_or_else(|| manifest.config().media_type().clone());
    descriptor.set_artifact_type(Some(artifact_type));
    descriptor
}

/// `<root>/blobs/<algorithm>/<hex>`.
pub fn blob_path(root: &Path, digest: &Digest) -> PathBuf {
    root.join("blobs")
        .join(digest.algorithm().as_ref())
        .join(digest.digest())
}

/// A new layout being written; it appears at its target only on [`finish`](Self::finish).
///
/// A failure to write names the target, not the staging directory beside it.
pub struct LayoutWriter {
    dir: AtomicDir,
    output: PathBuf,
    blobs: BTreeSet<String>,
}

/// Whether rko may replace what is at `target` with a new layout: nothing,
/// an empty directory (as Bazel declares one), or an OCI layout (an
/// `oci-layout` file at its top, an earlier output). Anything else may be
/// the user's (a work tree given by mistake) and is never removed.
pub fn check_replaceable(target: &Path) -> Result<()> {
    let Ok(mut entries) = std::fs::read_dir(target) else {
        return Ok(()); // missing, or not a directory (AtomicDir says so)
    };
    if entries.next().is_none() || target.join(LAYOUT_FILE).is_file() {
        return Ok(());
    }
    Err(Error::file(
        target,
        "is a directory that is neither empty nor an OCI layout: rko writes a layout only \
         there, or where nothing is, and never removes what it did not write; \
         give a new or empty directory",
    ))
}

impl LayoutWriter {
    /// A layout to be written at `target`, refused at once when what is
    /// there may not be replaced ([`check_replaceable`]).
    pub fn create(target: &Path) -> Result<Self> {
        check_replaceable(target)?;
        let dir = AtomicDir::create(target)?;
        let blobs = dir.path().join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).with_path("writing", target)?;
        std::fs::write(dir.path().join(LAYOUT_FILE), LAYOUT_CONTENT)
            .with_path("writing", target)?;
        Ok(LayoutWriter {
            dir,
            output: target.to_path_buf(),
            blobs: BTreeSet::new(),
        })
    }

    /// Where a blob goes in the staged layout; write it there, then [`mark`](Self::mark) it.
    pub fn target(&self, digest: &Digest) -> PathBuf {
        blob_path(self.dir.path(), digest)
    }

    /// Records a blob written directly at [`target`](Self::target).
    pub fn mark(&mut self, digest: &Digest) {
        self.blobs.insert(digest.to_string());
    }

    /// Adds a blob from memory and returns its digest and size.
    pub fn add_bytes(&mut self, bytes: &[u8]) -> Result<(Digest, u64)> {
        let digest = digest::sha256(bytes);
        if self.blobs.insert(digest.to_string()) {
            std::fs::write(self.target(&digest), bytes).with_path("writing", &self.output)?;
        }
        Ok((digest, bytes.len() as u64))
    }

    /// Adds the file at `source`, which must hold the blob `digest` names
    /// (checked as it is linked or copied). A symlink is followed: the
    /// caller named the file. For a blob of a layout, see [`add_blob`](Self::add_blob).
    pub fn add_file(&mut self, source: &Path, digest: &Digest) -> Result<()> {
        if self.blobs.contains(&digest.to_string()) {
            return Ok(());
        }
        let blob = blob::open_named(source, digest)?;
        self.place(blob, digest)
    }

    /// Adds blob `digest` of the layout `source`, checked as it is linked
    /// or copied; never through a symlink out of `source`.
    pub fn add_blob(&mut self, source: &Layout, digest: &Digest) -> Result<()> {
        if self.blobs.contains(&digest.to_string()) {
            return Ok(());
        }
        let blob = source.open_blob(digest)?;
        self.place(blob, digest)
    }

    fn place(&mut self, blob: Blob, digest: &Digest) -> Result<()> {
        blob.place(&self.target(digest), &self.output)?;
        self.blobs.insert(digest.to_string());
        Ok(())
    }

    /// Writes `index.json` listing `manifests` and moves the layout into place.
    pub fn finish(self, manifests: Vec<Descriptor>) -> Result<()> {
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(manifests)
            .build()
            .expect("every required index field is set");
        std::fs::write(
            self.dir.path().join("index.json"),
            json::to_canonical_vec(&index),
        )
        .with_path("writing", &self.output)?;
        // Again: something may have been put there meanwhile.
        check_replaceable(&self.output)?;
        self.dir.commit()
    }
}

/// A descriptor naming `tag` for `index.json`.
pub fn with_ref_name(mut descriptor: Descriptor, tag: &str) -> Descriptor {
    let mut annotations = descriptor.annotations().clone().unwrap_or_default();
    annotations.insert(REF_NAME.to_string(), tag.to_string());
    descriptor.set_annotations(Some(annotations));
    descriptor
}

/// A descriptor recording where missing blobs are (see [`BLOB_SOURCE`]).
pub fn with_blob_source(mut descriptor: Descriptor, source: Option<&str>) -> Descriptor {
    if let Some(source) = source {
        let mut annotations = descriptor.annotations().clone().unwrap_or_default();
        annotations.insert(BLOB_SOURCE.to_string(), source.to_string());
        descriptor.set_annotations(Some(annotations));
    }
    descriptor
}

/// Annotations as oci-spec wants them; `None` when there are none.
pub fn annotations(pairs: &[(String, String)]) -> Option<HashMap<String, String>> {
    (!pairs.is_empty()).then(|| pairs.iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nothing_an_empty_directory_or_a_layout_may_be_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        std::fs::create_dir(path("empty")).unwrap();
        std::fs::create_dir(path("layout")).unwrap();
        std::fs::write(path("layout").join(LAYOUT_FILE), LAYOUT_CONTENT).unwrap();
        std::fs::create_dir(path("notes")).unwrap();
        std::fs::write(path("notes").join("notes.txt"), "mine").unwrap();
        let cases = [
            ("missing", true),
            ("empty", true),
            ("layout", true),
            ("notes", false),
        ];
        for (name, replaceable) in cases {
            assert_eq!(
                check_replaceable(&path(name)).is_ok(),
                replaceable,
                "{name}"
            );
        }
    }
}
