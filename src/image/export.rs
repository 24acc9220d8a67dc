//! `export`: an OCI layout as a single tarball, either the `docker save`
//! format (`docker load`, `podman load`) or an OCI archive (the layout
//! itself, tarred; keeps every platform).

use crate::atomic::{blame_output, AtomicFile};
use crate::error::{Error, Result};
use crate::image::layer::{self, Entry, Kind, Source};
use crate::image::layout::{self, Layout};
use crate::image::platform::Platform;
use crate::json;
use oci_spec::image::{Digest, ImageIndex};
use serde::Serialize;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The two archive formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Docker,
    Oci,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "docker" => Ok(Format::Docker),
            "oci" => Ok(Format::Oci),
            other => Err(Error::invalid(format!(
                "unknown --format {other:?}: expected docker or oci"
            ))),
        }
    }
}

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: Format,
    /// `REPO:TAG` for docker's `RepoTags`, or the OCI archive's ref name.
    pub tag: Option<String>,
    /// Which image of an index goes into a docker archive.
    pub platform: Option<Platform>,
    /// Files holding blobs the layout lacks (the layers of a sparse
    /// layout), each checked against its digest as it is written.
    pub blob_files: Vec<(Digest, PathBuf)>,
}

/// One entry of docker's `manifest.json`.
#[derive(Serialize)]
struct DockerManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Writes `layout` as an archive at `out`.
pub fn export(layout_path: &Path, options: &ExportOptions, out: &Path) -> Result<()> {
    let layout = Layout::open(layout_path)?;
    let blobs = Blobs {
        layout: &layout,
        files: &options.blob_files,
    };
    let tag = options.tag.as_deref().map(normalize_tag).transpose()?;
    let entries = match options.format {
        Format::Docker => {
            docker_entries(&blobs, options.platform.as_ref(), tag.into_iter().collect())?
        }
        Format::Oci => {
            if options.platform.is_some() {
                return Err(Error::invalid(
                    "--platform applies to --format docker only: an OCI archive keeps every platform",
                ));
            }
            oci_entries(&blobs, tag.as_deref())?
        }
    };
    write_archive(&entries, out)
}

/// Writes the `platform` image of `layout` (or its only image) as a
/// docker-save tarball at `out` whose one image has every one of `tags`
/// (`REPO:TAG` each) in its `RepoTags`: `docker load`, `podman load` and
/// containerd's `ctr images import` give it each name.
pub fn export_docker(
    layout_path: &Path,
    platform: Option<&Platform>,
    tags: &[String],
    out: &Path,
) -> Result<()> {
    let layout = Layout::open(layout_path)?;
    let tags = tags
        .iter()
        .map(|t| normalize_tag(t))
        .collect::<Result<_>>()?;
    let blobs = Blobs {
        layout: &layout,
        files: &[],
    };
    write_archive(&docker_entries(&blobs, platform, tags)?, out)
}

/// Writes `entries` as one tar at `out`, atomically.
fn write_archive(entries: &[Entry], out: &Path) -> Result<()> {
    let mut file = AtomicFile::create(out)?;
    let mut writer = BufWriter::with_capacity(1 << 20, &mut file);
    layer::write_tar(entries, 0, &mut writer)?;
    writer
        .flush()
        .map_err(|e| blame_output(e, |e| Error::io("writing", out, e)))?;
    drop(writer);
    file.commit()
}

/// `name` becomes `name:latest`; `host:5000/name` keeps its port.
fn normalize_tag(tag: &str) -> Result<String> {
    if tag.is_empty() || tag.contains(char::is_whitespace) || tag.contains('@') {
        return Err(Error::invalid(format!(
            "--tag {tag:?} is not a valid REPO:TAG"
        )));
    }
    let last = tag.rsplit('/').next().unwrap_or(tag);
    Ok(if last.contains(':') {
        tag.to_string()
    } else {
        format!("{tag}:latest")
    })
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().as_ref(), digest.digest())
}

fn file(path: String, source: Source, size: u64) -> Entry {
    Entry {
        path,
        kind: Kind::File { source, size },
        mode: 0o644,
        uid: 0,
        gid: 0,
        pax: Default::default(),
    }
}

fn dir(path: &str) -> Entry {
    Entry {
        path: path.to_string(),
        kind: Kind::Dir,
        mode: 0o755,
        uid: 0,
        gid: 0,
        pax: Default::default(),
    }
}

/// Where an archive's blobs come from: the layout, or files given for the
/// blobs it lacks.
struct Blobs<'a> {
    layout: &'a Layout,
    files: &'a [(Digest, PathBuf)],
}

