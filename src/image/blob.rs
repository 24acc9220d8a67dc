//! Blobs read from disk to be passed on: regular files, checked against
//! their digest as they are read (never just their size), and, in a layout,
//! never reached through a symlink out of it.
//!
//! The one symlink a layout may hold is the one Bazel's sandbox makes: it
//! stages every file of a directory input (a layout built by another
//! action) as a symlink to the original, which is another copy of the same
//! blob, `…/blobs/sha256/<the same hex>`. Whatever the path leads to must
//! be such a file; a symlink to `/etc/passwd` is refused even when it is
//! named by that file's digest. The content is checked either way, so a
//! blob can only ever be the bytes its digest names.

use crate::digest::HashingWriter;
use crate::error::{Error, IoContext, Result};
use oci_spec::image::{Digest, DigestAlgorithm};
use std::fs::{self, File};
use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A blob opened for reading.
#[derive(Debug)]
pub(crate) struct Blob {
    file: File,
    /// The path it was asked for by, for messages.
    path: PathBuf,
    /// Where it really is, every symlink resolved.
    real: PathBuf,
    size: u64,
    digest: Digest,
}

/// Why a blob at some path cannot be read, that path left to
/// [`Refused::at`]: the checks name it once, where they are asked for.
enum Refused {
    /// Reading or opening it failed; what was being done.
    Io(&'static str, io::Error),
    /// It is not what a blob must be; why.
    Not(String),
}

impl Refused {
    fn reading(e: io::Error) -> Refused {
        Refused::Io("reading", e)
    }

    fn at(self, path: &Path) -> Error {
        match self {
            Refused::Io(doing, e) => Error::io(doing, path, e),
            Refused::Not(why) => Error::file(path, why),
        }
    }
}

/// Opens the blob at `path` (`<layout>/blobs/sha256/<hex>`) of a layout.
pub(crate) fn open_in_layout(path: &Path, digest: &Digest) -> Result<Blob> {
    in_layout(path, digest).map_err(|refused| refused.at(path))
}

/// Opens a blob the user named by its own path (a layer given to
/// `append`), which may be a symlink: the user chose it.
pub(crate) fn open_named(path: &Path, digest: &Digest) -> Result<Blob> {
    let named = || {
        check_algorithm(digest)?;
        let real = fs::canonicalize(path).map_err(Refused::reading)?;
        open_real(path, real, digest)
    };
    named().map_err(|refused| refused.at(path))
}

fn in_layout(path: &Path, digest: &Digest) -> std::result::Result<Blob, Refused> {
    check_algorithm(digest)?;
    let link = fs::symlink_metadata(path).map_err(Refused::reading)?;
    let real = fs::canonicalize(path).map_err(Refused::reading)?;
    if !is_a_copy_of(&real, digest) {
        let how = if link.file_type().is_symlink() {
            "is a symbolic link"
        } else {
            "is reached through a symbolic link"
        };
        return Err(Refused::Not(format!(
            "{how} to {}, outside the layout: a layout's blobs must be regular files",
            real.display()
        )));
    }
    open_real(path, real, digest)
}

fn check_algorithm(digest: &Digest) -> std::result::Result<(), Refused> {
    if *digest.algorithm() == DigestAlgorithm::Sha256 {
        Ok(())
    } else {
        Err(Refused::Not(format!(
            "{digest}: rko checks sha256 digests only"
        )))
    }
}

/// Whether `real` is `…/blobs/sha256/<hex of digest>`.
fn is_a_copy_of(real: &Path, digest: &Digest) -> bool {
    let mut names = real.iter().rev();
    names.next().is_some_and(|n| n == digest.digest())
        && names.next().is_some_and(|n| n == "sha256")
        && names.next().is_some_and(|n| n == "blobs")
}

fn open_real(path: &Path, real: PathBuf, digest: &Digest) -> std::result::Result<Blob, Refused> {
    let not_regular = || Refused::Not("is not a regular file: a blob must be one".to_string());
    // Checked before opening: opening a FIFO for reading would wait for a writer.
    let meta = fs::metadata(&real).map_err(Refused::reading)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let file = File::open(&real).map_err(|e| Refused::Io("opening", e))?;
    let opened = file.metadata().map_err(Refused::reading)?;
    if !opened.is_file() || !same_file(&meta, &opened) {
        return Err(not_regular());
    }
    Ok(Blob {
        file,
        path: path.to_path_buf(),
        real,
        size: opened.len(),
        digest: digest.clone(),
    })
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_a: &fs::Metadata, _b: &fs::Metadata) -> bool {
    true
}

impl Blob {
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// The error for content that is not what the digest names.
    fn mismatch(&self, actual: &Digest, size: u64) -> Error {
        Error::file(
            &self.path,
            format!(
                "content does not match its digest {}: it is {actual} ({size} bytes)",
                self.digest
            ),
        )
    }

    /// Reads the whole blob into memory, checked.
    pub(crate) fn read_all(mut self) -> Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(self.size as usize);
        self.file
            .read_to_end(&mut bytes)
            .with_path("reading", &self.path)?;
        let actual = crate::digest::sha256(&bytes);
        if actual != self.digest {
            return Err(self.mismatch(&actual, bytes.len() as u64));
        }
        Ok(bytes)
    }

