//! The journal: restarts resume the last good version; a journal cut at every byte offset
//! or filled with garbage lets the host start safely.

use super::*;
use hotpack_rollback::{FailureCause, Happened, JournalStatus};

#[test]
fn a_restart_resumes_the_last_good_version_from_the_object_store() {
    let mut host = Host::with_v1(Policy::default());
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2");
    // The bundles are gone after the deploy: the object store must hold the bytes.
    std::fs::remove_file(host.bundle("greeter-v2")).expect("rm");
    let report = host.restart(Policy::default());
    assert_eq!(report.restored.len(), 1, "{report:?}");
    assert_eq!(report.restored[0].outcome, Happened::Restored);
    assert_eq!(host.answer(), "2");
    assert!(matches!(host.sup.history("greeter").pop().map(|h| h.happened), Some(Happened::Restored)));
    // Every retained good version whose stored copy verifies is back: rollback reaches v1,
    // then there is nothing earlier; rollback_to reaches v2 again.
    let back = host.sup.rollback("greeter").expect("v1 is available after a restart");
    assert_eq!(back.version, semver::Version::new(1, 0, 0));
    assert_eq!(host.answer(), "1");
    assert!(host.sup.rollback("greeter").is_err());
    host.sup.rollback_to("greeter", semver::Version::new(2, 0, 0).into()).expect("v2 again");
    assert_eq!(host.answer(), "2");
}

#[test]
fn a_restart_never_resumes_a_demoted_version() {
    let mut host = Host::with_v1(Policy { panic_budget: 0, ..Policy::default() });
    let v3 = hotpack_testkit::module("fx-greeter-v3-panics");
    host.sup.deploy_file(&v3).expect("gates");
    host.sup.call("greeter", "version", b"").expect_err("panics, demoted");
    let cause = |err: Result<_, RollbackError>| match err {
        Err(RollbackError::AlreadyFailed { cause, .. }) => cause,
        other => panic!("not refused as failed before: {other:?}"),
    };
    let before = cause(host.sup.deploy_file(&v3));
    assert!(matches!(*before, FailureCause::Panics { panics: 1, .. }), "{before:?}");
    host.restart(Policy::default());
    assert_eq!(host.answer(), "1");
    // The journal kept the cause's text: after the restart it is the same words.
    let after = cause(host.sup.deploy_file(&v3));
    assert!(matches!(*after, FailureCause::Journaled(_)), "{after:?}");
    assert_eq!(after.to_string(), before.to_string());
}

#[test]
fn a_rolled_back_version_is_what_a_restart_resumes() {
    let mut host = Host::with_v1(Policy::default());
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2");
    host.sup.rollback("greeter").expect("rollback");
    host.restart(Policy::default());
    assert_eq!(host.answer(), "1");
}

#[test]
fn a_pin_survives_a_restart() {
    let mut host = Host::with_v1(Policy::default());
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2");
    host.sup.pin("greeter", hotpack_rollback::VersionRef::Version("1.0.0".parse().expect("semver"))).expect("pin");
    host.restart(Policy::default());
    assert_eq!(host.answer(), "1");
    assert!(matches!(host.sup.deploy_bundle(&host.bundle("greeter-v2")), Err(RollbackError::Pinned { .. })));
}

#[test]
fn a_corrupt_stored_object_falls_back_to_an_older_good_version() {
    let mut host = Host::with_v1(Policy::default());
    let v2 = host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2").remove(0);
    let object = host.path().join("state").join("objects").join(format!("{}.so", v2.hash.to_hex()));
    let mut bytes = std::fs::read(&object).expect("stored");
    bytes[100] ^= 1;
    std::fs::write(&object, bytes).expect("write");
    let report = host.restart(Policy::default());
    assert_eq!(host.answer(), "1");
    assert!(
        report.problems.iter().any(|p| p.hash == Some(v2.hash) && p.error.to_string().contains("corrupt")),
        "{report:?}"
    );
}

#[test]
fn a_missing_journal_is_a_fresh_start() {
    let dir = hotpack_testkit::scratch();
    let (sup, report) = open(dir.path(), Policy::default());
    assert_eq!(report.status, JournalStatus::Missing);
    assert!(sup.restore().expect("restore").restored.is_empty());
    assert!(sup.cache().current("greeter").is_none());
}

/// Opens `journal` bytes in a fresh cache (shared loader) and restores; returns what serves.
fn start_with(dir: &Path, journal: &[u8]) -> (JournalStatus, Option<blake3::Hash>) {
    let path = dir.join("state").join("journal.json");
    std::fs::write(&path, journal).expect("write journal");
    let (sup, report) = open(dir, Policy::default());
    sup.restore().expect("restore never fails");
    (report.status, sup.cache().current("greeter").map(|m| *m.hash()))
}

