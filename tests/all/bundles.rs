//! Cross-crate: modules packed by the archive, found on a search path through a
//! `bundle.zip/sub/dir` prefix, loaded by the cache from memory, answering like the files.

use greeter_api::Greeter;
use hotpack_archive::{Bundle, Limits, SearchPath};
use hotpack_cache::{Cache, Source};
use hotpack_loader::Loader;
use hotpack_testkit::{module_bytes, scratch};
use std::path::Path;

fn spec(loader: &Loader, package: &str) -> hotpack_archive::PackSpec {
    let bytes = module_bytes(package);
    let m = loader.load_bytes(&bytes, Path::new(package)).expect("fixture loads");
    hotpack_cache::pack_spec(&m, &format!("lib{}.so", m.name()), bytes, Vec::new())
}

#[test]
fn a_multi_module_bundle_behind_a_prefix_serves_each_module() {
    let dir = scratch();
    let loader = Loader::new(dir.path().join("cache")).expect("loader");
    let greeter = spec(&loader, "greeter-v2");
    let panicky = spec(&loader, "fx-panicky");
    let bytes = hotpack_archive::pack_modules(&[("services/greeter", &greeter), ("services/panicky", &panicky)])
        .expect("pack two modules");
    let bundle_path = dir.path().join("shared.zip");
    std::fs::write(&bundle_path, &bytes).expect("write");
    Bundle::open(&bundle_path, &Limits::default()).expect("opens").verify_all().expect("verifies");

    let mut path = SearchPath::new();
    path.push(bundle_path.join("services"));
    let cache = Cache::new(loader.clone(), path);
    let g = cache.hot::<Greeter>("greeter").expect("greeter through the prefix");
    assert_eq!(g.get().add(2, 3), Ok(10), "v2 doubles");
    let p = cache.hot_module("panicky").expect("panicky through the prefix");
    assert_eq!(p.call("ok", b"abc").expect("ok"), b"cba");
    assert!(p.call("boom", b"").expect_err("panics").is_panic());
    assert!(
        matches!(cache.versions("greeter")[0].source, Source::Bundle { ref dir, .. } if dir.starts_with("services/greeter"))
    );
    // The same bytes as the greeter fixture file: one mapping, shared.
    assert_eq!(cache.stats().mapped.libraries, 2);
}

#[test]
fn a_tampered_library_in_a_bundle_is_never_loaded() {
    let dir = scratch();
    let loader = Loader::new(dir.path().join("cache")).expect("loader");
    let greeter = spec(&loader, "greeter-v1");
    let manifest_hash = blake3::hash(&greeter.library);
    let honest = hotpack_archive::pack(&greeter).expect("pack");
    // Flip one byte inside the stored library: the structure is intact, the content is not.
    let mut tampered = honest.clone();
    let needle = &greeter.library[4096..4160];
    let at =
        tampered.windows(needle.len()).position(|w| w == needle).expect("a stored library sits in the zip verbatim");
    tampered[at + 10] ^= 0xff;
    let path = dir.path().join("greeter.zip");
    std::fs::write(&path, &tampered).expect("write");
    let bundle = Bundle::open(&path, &Limits::default()).expect("structure is fine");
    let cache = Cache::new(loader.clone(), SearchPath::new());
    let err = cache.load_bundle_module(&bundle, "").expect_err("hash mismatch");
    assert!(err.to_string().contains("greeter"), "{err}");
    assert_eq!(loader.mapped().libraries, 1, "only the honest fixture used for packing was ever mapped");
    assert!(loader.get(&manifest_hash).is_some());
}
