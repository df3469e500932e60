//! The requires gate in the supervisor: dependents before their provider wait and are
//! deployed by themselves; a provider that would break them is refused (its bytes not
//! marked); a restart restores providers before dependents, whatever the journal's order.

use super::{Host, bundle_of};
use hotpack_cache::CacheError;
use hotpack_rollback::{Gate, GateError, Policy, RollbackError};

fn run(host: &Host, name: &str) -> String {
    let out = host.sup.call(name, "run", b"abc").expect("run answers");
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn dependents_wait_for_their_provider_and_come_back_after_a_restart() {
    let mut host = Host::new(Policy::default());
    let dir = host.path().to_path_buf();
    let (a, b) = (bundle_of(&dir, "svc-a"), bundle_of(&dir, "svc-b"));
    for dependent in [&a, &b] {
        match host.sup.deploy_bundle(dependent) {
            Err(RollbackError::GateFailed { gate: Gate::Requires, error, .. }) => {
                assert!(matches!(&*error, GateError::Cache(CacheError::MissingProvider { .. })), "{error}");
            }
            other => panic!("expected a missing provider, got {other:?}"),
        }
    }
    assert_eq!(host.sup.waiting().len(), 2);
    host.sup.deploy_bundle(&bundle_of(&dir, "textutil-v1")).expect("the provider deploys");
    assert!(host.sup.waiting().is_empty());
    assert_eq!((run(&host, "svc-a"), run(&host, "svc-b")), ("a:ABC".to_owned(), "b:ABC".to_owned()));

    host.sup.deploy_bundle(&bundle_of(&dir, "textutil-v2")).expect("v2 deploys");
    assert_eq!(run(&host, "svc-a"), "a:ABC!");
    let v3 = bundle_of(&dir, "textutil-v3");
    match host.sup.deploy_bundle(&v3) {
        Err(RollbackError::GateFailed { gate: Gate::Requires, error, .. }) => {
            let text = error.to_string();
            assert!(text.contains("svc-a") && text.contains("svc-b"), "{text}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Not the candidate's fault: refused again for the same reason, not as "already failed".
    assert!(matches!(host.sup.deploy_bundle(&v3), Err(RollbackError::GateFailed { gate: Gate::Requires, .. })));
    host.sup.rollback("textutil").expect("rollback");
    assert_eq!((run(&host, "svc-a"), run(&host, "svc-b")), ("a:ABC".to_owned(), "b:ABC".to_owned()));

    // A restart, several times (the journal's map order varies): always whole.
    for _ in 0..3 {
        let report = host.restart(Policy::default());
        assert!(report.problems.is_empty(), "{report:?}");
        assert_eq!((run(&host, "svc-a"), run(&host, "svc-b")), ("a:ABC".to_owned(), "b:ABC".to_owned()));
    }
}

#[test]
fn a_cycle_through_a_waiting_dependent_is_refused_naming_it() {
    let host = Host::new(Policy::default());
    let dir = host.path().to_path_buf();
    let x = host.sup.deploy_bundle(&bundle_of(&dir, "fx-cycle-x"));
    assert!(matches!(x, Err(RollbackError::GateFailed { gate: Gate::Requires, .. })), "{x:?}");
    match host.sup.deploy_bundle(&bundle_of(&dir, "fx-cycle-y2")) {
        Err(RollbackError::GateFailed { gate: Gate::Requires, error, .. }) => {
            let text = error.to_string();
            assert!(text.contains("cycle-y -> cycle-x -> cycle-y"), "{text}");
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
}

#[test]
fn a_provider_panic_met_by_a_dependent_counts_against_the_provider() {
    // Its own loader: svc-b's requirement handle is a static of its mapped library, which the
    // other tests of this binary (sharing one loader) wire to their own providers.
    let dir = hotpack_testkit::scratch();
    let cache = hotpack_cache::Cache::new(
        hotpack_loader::Loader::new(dir.path().join("objects")).expect("loader"),
        hotpack_archive::SearchPath::new(),
    );
    let sup = hotpack_rollback::Supervisor::new(cache, Policy { panic_budget: 0, ..Policy::default() });
    for package in ["textutil-v1", "svc-b", "fx-textutil-panics"] {
        sup.deploy_bundle(&bundle_of(dir.path(), package)).unwrap_or_else(|e| panic!("{package}: {e}"));
    }
    let err = sup.call("svc-b", "run", b"abc").expect_err("the provider panics");
    assert!(err.to_string().contains("cannot transform"), "{err}");
    // Charged to textutil (not to svc-b): textutil is demoted back to v1, svc-b still serves.
    assert_eq!(sup.cache().current("textutil").expect("current").version().major, 1);
    assert_eq!(sup.call("svc-b", "run", b"abc").expect("run"), b"b:ABC");
    assert_eq!(sup.cache().current("svc-b").expect("current").version().major, 1);
}
