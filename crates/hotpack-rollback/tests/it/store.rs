//! The object store comes before promotion: a library copy that cannot be stored refuses
//! the deploy (the version serving keeps serving), the host is not durable until a store
//! succeeds (a journal write in between does not count), and a restart never comes back
//! older than what served.

use super::*;
use hotpack_rollback::RollbackEvent;

#[test]
fn a_failed_object_store_refuses_the_deploy_and_a_restart_comes_back_on_what_served() {
    let mut host = Host::with_v1(Policy::default());
    // A directory where v2's object goes: the store cannot write it (a full disk, for this
    // test; the serve test uses a real full tmpfs), and it survives a restart.
    let v2_hash = blake3::hash(&hotpack_testkit::module_bytes("greeter-v2"));
    let blocker = host.path().join("state").join("objects").join(format!("{}.so", v2_hash.to_hex()));
    std::fs::create_dir(&blocker).expect("block v2's object");
    let events = host.sup.subscribe();

    let err = host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect_err("v2 cannot be stored");
    assert!(matches!(err, RollbackError::NotStored { .. }), "{err}");
    assert!(err.to_string().contains("could not be stored"), "{err}");
    assert_eq!(host.answer(), "1", "v1 keeps serving");
    assert!(host.sup.journal_problem().is_some(), "not durable");
    assert!(events.try_iter().any(|e| matches!(e, RollbackEvent::JournalFailed { .. })));
    // A journal write that succeeds (a pin, here) does not make the host durable: the
    // object a restart would need is still missing.
    host.sup.pin("greeter", hotpack_rollback::VersionRef::Version("1.0.0".parse().expect("semver"))).expect("pin");
    host.sup.unpin("greeter");
    assert!(host.sup.journal_problem().is_some(), "still not durable after a journal write");

    // kill -9 and restart (the store still broken): back on v1, what served.
    host.restart(Policy::default());
    assert_eq!(host.answer(), "1");

    // The store repaired: the same bytes deploy (they were not marked failed), durable again.
    std::fs::remove_dir(&blocker).expect("unblock the store");
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2 now stores and deploys");
    assert_eq!(host.answer(), "2");
    assert!(host.sup.journal_problem().is_none(), "durable again");
    host.restart(Policy::default());
    assert_eq!(host.answer(), "2");
}
