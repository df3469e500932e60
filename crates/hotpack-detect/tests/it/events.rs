//! Event-aware detection with real inotify: a writer that is done (rename into
//! place, close after writing) is confirmed without the quiet window; a writer
//! that is not done (file open, partly written) is never confirmed; the change
//! carries the bytes and hash that were confirmed.
//!
//! "Without the quiet window" is shown by behaviour, not timing: the window is
//! set to 10 s (or more) and the change still arrives well before it could end.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hotpack_detect::{Change, ChangeKind, Event, RecvTimeoutError, WatchConfig, Watcher};

use crate::support::pattern;

/// Far longer than any test waits for an event.
const LONG_QUIET: Duration = Duration::from_secs(60);
/// How long an expected event may take (generous: loaded CI machines), and
/// still far below `LONG_QUIET`.
const EXPECT_WITHIN: Duration = Duration::from_secs(10);

fn canonical_tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fs::canonicalize(dir.path()).expect("canonical");
    (dir, path)
}

fn next_change(watcher: &Watcher) -> Change {
    match watcher.recv_timeout(EXPECT_WITHIN) {
        Ok(Event::Change(change)) => change,
        other => panic!("expected a change, got {other:?}"),
    }
}

fn assert_quiet(watcher: &Watcher, for_: Duration) {
    match watcher.recv_timeout(for_) {
        Err(RecvTimeoutError::Timeout) => {}
        other => panic!("expected no event, got {other:?}"),
    }
}

/// The change is a `Changed` of `path` to exactly `bytes`, and carries them.
fn assert_changed_to(change: &Change, path: &Path, bytes: &[u8]) {
    assert_eq!(change.path, path);
    assert!(matches!(change.kind, ChangeKind::Changed { .. }), "{change}");
    assert_eq!(change.hash(), Some(blake3::hash(bytes)));
    assert_eq!(change.content().map(|c| &c[..]), Some(bytes), "the confirmed bytes are handed on");
}

#[test]
fn a_rename_over_is_reported_without_waiting_for_the_quiet_window() {
    let (_live_dir, live) = canonical_tempdir();
    let (_staging_dir, staging) = canonical_tempdir();
    let target = live.join("plugin.so");
    fs::write(&target, b"version 1").expect("write");
    let watcher = Watcher::new([&live], &WatchConfig::new().quiet(LONG_QUIET)).expect("watch");

    let next = pattern(7, 100_000);
    let staged = staging.join("plugin.so.tmp");
    fs::write(&staged, &next).expect("write");
    fs::rename(&staged, &target).expect("rename over");
    assert_changed_to(&next_change(&watcher), &target, &next);

    // The same inside the watched directory, from a hidden temporary (which,
    // closed after writing, may itself be reported as created first).
    let tmp = live.join(".plugin.so.swp");
    fs::write(&tmp, b"version 3").expect("write");
    fs::rename(&tmp, &target).expect("rename over");
    let mut change = next_change(&watcher);
    if change.path == tmp {
        assert_eq!(change.kind.name(), "created");
        change = next_change(&watcher);
    }
    assert_changed_to(&change, &target, b"version 3");
    assert_eq!(change.old_fingerprint().map(|f| f.hash), Some(blake3::hash(&next)));
}

#[test]
fn a_close_after_write_is_reported_without_waiting_for_the_quiet_window() {
    let (_dir, root) = canonical_tempdir();
    let path = root.join("module.zip");
    fs::write(&path, b"v1").expect("write");
    let watcher = Watcher::new([&root], &WatchConfig::new().quiet(LONG_QUIET)).expect("watch");

    fs::write(&path, b"v2, written in place and closed").expect("write");
    assert_changed_to(&next_change(&watcher), &path, b"v2, written in place and closed");

    // A new file written and closed is a creation, also at once.
    let created = root.join("new.so");
    fs::write(&created, b"brand new").expect("write");
    let change = next_change(&watcher);
    assert_eq!(change.path, created);
    assert!(matches!(change.kind, ChangeKind::Created { .. }));
    assert_eq!(change.content().map(|c| &c[..]), Some(&b"brand new"[..]));
}

