//! The runtime's ways in, watched: `import`, `reload`, `deploy` and the watcher's confirmed
//! bytes each run their candidate through the supervisor's one runner, and the step observer
//! sees every step of the plan run (signature to promotion) for each of them.

use hotpack::rollback::{Plan, StepEnd, StepSeen};
use hotpack::{Event, Runtime, WatchReport};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Seen = Arc<Mutex<Vec<(Plan, String, String)>>>;

/// Watches every step `runtime`'s supervisor runs: `(plan, step, module)`, a refused step
/// marked `!`, a step that ended the run unchanged `=`.
fn watch(runtime: &Runtime) -> Seen {
    let seen: Seen = Arc::default();
    let s = Arc::clone(&seen);
    runtime.supervisor().observe_steps(Some(Arc::new(move |step: &StepSeen| {
        let end = match step.end {
            StepEnd::Passed => "",
            StepEnd::Stopped => "=",
            _ => "!",
        };
        let name = format!("{:?}{end}", step.step);
        // Bytes not yet named by their load are shown by their path.
        let module = if step.module.ends_with("libgreeter.so") { "<file>".to_owned() } else { step.module.clone() };
        s.lock().expect("seen").push((step.plan, name, module));
    })));
    seen
}

fn take(seen: &Seen) -> Vec<(Plan, String, String)> {
    std::mem::take(&mut *seen.lock().expect("seen"))
}

/// `steps` of `plan` for `module`, each passed.
fn ran(plan: Plan, module: &str, steps: &[&str]) -> Vec<(Plan, String, String)> {
    steps.iter().map(|s| (plan, (*s).to_owned(), module.to_owned())).collect()
}

const BUNDLE: &[&str] = &[
    "Signature",
    "Verify",
    "Admit",
    "Preflight",
    "Load",
    "Bindings",
    "Requires",
    "Init",
    "State",
    "Probe",
    "Store",
    "Promote",
];

fn pack(package: &str, out: &std::path::Path) {
    hotpack::pack_library(&hotpack_testkit::module(package), out, vec![]).expect("pack a fixture");
}

#[test]
fn import_reload_and_deploy_each_run_the_bundle_plan() {
    let dir = hotpack_testkit::scratch();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    let zip = plugins.join("greeter.zip");
    pack("greeter-v1", &zip);
    let runtime =
        Runtime::builder().cache_dir(dir.path().join("cache")).search_path(&plugins).build().expect("runtime");
    let seen = watch(&runtime);

    runtime.import("greeter").expect("import");
    assert_eq!(take(&seen), ran(Plan::Bundle, "greeter", BUNDLE), "import");
    runtime.import("greeter").expect("a hit");
    assert!(take(&seen).is_empty(), "an import hit runs nothing");

    pack("greeter-v2", &zip);
    runtime.reload("greeter").expect("reload");
    assert_eq!(take(&seen), ran(Plan::Bundle, "greeter", BUNDLE), "reload");
    assert_eq!(runtime.call("greeter", "version", b"").expect("v2"), b"2");

    let lib = dir.path().join("libgreeter.so");
    std::fs::write(&lib, hotpack_testkit::module_bytes("greeter-v1")).expect("write");
    runtime.deploy(&lib).expect_err("a plain v1 is a downgrade");
    let mut want = ran(Plan::File, "<file>", &["Signature", "Verify", "Preflight"]);
    want.extend(ran(Plan::File, "greeter", &["Load"]));
    want.push((Plan::File, "Admit!".to_owned(), "greeter".to_owned()));
    assert_eq!(take(&seen), want, "deploy of a plain library");
}

#[test]
fn the_watcher_s_confirmed_bytes_run_the_bundle_and_file_plans() {
    let dir = hotpack_testkit::scratch();
    let (runtime, plugins) = super::watched_runtime(dir.path());
    let seen = watch(&runtime);
    let events = runtime.subscribe();
    let _watching = runtime.watch().expect("watch");
    let deployed = || loop {
        match events.recv_timeout(Duration::from_secs(30)).expect("a deploy outcome") {
            Event::Deploy(WatchReport::Deployed { .. }) => break,
            Event::Deploy(WatchReport::Refused { error, .. }) => panic!("refused: {error}"),
            _ => {}
        }
    };

    let staged = dir.path().join("greeter.zip");
    pack("greeter-v1", &staged);
    std::fs::rename(&staged, plugins.join("greeter.zip")).expect("rename into the folder");
    deployed();
    assert_eq!(take(&seen), ran(Plan::Bundle, "greeter", BUNDLE), "a bundle renamed in");

    let lib = plugins.join("libgreeter.so");
    hotpack::archive::write_atomic(&lib, &hotpack_testkit::module_bytes("greeter-v2")).expect("write v2");
    deployed();
    let mut want = ran(Plan::File, "<file>", &["Signature", "Verify", "Preflight"]);
    want.extend(ran(
        Plan::File,
        "greeter",
        &["Load", "Admit", "Bindings", "Requires", "Init", "State", "Probe", "Store", "Promote"],
    ));
    assert_eq!(take(&seen), want, "a plain library written in place");
    assert_eq!(runtime.call("greeter", "version", b"").expect("v2 serves"), b"2");
}
