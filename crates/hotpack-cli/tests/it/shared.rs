//! Shared code as its own bundle under `hotpack serve` (defaults): `svc-a` and `svc-b` require
//! `textutil`'s interface; the provider is swapped, refused and rolled back under them.

use crate::serve::{Serve, call, good_bundle};

fn modules(serve: &Serve) -> serde_json::Value {
    let (status, body) = call(serve.addr, "GET", "/-/modules", b"");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

fn module<'a>(listing: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    listing["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not serving: {listing}"))
}

#[test]
fn serve_swaps_a_provider_under_its_dependents_and_refuses_one_that_would_break_them() {
    // The default: every module in its worker, each dependent's worker hosting its provider.
    swaps_refuses_and_rolls_back(&[]);
}

#[test]
fn serve_in_process_swaps_a_provider_under_its_dependents_and_refuses_one_that_would_break_them() {
    swaps_refuses_and_rolls_back(&["--in-process"]);
}

fn swaps_refuses_and_rolls_back(extra: &[&str]) {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    // The dependents sort first: the folder is deployed in name order, before their provider.
    for (file, package) in [("svc-a.zip", "svc-a"), ("svc-b.zip", "svc-b"), ("textutil.zip", "textutil-v1")] {
        hotpack_archive::write_atomic(&dir.join(file), &good_bundle(package, 0)).expect("write a bundle");
    }
    let serve = Serve::start(&dir, extra);
    let addr = serve.addr;
    assert_eq!(call(addr, "POST", "/svc-a/run", b"abc"), (200, "a:ABC".to_owned()));
    assert_eq!(call(addr, "POST", "/svc-b/run", b"abc"), (200, "b:ABC".to_owned()));
    let listing = modules(&serve);
    assert_eq!(listing["refused"], serde_json::json!([]), "{listing}");
    let svc_a = module(&listing, "svc-a");
    assert_eq!(svc_a["requires"][0]["interface"], "TextUtil");
    assert_eq!(svc_a["requires"][0]["provider"], "textutil");
    assert_eq!(svc_a["requires"][0]["range"], serde_json::Value::Null, "svc-a takes any version");
    assert_eq!(module(&listing, "textutil")["dependents"], serde_json::json!(["svc-a", "svc-b"]));
    let hashes = (svc_a["hash"].clone(), module(&listing, "svc-b")["hash"].clone());

    // v2: both services see it on their next call; neither was redeployed.
    hotpack_archive::write_atomic(&dir.join("textutil.zip"), &good_bundle("textutil-v2", 1)).expect("write v2");
    let line = serve.next_outcome();
    assert!(line.contains("deployed textutil 2.0.0"), "{line}");
    assert_eq!(call(addr, "POST", "/svc-a/run", b"abc"), (200, "a:ABC!".to_owned()));
    assert_eq!(call(addr, "POST", "/svc-b/run", b"abc"), (200, "b:ABC!".to_owned()));
    let listing = modules(&serve);
    assert_eq!((module(&listing, "svc-a")["hash"].clone(), module(&listing, "svc-b")["hash"].clone()), hashes);

    // v3 changed the interface: refused naming both dependents, v2 keeps serving.
    hotpack_archive::write_atomic(&dir.join("textutil.zip"), &good_bundle("textutil-v3", 2)).expect("write v3");
    let line = serve.next_outcome();
    assert!(line.contains("refused") && line.contains("svc-a") && line.contains("svc-b"), "{line}");
    assert_eq!(call(addr, "POST", "/svc-a/run", b"abc"), (200, "a:ABC!".to_owned()));
    let listing = modules(&serve);
    assert_eq!(module(&listing, "textutil")["version"], "2.0.0");
    let refused = listing["refused"].to_string();
    assert!(refused.contains("textutil.zip") && refused.contains("svc-a, svc-b"), "{refused}");

    // Rolling the provider back is seen by both.
    let (status, body) = call(addr, "POST", "/-/rollback/textutil", b"");
    assert_eq!(status, 200, "{body}");
    assert_eq!(call(addr, "POST", "/svc-a/run", b"abc"), (200, "a:ABC".to_owned()));
    assert_eq!(call(addr, "POST", "/svc-b/run", b"abc"), (200, "b:ABC".to_owned()));

    // A restart comes up whole (the journal in whatever order, then the folder).
    drop(serve);
    let serve = Serve::start(&dir, extra);
    assert_eq!(call(serve.addr, "POST", "/svc-a/run", b"abc"), (200, "a:ABC".to_owned()));
    assert_eq!(call(serve.addr, "POST", "/svc-b/run", b"abc"), (200, "b:ABC".to_owned()));
}

