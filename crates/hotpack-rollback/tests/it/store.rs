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

/// A same-user writer plants a journal claiming that an unsigned version was signed by the
/// trusted key (format 1's `signed` map, checksum recomputed: it is plain blake3), with the
/// object in place; then a proof of another bundle the key did sign. A restart under the
/// trusted key restores neither: only a stored proof that covers this module's library
/// counts.
#[test]
fn a_planted_journal_claim_or_a_foreign_proof_never_restores_unsigned_code() {
    use hotpack_archive::{Limits, SigningKey, sign_bundle};
    use hotpack_rollback::RestoreError;
    let key = SigningKey::from_seed(&[5; 32]);
    let trusted = Policy { trusted_keys: vec![key.public_key()], ..Policy::default() };
    // Unsigned v2 deployed by a host that accepts unsigned code: its object is stored.
    let mut host = Host::with_v1(Policy::default());
    let v2 = host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("unsigned v2").remove(0);

    // The planted claim.
    let journal = host.path().join("state").join("journal.json");
    let text = std::fs::read_to_string(&journal).expect("read the journal");
    let fingerprint = key.public_key().fingerprint().to_string();
    let claim = format!("\"failed\": [],\n\"signed\": {{\"{}\": \"{fingerprint}\"}}", v2.hash.to_hex());
    assert!(text.contains("\"failed\": []"), "{text}");
    let text =
        text.replace("\"failed\": []", &claim).replace("hotpack-rollback-journal/2", "hotpack-rollback-journal/1");
    // The checksum covers the compact JSON of `modules`, in the file's own key order.
    let compact = minify(&text);
    let modules = compact.split_once("\"modules\":").expect("modules").1;
    let modules = &modules[..modules.len() - 1];
    let stated = text.split("\"checksum\": \"").nth(1).expect("checksum").split('"').next().expect("hex");
    let text = text.replace(stated, blake3::hash(modules.as_bytes()).to_hex().as_str());
    std::fs::write(&journal, text).expect("plant the journal");
    let report = host.restart(trusted.clone());
    assert!(report.restored.is_empty(), "the claim was believed: {report:?}");
    assert!(report.problems.iter().any(|p| matches!(*p.error, RestoreError::Unsigned)), "{report:?}");
    assert!(host.cache().current("greeter").is_none());

    // A real proof, from a bundle the key signed, planted beside v2's object: it does not
    // cover v2's library (another module's bundle, here greeter v1's).
    let signed = host.path().join("signed-v1.zip");
    sign_bundle(&host.bundle("greeter-v1"), &key, Some(&signed), &Limits::default()).expect("sign v1");
    let bundle = hotpack_archive::Bundle::open(&signed, &Limits::default()).expect("open");
    let proof = bundle.signature_proof().expect("read").expect("signed");
    let sig = host.path().join("state").join("objects").join(format!("{}.sig", v2.hash.to_hex()));
    hotpack_archive::write_atomic(&sig, &proof.to_bytes()).expect("plant the proof");
    std::fs::set_permissions(&sig, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let report = host.restart(trusted.clone());
    assert!(report.restored.is_empty(), "a foreign proof was accepted: {report:?}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(&*p.error, RestoreError::Signature(e) if e.to_string().contains("do not cover"))),
        "{report:?}"
    );
    // The same proof with one byte of a manifest changed: the signature no longer matches.
    let mut forged = proof.to_bytes();
    let last = forged.len() - 2;
    forged[last] ^= 1;
    hotpack_archive::write_atomic(&sig, &forged).expect("plant a forged proof");
    let report = host.restart(trusted);
    assert!(report.restored.is_empty(), "{report:?}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(&*p.error, RestoreError::Signature(e) if e.to_string().contains("does not match"))),
        "{report:?}"
    );
}

/// JSON text without the whitespace outside strings.
fn minify(json: &str) -> String {
    let (mut out, mut in_str, mut escaped) = (String::new(), false, false);
    for c in json.chars() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}
