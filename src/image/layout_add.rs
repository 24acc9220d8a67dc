//! Adding an image to a user's OCI layout (`--oci-layout-path`), as ko's
//! layout publisher does with go-containerregistry's `layout.AppendImage`:
//! the image's blobs, and one `index.json` entry for it, with no name and
//! none of rko's own annotations; an existing layout keeps what it holds.

use crate::atomic;
use crate::error::{Error, IoContext, Result};
use crate::image::layout::{self, Layout, LayoutWriter};
use crate::image::media_types;
use crate::json;
use oci_spec::image::{Descriptor, ImageManifest};
use std::path::Path;

/// What is at the output path.
enum Target {
    /// Nothing, or an empty directory: a new layout goes there.
    New,
    /// An OCI layout: the image is added to it.
    Layout(Box<Layout>),
}

/// Adds the image or index `root` of `source` to the layout at `out`,
/// creating it when `out` is missing or empty. Anything else at `out` is
/// refused: nothing of the user's is replaced. Returns the entry added
/// (or already there).
pub fn add_image(source: &Layout, root: &Descriptor, out: &Path) -> Result<Descriptor> {
    let entry = entry_for(source, root)?;
    let blobs = source.blobs_of(root)?;
    match target(out)? {
        Target::New => {
            let mut writer = LayoutWriter::create(out)?;
            for digest in &blobs {
                writer.add_blob(source, digest)?;
            }
            writer.finish(vec![entry.clone()])?;
        }
        Target::Layout(existing) => {
            for digest in &blobs {
                if !existing.has_blob(digest) {
                    let blob = source.open_blob(digest)?;
                    let target = existing.blob_path(digest);
                    let staged = target.with_file_name(format!(
                        ".rko-add-{}-{}",
                        digest.digest(),
                        std::process::id()
                    ));
                    let _ = std::fs::remove_file(&staged);
                    let placed = blob
                        .place(&staged, out)
                        .and_then(|()| std::fs::rename(&staged, &target).with_path("writing", out));
                    if placed.is_err() {
                        let _ = std::fs::remove_file(&staged);
                    }
                    placed?;
                }
            }
            append_entry(&existing, &entry, out)?;
        }
    }
    Ok(entry)
}

/// The `index.json` entry go-containerregistry writes: media type, size,
/// digest and, for an image, `artifactType` (see [`layout::image_descriptor`]).
fn entry_for(source: &Layout, root: &Descriptor) -> Result<Descriptor> {
    let (media_type, size, digest) = (root.media_type(), root.size(), root.digest());
    if media_types::is_manifest(media_type) {
        let manifest: ImageManifest = source.read_json(root, "image manifest")?;
        return Ok(layout::image_descriptor(
            media_type.clone(),
            size,
            digest.clone(),
            &manifest,
        ));
    }
    Ok(Descriptor::new(media_type.clone(), size, digest.clone()))
}

fn target(out: &Path) -> Result<Target> {
    match std::fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Target::New),
        Err(e) => return Err(Error::io("reading", out, e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::file(
                out,
                "exists and is not a directory: --oci-layout-path wants an OCI layout, or a \
                 directory that is empty or missing",
            ))
        }
        Ok(_) => {}
    }
    let empty = std::fs::read_dir(out)
        .with_path("reading", out)?
        .next()
        .is_none();
    if empty {
        return Ok(Target::New);
    }
    if !out.join("oci-layout").is_file() || !out.join("index.json").is_file() {
        return Err(Error::file(
            out,
            "is neither empty nor an OCI image layout (no oci-layout and index.json): rko \
             adds images only to a layout, and replaces nothing of yours; name another directory",
        ));
    }
    Ok(Target::Layout(Box::new(Layout::open(out)?)))
}