#[test]
fn a_new_hard_link_is_reported_without_waiting_for_the_quiet_window() {
    let (_dir, root) = canonical_tempdir();
    let (_build_dir, build) = canonical_tempdir();
    let watcher = Watcher::new([&root], &WatchConfig::new().quiet(LONG_QUIET)).expect("watch");
    let built = build.join("libplugin.so");
    fs::write(&built, b"built by cargo").expect("write");
    let linked = root.join("libplugin.so");
    fs::hard_link(&built, &linked).expect("hard link (same file system)");
    let change = next_change(&watcher);
    assert_eq!(change.path, linked);
    assert!(matches!(change.kind, ChangeKind::Created { .. }));
    assert_eq!(change.content().map(|c| &c[..]), Some(&b"built by cargo"[..]));
}

#[test]
fn a_burst_of_writes_through_one_handle_is_one_change() {
    let (_dir, root) = canonical_tempdir();
    let path = root.join("data.bin");
    fs::write(&path, b"v0").expect("write");
    let watcher = Watcher::new([&root], &WatchConfig::new().quiet(Duration::from_millis(20))).expect("watch");

    let mut file = fs::OpenOptions::new().write(true).truncate(true).open(&path).expect("open");
    let mut all = Vec::new();
    for i in 0..10u8 {
        let chunk = pattern(i, 10_000);
        file.write_all(&chunk).expect("write");
        file.flush().expect("flush");
        all.extend_from_slice(&chunk);
        // Longer than the quiet window: only the close says the file is done.
        std::thread::sleep(Duration::from_millis(40));
    }
    drop(file);
    assert_changed_to(&next_change(&watcher), &path, &all);
    assert_quiet(&watcher, Duration::from_millis(500));
}

#[test]
fn a_partial_write_is_never_reported() {
    let (_dir, root) = canonical_tempdir();
    let path = root.join("lib.so");
    fs::write(&path, b"complete v1").expect("write");
    let watcher = Watcher::new([&root], &WatchConfig::new().quiet(Duration::from_millis(20))).expect("watch");

    let full = pattern(3, 200_000);
    let mut file = fs::OpenOptions::new().write(true).truncate(true).open(&path).expect("open");
    file.write_all(&full[..100_000]).expect("write half");
    file.flush().expect("flush");
    // Many quiet windows pass with the file half written and still open.
    assert_quiet(&watcher, Duration::from_secs(1));

    file.write_all(&full[100_000..]).expect("write the rest");
    drop(file);
    let change = next_change(&watcher);
    assert_changed_to(&change, &path, &full);
    assert_eq!(change.old_fingerprint().map(|f| f.hash), Some(blake3::hash(b"complete v1")));
    assert_quiet(&watcher, Duration::from_millis(300));
}

#[test]
fn each_closed_save_is_reported_with_its_content() {
    let (_dir, root) = canonical_tempdir();
    let path = root.join("a.txt");
    fs::write(&path, b"save 0").expect("write");
    let watcher = Watcher::new([&root], &WatchConfig::new().quiet(LONG_QUIET)).expect("watch");
    for i in 1..=5 {
        let save = format!("save {i}");
        fs::write(&path, &save).expect("write");
        assert_changed_to(&next_change(&watcher), &path, save.as_bytes());
    }
}

#[test]
fn content_is_kept_only_up_to_the_limit() {
    let (_dir, root) = canonical_tempdir();
    let (small, big) = (root.join("small"), root.join("big"));
    fs::write(&small, b"s0").expect("write");
    fs::write(&big, b"b0").expect("write");
    let config = WatchConfig::new().quiet(LONG_QUIET).content_limit(1000);
    let watcher = Watcher::new([&root], &config).expect("watch");

    fs::write(&big, pattern(1, 1001)).expect("write");
    let change = next_change(&watcher);
    assert_eq!(change.path, big);
    assert_eq!(change.hash(), Some(blake3::hash(&pattern(1, 1001))));
    assert!(change.content().is_none(), "over the limit: hash only");

    fs::write(&small, pattern(2, 1000)).expect("write");
    assert_changed_to(&next_change(&watcher), &small, &pattern(2, 1000));
}

