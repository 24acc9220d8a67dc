//! Pushing blobs (distribution spec, "Pushing blobs"): HEAD to skip what the
//! registry has, a cross-repository mount where the source is known, and an
//! upload streamed from the blob's file (or from a remote cache), so memory
//! stays flat whatever its size.
//!
//! An upload is the spec's monolithic "POST then PUT": the PUT carries the
//! whole blob in one request (two requests per blob; the fewest a registry
//! must accept: distribution 2.8 ignores a single POST's body). A registry
//! or proxy that refuses so large a body (413, or says it cannot) gets the
//! blob again in a fresh session as chunks ("Pushing a blob in chunks":
//! PATCH with `Content-Range`, each at least `OCI-Chunk-Min-Length`), each
//! chunk also streamed; chunks refused as too large (a proxy's body limit)
//! are halved, down to 256 KiB. A broken upload restarts from a fresh
//! session: a half-sent request cannot be resumed reliably.

use super::client::{Call, Client};
use super::response::{registry_error, Response};
use crate::error::{Error, Result};
use oci_spec::image::Digest;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Where an upload reads the blob's bytes, from any offset: an upload may
/// start over, or go in chunks.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
    /// A REAPI cache, streamed by `ByteStream.Read`.
    Cache(&'a crate::cas::Store),
}

/// The size of each PATCH when a registry wants chunks.
pub const CHUNK_SIZE: u64 = 8 << 20;

/// The smallest PATCH tried against a proxy's body limit.
const MIN_CHUNK_SIZE: u64 = 256 << 10;

/// Whether `repository` already has the blob.
pub fn exists(
    client: &Client,
    repository: &str,
    digest: &Digest,
    scopes: &[String],
) -> Result<bool> {
    let url = client.url(&format!("/v2/{repository}/blobs/{digest}"));
    client.restarting(|| {
        let response = client.send(&Call::new("HEAD", url.clone(), scopes))?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(registry_error(&format!("HEAD {url}"), response)),
        }
    })
}

/// What a request to mount a blob got.
pub enum Mount {
    Mounted,
    /// The registry opened an upload session instead (202, as the spec
    /// allows): the blob's upload goes there, one round trip saved.
    Declined(Option<Session>),
}

/// Asks the registry to mount the blob from `from` (same registry). `scopes`
/// must allow pull on `from`.
pub fn mount(
    client: &Client,
    repository: &str,
    digest: &Digest,
    from: &str,
    scopes: &[String],
) -> Result<Mount> {
    let url = client.url(&format!(
        "/v2/{repository}/blobs/uploads/?mount={digest}&from={from}"
    ));
    client.restarting(|| {
        let call = Call::new("POST", url.clone(), scopes).header("Content-Length", "0");
        let response = client.send(&call)?;
        match response.status().as_u16() {
            201 => Ok(Mount::Mounted),
            // Without a Location, the upload opens a session of its own.
            202 => Ok(Mount::Declined(
                Session::opened(client, &response, &url).ok(),
            )),
            _ => Err(registry_error(&format!("POST {url}"), response)),
        }
    })
}

/// One blob to upload.
struct Upload<'a> {
    client: &'a Client,
    repository: &'a str,
    digest: &'a Digest,
    size: u64,
    source: Source<'a>,
    scopes: &'a [String],
}

/// An upload session the registry opened.
pub struct Session {
    location: String,
    /// `OCI-Chunk-Min-Length`: the smallest chunk the registry takes.
    min_chunk: u64,
}

impl Session {
    /// The session `response` (to a POST to `url`) opened.
    fn opened(client: &Client, response: &Response, url: &str) -> Result<Session> {
        let min_chunk = response
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok()?.trim().parse().ok())
            .unwrap_or(0);
        Ok(Session {
            location: location(client, response, url)?,
            min_chunk,
        })
    }
}

