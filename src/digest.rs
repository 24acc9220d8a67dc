//! SHA-256 digests: of bytes, of files, and of everything that flows through a writer.

use crate::error::{IoContext, Result};
use oci_spec::image::{Digest, Sha256Digest};
use sha2::{Digest as _, Sha256};
use std::io::{self, Write};
use std::path::Path;
use std::str::FromStr;

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    from_hasher(Sha256::new_with_prefix(bytes))
}

/// The digest and size of a file, read as a stream.
pub fn sha256_file(path: &Path) -> Result<(Digest, u64)> {
    let mut file = std::fs::File::open(path).with_path("opening", path)?;
    let mut writer = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut writer).with_path("reading", path)?;
    Ok(writer.finish())
}

fn from_hasher(hasher: Sha256) -> Digest {
    let hex = hex::encode(hasher.finalize());
    Sha256Digest::from_str(&hex)
        .expect("64 lowercase hex digits are a valid sha256 digest")
        .into()
}

/// A writer that hashes and counts every byte on its way to `inner`.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// The digest and byte count of what was written.
    pub fn finish(self) -> (Digest, u64) {
        (from_hasher(self.hasher), self.size)
    }

    /// Like [`finish`](Self::finish), also handing back the inner writer.
    pub fn into_parts(self) -> (W, Digest, u64) {
        (self.inner, from_hasher(self.hasher), self.size)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Parses a `sha256:<hex>` string.
pub fn parse(s: &str) -> crate::error::Result<Digest> {
    let hex = s.strip_prefix("sha256:").ok_or_else(|| {
        crate::error::Error::invalid(format!(
            "{s:?} is not a sha256 digest (sha256:<64 hex digits>)"
        ))
    })?;
    Sha256Digest::from_str(hex).map(Digest::from).map_err(|_| {
        crate::error::Error::invalid(format!(
            "{s:?} is not a sha256 digest (sha256:<64 hex digits>)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_sha256_values() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"",
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(sha256(input).to_string(), *want);
            let mut w = HashingWriter::new(Vec::new());
            w.write_all(input).unwrap();
            let (_, digest, size) = w.into_parts();
            assert_eq!(digest.to_string(), *want);
            assert_eq!(size, input.len() as u64);
        }
    }
}
