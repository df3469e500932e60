//! Reload end to end: from a new version renamed into place on disk until a hot handle
//! returns the new version's answer.
//!
//! The host: a `Cache` whose search path is one directory holding `libgreeter.so`, a
//! `Hot<Greeter>` handle, and a supervisor thread that reads a `hotpack_detect::Watcher` on
//! that directory (quiet window 0) and calls `Cache::reload("greeter")` on each confirmed
//! change (search, read, blake3, content-addressed write with fsync, `dlopen`, checks, init,
//! state transfer, atomic swap). The timed loop renames a prepared file (alternately a
//! distinct-bytes variant of greeter-v2 and of greeter-v1) over `libgreeter.so` and spins
//! on `hot.get().generation()` until it answers the new generation.
//!
//! Measured twice: tuned for a writer that renames finished files into place (detect's
//! settle time 0, libraries materialized through a memfd: the published `reload_p50_us`),
//! and with the defaults (20 ms settle against coarse timestamps, content-addressed file
//! with fsync), published as `with_defaults`.
//!
//! Custom-timed (percentiles over a fixed number of swaps: 200, 100 with `--quick`).

mod common;

use greeter_api::Greeter;
use hotpack_archive::SearchPath;
use hotpack_cache::Cache;
use hotpack_detect::{Event, WatchConfig, Watcher};
use hotpack_loader::{Loader, Materialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let swaps: u64 = match (common::test_mode(), common::quick()) {
        (true, _) => 4,
        (false, true) => 100,
        (false, false) => 200,
    };
    let mut tuned = measure("reload", swaps, Duration::ZERO, Materialize::Memfd);
    let defaults = measure("reload-defaults", swaps.min(50), WatchConfig::new().settle, Materialize::ContentAddressed);
    tuned["with_defaults"] = defaults;
    common::publish("reload", &tuned);
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
            "materialize": format!("{files:?}"),
    })
}
