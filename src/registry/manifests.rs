//! Manifests and blobs by digest: GET with the media types rko understands,
//! verified against their digest; PUT under a tag or digest.

use super::client::{Call, Client};
use super::response::registry_error;
use crate::digest::HashingWriter;
use crate::error::{Error, Result};
use crate::image::media_types;
use oci_spec::image::{Digest, MediaType};
use std::io::{Read, Write};

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
    let response = client.send(&Call::new("GET", url.clone(), scopes).header("Accept", ACCEPT))?;
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
    let bytes = response
        .into_body()
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .map_err(|e| Error::invalid(format!("GET {url}: {e}")))?;
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
    Ok(Some(Fetched {
        bytes,
        media_type,
        digest,
    }))
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
    let response = client.send(&call)?;
    match response.status().as_u16() {
        201 | 200 => Ok(response.headers().contains_key("oci-subject")),
        _ => Err(registry_error(&format!("PUT {url}"), response)),
    }
}

/// Streams a blob into `out`, checking its size and digest as it goes.
/// The caller must discard `out` on error: nothing unverified is kept.
pub fn get_blob(
    client: &Client,
    repository: &str,
    digest: &Digest,
    size: u64,
    out: &mut dyn Write,
    scopes: &[String],
) -> Result<()> {
    let url = client.url(&format!("/v2/{repository}/blobs/{digest}"));
    let response = client.send(&Call::new("GET", url.clone(), scopes))?;
    if response.status() != 200 {
        return Err(registry_error(&format!("GET {url}"), response));
    }
    let mut reader = response.into_body().into_reader();
    let mut writer = HashingWriter::new(out);
    let copied = std::io::copy(&mut Read::take(&mut reader, size + 1), &mut writer);
    let (_, actual, got) = writer.into_parts();
    if let Err(e) = copied {
        return Err(Error::Network {
            what: format!("GET {url}"),
            message: format!("the connection broke after {got} of {size} bytes: {e}"),
            attempts: 1,
        });
    }
    if got != size || &actual != digest {
        return Err(Error::Network {
            what: format!("GET {url}"),
            message: format!("received {got} bytes with digest {actual}; expected {size} bytes with digest {digest}"),
            attempts: 1,
        });
    }
    Ok(())
}
