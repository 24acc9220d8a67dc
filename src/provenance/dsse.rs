//! DSSE envelopes (secure-systems-lab/dsse `envelope.md`, `protocol.md`):
//! the statement as base64 `payload` with its `payloadType`, and the
//! signatures over its pre-authentication encoding. cosign stores an
//! attestation as one envelope per layer and verifies the signature over
//! `PAE(payloadType, payload)`.

use crate::error::{Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};

/// The payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// One signature: the key's id (cosign leaves it empty) and the signature bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub keyid: String,
    pub sig: Vec<u8>,
}

/// `PAE(type, body)`: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The envelope's bytes: compact JSON in the member order of
/// go-securesystemslib's `Envelope` (what cosign writes).
pub fn envelope(payload: &[u8], signatures: &[Signature]) -> Vec<u8> {
    let signatures: Vec<String> = signatures
        .iter()
        .map(|s| {
            format!(
                r#"{{"keyid":{},"sig":"{}"}}"#,
                json!(s.keyid),
                STANDARD.encode(&s.sig)
            )
        })
        .collect();
    format!(
        r#"{{"payloadType":"{PAYLOAD_TYPE}","payload":"{}","signatures":[{}]}}"#,
        STANDARD.encode(payload),
        signatures.join(",")
    )
    .into_bytes()
}

/// The payload of an envelope holding an in-toto statement, and its signatures.
pub fn open(bytes: &[u8], what: &str) -> Result<(Vec<u8>, Vec<Signature>)> {
    let bad = |message: String| Error::invalid(format!("{what}: {message}"));
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| bad(format!("not a DSSE envelope: {e}")))?;
    if value["payloadType"] != PAYLOAD_TYPE {
        return Err(bad(format!(
            "payload type {} is not {PAYLOAD_TYPE}",
            value["payloadType"]
        )));
    }
    let decode = |v: &Value, field: &str| {
        STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| bad(format!("{field} is not base64: {e}")))
    };
    let payload = decode(&value["payload"], "payload")?;
    let signatures = value["signatures"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            Ok(Signature {
                keyid: s["keyid"].as_str().unwrap_or_default().to_string(),
                sig: decode(&s["sig"], "a signature")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((payload, signatures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_specs() {
        // dsse protocol.md's worked example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn an_envelope_opens_to_its_payload() {
        let signature = Signature {
            keyid: String::new(),
            sig: vec![1, 2, 3],
        };
        let bytes = envelope(b"{}", std::slice::from_ref(&signature));
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AQID"}]}"#
        );
        assert_eq!(
            open(&bytes, "test").unwrap(),
            (b"{}".to_vec(), vec![signature])
        );
    }
}
