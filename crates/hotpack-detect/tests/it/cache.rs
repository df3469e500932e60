//! `FingerprintCache` and `scan_tree`: only files whose metadata moved are rehashed.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use hotpack_detect::{ChangeKind, FingerprintCache};

use crate::support::{age, pattern};

const HOUR: Duration = Duration::from_secs(3600);

/// 10 directories of 100 files, all with an mtime an hour old.
fn thousand_file_tree(root: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for d in 0..10 {
        let dir = root.join(format!("d{d}"));
        fs::create_dir(&dir).expect("mkdir");
        for f in 0..100 {
            let path = dir.join(format!("f{f}.txt"));
            fs::write(&path, format!("file {d}/{f}")).expect("write");
            age(&path, HOUR);
            files.push(path);
        }
    }
    files
}

#[test]
fn one_changed_file_in_a_thousand_is_the_only_one_rehashed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = thousand_file_tree(dir.path());
    let mut cache = FingerprintCache::new();

    let first = cache.scan_tree(dir.path()).expect("scan");
    assert_eq!(first.files.len(), 1000);
    assert!(first.is_complete());
    let s1 = cache.stats();
    assert_eq!(s1.files_rehashed, 1000);

    // Unchanged rescan: stat calls and directory listings only.
    let again = cache.scan_tree(dir.path()).expect("rescan");
    let s2 = cache.stats();
    let d = s2.since(&s1);
    assert_eq!(d.files_rehashed, 0);
    assert_eq!(d.bytes_hashed, 0);
    assert_eq!(d.stat_calls, 1001, "root + one per file");
    assert_eq!(d.dirs_read, 11);
    assert_eq!(again.hash(), first.hash());

    // One real change.
    let target = &files[537];
    let new_bytes = pattern(9, 100);
    fs::write(target, &new_bytes).expect("rewrite");
    let third = cache.scan_tree(dir.path()).expect("rescan");
    let d = cache.stats().since(&s2);
    assert_eq!(d.files_rehashed, 1);
    assert_eq!(d.bytes_hashed, 100);
    assert_eq!(third.files[target].hash, blake3::hash(&new_bytes));
    assert_ne!(third.hash(), first.hash());

    let changes = third.changes_since(&first);
    assert_eq!(changes.len(), 1);
    assert_eq!(&changes[0].path, target);
    assert!(matches!(changes[0].kind, ChangeKind::Changed { old, new }
        if old.hash == first.files[target].hash && new.hash == blake3::hash(&new_bytes)));
}

#[test]
fn touch_rehashes_but_keeps_the_hash_and_removal_is_seen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    fs::write(&a, b"same").expect("write");
    fs::write(&b, b"gone soon").expect("write");
    age(&a, HOUR);
    age(&b, HOUR);
    let mut cache = FingerprintCache::new();
    let before = cache.scan_tree(dir.path()).expect("scan");
    let s = cache.stats();

    age(&a, 2 * HOUR); // metadata moves, content does not
    fs::remove_file(&b).expect("rm");
    let after = cache.scan_tree(dir.path()).expect("rescan");
    assert_eq!(cache.stats().since(&s).files_rehashed, 1);
    assert_eq!(after.files[&a].hash, before.files[&a].hash);
    let changes = after.changes_since(&before);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].path, b);
    assert!(matches!(changes[0].kind, ChangeKind::Removed { .. }));
    assert!(cache.get(&b).is_none(), "entries of vanished files are dropped");
}

/// A file modified just before it was hashed is not trusted on metadata
/// alone (a same-size write in the same timestamp tick would look identical).
#[test]
fn recently_modified_files_are_rehashed_until_old_enough() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a");
    fs::write(&a, b"fresh").expect("write");
    let mut cache = FingerprintCache::new();
    cache.fingerprint(&a).expect("fp");
    cache.fingerprint(&a).expect("fp");
    assert_eq!(cache.stats().files_rehashed, 2, "racy entry rehashed");

    let mut trusting = FingerprintCache::new().with_racy_window(Duration::ZERO);
    trusting.fingerprint(&a).expect("fp");
    trusting.fingerprint(&a).expect("fp");
    assert_eq!(trusting.stats().files_rehashed, 1);
    assert_eq!(trusting.stats().stat_calls, 2);
}

#[test]
fn scan_of_a_missing_root_is_an_error_with_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let err = FingerprintCache::new().scan_tree(&missing).expect_err("missing root");
    assert_eq!(err.path(), Some(missing.as_path()));
}
