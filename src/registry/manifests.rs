//! Manifests and blobs by digest: GET with the media types rko understands,
//! verified against their digest; PUT under a tag or digest. Each is one
//! request of the client's retry loop, its body included: a manifest whose
//! body stalls is fetched again, as a blob is.

use super::client::{Call, Client};
use super::response::registry_error;
use crate::digest::HashingWriter;
use crate::error::{Error, Result};
use crate::image::media_types;
use oci_spec::image::{Digest, MediaType};
use std::io::{Read, Write};
use std::path::Path;

/// The largest manifest or index rko reads, as the largest config.
pub const MANIFEST_LIMIT: u64 = crate::image::layout::DOCUMENT_LIMIT;

/// Every manifest type rko reads.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A manifest as the registry sent it.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: MediaType,
    pub digest: Digest,
}

/// GET a manifest by tag or digest; a digest reference is verified.
pub fn get(
    client: &Client,
    repository: &str,
    reference: &str,
    scopes: &[String],
) -> Result<Fetched> {
    fetch(client, repository, reference, scopes, false).map(|f| f.expect("a 404 is an error here"))
}

/// Like [`get`], with `None` for a manifest that does not exist (404).
pub fn get_optional(
    client: &Client,
    repository: &str,
    reference: &str,
    scopes: &[String],
) -> Result<Option<Fetched>> {
    fetch(client, repository, reference, scopes, true)
}

fn fetch(
    client: &Client,
    repository: &str,
    reference: &str,
    scopes: &[String],
    missing_ok: bool,
) -> Result<Option<Fetched>> {
    let url = client.url(&format!("/v2/{repository}/manifests/{reference}"));
    client.restarting(|| fetch_once(client, &url, reference, scopes, missing_ok))
}

/// One try of [`fetch`]: the GET of `url` and its body.
fn fetch_once(
    client: &Client,
    url: &str,
    reference: &str,
    scopes: &[String],
    missing_ok: bool,
) -> Result<Option<Fetched>> {
    let call = Call::new("GET", url.to_string(), scopes).header("Accept", ACCEPT);
    let response = client.send(&call)?;
    match response.status().as_u16() {
        200 => {}
        404 if missing_ok => return Ok(None),
        _ => return Err(registry_error(&format!("GET {url}"), response)),
    }
    let header_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
    let too_big = |size: Option<u64>| {
        let size = size.map_or("larger".to_string(), |n| format!("{n} bytes"));
        Error::invalid(format!(
            "GET {url}: the manifest is {size}, more than the {} MiB rko accepts",
            MANIFEST_LIMIT >> 20
        ))
    };
    // Refused before a byte is read when the registry says how big it is.
    if let Some(length) = content_length(&response).filter(|&n| n > MANIFEST_LIMIT) {
        return Err(too_big(Some(length)));
    }
    let bytes = response
        .into_body()
        .with_config()
        .limit(MANIFEST_LIMIT)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => too_big(None),
            e => client.waits().failure(&format!("GET {url}"), &e),
        })?;
    decode(url, reference, header_type, bytes).map(Some)
}

/// A manifest's bytes as the registry sent them for `reference` (a tag or
/// a digest, which they must match) at `url`, with the media type its
/// `Content-Type` header gave: checked, and its media type found. Any bytes
/// at all give a value or an error, never a panic.
pub fn decode(
    url: &str,
    reference: &str,
    header_type: Option<String>,
    bytes: Vec<u8>,
) -> Result<Fetched> {
    let digest = crate::digest::sha256(&bytes);
    if reference.starts_with("sha256:") && digest.to_string() != reference {
        return Err(Error::invalid(format!(
            "GET {url}: the manifest's digest is {digest}, not the {reference} asked for"
        )));
    }
    // The manifest's own mediaType wins over the header, which some registries get wrong.
    let declared: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("GET {url}: the manifest is not JSON: {e}")))?;
    let media_type = declared["mediaType"]
        .as_str()
        .map(str::to_string)
        .or(header_type)
        .map(|t| MediaType::from(t.as_str()))
        .ok_or_else(|| Error::invalid(format!("GET {url}: the manifest has no media type")))?;
    if !media_types::is_manifest(&media_type) && !media_types::is_index(&media_type) {
        return Err(Error::invalid(format!(
            "GET {url}: unsupported manifest type {media_type}"
        )));
    }
    Ok(Fetched {
        bytes,
        media_type,
        digest,
    })
}

