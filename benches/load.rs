//! Loading from a bundle, end to end, vs the floor for the same bytes.
//!
//! hotpack: `Bundle::open` (read + validate the zip and manifest) +
//! `Cache::load_bundle_module` (read the library entry and check its blake3, hash for the
//! content-addressed registry, materialize into a sealed memfd, `dlopen`, look up the
//! descriptor and check magic, layout, ABI, rustc, target and interfaces, register).
//! Floor: `hotpack_loader::baseline::load_floor` on the library bytes already in memory
//! (blake3 + one write to a fresh file on tmpfs + `dlopen` + `dlsym`, nothing checked).
//!
//! Custom-timed rather than criterion: every iteration must load NEW bytes (dedup defeated:
//! each bundle holds a distinct variant of greeter-v1, packed before timing) and a loaded
//! library stays mapped for the life of the process, so the number of iterations is fixed
//! here (200, 60 with `--quick`) instead of chosen by criterion. The two are interleaved so
//! drift on a busy machine hits both alike.

mod common;

use hotpack_archive::{Bundle, Limits};
use hotpack_cache::Cache;
use hotpack_loader::{Loader, baseline};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn main() {
    let (warmup, n) = match (common::test_mode(), common::quick()) {
        (true, _) => (1, 3),
        (false, true) => (5, 60),
        (false, false) => (10, 200),
    };
    let dir = common::scratch("load");
    let floor_dir = if std::path::Path::new("/dev/shm").is_dir() {
        let d = std::path::Path::new("/dev/shm").join(format!("hotpack-bench-floor-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("/dev/shm is writable");
        d
    } else {
        dir.join("floor")
    };
    std::fs::create_dir_all(&floor_dir).expect("scratch is writable");

    // Inputs, outside any timing: one bundle per iteration, one floor variant per iteration.
    let v1 = hotpack_testkit::module_bytes("greeter-v1");
    let packer = Loader::new(dir.join("packer")).expect("scratch is writable");
    let template = packer.load_bytes(&v1, "greeter-v1".as_ref()).expect("greeter-v1 loads");
    let total = warmup + n;
    let bundles: Vec<_> = (0..total)
        .map(|i| {
            let spec = hotpack_cache::pack_spec(&template, "libgreeter.so", common::variant(&v1, i as u64 + 1), vec![]);
            let path = dir.join(format!("greeter-{i}.zip"));
            hotpack_archive::pack_to_file(&spec, &path).expect("packs");
            path
        })
        .collect();
    let floors: Vec<Vec<u8>> = (0..total).map(|i| common::variant(&v1, 1_000_000 + i as u64)).collect();

    let cache =
        Cache::new(Loader::new(dir.join("objects")).expect("scratch is writable"), hotpack_archive::SearchPath::new());
    let limits = Limits::default();
    let (mut hot, mut floor) = (Vec::<Duration>::new(), Vec::<Duration>::new());
    for i in 0..total {
        let start = Instant::now();
        let bundle = Bundle::open(&bundles[i], &limits).expect("valid bundle");
        let module_dir = bundle.modules()[0].dir().to_owned();
        let (module, _) = cache.load_bundle_module(&bundle, &module_dir).expect("loads");
        black_box(&module);
        let t_hot = start.elapsed();
        assert_eq!(module.size(), floors[i].len() as u64, "a fresh variant was loaded");

        let start = Instant::now();
        let found = baseline::load_floor(&floors[i], &floor_dir).expect("the floor loads");
        let t_floor = start.elapsed();
        assert!(found, "the descriptor symbol is there");
        if i >= warmup {
            hot.push(t_hot);
            floor.push(t_floor);
        }
    }
    let _ = std::fs::remove_dir_all(&floor_dir);
    common::publish(
        "load",
        &serde_json::json!({
            "bundle": common::summary_us(&hot),
            "floor": common::summary_us(&floor),
            "library_bytes": v1.len(),
            "floor_dir": floor_dir.display().to_string(),
        }),
    );
}
