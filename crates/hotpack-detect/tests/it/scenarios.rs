//! The watcher and the poller against the same table of scenarios: real
//! files, real inotify, real threads. Each scenario says what exists before
//! watching starts, what is watched (the directory or one file in it), what
//! is done, and exactly which confirmed changes must follow. "No further
//! event" is checked by waiting a bounded time (quiet window + 300 ms, plus
//! two poll intervals for the poller).

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use hotpack_detect::{Change, ChangeKind, Detector, Event, RecvTimeoutError, WatchConfig};

use crate::support::{age, pattern};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Notify,
    Poll,
}

const POLL: Duration = Duration::from_millis(25);
/// How long an expected event may take (generous: loaded CI machines).
const EXPECT_WITHIN: Duration = Duration::from_secs(10);

fn config(backend: Backend, quiet: Duration) -> WatchConfig {
    let config = WatchConfig::new().quiet(quiet);
    match backend {
        Backend::Notify => config,
        Backend::Poll => config.poll_every(POLL),
    }
}

fn settle_time(backend: Backend, quiet: Duration) -> Duration {
    let base = quiet + Duration::from_millis(300);
    match backend {
        Backend::Notify => base,
        Backend::Poll => base + 2 * POLL,
    }
}

/// The two directories a scenario works in.
struct Ctx {
    /// The watched directory (canonical).
    a: PathBuf,
    /// Another directory on the same file system, not watched.
    b: PathBuf,
}

