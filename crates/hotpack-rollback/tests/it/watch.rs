//! The policy's version cap and the one watch-to-deploy loop, on a loader of their own (the
//! cap counts what one loader mapped).

use super::*;
use hotpack_rollback::WatchReport;
use std::sync::mpsc;
use std::time::Duration;

/// A supervisor on a loader of its own, so what is mapped is what this test mapped.
fn fresh(dir: &Path, policy: Policy) -> Supervisor {
    let loader = Loader::new(dir.join("cache")).expect("loader");
    Supervisor::new(Cache::new(loader, hotpack_archive::SearchPath::new()), policy)
}

#[test]
fn past_the_version_cap_a_new_version_is_refused_before_it_is_loaded() {
    let dir = hotpack_testkit::scratch();
    let sup = fresh(dir.path(), Policy { max_versions: Some(1), ..Policy::default() });
    let v1 = bundle_of(dir.path(), "greeter-v1");
    sup.deploy_bundle(&v1).expect("v1 deploys: nothing is mapped yet");
    assert_eq!(sup.cache().mapped().libraries, 1);

    let v2 = bundle_of(dir.path(), "greeter-v2");
    match sup.deploy_path(&v2) {
        Err(RollbackError::OverVersionCap { name, mapped: 1, cap: 1, .. }) => assert_eq!(name, "greeter"),
        other => panic!("expected the cap's refusal, got {other:?}"),
    }
    assert_eq!(sup.cache().mapped().libraries, 1, "the refused version was never loaded");
    assert_eq!(answer(&sup.cache()), "1", "v1 keeps serving");
    let status = sup.status("greeter").expect("status");
    assert!(status.failed.is_empty(), "not marked failed: a restart takes it");
    assert!(status.last_error.is_some_and(|e| e.contains("cap")));
    assert!(matches!(sup.history("greeter").pop().map(|r| r.happened), Some(Happened::Refused { .. })));

    // A plain library is refused the same way, before it is loaded.
    let lib = dir.path().join("libgreeter.so");
    std::fs::write(&lib, hotpack_testkit::module_bytes("greeter-v2")).expect("write");
    assert!(matches!(sup.deploy_path(&lib), Err(RollbackError::OverVersionCap { version: None, .. })));
    // What is mapped already never counts.
    assert_eq!(sup.deploy_path(&v1).expect("v1 again")[0].outcome, Happened::Unchanged);
}

#[test]
fn the_watch_loop_deploys_confirmed_changes_and_reports_refusals() {
    let dir = hotpack_testkit::scratch();
    let folder = dir.path().join("plugins");
    std::fs::create_dir(&folder).expect("mkdir");
    let sup = fresh(dir.path(), Policy::default());
    // Deployed at start, in name order.
    std::fs::copy(bundle_of(dir.path(), "greeter-v1"), folder.join("a-greeter.zip")).expect("copy");
    std::fs::write(folder.join("b-junk.so"), b"not a library").expect("write");
    std::fs::write(folder.join("notes.txt"), b"ignored").expect("write");
    let at_start = sup.deploy_all(std::slice::from_ref(&folder));
    assert_eq!(at_start.len(), 2, "{at_start:?}");
    assert!(matches!(&at_start[0], WatchReport::Deployed { path, .. } if path.ends_with("a-greeter.zip")));
    assert!(matches!(&at_start[1], WatchReport::Refused { path, .. } if path.ends_with("b-junk.so")));

    let (tx, rx) = mpsc::channel();
    let config = hotpack_detect::WatchConfig::new().quiet(Duration::from_millis(20));
    let watching = sup
        .watch(std::slice::from_ref(&folder), &config, move |r| {
            let _ = tx.send(r);
        })
        .expect("watch");
    let next = || loop {
        match rx.recv_timeout(Duration::from_secs(30)).expect("a deploy outcome") {
            WatchReport::Watch(_) => {}
            other => break other,
        }
    };
    hotpack_archive::write_atomic(
        &folder.join("a-greeter.zip"),
        &std::fs::read(bundle_of(dir.path(), "greeter-v2")).expect("read"),
    )
    .expect("replace");
    let report = next();
    assert!(matches!(&report, WatchReport::Deployed { deployed, .. } if deployed[0].version.major == 2), "{report}");
    assert_eq!(answer(&sup.cache()), "2");
    hotpack_archive::write_atomic(&folder.join("a-greeter.zip"), b"PK but not a bundle").expect("break it");
    let report = next();
    assert!(matches!(&report, WatchReport::Refused { .. }), "{report}");
    assert_eq!(answer(&sup.cache()), "2", "v2 keeps serving");
    drop(watching);
}

#[test]
fn a_fifo_a_device_or_a_directory_with_a_library_name_neither_hangs_nor_grows_a_deploy() {
    let dir = hotpack_testkit::scratch();
    let sup = fresh(dir.path(), Policy::default());
    let folder = dir.path().join("served");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::copy(hotpack_testkit::module("greeter-v1"), folder.join("libgreeter.so")).expect("copy");
    let fifo = folder.join("libfifo.so");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", folder.join("libzero.so")).expect("symlink");
    std::fs::create_dir(folder.join("libdir.so")).expect("mkdir");

    // Only the regular file is taken (a FIFO would block the open, /dev/zero never ends).
    let reports = sup.deploy_all(std::slice::from_ref(&folder));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(matches!(&reports[0], WatchReport::Deployed { .. }), "{reports:?}");
    assert_eq!(answer(&sup.cache()), "1");

    // Named directly, each is refused with the reason, before anything is read.
    for odd in [fifo, folder.join("libzero.so"), folder.join("libdir.so")] {
        let err = sup.deploy_file(&odd).expect_err("refused");
        assert!(err.to_string().contains("not a regular file"), "{}: {err}", odd.display());
    }
    assert_eq!(answer(&sup.cache()), "1", "v1 keeps serving");
}
