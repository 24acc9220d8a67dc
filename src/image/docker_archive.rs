//! Reading a docker-save tarball (what `docker save` and `podman save`
//! write) into an OCI layout, as go-containerregistry's `tarball.Image`
//! reads one for ko's `daemon.Image`: the config as saved, each layer
//! gzip-compressed, a manifest with Docker media types.

use crate::error::{Error, IoContext, Result};
use crate::image::compress::{self, CompressOptions, Compression};
use crate::image::descriptor::LayerDescriptor;
use crate::image::layout::LayoutWriter;
use crate::image::media_types::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST};
use crate::json;
use oci_spec::image::{Descriptor, Digest, ImageManifestBuilder, MediaType};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Component, Path, PathBuf};

/// How many symlinks in a row the archive may lead through.
const MAX_LINKS: usize = 8;

/// One entry of docker's `manifest.json`.
#[derive(Debug, Deserialize)]
struct SavedImage {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// The archive's members, by their path in it.
#[derive(Debug, Default)]
struct Members {
    /// Regular files, unpacked to disk.
    files: BTreeMap<String, PathBuf>,
    /// Symlinks, to their target's path in the archive.
    links: BTreeMap<String, String>,
}

/// Writes the one image of the docker-save tarball `archive` as an OCI
/// layout at `out`; returns its manifest's digest. Every layer is checked
/// against the config's `rootfs.diff_ids`. `jobs` bounds the threads that
/// compress one layer; the output does not depend on it.
pub fn import(archive: &Path, out: &Path, jobs: usize) -> Result<Digest> {
    let parent = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_path("creating", parent)?;
    let staging = tempfile::Builder::new()
        .prefix(".rko-import-")
        .tempdir_in(parent)
        .with_path("creating a directory in", parent)?;
    let members = unpack(archive, staging.path())?;
    let (image, config_bytes) = saved_image(archive, &members)?;
    let mut writer = LayoutWriter::create(out)?;
    let (config_digest, config_size) = writer.add_bytes(&config_bytes)?;
    let config: Value = json::parse(&config_bytes, archive, "image config")?;
    let diff_ids = config_diff_ids(archive, &config)?;
    let mut layers = Vec::new();
    for (index, (name, diff_id)) in image.layers.iter().zip(&diff_ids).enumerate() {
        let source = member(archive, &members, name)?;
        let blob = staging.path().join(format!("layer-{index}.gz"));
        let layer = compress_layer(archive, name, source, &blob, jobs)?;
        if layer.diff_id.to_string() != *diff_id {
            return Err(Error::file(
                archive,
                format!(
                    "layer {name} is {} uncompressed, but the config says {diff_id}",
                    layer.diff_id
                ),
            ));
        }
        writer.add_file(&blob, &layer.digest)?;
        let media_type = MediaType::Other(DOCKER_LAYER_GZIP.into());
        layers.push(Descriptor::new(media_type, layer.size, layer.digest));
    }
    let config_type = MediaType::Other(DOCKER_CONFIG.into());
    let manifest_type = MediaType::Other(DOCKER_MANIFEST.into());
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(manifest_type.clone())
        .config(Descriptor::new(config_type, config_size, config_digest))
        .layers(layers)
        .build()
        .expect("every required manifest field is set");
    let (digest, size) = writer.add_bytes(&json::to_canonical_vec(&manifest))?;
    writer.finish(vec![Descriptor::new(manifest_type, size, digest.clone())])?;
    Ok(digest)
}

/// The one image `manifest.json` lists and its config's bytes, checked to
/// name as many layers as the config has diff_ids.
fn saved_image(archive: &Path, members: &Members) -> Result<(SavedImage, Vec<u8>)> {
    if !members.files.contains_key("manifest.json") {
        return Err(Error::file(
            archive,
            "has no manifest.json: not a docker-save tarball",
        ));
    }
    let listing = read_member(archive, members, "manifest.json")?;
    let mut saved: Vec<SavedImage> = json::parse(&listing, archive, "manifest.json")?;
    if saved.len() != 1 {
        return Err(Error::file(
            archive,
            format!(
                "manifest.json lists {} images; one was expected",
                saved.len()
            ),
        ));
    }
    let image = saved.remove(0);
    let config_bytes = read_member(archive, members, &image.config)?;
    let config: Value = json::parse(&config_bytes, archive, "image config")?;
    let diff_ids = config_diff_ids(archive, &config)?;
    if diff_ids.len() != image.layers.len() {
        return Err(Error::file(
            archive,
            format!(
                "manifest.json lists {} layers but the config has {} diff_ids",
                image.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    Ok((image, config_bytes))
}

/// The config's `rootfs.diff_ids`.
fn config_diff_ids(archive: &Path, config: &Value) -> Result<Vec<String>> {
    config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or_else(|| Error::file(archive, "the image config has no rootfs.diff_ids"))?
        .iter()
        .map(|id| {
            id.as_str().map(str::to_string).ok_or_else(|| {
                Error::file(
                    archive,
                    "the image config has a diff_id that is not a string",
                )
            })
        })
        .collect()
}

/// Unpacks the regular files of `archive` into `dir` (each under a number,
/// whatever its name) and notes its symlinks; nothing else is kept.
fn unpack(archive: &Path, dir: &Path) -> Result<Members> {
    let file = File::open(archive).with_path("reading", archive)?;
    let mut tar = tar::Archive::new(BufReader::new(file));
    let mut members = Members::default();
    let entries = tar.entries().with_path("reading", archive)?;
    for (number, entry) in entries.enumerate() {
        let mut entry = entry.with_path("reading", archive)?;
        let raw = entry.path_bytes().into_owned();
        let name = member_name(archive, &String::from_utf8_lossy(&raw))?;
        let kind = entry.header().entry_type();
        if kind.is_file() {
            let path = dir.join(number.to_string());
            let mut out = File::create(&path).with_path("writing", &path)?;
            io::copy(&mut entry, &mut out).with_path("reading", archive)?;
            members.files.insert(name, path);
        } else if kind.is_symlink() {
            let target = entry.link_name().with_path("reading", archive)?;
            let target = target
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            let base = name.rsplit_once('/').map_or("", |(dir, _)| dir);
            let joined = if base.is_empty() {
                target
            } else {
                format!("{base}/{target}")
            };
            members.links.insert(name, member_name(archive, &joined)?);
        }
    }
    Ok(members)
}

/// `path` in the archive without `./` and empty parts; `..` resolved, but
/// never above the archive's root.
fn member_name(archive: &Path, path: &str) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().unwrap_or_default()),
            Component::CurDir => {}
            Component::ParentDir if parts.pop().is_some() => {}
            _ => {
                return Err(Error::file(
                    archive,
                    format!("member {path:?} points outside the archive"),
                ))
            }
        }
    }
    Ok(parts.join("/"))
}

/// Where the member `name` was unpacked, through its symlinks.
fn member<'a>(archive: &Path, members: &'a Members, name: &str) -> Result<&'a PathBuf> {
    let mut name = member_name(archive, name)?;
    for _ in 0..MAX_LINKS {
        if let Some(path) = members.files.get(&name) {
            return Ok(path);
        }
        match members.links.get(&name) {
            Some(target) => name = target.clone(),
            None => break,
        }
    }
    Err(Error::file(
        archive,
        format!("manifest.json names {name}, which the archive does not hold"),
    ))
}

