//! Story 2: a plugin folder that discovers, loads and swaps plugins without a
//! restart.
//!
//! `cargo run -p hotpack --example plugin_folder`
//!
//! The host watches its plugin folder. A bundle dropped in is loaded; a bundle replaced is
//! swapped in after its gates; a broken bundle is refused and the old version keeps serving.

mod support;

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use hotpack::{Event, Runtime, WatchReport};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let libs = support::libraries(&["greeter-v1", "greeter-v2"])?;
    let dir = tempfile::tempdir()?;
    for line in story(&libs[0], &libs[1], dir.path())? {
        println!("{line}");
    }
    Ok(())
}

/// Waits for the outcome of one deploy: `Ok(line)` when deployed, `Err(line)` when refused.
fn outcome(events: &Receiver<Event>) -> Result<String, String> {
    loop {
        match events.recv_timeout(Duration::from_secs(30)) {
            Ok(e @ Event::Deploy(WatchReport::Deployed { .. })) => return Ok(e.to_string()),
            Ok(e @ Event::Deploy(WatchReport::Refused { .. })) => return Err(e.to_string()),
            Ok(_) => continue,
            Err(_) => return Err("no deploy within 30 s".into()),
        }
    }
}

/// Runs the story with the `greeter` libraries `v1` and `v2`, in `dir`. Returns what it printed.
pub fn story(v1: &Path, v2: &Path, dir: &Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut log = Vec::new();
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let runtime = Runtime::builder()
        .cache_dir(dir.join("cache"))
        .search_path(&plugins)
        .quiet(Duration::from_millis(30))
        .build()?;
    let events = runtime.subscribe();
    let _watching = runtime.watch()?;

    // A new plugin appears: discovered and loaded.
    let staged = dir.join("greeter.zip");
    hotpack::pack_library(v1, &staged, vec![])?;
    std::fs::rename(&staged, plugins.join("greeter.zip"))?;
    log.push(outcome(&events).map_err(|e| format!("v1 was not deployed: {e}"))?);
    log.push(format!("greet -> {}", String::from_utf8_lossy(&runtime.call("greeter", "greet", b"plugin host")?)));

    // It is replaced: swapped in after its gates.
    hotpack::pack_library(v2, &staged, vec![])?;
    std::fs::rename(&staged, plugins.join("greeter.zip"))?;
    log.push(outcome(&events).map_err(|e| format!("v2 was not deployed: {e}"))?);
    log.push(format!("greet -> {}", String::from_utf8_lossy(&runtime.call("greeter", "greet", b"plugin host")?)));

    // A broken copy (one byte flipped in the library): refused, v2 keeps serving.
    hotpack::pack_library(v1, &staged, vec![("note.txt".into(), b"tampered".to_vec())])?;
    let mut bytes = std::fs::read(&staged)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&staged, bytes)?;
    std::fs::rename(&staged, plugins.join("greeter.zip"))?;
    match outcome(&events) {
        Err(refused) => log.push(refused),
        Ok(deployed) => return Err(format!("a tampered bundle was deployed: {deployed}").into()),
    }
    log.push(format!("greet -> {}", String::from_utf8_lossy(&runtime.call("greeter", "greet", b"plugin host")?)));
    for m in runtime.modules() {
        let version = m.version().map(|v| v.to_string()).unwrap_or_default();
        log.push(format!("module {} {version}, last error: {}", m.name, m.last_error.unwrap_or_default()));
    }
    Ok(log)
}
