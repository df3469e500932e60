//! Helpers shared by the bench targets: where inputs and results go, fresh library variants,
//! run modes, and the small statistics the custom-timed benches (`load`, `reload`) report.

#![allow(dead_code)] // each bench target uses a different subset

use std::path::PathBuf;
use std::time::Duration;

/// `target/hotpack-bench`: inputs, scratch directories and results of the benches.
pub fn out_dir() -> PathBuf {
    // `cargo xtask bench` names the directory it reads (`HOTPACK_BENCH_OUT`): the testkit's
    // root is where this executable was compiled, which is not where it runs when a target
    // directory was moved or copied between checkouts.
    let dir = std::env::var_os("HOTPACK_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| hotpack_testkit::target_root().join("hotpack-bench"));
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    dir
}

/// `target/hotpack-bench/inputs`: generated inputs reused across runs (and by the python
/// baselines, which must time the very same files).
pub fn inputs_dir() -> PathBuf {
    let dir = out_dir().join("inputs");
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    dir
}

/// A fresh, empty scratch directory `target/hotpack-bench/tmp/<name>` (on disk, not tmpfs).
pub fn scratch(name: &str) -> PathBuf {
    let dir = out_dir().join("tmp").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    dir
}

/// `bytes` plus a unique trailer: a library with the same code and different bytes, so no
/// content-addressed dedup can answer from a cache. Bytes after an ELF file's section
/// header table belong to no segment or section: the dynamic linker never reads them.
pub fn variant(bytes: &[u8], n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 32);
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"hotpack-bench-variant:");
    out.extend_from_slice(&n.to_le_bytes());
    out
}

/// `cargo bench` passes `--bench`; `cargo test --benches` does not: then a custom-timed
/// bench runs a few iterations only, to prove it works, and writes no results.
pub fn test_mode() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

/// `cargo xtask bench --quick` sets `HOTPACK_BENCH_QUICK=1`.
pub fn quick() -> bool {
    std::env::var_os("HOTPACK_BENCH_QUICK").is_some_and(|v| v == "1")
}

/// Summary of a list of durations, in microseconds.
pub fn summary_us(samples: &[Duration]) -> serde_json::Value {
    let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    us.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let rank = ((p * us.len() as f64).ceil() as usize).clamp(1, us.len());
        us[rank - 1]
    };
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    serde_json::json!({
        "n": us.len(),
        "min_us": us[0],
        "p10_us": pct(0.10),
        "p50_us": pct(0.50),
        "p90_us": pct(0.90),
        "p99_us": pct(0.99),
        "max_us": us[us.len() - 1],
        "mean_us": mean,
    })
}

/// Prints `value` and, outside test mode, writes it to `target/hotpack-bench/<name>.json`
/// for `cargo xtask bench` to collect.
pub fn publish(name: &str, value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).expect("a JSON value serializes");
    println!("{name}: {text}");
    if !test_mode() {
        std::fs::write(out_dir().join(format!("{name}.json")), text).expect("target/ is writable");
    }
}