#[test]
fn serve_charges_a_crash_in_provider_code_to_the_provider_and_the_dependent_serves_on() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    for (file, package) in [("svc-b.zip", "svc-b"), ("textutil.zip", "textutil-v1")] {
        hotpack_archive::write_atomic(&dir.join(file), &good_bundle(package, 0)).expect("write a bundle");
    }
    let serve = Serve::start(&dir, &[]);
    let addr = serve.addr;
    assert_eq!(call(addr, "POST", "/svc-b/run", b"abc"), (200, "b:ABC".to_owned()));
    // textutil 5.0.0 passes its gates; its `transform` writes through null on `segv`.
    hotpack_archive::write_atomic(&dir.join("textutil.zip"), &good_bundle("fx-textutil-crashes", 1)).expect("write");
    let line = serve.next_outcome();
    assert!(line.contains("deployed textutil 5.0.0"), "{line}");
    assert_eq!(call(addr, "POST", "/svc-b/run", b"abc"), (200, "b:ABC".to_owned()));
    let (status, body) = call(addr, "POST", "/svc-b/run", b"segv");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("SIGSEGV") && body.contains("provider `textutil` 5.0.0"), "{body}");
    // textutil is back on 1.0.0 (5.0.0 failed), svc-b serves on, on its one version.
    assert_eq!(call(addr, "POST", "/svc-b/run", b"abc"), (200, "b:ABC".to_owned()));
    assert_eq!(call(addr, "POST", "/svc-b/run", b"segv"), (200, "b:SEGV".to_owned()));
    let listing = modules(&serve);
    assert_eq!(module(&listing, "textutil")["version"], "1.0.0", "{listing}");
    assert_eq!(module(&listing, "svc-b")["version"], "1.0.0", "{listing}");
}

