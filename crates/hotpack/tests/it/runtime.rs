//! The runtime's contract: import by name, deploy through gates, the panic budget,
//! rollback, invalidate, the modules listing, events.

use std::time::Duration;

use hotpack::rollback::Policy;
use hotpack::{Error, Event, Happened, Runtime, WatchReport};

fn bundle(dir: &std::path::Path, package: &str, file: &str) -> std::path::PathBuf {
    let out = dir.join(file);
    hotpack::pack_library(&hotpack_testkit::module(package), &out, vec![]).expect("pack a fixture");
    out
}

#[test]
fn import_deploy_panic_budget_rollback_and_listing() {
    let dir = hotpack_testkit::scratch();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    bundle(&plugins, "task-v1", "task.zip");
    let runtime = Runtime::builder()
        .cache_dir(dir.path().join("cache"))
        .search_path(&plugins)
        .policy(Policy { panic_budget: 0, ..Policy::default() })
        .build()
        .expect("runtime");
    let events = runtime.subscribe();

    // Import by name from the search path; a second import is a hit.
    let v1 = runtime.import("task").expect("import task");
    assert_eq!(v1.version().to_string(), "1.0.0");
    assert_eq!(runtime.import("task").expect("hit").hash(), v1.hash());
    // Two records; the second has category 15, which the broken v3 cannot handle.
    let mut data = vec![0u8; 32];
    data[28] = 15;
    assert_eq!(runtime.call("task", "run", &data).expect("call"), b"v1: 2 records, total amount 0");
    assert!(matches!(runtime.call("nosuch", "run", &data), Err(Error::NotLoaded { .. })));
    let unknown = runtime.call("task", "nosuch", &data).expect_err("no such handler");
    assert!(matches!(&unknown, Error::NoSuchHandler { available, .. } if available == &["run"]), "{unknown:?}");
    assert_eq!(unknown.to_string(), "module `task` 1.0.0 has no handler named `nosuch`; its handlers: run");

    // Deploy v2 from outside the path, then the broken v3: it panics, the budget of zero
    // demotes it, v2 serves again.
    let v2 = bundle(dir.path(), "task-v2", "task-v2.zip");
    let deployed = runtime.deploy(&v2).expect("deploy v2");
    assert!(matches!(deployed[0].outcome, Happened::Promoted { .. }));
    assert_eq!(runtime.deploy(&v2).expect("again")[0].outcome, Happened::Unchanged);
    let v3 = bundle(dir.path(), "task-v3", "task-v3.zip");
    runtime.deploy(&v3).expect("v3 passes its gates");
    let err = runtime.call("task", "run", &data).expect_err("v3 panics");
    assert!(err.to_string().contains("panicked"), "{err}");
    let status = runtime.status("task").expect("status");
    assert_eq!(status.version().map(|v| v.to_string()).as_deref(), Some("2.0.0"));
    assert!(status.handlers.iter().any(|h| h == "run"));
    assert!(!status.history.is_empty());
    assert!(String::from_utf8_lossy(&runtime.call("task", "run", &data).expect("v2")).starts_with("v2:"));

    // A corrupt file is refused with an event; v2 keeps serving.
    let junk = dir.path().join("junk.zip");
    std::fs::write(&junk, b"not a zip").expect("write");
    assert!(runtime.deploy(&junk).is_err());
    assert!(runtime.modules().iter().any(|m| m.name == "task" && m.version().map(|v| v.major) == Some(2)));

    // Manual rollback goes to v1; with nothing older, it is refused.
    assert_eq!(runtime.rollback("task").expect("rollback").version.to_string(), "1.0.0");
    assert!(runtime.rollback("task").is_err());

    // Invalidate + import finds what is on the path now (v1's bundle: already known).
    runtime.invalidate("task");
    assert_eq!(runtime.import("task").expect("re-import").version().to_string(), "1.0.0");

    let seen: Vec<Event> = events.try_iter().collect();
    assert!(seen.iter().any(|e| matches!(e, Event::Deploy(WatchReport::Refused { .. }))), "{seen:#?}");
    assert!(seen.iter().any(|e| matches!(e, Event::Deploy(WatchReport::Deployed { .. }))), "{seen:#?}");
}

