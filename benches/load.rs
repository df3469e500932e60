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
//!
//! Part `big-deploy` (`HOTPACK_BENCH_PART=big-deploy`, also run by `cargo xtask bench`):
//! `hotpack::Runtime::deploy` of a bundle holding greeter-v1 plus one 1 GiB resource
//! (pseudo-random bytes, so deflate cannot shrink it) vs the same library alone
//! (`big_resource_deploy_ms`, `library_only_deploy_ms`). Both bundles are built once into
//! `target/hotpack-bench/inputs/` (never in a timed loop). Each deploy runs in a fresh child
//! process (this executable again, `HOTPACK_BENCH_PART=deploy-child`) with its own cache
//! directory, which prints its deploy time and its peak resident set (`VmHWM` of
//! `/proc/self/status`: `big_resource_deploy_peak_rss_mb`), so one deploy's memory cannot
//! hide in another's. Alternating: big, library only, big, ...
//!
//! Part `preflight` (`HOTPACK_BENCH_PART=preflight`, also run by `cargo xtask bench`): the
//! cost of [`hotpack::RuntimeBuilder::preflight_with`]. `preflight_us`: one
//! `PreflightCommand::check` of a greeter-v1 bundle (spawn this executable again as the
//! child, `__preflight`: it sets its memory limit, opens the bundle, loads the library,
//! runs init, exits; the parent reads its JSON line and reaps it). Also interleaved:
//! `Runtime::deploy` of a fresh variant with and without the preflight
//! (`preflight_deploy_us`, `plain_deploy_us`), each into its own runtime.

mod common;

use hotpack_archive::{Bundle, Limits};
use hotpack_cache::Cache;
use hotpack_loader::{Loader, baseline};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn main() -> std::process::ExitCode {
    // The preflight part's child: this executable again, with the marker argument.
    if let Some(code) = hotpack::preflight::child_main_if_marked() {
        return code;
    }
    match std::env::var("HOTPACK_BENCH_PART").unwrap_or_default().as_str() {
        "deploy-child" => deploy_child(),
        "big-deploy" => big_deploy(),
        "preflight" => preflight(),
        _ => load(),
    }
    std::process::ExitCode::SUCCESS
}

