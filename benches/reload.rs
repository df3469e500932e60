//! Reload end to end: from a new version renamed into place on disk until a hot handle
//! returns the new version's answer. Two parts (`HOTPACK_BENCH_PART`; both when unset):
//!
//! - `default` (`reload_default_p50_us`, the figure a user gets): the facade exactly as the
//!   README shows it, `hotpack::Runtime::builder().search_path(dir).build()?.watch()`, with
//!   the builder's DEFAULTS (quiet window, settle guard, cache directory, materialization:
//!   nothing overridden). `dir` holds `greeter.zip`, a bundle packed with
//!   `hotpack::pack_library` from greeter-v1; each swap renames a NEW bundle (a
//!   distinct-bytes variant of greeter-v2, packed before timing; always v2 because the
//!   supervisor refuses downgrades by default) over `greeter.zip`, and the clock stops when
//!   the `HotModule` handle serves the new library (its blake3 is known in advance) and a
//!   call through it answers. `cargo xtask bench` runs this part in several rounds,
//!   interleaved with the python watcher rounds (`benches/python/watch_reload_bench.py`).
//! - `tuned` (`reload_p50_us`, labelled tuned): the lower layers with every knob turned for
//!   speed: a `Cache` on a directory holding a plain `libgreeter.so`, a
//!   `hotpack_detect::Watcher` with quiet window 0 AND settle 0, libraries materialized
//!   through a memfd, a supervisor thread calling `Cache::reload` on each confirmed change.
//!   Swaps alternate distinct-bytes variants of greeter-v2 and greeter-v1; the clock stops
//!   when `hot.get().generation()` answers the new generation.
//!
//! Custom-timed (percentiles over a fixed number of swaps).
//!
mod common;

use greeter_api::Greeter;
use hotpack_archive::SearchPath;
use hotpack_cache::Cache;
use hotpack_detect::{Event, WatchConfig, Watcher};
use hotpack_loader::{Loader, Materialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let part = std::env::var("HOTPACK_BENCH_PART").unwrap_or_default();
    if part.is_empty() || part == "tuned" {
        let swaps: u64 = match (common::test_mode(), common::quick()) {
            (true, _) => 4,
            (false, true) => 100,
            (false, false) => 200,
        };
        common::publish("reload-tuned", &measure("reload", swaps, Duration::ZERO, Materialize::Memfd));
    }
    if part.is_empty() || part == "default" {
        let swaps: u64 = match (common::test_mode(), common::quick()) {
            (true, _) => 3,
            (false, true) => 10,
            (false, false) => 25,
        };
        common::publish("reload-default", &measure_default(swaps));
    }
}

/// The `default` part: the facade with the builder's defaults, bundles renamed over.
fn measure_default(swaps: u64) -> serde_json::Value {
    let dir = common::scratch("reload-default");
    let (live, staging) = (dir.join("live"), dir.join("staging"));
    std::fs::create_dir_all(&live).expect("scratch is writable");
    std::fs::create_dir_all(&staging).expect("scratch is writable");
    let target = live.join("greeter.zip");
    let v1 = hotpack_testkit::module_bytes("greeter-v1");
    let v2 = hotpack_testkit::module_bytes("greeter-v2");

    // Every bundle is packed before timing: the first from greeter-v1, then one fresh
    // variant of greeter-v2 per swap. `pack_library` reads the library's descriptor section.
    let pack = |bytes: &[u8], n: u64, out: &std::path::Path| -> blake3::Hash {
        let src = staging.join(format!("src-{n}"));
        std::fs::create_dir_all(&src).expect("scratch is writable");
        let lib = src.join("libgreeter.so");
        let variant = common::variant(bytes, n);
        std::fs::write(&lib, &variant).expect("scratch is writable");
        hotpack::pack_library(&lib, out, vec![]).expect("greeter packs");
        blake3::hash(&variant)
    };
    // The builder's default cache directory outlives this process and is content-addressed:
    // variants unique to this run, so no swap finds its library already written by an
    // earlier run (a first-time user's save never does).
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        .wrapping_shl(16);
    pack(&v1, nonce, &target);
    let staged: Vec<(std::path::PathBuf, blake3::Hash)> = (1..=swaps)
        .map(|i| {
            let path = staging.join(format!("next-{i}.zip"));
            let hash = pack(&v2, nonce + i, &path);
            (path, hash)
        })
        .collect();

    let runtime = hotpack::Runtime::builder().search_path(&live).build().expect("the runtime builds");
    runtime.deploy(&target).expect("greeter v1 deploys");
    let hot = runtime.hot_module("greeter").expect("greeter is serving");
    let _watching = runtime.watch().expect("the watcher starts");
    std::thread::sleep(Duration::from_millis(50)); // watches in place, initial events drained

    let mut samples = Vec::new();
    for (i, (path, hash)) in staged.iter().enumerate() {
        std::thread::sleep(Duration::from_millis(20));
        let start = Instant::now();
        std::fs::rename(path, &target).expect("same file system");
        while hot.current().module().hash() != hash {
            assert!(start.elapsed() < Duration::from_secs(30), "swap {} did not arrive within 30 s", i + 1);
            std::thread::yield_now();
        }
        let answer = hot.call("version", b"").expect("the new version answers");
        samples.push(start.elapsed());
        assert!(!answer.is_empty(), "the version handler answers");
    }
    serde_json::json!({
        "swaps": common::summary_us(&samples),
        "samples_us": samples.iter().map(|d| d.as_secs_f64() * 1e6).collect::<Vec<_>>(),
        "settings": "hotpack::Runtime::builder().search_path(dir).build()?.watch(): builder defaults",
    })
}