#[test]
fn inspect_shows_what_a_bundle_requires() {
    let scratch = hotpack_testkit::scratch();
    let bundle = scratch.path().join("svc-a.zip");
    hotpack_archive::write_atomic(&bundle, &good_bundle("svc-a", 0)).expect("write a bundle");
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hotpack")).args(args).output().expect("run hotpack")
    };
    let out = run(&["inspect".as_ref(), "--json".as_ref(), bundle.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json[0]["requires"][0]["name"], "TextUtil", "{json}");
    let text = run(&["inspect".as_ref(), bundle.as_os_str()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("requires:    TextUtil"));
    let provider = scratch.path().join("textutil.zip");
    hotpack_archive::write_atomic(&provider, &good_bundle("textutil-v1", 0)).expect("write a bundle");
    let out = run(&["inspect".as_ref(), "--json".as_ref(), provider.as_os_str()]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json[0]["requires"], serde_json::json!([]));
    // A requirement with a range on its provider's version shows it, the bundle and the
    // library alike.
    let ranged = scratch.path().join("svc-ranged.zip");
    hotpack_archive::write_atomic(&ranged, &good_bundle("fx-svc-ranged", 0)).expect("write a bundle");
    let library = hotpack_testkit::module("fx-svc-ranged");
    for path in [ranged.as_os_str(), library.as_os_str()] {
        let out = run(&["inspect".as_ref(), "--json".as_ref(), path]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let requires = if json.is_array() { &json[0]["requires"] } else { &json["requires"] };
        assert_eq!(requires[0]["range"], ">=2, <3", "{json}");
        let text = String::from_utf8_lossy(&run(&["inspect".as_ref(), path]).stdout).into_owned();
        assert!(text.contains("requires:    TextUtil") && text.contains("(provider version >=2, <3)"), "{text}");
    }
}

#[test]
fn serve_isolated_keeps_a_dependent_waiting_for_a_provider_in_its_range_and_refuses_one_outside_it() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    // textutil 1.0.0 provides the interface but is outside svc-ranged's `>=2, <3`.
    for (file, package) in [("svc-ranged.zip", "fx-svc-ranged"), ("textutil.zip", "textutil-v1")] {
        hotpack_archive::write_atomic(&dir.join(file), &good_bundle(package, 0)).expect("write a bundle");
    }
    let serve = Serve::start(&dir, &[]);
    let listing = modules(&serve);
    let refused = listing["refused"].to_string();
    assert!(refused.contains("svc-ranged.zip") && refused.contains(">=2, <3"), "{refused}");
    assert_ne!(call(serve.addr, "POST", "/svc-ranged/run", b"abc").0, 200, "svc-ranged waits");
    // v2 is in the range: svc-ranged is deployed by itself.
    hotpack_archive::write_atomic(&dir.join("textutil.zip"), &good_bundle("textutil-v2", 1)).expect("write v2");
    let line = serve.next_outcome();
    assert!(line.contains("deployed textutil 2.0.0"), "{line}");
    assert_eq!(call(serve.addr, "POST", "/svc-ranged/run", b"abc"), (200, "r:ABC!".to_owned()));
    let listing = modules(&serve);
    let ranged = module(&listing, "svc-ranged");
    assert_eq!(
        (&ranged["requires"][0]["range"], &ranged["requires"][0]["provider"]),
        (&">=2, <3".into(), &"textutil".into())
    );
    // Back to v1 (same interface, outside the range): refused naming svc-ranged and the range.
    let (status, body) = call(serve.addr, "POST", "/-/rollback/textutil", b"");
    assert_ne!(status, 200, "{body}");
    assert!(body.contains("svc-ranged") && body.contains(">=2, <3"), "{body}");
    assert_eq!(call(serve.addr, "POST", "/svc-ranged/run", b"abc"), (200, "r:ABC!".to_owned()));
    assert_eq!(module(&modules(&serve), "textutil")["version"], "2.0.0");
}

#[test]
fn deleting_a_provider_file_under_serve_deploys_nothing_and_its_dependents_keep_answering() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    for (file, package) in [("svc-a.zip", "svc-a"), ("svc-b.zip", "svc-b"), ("textutil.zip", "textutil-v1")] {
        hotpack_archive::write_atomic(&dir.join(file), &good_bundle(package, 0)).expect("write a bundle");
    }
    let serve = Serve::start(&dir, &[]);
    assert_eq!(call(serve.addr, "POST", "/svc-a/run", b"abc"), (200, "a:ABC".to_owned()));
    std::fs::remove_file(dir.join("textutil.zip")).expect("delete the provider's file");
    // The next outcome is the next file's: the deletion deployed (and refused) nothing.
    hotpack_archive::write_atomic(&dir.join("greeter.zip"), &good_bundle("greeter-v1", 0)).expect("write a bundle");
    let line = serve.next_outcome();
    assert!(line.contains("deployed greeter"), "{line}");
    assert_eq!(call(serve.addr, "POST", "/svc-a/run", b"abc"), (200, "a:ABC".to_owned()));
    assert_eq!(call(serve.addr, "POST", "/svc-b/run", b"abc"), (200, "b:ABC".to_owned()));
    let listing = modules(&serve);
    assert_eq!(module(&listing, "textutil")["version"], "1.0.0");
    assert_eq!(module(&listing, "textutil")["dependents"], serde_json::json!(["svc-a", "svc-b"]));
    assert_eq!(listing["refused"], serde_json::json!([]), "{listing}");
}

