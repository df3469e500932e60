//! The three refusals of `docs/FORMAT.md` the hostile corpus once showed the reader
//! skipping: data before the first local header, a key twice in one object of the
//! manifest (at any depth), and bytes after the end of a deflate stream. One test per rule,
//! each through the public API and each expecting its own typed error.

use hotpack_archive::{Bundle, BundleErrorKind, Limits, ManifestError, SignatureStatus, SigningKey};

use crate::rawzip::{E, LIB, RES, build, manifest_json, valid};

/// `bytes` with `prefix` in front, every offset (central records and the end record's
/// central-directory offset) moved by its length: a consistent zip with a prefix, as
/// `zip -A` writes a self-extractor.
pub fn with_prefix(bytes: &[u8], prefix: &[u8]) -> Vec<u8> {
    let n = u32::try_from(prefix.len()).expect("small prefix");
    let eocd = bytes.windows(4).rposition(|w| w == b"PK\x05\x06").expect("an end record");
    let le32 = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let le16 = |b: &[u8], at: usize| usize::from(u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes")));
    let mut out = bytes.to_vec();
    let count = le16(bytes, eocd + 10);
    let cd = le32(bytes, eocd + 16) as usize;
    out[eocd + 16..eocd + 20].copy_from_slice(&(cd as u32 + n).to_le_bytes());
    let mut at = cd;
    for _ in 0..count {
        assert_eq!(&bytes[at..at + 4], b"PK\x01\x02");
        let off = le32(bytes, at + 42);
        out[at + 42..at + 46].copy_from_slice(&(off + n).to_le_bytes());
        at += 46 + le16(bytes, at + 28) + le16(bytes, at + 30) + le16(bytes, at + 32);
    }
    let mut prefixed = prefix.to_vec();
    prefixed.extend_from_slice(&out);
    prefixed
}

#[test]
fn data_before_the_first_local_header_is_refused() {
    let ok = build(&valid());
    Bundle::from_bytes(ok.clone(), "ok.zip", &Limits::default()).expect("the baseline opens");
    let err = Bundle::from_bytes(with_prefix(&ok, b"#!/bin/sh\nexit 0\n"), "prefix.zip", &Limits::default())
        .expect_err("a prefix is refused");
    assert!(matches!(err.kind(), BundleErrorKind::PrefixData { bytes: 17 }), "{err:?}");
    assert!(err.to_string().contains("prefix.zip"), "{err}");

    // The case that mattered: a signed bundle with a prefix no longer opens, let alone
    // verifies as signed (the prefix is covered by no signature).
    let key = SigningKey::from_seed(&[7; 32]);
    let signed =
        Bundle::from_bytes(ok, "ok.zip", &Limits::default()).expect("opens").signed_bytes(&key).expect("signs");
    let trusted = [key.public_key()];
    let status = Bundle::from_bytes(signed.clone(), "signed.zip", &Limits::default())
        .expect("opens")
        .check_signature(&trusted)
        .expect("checks");
    assert!(matches!(status, SignatureStatus::Trusted(_)), "{status:?}");
    let err = Bundle::from_bytes(with_prefix(&signed, &[0u8; 4096]), "signed-prefix.zip", &Limits::default())
        .expect_err("a prefixed signed bundle is refused");
    assert!(matches!(err.kind(), BundleErrorKind::PrefixData { bytes: 4096 }), "{err:?}");
}

/// The valid manifest's JSON text with `f` applied to it (text edits: a JSON value
/// cannot hold a key twice).
fn manifest_text(f: impl FnOnce(String) -> String) -> Vec<u8> {
    let json = manifest_json("greeter", &[("lib/libg.so", LIB), ("res.txt", RES)]);
    let text = String::from_utf8(json).expect("utf-8");
    let edited = f(text.clone());
    assert_ne!(edited, text, "the edit applied");
    edited.into_bytes()
}

fn open_with_manifest(json: &[u8]) -> Result<Bundle, hotpack_archive::BundleError> {
    let mut entries = valid();
    entries[0] = E::stored("hotpack.json", json);
    Bundle::from_bytes(build(&entries), "dup.zip", &Limits::default())
}

#[test]
fn a_key_twice_in_any_object_of_the_manifest_is_refused() {
    let target = crate::common::TARGET;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "libraries",
            manifest_text(|t| {
                t.replace(
                    &format!("\"libraries\":{{\"{target}\":\"lib/libg.so\"}}"),
                    &format!("\"libraries\":{{\"{target}\":\"res.txt\",\"{target}\":\"lib/libg.so\"}}"),
                )
            }),
            target,
        ),
        (
            "top level",
            manifest_text(|t| t.replacen("\"abi_version\":1,", "\"abi_version\":1,\"abi_version\":1,", 1)),
            "abi_version",
        ),
        ("hooks", manifest_text(|t| t.replace("\"init\":true", "\"init\":false,\"init\":true")), "init"),
        (
            "interface",
            manifest_text(|t| t.replace("\"name\":\"Greeter\"", "\"name\":\"G\",\"name\":\"Greeter\"")),
            "name",
        ),
        (
            "entries",
            manifest_text(|t| {
                let start = t.find("\"res.txt\":{").expect("res.txt entry");
                let end = start + t[start..].find('}').expect("closes") + 1;
                let entry = t[start..end].to_owned();
                format!("{}{entry},{}", &t[..start], &t[start..])
            }),
            "res.txt",
        ),
        ("entry digest", manifest_text(|t| t.replacen("{\"size\":", "{\"size\":1,\"size\":", 1)), "size"),
    ];
    for (case, json, key) in cases {
        let err = hotpack_archive::Manifest::from_json(&json).expect_err(case);
        assert!(matches!(&err, ManifestError::DuplicateKey { key: k, .. } if k == key), "{case}: {err:?}");
        let err = open_with_manifest(&json).expect_err(case);
        assert!(matches!(err.kind(), BundleErrorKind::Manifest(ManifestError::DuplicateKey { .. })), "{case}: {err:?}");
    }
}

