//! A minimal, deterministic tar writer: USTAR headers, with PAX records only
//! where USTAR cannot hold a value (long names and link targets, huge sizes
//! or ids) or where an entry asks for them (extended attributes such as
//! `SCHILY.xattr.security.capability`, Windows' `MSWINDOWS.rawsd`). No GNU
//! extensions, no user or group names, no atime or ctime.
//!
//! Header layout: POSIX.1-1988 "ustar" (pax(1), "ustar Interchange Format").

use super::entry::PaxRecords;
use super::ustar::{ustar_block, without_device_numbers, BLOCK};
use crate::error::Result;
use crate::image::compress::{FileSource, StreamSink};
use std::io::{self, Read, Write};
use std::sync::Arc;

/// The largest value an 11-digit octal field holds (size, mtime).
const MAX_OCTAL_11: u64 = 0o777_7777_7777;
/// The largest value a 7-digit octal field holds (uid, gid).
const MAX_OCTAL_7: u64 = 0o777_7777;

/// What kind of entry a header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryType {
    File,
    Dir,
    Symlink,
}

impl EntryType {
    fn flag(self) -> u8 {
        match self {
            EntryType::File => b'0',
            EntryType::Symlink => b'2',
            EntryType::Dir => b'5',
        }
    }
}

/// Everything stored in one entry's header.
#[derive(Debug, Clone)]
pub struct Header<'a> {
    /// Relative path; directories get their trailing `/` from the writer.
    pub path: &'a str,
    pub kind: EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    pub link: &'a str,
    /// Records for the entry's PAX header, after those the writer adds.
    pub pax: &'a PaxRecords,
}

