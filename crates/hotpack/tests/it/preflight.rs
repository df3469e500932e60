//! The preflight child: candidates whose constructors abort or exit, whose init hangs or
//! allocates without bound, are refused at the preflight gate with the reason; the host
//! never maps them, stays alive, and keeps serving the version it had.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hotpack::archive::{Hooks, ModuleMeta, PackSpec, pack, semver::Version};
use hotpack::preflight::PreflightCommand;
use hotpack::rollback::{Gate, RollbackError};
use hotpack::{Error, Happened, Runtime};

/// The facade's own preflight child binary.
fn child() -> PreflightCommand {
    PreflightCommand::new(env!("CARGO_BIN_EXE_hotpack-preflight"))
        .timeout(Duration::from_secs(3))
        .memory_limit(Some(512 << 20))
}

/// A bundle of `package`, packed without loading it (its constructor would kill the test).
fn raw_bundle(dir: &Path, package: &str, name: &str, init: bool) -> PathBuf {
    let spec = PackSpec {
        meta: ModuleMeta {
            name: name.into(),
            version: Version::new(0, 1, 0),
            abi_version: hotpack::abi::ABI_VERSION,
            rustc: hotpack::abi::RUSTC_VERSION.into(),
            interfaces: vec![],
            handlers: vec!["hello".into()],
            hooks: Hooks { init, ..Hooks::default() },
        },
        target: hotpack::abi::TARGET.into(),
        library_name: format!("lib{}.so", package.replace('-', "_")),
        library: hotpack_testkit::module_bytes(package),
        resources: vec![],
    };
    let out = dir.join(format!("{name}.zip"));
    std::fs::write(&out, pack(&spec).expect("pack")).expect("write bundle");
    out
}

fn preflight_refusal(err: &Error) -> String {
    match err {
        Error::Rollback(e) => match e.as_ref() {
            RollbackError::GateFailed { gate: Gate::Preflight, error, .. } => error.to_string(),
            other => panic!("refused elsewhere than the preflight gate: {other}"),
        },
        other => panic!("not a gate failure: {other}"),
    }
}

#[test]
fn crashing_exiting_hanging_and_hoarding_candidates_are_refused_and_never_mapped() {
    let dir = hotpack_testkit::scratch();
    let runtime = Runtime::builder()
        .cache_dir(dir.path().join("cache"))
        .preflight_with(child().call(Some("greeter"), "greet", b"preflight"))
        .build()
        .expect("runtime");
    let greeter = dir.path().join("greeter.zip");
    hotpack::pack_library(&hotpack_testkit::module("greeter-v1"), &greeter, vec![]).expect("pack greeter");
    let deployed = runtime.deploy(&greeter).expect("greeter passes the preflight");
    assert!(matches!(deployed[0].outcome, Happened::Promoted { .. }), "{:?}", deployed[0].outcome);
    let answer =
        |r: &Runtime| String::from_utf8_lossy(&r.call("greeter", "greet", b"world").expect("answers")).into_owned();
    assert!(answer(&runtime).starts_with("hello, world (v1"));
    let mapped = runtime.cache().mapped().libraries;

    let cases = [
        ("fx-ctor-abort", "ctor-abort", false, "killed by SIGABRT"),
        ("fx-ctor-exit", "ctor-exit", false, "exited with code 3"),
        ("fx-init-hang", "init-hang", true, "did not finish within 3000 ms"),
        ("fx-init-oom", "init-oom", true, "memory allocation"),
    ];
    for (package, name, init, expected) in cases {
        let bundle = raw_bundle(dir.path(), package, name, init);
        let err = runtime.deploy(&bundle).expect_err(package);
        let reason = preflight_refusal(&err);
        assert!(reason.contains(expected), "{package}: {reason}");
        let status = runtime.status(name).expect("status");
        assert!(status.active.is_none(), "{package}");
        assert_eq!(status.failed.first().and_then(|f| f.gate), Some(Gate::Preflight), "{package}");
        // The same bytes are refused at once, without another child.
        let again = runtime.deploy(&bundle).expect_err("again");
        assert!(again.to_string().contains("already failed (preflight gate)"), "{again}");
    }
    // The memory case says why the child aborted.
    let oom = runtime.status("init-oom").expect("status");
    assert!(oom.failed[0].reason.contains("SIGABRT"), "{}", oom.failed[0].reason);

    // The same bytes as a plain library file: already failed, nothing runs.
    let err = runtime.deploy(&hotpack_testkit::module("fx-ctor-exit")).expect_err("library file");
    assert!(err.to_string().contains("already failed (preflight gate)"), "{err}");
    // A plain library file meets the same gate (a runtime that never saw it).
    let fresh = Runtime::builder().cache_dir(dir.path().join("cache2")).preflight_with(child()).build().expect("rt");
    let err = fresh.deploy(&hotpack_testkit::module("fx-ctor-exit")).expect_err("library file");
    assert!(preflight_refusal(&err).contains("exited with code 3"));
    assert_eq!(fresh.cache().mapped().libraries, 0);

    // Nothing of theirs was mapped here; the host is alive and greeter still answers.
    assert_eq!(runtime.cache().mapped().libraries, mapped);
    assert!(answer(&runtime).starts_with("hello, world (v1"), "still serving");
}

