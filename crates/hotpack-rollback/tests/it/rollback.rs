//! Panic budgets, demotion, rollback, rollback_to, pin/unpin and retention.

use super::*;
use hotpack_rollback::{Crash, Happened, RollbackEvent, SupervisorCallError, VersionRef};

fn budget(n: u32) -> Policy {
    Policy { panic_budget: n, ..Policy::default() }
}

fn v(s: &str) -> VersionRef {
    VersionRef::Version(s.parse().expect("semver"))
}

#[test]
fn panics_within_the_budget_do_not_demote() {
    let host = Host::with_v1(budget(3));
    host.sup.deploy_file(&hotpack_testkit::module("fx-greeter-v3-panics")).expect("passes its gates");
    for _ in 0..3 {
        let err = host.sup.call("greeter", "version", b"").expect_err("panics");
        assert!(err.is_panic(), "{err}");
    }
    let status = host.sup.status("greeter").expect("status");
    assert_eq!(status.active.expect("active").version.to_string(), "3.0.3");
    assert_eq!(status.recent_panics, 3);
}

#[test]
fn panics_past_the_budget_demote_to_the_last_good_version() {
    let host = Host::with_v1(budget(3));
    let events = host.sup.subscribe();
    let bad = host.sup.deploy_file(&hotpack_testkit::module("fx-greeter-v3-panics")).expect("passes its gates");
    for _ in 0..4 {
        assert!(matches!(host.sup.call("greeter", "version", b""), Err(SupervisorCallError::Module { .. })));
    }
    assert_eq!(host.answer(), "1", "demoted automatically");
    assert_eq!(host.sup.call("greeter", "version", b"").expect("v1 answers"), b"1");
    let demotion = events
        .try_iter()
        .find_map(|e| match e {
            RollbackEvent::Record(r) => match r.happened {
                Happened::Demoted { panics, to } => Some((r.hash, panics, to)),
                _ => None,
            },
            _ => None,
        })
        .expect("a demotion event");
    assert_eq!((demotion.0, demotion.1), (Some(bad.hash), 4));
    assert_eq!(demotion.2.expect("a target").version.major, 1);
    let history = host.sup.history("greeter");
    assert!(
        history.iter().any(|h| matches!(h.happened, Happened::Demoted { panics: 4, .. }) && h.hash == Some(bad.hash))
    );
    let status = host.sup.status("greeter").expect("status");
    assert!(status.failed.iter().any(|f| f.hash == bad.hash && f.gate.is_none()));
    assert_eq!(status.last_good.expect("last good").version.major, 1);
    // The demoted bytes are not taken again.
    let again = host.sup.deploy_file(&hotpack_testkit::module("fx-greeter-v3-panics"));
    assert!(matches!(again, Err(RollbackError::AlreadyFailed { gate: None, .. })), "{again:?}");
}

#[test]
fn record_panic_serves_hosts_with_their_own_handles() {
    let host = Host::with_v1(budget(1));
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2");
    assert!(host.sup.record_panic("greeter").is_none());
    let demotion = host.sup.record_panic("greeter").expect("the second panic is one too many");
    assert_eq!((demotion.from.version.major, demotion.to.map(|t| t.version.major)), (2, Some(1)));
    assert_eq!(host.answer(), "1");
    assert!(host.sup.record_panic("nobody").is_none());
}

#[test]
fn rollback_goes_back_through_activated_versions() {
    let host = Host::with_v1(Policy::default());
    assert!(matches!(host.sup.rollback("greeter"), Err(RollbackError::NoPrevious { .. })));
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2");
    let back = host.sup.rollback("greeter").expect("rollback");
    assert_eq!(
        (back.version.major, back.outcome),
        (1, Happened::RolledBack { from: Some("2.0.0".parse().expect("semver")) })
    );
    assert_eq!(host.answer(), "1");
    assert!(
        matches!(host.sup.history("greeter").pop().map(|h| h.happened), Some(Happened::RolledBack { from: Some(from) }) if from.major == 2)
    );
    // v2 was popped: there is nothing further back.
    assert!(matches!(host.sup.rollback("greeter"), Err(RollbackError::NoPrevious { .. })));
    // Rolling forward again is rollback_to, by version or by hash.
    let v2 = host.sup.rollback_to("greeter", v("2.0.0")).expect("to v2");
    assert_eq!(host.answer(), "2");
    host.sup
        .rollback_to("greeter", VersionRef::Hash(host.sup.status("greeter").expect("s").retained[0].hash))
        .expect("by hash");
    assert_eq!(host.answer(), "1");
    assert_eq!(host.sup.rollback_to("greeter", VersionRef::Hash(v2.hash)).expect("by hash").version.major, 2);
    assert_eq!(host.sup.status("greeter").expect("s").highest_seen.expect("highest").major, 2);
}

#[test]
fn rollback_to_only_goes_to_versions_this_host_ran() {
    let host = Host::with_v1(Policy::default());
    let never = host.sup.rollback_to("greeter", v("2.0.0"));
    assert!(matches!(never, Err(RollbackError::NeverActivated { .. })), "{never:?}");
    // Loaded and registered by someone else, but never activated here.
    let v2 = load("greeter-v2");
    host.raw.register(v2.clone(), hotpack_cache::Source::Memory("elsewhere".into()));
    let never = host.sup.rollback_to("greeter", VersionRef::Hash(*v2.hash()));
    assert!(matches!(never, Err(RollbackError::NeverActivated { .. })), "{never:?}");
    assert!(matches!(host.sup.rollback_to("nobody", v("1.0.0")), Err(RollbackError::NeverActivated { .. })));
    // A failed version is not a target either.
    host.sup.deploy_file(&hotpack_testkit::module("fx-greeter-init-error")).expect_err("init fails");
    let failed = host.sup.status("greeter").expect("s").failed[0].hash;
    assert!(host.sup.rollback_to("greeter", VersionRef::Hash(failed)).is_err());
    assert_eq!(host.answer(), "1");
}

