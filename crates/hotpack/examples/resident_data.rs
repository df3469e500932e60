//! Story 1: load the data once, reload only the code that analyses it.
//!
//! `cargo run --release -p hotpack --example resident_data`
//!
//! A host builds its data set once, finds the `task` module on a search path (a folder of
//! bundles), runs it on the resident data, then a new bundle lands in the folder and
//! `reload` swaps it in: the data never moves, only the code changes.

mod support;

use std::path::Path;
use std::time::Instant;

use hotpack::Runtime;
use hotpack::util::duration::format_duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let libs = support::libraries(&["task-v1", "task-v2"])?;
    let dir = tempfile::tempdir()?;
    for line in story(&libs[0], &libs[1], dir.path(), 64 << 20)? {
        println!("{line}");
    }
    Ok(())
}

/// Runs the story with the `task` libraries `v1` and `v2`, in `dir`, on `size` bytes of data.
/// Returns what it printed.
pub fn story(v1: &Path, v2: &Path, dir: &Path, size: usize) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut log = Vec::new();
    // The resident data: 16-byte records (id, amount, category), built once.
    let started = Instant::now();
    let data: Vec<u8> = (0..size / 16)
        .flat_map(|i: usize| {
            let mut r = [0u8; 16];
            r[..8].copy_from_slice(&(i as u64).to_le_bytes());
            r[8..12].copy_from_slice(&((i % 1000) as u32).to_le_bytes());
            r[12..].copy_from_slice(&((i % 16) as u32).to_le_bytes());
            r
        })
        .collect();
    log.push(format!("data loaded once: {} MiB in {}", data.len() >> 20, format_duration(started.elapsed())));

    // A plugin folder on the search path, holding the task bundle.
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    hotpack::pack_library(v1, &plugins.join("task.zip"), vec![])?;
    let runtime = Runtime::builder().cache_dir(dir.join("cache")).search_path(&plugins).build()?;

    let started = Instant::now();
    let task = runtime.import("task")?;
    log.push(format!("imported task {} in {}", task.version(), format_duration(started.elapsed())));
    let out = runtime.call("task", "run", &data)?;
    log.push(format!("result: {}", String::from_utf8_lossy(&out)));

    // The analysis changes: a new bundle replaces the old one; reload swaps it in.
    hotpack::pack_library(v2, &plugins.join("task.zip"), vec![])?;
    let started = Instant::now();
    let task = runtime.reload("task")?;
    log.push(format!(
        "reloaded task {} in {} (the data did not move)",
        task.version(),
        format_duration(started.elapsed())
    ));
    let out = runtime.call("task", "run", &data)?;
    log.push(format!("result: {}", String::from_utf8_lossy(&out)));
    Ok(log)
}