fn measure(name: &str, swaps: u64, settle: Duration, files: Materialize) -> serde_json::Value {
    let dir = common::scratch(name);
    let (live, staging) = (dir.join("live"), dir.join("staging"));
    std::fs::create_dir_all(&live).expect("scratch is writable");
    std::fs::create_dir_all(&staging).expect("scratch is writable");
    let target = live.join("libgreeter.so");
    let v1 = hotpack_testkit::module_bytes("greeter-v1");
    let v2 = hotpack_testkit::module_bytes("greeter-v2");
    std::fs::write(&target, common::variant(&v1, 0)).expect("scratch is writable");

    let mut search = SearchPath::new();
    search.push(&live);
    let cache = Arc::new(Cache::new(
        Loader::new(dir.join("objects")).expect("scratch is writable").materialize_files(files),
        search,
    ));
    cache.import("greeter").expect("greeter is on the path");
    let hot = cache.hot::<Greeter>("greeter").expect("greeter is current");
    assert_eq!(hot.get().generation(), Ok(1));

    let watcher =
        Watcher::new([&live], &WatchConfig::new().quiet(Duration::ZERO).settle(settle)).expect("inotify works");
    // (event received, reload returned) per change: the breakdown of each swap.
    let marks: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let supervisor = {
        let cache = Arc::clone(&cache);
        let marks = Arc::clone(&marks);
        std::thread::spawn(move || {
            while let Some(event) = watcher.recv() {
                match event {
                    Event::Change(change) if change.new_fingerprint().is_some() => {
                        let received = Instant::now();
                        if let Err(e) = cache.reload("greeter") {
                            eprintln!("reload bench: reload failed: {e}");
                        }
                        marks.lock().expect("never poisoned").push((received, Instant::now()));
                    }
                    Event::Change(_) => {}
                    other => eprintln!("reload bench: {other:?}"),
                }
            }
        })
    };

    let (mut samples, mut detect, mut reload, mut seen) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 1..=swaps {
        let (bytes, expected) = if i % 2 == 1 { (&v2, 2) } else { (&v1, 1) };
        let staged = staging.join(format!("next-{i}.so"));
        std::fs::write(&staged, common::variant(bytes, i)).expect("scratch is writable");
        std::thread::sleep(Duration::from_millis(2));
        let start = Instant::now();
        std::fs::rename(&staged, &target).expect("same file system");
        while hot.get().generation() != Ok(expected) {
            assert!(start.elapsed() < Duration::from_secs(20), "swap {i} did not arrive within 20 s");
            std::thread::yield_now();
        }
        let end = Instant::now();
        samples.push(end - start);
        // The swap is visible before the supervisor records its marks: wait for them.
        while marks.lock().expect("never poisoned").len() < i as usize && start.elapsed() < Duration::from_secs(20) {
            std::thread::yield_now();
        }
        if let Some(&(received, reloaded)) = marks.lock().expect("never poisoned").get(i as usize - 1) {
            detect.push(received.saturating_duration_since(start));
            reload.push(reloaded.saturating_duration_since(received));
            seen.push(end.saturating_duration_since(reloaded));
        }
    }
    drop(supervisor); // detached: it ends with the process
    let versions = cache.versions("greeter").len();
    serde_json::json!({
            "swaps": common::summary_us(&samples),
            "breakdown": {
                "rename_to_event": common::summary_us(&detect),
                "cache_reload": common::summary_us(&reload),
                "reload_to_new_answer": common::summary_us(&seen),
            },
            "versions_loaded": versions,
            "settle_ms": settle.as_secs_f64() * 1000.0,
            "quiet_ms": 0,
            "materialize": format!("{files:?}"),
    })
}