#[test]
fn serve_isolated_refuses_a_cycle_naming_it_and_lists_a_missing_provider() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    // cycle-x waits for a provider of `Y`; cycle-y provides it but requires `X`: a cycle.
    for (file, package) in [("cycle-x.zip", "fx-cycle-x"), ("cycle-y.zip", "fx-cycle-y2")] {
        hotpack_archive::write_atomic(&dir.join(file), &good_bundle(package, 0)).expect("write a bundle");
    }
    let serve = Serve::start(&dir, &[]);
    let listing = modules(&serve);
    let refused = listing["refused"].to_string();
    assert!(refused.contains("cycle-x.zip") && refused.contains("no current module provides"), "{refused}");
    assert!(refused.contains("cycle-y.zip") && refused.contains("cycle-y -> cycle-x -> cycle-y"), "{refused}");
}

/// An isolated runtime with `panic_budget: 0` in `dir`, its workers this crate's `hotpack`.
fn isolated_runtime(dir: &std::path::Path) -> hotpack::Runtime {
    let isolation = hotpack::rollback::Isolation {
        command: hotpack::worker::WorkerCommand::new(env!("CARGO_BIN_EXE_hotpack")),
        limits: hotpack::worker::WorkerLimits::default(),
        data: None,
    };
    hotpack::Runtime::builder()
        .cache_dir(dir.join("cache"))
        .journal(dir.join("journal"))
        .policy(hotpack::rollback::Policy { panic_budget: 0, ..Default::default() })
        .isolate(isolation)
        .build()
        .expect("runtime")
}

fn deploy(runtime: &hotpack::Runtime, dir: &std::path::Path, packages: &[&str]) {
    for package in packages {
        let bundle = dir.join(format!("{package}.zip"));
        hotpack_archive::write_atomic(&bundle, &good_bundle(package, 0)).expect("write a bundle");
        runtime.supervisor().deploy_bundle(&bundle).unwrap_or_else(|e| panic!("{package}: {e}"));
    }
}

fn active_major(runtime: &hotpack::Runtime, name: &str) -> Option<u64> {
    runtime.supervisor().status(name).and_then(|s| s.active.map(|a| a.version.major))
}

#[test]
fn under_isolation_a_crash_in_provider_code_inside_a_dependents_call_is_charged_to_the_provider() {
    // svc-b's worker hosts textutil 5.0.0, whose `transform` crashes the process on these
    // inputs. The worker's crash handler notes textutil's code as the site: textutil is
    // demoted (back to v1, journaled), svc-b serves on, on its only version, in a fresh
    // worker, and a restart comes back on textutil v1.
    for (input, death) in
        [("segv", "SIGSEGV"), ("abort", "SIGABRT"), ("exit", "exited with code 7"), ("overflow", "SIGABRT")]
    {
        let scratch = hotpack_testkit::scratch();
        let dir = scratch.path();
        let runtime = isolated_runtime(dir);
        deploy(&runtime, dir, &["textutil-v1", "svc-b", "fx-textutil-crashes"]);
        assert_eq!(runtime.call("svc-b", "run", b"abc").expect("run"), b"b:ABC");
        let err = runtime.call("svc-b", "run", input.as_bytes()).expect_err(input);
        match &err {
            hotpack::Error::ProviderCrashed { module, provider, .. } => {
                assert_eq!((module.as_str(), provider.name.as_str()), ("svc-b", "textutil"), "{err}");
                assert_eq!(provider.version.major, 5, "{err}");
            }
            other => panic!("{input}: expected the crash charged to textutil, got {other}"),
        }
        let message = err.to_string();
        assert!(message.contains(death) && message.contains("provider `textutil` 5.0.0"), "{message}");
        assert_eq!(active_major(&runtime, "textutil"), Some(1), "{input}");
        assert_eq!(runtime.call("svc-b", "run", b"abc").expect("svc-b serves on"), b"b:ABC");
        assert_eq!(active_major(&runtime, "svc-b"), Some(1), "{input}");
        let workers = runtime.supervisor().workers();
        let svc_b = workers.iter().find(|w| w.module == "svc-b").expect("svc-b's worker");
        assert_eq!(svc_b.restarts, 1, "{svc_b:?}");
        drop(runtime);
        let again = isolated_runtime(dir);
        again.restore().expect("restore");
        assert_eq!(active_major(&again, "textutil"), Some(1), "{input}: the journal kept the crash");
        assert_eq!(again.call("svc-b", "run", b"abc").expect("run after a restart"), b"b:ABC");
    }
}