/// Uploads a blob, restarting from scratch on transient failures; in
/// chunks once the registry has refused it whole. The first attempt goes
/// to `opened` when a declined mount left a session.
pub fn upload(
    client: &Client,
    repository: &str,
    (digest, size): (&Digest, u64),
    source: Source<'_>,
    scopes: &[String],
    mut opened: Option<Session>,
) -> Result<()> {
    let upload = Upload {
        client,
        repository,
        digest,
        size,
        source,
        scopes,
    };
    let mut chunked = false;
    let mut chunk = CHUNK_SIZE;
    client.restarting(|| {
        // Each attempt sends the blob anew: the progress counts it again.
        crate::progress::upload_started(size);
        if !chunked {
            // The spec's monolithic "POST then PUT": the PUT streams the file.
            let session = match opened.take() {
                Some(session) => session,
                None => upload.start()?,
            };
            match upload.finish(&session.location, size) {
                Err(e) if wants_chunks(&e) => {
                    log::debug!("{e}; sending blob {digest} in chunks");
                    chunked = true;
                    crate::progress::upload_started(size);
                }
                done => return done,
            }
        }
        loop {
            match upload.in_chunks(chunk) {
                // A proxy's body limit (nginx's `client_max_body_size`, 1 MB
                // unless set): smaller chunks may pass, in a fresh session.
                Err(e) if too_large(&e) && chunk.min(size) / 2 >= MIN_CHUNK_SIZE => {
                    chunk = chunk.min(size) / 2;
                    log::debug!("{e}; sending blob {digest} in chunks of {chunk} bytes");
                    crate::progress::upload_started(size);
                }
                Err(e) if too_large(&e) => {
                    return Err(e.hint(&format!(
                        "refused even in chunks of {chunk} bytes: a proxy in front of the \
                         registry limits request bodies (nginx: client_max_body_size)"
                    )))
                }
                done => return done,
            }
        }
    })
}

/// Whether the registry, or a proxy before it, refused a body as too large.
fn too_large(error: &Error) -> bool {
    matches!(error, Error::Registry { status: 413, .. })
}

/// Whether a registry's answer to the PUT carrying the whole blob says it
/// would take the blob in chunks: a body too large (413, as a proxy's
/// limit), a method or feature it lacks (405, 501, `UNSUPPORTED`), or a
/// range it wants (416). Anything else, a wrong digest above all, fails
/// the same way in chunks.
fn wants_chunks(error: &Error) -> bool {
    match error {
        Error::Registry {
            status, message, ..
        } => {
            matches!(status, 405 | 413 | 416 | 501)
                || (*status == 400 && message.contains("UNSUPPORTED"))
        }
        _ => false,
    }
}