enum Watch {
    Dir,
    File(&'static str),
}

struct Scenario {
    name: &'static str,
    quiet_ms: u64,
    files: &'static [(&'static str, &'static [u8])],
    watch: Watch,
    /// Does the thing; returns false if its timing precondition did not
    /// hold (the machine stalled), which relaxes the check to "the last
    /// event carries the final content".
    act: fn(&Ctx) -> bool,
    /// (kind, path relative to the watched dir, new content or None).
    expect: &'static [(&'static str, &'static str, Option<&'static [u8]>)],
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "touch without content change",
            quiet_ms: 50,
            files: &[("a.txt", b"hello")],
            watch: Watch::Dir,
            act: |c| {
                age(&c.a.join("a.txt"), Duration::from_secs(7200));
                true
            },
            expect: &[],
        },
        Scenario {
            name: "touch a watched file",
            quiet_ms: 50,
            files: &[("a.txt", b"hello")],
            watch: Watch::File("a.txt"),
            act: |c| {
                age(&c.a.join("a.txt"), Duration::from_secs(60));
                true
            },
            expect: &[],
        },
        Scenario {
            name: "rewrite the same bytes",
            quiet_ms: 50,
            files: &[("a.txt", b"hello")],
            watch: Watch::Dir,
            act: |c| {
                fs::write(c.a.join("a.txt"), b"hello").expect("write");
                true
            },
            expect: &[],
        },
        Scenario {
            name: "real change, same size",
            quiet_ms: 50,
            files: &[("a.txt", b"hello")],
            watch: Watch::Dir,
            act: |c| {
                fs::write(c.a.join("a.txt"), b"world").expect("write");
                true
            },
            expect: &[("changed", "a.txt", Some(b"world"))],
        },
        Scenario {
            name: "real change of a watched file",
            quiet_ms: 50,
            files: &[("a.txt", b"hello"), ("b.txt", b"other")],
            watch: Watch::File("a.txt"),
            act: |c| {
                fs::write(c.a.join("a.txt"), b"hello, world").expect("write");
                true
            },
            expect: &[("changed", "a.txt", Some(b"hello, world"))],
        },
        Scenario {
            name: "real change with a zero quiet window",
            quiet_ms: 0,
            files: &[("a.txt", b"hello")],
            watch: Watch::Dir,
            act: |c| {
                fs::write(c.a.join("a.txt"), b"zero").expect("write");
                true
            },
            expect: &[("changed", "a.txt", Some(b"zero"))],
        },
        Scenario {
            name: "siblings of a watched file are ignored",
            quiet_ms: 50,
            files: &[("a.txt", b"hello"), ("b.txt", b"other")],
            watch: Watch::File("a.txt"),
            act: |c| {
                fs::write(c.a.join("b.txt"), b"changed sibling").expect("write");
                fs::write(c.a.join("new.txt"), b"new sibling").expect("write");
                true
            },
            expect: &[],
        },
        Scenario {
            name: "rename-over from another directory",
            quiet_ms: 50,
            files: &[("a.txt", b"v1")],
            watch: Watch::Dir,
            act: |c| {
                let tmp = c.b.join("a.txt.new");
                fs::write(&tmp, b"v2 from elsewhere").expect("write");
                fs::rename(&tmp, c.a.join("a.txt")).expect("rename");
                true
            },
            expect: &[("changed", "a.txt", Some(b"v2 from elsewhere"))],
        },
        Scenario {
            name: "rename-over a watched file from another directory",
            quiet_ms: 50,
            files: &[("a.txt", b"v1")],
            watch: Watch::File("a.txt"),
            act: |c| {
                let tmp = c.b.join("a.txt.new");
                fs::write(&tmp, b"v2 from elsewhere").expect("write");
                fs::rename(&tmp, c.a.join("a.txt")).expect("rename");
                true
            },
            expect: &[("changed", "a.txt", Some(b"v2 from elsewhere"))],
        },
        Scenario {
            name: "editor save: temp file renamed over in the same directory",
            quiet_ms: 50,
            files: &[("a.txt", b"v1")],
            watch: Watch::Dir,
            act: |c| {
                let tmp = c.a.join(".a.txt.swp");
                fs::write(&tmp, b"v2 saved").expect("write");
                fs::rename(&tmp, c.a.join("a.txt")).expect("rename");
                true
            },
            expect: &[("changed", "a.txt", Some(b"v2 saved"))],
        },
        Scenario {
            // vim's `:w` with backupcopy=yes: probe file, swap and lock
            // files, a backup copy, the file rewritten in place, the backup
            // removed. Only the rewrite is content.
            name: "editor temporaries beside a save are ignored",
            quiet_ms: 50,
            files: &[("a.txt", b"v1")],
            watch: Watch::Dir,
            act: |c| {
                fs::write(c.a.join("4913"), b"").expect("write");
                fs::remove_file(c.a.join("4913")).expect("remove");
                fs::write(c.a.join(".a.txt.swp"), b"swap").expect("write");
                fs::write(c.a.join(".#a.txt"), b"lock").expect("write");
                fs::copy(c.a.join("a.txt"), c.a.join("a.txt~")).expect("backup");
                fs::write(c.a.join("a.txt"), b"v2 by vim").expect("write");
                fs::remove_file(c.a.join("a.txt~")).expect("remove");
                fs::write(c.a.join(".a.txt.swp"), b"swap again").expect("write");
                true
            },
            expect: &[("changed", "a.txt", Some(b"v2 by vim"))],
        },
        Scenario {
            name: "atomic save through a hotpack temporary",
            quiet_ms: 50,
            files: &[("m.so", b"v1")],
            watch: Watch::Dir,
            act: |c| {
                let tmp = c.a.join(".m.so.hotpack-tmp-42-0-1");
                fs::write(&tmp, b"v2 atomically").expect("write");
                fs::rename(&tmp, c.a.join("m.so")).expect("rename");
                true
            },
            expect: &[("changed", "m.so", Some(b"v2 atomically"))],
        },
        Scenario {
            name: "a watched file with a temporary name is never ignored",
            quiet_ms: 50,
            files: &[(".a.txt.swp", b"swap v1")],
            watch: Watch::File(".a.txt.swp"),
            act: |c| {
                fs::write(c.a.join(".a.txt.swp"), b"swap v2").expect("write");
                true
            },
            expect: &[("changed", ".a.txt.swp", Some(b"swap v2"))],
        },
        Scenario {
            // One open handle: the file is closed only after the last write
            // (separately closed saves are each complete, see tests/it/events.rs).
            name: "ten in-place rewrites 20 ms apart through one handle, 50 ms quiet window",
            quiet_ms: 50,
            files: &[("a.txt", b"v0")],
            watch: Watch::Dir,
            act: |c| {
                let path = c.a.join("a.txt");
                let mut file = fs::OpenOptions::new().write(true).open(&path).expect("open");
                let mut last = Instant::now();
                let mut held = true;
                for i in 1..=10 {
                    thread::sleep(Duration::from_millis(20));
                    file.set_len(0).expect("truncate");
                    file.seek(SeekFrom::Start(0)).expect("seek");
                    file.write_all(format!("write {i}").as_bytes()).expect("write");
                    // The scenario assumes gaps shorter than the window.
                    held &= last.elapsed() < Duration::from_millis(45);
                    last = Instant::now();
                }
                held
            },
            expect: &[("changed", "a.txt", Some(b"write 10"))],
        },
        Scenario {
            name: "delete",
            quiet_ms: 50,
            files: &[("a.txt", b"doomed"), ("keep.txt", b"stays")],
            watch: Watch::Dir,
            act: |c| {
                fs::remove_file(c.a.join("a.txt")).expect("rm");
                true
            },
            expect: &[("removed", "a.txt", None)],
        },
        Scenario {
            name: "delete a watched file",
            quiet_ms: 50,
            files: &[("a.txt", b"doomed")],
            watch: Watch::File("a.txt"),
            act: |c| {
                fs::remove_file(c.a.join("a.txt")).expect("rm");
                true
            },
            expect: &[("removed", "a.txt", None)],
        },
        Scenario {
            name: "create",
            quiet_ms: 50,
            files: &[("a.txt", b"old")],
            watch: Watch::Dir,
            act: |c| write_new(&c.a.join("b.txt"), b"brand new"),
            expect: &[("created", "b.txt", Some(b"brand new"))],
        },
        Scenario {
            name: "create inside a new subdirectory",
            quiet_ms: 50,
            files: &[],
            watch: Watch::Dir,
            act: |c| {
                let sub = c.a.join("sub").join("deeper");
                fs::create_dir_all(&sub).expect("mkdir");
                write_new(&sub.join("c.txt"), b"nested")
            },
            expect: &[("created", "sub/deeper/c.txt", Some(b"nested"))],
        },
        Scenario {
            name: "rename inside the watched tree",
            quiet_ms: 50,
            files: &[("a.txt", b"moving")],
            watch: Watch::Dir,
            act: |c| {
                fs::rename(c.a.join("a.txt"), c.a.join("z.txt")).expect("rename");
                true
            },
            expect: &[("removed", "a.txt", None), ("created", "z.txt", Some(b"moving"))],
        },
    ]
}

