//! Signed bundles: ed25519 keys and their text files, signing a bundle, and checking its
//! signature against trusted keys.
//!
//! The signature covers every manifest's exact bytes, and each manifest records the size and
//! blake3 of every entry of its module; since no entry may stand outside a manifest, a valid
//! signature plus the per-entry hash checks authenticate the whole bundle. The signature
//! record lives in the zip archive comment, which standard zip tools ignore (layout in
//! `docs/FORMAT.md`, "Signatures"). Checking it needs only the bundle as [`Bundle::open`]
//! read it: nothing is written and nothing is loaded first.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::Signer;
use hotpack_util::fs::FsError;

use crate::error::{BundleError, BundleErrorKind};
use crate::{Bundle, Limits};

mod proof;
pub use proof::{PROOF_HEADER, ProofError, SignatureProof};

/// The first bytes of a signature record in the archive comment.
pub const SIGNATURE_RECORD_PREFIX: &str = "hotpack-signature-v1 ed25519 ";
/// The first word of a public key file.
pub const PUBLIC_KEY_PREFIX: &str = "hotpack-ed25519";
/// The first word of a secret key file.
pub const SECRET_KEY_PREFIX: &str = "hotpack-ed25519-secret";
/// Domain separation: the first bytes of every signed message.
const DOMAIN: &[u8] = b"hotpack bundle signature v1\n";

/// Why a key could not be generated, written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing a key file failed (the error names the file).
    #[error(transparent)]
    Fs(#[from] FsError),
    /// `keygen` never replaces an existing key file.
    #[error("`{}` already exists; refusing to overwrite a key", .path.display())]
    Exists {
        /// The key file.
        path: PathBuf,
    },
    /// The file is not a key of the expected kind.
    #[error("`{}` is not a hotpack ed25519 {kind} key: {problem}", .path.display())]
    Malformed {
        /// The key file (or `<text>` for a key given as text).
        path: PathBuf,
        /// `public` or `secret`.
        kind: &'static str,
        /// What is wrong.
        problem: KeyProblem,
    },
    /// A secret key file that others may read (or write) is refused, as ssh does.
    #[error("secret key `{}` has mode {mode:o}; it must be readable by its owner only (chmod 600)", .path.display())]
    SecretKeyNotPrivate {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The operating system's random source failed.
    #[error("cannot read random bytes for a new key")]
    Random(#[source] std::io::Error),
}

/// The short, stable name of a public key: `ed25519:` and the first 16 bytes of the
/// blake3 of its 32 bytes, in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 16]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ed25519:")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A public key that may sign bundles. Text form: `hotpack-ed25519 <base64 of 32 bytes>`,
/// optionally followed by a comment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl PublicKey {
    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// A key from its 32 bytes (`None` when they are not a point of the curve).
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<PublicKey> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes).ok().map(PublicKey)
    }

    /// The key's [`Fingerprint`].
    pub fn fingerprint(&self) -> Fingerprint {
        let hash = blake3::hash(self.0.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&hash.as_bytes()[..16]);
        Fingerprint(out)
    }

    /// The text form, one line with a trailing newline: `hotpack-ed25519 <base64>\n`.
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_KEY_PREFIX} {}\n", BASE64.encode(self.0.as_bytes()))
    }

    /// Parse the text form (surrounding whitespace and a trailing comment are ignored).
    ///
    /// # Errors
    /// [`KeyError::Malformed`] naming `<text>`.
    pub fn from_text(text: &str) -> Result<PublicKey, KeyError> {
        parse_public(text, Path::new("<text>"))
    }

    /// Whether `signature` is this key's ed25519 signature (`verify_strict`) of `domain`
    /// followed by `message`. For records other than bundles (the fleet's signed intent);
    /// every kind of record uses its own `domain`, so a signature of one is never read as
    /// another.
    pub fn verify_message(&self, domain: &[u8], message: &[u8], signature: &[u8; 64]) -> bool {
        let mut signed = Vec::with_capacity(domain.len() + message.len());
        signed.extend_from_slice(domain);
        signed.extend_from_slice(message);
        self.0.verify_strict(&signed, &ed25519_dalek::Signature::from_bytes(signature)).is_ok()
    }

    /// Read a public key file (e.g. `KEY.pub`).
    ///
    /// # Errors
    /// [`KeyError::Fs`] when it cannot be read, [`KeyError::Malformed`] naming the file.
    pub fn load(path: &Path) -> Result<PublicKey, KeyError> {
        let text = read_key_text(path, "public")?;
        parse_public(&text, path)
    }
}

