//! docker's config.json as the document its owner wrote: read as docker
//! reads it (an empty file is an empty configuration), and changed only in
//! its `auths` member, every other member carried over as its own text
//! (numbers of any size or precision too) in its own place, under a lock
//! beside the file so that logins at the same time all land.
//!
//! Why raw text and not `serde_json::Value`: a `Value` holds numbers as
//! `f64`/`u64`, which would rewrite `12345678901234567890123` and refuse
//! `1.0e400`; and without serde_json's `preserve_order` (off here, and
//! crate-wide if turned on) its objects sort their keys. `RawValue` (the
//! `raw_value` feature, which only adds that type) keeps each member's text.

use crate::error::{Error, IoContext, Result};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A JSON object's members in the order written, each value as its text.
#[derive(Debug, Default)]
pub(crate) struct Members(pub Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// What the JSON text `json` is, from its first character.
fn kind_of(json: &str) -> &'static str {
    match json.trim_start().chars().next() {
        Some('{') => "an object",
        Some('[') => "an array",
        Some('"') => "a string",
        Some('t' | 'f') => "a boolean",
        Some('n') => "null",
        _ => "a number",
    }
}

/// Whether `bytes` is nothing but JSON whitespace: Go's decoder finds no
/// value there (io.EOF), which docker takes for an empty configuration.
fn is_blank(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// A docker config.json (or podman auth file) as written.
#[derive(Debug)]
pub(crate) struct ConfigFile {
    path: PathBuf,
    members: Members,
}

/// A config file whose text is valid JSON but not an object.
struct NotAnObject(&'static str);

impl ConfigFile {
    fn parse(bytes: &[u8], path: &Path) -> Result<Result<ConfigFile, NotAnObject>> {
        let path = path.to_path_buf();
        if is_blank(bytes) {
            let members = Members::default();
            return Ok(Ok(ConfigFile { path, members }));
        }
        let raw: Box<RawValue> = crate::json::parse(bytes, &path, "credentials file")?;
        let kind = kind_of(raw.get());
        if kind != "an object" {
            return Ok(Err(NotAnObject(kind)));
        }
        let members = crate::json::parse(raw.get().as_bytes(), &path, "credentials file")?;
        Ok(Ok(ConfigFile { path, members }))
    }

    /// The file at `path`, to be changed: `None` when there is none; an
    /// error when it is not a JSON object.
    pub fn read(path: &Path) -> Result<Option<ConfigFile>> {
        read_if_present(path)?
            .map(|bytes| ConfigFile::to_change(&bytes, path))
            .transpose()
    }

    /// `bytes`, read from `path`, to be changed: a JSON object, or blank.
    fn to_change(bytes: &[u8], path: &Path) -> Result<ConfigFile> {
        ConfigFile::parse(bytes, path)?.map_err(|NotAnObject(kind)| {
            Error::file(
                path,
                format!(
                    "is {kind}, not a JSON object: rko will not rewrite it; \
                     make it an object ({{}} when it holds nothing)"
                ),
            )
        })
    }

    /// The file at `path`, to look credentials up in: one that is not a
    /// JSON object has none (as it had before rko read it this way).
    pub fn read_for_lookup(path: &Path) -> Result<Option<ConfigFile>> {
        let Some(bytes) = read_if_present(path)? else {
            return Ok(None);
        };
        Ok(ConfigFile::parse(&bytes, path)?.ok())
    }

    /// The member `key` (the last, if written twice, as Go and serde read
    /// it) as a value; `Null` when there is none.
    pub fn value(&self, key: &str) -> Result<Value> {
        let Some((_, raw)) = self.members.0.iter().rev().find(|(k, _)| k == key) else {
            return Ok(Value::Null);
        };
        serde_json::from_str(raw.get())
            .map_err(|e| Error::file(&self.path, format!("the \"{key}\" member: {e}")))
    }

    /// The `auths` member's entries, to be changed: none when it is absent
    /// or null; an error when it is anything but one object.
    pub fn auths(&self) -> Result<Members> {
        let mut found = self.members.0.iter().filter(|(k, _)| k == "auths");
        let (Some((_, raw)), None) = (found.next(), found.next()) else {
            return if self.members.0.iter().any(|(k, _)| k == "auths") {
                Err(self.refusal("\"auths\" is written twice"))
            } else {
                Ok(Members::default())
            };
        };
        match kind_of(raw.get()) {
            "null" => Ok(Members::default()),
            "an object" => serde_json::from_str(raw.get())
                .map_err(|e| Error::file(&self.path, format!("the \"auths\" member: {e}"))),
            kind => Err(self.refusal(&format!("\"auths\" is {kind}, not an object"))),
        }
    }

    fn refusal(&self, why: &str) -> Error {
        Error::file(
            &self.path,
            format!("{why}: rko will not rewrite the file; fix that member or remove it"),
        )
    }

    /// Replaces the `auths` member where it is, or adds it at the end.
    pub fn set_auths(&mut self, auths: &Members) {
        let text = object_text(&auths.0, 1);
        let raw = RawValue::from_string(text).expect("object_text writes JSON");
        match self.members.0.iter_mut().find(|(k, _)| k == "auths") {
            Some((_, value)) => *value = raw,
            None => self.members.0.push(("auths".to_string(), raw)),
        }
    }

    /// The file's text: indented with tabs as docker writes it; each
    /// member's value as it was read, or as [`set_auths`](Self::set_auths) wrote it.
    fn to_bytes(&self) -> Vec<u8> {
        object_text(&self.members.0, 0).into_bytes()
    }
}

/// An object of `members` (their values as JSON text) at `depth` tabs, as
/// Go's `json.MarshalIndent(v, "", "\t")` lays one out.
fn object_text(members: &[(String, Box<RawValue>)], depth: usize) -> String {
    if members.is_empty() {
        return "{}".to_string();
    }
    let indent = "\t".repeat(depth + 1);
    let lines: Vec<String> = members
        .iter()
        .map(|(key, value)| {
            let key = serde_json::to_string(key).expect("a string always serializes");
            format!("{indent}{key}: {}", value.get())
        })
        .collect();
    format!("{{\n{}\n{}}}", lines.join(",\n"), "\t".repeat(depth))
}

/// A new `auths` entry: `{"auth": AUTH}` as docker writes it, two levels deep.
pub(crate) fn auth_entry(auth: &str) -> Box<RawValue> {
    let value = serde_json::to_string(auth).expect("a string always serializes");
    let member = RawValue::from_string(value).expect("a JSON string");
    let text = object_text(&[("auth".to_string(), member)], 2);
    RawValue::from_string(text).expect("object_text writes JSON")
}

fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("reading", path, e)),
    }
}

