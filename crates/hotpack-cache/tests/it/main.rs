//! hotpack-cache against real cdylibs and real bundles: imports, dedup, invalidation,
//! retirement, events, and hot handles swapping under live calls.

use greeter_api::Greeter;
use hotpack_archive::SearchPath;
use hotpack_cache::{Cache, CacheError, CacheEvent, Source};
use hotpack_loader::Loader;
use hotpack_testkit::{module, module_bytes, scratch};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

mod deps;

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cache: Cache,
}

/// A cache whose search path is one fresh directory, `plugins/`.
fn fixture() -> Fixture {
    let dir = scratch();
    let root = dir.path().to_path_buf();
    let plugins = root.join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    let mut path = SearchPath::new();
    path.push(&plugins);
    let cache = Cache::new(Loader::new(root.join("cache")).expect("loader"), path);
    Fixture { _dir: dir, root, cache }
}

impl Fixture {
    fn plugins(&self) -> PathBuf {
        self.root.join("plugins")
    }
    /// Puts `package`'s library into plugins/ as `libgreeter.so` (rename-over, like cargo).
    fn install_lib(&self, package: &str) {
        let tmp = self.root.join("incoming.so");
        std::fs::write(&tmp, module_bytes(package)).expect("write");
        std::fs::rename(&tmp, self.plugins().join("libgreeter.so")).expect("rename");
    }
}

fn version_of(cache: &Cache, name: &str) -> u64 {
    cache.current(name).expect("current").version().major
}

#[test]
fn import_twice_is_one_load() {
    let f = fixture();
    f.install_lib("greeter-v1");
    let a = f.cache.import("greeter").expect("first import");
    let b = f.cache.import("greeter").expect("second import");
    assert_eq!(a.hash(), b.hash());
    let stats = f.cache.stats();
    assert_eq!((stats.misses, stats.hits), (1, 1));
    assert_eq!(stats.mapped.libraries, 1);
    assert_eq!(f.cache.versions("greeter").len(), 1);
}

#[test]
fn the_same_bytes_under_two_paths_load_once() {
    let f = fixture();
    let a = f.root.join("a.so");
    let b = f.root.join("b.so");
    std::fs::copy(module("greeter-v1"), &a).expect("copy");
    std::fs::copy(module("greeter-v1"), &b).expect("copy");
    let ma = f.cache.load_file(&a).expect("a");
    let mb = f.cache.load_file(&b).expect("b");
    assert_eq!(ma.hash(), mb.hash());
    assert_eq!(f.cache.stats().mapped.libraries, 1);
    assert_eq!(f.cache.versions("greeter").len(), 1, "one record for one content");
}

#[test]
fn invalidate_makes_the_next_import_see_the_new_file() {
    let f = fixture();
    f.install_lib("greeter-v1");
    assert_eq!(f.cache.import("greeter").expect("v1").version().major, 1);
    f.install_lib("greeter-v2");
    assert_eq!(f.cache.import("greeter").expect("hit").version().major, 1, "a hit does not look at the disk");
    f.cache.invalidate("greeter");
    assert_eq!(version_of(&f.cache, "greeter"), 1, "invalidation alone swaps nothing");
    assert_eq!(f.cache.import("greeter").expect("v2").version().major, 2);
    assert_eq!(f.cache.versions("greeter").len(), 2, "both versions stay registered");
    let hot = f.cache.hot_module("greeter").expect("hot");
    assert_eq!(hot.call("version", b"").expect("call"), b"2");
}