/// What is wrong with a key file ([`KeyError::Malformed`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyProblem {
    /// Longer than a key file can be.
    #[error("{size} bytes, a key file is one short line")]
    TooLong {
        /// The file's size.
        size: usize,
    },
    /// Not UTF-8 text.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// No words at all.
    #[error("the file is empty")]
    Empty,
    /// The first word is not the key kind's prefix.
    #[error("starts with `{found}`, expected `{expected}`")]
    WrongPrefix {
        /// The first word found.
        found: String,
        /// The prefix of this kind of key.
        expected: &'static str,
    },
    /// Nothing after the prefix.
    #[error("no key after `{prefix}`")]
    NoKey {
        /// The prefix.
        prefix: &'static str,
    },
    /// The key is not base64 (the decoder's error; without base64's `std` feature it is
    /// not a `std::error::Error`, so it is shown, not chained).
    #[error("bad base64: {0}")]
    Base64(base64::DecodeError),
    /// The key is not 32 bytes.
    #[error("{len} bytes of key, expected 32")]
    WrongLength {
        /// The bytes found.
        len: usize,
    },
    /// The 32 bytes are not an ed25519 public key.
    #[error("not a valid ed25519 point")]
    NotAPoint,
}

fn malformed(path: &Path, kind: &'static str, problem: KeyProblem) -> KeyError {
    KeyError::Malformed { path: path.to_path_buf(), kind, problem }
}

fn read_key_text(path: &Path, kind: &'static str) -> Result<String, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| FsError::Io { path: path.to_path_buf(), op: "read", source })?;
    if bytes.len() > 4096 {
        return Err(malformed(path, kind, KeyProblem::TooLong { size: bytes.len() }));
    }
    String::from_utf8(bytes).map_err(|_| malformed(path, kind, KeyProblem::NotUtf8))
}

fn decode_32(text: &str, path: &Path, kind: &'static str, prefix: &'static str) -> Result<[u8; 32], KeyError> {
    let mut words = text.split_whitespace();
    match words.next() {
        Some(word) if word == prefix => {}
        Some(word) => {
            return Err(malformed(path, kind, KeyProblem::WrongPrefix { found: word.to_owned(), expected: prefix }));
        }
        None => return Err(malformed(path, kind, KeyProblem::Empty)),
    }
    let b64 = words.next().ok_or_else(|| malformed(path, kind, KeyProblem::NoKey { prefix }))?;
    let bytes = BASE64.decode(b64).map_err(|e| malformed(path, kind, KeyProblem::Base64(e)))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| malformed(path, kind, KeyProblem::WrongLength { len: bytes.len() }))
}

fn parse_public(text: &str, path: &Path) -> Result<PublicKey, KeyError> {
    let bytes = decode_32(text, path, "public", PUBLIC_KEY_PREFIX)?;
    PublicKey::from_bytes(&bytes).ok_or_else(|| malformed(path, "public", KeyProblem::NotAPoint))
}

/// A secret key that signs bundles. Text form (a file of mode 0600):
/// `hotpack-ed25519-secret <base64 of the 32-byte seed>`. `Debug` never shows the secret.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key().fingerprint())
    }
}

impl SigningKey {
    /// A new key from the operating system's random source.
    ///
    /// # Errors
    /// [`KeyError::Random`].
    pub fn generate() -> Result<SigningKey, KeyError> {
        let mut seed = [0u8; 32];
        let mut filled = 0;
        while filled < seed.len() {
            match rustix::rand::getrandom(&mut seed[filled..], rustix::rand::GetRandomFlags::empty()) {
                Ok(n) => filled += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(KeyError::Random(e.into())),
            }
        }
        Ok(SigningKey::from_seed(&seed))
    }

    /// The key with this 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The ed25519 signature of `domain` followed by `message` (see
    /// [`PublicKey::verify_message`]).
    pub fn sign_message(&self, domain: &[u8], message: &[u8]) -> [u8; 64] {
        let mut signed = Vec::with_capacity(domain.len() + message.len());
        signed.extend_from_slice(domain);
        signed.extend_from_slice(message);
        self.0.sign(&signed).to_bytes()
    }

