//! Isolated runtimes end to end: an isolated probe calls into the candidate's worker and
//! decides its promotion; a probe of the wrong kind is refused, never skipped; the host
//! never maps the code of a module that runs in a worker, through deploys and swaps.

use std::sync::{Arc, Mutex};

use hotpack::rollback::{Gate, GateError, Isolation, RollbackError, WorkerProxy};
use hotpack::worker::{WorkerCommand, WorkerLimits};
use hotpack::{Error, Happened, Runtime};

/// Workers run by the facade's own binary (`hotpack-preflight` runs the worker entry too).
fn isolation() -> Isolation {
    Isolation {
        command: WorkerCommand::new(env!("CARGO_BIN_EXE_hotpack-preflight")),
        limits: WorkerLimits::default(),
        data: None,
    }
}

/// An isolated runtime in `dir` whose `greeter` candidates are probed by `probe`.
fn probed(dir: &std::path::Path, probe: hotpack::IsolatedProbe) -> Runtime {
    Runtime::builder()
        .cache_dir(dir.join("cache"))
        .isolate(isolation())
        .isolated_probe("greeter", probe)
        .build()
        .expect("runtime")
}

fn bundle(dir: &std::path::Path, package: &str) -> std::path::PathBuf {
    let out = dir.join(format!("{package}.zip"));
    hotpack::pack_library(&hotpack_testkit::module(package), &out, vec![]).expect("pack a fixture");
    out
}

fn call(runtime: &Runtime, handler: &str, input: &[u8]) -> String {
    String::from_utf8(runtime.call("greeter", handler, input).expect("greeter answers")).expect("utf-8")
}

/// The host maps nothing of an isolated module: its loader holds no library, and not the
/// version that serves.
fn assert_nothing_mapped(runtime: &Runtime, hash: &blake3::Hash, after: &str) {
    let mapped = runtime.cache().mapped();
    assert_eq!(mapped.libraries, 0, "after {after}, the host mapped {mapped:?}");
    assert!(!runtime.cache().is_mapped(hash), "after {after}, the host mapped the serving version");
}

/// What a refused deploy says: the gate and its typed cause.
fn refusal(err: &Error) -> (Gate, &GateError) {
    match err {
        Error::Rollback(e) => match &**e {
            RollbackError::GateFailed { gate, error, .. } => (*gate, &**error),
            other => panic!("not a gate failure: {other}"),
        },
        other => panic!("not a refusal: {other}"),
    }
}

/// An isolated probe runs in each candidate's worker: it calls `greet` through the proxy,
/// and what it passes is promoted; the deploy, the swap to v2 and the calls answered by
/// workers leave nothing of the module mapped in the host.
#[test]
fn an_isolated_probe_that_passes_promotes_and_the_host_never_maps_the_code() {
    let dir = hotpack_testkit::scratch();
    let greeted = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&greeted);
    let probe = Arc::new(move |m: &WorkerProxy<'_>| {
        let out = String::from_utf8(m.call("greet", b"probe")?)?;
        seen.lock().expect("not poisoned").push(out.clone());
        if out.to_lowercase().starts_with("hello, probe") { Ok(()) } else { Err(format!("greet said {out}").into()) }
    });
    let runtime = probed(dir.path(), probe);

    let v1 = runtime.deploy(&bundle(dir.path(), "greeter-v1")).expect("v1 passes its probe");
    assert!(matches!(v1[0].outcome, Happened::Promoted { .. }), "{:?}", v1[0].outcome);
    assert!(call(&runtime, "greet", b"you").contains("(v1"), "v1 serves from its worker");
    assert_nothing_mapped(&runtime, &v1[0].hash, "an isolated deploy");

    let v2 = runtime.deploy(&bundle(dir.path(), "greeter-v2")).expect("v2 passes its probe");
    assert!(matches!(v2[0].outcome, Happened::Promoted { .. }), "{:?}", v2[0].outcome);
    assert!(call(&runtime, "greet", b"you").contains("(v2"), "the swap made v2 answer");
    assert_nothing_mapped(&runtime, &v2[0].hash, "an isolated swap");

    let greeted = greeted.lock().expect("not poisoned").clone();
    assert_eq!(greeted.len(), 2, "the probe ran once per candidate: {greeted:?}");
    assert!(greeted[0].contains("(v1") && greeted[1].contains("(v2"), "each in its own candidate: {greeted:?}");
    let workers = runtime.supervisor().workers();
    assert!(workers.iter().any(|w| w.module == "greeter" && w.version == v2[0].version && w.alive), "{workers:?}");
}

/// An isolated probe that says no (here to version 2, which it asks through the proxy)
/// refuses the candidate at the probe gate; the previous version keeps serving.
#[test]
fn an_isolated_probe_that_fails_through_the_worker_refuses_and_the_previous_version_serves() {
    let dir = hotpack_testkit::scratch();
    let probe = Arc::new(|m: &WorkerProxy<'_>| match m.call("version", b"")?.as_slice() {
        b"2" => Err("version 2 is not ready".into()),
        _ => Ok(()),
    });
    let runtime = probed(dir.path(), probe);
    runtime.deploy(&bundle(dir.path(), "greeter-v1")).expect("v1 passes its probe");

    let err = runtime.deploy(&bundle(dir.path(), "greeter-v2")).expect_err("the probe refuses v2");
    let (gate, error) = refusal(&err);
    assert_eq!(gate, Gate::Probe, "{err}");
    assert!(matches!(error, GateError::Probe { .. }), "{error:?}");
    assert!(error.to_string().contains("version 2 is not ready"), "{error}");
    assert_eq!(call(&runtime, "version", b""), "1", "the previous version keeps serving");
    assert!(runtime.supervisor().runs_in_worker("greeter"), "and it runs in its worker");
}

