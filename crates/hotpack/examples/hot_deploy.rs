//! Story 3: a service shipped as one bundle, hot-deployed under live
//! traffic, rolled back, and resumed on its last good version after a restart.
//!
//! `cargo run -p hotpack --example hot_deploy`
//!
//! Four threads call the service through a typed hot handle while v2 is deployed over v1, a
//! broken bundle is refused, and v2 is rolled back. No call fails. A second runtime opened on
//! the same journal (a restart) comes back on the last good version.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hotpack::Runtime;

// The `Greeter` interface the greeter modules implement, declared here exactly as in their
// interface crate (examples/modules/greeter-api): its id hashes the name and every signature,
// so this host's handle binds to their tables. A real host depends on the interface crate.
hotpack::abi::interface! {
    /// A tiny typed interface, implemented by `greeter-v1` and `greeter-v2`.
    pub struct Greeter / trait GreeterImpl {
        /// Which implementation answers (1 for v1, 2 for v2).
        fn generation() -> u32;
        /// `a + b`, scaled by the generation: v1 answers `a + b`, v2 `2 * (a + b)`.
        fn add(a: u64, b: u64) -> u64;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let libs = support::libraries(&["greeter-v1", "greeter-v2"])?;
    let dir = tempfile::tempdir()?;
    for line in story(&libs[0], &libs[1], dir.path())? {
        println!("{line}");
    }
    Ok(())
}

/// Runs the story with the `greeter` libraries `v1` and `v2`, in `dir`. Returns what it printed.
pub fn story(v1: &Path, v2: &Path, dir: &Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut log = Vec::new();
    let (b1, b2, broken) = (dir.join("svc-1.zip"), dir.join("svc-2.zip"), dir.join("svc-broken.zip"));
    hotpack::pack_library(v1, &b1, vec![])?;
    hotpack::pack_library(v2, &b2, vec![])?;
    std::fs::write(&broken, b"PK\x03\x04 this is not a whole zip")?;
    let journal = dir.join("journal").join("journal.json");
    let build = || Runtime::builder().cache_dir(dir.join("cache")).journal(&journal).build();

    let runtime = build()?;
    runtime.deploy(&b1)?;
    let hot = runtime.hot::<Greeter>("greeter")?;

    // Live traffic: four threads calling the typed interface as fast as they can.
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let traffic: Vec<_> = (0..4)
        .map(|_| {
            let (hot, stop, calls) = (hot.clone(), Arc::clone(&stop), Arc::clone(&calls));
            std::thread::spawn(move || {
                let mut wrong = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let g = hot.get();
                    // v1 adds, v2 doubles: the answer always matches the generation.
                    match (g.generation(), g.add(2, 3)) {
                        (Ok(1), Ok(5)) | (Ok(2), Ok(10)) => {}
                        _ => wrong += 1,
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                wrong
            })
        })
        .collect();

    let d = runtime.deploy(&b2)?;
    log.push(format!("deployed {} {} under traffic", d[0].name, d[0].version));
    match runtime.deploy(&broken) {
        Err(e) => log.push(format!("refused the broken bundle: {e}")),
        Ok(_) => return Err("a broken bundle was deployed".into()),
    }
    let back = runtime.rollback("greeter")?;
    log.push(format!("rolled back to {}", back.version));
    let again = runtime.deploy(&b2)?;
    log.push(format!("deployed {} again", again[0].version));

    stop.store(true, Ordering::Relaxed);
    let wrong: u64 = traffic.into_iter().map(|t| t.join().unwrap_or(u64::MAX)).sum();
    log.push(format!("{} calls during the swaps, {wrong} wrong or failed", calls.load(Ordering::Relaxed)));
    if wrong != 0 {
        return Err(format!("{wrong} calls failed during the swaps").into());
    }
    drop(runtime);

    // A restart: the journal brings back the last good version.
    let restarted = build()?;
    let report = restarted.restore()?;
    for d in &report.restored {
        log.push(format!("after a restart: {} {} is serving again", d.name, d.version));
    }
    log.push(format!("greet -> {}", String::from_utf8_lossy(&restarted.call("greeter", "greet", b"restart")?)));
    Ok(log)
}
