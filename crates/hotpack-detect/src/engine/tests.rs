//! The fallbacks, driven by synthetic backend messages (a real queue
//! overflow or watch-limit error cannot be provoked without changing
//! system-wide limits) over real files.

use super::*;
use notify::{ErrorKind as NotifyErrorKind, EventKind};
use std::sync::mpsc;
use std::thread::JoinHandle;

struct Running {
    ctl: mpsc::Sender<Msg>,
    events: mpsc::Receiver<Event>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.ctl.send(Msg::Shutdown);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("engine thread");
        }
    }
}

/// An engine watching `root` with no notify backend at all: it learns of
/// changes only through what the test sends.
fn start(root: &Path) -> Running {
    start_with(root, true)
}

fn start_with(root: &Path, fallback: bool) -> Running {
    let (out, events) = mpsc::channel();
    let (ctl, ctl_rx) = mpsc::channel();
    let root = fs::canonicalize(root).expect("canonical root");
    let config = WatchConfig::new().quiet(Duration::from_millis(20));
    let mut engine = Engine::new(
        vec![Root { path: root, is_dir: true, polled: false, link: false }],
        &config,
        Duration::from_millis(20),
        out,
    );
    engine.set_watch_limit_fallback(fallback);
    engine.baseline();
    let thread = std::thread::spawn(move || engine.run(ctl_rx));
    Running { ctl, events, thread: Some(thread) }
}

fn next(run: &Running) -> Event {
    run.events.recv_timeout(Duration::from_secs(10)).expect("an event in time")
}

#[test]
fn queue_overflow_rescans_with_a_warning_and_reports_real_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    fs::write(&a, b"v1").expect("write");
    fs::write(&b, b"same").expect("write");
    let run = start(dir.path());
    fs::write(&a, b"v2").expect("write"); // no event reaches the engine
    fs::write(&b, b"same").expect("write");
    let overflow = notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
    run.ctl.send(Msg::Notify(Ok(overflow), SystemTime::now())).expect("send");

    assert!(matches!(next(&run), Event::Warning(Warning::Rescan { .. })));
    match next(&run) {
        Event::Change(Change { path, kind: ChangeKind::Changed { old, new }, .. }) => {
            assert!(path.ends_with("a"));
            assert_eq!(old.hash, blake3::hash(b"v1"));
            assert_eq!(new.hash, blake3::hash(b"v2"));
        }
        other => panic!("expected a change, got {other:?}"),
    }
    assert!(run.events.recv_timeout(Duration::from_millis(300)).is_err(), "b's content did not change");
}

#[test]
fn watch_limit_falls_back_to_polling_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(dir.path()).expect("canonical");
    let run = start(&root);
    let limit = notify::Error::new(NotifyErrorKind::MaxFilesWatch).add_path(root.join("sub"));
    run.ctl.send(Msg::Notify(Err(limit), SystemTime::now())).expect("send");
    match next(&run) {
        Event::Warning(Warning::PollingFallback { paths, .. }) => {
            assert_eq!(paths, std::slice::from_ref(&root))
        }
        other => panic!("expected a polling fallback warning, got {other:?}"),
    }
    // No events will come: only polling can see this.
    fs::write(root.join("c"), b"polled").expect("write");
    match next(&run) {
        Event::Change(Change { path, kind: ChangeKind::Created { new }, .. }) => {
            assert_eq!(path, root.join("c"));
            assert_eq!(new.hash, blake3::hash(b"polled"));
        }
        other => panic!("expected a creation, got {other:?}"),
    }
}

#[test]
fn watch_limit_without_fallback_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(dir.path()).expect("canonical");
    let run = start_with(&root, false);
    let limit = notify::Error::new(NotifyErrorKind::MaxFilesWatch).add_path(root.join("sub"));
    run.ctl.send(Msg::Notify(Err(limit), SystemTime::now())).expect("send");
    match next(&run) {
        Event::Error(DetectError::WatchLimit { path }) => assert_eq!(path, root.join("sub")),
        other => panic!("expected a watch-limit error, got {other:?}"),
    }
}

#[test]
fn backend_errors_are_reported_not_swallowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = start(dir.path());
    let err = notify::Error::generic("backend hiccup").add_path(dir.path().into());
    run.ctl.send(Msg::Notify(Err(err), SystemTime::now())).expect("send");
    match next(&run) {
        Event::Error(DetectError::Watch { path, .. }) => assert_eq!(path, dir.path()),
        other => panic!("expected a watch error, got {other:?}"),
    }
}