#[test]
fn bytes_after_the_end_of_a_deflate_stream_are_refused() {
    // Garbage after the final block, counted in the compressed size.
    let mut entries = valid();
    entries[2].data.extend_from_slice(b"trailing garbage");
    entries[2].csize = entries[2].data.len() as u32;
    let bundle =
        Bundle::from_bytes(build(&entries), "trailing.zip", &Limits::default()).expect("the structure is fine");
    let err = bundle.read("greeter", "res.txt").expect_err("trailing bytes");
    assert!(matches!(err.kind(), BundleErrorKind::TrailingData { bytes: 16 }), "{err:?}");
    let err = bundle.verify_all().expect_err("trailing bytes");
    assert!(matches!(err.kind(), BundleErrorKind::TrailingData { bytes: 16 }), "{err:?}");

    // A second complete stream after the first is trailing data too.
    let mut entries = valid();
    let again = entries[2].data.clone();
    entries[2].data.extend_from_slice(&again);
    entries[2].csize = entries[2].data.len() as u32;
    let bundle = Bundle::from_bytes(build(&entries), "two-streams.zip", &Limits::default()).expect("structure");
    let err = bundle.verify_all().expect_err("a second stream");
    assert!(matches!(err.kind(), BundleErrorKind::TrailingData { .. }), "{err:?}");

    // A stream cut before its final block: the content is all there (a stored block
    // holding every byte, without the final-block flag), but the stream never ends.
    let mut entries = valid();
    let mut cut = Vec::new();
    cut.push(0x00); // not final, stored
    cut.extend_from_slice(&(RES.len() as u16).to_le_bytes());
    cut.extend_from_slice(&(!(RES.len() as u16)).to_le_bytes());
    cut.extend_from_slice(RES);
    entries[2].data = cut;
    entries[2].csize = entries[2].data.len() as u32;
    let bundle = Bundle::from_bytes(build(&entries), "cut.zip", &Limits::default()).expect("structure");
    let err = bundle.verify_all().expect_err("a stream without its final block");
    assert!(matches!(err.kind(), BundleErrorKind::Corrupt { .. }), "{err:?}");
}

/// Found by the `bundle` fuzz target (kept as `fuzz/corpus/bundle/69faa3cd...`): an archive
/// comment holding an end-record signature. hotpack took the end record whose comment
/// length reaches the end of the file; python's zipfile takes the last signature in the
/// file, so the two read different archives (python: "not a zip file"). Refused now.
#[test]
fn an_end_record_signature_inside_the_archive_comment_is_refused() {
    let ok = build(&valid());
    for comment in [&b"PK\x05\x06"[..], b"release PK\x05\x06=", &[b'x'; 40][..]] {
        let mut bytes = ok[..ok.len() - 2].to_vec();
        bytes.extend_from_slice(&(comment.len() as u16).to_le_bytes());
        bytes.extend_from_slice(comment);
        let result = Bundle::from_bytes(bytes, "comment.zip", &Limits::default());
        if comment.windows(4).any(|w| w == b"PK\x05\x06") {
            let err = result.expect_err("an end-record signature in the comment");
            assert!(matches!(err.kind(), BundleErrorKind::Malformed { .. }), "{err:?}");
        } else {
            result.expect("a plain comment is fine");
        }
    }
}

/// Found by the python check over the kept fuzz corpus: an entry whose "version needed to
/// extract" is 24.1. hotpack read it; python's zipfile refuses anything over 6.3.
#[test]
fn a_version_needed_to_extract_over_6_3_is_refused() {
    let ok = build(&valid());
    let cd = u32::from_le_bytes(ok[ok.len() - 6..ok.len() - 2].try_into().expect("4 bytes")) as usize;
    for (version, accepted) in [(20u8, true), (45, true), (63, true), (64, false), (241, false)] {
        let mut bytes = ok.clone();
        bytes[cd + 6] = version; // the first central record's version needed to extract
        let result = Bundle::from_bytes(bytes, "version.zip", &Limits::default());
        match result {
            Ok(_) => assert!(accepted, "version {version} accepted"),
            Err(err) => {
                assert!(!accepted, "version {version}: {err}");
                assert!(matches!(err.kind(), BundleErrorKind::Malformed { .. }), "{err:?}");
            }
        }
    }
}