    /// Puts the blob at `target` (in a layout being staged): a hard link to
    /// it where the filesystem allows, a copy otherwise; checked either way,
    /// reading it once. A failed write is reported as writing `output`.
    pub(crate) fn place(mut self, target: &Path, output: &Path) -> Result<()> {
        let (actual, size) = if fs::hard_link(&self.real, target).is_ok() {
            let linked = fs::symlink_metadata(target).with_path("reading", target)?;
            let opened = self.file.metadata().with_path("reading", &self.path)?;
            if !same_file(&linked, &opened) {
                return Err(Error::file(&self.path, "changed while rko read it"));
            }
            let mut sink = HashingWriter::new(io::sink());
            io::copy(&mut self.file, &mut sink).with_path("reading", &self.path)?;
            sink.finish()
        } else {
            self.copy_to(target, output)?
        };
        if actual == self.digest {
            Ok(())
        } else {
            Err(self.mismatch(&actual, size))
        }
    }

    /// Copies the blob to `target`, returning the digest and size of what was copied.
    fn copy_to(&mut self, target: &Path, output: &Path) -> Result<(Digest, u64)> {
        let mut out = File::create(target).map_err(|e| Error::io("writing", output, e))?;
        let mut hasher = HashingWriter::new(io::sink());
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = match self.file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("reading", &self.path, e)),
            };
            out.write_all(&buffer[..n])
                .map_err(|e| Error::io("writing", output, e))?;
            hasher
                .write_all(&buffer[..n])
                .expect("a sink takes every byte");
        }
        Ok(hasher.finish())
    }

    /// A reader of the blob that fails, on the read that completes it, if
    /// its content does not match the digest.
    pub(crate) fn into_reader(self) -> Verifying {
        Verifying {
            blob: self,
            hasher: Some(HashingWriter::new(io::sink())),
            read: 0,
        }
    }
}

/// See [`Blob::into_reader`]. Its error is a library [`Error`] inside the
/// I/O error; [`take_error`] takes it out.
pub(crate) struct Verifying {
    blob: Blob,
    /// `None` once checked.
    hasher: Option<HashingWriter<io::Sink>>,
    read: u64,
}

impl Read for Verifying {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.blob.file.read(buf)?;
        self.read += n as u64;
        // A tar writer reads exactly the blob's size and never sees its end.
        let complete = n == 0 || self.read >= self.blob.size;
        if let Some(mut hasher) = self.hasher.take() {
            hasher.write_all(&buf[..n])?;
            if !complete {
                self.hasher = Some(hasher);
            } else {
                let (actual, size) = hasher.finish();
                if actual != self.blob.digest {
                    let err = self.blob.mismatch(&actual, size);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, err));
                }
            }
        }
        Ok(n)
    }
}

/// The library error inside an I/O error made by [`Verifying`], if it is one.
pub(crate) fn take_error(e: io::Error) -> std::result::Result<Error, io::Error> {
    if !e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return Err(e);
    }
    Ok(*e
        .into_inner()
        .and_then(|inner| inner.downcast::<Error>().ok())
        .expect("checked above"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_blob_must_lead_to_a_copy_of_the_same_blob() {
        let digest = crate::digest::sha256(b"x");
        let hex = digest.digest().to_string();
        let cases = [
            (format!("/layout/blobs/sha256/{hex}"), true),
            (format!("/execroot/bin/image/blobs/sha256/{hex}"), true),
            (format!("/layout/blobs/sha256/{}", "0".repeat(64)), false),
            (format!("/layout/blobs/sha512/{hex}"), false),
            (format!("/layout/sha256/{hex}"), false),
            ("/etc/passwd".to_string(), false),
            (hex.clone(), false),
        ];
        for (path, want) in cases {
            assert_eq!(is_a_copy_of(Path::new(&path), &digest), want, "{path}");
        }
    }

    fn blob_file(content: &[u8], named: &[u8]) -> (tempfile::TempDir, PathBuf, Digest) {
        let digest = crate::digest::sha256(named);
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        let path = blobs.join(digest.digest());
        fs::write(&path, content).unwrap();
        (dir, path, digest)
    }

    #[test]
    fn a_reader_fails_on_the_read_that_completes_a_blob_with_the_wrong_content() {
        // Read as the tar writer reads: exactly the size, never to the end.
        for (content, named, ok) in [
            (&b"right"[..], &b"right"[..], true),
            (b"wrong", b"right", false),
        ] {
            let (_dir, path, digest) = blob_file(content, named);
            let blob = open_in_layout(&path, &digest).unwrap();
            let size = blob.size();
            let mut out = Vec::new();
            let result = io::copy(&mut blob.into_reader().take(size), &mut out);
            assert_eq!(result.is_ok(), ok, "{content:?}");
            if let Err(e) = result {
                let err = take_error(e).unwrap().to_string();
                assert!(err.contains("does not match its digest"), "{err}");
            }
        }
    }

    #[test]
    fn placing_a_blob_checks_it_whether_linked_or_copied() {
        for (content, ok) in [(&b"right"[..], true), (b"wrong", false)] {
            let (dir, path, digest) = blob_file(content, b"right");
            let target = dir.path().join("placed");
            let placed = open_in_layout(&path, &digest)
                .unwrap()
                .place(&target, dir.path());
            assert_eq!(placed.is_ok(), ok, "{content:?}");
            let copy = dir.path().join("copied");
            let mut blob = open_in_layout(&path, &digest).unwrap();
            let (actual, size) = blob.copy_to(&copy, dir.path()).unwrap();
            assert_eq!((actual == digest, size), (ok, 5));
        }
    }
}