/// Changes the config file at `path` with `change`, which says whether it
/// changed anything: under `config.json.lock` beside the file (waiting at
/// most `wait` for another rko to let go of it), from the file as it is
/// once the lock is held, written beside it and renamed over it, through a
/// symlink to the file it names. It holds credentials, so it is left no
/// more open than 0600 (docker keeps a wider mode; rko narrows it: the
/// owner's bits are kept, the group's and others' dropped).
pub(crate) fn update(
    path: &Path,
    wait: Duration,
    change: impl FnOnce(&mut ConfigFile) -> Result<bool>,
) -> Result<bool> {
    let target = through_symlinks(path)?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_path("creating", dir)?;
    }
    let _lock = lock(&target, wait)?;
    let existing = read_if_present(&target)?;
    let mut config = ConfigFile::to_change(existing.as_deref().unwrap_or_default(), path)?;
    if !change(&mut config)? {
        return Ok(false);
    }
    let mode = match existing {
        Some(_) => {
            use std::os::unix::fs::PermissionsExt;
            let meta = fs::metadata(&target).with_path("reading the mode of", &target)?;
            meta.permissions().mode() & 0o600
        }
        None => 0o600,
    };
    let mut file = crate::atomic::AtomicFile::create(&target)?;
    file.file()
        .write_all(&config.to_bytes())
        .with_path("writing", &target)?;
    file.commit_with_mode(mode)?;
    Ok(true)
}

/// Takes the lock `TARGET.lock` (never the file itself, which is renamed
/// over), waiting at most `wait`; held until the file returned is dropped.
fn lock(target: &Path, wait: Duration) -> Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = target.with_file_name(name);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .with_path("creating the lock file", &lock_path)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::file(
                    &lock_path,
                    format!(
                        "another process (an rko login or logout) has held this lock for {} s: \
                         try again once it is done",
                        wait.as_secs_f64()
                    ),
                ))
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io("locking", &lock_path, e)),
        }
    }
}