/// Create `path` with `bytes`; false if the file sat empty for as long as
/// the scenarios' quiet window (the machine stalled between the create and
/// the write): a file that stays unchanged that long is confirmed as it is,
/// empty, by contract (the poller cannot tell an empty file from one whose
/// writer is about to write).
fn write_new(path: &Path, bytes: &[u8]) -> bool {
    let start = Instant::now();
    let mut file = fs::File::create(path).expect("create");
    file.write_all(bytes).expect("write");
    let held = start.elapsed() < Duration::from_millis(50);
    drop(file);
    held
}

/// Run one scenario; returns a description of what went wrong, if anything.
fn run(backend: Backend, sc: &Scenario) -> Result<(), String> {
    let a_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let b_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ctx = Ctx { a: fs::canonicalize(a_dir.path()).map_err(|e| e.to_string())?, b: b_dir.path().to_path_buf() };
    for (name, bytes) in sc.files {
        fs::write(ctx.a.join(name), bytes).map_err(|e| e.to_string())?;
    }
    let quiet = Duration::from_millis(sc.quiet_ms);
    let watched = match sc.watch {
        Watch::Dir => ctx.a.clone(),
        Watch::File(name) => ctx.a.join(name),
    };
    let detector = Detector::new([&watched], &config(backend, quiet)).map_err(|e| format!("cannot start: {e}"))?;

    let held = (sc.act)(&ctx);

    let mut got: Vec<Change> = Vec::new();
    for _ in sc.expect {
        match detector.recv_timeout(EXPECT_WITHIN) {
            Ok(Event::Change(change)) => got.push(change),
            Ok(other) => return Err(format!("unexpected event {other:?}")),
            Err(e) => return Err(format!("{e:?} waiting for {:?}; got {got:?}", sc.expect)),
        }
    }
    let settle = settle_time(backend, quiet);
    loop {
        match detector.recv_timeout(settle) {
            Ok(Event::Change(change)) => got.push(change),
            Ok(other) => return Err(format!("unexpected event {other:?}")),
            Err(RecvTimeoutError::Timeout) => break,
            Err(e) => return Err(format!("channel: {e:?}")),
        }
    }

    if !held {
        // The machine stalled longer than the quiet window between writes:
        // intermediate changes are legitimate; the last one must be final.
        let (kind, rel, content) = sc.expect.last().ok_or("relaxed check needs an expectation")?;
        let last = got.last().ok_or("no event at all")?;
        // A file first confirmed empty then gets its content as a change.
        let kind = if *kind == "created" && last.kind.name() == "changed" { &"changed" } else { kind };
        // Its old fingerprint is an intermediate state: not checked.
        return check(&ctx.a, None, last, kind, rel, *content);
    }
    if got.len() != sc.expect.len() {
        return Err(format!("expected {} change(s) {:?}, got {got:#?}", sc.expect.len(), sc.expect));
    }
    for (kind, rel, content) in sc.expect {
        let path = ctx.a.join(rel);
        let change = got
            .iter()
            .find(|c| c.path == path && c.kind.name() == *kind)
            .ok_or_else(|| format!("no {kind} {rel} among {got:#?}"))?;
        check(&ctx.a, Some(sc), change, kind, rel, *content)?;
    }
    Ok(())
}

