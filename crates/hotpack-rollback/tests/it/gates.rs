//! Each gate failing in turn leaves the old version answering and records why.

use super::*;
use hotpack_rollback::Happened;
use std::sync::Arc;

/// One case: a way to offer a broken `greeter` and the gate it must fail.
fn check(case: &str, gate: Gate, offer: impl Fn(&Host) -> Result<(), RollbackError>, retry_refused: bool) {
    let host = Host::with_v1(Policy::default());
    let events = host.sup.subscribe();
    let result = offer(&host);
    assert_gate_failed(&host.sup, result, gate);
    assert_eq!(host.answer(), "1", "{case}: the old version keeps answering");
    let status = host.sup.status("greeter").expect("status");
    assert_eq!(status.active.expect("active").version.major, 1, "{case}");
    assert!(
        events.try_iter().any(
            |e| matches!(e.record().map(|r| &r.happened), Some(Happened::GateFailed { gate: g, .. }) if *g == gate)
        ),
        "{case}: an event was emitted"
    );
    if retry_refused {
        let again = offer(&host);
        assert!(matches!(again, Err(RollbackError::AlreadyFailed { .. })), "{case}: same bytes again: {again:?}");
        assert!(status.failed.iter().any(|f| f.gate == Some(gate)), "{case}: marked failed");
    }
    assert_eq!(host.answer(), "1", "{case}");
}

fn deploy_file(host: &Host, package: &str) -> Result<(), RollbackError> {
    host.sup.deploy_file(&hotpack_testkit::module(package)).map(drop)
}

#[test]
fn verify_gate_corrupted_bundle() {
    check(
        "a library byte flipped inside the zip",
        Gate::Verify,
        |host| {
            let path = host.bundle("greeter-v2");
            let mut zip = std::fs::read(&path).expect("read");
            let lib = hotpack_testkit::module_bytes("greeter-v2");
            let probe = &lib[4096..4160];
            let at = zip.windows(probe.len()).position(|w| w == probe).expect("the library is stored uncompressed");
            zip[at + 10] ^= 0xff;
            std::fs::write(&path, zip).expect("write");
            host.sup.deploy_bundle(&path).map(drop)
        },
        false,
    );
}

#[test]
fn verify_gate_truncated_bundle() {
    let host = Host::with_v1(Policy::default());
    let path = host.bundle("greeter-v2");
    let zip = std::fs::read(&path).expect("read");
    std::fs::write(&path, &zip[..zip.len() / 2]).expect("write");
    let err = host.sup.deploy_bundle(&path).expect_err("refused");
    assert!(matches!(err, RollbackError::GateFailed { gate: Gate::Verify, .. }), "{err}");
    assert_eq!(host.answer(), "1");
}

#[test]
fn load_gate_garbage_library() {
    check(
        "garbage bytes as the library",
        Gate::Load,
        |host| {
            let meta = meta_of(&load("greeter-v2"));
            let path = pack(host.path(), "garbage.zip", meta, b"this is not a shared library at all".repeat(50));
            host.sup.deploy_bundle(&path).map(drop)
        },
        true,
    );
}

#[test]
fn load_gate_truncated_library() {
    check(
        "the library cut in half",
        Gate::Load,
        |host| {
            let meta = meta_of(&load("greeter-v2"));
            let lib = hotpack_testkit::module_bytes("greeter-v2");
            let path = pack(host.path(), "truncated.zip", meta, lib[..lib.len() / 2].to_vec());
            host.sup.deploy_bundle(&path).map(drop)
        },
        true,
    );
}

#[test]
fn abi_gate_forged_abi_version() {
    check(
        "a descriptor claiming ABI 999",
        Gate::Abi,
        |host| {
            let mut meta = meta_of(&load("greeter-v2"));
            meta.version = "3.0.4".parse().expect("semver");
            let path = pack(host.path(), "forged.zip", meta, hotpack_testkit::module_bytes("fx-greeter-forged-abi"));
            host.sup.deploy_bundle(&path).map(drop)
        },
        true,
    );
}

#[test]
fn abi_gate_wrong_interface_id_after_a_hot_handle() {
    check(
        "`Greeter` with another id once a Hot<Greeter> was taken",
        Gate::Abi,
        |host| {
            let hot = host.cache().hot::<greeter_api::Greeter>("greeter").expect("typed handle");
            assert_eq!(hot.get().generation(), Ok(1));
            deploy_file(host, "fx-wrong-iface")
        },
        true,
    );
}