#[test]
fn watch_deploys_a_replaced_library_and_keeps_serving_through_a_broken_one() {
    let dir = hotpack_testkit::scratch();
    let (runtime, plugins) = super::watched_runtime(dir.path());
    let events = runtime.subscribe();
    let _watching = runtime.watch().expect("watch");
    let wait = |want_ok: bool| loop {
        match events.recv_timeout(Duration::from_secs(30)).expect("a deploy outcome") {
            Event::Deploy(WatchReport::Deployed { .. }) => break assert!(want_ok, "deployed, expected a refusal"),
            Event::Deploy(WatchReport::Refused { error, .. }) => break assert!(!want_ok, "refused: {error}"),
            _ => {}
        }
    };
    // A plain library (not a bundle) dropped into the folder.
    let lib = plugins.join("libgreeter.so");
    hotpack::archive::write_atomic(&lib, &hotpack_testkit::module_bytes("greeter-v1")).expect("write v1");
    wait(true);
    hotpack::archive::write_atomic(&lib, &hotpack_testkit::module_bytes("greeter-v2")).expect("write v2");
    wait(true);
    hotpack::archive::write_atomic(&lib, b"\x7fELF but not really").expect("write junk");
    wait(false);
    let out = runtime.call("greeter", "version", b"").expect("v2 serves");
    assert_eq!(out, b"2");
}

/// With the builder's defaults, bundles renamed over a file inside a search root that is a
/// symbolic link (`current -> releases/1`) are deployed (from the bytes the watcher
/// confirmed), each as soon as its rename is seen.
#[test]
fn watch_with_defaults_deploys_bundles_renamed_into_a_symlinked_root() {
    let dir = hotpack_testkit::scratch();
    let release = dir.path().join("releases/1");
    std::fs::create_dir_all(&release).expect("mkdir");
    let current = dir.path().join("current");
    std::os::unix::fs::symlink(&release, &current).expect("symlink");
    let runtime =
        Runtime::builder().cache_dir(dir.path().join("cache")).search_path(&current).build().expect("runtime");
    let events = runtime.subscribe();
    let _watching = runtime.watch().expect("watch");
    let wait = || loop {
        match events.recv_timeout(Duration::from_secs(30)).expect("a deploy outcome") {
            Event::Deploy(WatchReport::Deployed { path, .. }) => break path,
            Event::Deploy(WatchReport::Refused { error, .. }) => panic!("refused: {error}"),
            _ => {}
        }
    };
    let staged = bundle(dir.path(), "greeter-v1", "v1.zip");
    std::fs::rename(&staged, current.join("greeter.zip")).expect("rename v1 into place");
    let path = wait();
    assert!(path.ends_with("greeter.zip"), "{}", path.display());
    assert_eq!(runtime.call("greeter", "version", b"").expect("v1 serves"), b"1");
    let staged = bundle(dir.path(), "greeter-v2", "v2.zip");
    std::fs::rename(&staged, current.join("greeter.zip")).expect("rename v2 into place");
    wait();
    assert_eq!(runtime.call("greeter", "version", b"").expect("v2 serves"), b"2");
}

/// `Runtime::import` and `Cache::import` resolve every path form the same way: from a
/// `bundle.zip/sub` entry both load only the module under `sub/` (the runtime deploys
/// nothing else of the bundle), and a library that says it is another module is refused by
/// both with the cache's name check.
#[test]
fn runtime_and_cache_import_agree_on_every_path_form() {
    use hotpack::cache::{Cache, CacheError};
    use hotpack::loader::Loader;
    let dir = hotpack_testkit::scratch();
    let loader = Loader::new(dir.path().join("pack-cache")).expect("loader");
    let spec = |package: &str| {
        let lib = hotpack_testkit::module(package);
        let bytes = std::fs::read(&lib).expect("read fixture");
        let module = loader.load_bytes(&bytes, &lib).expect("load fixture");
        let file = lib.file_name().expect("a file").to_string_lossy().into_owned();
        hotpack::cache::pack_spec(&module, &file, bytes, vec![])
    };
    let bundle = dir.path().join("suite.zip");
    let (task, greeter) = (spec("task-v1"), spec("greeter-v1"));
    let zip = hotpack::archive::pack_modules(&[("jobs/task", &task), ("hello/greeter", &greeter)]).expect("pack");
    std::fs::write(&bundle, zip).expect("write bundle");
    let wrong = dir.path().join("wrong");
    std::fs::create_dir(&wrong).expect("mkdir");
    std::fs::copy(hotpack_testkit::module("greeter-v1"), wrong.join("libtask.so")).expect("copy");

    for (entry, name) in [(bundle.join("jobs"), "task"), (bundle.join("hello/greeter"), "greeter")] {
        let runtime =
            Runtime::builder().cache_dir(dir.path().join("rt-cache")).search_path(&entry).build().expect("runtime");
        let cache = Cache::new(Loader::new(dir.path().join("c-cache")).expect("loader"), {
            let mut path = hotpack::archive::SearchPath::new();
            path.push(&entry);
            path
        });
        let from_runtime = runtime.import(name).expect("runtime import");
        let from_cache = cache.import(name).expect("cache import");
        assert_eq!(from_runtime.hash(), from_cache.hash(), "{}", entry.display());
        assert_eq!(from_runtime.name(), name);
        let active: Vec<String> =
            runtime.modules().into_iter().filter(|m| m.version().is_some()).map(|m| m.name).collect();
        assert_eq!(active, [name], "only the module under the prefix is deployed");
        assert!(runtime.import(if name == "task" { "greeter" } else { "task" }).is_err(), "outside the prefix");
    }

    // A `lib<name>.so` that says it is another module: both refuse it, with the same check.
    let runtime =
        Runtime::builder().cache_dir(dir.path().join("rt-cache")).search_path(&wrong).build().expect("runtime");
    let err = runtime.import("task").expect_err("a greeter is not a task");
    assert!(
        matches!(&err, Error::Rollback(e) if matches!(**e, hotpack::rollback::RollbackError::Cache(CacheError::NameMismatch { .. }))),
        "{err}"
    );
    assert!(runtime.status("greeter").is_none_or(|s| s.version().is_none()), "nothing was promoted");
    let mut path = hotpack::archive::SearchPath::new();
    path.push(&wrong);
    let cache = Cache::new(Loader::new(dir.path().join("c-cache")).expect("loader"), path);
    assert!(matches!(cache.import("task"), Err(CacheError::NameMismatch { .. })));
}

