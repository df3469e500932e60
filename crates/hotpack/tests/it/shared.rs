//! Shared code through the facade: `svc-a` and `svc-b` require `textutil`'s interface; a
//! provider deployed, swapped, refused, rolled back, and invalidated and imported again under
//! them, with `Runtime` alone.

use hotpack::Runtime;

fn bundle(dir: &std::path::Path, package: &str, file: &str) -> std::path::PathBuf {
    let out = dir.join(file);
    hotpack::pack_library(&hotpack_testkit::module(package), &out, vec![]).expect("pack a fixture");
    out
}

fn run(runtime: &Runtime, name: &str) -> String {
    String::from_utf8(runtime.call(name, "run", b"abc").unwrap_or_else(|e| panic!("{name}: {e}"))).expect("utf-8")
}

fn hash(runtime: &Runtime, name: &str) -> blake3::Hash {
    runtime.status(name).and_then(|s| s.hash()).unwrap_or_else(|| panic!("{name} is not serving"))
}

#[test]
fn a_provider_swapped_refused_rolled_back_and_imported_again_under_its_dependents() {
    let dir = hotpack_testkit::scratch();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    for (package, file) in [("svc-a", "svc-a.zip"), ("svc-b", "svc-b.zip"), ("textutil-v1", "textutil.zip")] {
        bundle(&plugins, package, file);
    }
    let runtime =
        Runtime::builder().cache_dir(dir.path().join("cache")).search_path(&plugins).build().expect("runtime");

    // A dependent first: it waits for its provider, naming what is missing, and is deployed
    // by itself once the provider is.
    let waiting = runtime.import("svc-a").expect_err("no provider yet");
    assert!(waiting.to_string().contains("TextUtil"), "{waiting}");
    runtime.import("textutil").expect("the provider");
    runtime.import("svc-b").expect("svc-b");
    assert_eq!((run(&runtime, "svc-a"), run(&runtime, "svc-b")), ("a:ABC".to_owned(), "b:ABC".to_owned()));
    let hashes = (hash(&runtime, "svc-a"), hash(&runtime, "svc-b"));

    // v2: seen by both on their next call; neither was reloaded.
    runtime.deploy(&bundle(dir.path(), "textutil-v2", "textutil-v2.zip")).expect("v2 deploys");
    assert_eq!((run(&runtime, "svc-a"), run(&runtime, "svc-b")), ("a:ABC!".to_owned(), "b:ABC!".to_owned()));
    assert_eq!((hash(&runtime, "svc-a"), hash(&runtime, "svc-b")), hashes);

    // v3 changed the interface: refused naming both dependents; v2 keeps serving.
    let v3 = bundle(dir.path(), "textutil-v3", "textutil-v3.zip");
    let refused = runtime.deploy(&v3).expect_err("v3 would break them").to_string();
    assert!(refused.contains("svc-a") && refused.contains("svc-b"), "{refused}");
    assert_eq!(runtime.status("textutil").and_then(|s| s.version().cloned()).map(|v| v.major), Some(2));
    assert_eq!(run(&runtime, "svc-a"), "a:ABC!");

    // Rolling the provider back is seen by both.
    assert_eq!(runtime.rollback("textutil").expect("rollback").version.major, 1);
    assert_eq!((run(&runtime, "svc-a"), run(&runtime, "svc-b")), ("a:ABC".to_owned(), "b:ABC".to_owned()));

    // Invalidate + import with v3 on the search path now: refused like a deploy, the
    // dependents keep the provider that satisfies them.
    std::fs::copy(&v3, plugins.join("textutil.zip")).expect("v3 onto the path");
    runtime.invalidate("textutil");
    let refused = runtime.import("textutil").expect_err("v3 would break them").to_string();
    assert!(refused.contains("svc-a") && refused.contains("svc-b"), "{refused}");
    assert_eq!((run(&runtime, "svc-a"), run(&runtime, "svc-b")), ("a:ABC".to_owned(), "b:ABC".to_owned()));
    assert_eq!(runtime.cache().current("textutil").expect("current").version().major, 1);
    // And with v2 there: re-imported, and the dependents are wired to it.
    bundle(&plugins, "textutil-v2", "textutil.zip");
    assert_eq!(runtime.reload("textutil").expect("reload").version().major, 2);
    assert_eq!((run(&runtime, "svc-a"), run(&runtime, "svc-b")), ("a:ABC!".to_owned(), "b:ABC!".to_owned()));
    assert_eq!((hash(&runtime, "svc-a"), hash(&runtime, "svc-b")), hashes);
    assert_eq!(runtime.cache().dependents("textutil"), ["svc-a", "svc-b"]);
}