#[test]
fn init_gate_error() {
    check("init returns an error", Gate::Init, |host| deploy_file(host, "fx-greeter-init-error"), true);
}

#[test]
fn init_gate_panic() {
    check("init panics", Gate::Init, |host| deploy_file(host, "fx-greeter-init-panic"), true);
}

#[test]
fn state_gate_import_refused() {
    check(
        "the state import hook refuses v1's state",
        Gate::State,
        |host| deploy_file(host, "fx-greeter-bad-state"),
        true,
    );
}

#[test]
fn probe_gate_wrong_answer() {
    check(
        "the host's probe compares a known input's answer",
        Gate::Probe,
        |host| {
            host.sup.set_probe(
                "greeter",
                Arc::new(|m| {
                    let out = m.call("greet", b"probe")?;
                    let out = String::from_utf8_lossy(&out);
                    if out.starts_with("hello, probe") {
                        Ok(())
                    } else {
                        Err(format!("unexpected greeting `{out}`").into())
                    }
                }),
            );
            host.sup.deploy_bundle(&host.bundle("greeter-v2")).map(drop)
        },
        true,
    );
}

#[test]
fn probe_gate_probe_panics() {
    check(
        "the probe itself panics",
        Gate::Probe,
        |host| {
            host.sup.set_probe("greeter", Arc::new(|_| panic!("the probe is broken")));
            host.sup.deploy_bundle(&host.bundle("greeter-v2")).map(drop)
        },
        true,
    );
}

#[test]
fn probe_gate_module_panics_inside_the_probe() {
    check(
        "the candidate panics when the probe calls it",
        Gate::Probe,
        |host| {
            host.sup.set_probe("greeter", Arc::new(|m| m.call("version", b"").map(drop).map_err(Into::into)));
            deploy_file(host, "fx-greeter-v3-panics")
        },
        true,
    );
}

#[test]
fn a_good_candidate_passes_every_gate() {
    let host = Host::with_v1(Policy::default());
    host.sup.set_probe("greeter", Arc::new(|m| m.call("version", b"").map(drop).map_err(Into::into)));
    host.cache().hot::<greeter_api::Greeter>("greeter").expect("typed handle");
    host.sup.call("greeter", "greet", b"a").expect("greet");
    let d = host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2 passes");
    assert!(matches!(d[0].outcome, Happened::Promoted { .. }), "{:?}", d[0].outcome);
    assert_eq!(host.answer(), "2");
    let history = host.sup.history("greeter");
    assert_eq!(history.iter().filter(|h| matches!(h.happened, Happened::Promoted { .. })).count(), 2);
}

#[test]
fn identical_bytes_are_unchanged() {
    let host = Host::with_v1(Policy::default());
    let before = host.sup.history("greeter").len();
    let d = host.sup.deploy_bundle(&host.bundle("greeter-v1")).expect("same bytes");
    assert_eq!(d[0].outcome, Happened::Unchanged);
    let d = host.sup.deploy_file(&hotpack_testkit::module("greeter-v1")).expect("same bytes as a file");
    assert_eq!(d.outcome, Happened::Unchanged);
    assert_eq!(host.sup.history("greeter").len(), before);
}

#[test]
fn an_older_bundle_from_outside_is_refused() {
    let host = Host::new(Policy::default());
    host.sup.deploy_bundle(&host.bundle("greeter-v2")).expect("v2");
    let err = host.sup.deploy_bundle(&host.bundle("greeter-v1")).expect_err("downgrade");
    assert!(
        matches!(&err, RollbackError::Downgrade { offered, highest, .. } if offered.major == 1 && highest.major == 2),
        "{err}"
    );
    assert_eq!(host.answer(), "2");
    assert!(matches!(host.sup.history("greeter").pop().map(|h| h.happened), Some(Happened::Refused { .. })));
    // Not even as a plain file.
    assert!(matches!(
        host.sup.deploy_file(&hotpack_testkit::module("greeter-v1")),
        Err(RollbackError::Downgrade { .. })
    ));

    // The highest version seen survives a restart.
    let mut host = host;
    host.restart(Policy::default());
    assert_eq!(host.answer(), "2");
    assert!(matches!(host.sup.deploy_bundle(&host.bundle("greeter-v1")), Err(RollbackError::Downgrade { .. })));

    // Unless the host allows it.
    let lenient = Host::new(Policy { allow_downgrade: true, ..Policy::default() });
    lenient.sup.deploy_bundle(&lenient.bundle("greeter-v2")).expect("v2");
    lenient.sup.deploy_bundle(&lenient.bundle("greeter-v1")).expect("downgrade allowed");
    assert_eq!(lenient.answer(), "1");
}