#[test]
fn a_journal_cut_at_every_byte_or_filled_with_garbage_starts_safely() {
    // A journal that knows a good v1, a good v2, and a demoted 3.0.3 that was active last.
    let host = Host::with_v1(Policy { panic_budget: 0, ..Policy::default() });
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2");
    host.sup.deploy_file(&hotpack_testkit::module("fx-greeter-init-error")).expect_err("fails init");
    let bad = host.sup.deploy_file(&hotpack_testkit::module("fx-greeter-v3-panics")).expect("gates");
    host.sup.call("greeter", "version", b"").expect_err("panics: demoted");
    let status = host.sup.status("greeter").expect("status");
    assert!(status.failed.iter().any(|f| f.hash == bad.hash));
    let good: Vec<blake3::Hash> = host.cache().versions("greeter").iter().map(|v| v.hash).collect();
    let last_good = status.last_good.expect("last good").hash;
    let journal = std::fs::read(host.path().join("state").join("journal.json")).expect("journal");

    let dir = host.path();
    let whole = start_with(dir, &journal);
    assert_eq!(whole, (JournalStatus::Loaded, Some(last_good)));
    for cut in 0..journal.len() {
        let (status, serving) = start_with(dir, &journal[..cut]);
        assert!(matches!(status, JournalStatus::Corrupt { .. }), "cut at {cut}: {status:?}");
        assert!(serving.is_none_or(|h| good.contains(&h) && h != bad.hash), "cut at {cut}");
    }
    let mut garbage = journal.clone();
    let mut x: u32 = 0x9e37_79b9;
    for b in garbage.iter_mut().step_by(3) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let text = String::from_utf8_lossy(&journal).into_owned();
    let edited = text.replacen("\"2.0.0\"", "\"3.0.3\"", 1);
    for (what, bytes) in [
        ("random bytes", garbage),
        ("all zeros", vec![0; journal.len()]),
        ("json of another shape", b"{\"modules\": []}".to_vec()),
        ("an edited body", edited.into_bytes()),
        ("a lone brace", b"{".to_vec()),
    ] {
        let (status, serving) = start_with(dir, &bytes);
        assert!(matches!(status, JournalStatus::Corrupt { .. }), "{what}: {status:?}");
        assert!(serving.is_none(), "{what}");
    }
    assert!(dir.join("state").join("journal.json.corrupt").is_file());
}

/// A journal that cannot be written: with `JournalPolicy::Revert` the promotion is undone
/// (the previous version serves, as the journal still says) and the deploy fails with
/// `NotDurable`; the failure is an event with its typed cause, and `journal_problem` says so
/// until a write succeeds.
#[test]
fn a_failed_journal_write_reverts_the_promotion_under_the_revert_policy() {
    use hotpack_rollback::{JournalPolicy, RollbackEvent};
    let host = Host::with_v1(Policy { journal: JournalPolicy::Revert, ..Policy::default() });
    let events = host.sup.subscribe();
    // A directory where the journal file goes: the object store works, the journal write
    // fails (an atomic write never replaces a directory).
    let dir = host.path().join("state").join("journal.json");
    let aside = host.path().join("aside");
    std::fs::rename(&dir, &aside).expect("move the journal away");
    std::fs::create_dir(&dir).expect("replace it with a directory");

    let result = host.sup.deploy_bundle(&host.bundle("greeter-v2"));
    assert!(matches!(result, Err(RollbackError::NotDurable { .. })), "{result:?}");
    assert_eq!(host.answer(), "1", "the promotion was undone");
    let problem = host.sup.journal_problem().expect("not durable");
    assert!(
        std::error::Error::source(&*problem).is_some() || problem.to_string().contains("journal.json"),
        "{problem}"
    );
    let failed = events.try_iter().find_map(|e| match e {
        RollbackEvent::JournalFailed { path, error, .. } => Some((path, error)),
        _ => None,
    });
    let (path, error) = failed.expect("a JournalFailed event");
    assert!(path.ends_with("journal.json"));
    assert!(error.to_string().contains("journal.json"), "{error}");

    std::fs::remove_dir(&dir).expect("remove the directory");
    std::fs::rename(&aside, &dir).expect("put the journal back");
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2 deploys once the journal can record it");
    assert_eq!(host.answer(), "2");
    assert!(host.sup.journal_problem().is_none());
    assert!(events.try_iter().any(|e| matches!(e, RollbackEvent::JournalRecovered { .. })));
}

/// With trusted keys a restart restores only versions a trusted key signed: a journal
/// written while unsigned code was accepted does not bring that code back.
#[test]
fn with_trusted_keys_a_restart_restores_only_signed_versions() {
    use hotpack_archive::{Limits, SigningKey, sign_bundle};
    use hotpack_rollback::RestoreError;
    let key = SigningKey::from_seed(&[3; 32]);
    let trusted = Policy { trusted_keys: vec![key.public_key()], ..Policy::default() };

    // Unsigned v1, journaled by a host that accepted unsigned code.
    let mut host = Host::with_v1(Policy::default());
    let report = host.restart(trusted.clone());
    assert!(report.restored.is_empty(), "{report:?}");
    assert!(report.problems.iter().any(|p| matches!(*p.error, RestoreError::Unsigned)), "{report:?}");
    assert!(host.cache().current("greeter").is_none(), "the unsigned version did not come back");

    // Signed v2, deployed by a host with the key: restored after a restart, and the
    // unsigned v1 is not available to roll back to.
    let signed = host.path().join("signed-v2.zip");
    sign_bundle(&host.bundle("greeter-v2"), &key, Some(&signed), &Limits::default()).expect("sign");
    host.sup.deploy_bundle(&signed).expect("a signed bundle deploys");
    let report = host.restart(trusted.clone());
    assert_eq!(report.restored.len(), 1, "{report:?}");
    assert_eq!(host.answer(), "2");
    assert!(host.sup.rollback("greeter").is_err(), "the unsigned v1 is not restored for rollback");
}
