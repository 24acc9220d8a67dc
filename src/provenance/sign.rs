//! Signing with a cosign key: the file `cosign generate-key-pair` writes,
//! a PEM block (`ENCRYPTED SIGSTORE PRIVATE KEY`, or the older `ENCRYPTED
//! COSIGN PRIVATE KEY`) holding go-securesystemslib's `encrypted` JSON:
//! scrypt derives a 32-byte key from the password and the salt, NaCl's
//! secretbox (XSalsa20-Poly1305, tag first) opens the ciphertext, which is
//! a PKCS #8 ECDSA P-256 key (sigstore/cosign `pkg/cosign/keys.go`
//! `LoadPrivateKey`; go-securesystemslib `encrypted/encrypted.go`
//! `Decrypt`). Signatures are ECDSA over SHA-256, ASN.1 DER, with RFC 6979
//! nonces: the same statement and key give the same bytes.

use crate::error::{Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use serde_json::Value;
use std::path::Path;

const PEM_TYPES: [&str; 2] = [
    "ENCRYPTED SIGSTORE PRIVATE KEY",
    "ENCRYPTED COSIGN PRIVATE KEY",
];

/// The scrypt parameters go-securesystemslib writes (legacy, standard,
/// OWASP), the only ones it reads back: anything else is refused rather
/// than run (a huge N from a hostile file would take memory and minutes).
const SCRYPT_PARAMS: [(u64, u8); 3] = [(32_768, 15), (65_536, 16), (131_072, 17)];

/// An ECDSA P-256 signing key.
pub struct Signer {
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

impl Signer {
    /// The key of the cosign key file `path` holding `pem`, opened with
    /// `password`.
    pub fn from_cosign_key(pem: &[u8], password: &[u8], path: &Path) -> Result<Signer> {
        let bad = |message: String| Error::file(path, message);
        let text = std::str::from_utf8(pem).map_err(|_| bad("is not a PEM file".to_string()))?;
        let body = pem_body(text).ok_or_else(|| {
            bad(format!(
                "holds no {} block (is it the key `cosign generate-key-pair` wrote?)",
                PEM_TYPES.join(" or ")
            ))
        })?;
        let sealed: Value = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("its encrypted key is not JSON: {e}")))?;
        let der = open(&sealed, password).map_err(bad)?;
        let key = SigningKey::from_pkcs8_der(&der)
            .map_err(|e| bad(format!("holds no ECDSA P-256 key (PKCS #8): {e}")))?;
        Ok(Signer { key })
    }

    /// The ASN.1 DER signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign(message);
        signature.to_der().as_bytes().to_vec()
    }
}

/// The base64 body of the first PEM block of one of [`PEM_TYPES`], decoded.
fn pem_body(text: &str) -> Option<Vec<u8>> {
    PEM_TYPES.iter().find_map(|kind| {
        let begin = format!("-----BEGIN {kind}-----");
        let end = format!("-----END {kind}-----");
        let start = text.find(&begin)? + begin.len();
        let stop = start + text[start..].find(&end)?;
        let body: String = text[start..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        STANDARD.decode(body).ok()
    })
}

/// go-securesystemslib's `Decrypt` of `sealed` with `password`.
fn open(sealed: &Value, password: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let bytes = |v: &Value, field: &str| {
        STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| format!("its {field} is not base64: {e}"))
    };
    let kdf = &sealed["kdf"];
    if kdf["name"] != "scrypt" || sealed["cipher"]["name"] != "nacl/secretbox" {
        return Err(format!(
            "is encrypted with {} and {}, not scrypt and nacl/secretbox",
            kdf["name"], sealed["cipher"]["name"]
        ));
    }
    let params = &kdf["params"];
    let log_n = SCRYPT_PARAMS
        .iter()
        .find(|(n, _)| params["N"] == *n && params["r"] == 8 && params["p"] == 1)
        .map(|(_, log_n)| *log_n)
        .ok_or_else(|| format!("has unsupported scrypt parameters {params}"))?;
    let scrypt_params = scrypt::Params::new(log_n, 8, 1).map_err(|e| e.to_string())?;
    let mut key = [0u8; 32];
    scrypt::scrypt(
        password,
        &bytes(&kdf["salt"], "salt")?,
        &scrypt_params,
        &mut key,
    )
    .map_err(|e| e.to_string())?;
    let nonce = bytes(&sealed["cipher"]["nonce"], "nonce")?;
    if nonce.len() != 24 {
        return Err(format!("has a {}-byte nonce, not 24", nonce.len()));
    }
    let cipher = XSalsa20Poly1305::new(&key.into());
    cipher
        .decrypt(
            nonce.as_slice().into(),
            bytes(&sealed["ciphertext"], "ciphertext")?.as_slice(),
        )
        .map_err(|_| "does not open with this password (COSIGN_PASSWORD)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_body_is_found_under_either_name() {
        let cases = [
            ("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\ne30=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n", Some(b"{}".to_vec())),
            ("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\ne3\n0=\n-----END ENCRYPTED COSIGN PRIVATE KEY-----", Some(b"{}".to_vec())),
            ("-----BEGIN PRIVATE KEY-----\ne30=\n-----END PRIVATE KEY-----", None),
        ];
        for (text, want) in cases {
            assert_eq!(pem_body(text), want, "{text}");
        }
    }

    #[test]
    fn huge_scrypt_costs_are_refused_before_any_work() {
        let sealed = serde_json::json!({
            "kdf": {"name": "scrypt", "params": {"N": 1u64 << 30, "r": 8, "p": 1}, "salt": ""},
            "cipher": {"name": "nacl/secretbox", "nonce": ""},
            "ciphertext": "",
        });
        let err = open(&sealed, b"").unwrap_err();
        assert!(err.contains("unsupported scrypt parameters"), "{err}");
    }
}