#[test]
fn a_repointed_symlink_to_a_directory_is_followed() {
    let (_dir, base) = canonical_tempdir();
    let (r1, r2) = (base.join("releases/1"), base.join("releases/2"));
    fs::create_dir_all(&r1).expect("mkdir");
    fs::create_dir_all(&r2).expect("mkdir");
    fs::write(r1.join("plugin.so"), b"release 1").expect("write");
    fs::write(r1.join("same.txt"), b"unchanged").expect("write");
    fs::write(r1.join("old-only.txt"), b"dropped in 2").expect("write");
    let current = base.join("current");
    std::os::unix::fs::symlink("releases/1", &current).expect("symlink");
    let watcher = Watcher::new([&current], &WatchConfig::new().quiet(Duration::from_millis(50))).expect("watch");

    // Release 2, written completely, then the link is atomically repointed.
    fs::write(r2.join("plugin.so"), b"release 2").expect("write");
    fs::write(r2.join("same.txt"), b"unchanged").expect("write");
    fs::write(r2.join("new-only.txt"), b"added in 2").expect("write");
    let tmp = base.join("current.tmp");
    std::os::unix::fs::symlink("releases/2", &tmp).expect("symlink");
    fs::rename(&tmp, &current).expect("repoint");

    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(next_change(&watcher));
    }
    assert_quiet(&watcher, Duration::from_millis(500));
    got.sort_by(|a, b| a.path.cmp(&b.path));
    let names: Vec<(String, &str)> = got
        .iter()
        .map(|c| (c.path.strip_prefix(&current).expect("named through the link").display().to_string(), c.kind.name()))
        .collect();
    assert_eq!(
        names,
        [
            ("new-only.txt".to_string(), "created"),
            ("old-only.txt".to_string(), "removed"),
            ("plugin.so".to_string(), "changed"),
        ]
    );
    assert_changed_to(&got[2], &current.join("plugin.so"), b"release 2");

    // Writes in the new target are seen; the old one is no longer watched.
    fs::write(r1.join("plugin.so"), b"old release, edited").expect("write");
    fs::write(r2.join("plugin.so"), b"release 2, patched").expect("write");
    assert_changed_to(&next_change(&watcher), &current.join("plugin.so"), b"release 2, patched");
    assert_quiet(&watcher, Duration::from_millis(300));
}

/// Waits for the change of a sentinel file written after `act`: everything
/// `act` did was read from the kernel before it, so a change `act` caused
/// would have come first.
fn changes_before_sentinel(dir: &Path, config: &WatchConfig, act: impl FnOnce()) -> Vec<Change> {
    let sentinel = dir.join("sentinel.txt");
    let watcher = Watcher::new([dir], config).expect("watch");
    act();
    fs::write(&sentinel, b"sentinel").expect("write");
    let mut seen = Vec::new();
    loop {
        let change = next_change(&watcher);
        if change.path == sentinel {
            drop(watcher);
            fs::remove_file(&sentinel).expect("remove the sentinel");
            return seen;
        }
        seen.push(change);
    }
}

#[test]
fn temporaries_are_reported_once_the_default_ignore_is_off() {
    let (_dir, dir) = canonical_tempdir();
    let config = WatchConfig::new().ignore_temp_files(false);
    let seen = changes_before_sentinel(&dir, &config, || {
        fs::write(dir.join(".a.txt.swp"), b"swap").expect("write");
    });
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, dir.join(".a.txt.swp"));
    assert!(matches!(seen[0].kind, ChangeKind::Created { .. }));

    let seen = changes_before_sentinel(&dir, &WatchConfig::new(), || {
        fs::write(dir.join(".a.txt.swp"), b"swap again").expect("write");
    });
    assert!(seen.is_empty(), "ignored by default: {seen:?}");
}

#[test]
fn extra_ignore_patterns_hide_matching_names_only() {
    let (_dir, dir) = canonical_tempdir();
    let config = WatchConfig::new().ignore("*.part");
    let seen = changes_before_sentinel(&dir, &config, || {
        fs::write(dir.join("download.part"), b"half").expect("write");
        fs::write(dir.join("download.part.so"), b"whole").expect("write");
    });
    let paths: Vec<&Path> = seen.iter().map(|c| c.path.as_path()).collect();
    assert_eq!(paths, [dir.join("download.part.so")]);
}