/// HEAD a manifest by tag or digest: the digest the registry gives it
/// (`Docker-Content-Digest`), or `None` when it has no such manifest or
/// does not say.
pub fn head(
    client: &Client,
    repository: &str,
    reference: &str,
    scopes: &[String],
) -> Result<Option<Digest>> {
    let url = client.url(&format!("/v2/{repository}/manifests/{reference}"));
    client.restarting(|| {
        let call = Call::new("HEAD", url.clone(), scopes).header("Accept", ACCEPT);
        let response = client.send(&call)?;
        match response.status().as_u16() {
            200 => Ok(response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| crate::digest::parse(v.trim()).ok())),
            404 => Ok(None),
            _ => Err(registry_error(&format!("HEAD {url}"), response)),
        }
    })
}

/// PUT a manifest under `reference` (a tag or its digest). Returns whether
/// the registry processed its `subject` (the `OCI-Subject` header of the
/// distribution spec 1.1 referrers API).
pub fn put(
    client: &Client,
    repository: &str,
    reference: &str,
    media_type: &MediaType,
    bytes: &[u8],
    scopes: &[String],
) -> Result<bool> {
    let url = client.url(&format!("/v2/{repository}/manifests/{reference}"));
    let call = Call::new("PUT", url.clone(), scopes)
        .header("Content-Type", media_type.to_string())
        .body(bytes);
    client.restarting(|| {
        let response = client.send(&call)?;
        match response.status().as_u16() {
            201 | 200 => Ok(response.headers().contains_key("oci-subject")),
            _ => Err(registry_error(&format!("PUT {url}"), response)),
        }
    })
}

/// Streams a blob into `out` (a file at `target`), checking its size and
/// digest as it goes. A failed read is a network error, worth another try; a
/// failed write is a disk error on `target`, not worth one. One try: the
/// caller retries it whole ([`Client::restarting`]) and must discard `out`
/// on error: nothing unverified is kept.
pub fn get_blob(
    client: &Client,
    repository: &str,
    digest: &Digest,
    size: u64,
    out: &mut dyn Write,
    target: &Path,
    scopes: &[String],
) -> Result<()> {
    let url = client.url(&format!("/v2/{repository}/blobs/{digest}"));
    let response = client.send(&Call::new("GET", url.clone(), scopes))?;
    if response.status() != 200 {
        return Err(registry_error(&format!("GET {url}"), response));
    }
    let mut reader = response.into_body().into_reader();
    let mut writer = HashingWriter::new(out);
    let mut buffer = vec![0u8; 256 << 10];
    let mut got = 0u64;
    // One byte more than announced is enough to know it is too long.
    while got <= size {
        let want = buffer.len().min((size + 1 - got) as usize);
        let n = match reader.read(&mut buffer[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Error::Network {
                    what: format!("GET {url}"),
                    message: format!(
                        "the connection broke after {got} of {size} bytes: {}",
                        explain_read(client, e)
                    ),
                    attempts: 1,
                })
            }
        };
        writer
            .write_all(&buffer[..n])
            .map_err(|e| Error::io("writing", target, e))?;
        got += n as u64;
    }
    let (_, actual, got) = writer.into_parts();
    if got != size || &actual != digest {
        return Err(Error::Network {
            what: format!("GET {url}"),
            message: format!("received {got} bytes with digest {actual}; expected {size} bytes with digest {digest}"),
            attempts: 1,
        });
    }
    Ok(())
}

/// `Content-Length`, when the response has a valid one.
fn content_length(response: &super::response::Response) -> Option<u64> {
    response
        .headers()
        .get("content-length")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A body read error in words: ureq's own errors (a timeout) come wrapped.
fn explain_read(client: &Client, error: std::io::Error) -> String {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<ureq::Error>())
    {
        Some(e) => client.waits().explain(e),
        None => error.to_string(),
    }
}
