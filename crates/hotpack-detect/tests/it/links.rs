//! Directories and links to directories dropped into a watched folder (issue 21: a link to
//! `/` made the watcher walk and hash the whole file system, stalling deploys). A link to a
//! directory that is not itself a root is never followed; with `recursive(false)` a real
//! subdirectory is not walked either. What is measured is the work done (directories read,
//! files hashed), not time.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use hotpack_detect::{ChangeKind, Event, WatchConfig, Watcher};

fn canonical_tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = fs::canonicalize(dir.path()).expect("canonical");
    (dir, path)
}

/// Drops links to `/` and `/usr`, and a real subdirectory with files, into the watched root,
/// then a marker file; returns the changes reported up to the marker's and the work done.
fn drop_in(recursive: bool) -> (Vec<PathBuf>, hotpack_detect::FingerprintStats) {
    let (_dir, root) = canonical_tempdir();
    let watcher = Watcher::new([&root], &WatchConfig::new().quiet(Duration::from_millis(20)).recursive(recursive))
        .expect("watch");
    let before = watcher.stats();
    std::os::unix::fs::symlink("/", root.join("slash")).expect("link to /");
    std::os::unix::fs::symlink("/usr", root.join("usr")).expect("link to /usr");
    fs::create_dir(root.join("sub")).expect("a subdirectory");
    for i in 0..20 {
        fs::write(root.join("sub").join(format!("f{i}")), b"inside").expect("write inside");
    }
    // Let the directory events be handled before the marker.
    std::thread::sleep(Duration::from_millis(300));
    let marker = root.join("marker.zip");
    fs::write(&marker, b"marker").expect("write the marker");
    let mut seen = Vec::new();
    loop {
        match watcher.recv_timeout(Duration::from_secs(30)) {
            Ok(Event::Change(c)) if !matches!(c.kind, ChangeKind::Removed { .. }) => {
                let done = c.path == marker;
                seen.push(c.path);
                if done {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => panic!("no change for the marker: {e:?} (seen {seen:?})"),
        }
    }
    (seen, watcher.stats().since(&before))
}

#[test]
fn links_to_directories_are_never_walked() {
    let (seen, work) = drop_in(true);
    assert!(seen.iter().all(|p| !p.to_string_lossy().contains("/slash/") && !p.to_string_lossy().contains("/usr/")));
    // The root and the real subdirectory, swept once per burst of events each (how many
    // bursts depends on the machine's load): never `/` or `/usr`, which hold tens of
    // thousands of directories and files.
    assert!(work.dirs_read < 200, "{work:?}");
    assert!(work.files_rehashed < 200, "{work:?}");
}

#[test]
fn a_flat_watch_walks_no_directory_below_its_root() {
    let (seen, work) = drop_in(false);
    assert_eq!(seen.len(), 1, "only the marker is reported: {seen:?}");
    assert!(work.files_rehashed <= 2, "only the marker is hashed: {work:?}");
    assert!(work.dirs_read <= 10, "only the root is listed: {work:?}");
}