fn read_member(archive: &Path, members: &Members, name: &str) -> Result<Vec<u8>> {
    let path = member(archive, members, name)?;
    std::fs::read(path).with_path("reading", path)
}

/// Gzips the layer at `source` (a tar, or a gzip- or zstd-compressed tar)
/// into `blob`.
fn compress_layer(
    archive: &Path,
    name: &str,
    source: &Path,
    blob: &Path,
    jobs: usize,
) -> Result<LayerDescriptor> {
    let mut file = File::open(source).with_path("reading", source)?;
    let mut magic = [0u8; 4];
    let read = file.read(&mut magic).with_path("reading", source)?;
    let file = BufReader::new(File::open(source).with_path("reading", source)?);
    let mut reader: Box<dyn Read> = match &magic[..read] {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(file)),
        [0x28, 0xb5, 0x2f, 0xfd] => {
            Box::new(zstd::stream::read::Decoder::new(file).with_path("reading", source)?)
        }
        _ => Box::new(file),
    };
    let out = BufWriter::new(File::create(blob).with_path("writing", blob)?);
    let options = CompressOptions {
        compression: Compression::Gzip,
        level: None,
        jobs,
    };
    let (out, compressed) = compress::compress(out, options, |sink| {
        io::copy(&mut reader, sink)
            .map(drop)
            .map_err(|e| Error::file(archive, format!("layer {name}: {e}")))
    })?;
    out.into_inner()
        .map_err(|e| Error::io("writing", blob, e.into_error()))?;
    Ok(LayerDescriptor::new(Compression::Gzip, compressed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layout::Layout;
    use std::io::Write;

    /// A member of a test archive: a file's bytes or a symlink's target.
    enum Member {
        File(Vec<u8>),
        Link(&'static str),
    }

    fn tar_of(members: &[(&str, Member)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, member) in members {
            let mut header = tar::Header::new_ustar();
            header.set_mode(0o644);
            match member {
                Member::File(bytes) => {
                    header.set_size(bytes.len() as u64);
                    header.set_entry_type(tar::EntryType::Regular);
                    builder.append_data(&mut header, name, &bytes[..]).unwrap();
                }
                Member::Link(target) => {
                    header.set_size(0);
                    header.set_entry_type(tar::EntryType::Symlink);
                    builder.append_link(&mut header, name, target).unwrap();
                }
            }
        }
        builder.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// The one layer every case's image has, and its config.
    fn layer_and_config() -> (Vec<u8>, Vec<u8>) {
        let layer = tar_of(&[("hello.txt", Member::File(b"hello".to_vec()))]);
        let diff_id = crate::digest::sha256(&layer);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        );
        (layer, config.into_bytes())
    }

    fn manifest_json(layers: &str) -> Member {
        Member::File(
            format!(r#"[{{"Config":"c.json","RepoTags":["x:1"],"Layers":[{layers}]}}]"#)
                .into_bytes(),
        )
    }

    /// A rule, the archive's members, and the error it gives (`None`: imported).
    type Case = (
        &'static str,
        Vec<(&'static str, Member)>,
        Option<&'static str>,
    );

    /// `l.tar` holding `layer`, the config, and a manifest.json listing `layers`.
    fn image(layer: Member, config: &[u8], layers: &str) -> Vec<(&'static str, Member)> {
        vec![
            ("l.tar", layer),
            ("c.json", Member::File(config.to_vec())),
            ("manifest.json", manifest_json(layers)),
        ]
    }

    fn cases(layer: &[u8], config: &[u8]) -> Vec<Case> {
        let file = |bytes: &[u8]| Member::File(bytes.to_vec());
        let other_layer = tar_of(&[("other.txt", file(b"other"))]);
        let two_images = br#"[{"Config":"c.json","Layers":[]},{"Config":"c.json","Layers":[]}]"#;
        vec![
            (
                "podman: layers by name",
                image(file(layer), config, r#""l.tar""#),
                None,
            ),
            (
                "a gzipped layer",
                image(file(&gzip(layer)), config, r#""l.tar""#),
                None,
            ),
            (
                "docker: a layer through a symlink",
                vec![
                    ("l.tar", file(layer)),
                    ("id/layer.tar", Member::Link("../l.tar")),
                    ("c.json", file(config)),
                    ("./manifest.json", manifest_json(r#""id/layer.tar""#)),
                ],
                None,
            ),
            (
                "a layer that is not the config's",
                image(file(&other_layer), config, r#""l.tar""#),
                Some("but the config says"),
            ),
            (
                "a layer the archive lacks",
                vec![
                    ("c.json", file(config)),
                    ("manifest.json", manifest_json(r#""l.tar""#)),
                ],
                Some("manifest.json names l.tar, which the archive does not hold"),
            ),
            (
                "more layers than diff_ids",
                image(file(layer), config, r#""l.tar","l.tar""#),
                Some("lists 2 layers but the config has 1 diff_ids"),
            ),
            (
                "two images",
                vec![
                    ("c.json", file(config)),
                    ("manifest.json", file(two_images)),
                ],
                Some("manifest.json lists 2 images"),
            ),
            (
                "a symlink out of the archive",
                image(Member::Link("../../etc/passwd"), config, r#""l.tar""#),
                Some("points outside the archive"),
            ),
            (
                "no manifest.json",
                vec![("c.json", file(config))],
                Some("has no manifest.json: not a docker-save tarball"),
            ),
        ]
    }

    #[test]
    fn docker_save_archives_import_as_ko_reads_them() {
        let (layer, config) = layer_and_config();
        let cases = cases(&layer, &config);
        let dir = tempfile::tempdir().unwrap();
        let mut digests = Vec::new();
        for (i, (rule, members, says)) in cases.into_iter().enumerate() {
            let archive = dir.path().join(format!("{i}.tar"));
            std::fs::write(&archive, tar_of(&members)).unwrap();
            let out = dir.path().join(format!("layout-{i}"));
            match (import(&archive, &out, 2), says) {
                (Ok(digest), None) => {
                    let layout = Layout::open(&out).unwrap();
                    let image = layout.find_image(None).unwrap();
                    let manifest = &image.manifest;
                    assert_eq!(
                        manifest.media_type().as_ref().unwrap().to_string(),
                        DOCKER_MANIFEST,
                        "{rule}"
                    );
                    assert_eq!(
                        manifest.config().digest(),
                        &crate::digest::sha256(&config),
                        "{rule}: the config as saved"
                    );
                    assert_eq!(image.platform.to_string(), "linux/amd64", "{rule}");
                    digests.push(digest);
                }
                (Err(e), Some(says)) => {
                    assert!(e.to_string().contains(says), "{rule}: {e}");
                    assert!(!out.exists(), "{rule}: nothing written");
                }
                (got, _) => panic!("{rule}: got {got:?}, want {says:?}"),
            }
        }
        digests.dedup();
        assert_eq!(
            digests.len(),
            1,
            "the same image whatever the archive's layout or compression"
        );
    }

    #[test]
    fn member_names_stay_inside_the_archive() {
        let cases = [
            ("manifest.json", Some("manifest.json")),
            ("./manifest.json", Some("manifest.json")),
            ("blobs/sha256/ab", Some("blobs/sha256/ab")),
            ("abc/../x.tar", Some("x.tar")),
            ("abc/./layer.tar", Some("abc/layer.tar")),
            ("../x.tar", None),
            ("/etc/passwd", None),
        ];
        for (path, want) in cases {
            let got = member_name(Path::new("a.tar"), path).ok();
            assert_eq!(got.as_deref(), want, "{path}");
        }
    }
}
