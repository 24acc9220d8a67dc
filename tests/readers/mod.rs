//! Independent readers of the bytes rko writes. A golden digest proves only
//! that rko still writes what it once wrote; these say what the bytes hold.
//! Python's tarfile and zlib, which know nothing of rko, read the bytes
//! (`tar_entries.py`, `gzip_members.py` beside this file); this file runs
//! them and compares what they found with what a test put in, entry by
//! entry and field by field, naming the entry and the field that differ.
//!
//! tests/tests.rs declares it for the integration tests, src/lib.rs (with
//! `#[path]`) for the unit tests; so it uses only std and crates both
//! have: serde, serde_json, sha2, hex, tempfile.

// Each includer uses its part.
#![allow(dead_code)]

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// What an entry holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
}

/// One tar entry as a test expects it: no user or group names and the
/// USTAR magic are expected of every entry (DESIGN.md, determinism rules).
#[derive(Debug, Clone)]
pub struct Want {
    pub name: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub pax: BTreeMap<String, String>,
}

impl Want {
    /// A file owned by root, dated 0, without PAX records.
    pub fn file(name: &str, content: impl Into<Vec<u8>>, mode: u32) -> Want {
        Want::new(name, Kind::File(content.into()), mode)
    }

    pub fn dir(name: &str, mode: u32) -> Want {
        Want::new(name, Kind::Dir, mode)
    }

    pub fn symlink(name: &str, target: &str, mode: u32) -> Want {
        Want::new(name, Kind::Symlink(target.to_string()), mode)
    }

    fn new(name: &str, kind: Kind, mode: u32) -> Want {
        Want {
            name: name.to_string(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            pax: BTreeMap::new(),
        }
    }

    pub fn owned_by(mut self, uid: u64, gid: u64) -> Want {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn dated(mut self, mtime: u64) -> Want {
        self.mtime = mtime;
        self
    }

    pub fn with_pax(mut self, key: &str, value: &str) -> Want {
        self.pax.insert(key.to_string(), value.to_string());
        self
    }
}

/// One tar entry as Python's tarfile read it (see tar_entries.py).
#[derive(Debug, Clone, Deserialize)]
pub struct Found {
    /// As tarfile gives it: a directory's without its trailing `/`.
    pub name: String,
    /// The type flag: `0` file, `5` directory, `2` symlink.
    #[serde(rename = "type")]
    pub type_flag: String,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: String,
    pub gname: String,
    pub mtime: u64,
    pub size: u64,
    pub link: String,
    /// Header bytes 257..265: `ustar\0` and version `00` for USTAR and PAX.
    pub magic: String,
    /// Of the entry's content (of nothing, for all but files).
    pub sha256: String,
    /// The records of the PAX header before the entry, if any.
    pub pax: BTreeMap<String, String>,
}

/// A tar archive as Python's tarfile read it.
#[derive(Debug, Deserialize)]
pub struct TarListing {
    /// Whether the file was gzip (Python's gzip module decompressed it).
    pub gzip: bool,
    /// Of the (decompressed) tar stream: a layer's diffID.
    pub tar_sha256: String,
    pub entries: Vec<Found>,
}

impl TarListing {
    /// The entry named `name`; fails the test when there is none.
    pub fn entry(&self, name: &str) -> &Found {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no entry {name:?} in the archive"))
    }
}

/// The lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads the tar (plain or gzip) at `archive` with Python's tarfile.
pub fn read_tar(archive: &Path) -> TarListing {
    run_python("tar_entries.py", archive)
}

/// Reads tar (plain or gzip) bytes with Python's tarfile.
pub fn read_tar_bytes(bytes: &[u8]) -> TarListing {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    read_tar(file.path())
}

/// One gzip member's header (RFC 1952, section 2.3).
#[derive(Debug, Deserialize)]
pub struct GzipHeader {
    /// ID1 and ID2 in hex: `1f8b`.
    pub id: String,
    /// CM: 8 is deflate.
    pub cm: u8,
    /// FLG: FTEXT 1, FHCRC 2, FEXTRA 4, FNAME 8, FCOMMENT 16.
    pub flg: u8,
    pub mtime: u32,
    pub xfl: u8,
    pub os: u8,
    pub name: Option<String>,
    pub comment: Option<String>,
}

/// A gzip file as zlib read it, its CRC32 and ISIZE checked.
#[derive(Debug, Deserialize)]
pub struct Gunzipped {
    pub members: Vec<GzipHeader>,
    /// Of the decompressed content of all members.
    pub sha256: String,
    pub size: u64,
}

/// Reads gzip bytes with zlib (see gzip_members.py).
pub fn read_gzip_bytes(bytes: &[u8]) -> Gunzipped {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    run_python("gzip_members.py", file.path())
}

fn run_python<T: serde::de::DeserializeOwned>(script: &str, input: &Path) -> T {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/readers")
        .join(script);
    let out = Command::new("python3")
        .arg(&script)
        .arg(input)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "this test reads rko's bytes back with python3 ({}), which \
                 cannot run: {e}; install it (`apt-get install python3`)",
                script.display()
            )
        });
    assert!(
        out.status.success(),
        "{} could not read {}: {}",
        script.display(),
        input.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{} printed something else than its JSON: {e}",
            script.display()
        )
    })
}

