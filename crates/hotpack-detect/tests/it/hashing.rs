//! `hash_file`: right hashes at every size, typed errors, never a torn hash.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hotpack_detect::{DetectError, FileHasher, hash_file};

use crate::support::pattern;

#[test]
fn hashes_match_blake3_at_buffer_boundaries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut hasher = FileHasher::new();
    for len in [0, 1, 4095, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 << 20] {
        let bytes = pattern(len as u8, len);
        let path = dir.path().join(format!("f{len}"));
        fs::write(&path, &bytes).expect("write");
        let fp = hash_file(&path).expect("hash");
        assert_eq!(fp.hash, blake3::hash(&bytes), "len {len}");
        assert_eq!(fp.size, len as u64);
        assert_eq!(fp.hex(), blake3::hash(&bytes).to_hex().as_str());
        assert_eq!(hasher.hash_file(&path).expect("hash").hash, fp.hash);
    }
}

#[test]
fn missing_file_directory_and_fifo_are_typed_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    match hash_file(&missing) {
        Err(DetectError::Io { path, op, source }) => {
            assert_eq!(path, missing);
            assert_eq!(op, "stat");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Io error, got {other:?}"),
    }
    assert!(matches!(hash_file(dir.path()), Err(DetectError::NotAFile { .. })));
    // A FIFO must be refused without opening it (opening would block).
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        assert!(matches!(hash_file(&fifo), Err(DetectError::NotAFile { .. })));
    }
}

/// A file rewritten continuously (two 4 MiB contents alternating, each
/// write truncating first) while it is hashed: every hash returned is the
/// hash of a state the file really had at rest (a prefix of one content: the
/// writer's `write` calls may leave it half-written for a moment, which is
/// what quiet windows are for), the rest are `ChangedWhileHashing`. Never a
/// mix of two contents.
#[test]
fn concurrent_rewrites_never_give_a_torn_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("busy.bin");
    let a = pattern(1, 4 << 20);
    let b = pattern(2, 4 << 20);
    fs::write(&path, &a).expect("write");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (path, stop) = (path.clone(), Arc::clone(&stop));
        let (a, b) = (a.clone(), b.clone());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let bytes = if n.is_multiple_of(2) { &b } else { &a };
                fs::write(&path, bytes).expect("rewrite");
                n += 1;
            }
            n
        })
    };
    let (mut ok, mut changed) = (0, 0);
    for _ in 0..200 {
        match hash_file(&path) {
            Ok(fp) => {
                let n = fp.size as usize;
                assert!(fp.hash == blake3::hash(&a[..n]) || fp.hash == blake3::hash(&b[..n]), "torn hash {fp:?}");
                ok += 1;
            }
            Err(DetectError::ChangedWhileHashing { path: p }) => {
                assert_eq!(p, path);
                changed += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().expect("writer thread");
    assert!(writes > 0);
    assert_eq!(ok + changed, 200);
}

#[test]
fn hash_and_keep_returns_the_bytes_it_hashed_up_to_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lib.so");
    let bytes = pattern(9, 300_000);
    fs::write(&path, &bytes).expect("write");
    let mut hasher = FileHasher::new();
    let (fp, kept) = hasher.hash_and_keep(&path, 300_000).expect("hashes");
    assert_eq!(fp.hash, blake3::hash(&bytes));
    assert_eq!(kept.as_deref(), Some(&bytes[..]));
    let (fp, kept) = hasher.hash_and_keep(&path, 299_999).expect("hashes");
    assert_eq!(fp.hash, blake3::hash(&bytes));
    assert!(kept.is_none(), "over the limit: hash only");
}

#[test]
fn big_files_hash_the_same_mapped_on_all_cores_or_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.bin");
    let bytes = pattern(5, 65 << 20); // over the 64 MiB map threshold
    fs::write(&path, &bytes).expect("write");
    let expected = blake3::hash(&bytes);
    let mapped = FileHasher::new().hash_file(&path).expect("hashes");
    let read = FileHasher::new().with_mmap(false).hash_file(&path).expect("hashes");
    assert_eq!(mapped.hash, expected);
    assert_eq!(read.hash, expected);
    assert_eq!(mapped.size, 65 << 20);
}