#[test]
fn a_probe_call_that_fails_in_the_child_refuses_the_candidate() {
    let dir = hotpack_testkit::scratch();
    let runtime = Runtime::builder()
        .cache_dir(dir.path().join("cache"))
        .preflight_with(child().call(None, "no-such-handler", b""))
        .build()
        .expect("runtime");
    let greeter = dir.path().join("greeter.zip");
    hotpack::pack_library(&hotpack_testkit::module("greeter-v1"), &greeter, vec![]).expect("pack greeter");
    let reason = preflight_refusal(&runtime.deploy(&greeter).expect_err("probe fails"));
    assert!(reason.contains("probe gate") && reason.contains("no-such-handler"), "{reason}");
    assert_eq!(runtime.cache().mapped().libraries, 0);
}

#[test]
fn a_missing_preflight_executable_refuses_with_its_path() {
    let dir = hotpack_testkit::scratch();
    let missing = dir.path().join("no-such-preflight");
    let runtime = Runtime::builder()
        .cache_dir(dir.path().join("cache"))
        .preflight_with(PreflightCommand::new(&missing))
        .build()
        .expect("builds: the command is only run on deploy");
    let greeter = dir.path().join("greeter.zip");
    hotpack::pack_library(&hotpack_testkit::module("greeter-v1"), &greeter, vec![]).expect("pack greeter");
    let reason = preflight_refusal(&runtime.deploy(&greeter).expect_err("no child"));
    assert!(reason.contains("cannot start the preflight child") && reason.contains("no-such-preflight"), "{reason}");
}

#[test]
fn a_file_replaced_before_the_preflight_child_reads_it_does_not_condemn_the_checked_bytes() {
    let dir = hotpack_testkit::scratch();
    let runtime = Runtime::builder().cache_dir(dir.path().join("cache")).preflight_with(child()).build().expect("rt");
    let greeter = dir.path().join("greeter.zip");
    hotpack::pack_library(&hotpack_testkit::module("greeter-v1"), &greeter, vec![]).expect("pack v1");
    let checked: std::sync::Arc<[u8]> = std::fs::read(&greeter).expect("read").into();
    let hash = blake3::hash(&checked);
    // The host holds v1's bytes; on disk the file is already v2 when the child reads it.
    hotpack::pack_library(&hotpack_testkit::module("greeter-v2"), &greeter, vec![]).expect("pack v2");
    let err = runtime.supervisor().deploy_confirmed(&greeter, checked.clone(), hash).expect_err("the child saw v2");
    assert!(err.to_string().contains("not the library the host checked"), "{err}");
    let status = runtime.supervisor().status("greeter");
    assert!(status.as_ref().is_none_or(|s| s.failed.is_empty()), "v1's bytes are not marked: {status:?}");
    // Once the file holds them again, the same bytes deploy.
    std::fs::write(&greeter, &checked).expect("write v1 back");
    runtime.supervisor().deploy_confirmed(&greeter, checked, hash).expect("v1 deploys");
}