#[test]
fn retire_forgets_a_version_but_its_holders_keep_working() {
    let f = fixture();
    f.install_lib("greeter-v1");
    f.cache.import("greeter").expect("v1");
    let hot = f.cache.hot_module("greeter").expect("hot");
    let typed = f.cache.hot::<Greeter>("greeter").expect("typed");
    let held_v1 = hot.current();
    let held_table = typed.get();
    f.install_lib("greeter-v2");
    let v2 = f.cache.reload("greeter").expect("v2");
    assert_eq!(v2.version().major, 2);
    let v1_hash = *held_v1.module().hash();
    assert!(matches!(f.cache.retire("greeter", v2.hash()), Err(CacheError::RetireCurrent { .. })));
    let retired = f.cache.retire("greeter", &v1_hash).expect("retire v1");
    assert_eq!(retired.version.major, 1);
    let listed: Vec<u64> = f.cache.versions("greeter").iter().map(|v| v.version.major).collect();
    assert_eq!(listed, [2]);
    // Holders of v1 still call v1; the handles follow v2.
    assert_eq!(held_v1.call("version", b"").expect("v1 still mapped"), b"1");
    assert_eq!(held_table.generation(), Ok(1));
    assert_eq!(typed.get().generation(), Ok(2));
    assert_eq!(hot.call("version", b"").expect("v2"), b"2");
    let stats = f.cache.stats();
    assert_eq!((stats.retired, stats.registered, stats.mapped.libraries), (1, 1, 2));
}

