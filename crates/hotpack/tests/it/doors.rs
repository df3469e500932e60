//! No back door: with trusted keys set, every public way a program using the facade has to
//! make code current (on `Runtime`, and on what it returns: `supervisor()`, `cache()`,
//! handles) refuses an unsigned bundle, a plain library and a module the program loaded
//! itself, and afterwards nothing of them answers a call.
//!
//! The list, kept complete by hand (a new public way in must be added here):
//! - `Runtime`: `import`, `reload`, `hot` (imports), `deploy` (bundle, plain file),
//!   `deploy_all`, `watch`, `restore`, `rollback`, `rollback_to`;
//! - `Supervisor` (`runtime.supervisor()`): `deploy_bundle`, `deploy_path`,
//!   `deploy_confirmed`, `import`, `deploy_source`, `deploy_file`, `deploy`, `rollback`,
//!   `rollback_to`, `pin`, `restore`;
//! - `runtime.cache()` and `supervisor().cache()` are a `CacheView`: it has no method that
//!   loads, registers, imports, activates or promotes (the type is the proof: this file
//!   would not compile against such a call), and its handles never import.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hotpack::archive::{Limits, SigningKey, sign_bundle};
use hotpack::rollback::VersionRef;
use hotpack::{Error, Event, Runtime, WatchReport};

fn bundle(dir: &Path, package: &str, file: &str) -> PathBuf {
    let out = dir.join(file);
    hotpack::pack_library(&hotpack_testkit::module(package), &out, vec![]).expect("pack a fixture");
    out
}

fn refused<T: std::fmt::Debug>(what: &str, result: Result<T, impl std::fmt::Display + std::fmt::Debug>) {
    assert!(result.is_err(), "{what} made unsigned code current: {result:?}");
}

#[test]
fn with_trusted_keys_no_public_route_makes_unsigned_code_current() {
    let dir = hotpack_testkit::scratch();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    let unsigned = bundle(&plugins, "task-v1", "task.zip");
    let library = hotpack_testkit::module("task-v1");
    let ours = SigningKey::from_seed(&[7; 32]);
    let theirs = SigningKey::from_seed(&[8; 32]);
    let foreign = dir.path().join("task-foreign.zip");
    sign_bundle(&unsigned, &theirs, Some(&foreign), &Limits::default()).expect("sign with another key");
    let runtime = Runtime::builder()
        .cache_dir(dir.path().join("cache"))
        .journal(dir.path().join("state").join("journal.json"))
        .search_path(&plugins)
        .trusted_keys([ours.public_key()])
        .build()
        .expect("runtime");
    let events = runtime.subscribe();

    // Runtime.
    refused("Runtime::import", runtime.import("task"));
    refused("Runtime::reload", runtime.reload("task"));
    refused("Runtime::hot_module", runtime.hot_module("task"));
    refused("Runtime::deploy (bundle)", runtime.deploy(&unsigned));
    refused("Runtime::deploy (foreign signature)", runtime.deploy(&foreign));
    refused("Runtime::deploy (plain library)", runtime.deploy(&library));
    for (path, result) in runtime.deploy_all() {
        refused(&format!("Runtime::deploy_all ({})", path.display()), result);
    }
    refused("Runtime::rollback", runtime.rollback("task"));
    refused("Runtime::rollback_to", runtime.rollback_to("task", VersionRef::Version("1.0.0".parse().expect("v"))));
    assert!(runtime.restore().expect("restore").restored.is_empty());

    // The supervisor it returns.
    let sup = runtime.supervisor();
    refused("Supervisor::deploy_bundle", sup.deploy_bundle(&unsigned));
    refused("Supervisor::deploy_path", sup.deploy_path(&unsigned));
    let bytes: std::sync::Arc<[u8]> = std::fs::read(&unsigned).expect("read").into();
    let hash = blake3::hash(&bytes);
    refused("Supervisor::deploy_confirmed (bundle)", sup.deploy_confirmed(&unsigned, bytes, hash));
    let bytes: std::sync::Arc<[u8]> = std::fs::read(&library).expect("read").into();
    let hash = blake3::hash(&bytes);
    refused("Supervisor::deploy_confirmed (library)", sup.deploy_confirmed(&library, bytes, hash));
    refused("Supervisor::import", sup.import("task"));
    let source = runtime.cache().resolve("task").expect("found on the search path");
    refused("Supervisor::deploy_source", sup.deploy_source("task", &source));
    refused("Supervisor::deploy_file", sup.deploy_file(&library));
    // A module the program loaded itself with a loader of its own (the layer below the
    // gates) is refused too: nothing shows who signed it.
    let loader = hotpack::loader::Loader::new(dir.path().join("own-loader")).expect("loader");
    let module = loader.load_file(&library).expect("the loader alone loads it");
    refused("Supervisor::deploy", sup.deploy(module, hotpack::cache::Source::File(library.clone())));
    refused("Supervisor::rollback", sup.rollback("task"));
    refused("Supervisor::rollback_to", sup.rollback_to("task", VersionRef::Version("1.0.0".parse().expect("v"))));
    refused("Supervisor::pin", sup.pin("task", VersionRef::Version("1.0.0".parse().expect("v"))));
    assert!(sup.restore().expect("restore").restored.is_empty());

    // The watcher: a new unsigned bundle dropped into the watched folder is refused.
    let watching = runtime.watch().expect("watch");
    let dropped = plugins.join("task-again.zip");
    std::fs::copy(&foreign, &dropped).expect("copy");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        if let Ok(Event::Deploy(WatchReport::Refused { path, .. })) = events.recv_timeout(Duration::from_millis(200)) {
            seen = path == dropped;
        }
    }
    drop(watching);
    assert!(seen, "the watcher refused the dropped bundle");

    // Nothing of it answers, through any handle or view.
    assert!(matches!(runtime.call("task", "run", &[0; 32]), Err(Error::NotLoaded { .. })));
    assert!(runtime.cache().current("task").is_none());
    assert!(runtime.cache().hot_module("task").is_none());
    assert!(sup.cache().current("task").is_none());
    assert!(runtime.cache().versions("task").is_empty(), "nothing unsigned was even registered");
    assert!(runtime.status("task").is_none_or(|s| s.active.is_none()));
}