impl Upload<'_> {
    /// POST, PATCHes of `chunk` (or the registry's minimum) bytes
    /// streamed from the file, then an empty closing PUT.
    fn in_chunks(&self, chunk: u64) -> Result<()> {
        let session = self.start()?;
        let chunk = chunk.max(session.min_chunk);
        let mut location = session.location;
        let mut offset = 0;
        while offset < self.size {
            let length = chunk.min(self.size - offset);
            let open = || self.open(offset, length);
            let range = format!("{}-{}", offset, offset + length - 1);
            let call = Call::new("PATCH", location.clone(), self.scopes)
                .header("Content-Type", "application/octet-stream")
                .header("Content-Range", range)
                .stream(&open, length);
            let response = self.client.send(&call)?;
            if response.status() != 202 {
                let what = format!("PATCH blob {} at {location}", self.digest);
                return Err(registry_error(&what, response));
            }
            location = self::location(self.client, &response, &location)?;
            offset += length;
        }
        self.finish(&location, 0)
    }

    /// Opens an upload session.
    fn start(&self) -> Result<Session> {
        let url = self
            .client
            .url(&format!("/v2/{}/blobs/uploads/", self.repository));
        let call = Call::new("POST", url.clone(), self.scopes).header("Content-Length", "0");
        let response = self.client.send(&call)?;
        if response.status() != 202 {
            return Err(registry_error(&format!("POST {url}"), response));
        }
        Session::opened(self.client, &response, &url)
    }

    /// The closing PUT with the digest, carrying the file's last `length`
    /// bytes (all of them, or none after the chunks).
    fn finish(&self, location: &str, length: u64) -> Result<()> {
        let separator = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{separator}digest={}", self.digest);
        let open = || self.open(self.size - length, length);
        let call = Call::new("PUT", url, self.scopes)
            .header("Content-Type", "application/octet-stream")
            .stream(&open, length);
        let response = self.client.send(&call)?;
        match response.status().as_u16() {
            201 => Ok(()),
            _ => Err(registry_error(
                &format!("PUT blob {}", self.digest),
                response,
            )),
        }
    }

    /// `length` bytes of the blob from `offset`, read as they are sent,
    /// counted into the progress.
    fn open(&self, offset: u64, length: u64) -> Result<Box<dyn Read + '_>> {
        let bytes: Box<dyn Read + '_> = match self.source {
            Source::File(path) => self.open_file(path, offset, length)?,
            Source::Bytes(bytes) => {
                let end = usize::try_from(offset + length).expect("a blob in memory");
                Box::new(&bytes[offset as usize..end])
            }
            Source::Cache(store) => {
                Box::new(store.reader(self.digest, self.size, offset, length)?)
            }
        };
        Ok(Box::new(Counted(bytes)))
    }

    /// A file grown shorter than its descriptor says fails here, for good.
    fn open_file<'p>(
        &self,
        path: &'p Path,
        offset: u64,
        length: u64,
    ) -> Result<Box<dyn Read + 'p>> {
        let mut file = std::fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
        let actual = file
            .metadata()
            .map_err(|e| Error::io("reading", path, e))?
            .len();
        if actual < offset + length {
            return Err(Error::file(
                path,
                format!("is {actual} bytes but its descriptor says {}", self.size),
            ));
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io("reading", path, e))?;
        Ok(Box::new(Slice {
            file,
            path,
            left: length,
        }))
    }
}

/// Bytes on their way up, counted into the progress.
struct Counted<R>(R);

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        crate::progress::uploaded(n as u64);
        Ok(n)
    }
}

/// Part of a blob's file. A file that ends early is an error naming it,
/// never a short body.
struct Slice<'a> {
    file: std::fs::File,
    path: &'a Path,
    left: u64,
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let most = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..most])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: ended {} bytes short of its descriptor's size",
                    self.path.display(),
                    self.left
                ),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn location(client: &Client, response: &Response, request: &str) -> Result<String> {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(|l| client.absolute(l))
        .ok_or_else(|| {
            Error::invalid(format!(
                "{request}: the registry sent no Location for the upload"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refusal_of_the_whole_body_is_retried_in_chunks() {
        let registry = |status: u16, message: &str| Error::Registry {
            what: "PUT blob sha256:0".into(),
            status,
            message: message.into(),
            retry_after: None,
        };
        for (error, chunks) in [
            (registry(413, "Payload Too Large"), true),
            (registry(405, "Method Not Allowed"), true),
            (registry(501, "Not Implemented"), true),
            (registry(416, "RANGE_INVALID: invalid content range"), true),
            (
                registry(400, "UNSUPPORTED: The operation is unsupported."),
                true,
            ),
            (
                registry(400, "DIGEST_INVALID: provided digest did not match"),
                false,
            ),
            (
                registry(400, "BLOB_UPLOAD_INVALID: blob upload invalid"),
                false,
            ),
            (
                registry(404, "BLOB_UPLOAD_UNKNOWN: blob upload unknown"),
                false,
            ),
            (
                registry(401, "UNAUTHORIZED: authentication required"),
                false,
            ),
            (registry(403, "DENIED: requested access is denied"), false),
            (registry(500, "UNKNOWN: unknown error"), false),
            (registry(503, "Service Unavailable"), false),
            (Error::invalid("PUT blob sha256:0: connection reset"), false),
        ] {
            assert_eq!(wants_chunks(&error), chunks, "{error}");
        }
    }
}