/// Check one change; with `sc`, also that its old fingerprint is the
/// content the file had before watching began.
fn check(
    root: &Path,
    sc: Option<&Scenario>,
    change: &Change,
    kind: &str,
    rel: &str,
    content: Option<&[u8]>,
) -> Result<(), String> {
    if change.path != root.join(rel) || change.kind.name() != kind {
        return Err(format!("expected {kind} {rel}, got {change:?}"));
    }
    let new_hash = change.new_fingerprint().map(|f| f.hash);
    if new_hash != content.map(blake3::hash) {
        return Err(format!("wrong new hash in {change:?}"));
    }
    let original =
        sc.and_then(|sc| sc.files.iter().find(|(name, _)| *name == rel).map(|(_, bytes)| blake3::hash(bytes)));
    match change.kind {
        ChangeKind::Created { .. } => {}
        ChangeKind::Changed { old, .. } | ChangeKind::Removed { old } => {
            if original.is_some() && Some(old.hash) != original {
                return Err(format!("wrong old hash in {change:?}"));
            }
        }
    }
    Ok(())
}

fn run_all(backend: Backend) {
    let scenarios = scenarios();
    let failures: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = scenarios
            .iter()
            .map(|sc| s.spawn(move || run(backend, sc).map_err(|e| format!("{}: {e}", sc.name))))
            .collect();
        handles.into_iter().filter_map(|h| h.join().expect("scenario thread").err()).collect()
    });
    assert!(failures.is_empty(), "{backend:?} failures:\n{}", failures.join("\n"));
}

#[test]
fn watcher_reports_exactly_the_real_changes() {
    run_all(Backend::Notify);
}

#[test]
fn poller_reports_exactly_the_real_changes() {
    run_all(Backend::Poll);
}

/// A 1,000-file tree in which one file changes: the only file hashed after
/// the initial scan is that one. Files are given old mtimes, so no entry is
/// "racy"; the changed file gets a unique size (100,000 bytes against ~12),
/// so `bytes_hashed == files_rehashed * 100_000` proves every rehash was it
/// (the poller may rehash it more than once while its mtime is recent).
#[test]
fn one_change_in_a_thousand_files_rehashes_only_that_file() {
    for backend in [Backend::Notify, Backend::Poll] {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = fs::canonicalize(dir.path()).expect("canonical");
        let mut files = Vec::new();
        for d in 0..10 {
            let sub = root.join(format!("d{d}"));
            fs::create_dir(&sub).expect("mkdir");
            for f in 0..100 {
                let path = sub.join(format!("f{f}.txt"));
                fs::write(&path, format!("file {d}/{f}")).expect("write");
                age(&path, Duration::from_secs(3600));
                files.push(path);
            }
        }
        let quiet = Duration::from_millis(50);
        let detector = Detector::new([&root], &config(backend, quiet)).expect("start");
        let initial = detector.stats();
        assert_eq!(initial.files_rehashed, 1000, "{backend:?}: baseline hashes everything");

        let target = &files[421];
        let bytes = pattern(7, 100_000);
        fs::write(target, &bytes).expect("write");
        let change = match detector.recv_timeout(EXPECT_WITHIN) {
            Ok(Event::Change(change)) => change,
            Ok(other) => panic!("{backend:?}: unexpected {other:?}"),
            Err(e) => panic!("{backend:?}: no change event: {e:?}"),
        };
        assert_eq!(&change.path, target);
        assert_eq!(change.new_fingerprint().map(|f| f.hash), Some(blake3::hash(&bytes)));
        match detector.recv_timeout(settle_time(backend, quiet)) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("{backend:?}: expected no more events, got {other:?}"),
        }
        let d = detector.stats().since(&initial);
        assert!(d.files_rehashed >= 1, "{backend:?}: {d:?}");
        assert_eq!(d.bytes_hashed, d.files_rehashed * 100_000, "{backend:?}: {d:?}");
        if backend == Backend::Notify {
            assert_eq!(d.files_rehashed, 1, "events name only the changed file: {d:?}");
        }
    }
}

#[test]
fn a_missing_path_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("not-there");
    for backend in [Backend::Notify, Backend::Poll] {
        let err = Detector::new([&missing], &config(backend, Duration::ZERO)).expect_err("missing path");
        assert_eq!(err.path(), Some(missing.as_path()), "{backend:?}");
    }
}
