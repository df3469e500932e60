//! Lazy bundles: opening reads the structure and the manifests only; an entry is checked
//! when it is read (local header before its first byte, size/CRC/blake3 at its end), and
//! streamed through [`Bundle::open_entry`] without being held whole.

use std::io::Read;

use hotpack_archive::{Bundle, BundleError, BundleErrorKind, HeaderField, Limits};

use crate::rawzip::{E, LIB, RES, build, valid};

fn with(f: impl FnOnce(&mut Vec<E>)) -> Vec<u8> {
    let mut entries = valid();
    f(&mut entries);
    build(&entries)
}

fn on_disk(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write bundle");
    (dir, path)
}

#[test]
fn open_entry_streams_the_verified_content() {
    let (_dir, path) = on_disk("ok.zip", &build(&valid()));
    let bundle = Bundle::open(&path, &Limits::default()).expect("opens");
    let mut reader = bundle.open_entry("res.txt").expect("entry");
    assert_eq!(reader.size(), RES.len() as u64);
    // Small reads: the stream is checked at its end, whatever the read sizes.
    let mut out = Vec::new();
    let mut chunk = [0u8; 7];
    loop {
        let n = reader.read(&mut chunk).expect("reads");
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(out, RES);
    let mut lib = Vec::new();
    bundle.open_entry("lib/libg.so").expect("entry").read_to_end(&mut lib).expect("reads");
    assert_eq!(lib, LIB);
    let err = bundle.open_entry("nope.txt").expect_err("no such entry");
    assert!(matches!(err.kind(), BundleErrorKind::NoSuchEntry { .. }), "{err:?}");
}

#[test]
fn a_bad_resource_does_not_stop_the_library_but_fails_its_own_read() {
    // Same length, CRC recomputed: only the manifest's blake3 catches it, at the end of the stream.
    let mut evil = RES.to_vec();
    evil[0] ^= 1;
    let (_dir, path) = on_disk("bad-res.zip", &with(|v| v[2] = E::deflated("res.txt", &evil)));
    let bundle = Bundle::open(&path, &Limits::default()).expect("the structure and manifests are fine");
    assert_eq!(bundle.read("greeter", "lib/libg.so").expect("the library verifies"), LIB);
    let err = bundle.open_entry("res.txt").expect("header is fine").read_to_end(&mut Vec::new()).expect_err("hash");
    let err = err.downcast::<BundleError>().expect("carries the bundle error");
    assert!(matches!(err.kind(), BundleErrorKind::HashMismatch { .. }), "{err:?}");
    assert_eq!(err.entry(), Some("res.txt"));
    let err = bundle.read("greeter", "res.txt").expect_err("hash");
    assert!(matches!(err.kind(), BundleErrorKind::HashMismatch { .. }), "{err:?}");
    assert!(bundle.verify_all().is_err(), "verify_all reads every entry");
}

#[test]
fn a_lying_local_header_is_refused_before_any_byte_is_read() {
    let (_dir, path) = on_disk("lying.zip", &with(|v| v[2].local_crc = Some(v[2].crc ^ 1)));
    let bundle = Bundle::open(&path, &Limits::default()).expect("the central directory is fine");
    let err = bundle.open_entry("res.txt").expect_err("refused at open_entry, not at the end of the stream");
    assert!(matches!(err.kind(), BundleErrorKind::HeaderMismatch { field: HeaderField::Crc32, .. }), "{err:?}");
    assert_eq!(bundle.read("greeter", "lib/libg.so").expect("other entries still read"), LIB);
}

#[test]
fn an_overlap_only_the_local_headers_show_is_refused_at_read() {
    // Both headers agree on a size that runs the data into the central directory.
    let (_dir, path) = on_disk(
        "into-cd.zip",
        &with(|v| {
            v[2].csize += 20;
            v[2].usize += 20;
            v[2].local_csize = Some(v[2].csize);
            v[2].local_usize = Some(v[2].usize);
        }),
    );
    let err = match Bundle::open(&path, &Limits::default()) {
        Err(e) => e,
        Ok(b) => b.open_entry("res.txt").expect_err("overlap"),
    };
    assert!(matches!(err.kind(), BundleErrorKind::Overlap { .. }), "{err:?}");
}
