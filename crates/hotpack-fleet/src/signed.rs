//! [`Signed`]: the envelope every release record and rollout is stored in (record formats 2
//! and 3).
//! The payload is the record's JSON as a string, so the bytes signed are the bytes stored;
//! the signature is ed25519 over a per-kind domain string followed by the payload.

use hotpack_archive::{PublicKey, SigningKey};
use serde::{Deserialize, Serialize};

/// The newest record format: 3, a release record whose requirements may carry a version
/// range. This version writes 3 only for such a record ([`seal_as`]) and 2 for every other,
/// so a host that reads only format 2 still reads them; it reads both. Format 1 was the
/// bare JSON record without an envelope.
pub const RECORD_FORMAT: u32 = 3;

/// The formats this version reads.
pub const READABLE_FORMATS: [u32; 2] = [2, 3];

/// A record in etcd: its JSON payload, and who signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// 2 or 3 ([`RECORD_FORMAT`]).
    pub format: u32,
    /// `release` or `rollout`: part of what is signed, so one kind is never read as another.
    pub kind: String,
    /// The record's JSON.
    pub payload: String,
    /// The signer's public key (`hotpack-ed25519 <base64>`), absent when unsigned.
    #[serde(default)]
    pub key: Option<String>,
    /// The ed25519 signature in hex, absent when unsigned.
    #[serde(default)]
    pub signature: Option<String>,
}

/// Why a record was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Not an envelope of the right format and kind.
    Malformed(String),
    /// No signature, and the reader requires one.
    Unsigned,
    /// Signed by a key the reader does not trust, or the signature does not match.
    BadSignature(String),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Malformed(m) => write!(f, "not a format-2 or format-3 record: {m}"),
            Rejected::Unsigned => f.write_str("not signed, and this host trusts only signed records"),
            Rejected::BadSignature(m) => f.write_str(m),
        }
    }
}

fn domain(format: u32, kind: &str) -> Vec<u8> {
    format!("hotpack fleet record v{format} {kind}\n").into_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex64(text: &str) -> Option<[u8; 64]> {
    if text.len() != 128 {
        return None;
    }
    let mut out = [0u8; 64];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Wraps `record` of `kind` as format 2, signed by `key` when given.
pub fn seal<T: Serialize>(kind: &str, record: &T, key: Option<&SigningKey>) -> Vec<u8> {
    seal_as(2, kind, record, key)
}

/// Wraps `record` of `kind` as `format` (one of [`READABLE_FORMATS`]), signed by `key` when
/// given.
pub fn seal_as<T: Serialize>(format: u32, kind: &str, record: &T, key: Option<&SigningKey>) -> Vec<u8> {
    let payload = serde_json::to_string(record).expect("fleet records are plain data and always serialize");
    let (key, signature) = match key {
        Some(k) => {
            let sig = k.sign_message(&domain(format, kind), payload.as_bytes());
            (Some(k.public_key().to_text().trim_end().to_owned()), Some(hex(&sig)))
        }
        None => (None, None),
    };
    let envelope = Signed { format, kind: kind.to_owned(), payload, key, signature };
    serde_json::to_vec(&envelope).expect("envelopes always serialize")
}

/// An opened envelope: the record, its payload's blake3 (its identity for replay checks) and
/// the signer's fingerprint when it was signed by a trusted key.
#[derive(Debug, Clone)]
pub struct Opened<T> {
    /// The record.
    pub record: T,
    /// blake3 of the payload, hex.
    pub digest: String,
    /// `ed25519:...` of the key that signed it, when signed and checked.
    pub signer: Option<String>,
}

/// Opens `bytes` as an envelope of `kind`. With `trusted` keys, only a record signed by one
/// of them is accepted; with none (`--allow-unsigned`), any well-formed record is, and a
/// signature is not checked.
///
/// # Errors
///
/// [`Rejected`] naming what is wrong.
pub fn open<T: serde::de::DeserializeOwned>(
    kind: &str,
    bytes: &[u8],
    trusted: &[PublicKey],
) -> Result<Opened<T>, Rejected> {
    let envelope: Signed = serde_json::from_slice(bytes).map_err(|e| Rejected::Malformed(e.to_string()))?;
    if !READABLE_FORMATS.contains(&envelope.format) || envelope.kind != kind {
        return Err(Rejected::Malformed(format!("format {} kind `{}`", envelope.format, envelope.kind)));
    }
    let digest = blake3::hash(envelope.payload.as_bytes()).to_hex().to_string();
    let signer = match (&envelope.key, &envelope.signature) {
        (Some(key), Some(sig)) => {
            let key = PublicKey::from_text(key).map_err(|e| Rejected::BadSignature(e.to_string()))?;
            let sig = unhex64(sig).ok_or_else(|| Rejected::BadSignature("the signature is not 64 hex bytes".into()))?;
            if !trusted.is_empty() {
                if !trusted.contains(&key) {
                    return Err(Rejected::BadSignature(format!(
                        "signed by {}, which this host does not trust",
                        key.fingerprint()
                    )));
                }
                if !key.verify_message(&domain(envelope.format, kind), envelope.payload.as_bytes(), &sig) {
                    return Err(Rejected::BadSignature(format!(
                        "the signature by {} does not match the record",
                        key.fingerprint()
                    )));
                }
            }
            Some(key.fingerprint().to_string())
        }
        _ if !trusted.is_empty() => return Err(Rejected::Unsigned),
        _ => None,
    };
    let record = serde_json::from_str(&envelope.payload).map_err(|e| Rejected::Malformed(e.to_string()))?;
    Ok(Opened { record, digest, signer: if trusted.is_empty() { None } else { signer } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_records_open_only_with_the_right_key_and_kind() {
        let key = SigningKey::from_seed(&[7; 32]);
        let other = SigningKey::from_seed(&[8; 32]);
        let bytes = seal("rollout", &serde_json::json!({"a": 1}), Some(&key));
        let opened = open::<serde_json::Value>("rollout", &bytes, &[key.public_key()]).expect("opens");
        assert_eq!(opened.signer, Some(key.public_key().fingerprint().to_string()));
        assert!(open::<serde_json::Value>("release", &bytes, &[key.public_key()]).is_err(), "kind is checked");
        assert!(matches!(
            open::<serde_json::Value>("rollout", &bytes, &[other.public_key()]),
            Err(Rejected::BadSignature(_))
        ));
        let unsigned = seal("rollout", &serde_json::json!({"a": 1}), None);
        assert_eq!(
            open::<serde_json::Value>("rollout", &unsigned, &[key.public_key()]).expect_err("unsigned"),
            Rejected::Unsigned
        );
        let mut tampered: Signed = serde_json::from_slice(&bytes).expect("envelope");
        tampered.payload = "{\"a\":2}".into();
        let tampered = serde_json::to_vec(&tampered).expect("json");
        assert!(matches!(
            open::<serde_json::Value>("rollout", &tampered, &[key.public_key()]),
            Err(Rejected::BadSignature(_))
        ));
    }
}
