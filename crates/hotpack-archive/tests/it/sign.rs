//! Signed bundles with real ed25519 keys: key files, signing in place and to a new file,
//! every verification outcome, tampering, and standard zip tools still reading the result.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hotpack_archive::{
    Bundle, BundleErrorKind, KeyError, Limits, PublicKey, SignError, SignatureStatus, SigningKey, pack, pack_to_file,
    sign_bundle,
};

use crate::common::{spec, tool};

fn open(path: &Path) -> Bundle {
    Bundle::open(path, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn status(path: &Path, trusted: &[PublicKey]) -> SignatureStatus {
    open(path).check_signature(trusted).unwrap_or_else(|e| panic!("{e}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn key_files_round_trip_and_are_never_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("release-key");
    let key = SigningKey::generate().expect("random key");
    let public_path = key.write_new(&path).expect("write key");
    assert_eq!(public_path, dir.path().join("release-key.pub"));
    assert_eq!(mode(&path), 0o600, "secret key mode");

    let loaded = SigningKey::load(&path).expect("load secret");
    assert_eq!(loaded.public_key(), key.public_key());
    let public = PublicKey::load(&public_path).expect("load public");
    assert_eq!(public, key.public_key());
    let text = std::fs::read_to_string(&public_path).expect("read");
    assert!(text.starts_with("hotpack-ed25519 "), "{text}");
    assert_eq!(PublicKey::from_text(&format!("{} laptop key", text.trim())).expect("comment ignored"), public);
    assert!(!format!("{loaded:?}").contains(&text[16..30]), "Debug shows no key material");

    let other = SigningKey::generate().expect("random key");
    assert_ne!(other.public_key(), key.public_key());
    assert!(matches!(other.write_new(&path), Err(KeyError::Exists { .. })));
    assert_eq!(SigningKey::load(&path).expect("still the first key").public_key(), key.public_key());

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = SigningKey::load(&path).expect_err("readable by others");
    assert!(matches!(err, KeyError::SecretKeyNotPrivate { mode: 0o644, .. }), "{err:?}");

    let err = PublicKey::load(&path).expect_err("a secret key is not a public key");
    assert!(matches!(err, KeyError::Malformed { kind: "public", .. }), "{err:?}");
    assert!(err.to_string().contains("release-key"), "{err}");
}

#[test]
fn every_verification_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("greeter.zip");
    pack_to_file(&spec("greeter", "1.0.0", 10_000), &bundle).expect("pack");
    let key = SigningKey::generate().expect("key");
    let foreign = SigningKey::generate().expect("key");
    let fp = key.public_key().fingerprint();

    assert_eq!(status(&bundle, &[key.public_key()]), SignatureStatus::Unsigned);
    assert_eq!(SignatureStatus::Unsigned.to_string(), "not signed");

    let signed = dir.path().join("signed.zip");
    assert_eq!(sign_bundle(&bundle, &key, Some(&signed), &Limits::default()).expect("sign"), fp);
    assert_eq!(status(&bundle, &[key.public_key()]), SignatureStatus::Unsigned, "-o leaves the input alone");
    assert_eq!(status(&signed, &[key.public_key()]), SignatureStatus::Trusted(fp));
    assert!(status(&signed, &[foreign.public_key(), key.public_key()]).is_trusted());
    let untrusted = status(&signed, &[foreign.public_key()]);
    assert_eq!(untrusted, SignatureStatus::Untrusted(fp));
    assert_eq!(untrusted.to_string(), format!("signed by an untrusted key {fp}"));
    assert_eq!(status(&signed, &[]), SignatureStatus::Untrusted(fp));
    open(&signed).verify_all().expect("a signed bundle is still a valid bundle");

    // In place, and re-signing by another key replaces the record.
    sign_bundle(&bundle, &foreign, None, &Limits::default()).expect("sign in place");
    assert_eq!(status(&bundle, &[foreign.public_key()]), SignatureStatus::Trusted(foreign.public_key().fingerprint()));
    sign_bundle(&bundle, &key, None, &Limits::default()).expect("re-sign");
    assert_eq!(status(&bundle, &[key.public_key()]), SignatureStatus::Trusted(fp));
    assert_eq!(
        std::fs::read(&bundle).expect("read"),
        std::fs::read(&signed).expect("read"),
        "signing is deterministic"
    );
}

#[test]
fn tampering_is_caught() {
    let key = SigningKey::generate().expect("key");
    let trusted = [key.public_key()];
    let fp = key.public_key().fingerprint();
    let original = spec("greeter", "1.0.0", 10_000);
    let signed = Bundle::from_bytes(pack(&original).expect("pack"), "g.zip", &Limits::default())
        .expect("open")
        .signed_bytes(&key)
        .expect("sign");
    let record_len = usize::from(u16::from_le_bytes([signed[signed.len() - 164], signed[signed.len() - 163]]));
    let record = signed[signed.len() - record_len..].to_vec();

    // Another bundle (a changed resource, so a changed manifest) wearing the old signature.
    let mut changed = original.clone();
    changed.resources[0].1.push(b'!');
    let mut forged = pack(&changed).expect("pack");
    let n = forged.len();
    forged[n - 2..].copy_from_slice(&u16::try_from(record.len()).expect("short").to_le_bytes());
    forged.extend_from_slice(&record);
    let bundle = Bundle::from_bytes(forged, "forged.zip", &Limits::default()).expect("structurally fine");
    assert_eq!(bundle.check_signature(&trusted).expect("check"), SignatureStatus::Mismatch(fp));

    // A flipped bit in the signature itself.
    let mut flipped = signed.clone();
    let last = flipped.len() - 10; // well inside the base64 signature
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let bundle = Bundle::from_bytes(flipped, "flipped.zip", &Limits::default()).expect("open");
    assert_eq!(bundle.check_signature(&trusted).expect("check"), SignatureStatus::Mismatch(fp));

    // Changed library bytes under an unchanged manifest: the signature over the manifest
    // still matches, and the entry's blake3 refuses the content.
    let lib_at =
        signed.windows(original.library.len().min(64)).position(|w| w == &original.library[..64]).expect("stored");
    let mut patched = signed.clone();
    patched[lib_at + 10] ^= 0xff;
    let bundle = Bundle::from_bytes(patched, "patched.zip", &Limits::default()).expect("open");
    assert_eq!(bundle.check_signature(&trusted).expect("check"), SignatureStatus::Trusted(fp));
    let err = bundle.verify_all().expect_err("content changed");
    assert!(matches!(err.kind(), BundleErrorKind::CrcMismatch { .. } | BundleErrorKind::HashMismatch { .. }), "{err}");

    // A record that is not one.
    let mut broken = signed[..signed.len() - record_len - 2].to_vec();
    let junk = b"hotpack-signature-v1 ed25519 !!!";
    broken.extend_from_slice(&u16::try_from(junk.len()).expect("short").to_le_bytes());
    broken.extend_from_slice(junk);
    let bundle = Bundle::from_bytes(broken, "broken.zip", &Limits::default()).expect("open");
    let err = bundle.check_signature(&trusted).expect_err("malformed");
    assert!(matches!(err.kind(), BundleErrorKind::BadSignatureRecord { .. }), "{err}");

    // Another tool's comment is not a signature.
    let mut commented = signed[..signed.len() - record_len - 2].to_vec();
    commented.extend_from_slice(&5u16.to_le_bytes());
    commented.extend_from_slice(b"hello");
    let bundle = Bundle::from_bytes(commented, "c.zip", &Limits::default()).expect("open");
    assert_eq!(bundle.check_signature(&trusted).expect("check"), SignatureStatus::Unsigned);
}

#[test]
fn a_corrupt_bundle_is_never_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("g.zip");
    let s = spec("greeter", "1.0.0", 10_000);
    let mut bytes = pack(&s).expect("pack");
    let at = bytes.windows(64).position(|w| w == &s.library[..64]).expect("stored library");
    bytes[at + 5] ^= 1;
    std::fs::write(&path, &bytes).expect("write");
    let key = SigningKey::generate().expect("key");
    let err = sign_bundle(&path, &key, None, &Limits::default()).expect_err("refused");
    assert!(matches!(err, SignError::Bundle(_)), "{err:?}");
    assert_eq!(std::fs::read(&path).expect("read"), bytes, "left untouched");
}

#[test]
fn python_and_unzip_still_read_a_signed_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("greeter.zip");
    pack_to_file(&spec("greeter", "1.0.0", 50_000), &path).expect("pack");
    let key = SigningKey::generate().expect("key");
    sign_bundle(&path, &key, None, &Limits::default()).expect("sign");
    let record = open(&path).signature().expect("parse").expect("signed").to_record();

    let out = tool("unzip").arg("-t").arg(&path).output().expect("run unzip");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("No errors detected"), "{stdout}");
    let out = tool("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             assert z.testzip() is None\n\
             assert z.comment.decode() == sys.argv[2], z.comment\n\
             assert b'greeter' in z.read('hotpack.json')\n\
             print(len(z.infolist()))",
        )
        .arg(&path)
        .arg(&record)
        .output()
        .expect("run python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4");
}