/// With trusted keys, the signature is the first gate: an unsigned or foreign-signed bundle
/// and a plain library are refused before a byte is written to the loader's cache directory
/// or mapped; a bundle signed by a trusted key passes.
#[test]
fn signature_gate_refuses_before_anything_is_written_or_loaded() {
    use hotpack_archive::{Limits, SigningKey, sign_bundle};
    let scratch = hotpack_testkit::scratch();
    let cache_dir = scratch.path().join("cache");
    let loader = Loader::new(&cache_dir).expect("loader");
    let ours = SigningKey::from_seed(&[1; 32]);
    let theirs = SigningKey::from_seed(&[2; 32]);
    let policy = Policy { trusted_keys: vec![ours.public_key()], ..Policy::default() };
    let sup = Supervisor::new(Cache::new(loader.clone(), hotpack_archive::SearchPath::new()), policy);
    let files_in_cache = || std::fs::read_dir(&cache_dir).map(|d| d.count()).unwrap_or(0);
    let before = files_in_cache();

    let unsigned = bundle_of(scratch.path(), "greeter-v1");
    assert_gate_failed(&sup, sup.deploy_bundle(&unsigned), Gate::Signature);
    let foreign = scratch.path().join("foreign.zip");
    sign_bundle(&unsigned, &theirs, Some(&foreign), &Limits::default()).expect("sign");
    assert_gate_failed(&sup, sup.deploy_bundle(&foreign), Gate::Signature);
    let plain = sup.deploy_file(&hotpack_testkit::module("greeter-v1"));
    assert!(matches!(plain, Err(RollbackError::GateFailed { gate: Gate::Signature, .. })), "{plain:?}");
    assert_eq!(files_in_cache(), before, "nothing was materialized");
    assert!(sup.cache().current("greeter").is_none());

    let signed = scratch.path().join("signed.zip");
    sign_bundle(&unsigned, &ours, Some(&signed), &Limits::default()).expect("sign");
    sup.deploy_bundle(&signed).expect("a trusted bundle deploys");
    assert_eq!(answer(&sup.cache()), "1");
}

/// With trusted keys and a preflight, the signature gate runs first: the preflight (a child
/// process in a real host) never sees an unsigned bundle or a plain library, and sees a
/// signed one once, before the host loads it.
#[test]
fn signature_gate_runs_before_the_preflight() {
    use hotpack_archive::{Limits, SigningKey, sign_bundle};
    use std::sync::{Arc, Mutex};
    let scratch = hotpack_testkit::scratch();
    let loader = Loader::new(scratch.path().join("cache")).expect("loader");
    let key = SigningKey::from_seed(&[4; 32]);
    let policy = Policy { trusted_keys: vec![key.public_key()], ..Policy::default() };
    let sup = Supervisor::new(Cache::new(loader, hotpack_archive::SearchPath::new()), policy);
    let seen: Arc<Mutex<Vec<std::path::PathBuf>>> = Arc::default();
    let log = Arc::clone(&seen);
    sup.set_preflight(Some(Arc::new(move |c: &hotpack_rollback::PreflightCandidate<'_>| {
        log.lock().expect("preflight log").push(c.path.to_path_buf());
        Ok(())
    })));

    let unsigned = bundle_of(scratch.path(), "greeter-v1");
    assert_gate_failed(&sup, sup.deploy_bundle(&unsigned), Gate::Signature);
    let plain = sup.deploy_file(&hotpack_testkit::module("greeter-v1"));
    assert!(matches!(plain, Err(RollbackError::GateFailed { gate: Gate::Signature, .. })), "{plain:?}");
    assert!(seen.lock().expect("preflight log").is_empty(), "the preflight saw untrusted bytes");

    let signed = scratch.path().join("signed.zip");
    sign_bundle(&unsigned, &key, Some(&signed), &Limits::default()).expect("sign");
    sup.deploy_bundle(&signed).expect("a trusted bundle deploys");
    assert_eq!(*seen.lock().expect("preflight log"), vec![signed]);
    assert_eq!(answer(&sup.cache()), "1");
}