/// The `preflight` part: one check alone, and deploys with and without it, interleaved.
fn preflight() {
    let (warmup, n) = match (common::test_mode(), common::quick()) {
        (true, _) => (1, 2),
        (false, true) => (3, 30),
        (false, false) => (5, 100),
    };
    let total = warmup + n;
    let dir = common::scratch("load-preflight");
    let v1 = hotpack_testkit::module_bytes("greeter-v1");
    let packer = Loader::new(dir.join("packer")).expect("scratch is writable");
    let template = packer.load_bytes(&v1, "greeter-v1".as_ref()).expect("greeter-v1 loads");
    // Two fresh variants per iteration (one per runtime), packed before timing.
    let bundles: Vec<_> = (0..2 * total)
        .map(|i| {
            let spec = hotpack_cache::pack_spec(
                &template,
                "libgreeter.so",
                common::variant(&v1, 2_000_000 + i as u64),
                vec![],
            );
            let path = dir.join(format!("greeter-{i}.zip"));
            hotpack_archive::pack_to_file(&spec, &path).expect("packs");
            path
        })
        .collect();
    let command = hotpack::preflight::PreflightCommand::current_exe();
    let checked = hotpack::Runtime::builder()
        .cache_dir(dir.join("checked"))
        .policy(hotpack::rollback::Policy { allow_downgrade: true, ..Default::default() })
        .preflight_with(command.clone().scratch_dir(dir.join("scratch")))
        .build()
        .expect("runtime");
    let plain = hotpack::Runtime::builder()
        .cache_dir(dir.join("plain"))
        .policy(hotpack::rollback::Policy { allow_downgrade: true, ..Default::default() })
        .build()
        .expect("rt");
    let limits = Limits::default();
    let (mut alone, mut with, mut without) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..total {
        // The check alone, on the bundle the checked runtime deploys next.
        let bundle = Bundle::open(&bundles[2 * i], &limits).expect("valid bundle");
        let module = &bundle.modules()[0];
        let hash = blake3::hash(&bundle.read_library(module.name(), hotpack_abi::TARGET).expect("library"));
        let start = Instant::now();
        command.check(&bundles[2 * i], Some(module.dir()), &hash).expect("greeter passes the preflight");
        let t_alone = start.elapsed();

        let start = Instant::now();
        checked.deploy(&bundles[2 * i]).expect("deploys with the preflight");
        let t_with = start.elapsed();
        let start = Instant::now();
        plain.deploy(&bundles[2 * i + 1]).expect("deploys");
        let t_without = start.elapsed();
        if i >= warmup {
            alone.push(t_alone);
            with.push(t_with);
            without.push(t_without);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    common::publish(
        "load-preflight",
        &serde_json::json!({
            "check": common::summary_us(&alone),
            "deploy_with_preflight": common::summary_us(&with),
            "deploy_plain": common::summary_us(&without),
        }),
    );
}

/// The default part: load from a bundle vs the floor.
fn load() {
    if common::test_mode() {
        big_deploy();
        preflight();
    }
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

/// Size of the big resource: 1 GiB (16 MiB in `cargo test --benches`).
fn big_resource_bytes() -> u64 {
    if common::test_mode() { 16 << 20 } else { 1 << 30 }
}

/// Builds (once) the bundle with the big resource and the library-only bundle.
fn deploy_inputs() -> (std::path::PathBuf, std::path::PathBuf) {
    let size = big_resource_bytes();
    let dir = common::inputs_dir();
    let big = dir.join(format!("greeter-with-{}mib.zip", size >> 20));
    let alone = dir.join("greeter-library-only.zip");
    let v1 = hotpack_testkit::module_bytes("greeter-v1");
    let packer = Loader::new(common::scratch("load-packer")).expect("scratch is writable");
    let template = packer.load_bytes(&v1, "greeter-v1".as_ref()).expect("greeter-v1 loads");
    if !alone.exists() {
        let spec = hotpack_cache::pack_spec(&template, "libgreeter.so", v1.clone(), vec![]);
        hotpack_archive::pack_to_file(&spec, &alone).expect("packs");
    }
    if !big.exists() {
        eprintln!("load bench: building {} (once)", big.display());
        let mut data = vec![0u8; size as usize];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        for chunk in data.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        let spec = hotpack_cache::pack_spec(&template, "libgreeter.so", v1, vec![("data/big.bin".to_owned(), data)]);
        hotpack_archive::pack_to_file(&spec, &big).expect("packs");
    }
    (big, alone)
}

/// In a child: deploy `HOTPACK_BENCH_DEPLOY` through the facade, print ms and peak RSS.
fn deploy_child() {
    let bundle = std::path::PathBuf::from(std::env::var_os("HOTPACK_BENCH_DEPLOY").expect("the parent sets it"));
    let cache_dir = std::path::PathBuf::from(std::env::var_os("HOTPACK_BENCH_CACHE_DIR").expect("the parent sets it"));
    let runtime = hotpack::Runtime::builder().cache_dir(&cache_dir).build().expect("the runtime builds");
    let start = Instant::now();
    let deployed = runtime.deploy(&bundle).expect("the bundle deploys");
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert_eq!(deployed.len(), 1, "one module deployed");
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/self/status");
    println!("{}", serde_json::json!({ "deploy_ms": ms, "peak_rss_mb": kib / 1024.0 }));
}

fn run_child(bundle: &std::path::Path, n: usize) -> serde_json::Value {
    let cache_dir = common::scratch(&format!("load-deploy-{n}"));
    let out = std::process::Command::new(std::env::current_exe().expect("own path"))
        .env("HOTPACK_BENCH_PART", "deploy-child")
        .env("HOTPACK_BENCH_DEPLOY", bundle)
        .env("HOTPACK_BENCH_CACHE_DIR", &cache_dir)
        .output()
        .expect("the child starts");
    assert!(out.status.success(), "deploy child failed: {}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(&cache_dir);
    serde_json::from_slice(&out.stdout).expect("the child prints JSON")
}

/// The `big-deploy` part: alternating child deploys of both bundles.
fn big_deploy() {
    let (big, alone) = deploy_inputs();
    let rounds = match (common::test_mode(), common::quick()) {
        (true, _) => 1,
        (false, true) => 2,
        (false, false) => 7,
    };
    let (mut big_ms, mut big_rss, mut alone_ms, mut alone_rss) = (vec![], vec![], vec![], vec![]);
    for i in 0..rounds {
        let b = run_child(&big, 2 * i);
        let a = run_child(&alone, 2 * i + 1);
        big_ms.push(Duration::from_secs_f64(b["deploy_ms"].as_f64().expect("ms") / 1e3));
        big_rss.push(b["peak_rss_mb"].as_f64().expect("mb"));
        alone_ms.push(Duration::from_secs_f64(a["deploy_ms"].as_f64().expect("ms") / 1e3));
        alone_rss.push(a["peak_rss_mb"].as_f64().expect("mb"));
    }
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    common::publish(
        "load-big-deploy",
        &serde_json::json!({
            "resource_bytes": big_resource_bytes(),
            "big": common::summary_us(&big_ms),
            "library_only": common::summary_us(&alone_ms),
            "big_peak_rss_mb": max(&big_rss),
            "library_only_peak_rss_mb": max(&alone_rss),
        }),
    );
}