/// Writes tar entries to `W`.
pub struct TarWriter<W> {
    out: W,
    /// Byte for byte as Go's archive/tar writes a header it chooses the
    /// format of (ko's layers): names as given (no `/` added to
    /// directories), PAX extended headers named `DIR/PaxHeaders.0/FILE`
    /// with mode and time 0, and the USTAR name split or the PAX `path`
    /// record chosen as Go chooses them.
    like_go: bool,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter {
            out,
            like_go: false,
        }
    }

    /// A writer whose output is what Go's archive/tar writes for the same
    /// headers (ko's layers; see `like_go`).
    pub fn like_go(out: W) -> Self {
        TarWriter { out, like_go: true }
    }

    /// Writes a header and then exactly `header.size` bytes from `data`.
    pub fn append(&mut self, header: &Header<'_>, data: impl Read) -> io::Result<()> {
        self.write_header(header)?;
        self.write_data(header.size, data)
    }

    /// The header block (after a PAX header, if the entry needs one).
    fn write_header(&mut self, header: &Header<'_>) -> io::Result<()> {
        let name = match header.kind {
            EntryType::Dir if !self.like_go => format!("{}/", header.path),
            _ => header.path.to_string(),
        };
        let split = if self.like_go {
            split_name_as_go(&name)
        } else {
            split_name(&name)
        };
        let (name_field, prefix_field) = split.unwrap_or(("", ""));
        let non_ascii = self.like_go && (!name.is_ascii() || !header.link.is_ascii());
        if name_field.is_empty()
            || non_ascii
            || header.link.len() > 100
            || header.size > MAX_OCTAL_11
            || header.uid > MAX_OCTAL_7
            || header.gid > MAX_OCTAL_7
            || header.mtime > MAX_OCTAL_11
            || !header.pax.is_empty()
        {
            self.write_pax(header, &name, name_field.is_empty())?;
        }
        // Go keeps the ASCII characters of a name it records in PAX.
        let ascii_name: String;
        let short_name = if name_field.is_empty() && self.like_go {
            ascii_name = name.chars().filter(char::is_ascii).collect();
            truncate(&ascii_name, 100)
        } else if name_field.is_empty() {
            truncate(&name, 100)
        } else {
            name_field
        };
        let block = ustar_block(
            short_name,
            prefix_field,
            header.kind.flag(),
            header.mode,
            header.uid.min(MAX_OCTAL_7),
            header.gid.min(MAX_OCTAL_7),
            header.size.min(MAX_OCTAL_11),
            header.mtime.min(MAX_OCTAL_11),
            truncate(header.link, 100),
        );
        self.out.write_all(&block)
    }

    /// A PAX extended header ('x') for the entry that follows it: the
    /// records USTAR cannot hold, then the entry's own. Its own name is
    /// fixed so that it never depends on a process id, as GNU tar's does.
    fn write_pax(&mut self, header: &Header<'_>, name: &str, long_name: bool) -> io::Result<()> {
        let (uid, gid, size, mtime) = (
            header.uid.to_string(),
            header.gid.to_string(),
            header.size.to_string(),
            header.mtime.to_string(),
        );
        let mut records: Vec<(&str, &[u8])> = Vec::new();
        let non_ascii = self.like_go && !name.is_ascii();
        if long_name || non_ascii {
            records.push(("path", name.as_bytes()));
        }
        if header.link.len() > 100 || (self.like_go && !header.link.is_ascii()) {
            records.push(("linkpath", header.link.as_bytes()));
        }
        if header.size > MAX_OCTAL_11 {
            records.push(("size", size.as_bytes()));
        }
        if header.uid > MAX_OCTAL_7 {
            records.push(("uid", uid.as_bytes()));
        }
        if header.gid > MAX_OCTAL_7 {
            records.push(("gid", gid.as_bytes()));
        }
        if header.mtime > MAX_OCTAL_11 {
            records.push(("mtime", mtime.as_bytes()));
        }
        records.extend(header.pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        if self.like_go {
            // Go writes every record in key order.
            records.sort_by(|a, b| a.0.cmp(b.0));
        }
        let mut body = Vec::new();
        for (key, value) in records {
            body.extend_from_slice(&pax_record(key, value));
        }
        let block = if self.like_go {
            // Go: path.Join(dir, "PaxHeaders.0", file), ASCII only, cut to
            // 100 bytes, mode and time 0 (archive/tar, writePAXHeader and
            // writeRawFile).
            let joined = match name.rfind('/') {
                Some(i) => format!("{}PaxHeaders.0/{}", &name[..=i], &name[i + 1..]),
                None => format!("PaxHeaders.0/{name}"),
            };
            let ascii: String = joined.chars().filter(char::is_ascii).collect();
            let pax_name = truncate(&ascii, 100).trim_end_matches('/');
            let block = ustar_block(pax_name, "", b'x', 0, 0, 0, body.len() as u64, 0, "");
            without_device_numbers(block)
        } else {
            let base = name.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let pax_name = format!("PaxHeaders/{}", truncate(base, 80));
            ustar_block(
                &pax_name,
                "",
                b'x',
                0o644,
                0,
                0,
                body.len() as u64,
                header.mtime.min(MAX_OCTAL_11),
                "",
            )
        };
        self.out.write_all(&block)?;
        self.write_data(body.len() as u64, &body[..])
    }

    fn write_data(&mut self, size: u64, data: impl Read) -> io::Result<()> {
        let copied = io::copy(&mut data.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("expected {size} bytes but the file has only {copied}: did it change while rko read it?"),
            ));
        }
        self.pad(size)
    }

    /// Zeros up to the next block after `size` bytes of data.
    fn pad(&mut self, size: u64) -> io::Result<()> {
        let padding = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
        self.out.write_all(&[0u8; BLOCK][..padding])
    }

    /// Writes the two zero blocks that end an archive and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.out)
    }
}

impl<W: StreamSink> TarWriter<W> {
    /// Writes a header and then the content of `file` (`header.size`
    /// bytes), which the sink may read later, on another thread.
    pub fn append_file(&mut self, header: &Header<'_>, file: &Arc<FileSource>) -> Result<()> {
        debug_assert_eq!(header.size, file.size);
        let entry = |e| super::entry_error(e, header.path, None);
        self.write_header(header).map_err(entry)?;
        self.out.append_file(file)?;
        self.pad(header.size).map_err(entry)
    }
}