/// A probe of the wrong kind could never run: an in-process `Probe` on an isolated runtime
/// (the host never maps the module) or an `IsolatedProbe` on an in-process one (there is no
/// worker to call). The builder refuses either, typed; given later to the supervisor, the
/// probe gate refuses the candidate (not promoted unprobed) without blaming its bytes, which
/// pass once a probe of the right kind is set.
#[test]
fn a_probe_of_the_wrong_kind_is_refused_never_skipped() {
    let dir = hotpack_testkit::scratch();
    let in_process = || -> hotpack::Probe {
        Arc::new(|m: &hotpack::loader::Module| m.call("version", b"").map(drop).map_err(Into::into))
    };
    let isolated = || -> hotpack::IsolatedProbe {
        Arc::new(|m: &WorkerProxy<'_>| m.call("version", b"").map(drop).map_err(Into::into))
    };

    let refused =
        Runtime::builder().cache_dir(dir.path().join("a")).isolate(isolation()).probe("greeter", in_process()).build();
    let err = refused.expect_err("an in-process probe on an isolated runtime");
    assert!(
        matches!(&err, Error::Probe(e) if matches!(&**e, GateError::InProcessProbeInWorker { module } if module == "greeter")),
        "{err:?}"
    );
    assert!(err.to_string().contains("isolated_probe"), "it says what to use: {err}");
    let refused = Runtime::builder().cache_dir(dir.path().join("b")).isolated_probe("greeter", isolated()).build();
    let err = refused.expect_err("an isolated probe on an in-process runtime");
    assert!(
        matches!(&err, Error::Probe(e) if matches!(&**e, GateError::IsolatedProbeInProcess { module } if module == "greeter")),
        "{err:?}"
    );

    let v1 = bundle(dir.path(), "greeter-v1");
    let runtime = Runtime::builder().cache_dir(dir.path().join("c")).isolate(isolation()).build().expect("runtime");
    runtime.supervisor().set_probe("greeter", in_process());
    let err = runtime.deploy(&v1).expect_err("refused, not promoted unprobed");
    let (gate, error) = refusal(&err);
    assert_eq!(gate, Gate::Probe, "{err}");
    assert!(matches!(error, GateError::InProcessProbeInWorker { module } if module == "greeter"), "{error:?}");
    assert!(matches!(runtime.call("greeter", "version", b""), Err(Error::NotLoaded { .. })), "nothing was promoted");
    let status = runtime.status("greeter").expect("status");
    assert!(status.failed.is_empty(), "the host's probe, not the bytes, is to blame: {status:?}");
    runtime.supervisor().set_isolated_probe("greeter", isolated());
    runtime.deploy(&v1).expect("with a probe that runs in its worker, the same bytes pass");
    assert_eq!(call(&runtime, "version", b""), "1");

    let runtime = Runtime::builder().cache_dir(dir.path().join("d")).build().expect("runtime");
    runtime.supervisor().set_isolated_probe("greeter", isolated());
    let err = runtime.deploy(&v1).expect_err("refused, not promoted unprobed");
    assert!(matches!(refusal(&err), (Gate::Probe, GateError::IsolatedProbeInProcess { .. })), "{err}");
    assert!(matches!(runtime.call("greeter", "version", b""), Err(Error::NotLoaded { .. })), "nothing was promoted");
}

/// Default probes of both kinds (what `hotpack serve --probe` sets): a worker candidate gets
/// the isolated one. A module's own probe comes before the defaults, whatever its kind: an
/// in-process one of its own refuses its worker candidates even beside a default isolated
/// probe that could run.
#[test]
fn a_modules_own_probe_comes_before_the_defaults_of_either_kind() {
    let dir = hotpack_testkit::scratch();
    let runtime = Runtime::builder().cache_dir(dir.path().join("cache")).isolate(isolation()).build().expect("runtime");
    let ran = Arc::new(Mutex::new(0));
    let count = Arc::clone(&ran);
    runtime.supervisor().set_default_probes(
        Some(Arc::new(|_: &hotpack::loader::Module| Err("the in-process default ran in an isolated runtime".into()))),
        Some(Arc::new(move |m: &WorkerProxy<'_>| {
            *count.lock().expect("not poisoned") += 1;
            m.call("version", b"").map(drop).map_err(Into::into)
        })),
    );
    runtime.deploy(&bundle(dir.path(), "greeter-v1")).expect("the default isolated probe passes v1");
    assert_eq!(*ran.lock().expect("not poisoned"), 1, "the default isolated probe ran in v1's worker");

    runtime.supervisor().set_probe("greeter", Arc::new(|_: &hotpack::loader::Module| Ok(())));
    let err = runtime.deploy(&bundle(dir.path(), "greeter-v2")).expect_err("its own probe cannot run in a worker");
    assert!(matches!(refusal(&err), (Gate::Probe, GateError::InProcessProbeInWorker { .. })), "{err}");
    assert_eq!(*ran.lock().expect("not poisoned"), 1, "the default did not stand in for the module's own probe");
    assert_eq!(call(&runtime, "version", b""), "1", "the previous version keeps serving");
}