/// Rewrites `index.json` with `entry` appended, keeping every other field
/// as it was; an entry already listed (the same image built again) is not
/// listed twice.
fn append_entry(existing: &Layout, entry: &Descriptor, out: &Path) -> Result<()> {
    if existing
        .index()
        .manifests()
        .iter()
        .any(|d| d.digest() == entry.digest() && d.media_type() == entry.media_type())
    {
        return Ok(());
    }
    let path = out.join("index.json");
    let bytes = std::fs::read(&path).with_path("reading", &path)?;
    let mut index: serde_json::Value = json::parse(&bytes, &path, "OCI image index")?;
    let entry = serde_json::to_value(entry).expect("a descriptor always serializes");
    match index.get_mut("manifests").and_then(|m| m.as_array_mut()) {
        Some(manifests) => manifests.push(entry),
        None => index["manifests"] = serde_json::Value::Array(vec![entry]),
    }
    atomic::write_file(&path, &json::to_canonical_vec(&index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::append::{append, AppendOptions};
    use crate::image::base_spec::BaseSpec;
    use crate::image::config::ConfigEdits;

    /// A layout holding builtin:static for `platform`, as `append` writes
    /// it (named, as rko's own layouts are).
    fn image(dir: &Path, platform: &str) -> Layout {
        let out = dir.join(format!("image-{}", platform.replace('/', "-")));
        let options = AppendOptions {
            base: BaseSpec::BuiltinStatic,
            base_name: None,
            platform: Some(platform.parse().unwrap()),
            layers: Vec::new(),
            edits: ConfigEdits::default(),
            annotations: Vec::new(),
            tag: "latest".into(),
        };
        append(&options, &out).unwrap();
        Layout::open(&out).unwrap()
    }

    fn add(source: &Layout, out: &Path) -> Result<Descriptor> {
        let root = source.roots().next().unwrap().clone();
        add_image(source, &root, out)
    }

    fn entries(out: &Path) -> Vec<serde_json::Value> {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        index["manifests"].as_array().unwrap().clone()
    }

    #[test]
    fn an_image_is_added_alone_unnamed_and_beside_what_the_layout_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (amd, arm) = (
            image(dir.path(), "linux/amd64"),
            image(dir.path(), "linux/arm64"),
        );
        type Prepare = fn(&Path);
        let cases: [(&str, Prepare); 2] = [
            ("a missing directory", |_| {}),
            ("an empty directory", |out| {
                std::fs::create_dir(out).unwrap()
            }),
        ];
        for (i, (rule, prepare)) in cases.into_iter().enumerate() {
            let out = dir.path().join(format!("out-{i}"));
            prepare(&out);
            let added = add(&amd, &out).unwrap();
            let listed = entries(&out);
            assert_eq!(listed.len(), 1, "{rule}");
            assert_eq!(
                listed[0],
                serde_json::json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "size": added.size(),
                    "digest": added.digest().to_string(),
                    "artifactType": "application/vnd.oci.image.config.v1+json",
                }),
                "{rule}: no ref name, no rko annotation"
            );
            Layout::open(&out).unwrap().check_complete().unwrap();

            // Added to: the earlier image stays, the same image is not listed twice.
            add(&arm, &out).unwrap();
            add(&arm, &out).unwrap();
            let listed = entries(&out);
            assert_eq!(listed.len(), 2, "{rule}: {listed:?}");
            assert_eq!(listed[0]["digest"], added.digest().to_string(), "{rule}");
            Layout::open(&out).unwrap().check_complete().unwrap();
        }
    }

    #[test]
    fn anything_but_an_empty_directory_or_a_layout_is_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let amd = image(dir.path(), "linux/amd64");
        let not_a_layout = dir.path().join("notes");
        std::fs::create_dir(&not_a_layout).unwrap();
        std::fs::write(not_a_layout.join("todo.txt"), "mine").unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "mine").unwrap();
        for (out, says) in [
            (&not_a_layout, "is neither empty nor an OCI image layout"),
            (&file, "exists and is not a directory"),
        ] {
            let err = add(&amd, out).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        assert_eq!(
            std::fs::read_to_string(not_a_layout.join("todo.txt")).unwrap(),
            "mine"
        );
        assert_eq!(std::fs::read_dir(&not_a_layout).unwrap().count(), 1);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    }
}