#[test]
fn under_isolation_a_dependents_own_crash_after_its_provider_answered_is_the_dependents() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path();
    let runtime = isolated_runtime(dir);
    deploy(&runtime, dir, &["textutil-v1", "fx-svc-crashes"]);
    assert_eq!(runtime.call("svc-crashes", "run", b"abc").expect("run"), b"c:ABC");
    let err = runtime.call("svc-crashes", "abort", b"abc").expect_err("aborts");
    assert!(matches!(&err, hotpack::Error::Crashed { module, .. } if module == "svc-crashes"), "{err}");
    assert_eq!(active_major(&runtime, "textutil"), Some(1));
    let textutil = runtime.supervisor().status("textutil").expect("textutil");
    assert!(textutil.failed.is_empty(), "the provider is not charged: {textutil:?}");
    let charged = runtime.supervisor().status("svc-crashes").expect("svc-crashes");
    assert!(charged.failed.iter().any(|f| f.reason.contains("SIGABRT")), "{charged:?}");
}

#[test]
fn under_isolation_a_provider_panic_met_by_a_dependent_counts_against_the_provider() {
    // As in process (`hotpack-rollback`'s deps tests): svc-b's worker hosts textutil 4.0.0,
    // whose `transform` panics; the panic is caught in textutil's shim there and reaches
    // svc-b as an error value. The worker names textutil in the reply: it is charged (budget
    // 0: demoted back to v1, which is pushed into svc-b's worker), svc-b is not.
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path();
    let isolation = hotpack::rollback::Isolation {
        command: hotpack::worker::WorkerCommand::new(env!("CARGO_BIN_EXE_hotpack")),
        limits: hotpack::worker::WorkerLimits::default(),
        data: None,
    };
    let runtime = hotpack::Runtime::builder()
        .cache_dir(dir.join("cache"))
        .policy(hotpack::rollback::Policy { panic_budget: 0, ..Default::default() })
        .isolate(isolation)
        .build()
        .expect("runtime");
    let sup = runtime.supervisor();
    for package in ["textutil-v1", "svc-b", "fx-textutil-panics"] {
        let bundle = dir.join(format!("{package}.zip"));
        hotpack_archive::write_atomic(&bundle, &good_bundle(package, 0)).expect("write a bundle");
        sup.deploy_bundle(&bundle).unwrap_or_else(|e| panic!("{package}: {e}"));
    }
    let err = sup.call("svc-b", "run", b"abc").expect_err("the provider panics");
    assert!(err.to_string().contains("cannot transform"), "{err}");
    assert!(!err.is_panic(), "svc-b itself did not panic: {err}");
    // Charged to textutil: demoted back to v1, seen by svc-b on its next call; svc-b, on its
    // only version, still serves (charged, with budget 0, it would have nothing to serve).
    assert_eq!(sup.call("svc-b", "run", b"abc").expect("run"), b"b:ABC");
    assert_eq!(sup.call("svc-b", "run", b"abc").expect("run"), b"b:ABC");
    let textutil = sup.status("textutil").expect("textutil");
    assert_eq!(textutil.active.as_ref().map(|a| a.version.major), Some(1), "{textutil:?}");
}
