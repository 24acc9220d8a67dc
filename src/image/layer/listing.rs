//! A layer's listing: every entry its tar holds, in tar order, with type,
//! mode, owner, size and link target, but none of the content. Written by
//! `assemble-layer --listing` beside the descriptor, so that `check-image`
//! can check an image's files from metadata alone, without the layer blob
//! (which may stay in a remote cache).

use crate::error::{Error, Result};
use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// What an entry is, as tar's type flag says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Hardlink => "hardlink",
        })
    }
}

/// One entry of a layer, as its tar header describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedEntry {
    /// The path in the image: absolute, no trailing `/`, no `.` segments.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// The permission bits (with setuid, setgid, sticky), in octal: `"0555"`.
    pub mode: String,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// The target of a symlink or hardlink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl ListedEntry {
    /// An entry from a tar header's fields; `path` as the tar names it.
    pub fn new(path: &str, kind: EntryKind, mode: u32, uid: u64, gid: u64, size: u64) -> Self {
        ListedEntry {
            path: image_path(path),
            kind,
            mode: format!("{:04o}", mode & 0o7777),
            uid,
            gid,
            size,
            link: None,
        }
    }
}

/// `{"digest", "diffID", "entries"}`, in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// The layer blob's digest, as the image manifest names the layer.
    pub digest: Digest,
    #[serde(rename = "diffID")]
    pub diff_id: Digest,
    pub entries: Vec<ListedEntry>,
}

impl Listing {
    /// The file content: fixed field order, one entry a line, a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = format!(
            "{{\n  \"digest\": {},\n  \"diffID\": {},\n  \"entries\": [",
            json_string(self.digest.as_ref()),
            json_string(self.diff_id.as_ref())
        )
        .into_bytes();
        for (i, entry) in self.entries.iter().enumerate() {
            out.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
            out.extend(serde_json::to_vec(entry).expect("an entry always serializes"));
        }
        out.extend_from_slice(if self.entries.is_empty() {
            b"]\n}\n"
        } else {
            b"\n  ]\n}\n"
        });
        out
    }

    pub fn read(path: &Path) -> Result<Self> {
        crate::json::read_file(path, "layer listing")
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

/// A tar entry's name as a path in the image: `./a/b/` → `/a/b`.
pub fn image_path(name: &str) -> String {
    let parts: Vec<&str> = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// The listing of an uncompressed tar stream (a base image's layer, read
/// from the layout), its content read and dropped.
pub fn list_tar(tar: impl Read, what: &Path) -> Result<Vec<ListedEntry>> {
    // A blob that is not what its digest names says so, not "bad tar".
    let bad = |e: std::io::Error| {
        crate::image::blob::take_error(e)
            .unwrap_or_else(|e| Error::file(what, format!("is not a readable tar layer: {e}")))
    };
    let mut archive = tar::Archive::new(tar);
    let mut entries = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let header = entry.header();
        let kind = match header.entry_type() {
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::Hardlink,
            // Devices, fifos and the like are files as far as a listing
            // goes; PAX and GNU long-name headers never reach here.
            _ => EntryKind::File,
        };
        let path = entry.path_bytes();
        let mut listed = ListedEntry::new(
            &String::from_utf8_lossy(&path),
            kind,
            header.mode().map_err(bad)?,
            header.uid().map_err(bad)?,
            header.gid().map_err(bad)?,
            header.size().map_err(bad)?,
        );
        if matches!(kind, EntryKind::Symlink | EntryKind::Hardlink) {
            let link = entry.link_name_bytes().unwrap_or_default();
            listed.link = Some(String::from_utf8_lossy(&link).into_owned());
        }
        entries.push(listed);
    }
    // The rest of the stream (the end-of-archive blocks and any padding) is
    // read too, so that a verifying reader sees the blob's last byte.
    std::io::copy(&mut archive.into_inner(), &mut std::io::sink()).map_err(bad)?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_path_is_absolute_and_clean() {
        for (name, want) in [
            ("ko-app/hello", "/ko-app/hello"),
            ("./ko-app/", "/ko-app"),
            ("/etc//passwd", "/etc/passwd"),
            ("./", "/"),
        ] {
            assert_eq!(image_path(name), want, "{name}");
        }
    }

    #[test]
    fn listing_json_is_one_entry_a_line_and_reads_back() {
        let digest: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let mut link = ListedEntry::new("l", EntryKind::Symlink, 0o777, 0, 0, 0);
        link.link = Some("/x".into());
        let listing = Listing {
            digest: digest.clone(),
            diff_id: digest,
            entries: vec![
                ListedEntry::new("d/", EntryKind::Dir, 0o40555, 1, 2, 0),
                link,
            ],
        };
        let json = String::from_utf8(listing.to_json()).unwrap();
        assert!(json.contains(
            "\n    {\"path\":\"/d\",\"type\":\"dir\",\"mode\":\"0555\",\"uid\":1,\"gid\":2,\"size\":0},\n"
        ));
        assert!(json.contains("\"link\":\"/x\"}\n  ]\n}\n"), "{json}");
        let back: Listing = serde_json::from_str(&json).unwrap();
        assert_eq!(back, listing);
    }
}
