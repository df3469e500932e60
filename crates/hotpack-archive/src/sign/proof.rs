//! A signature proof: what a host keeps of a signed bundle so that it can check, later and
//! without the bundle, that a trusted key signed a given module's library (a restart under
//! trusted keys restores only what such a proof covers; a claim in a journal is never
//! believed). It is the signed message (the domain string and every manifest, exactly as
//! signed) plus the signature record; its format is in `docs/FORMAT.md` ("Signature
//! proofs").

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{BundleSignature, DOMAIN, Fingerprint, PublicKey, SIGNATURE_RECORD_PREFIX};
use crate::error::BundleError;
use crate::{Bundle, Manifest};

/// The first line of a proof file.
pub const PROOF_HEADER: &str = "hotpack-signature-proof-v1";

/// Why a [`SignatureProof`] does not show that a trusted key signed a library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The bytes are not a proof.
    #[error("not a signature proof: {detail}")]
    Malformed {
        /// What is wrong.
        detail: &'static str,
    },
    /// The signature does not match the message (an edited manifest or a forged record).
    #[error("the signature does not match (key {fingerprint})")]
    Mismatch {
        /// The key the record names.
        fingerprint: Fingerprint,
    },
    /// A valid signature by a key that is not trusted (any more).
    #[error("signed by {fingerprint}, which is not trusted")]
    Untrusted {
        /// The key that signed.
        fingerprint: Fingerprint,
    },
    /// The signed manifests do not list this module with this library for this target.
    #[error("the signed manifests do not cover module `{module}` with library {hash} for {target}")]
    NotCovered {
        /// The module.
        module: String,
        /// The target triple.
        target: String,
        /// blake3 of the library.
        hash: blake3::Hash,
    },
}

/// The signed message of a bundle and its signature record (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureProof {
    record: BundleSignature,
    message: Vec<u8>,
}

impl Bundle {
    /// The proof of this bundle's signature, `None` when it is not signed. Nothing is
    /// checked here: [`SignatureProof::check`] does.
    ///
    /// # Errors
    /// As [`Bundle::signature`] and [`Bundle::signed_message`].
    pub fn signature_proof(&self) -> Result<Option<SignatureProof>, BundleError> {
        let Some(record) = self.signature()? else { return Ok(None) };
        Ok(Some(SignatureProof { record, message: self.signed_message()? }))
    }
}

impl SignatureProof {
    /// The proof's bytes: the header line, the record line, then the signed message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let record = self.record.to_record();
        let mut out = Vec::with_capacity(PROOF_HEADER.len() + record.len() + 2 + self.message.len());
        out.extend_from_slice(PROOF_HEADER.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(record.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(&self.message);
        out
    }

    /// Parses [`to_bytes`](Self::to_bytes)'s output (nothing is verified yet).
    ///
    /// # Errors
    /// [`ProofError::Malformed`].
    pub fn from_bytes(bytes: &[u8]) -> Result<SignatureProof, ProofError> {
        let bad = |detail| ProofError::Malformed { detail };
        let rest = bytes
            .strip_prefix(PROOF_HEADER.as_bytes())
            .and_then(|r| r.strip_prefix(b"\n"))
            .ok_or(bad("no header line"))?;
        let end = rest.iter().position(|b| *b == b'\n').ok_or(bad("no record line"))?;
        let (line, message) = (&rest[..end], &rest[end + 1..]);
        let fields = line.strip_prefix(SIGNATURE_RECORD_PREFIX.as_bytes()).ok_or(bad("no signature record"))?;
        let fields = std::str::from_utf8(fields).map_err(|_| bad("the record is not ASCII"))?;
        let (key, sig) = fields.split_once(' ').ok_or(bad("expected `<key> <signature>`"))?;
        let key = BASE64.decode(key).map_err(|_| bad("the key is not base64"))?;
        let key = <[u8; 32]>::try_from(key.as_slice()).map_err(|_| bad("the key is not 32 bytes"))?;
        let key = PublicKey::from_bytes(&key).ok_or(bad("the key is not a valid ed25519 point"))?;
        let sig = BASE64.decode(sig).map_err(|_| bad("the signature is not base64"))?;
        let signature = <[u8; 64]>::try_from(sig.as_slice()).map_err(|_| bad("the signature is not 64 bytes"))?;
        Ok(SignatureProof { record: BundleSignature { key, signature }, message: message.to_vec() })
    }

    /// Checks that one of `trusted` signed the message and that a signed manifest lists
    /// module `module` with the library `hash` for `target`; returns the signer.
    ///
    /// # Errors
    /// [`ProofError::Mismatch`], [`ProofError::Untrusted`], [`ProofError::Malformed`] (a
    /// message that is not a list of manifests), [`ProofError::NotCovered`].
    pub fn check(
        &self,
        trusted: &[PublicKey],
        module: &str,
        target: &str,
        hash: &blake3::Hash,
    ) -> Result<Fingerprint, ProofError> {
        let fingerprint = self.record.key.fingerprint();
        let signature = ed25519_dalek::Signature::from_bytes(&self.record.signature);
        if self.record.key.0.verify_strict(&self.message, &signature).is_err() {
            return Err(ProofError::Mismatch { fingerprint });
        }
        if !trusted.contains(&self.record.key) {
            return Err(ProofError::Untrusted { fingerprint });
        }
        for manifest in manifests(&self.message)? {
            let Ok(manifest) = Manifest::from_json(manifest) else { continue };
            let digest = manifest.library(target).and_then(|rel| manifest.entries.get(rel));
            if manifest.meta.name == module && digest.is_some_and(|d| d.blake3 == *hash.as_bytes()) {
                return Ok(fingerprint);
            }
        }
        Err(ProofError::NotCovered { module: module.to_owned(), target: target.to_owned(), hash: *hash })
    }
}

/// The manifests' bytes in a signed message: the domain string, then per manifest a u32
/// name length, the name, a u64 length and the bytes (all little-endian).
fn manifests(message: &[u8]) -> Result<Vec<&[u8]>, ProofError> {
    let bad = |detail| ProofError::Malformed { detail };
    let mut rest = message.strip_prefix(DOMAIN).ok_or(bad("the message lacks the signature domain"))?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, after) = rest.split_first_chunk::<4>().ok_or(bad("a manifest name length is cut short"))?;
        let name_len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| bad("a name is too long"))?;
        let after = after.get(name_len..).ok_or(bad("a manifest name is cut short"))?;
        let (len, after) = after.split_first_chunk::<8>().ok_or(bad("a manifest length is cut short"))?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| bad("a manifest is too long"))?;
        let manifest = after.get(..len).ok_or(bad("a manifest is cut short"))?;
        out.push(manifest);
        rest = &after[len..];
    }
    Ok(out)
}
