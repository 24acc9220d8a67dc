//! Pushing blobs (distribution spec, "Pushing blobs"): HEAD to skip what the
//! registry has, a cross-repository mount where the source is known, a
//! monolithic POST + PUT for small blobs and POST + PATCH chunks + PUT for
//! large ones, so memory never grows with the blob. A failed upload restarts
//! from a fresh session: a half-sent PATCH cannot be resumed reliably.

use super::client::{Call, Client};
use super::response::registry_error;
use crate::error::{Error, IoContext, Result};
use oci_spec::image::Digest;
use std::io::Read;
use std::path::Path;

/// Blobs up to this size go in one PUT.
pub const MONOLITHIC_LIMIT: u64 = 8 << 20;
/// The size of each PATCH for larger blobs.
pub const CHUNK_SIZE: usize = 8 << 20;

/// Whether `repository` already has the blob.
pub fn exists(
    client: &Client,
    repository: &str,
    digest: &Digest,
    scopes: &[String],
) -> Result<bool> {
    let url = client.url(&format!("/v2/{repository}/blobs/{digest}"));
    let response = client.send(&Call::new("HEAD", url.clone(), scopes))?;
    match response.status().as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        _ => Err(registry_error(&format!("HEAD {url}"), response)),
    }
}

/// Asks the registry to mount the blob from `from` (same registry); false
/// when it would rather have it uploaded. `scopes` must allow pull on `from`.
pub fn mount(
    client: &Client,
    repository: &str,
    digest: &Digest,
    from: &str,
    scopes: &[String],
) -> Result<bool> {
    let url = client.url(&format!(
        "/v2/{repository}/blobs/uploads/?mount={digest}&from={from}"
    ));
    let response =
        client.send(&Call::new("POST", url.clone(), scopes).header("Content-Length", "0"))?;
    match response.status().as_u16() {
        201 => Ok(true),
        // 202: the registry opened an upload session instead; leave it to expire.
        202 => Ok(false),
        _ => Err(registry_error(&format!("POST {url}"), response)),
    }
}

/// Uploads a blob, restarting from scratch on transient failures.
pub fn upload(
    client: &Client,
    repository: &str,
    digest: &Digest,
    size: u64,
    path: &Path,
    scopes: &[String],
) -> Result<()> {
    crate::progress::upload_started(size);
    client.restarting(|| upload_once(client, repository, digest, size, path, scopes))
}

fn upload_once(
    client: &Client,
    repository: &str,
    digest: &Digest,
    size: u64,
    path: &Path,
    scopes: &[String],
) -> Result<()> {
    let start = client.url(&format!("/v2/{repository}/blobs/uploads/"));
    let response =
        client.send(&Call::new("POST", start.clone(), scopes).header("Content-Length", "0"))?;
    if response.status() != 202 {
        return Err(registry_error(&format!("POST {start}"), response));
    }
    let mut location = location(client, &response, &start)?;

    if size <= MONOLITHIC_LIMIT {
        let bytes = std::fs::read(path).with_path("reading", path)?;
        finish(client, &location, digest, &bytes, scopes)?;
        crate::progress::uploaded(size);
        return Ok(());
    }
    let mut file = std::fs::File::open(path).with_path("opening", path)?;
    let mut chunk = vec![0u8; CHUNK_SIZE];
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut file, &mut chunk).with_path("reading", path)?;
        if n == 0 {
            break;
        }
        let range = format!("{}-{}", offset, offset + n as u64 - 1);
        let call = Call::new("PATCH", location.clone(), scopes)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", range)
            .body(&chunk[..n])
            .once();
        let response = client.send(&call)?;
        if response.status() != 202 {
            return Err(registry_error(&format!("PATCH {location}"), response));
        }
        location = self::location(client, &response, &location)?;
        offset += n as u64;
        crate::progress::uploaded(n as u64);
    }
    if offset != size {
        return Err(Error::file(
            path,
            format!("is {offset} bytes but its descriptor says {size}"),
        ));
    }
    finish(client, &location, digest, &[], scopes)
}

/// The closing PUT, carrying the last bytes (or all of them) and the digest.
fn finish(
    client: &Client,
    location: &str,
    digest: &Digest,
    bytes: &[u8],
    scopes: &[String],
) -> Result<()> {
    let separator = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{separator}digest={digest}");
    let call = Call::new("PUT", url.clone(), scopes)
        .header("Content-Type", "application/octet-stream")
        .body(bytes)
        .once();
    let response = client.send(&call)?;
    match response.status().as_u16() {
        201 => Ok(()),
        _ => Err(registry_error(&format!("PUT blob {digest}"), response)),
    }
}

fn location(
    client: &Client,
    response: &super::response::Response,
    request: &str,
) -> Result<String> {
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

/// Reads until `buf` is full or the input ends.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