/// Four threads call through one hot handle while another swaps v1 <-> v2 1,000 times:
/// every answer belongs to exactly one version, no call fails.
#[test]
fn hot_handles_swap_under_live_calls() {
    let f = fixture();
    let v1 = f.cache.load_file(&module("greeter-v1")).expect("v1");
    let v2 = f.cache.load_file(&module("greeter-v2")).expect("v2");
    f.cache.activate(&v1, Source::File(module("greeter-v1"))).expect("activate v1");
    let typed = f.cache.hot::<Greeter>("greeter").expect("typed handle");
    let handlers = f.cache.hot_module("greeter").expect("handler handle");
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let callers: Vec<_> = (0..4)
        .map(|t| {
            let (typed, handlers, stop, seen) = (typed.clone(), handlers.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) || calls < 1000 {
                    // One load: both answers must come from the same version.
                    let table = typed.get();
                    let generation = table.generation().expect("typed call never fails");
                    let sum = table.add(t, 10).expect("typed call never fails");
                    assert_eq!(sum, (t + 10) * u64::from(generation), "mixed versions in one table");
                    seen[generation as usize - 1].fetch_add(1, Ordering::Relaxed);
                    let version = handlers.current();
                    let answer = version.call("version", b"").expect("handler call never fails");
                    assert_eq!(answer, version.module().version().major.to_string().as_bytes());
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    // At least 1,000 swaps (v2, v1, v2, ...), and on until the callers saw both versions (on
    // a loaded machine they may not run before the first thousand are done); ends on v1.
    let both_seen = || seen.iter().all(|s| s.load(Ordering::Relaxed) > 0);
    let mut pairs = 0u64;
    while pairs < 500 || (!both_seen() && pairs < 5_000_000) {
        f.cache.promote(&v2).expect("swap");
        f.cache.promote(&v1).expect("swap");
        pairs += 1;
        if pairs % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let total: u64 = callers.into_iter().map(|h| h.join().expect("no caller panicked")).sum();
    assert!(total >= 4000);
    assert!(seen[0].load(Ordering::Relaxed) > 0 && seen[1].load(Ordering::Relaxed) > 0, "both versions answered");
    assert_eq!(version_of(&f.cache, "greeter"), 1, "the swaps end on v1");
}

#[test]
fn imports_from_a_bundle_answer_like_the_library_file() {
    let f = fixture();
    let loader = Loader::new(f.root.join("pack-cache")).expect("loader");
    let lib = module_bytes("greeter-v2");
    let m = loader.load_bytes(&lib, Path::new("greeter-v2.so")).expect("load to read the descriptor");
    let spec = hotpack_cache::pack_spec(&m, "libgreeter.so", lib, vec![("README.txt".into(), b"hi".to_vec())]);
    hotpack_archive::pack_to_file(&spec, &f.plugins().join("greeter.zip")).expect("pack");
    let from_bundle = f.cache.import("greeter").expect("import from bundle");
    assert!(matches!(f.cache.versions("greeter")[0].source, Source::Bundle { .. }));
    assert_eq!(from_bundle.hash(), m.hash(), "the verified bytes are the loaded bytes");
    assert_eq!(from_bundle.call("greet", b"bob").expect("b")[..14], m.call("greet", b"bob").expect("f")[..14]);
    let g = f.cache.hot::<Greeter>("greeter").expect("typed");
    assert_eq!(g.get().add(1, 2), Ok(6));
}

#[test]
fn events_follow_loads_swaps_failures_and_shadowing() {
    let f = fixture();
    let second = f.root.join("second");
    std::fs::create_dir_all(&second).expect("mkdir");
    std::fs::copy(module("greeter-v2"), second.join("libgreeter.so")).expect("copy");
    f.cache.add_search_entry(&second);
    f.install_lib("greeter-v1");
    let events = f.cache.subscribe();
    f.cache.import("greeter").expect("v1 from the first entry");
    assert!(matches!(f.cache.import("nosuch"), Err(CacheError::NotFound { .. })));
    let got: Vec<CacheEvent> = events.try_iter().collect();
    assert!(
        got.iter()
            .any(|e| matches!(e, CacheEvent::Shadowed { name, hidden, .. } if name == "greeter" && hidden.len() == 1)),
        "{got:?}"
    );
    assert!(got.iter().any(|e| matches!(e, CacheEvent::Loaded { version } if version.version.major == 1)));
    assert!(got.iter().any(|e| matches!(e, CacheEvent::Promoted { from: None, to, .. } if to.version.major == 1)));
    assert!(got.iter().any(|e| matches!(e, CacheEvent::Failed { name: Some(n), .. } if n == "nosuch")));
}

#[test]
fn a_broken_candidate_leaves_the_current_version_serving() {
    let f = fixture();
    f.install_lib("greeter-v1");
    f.cache.import("greeter").expect("v1");
    let typed = f.cache.hot::<Greeter>("greeter").expect("typed");
    // Same module name, different interface id: refused before any swap.
    let wrong = f.cache.load_file(&module("fx-wrong-iface")).expect("loads");
    let err = f.cache.activate(&wrong, Source::File(module("fx-wrong-iface"))).expect_err("refused");
    assert!(err.to_string().contains("Greeter"), "{err}");
    assert_eq!(typed.get().generation(), Ok(1));
    // A library file that is garbage: refused, v1 still serving.
    std::fs::write(f.plugins().join("libgreeter.so"), b"not a library").expect("write");
    assert!(f.cache.reload("greeter").is_err());
    assert_eq!(f.cache.hot_module("greeter").expect("hot").call("version", b"").expect("v1"), b"1");
}

#[test]
fn module_state_moves_across_a_swap() {
    let f = fixture();
    f.install_lib("greeter-v1");
    let hot = f.cache.hot_module("greeter").expect("imports v1");
    for _ in 0..5 {
        hot.call("greet", b"x").expect("greet");
    }
    f.install_lib("greeter-v2");
    f.cache.reload("greeter").expect("v2");
    let out = String::from_utf8(hot.call("greet", b"x").expect("greet")).expect("utf8");
    assert!(out.contains("v2, greeting #6"), "{out}");
}

#[test]
fn preload_reports_each_name() {
    let f = fixture();
    f.install_lib("greeter-v1");
    let results = f.cache.preload(["greeter", "missing"]);
    assert!(results[0].1.is_ok());
    match &results[1].1 {
        Err(e @ CacheError::NotFound { .. }) => assert!(e.to_string().contains("plugins"), "{e}"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    let listing = f.cache.modules();
    assert_eq!(listing.len(), 1);
    assert_eq!(listing[0].current.as_ref().map(|v| v.version.major), Some(1));
}