/// Splits a name into USTAR's `name` (100 bytes) and `prefix` (155 bytes)
/// fields at a `/`, or `None` when it cannot fit.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if name.len() <= 100 {
        return Some((name, ""));
    }
    // The prefix ends at a '/', which is not stored; try the longest prefix first.
    let limit = name.len().min(156);
    let cut = name[..limit].rfind('/')?;
    let (prefix, rest) = (&name[..cut], &name[cut + 1..]);
    (!rest.is_empty() && rest.len() <= 100 && prefix.len() <= 155).then_some((rest, prefix))
}

/// Go's `splitUSTARPath`: a name over 100 bytes is split at the last `/`
/// within its first 156 bytes (155 of a directory's); never at a leading
/// `/`, never a non-ASCII name.
fn split_name_as_go(name: &str) -> Option<(&str, &str)> {
    if name.len() <= 100 {
        return name.is_ascii().then_some((name, ""));
    }
    if !name.is_ascii() {
        return None;
    }
    let length = if name.len() > 156 {
        156
    } else if name.ends_with('/') {
        name.len() - 1
    } else {
        name.len()
    };
    let cut = name[..length].rfind('/')?;
    let (prefix, rest) = (&name[..cut], &name[cut + 1..]);
    (cut > 0 && !rest.is_empty() && rest.len() <= 100 && prefix.len() <= 155)
        .then_some((rest, prefix))
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// "%d %s=%s\n", where the length counts itself. The value is bytes: an
/// extended attribute's value need not be text.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readers::{check_entries, read_tar_bytes, Want};

    const NO_RECORDS: &PaxRecords = &PaxRecords::new();

    fn file<'a>(path: &'a str, size: u64) -> Header<'a> {
        Header {
            path,
            kind: EntryType::File,
            mode: 0o555,
            uid: 0,
            gid: 0,
            mtime: 0,
            size,
            link: "",
            pax: NO_RECORDS,
        }
    }

    /// Path, mode, mtime, content and link target of each entry.
    type ReadBack = (String, u32, u64, Vec<u8>, Option<String>);

    fn read_back(bytes: &[u8]) -> Vec<ReadBack> {
        let mut archive = tar::Archive::new(bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned());
                let mode = e.header().mode().unwrap();
                let mtime = e.header().mtime().unwrap();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (path, mode, mtime, data, link)
            })
            .collect()
    }

    #[test]
    fn entries_read_back_with_another_tar_implementation() {
        let long_name = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let very_long_name = "x".repeat(300);
        let long_link = "/t".repeat(80);
        let mut w = TarWriter::new(Vec::new());
        let mut dir = file("ko-app", 0);
        dir.kind = EntryType::Dir;
        w.append(&dir, io::empty()).unwrap();
        w.append(&file("ko-app/hello", 5), &b"hello"[..]).unwrap();
        w.append(&file(&long_name, 1), &b"a"[..]).unwrap();
        w.append(&file(&very_long_name, 1), &b"b"[..]).unwrap();
        let mut link = file("lnk", 0);
        link.kind = EntryType::Symlink;
        link.link = &long_link;
        w.append(&link, io::empty()).unwrap();
        let bytes = w.finish().unwrap();
        let entries = read_back(&bytes);
        let names: Vec<_> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "ko-app/",
                "ko-app/hello",
                long_name.as_str(),
                very_long_name.as_str(),
                "lnk"
            ]
        );
        assert_eq!(entries[1].3, b"hello");
        assert_eq!(entries[1].1, 0o555);
        assert_eq!(entries[4].4.as_deref(), Some(long_link.as_str()));
    }

    #[test]
    fn a_short_file_is_an_error_not_a_corrupt_archive() {
        let mut w = TarWriter::new(Vec::new());
        let err = w.append(&file("f", 10), &b"short"[..]).unwrap_err();
        assert!(err.to_string().contains("did it change"), "{err}");
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        let cases = [
            ("path", "a", "9 path=a\n"),
            ("path", &"x".repeat(93)[..], ""),
        ];
        for (key, value, want) in cases {
            let record = String::from_utf8(pax_record(key, value.as_bytes())).unwrap();
            let (len, _) = record.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), record.len());
            if !want.is_empty() {
                assert_eq!(record, want);
            }
        }
    }

    /// The bytes of entries without extra PAX records, pinned from rko
    /// before records could be added: adding them changed no other layer.
    /// Another tar reader first says what the bytes hold, so that a change
    /// names the entry and the field that moved.
    #[test]
    fn entries_without_records_are_written_as_before() {
        let long_name = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let mut w = TarWriter::new(Vec::new());
        let mut dir = file("ko-app", 0);
        dir.kind = EntryType::Dir;
        w.append(&dir, io::empty()).unwrap();
        let mut hello = file("ko-app/hello", 5);
        hello.mtime = 1_700_000_000;
        w.append(&hello, &b"hello"[..]).unwrap();
        w.append(&file(&long_name, 1), &b"a"[..]).unwrap();
        w.append(&file(&"x".repeat(300), 1), &b"b"[..]).unwrap();
        let mut link = file("lnk", 0);
        link.kind = EntryType::Symlink;
        link.link = "/t";
        w.append(&link, io::empty()).unwrap();
        let bytes = w.finish().unwrap();

        // What the bytes hold, as Python's tarfile reads them: the long
        // name fits USTAR's prefix and name fields; the 300-byte one only
        // a PAX `path` record.
        let want = [
            Want::dir("ko-app", 0o555),
            Want::file("ko-app/hello", "hello", 0o555).dated(1_700_000_000),
            Want::file(&long_name, "a", 0o555),
            Want::file(&"x".repeat(300), "b", 0o555).with_pax("path", &"x".repeat(300)),
            Want::symlink("lnk", "/t", 0o555),
        ];
        check_entries(&read_tar_bytes(&bytes).entries, &want);
        assert_eq!(
            crate::digest::sha256(&bytes).to_string(),
            "sha256:86aa4cf0b3526d8d25ff9bba0f880f613fd620bca22c1ff6c4542cd3bd31f996"
        );
    }

    /// ko's pkg/build/gobuild.go `tarBinary` sets
    /// `PAXRecords["SCHILY.xattr.security.capability"]` to the raw bytes of
    /// the capability (ko's pkg/caps `XattrBytes`); this is how that
    /// record is written, and another tar reader finds the same bytes.
    #[test]
    fn an_entry_with_records_gets_them_in_its_pax_header() {
        // ko's caps_dd_test.go: net_bind_service permitted, no effective flag.
        let capability = [0, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let records = PaxRecords::from([(
            "SCHILY.xattr.security.capability".to_string(),
            capability.to_vec(),
        )]);
        let mut w = TarWriter::new(Vec::new());
        let mut binary = file("ko-app/hello", 5);
        binary.pax = &records;
        w.append(&binary, &b"hello"[..]).unwrap();
        let bytes = w.finish().unwrap();

        let mut want = b"57 SCHILY.xattr.security.capability=".to_vec();
        want.extend_from_slice(&capability);
        want.push(b'\n');
        assert_eq!(&bytes[512..512 + want.len()], &want[..]);
        assert_eq!(bytes[156], b'x', "a PAX header comes first");

        let mut archive = tar::Archive::new(&bytes[..]);
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some("ko-app/hello"));
        let found: Vec<(String, Vec<u8>)> = entry
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.key().unwrap().to_string(), e.value_bytes().to_vec())
            })
            .collect();
        assert_eq!(
            found,
            [(
                "SCHILY.xattr.security.capability".to_string(),
                capability.to_vec()
            )]
        );
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        assert_eq!(data, b"hello");
    }
}