    /// Write the secret key to `path` (created with mode 0600, refused if anything exists
    /// there) and the public key to `<path>.pub`; returns the public key's path.
    ///
    /// # Errors
    /// [`KeyError::Exists`], or [`KeyError::Fs`] naming the file.
    pub fn write_new(&self, path: &Path) -> Result<PathBuf, KeyError> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists { path: path.to_path_buf() }
            } else {
                FsError::Io { path: path.to_path_buf(), op: "create the secret key file", source }.into()
            }
        })?;
        let text = format!("{SECRET_KEY_PREFIX} {}\n", BASE64.encode(self.0.to_bytes()));
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(|source| FsError::Io {
            path: path.to_path_buf(),
            op: "write the secret key to",
            source,
        })?;
        let mut public = path.as_os_str().to_owned();
        public.push(".pub");
        let public = PathBuf::from(public);
        hotpack_util::fs::write_atomic(&public, self.public_key().to_text().as_bytes())?;
        Ok(public)
    }

    /// Read a secret key file, refusing one that is not private (group/others may read or
    /// write it, or another user owns it).
    ///
    /// # Errors
    /// [`KeyError::SecretKeyNotPrivate`], [`KeyError::Fs`], [`KeyError::Malformed`].
    pub fn load(path: &Path) -> Result<SigningKey, KeyError> {
        hotpack_util::fs::check_private_file(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let mode = std::fs::metadata(path)
                .map_err(|source| FsError::Io { path: path.to_path_buf(), op: "inspect", source })?
                .mode()
                & 0o7777;
            if mode & 0o077 != 0 {
                return Err(KeyError::SecretKeyNotPrivate { path: path.to_path_buf(), mode });
            }
        }
        let text = read_key_text(path, "secret")?;
        Ok(SigningKey::from_seed(&decode_32(&text, path, "secret", SECRET_KEY_PREFIX)?))
    }
}

/// What a bundle's signature says, checked against a set of trusted keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureStatus {
    /// The bundle carries no signature record.
    Unsigned,
    /// The signature is valid, but its key is not among the trusted ones.
    Untrusted(Fingerprint),
    /// The record names a key, but the signature does not match the bundle's manifests
    /// (the bundle was changed after signing, or the record was forged).
    Mismatch(Fingerprint),
    /// Signed by this trusted key, and the signature matches.
    Trusted(Fingerprint),
}

impl SignatureStatus {
    /// `true` only for [`SignatureStatus::Trusted`].
    pub fn is_trusted(&self) -> bool {
        matches!(self, SignatureStatus::Trusted(_))
    }
}

impl fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureStatus::Unsigned => f.write_str("not signed"),
            SignatureStatus::Untrusted(fp) => write!(f, "signed by an untrusted key {fp}"),
            SignatureStatus::Mismatch(fp) => write!(f, "signature does not match (key {fp})"),
            SignatureStatus::Trusted(fp) => write!(f, "signed by trusted key {fp}"),
        }
    }
}

/// A parsed signature record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleSignature {
    /// The key that claims to have signed.
    pub key: PublicKey,
    /// The 64-byte ed25519 signature.
    pub signature: [u8; 64],
}

impl BundleSignature {
    /// The record's exact bytes, as stored in the archive comment.
    pub fn to_record(&self) -> String {
        format!("{SIGNATURE_RECORD_PREFIX}{} {}", BASE64.encode(self.key.to_bytes()), BASE64.encode(self.signature))
    }
}

impl Bundle {
    /// The message a signature covers: the domain string, then for every manifest in entry
    /// name order its name and exact bytes, each preceded by its length (see `docs/FORMAT.md`).
    ///
    /// # Errors
    /// A [`BundleError`] when a manifest cannot be read back.
    pub fn signed_message(&self) -> Result<Vec<u8>, BundleError> {
        let manifests = self.manifest_bytes()?;
        let len = manifests.iter().map(|(n, b)| 12 + n.len() + b.len()).sum::<usize>();
        let mut msg = Vec::with_capacity(DOMAIN.len() + len);
        msg.extend_from_slice(DOMAIN);
        for (name, bytes) in manifests {
            msg.extend_from_slice(&u32::try_from(name.len()).expect("names are under 64 KiB").to_le_bytes());
            msg.extend_from_slice(name.as_bytes());
            msg.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            msg.extend_from_slice(bytes);
        }
        Ok(msg)
    }