impl Blobs<'_> {
    /// The file given for a blob the layout lacks.
    fn given(&self, digest: &Digest) -> Option<&PathBuf> {
        let (_, file) = self.files.iter().find(|(d, _)| d == digest)?;
        (!self.layout.blob_path(digest).exists()).then_some(file)
    }

    /// A blob as the archive member `name`, checked against its digest
    /// when it is written.
    fn entry(&self, digest: &Digest, name: String) -> Result<Entry> {
        if let Some(path) = self.given(digest) {
            let size = crate::image::blob::open_named(path, digest)?.size();
            let source = Source::NamedBlob {
                path: path.clone(),
                digest: digest.clone(),
            };
            return Ok(file(name, source, size));
        }
        let size = self.layout.open_blob(digest)?.size();
        let source = Source::LayoutBlob {
            path: self.layout.blob_path(digest),
            digest: digest.clone(),
        };
        Ok(file(name, source, size))
    }
}

/// The docker-save tarball go-containerregistry writes for ko's
/// `--tarball` and `ko build -L` (`tarball.MultiRefWrite`): the config as
/// `sha256:<hex>`, each layer once as `<hex>.tar.gz` in manifest order,
/// then `manifest.json`; no directories. `docker load` and `podman load`
/// read it.
fn docker_entries(
    blobs: &Blobs<'_>,
    platform: Option<&Platform>,
    tags: Vec<String>,
) -> Result<Vec<Entry>> {
    let image = blobs.layout.find_image(platform)?;
    let manifest = &image.manifest;
    let config = manifest.config().digest();
    let layer_name = |digest: &Digest| format!("{}.tar.gz", digest.digest());
    let description = [DockerManifest {
        config: config.to_string(),
        repo_tags: tags,
        layers: manifest
            .layers()
            .iter()
            .map(|l| layer_name(l.digest()))
            .collect(),
    }];
    let manifest_json = serde_json::to_vec(&description).expect("manifest.json always serializes");

    let mut entries = vec![blobs.entry(config, config.to_string())?];
    let mut seen = Vec::new();
    for layer in manifest.layers() {
        if !seen.contains(layer.digest()) {
            seen.push(layer.digest().clone());
            entries.push(blobs.entry(layer.digest(), layer_name(layer.digest()))?);
        }
    }
    let size = manifest_json.len() as u64;
    entries.push(file(
        "manifest.json".into(),
        Source::Bytes(Arc::from(manifest_json)),
        size,
    ));
    Ok(entries)
}

fn oci_entries(blobs: &Blobs<'_>, tag: Option<&str>) -> Result<Vec<Entry>> {
    let layout = blobs.layout;
    // The archive holds every blob present and given; each must be there
    // that the listing leads to, or a reader of the archive fails where
    // rko did not.
    let mut digests = layout.blob_digests()?;
    let given: Vec<Digest> = blobs
        .files
        .iter()
        .map(|(d, _)| d.clone())
        .filter(|d| blobs.given(d).is_some())
        .collect();
    if given.is_empty() {
        layout.check_complete()?;
    } else {
        for image in layout.images()? {
            for layer in image.manifest.layers() {
                if !digests.contains(layer.digest()) && !given.contains(layer.digest()) {
                    return Err(Error::file(
                        layout.root(),
                        format!(
                            "is missing blob {}, and no --layer gives it",
                            layer.digest()
                        ),
                    ));
                }
            }
        }
        digests.extend(given);
        digests.sort_by(|a, b| a.digest().cmp(b.digest()));
        digests.dedup();
    }
    let mut index: ImageIndex = layout.index().clone();
    // `podman load` and `docker load` want one image per archive: artifacts
    // (SBOMs) keep their blobs in it but leave the listing.
    let manifests = layout
        .roots()
        .map(|d| match tag {
            Some(tag) => layout::with_ref_name(d.clone(), tag),
            None => d.clone(),
        })
        .collect();
    index.set_manifests(manifests);
    let index_json = json::to_canonical_vec(&index);
    let layout_file = br#"{"imageLayoutVersion":"1.0.0"}"#;

    let mut entries = vec![dir("blobs"), dir("blobs/sha256")];
    for digest in digests {
        entries.push(blobs.entry(&digest, blob_name(&digest))?);
    }
    let size = index_json.len() as u64;
    entries.push(file(
        "index.json".into(),
        Source::Bytes(Arc::from(index_json)),
        size,
    ));
    entries.push(file(
        "oci-layout".into(),
        Source::Bytes(Arc::from(&layout_file[..])),
        layout_file.len() as u64,
    ));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_get_latest_when_they_have_none() {
        let cases = [
            ("hello", Ok("hello:latest")),
            ("hello:v1", Ok("hello:v1")),
            ("localhost:5000/hello", Ok("localhost:5000/hello:latest")),
            ("localhost:5000/hello:v2", Ok("localhost:5000/hello:v2")),
            ("a b", Err(())),
            ("x@sha256:00", Err(())),
        ];
        for (input, want) in cases {
            assert_eq!(
                normalize_tag(input).map_err(|_| ()),
                want.map(String::from),
                "{input}"
            );
        }
    }
}
