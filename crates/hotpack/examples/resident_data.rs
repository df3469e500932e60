//! Story 1: load the data once, reload only the code that analyses it.
//!
//! `cargo run --release -p hotpack --example resident_data`
//!
//! A host builds its data set once, finds the `task` module on a search path (a folder of
//! bundles), runs it on the resident data, then a new bundle lands in the folder and
//! `reload` swaps it in: the data never moves, only the code changes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hotpack::Runtime;
use hotpack::util::duration::format_duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let libs = libraries(&["task-v1", "task-v2"])?;
    let dir = tempfile::tempdir()?;
    for line in story(&libs[0], &libs[1], dir.path(), 64 << 20)? {
        println!("{line}");
    }
    Ok(())
}

/// The module libraries the story runs: the paths given as arguments, else (run from a
/// checkout of hotpack) the workspace's `examples/modules/NAME` crates, built with cargo.
fn libraries(names: &[&str]) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let given: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if !given.is_empty() {
        if given.len() != names.len() {
            return Err(format!("pass {} built module libraries ({})", names.len(), names.join(", ")).into());
        }
        return Ok(given);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !root.join("examples/modules").is_dir() {
        return Err(
            format!("pass the built libraries of {} (cdylibs built against hotpack-abi)", names.join(", ")).into()
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let target = target.join("hotpack-fixtures");
    let mut cargo = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(&root).args(["build", "--release", "--quiet", "--target-dir"]).arg(&target);
    for name in names {
        cargo.args(["-p", name]);
    }
    if !cargo.status()?.success() {
        return Err("building the example modules failed".into());
    }
    Ok(names.iter().map(|n| target.join("release").join(format!("lib{}.so", n.replace('-', "_")))).collect())
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