#[test]
fn pin_holds_a_version_until_unpinned() {
    let host = Host::with_v1(budget(0));
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2");
    let pinned = host.sup.pin("greeter", v("1.0.0")).expect("pin");
    assert_eq!((pinned.version.major, pinned.outcome), (1, Happened::Pinned));
    assert_eq!(host.answer(), "1");
    let err = host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect_err("pinned");
    assert!(matches!(&err, RollbackError::Pinned { pinned, .. } if pinned.major == 1), "{err}");
    assert!(matches!(host.sup.rollback_to("greeter", v("2.0.0")), Err(RollbackError::Pinned { .. })));
    // The panic budget (0 here) does not override an operator's pin.
    assert!(host.sup.record_panic("greeter").is_none());
    assert_eq!(host.answer(), "1");
    assert_eq!(host.sup.status("greeter").expect("s").pinned.expect("pinned").version.major, 1);
    host.sup.unpin("greeter");
    assert!(host.sup.status("greeter").expect("s").pinned.is_none());
    assert!(matches!(host.sup.history("greeter").pop().map(|h| h.happened), Some(Happened::Unpinned)));
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("taken after unpin");
    assert_eq!(host.answer(), "2");
}

#[test]
fn retention_keeps_at_most_the_configured_versions() {
    let host = Host::with_v1(Policy { retain: 2, ..Policy::default() });
    let events = host.sup.subscribe();
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2");
    host.sup.deploy_file(&hotpack_testkit::module("fx-wrong-iface")).expect("9.0.0 (no typed handle taken)");
    let retained: Vec<u64> = host.cache().versions("greeter").iter().map(|v| v.version.major).collect();
    assert_eq!(retained, vec![2, 9]);
    assert!(
        events.try_iter().any(|e| matches!(e.record(), Some(r) if r.happened == Happened::Retired && r.version.as_ref().is_some_and(|v| v.major == 1)))
    );
    // v1 is gone from the cache: not a rollback target any more.
    assert!(matches!(host.sup.rollback_to("greeter", v("1.0.0")), Err(RollbackError::NotRetained { .. })));
    assert_eq!(host.sup.rollback("greeter").expect("to v2").version.major, 2);
}

#[test]
fn concurrent_callers_and_a_demotion() {
    let host = Host::with_v1(budget(5));
    host.sup.deploy_file(&hotpack_testkit::module("fx-greeter-v3-panics")).expect("gates");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20 {
                    let _ = host.sup.call("greeter", "version", b"");
                }
            });
        }
    });
    assert_eq!(host.answer(), "1");
    assert_eq!(host.sup.call("greeter", "version", b"").expect("v1"), b"1");
}

#[test]
fn a_crash_demotes_at_once_and_a_restart_comes_back_on_the_good_version() {
    let mut host = Host::with_v1(budget(100));
    let events = host.sup.subscribe();
    let v2 = host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2").remove(0);
    assert_eq!(host.answer(), "2");
    let crash = Crash::Signal { signal: 11, name: "SIGSEGV".to_owned() };
    let demotion = host.sup.record_crash("greeter", v2.hash, crash.clone()).expect("one crash is enough");
    assert_eq!((demotion.from.hash, demotion.panics), (v2.hash, 0));
    assert_eq!(demotion.crash.as_ref(), Some(&crash));
    assert_eq!(demotion.to.map(|t| t.version.major), Some(1));
    assert_eq!(host.answer(), "1", "the last good version serves the next call");
    // A second call that saw the same death changes nothing.
    assert!(host.sup.record_crash("greeter", v2.hash, crash.clone()).is_none());
    let record = events
        .try_iter()
        .filter_map(|e| e.record().cloned())
        .find(|r| matches!(r.happened, Happened::Crashed { .. }))
        .expect("a crash record");
    assert_eq!(record.hash, Some(v2.hash));
    assert!(record.reason().expect("a reason").contains("SIGSEGV"), "{record}");
    let status = host.sup.status("greeter").expect("status");
    assert!(status.failed.iter().any(|f| f.hash == v2.hash && f.reason.contains("SIGSEGV")), "{status:?}");
    // The crashed bytes are refused from now on, and a restart resumes v1.
    let again = host.sup.deploy_bundle(&host.bundle("greeter-v2"));
    assert!(matches!(again, Err(RollbackError::AlreadyFailed { gate: None, .. })), "{again:?}");
    let report = host.restart(budget(100));
    assert_eq!(report.restored.iter().map(|d| d.version.major).collect::<Vec<_>>(), vec![1]);
    assert_eq!(host.answer(), "1");
}

#[test]
fn a_deadline_crash_on_a_first_version_marks_it_failed_for_the_next_start() {
    let mut host = Host::new(budget(100));
    let v1 = host.sup.deploy_bundle(&host.bundle("greeter-v1")).expect("v1").remove(0);
    let crash = Crash::Deadline { deadline: std::time::Duration::from_secs(30) };
    let demotion = host.sup.record_crash("greeter", v1.hash, crash).expect("demoted");
    assert!(demotion.to.is_none(), "nothing older to serve");
    let report = host.restart(budget(100));
    assert!(report.restored.is_empty(), "{report:?}");
}