/// Checks that `found` holds exactly the entries of `want`, in that order,
/// each with the type, mode, owner, time, link target, content and PAX
/// records wanted, no user or group name and the USTAR magic. Fails the
/// test with every difference, each naming the entry and the field.
pub fn check_entries(found: &[Found], want: &[Want]) {
    let names = |names: Vec<&str>| names.join("\n  ");
    let found_names: Vec<&str> = found.iter().map(|e| e.name.as_str()).collect();
    let want_names: Vec<&str> = want.iter().map(|e| e.name.as_str()).collect();
    if found_names != want_names {
        let missing: Vec<&str> = want_names
            .iter()
            .filter(|n| !found_names.contains(n))
            .copied()
            .collect();
        let extra: Vec<&str> = found_names
            .iter()
            .filter(|n| !want_names.contains(n))
            .copied()
            .collect();
        let first = found_names
            .iter()
            .zip(&want_names)
            .position(|(f, w)| f != w)
            .unwrap_or(found_names.len().min(want_names.len()));
        panic!(
            "the archive's entries are not those put in.\nmissing:\n  {}\nnot put in:\n  {}\n\
             first difference at entry {first}: {:?}, want {:?}",
            names(missing),
            names(extra),
            found_names.get(first),
            want_names.get(first),
        );
    }
    let problems: Vec<String> = found
        .iter()
        .zip(want)
        .flat_map(|(f, w)| differences(f, w))
        .collect();
    assert!(
        problems.is_empty(),
        "{} difference(s) between the archive and what was put in:\n{}",
        problems.len(),
        problems
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Every field of `found` that is not as `want` says.
fn differences(found: &Found, want: &Want) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = |name: &str, got: String, wanted: String| {
        if got != wanted {
            out.push(format!(
                "entry {:?}: {name} is {got}, want {wanted}",
                want.name
            ));
        }
    };
    let (type_flag, link, content) = match &want.kind {
        Kind::File(content) => ("0", "", content.as_slice()),
        Kind::Dir => ("5", "", &[][..]),
        Kind::Symlink(target) => ("2", target.as_str(), &[][..]),
    };
    field("type", found.type_flag.clone(), type_flag.to_string());
    field(
        "mode",
        format!("{:#o}", found.mode),
        format!("{:#o}", want.mode),
    );
    field("uid", found.uid.to_string(), want.uid.to_string());
    field("gid", found.gid.to_string(), want.gid.to_string());
    field(
        "user name",
        format!("{:?}", found.uname),
        format!("{:?}", ""),
    );
    field(
        "group name",
        format!("{:?}", found.gname),
        format!("{:?}", ""),
    );
    field("mtime", found.mtime.to_string(), want.mtime.to_string());
    field(
        "link target",
        format!("{:?}", found.link),
        format!("{link:?}"),
    );
    field("size", found.size.to_string(), content.len().to_string());
    field("content sha256", found.sha256.clone(), sha256_hex(content));
    field(
        "magic",
        format!("{:?}", found.magic),
        format!("{:?}", "ustar\u{0}00"),
    );
    field(
        "PAX records",
        format!("{:?}", found.pax),
        format!("{:?}", want.pax),
    );
    out
}

/// Checks each of `want` against the entry of its name in `found`, as
/// [`check_entries`] does, and nothing else: for archives that hold more
/// than a test says anything about.
pub fn check_named(found: &[Found], want: &[Want]) {
    let problems: Vec<String> = want
        .iter()
        .flat_map(|w| match found.iter().find(|f| f.name == w.name) {
            Some(f) => differences(f, w),
            None => vec![format!("entry {:?} is missing", w.name)],
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{} difference(s) between the archive and what it should hold:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