/// The file `path` names once every symlink is followed (the path itself
/// when it is not one); a link to a file yet to be made counts too.
fn through_symlinks(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    // Linux's own limit on links in a path.
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current).with_path("reading the link", &current)?;
                current = match current.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(Error::file(path, "too many levels of symbolic links"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_of_a_json_text_is_read_from_its_first_character() {
        for (json, want) in [
            (" {}", "an object"),
            ("[1]", "an array"),
            ("\"x\"", "a string"),
            ("true", "a boolean"),
            ("false", "a boolean"),
            ("null", "null"),
            ("-1.0e400", "a number"),
            ("12", "a number"),
        ] {
            assert_eq!(kind_of(json), want, "{json}");
        }
        for (bytes, blank) in [
            (&b""[..], true),
            (b" \t\r\n", true),
            (b"{}", false),
            // Not JSON whitespace: Go's decoder fails on it.
            (b"\x0c", false),
        ] {
            assert_eq!(is_blank(bytes), blank, "{bytes:?}");
        }
    }

    /// `content` as config.json after adding an `auths` entry for reg.io
    /// (what `login` does); the refusal when it cannot be done.
    fn add_reg_io(content: &str) -> Result<String, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        fs::write(&path, content).unwrap();
        let changed = update(&path, Duration::from_secs(60), |config| {
            let mut auths = config.auths()?;
            auths.0.push(("reg.io".to_string(), auth_entry("QQ==")));
            config.set_auths(&auths);
            Ok(true)
        });
        let after = fs::read_to_string(&path).unwrap();
        match changed {
            Ok(_) => Ok(after),
            Err(e) => {
                assert_eq!(after, content, "a refusal leaves the file as it was");
                let message = e.to_string();
                Err(message.replace(&format!("{}: ", path.display()), ""))
            }
        }
    }

    #[test]
    fn only_auths_is_rewritten_and_only_when_it_can_be_carried_over() {
        let entry = "\"reg.io\": {\n\t\t\t\"auth\": \"QQ==\"\n\t\t}";
        let refused = |why: &str| {
            Err(format!(
                "{why}: rko will not rewrite the file; fix that member or remove it"
            ))
        };
        let not_an_object = |kind: &str| {
            Err(format!(
                "is {kind}, not a JSON object: rko will not rewrite it; \
                 make it an object ({{}} when it holds nothing)"
            ))
        };
        for (content, want) in [
            ("", Ok(format!("{{\n\t\"auths\": {{\n\t\t{entry}\n\t}}\n}}"))),
            (
                " \n",
                Ok(format!("{{\n\t\"auths\": {{\n\t\t{entry}\n\t}}\n}}")),
            ),
            // Members kept as written, in their places; auths where it was.
            (
                r#"{"z": 1.50, "auths": null, "a": 1e400}"#,
                Ok(format!(
                    "{{\n\t\"z\": 1.50,\n\t\"auths\": {{\n\t\t{entry}\n\t}},\n\t\"a\": 1e400\n}}"
                )),
            ),
            (
                r#"{"auths": {"b.io": {"x": 123456789012345678901234567890}}}"#,
                Ok(format!(
                    "{{\n\t\"auths\": {{\n\t\t\"b.io\": {{\"x\": 123456789012345678901234567890}},\n\t\t{entry}\n\t}}\n}}"
                )),
            ),
            (r#"{"auths": "reg.io"}"#, refused("\"auths\" is a string, not an object")),
            (r#"{"auths": [{}]}"#, refused("\"auths\" is an array, not an object")),
            (r#"{"auths": true}"#, refused("\"auths\" is a boolean, not an object")),
            (r#"{"auths": {}, "auths": {}}"#, refused("\"auths\" is written twice")),
            ("[]", not_an_object("an array")),
            ("7", not_an_object("a number")),
            ("null", not_an_object("null")),
        ] {
            assert_eq!(add_reg_io(content), want, "{content}");
        }
    }

    #[test]
    fn a_change_that_changes_nothing_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let content = "{ \"odd\" :\n 1 }";
        fs::write(&path, content).unwrap();
        assert!(!update(&path, Duration::from_secs(60), |_| Ok(false)).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), content);
        let missing = dir.path().join("none/config.json");
        assert!(!update(&missing, Duration::from_secs(60), |_| Ok(false)).unwrap());
        assert!(!missing.exists());
    }

    #[test]
    fn a_lock_held_elsewhere_is_waited_for_then_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let held = lock(&path, Duration::from_secs(60)).unwrap();
        let err = update(&path, Duration::from_millis(100), |_| Ok(true)).unwrap_err();
        let lock_file = dir.path().join("config.json.lock");
        assert!(
            err.to_string()
                .starts_with(&format!("{}: another process", lock_file.display())),
            "{err}"
        );
        drop(held);
        assert!(update(&path, Duration::from_secs(60), |_| Ok(true)).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "{}");
    }
}
