//! The module cache as versions pile up: `Cache::import` of the current module (a hit, as
//! `importlib.import_module` of a module in `sys.modules`) and `Cache::register` of a new
//! version, with 1 retained version vs 10,000 (`import_hit_10k_vs_1_ratio`,
//! `register_10k_vs_1_ratio`; both should be flat).
//!
//! Setup, outside all timing: 10,000 distinct-bytes variants of greeter-v1 are loaded
//! (memfd) and registered in one cache, and the NEWEST is made current (the usual case: the
//! last deploy serves, older versions are kept for rollback). Register is timed on fresh,
//! pre-loaded variants: into a cache holding 1 version (a new cache per sample) vs the cache
//! holding 10,000. Custom-timed: import hit = median of 15 batches of ~20 ms each, register
//! = median of 50 registrations (30 and 9 batches of ~10 ms with `--quick`, still over 10,000
//! versions: loading them takes ~25 s on a busy 2-core machine). `cargo test --benches` loads 20.

mod common;

use hotpack_archive::SearchPath;
use hotpack_cache::{Cache, Source};
use hotpack_loader::{Loader, Materialize, Module};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// ns per import hit: median over batches. A batch is sized to take ~`batch_ms` (hits cost
/// ~30 ns when flat and ~100 µs when they scan 10,000 versions linearly).
fn import_hit_ns(cache: &Cache, batches: usize, batch_ms: f64) -> f64 {
    let start = Instant::now();
    for _ in 0..10 {
        black_box(cache.import(black_box("greeter")).expect("a hit"));
    }
    let one_ns = (start.elapsed().as_secs_f64() * 1e9 / 10.0).max(1.0);
    let per_batch = ((batch_ms * 1e6 / one_ns) as u64).clamp(10, 1_000_000);
    let mut ns: Vec<f64> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                black_box(cache.import(black_box("greeter")).expect("a hit"));
            }
            start.elapsed().as_secs_f64() * 1e9 / per_batch as f64
        })
        .collect();
    ns.sort_by(f64::total_cmp);
    ns[ns.len() / 2]
}

fn main() {
    let (versions, samples, batches, batch_ms) = match (common::test_mode(), common::quick()) {
        (true, _) => (20, 3, 3, 1.0),
        (false, true) => (10_000, 30, 9, 10.0),
        (false, false) => (10_000, 50, 15, 20.0),
    };
    let dir = common::scratch("cache");
    let origin = dir.join("libgreeter.so");
    let loader = Loader::new(dir.join("objects")).expect("scratch dir is writable");
    let v1 = hotpack_testkit::module_bytes("greeter-v1");
    let load = |n: u64| -> Module {
        loader.load_bytes_with(&common::variant(&v1, n), &origin, Materialize::Memfd).expect("greeter-v1 loads")
    };
    let source = || Source::File(origin.clone());

    let setup = Instant::now();
    let many: Vec<Module> = (0..versions).map(|i| load(i as u64)).collect();
    let fresh: Vec<Module> = (0..samples).map(|i| load(1_000_000 + i as u64)).collect();
    let setup_s = setup.elapsed().as_secs_f64();

    // One version.
    let one = Cache::new(Loader::new(dir.join("objects-1")).expect("writable"), SearchPath::new());
    one.register(many[0].clone(), source());
    one.activate(&many[0], source()).expect("activates");
    let hit_1 = import_hit_ns(&one, batches, batch_ms);
    let mut reg_1 = Vec::new();
    for m in &fresh {
        let cache = Cache::new(Loader::new(dir.join("objects-1")).expect("writable"), SearchPath::new());
        cache.register(many[0].clone(), source());
        let start = Instant::now();
        cache.register(m.clone(), source());
        reg_1.push(start.elapsed());
    }

    // Many versions, the newest current.
    let big = Cache::new(Loader::new(dir.join("objects-n")).expect("writable"), SearchPath::new());
    for m in &many {
        big.register(m.clone(), source());
    }
    let newest = many.last().expect("at least one version");
    big.activate(newest, source()).expect("activates");
    assert_eq!(big.versions("greeter").len(), versions, "every version is retained");
    let hit_n = import_hit_ns(&big, batches, batch_ms);
    let mut reg_n = Vec::new();
    for m in &fresh {
        let start = Instant::now();
        big.register(m.clone(), source());
        reg_n.push(start.elapsed());
    }

    let p50 = |v: &[Duration]| common::summary_us(v)["p50_us"].as_f64().expect("a number");
    common::publish(
        "cache",
        &serde_json::json!({
            "versions": versions,
            "import_hit_1_ns": hit_1,
            "import_hit_n_ns": hit_n,
            "register_1_us": p50(&reg_1),
            "register_n_us": p50(&reg_n),
            "register_1": common::summary_us(&reg_1),
            "register_n": common::summary_us(&reg_n),
            "setup_s": setup_s,
        }),
    );
}
