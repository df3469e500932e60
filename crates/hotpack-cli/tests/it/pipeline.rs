//! Isolated versions go through the same runner: a bundle and a plain library deployed into
//! workers (this crate's `hotpack` binary is the worker), and a restart that restores into a
//! worker and keeps the other retained version, each watched step by step.

use hotpack::Runtime;
use hotpack::rollback::{Isolation, Plan, StepEnd, StepSeen};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(Plan, String, String)>>>;

fn isolated(dir: &std::path::Path) -> Runtime {
    let isolation = Isolation {
        command: hotpack::worker::WorkerCommand::new(env!("CARGO_BIN_EXE_hotpack")),
        limits: hotpack::worker::WorkerLimits::default(),
        data: None,
    };
    Runtime::builder()
        .cache_dir(dir.join("cache"))
        .journal(dir.join("state").join("journal.json"))
        .isolate(isolation)
        .build()
        .expect("runtime")
}

/// Every step the runtime's supervisor runs: `(plan, step, module)`, `!` when it refused.
fn watch(runtime: &Runtime) -> Seen {
    let seen: Seen = Arc::default();
    let s = Arc::clone(&seen);
    runtime.supervisor().observe_steps(Some(Arc::new(move |step: &StepSeen| {
        let end = if step.end == StepEnd::Refused { "!" } else { "" };
        let module = if step.module.ends_with(".so") { "<file>".to_owned() } else { step.module.clone() };
        s.lock().expect("seen").push((step.plan, format!("{:?}{end}", step.step), module));
    })));
    seen
}

fn take(seen: &Seen) -> Vec<(Plan, String, String)> {
    std::mem::take(&mut *seen.lock().expect("seen"))
}

fn ran(plan: Plan, module: &str, steps: &[&str]) -> Vec<(Plan, String, String)> {
    steps.iter().map(|s| (plan, (*s).to_owned(), module.to_owned())).collect()
}

#[test]
fn isolated_deploys_and_restores_run_their_plans_through_the_one_runner() {
    let dir = hotpack_testkit::scratch();
    let runtime = isolated(dir.path());
    let seen = watch(&runtime);

    let v1 = dir.path().join("greeter.zip");
    hotpack::pack_library(&hotpack_testkit::module("greeter-v1"), &v1, vec![]).expect("pack");
    runtime.deploy(&v1).expect("v1 deploys into a worker");
    let bundle =
        ["Signature", "Verify", "Admit", "StartWorker", "Requires", "Init", "State", "Probe", "Store", "Promote"];
    assert_eq!(take(&seen), ran(Plan::IsolatedBundle, "greeter", &bundle));
    assert!(runtime.supervisor().runs_in_worker("greeter"));

    let v2 = dir.path().join("libgreeter.so");
    std::fs::write(&v2, hotpack_testkit::module_bytes("greeter-v2")).expect("write");
    runtime.deploy(&v2).expect("a plain v2 deploys into a worker");
    let mut want = ran(Plan::IsolatedFile, "<file>", &["Signature", "Verify"]);
    want.extend(ran(
        Plan::IsolatedFile,
        "greeter",
        &["StartWorker", "Admit", "Requires", "Init", "State", "Probe", "Store", "Promote"],
    ));
    assert_eq!(take(&seen), want);
    assert_eq!(runtime.call("greeter", "version", b"").expect("v2 answers"), b"2");
    drop(runtime);

    // A restart: v2 restored into a worker, v1's checked bytes kept for a rollback.
    let runtime = isolated(dir.path());
    let seen = watch(&runtime);
    let report = runtime.restore().expect("restore");
    assert!(report.problems.is_empty(), "{report:?}");
    let mut want =
        ran(Plan::IsolatedRestore, "greeter", &["Signature", "Verify", "StartWorker", "Requires", "Init", "Promote"]);
    want.extend(ran(Plan::IsolatedRetain, "greeter", &["Signature", "Verify", "Keep"]));
    assert_eq!(take(&seen), want);
    assert_eq!(runtime.call("greeter", "version", b"").expect("v2 answers"), b"2");
    runtime.rollback("greeter").expect("v1 is reachable");
    assert_eq!(runtime.call("greeter", "version", b"").expect("v1 answers"), b"1");
    assert!(take(&seen).is_empty(), "a rollback selects a version that already passed: no plan runs");
}