    /// The signature record in the archive comment, if there is one. A comment that does
    /// not start with [`SIGNATURE_RECORD_PREFIX`] is not a signature (`Ok(None)`).
    ///
    /// # Errors
    /// [`BundleErrorKind::BadSignatureRecord`] when the comment starts like a record but is
    /// not one.
    pub fn signature(&self) -> Result<Option<BundleSignature>, BundleError> {
        let comment = self.archive_comment();
        let Some(rest) = comment.strip_prefix(SIGNATURE_RECORD_PREFIX.as_bytes()) else {
            return Ok(None);
        };
        let bad = |detail: &'static str| BundleError::new(self.path(), BundleErrorKind::BadSignatureRecord { detail });
        let rest = std::str::from_utf8(rest).map_err(|_| bad("not ASCII"))?;
        let (key, sig) = rest.split_once(' ').ok_or_else(|| bad("expected `<key> <signature>`"))?;
        let key = BASE64.decode(key).map_err(|_| bad("the key is not base64"))?;
        let key = <[u8; 32]>::try_from(key.as_slice()).map_err(|_| bad("the key is not 32 bytes"))?;
        let key = PublicKey::from_bytes(&key).ok_or_else(|| bad("the key is not a valid ed25519 point"))?;
        let sig = BASE64.decode(sig).map_err(|_| bad("the signature is not base64"))?;
        let signature = <[u8; 64]>::try_from(sig.as_slice()).map_err(|_| bad("the signature is not 64 bytes"))?;
        Ok(Some(BundleSignature { key, signature }))
    }

    /// Check the signature against `trusted` keys (with `verify_strict`), using only the
    /// bytes already in memory. Pair it with [`Bundle::verify_all`] (or the per-read hash
    /// checks) to know every entry is the one that was signed.
    ///
    /// # Errors
    /// [`BundleErrorKind::BadSignatureRecord`], or a [`BundleError`] reading a manifest.
    pub fn check_signature(&self, trusted: &[PublicKey]) -> Result<SignatureStatus, BundleError> {
        let Some(sig) = self.signature()? else {
            return Ok(SignatureStatus::Unsigned);
        };
        let fingerprint = sig.key.fingerprint();
        let message = self.signed_message()?;
        let signature = ed25519_dalek::Signature::from_bytes(&sig.signature);
        if sig.key.0.verify_strict(&message, &signature).is_err() {
            return Ok(SignatureStatus::Mismatch(fingerprint));
        }
        Ok(if trusted.contains(&sig.key) {
            SignatureStatus::Trusted(fingerprint)
        } else {
            SignatureStatus::Untrusted(fingerprint)
        })
    }

    /// The bundle's bytes with a signature by `key` in the archive comment (replacing any
    /// comment). Every entry is checked first: a bundle whose content does not match its
    /// manifests is never signed.
    ///
    /// # Errors
    /// Any [`BundleError`] from [`Bundle::verify_all`].
    pub fn signed_bytes(&self, key: &SigningKey) -> Result<Vec<u8>, BundleError> {
        self.verify_all()?;
        let message = self.signed_message()?;
        let record = BundleSignature { key: key.public_key(), signature: key.0.sign(&message).to_bytes() }.to_record();
        let head = self.bytes_before_comment()?;
        let mut out = Vec::with_capacity(head.len() + 2 + record.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(&u16::try_from(record.len()).expect("a record is ~160 bytes").to_le_bytes());
        out.extend_from_slice(record.as_bytes());
        Ok(out)
    }
}

/// Why signing a bundle file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The bundle is refused (structure, manifests, or content).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Writing the signed bundle failed (the error names the file).
    #[error(transparent)]
    Write(#[from] FsError),
}

/// Sign the bundle at `path` with `key`, writing the result atomically to `out` (or over
/// `path` when `out` is `None`). Returns the signing key's fingerprint.
///
/// # Errors
/// [`SignError::Bundle`] when the bundle is refused (it is never signed then),
/// [`SignError::Write`] when the output cannot be written.
pub fn sign_bundle(
    path: &Path,
    key: &SigningKey,
    out: Option<&Path>,
    limits: &Limits,
) -> Result<Fingerprint, SignError> {
    let bundle = Bundle::open(path, limits)?;
    let bytes = bundle.signed_bytes(key)?;
    hotpack_util::fs::write_atomic(out.unwrap_or(path), &bytes)?;
    Ok(key.public_key().fingerprint())
}