/// `Runtime::deploy` reads a `bundle.zip/sub` path as the search path and `import` do: only
/// the modules under `sub/` are deployed (not the bundle as a plain file, not the whole
/// bundle), and a prefix holding no module is refused with the bundle and directory named.
#[test]
fn deploy_of_a_bundle_prefix_takes_only_the_modules_under_it() {
    use hotpack::cache::CacheError;
    use hotpack::loader::Loader;
    use hotpack::rollback::RollbackError;
    let dir = hotpack_testkit::scratch();
    let loader = Loader::new(dir.path().join("pack-cache")).expect("loader");
    let spec = |package: &str| {
        let lib = hotpack_testkit::module(package);
        let bytes = std::fs::read(&lib).expect("read fixture");
        let module = loader.load_bytes(&bytes, &lib).expect("load fixture");
        let file = lib.file_name().expect("a file").to_string_lossy().into_owned();
        hotpack::cache::pack_spec(&module, &file, bytes, vec![])
    };
    let bundle = dir.path().join("suite.zip");
    let (task, greeter) = (spec("task-v1"), spec("greeter-v1"));
    let zip = hotpack::archive::pack_modules(&[("jobs/task", &task), ("hello/greeter", &greeter)]).expect("pack");
    std::fs::write(&bundle, zip).expect("write bundle");

    for (path, name) in [(bundle.join("jobs"), "task"), (bundle.join("hello/greeter"), "greeter")] {
        let runtime = Runtime::builder().cache_dir(dir.path().join("rt-cache")).build().expect("runtime");
        let deployed = runtime.deploy(&path).expect("deploy the prefix");
        let names: Vec<&str> = deployed.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, [name], "{}", path.display());
        assert!(matches!(deployed[0].outcome, Happened::Promoted { .. }));
        let active: Vec<String> =
            runtime.modules().into_iter().filter(|m| m.version().is_some()).map(|m| m.name).collect();
        assert_eq!(active, [name], "only the module under the prefix serves");
    }

    let runtime = Runtime::builder().cache_dir(dir.path().join("rt-cache")).build().expect("runtime");
    let err = runtime.deploy(&bundle.join("nothing/here")).expect_err("no module under the prefix");
    assert!(
        matches!(&err, Error::Rollback(e) if matches!(&**e, RollbackError::Cache(CacheError::NoModuleDir { path, dir })
            if *path == bundle && dir == "nothing/here/")),
        "{err}"
    );
}

/// Under isolation a typed handle is refused with the reason (a table of function pointers
/// cannot cross a process), and a worker that cannot start fails the load gate without
/// condemning the candidate's bytes.
#[test]
fn isolation_refuses_typed_handles_and_a_worker_that_cannot_start_fails_the_load_gate() {
    let dir = hotpack_testkit::scratch();
    let isolation = hotpack::rollback::Isolation {
        command: hotpack::worker::WorkerCommand::new(dir.path().join("no-such-worker")),
        limits: hotpack::worker::WorkerLimits::default(),
        data: None,
    };
    let runtime = Runtime::builder().cache_dir(dir.path().join("cache")).isolate(isolation).build().expect("runtime");
    let refused = runtime.hot::<greeter_api::Greeter>("greeter").expect_err("typed handles stay in process");
    assert!(matches!(refused, Error::Isolated { .. }), "{refused:?}");
    assert!(refused.to_string().contains("cannot cross a process"), "{refused}");
    let v1 = bundle(dir.path(), "greeter-v1", "greeter.zip");
    let failed = runtime.deploy(&v1).expect_err("no worker to load it in");
    assert!(failed.to_string().contains("load"), "{failed}");
    let status = runtime.status("greeter").expect("status");
    assert!(status.failed.is_empty(), "the bytes are not blamed for the host's missing worker: {status:?}");
    assert!(runtime.cache().mapped().libraries == 0, "nothing was mapped in the host");
}
