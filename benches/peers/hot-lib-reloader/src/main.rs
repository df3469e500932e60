//! hot-lib-reloader (the real crate, from crates.io) measured the way `benches/reload.rs` and
//! `benches/call.rs` measure hotpack, for `cargo xtask bench` (docs/BENCHMARKS.md).
//!
//! Two hot modules over the same two libraries (`greeter-v1`, `greeter-v2` of this package):
//! `hot_default` with the crate's default file-watch debounce (500 ms), `hot_tuned` with
//! 10 ms. Each watches its own file in `--dir`. Per swap, a fresh variant of the other
//! version (distinct bytes: a trailer after the ELF section headers) is renamed over the
//! watched file, and the clock stops when a call through the hot module answers the new
//! generation (polled every 100 µs: the generated functions take the reloader's read lock,
//! and a tighter spin would starve its `try_write`). Calls: `hot_default::add(i, 1)`, each
//! of which takes the read lock and looks the symbol up with `dlsym` (the crate's design).
//!
//! Usage: `hotpack-peer-hot-lib-reloader --dir D --v1 LIB --v2 LIB --swaps N --calls N`;
//! prints one JSON object on stdout.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[hot_lib_reloader::hot_module(dylib = "hlr_default", lib_dir = crate::lib_dir())]
mod hot_default {
    #[hot_functions]
    extern "Rust" {
        pub fn add(a: u64, b: u64) -> u64;
        pub fn generation() -> u32;
    }
}

#[hot_lib_reloader::hot_module(dylib = "hlr_tuned", lib_dir = crate::lib_dir(), file_watch_debounce = 10)]
mod hot_tuned {
    #[hot_functions]
    extern "Rust" {
        pub fn generation() -> u32;
    }
}

struct Args {
    dir: PathBuf,
    v1: PathBuf,
    v2: PathBuf,
    swaps: u64,
    calls: u64,
}

fn args() -> Args {
    let mut a = Args { dir: PathBuf::new(), v1: PathBuf::new(), v2: PathBuf::new(), swaps: 10, calls: 2_000_000 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => a.dir = value.into(),
            "--v1" => a.v1 = value.into(),
            "--v2" => a.v2 = value.into(),
            "--swaps" => a.swaps = value.parse().expect("--swaps is a number"),
            "--calls" => a.calls = value.parse().expect("--calls is a number"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn lib_dir() -> String {
    std::env::var("HOTPACK_PEER_LIB_DIR").expect("main sets HOTPACK_PEER_LIB_DIR")
}

/// `bytes` plus a unique trailer (as `benches/common/mod.rs::variant`).
fn variant(bytes: &[u8], n: u64) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.extend_from_slice(b"hotpack-bench-variant:");
    out.extend_from_slice(&n.to_le_bytes());
    out
}

/// Renames `swaps` new versions over `target`, returns each swap's time until `generation`
/// answers the new version.
fn swaps(target: &Path, staging: &Path, libs: [&[u8]; 2], n: u64, generation: fn() -> u32) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 1..=n {
        let (bytes, expected) = if i % 2 == 1 { (libs[1], 2) } else { (libs[0], 1) };
        let staged = staging.join(format!("next-{i}.so"));
        std::fs::write(&staged, variant(bytes, i)).expect("scratch is writable");
        std::thread::sleep(Duration::from_millis(20)); // let the previous swap's events drain
        let start = Instant::now();
        std::fs::rename(&staged, target).expect("same file system");
        while generation() != expected {
            assert!(start.elapsed() < Duration::from_secs(20), "swap {i} did not arrive within 20 s");
            std::thread::sleep(Duration::from_micros(100));
        }
        out.push(start.elapsed().as_secs_f64() * 1e6);
    }
    out
}

fn main() {
    let a = args();
    let staging = a.dir.join("staging");
    std::fs::create_dir_all(&staging).expect("scratch is writable");
    std::env::set_var("HOTPACK_PEER_LIB_DIR", &a.dir);
    let v1 = std::fs::read(&a.v1).expect("v1 library is readable");
    let v2 = std::fs::read(&a.v2).expect("v2 library is readable");
    let default_lib = a.dir.join("libhlr_default.so");
    let tuned_lib = a.dir.join("libhlr_tuned.so");
    std::fs::write(&default_lib, variant(&v1, 0)).expect("scratch is writable");
    std::fs::write(&tuned_lib, variant(&v1, 0)).expect("scratch is writable");
    assert_eq!(hot_default::generation(), 1);
    assert_eq!(hot_tuned::generation(), 1);
    std::thread::sleep(Duration::from_millis(100)); // watchers are up

    // Calls: 5 batches, the median batch's mean.
    let mut batches = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for i in 0..a.calls {
            black_box(hot_default::add(black_box(i), black_box(1)));
        }
        batches.push(start.elapsed().as_secs_f64() * 1e9 / a.calls as f64);
    }
    batches.sort_by(f64::total_cmp);

    let default_us = swaps(&default_lib, &staging, [&v1, &v2], a.swaps, hot_default::generation);
    let tuned_us = swaps(&tuned_lib, &staging, [&v1, &v2], a.swaps, hot_tuned::generation);
    let list = |v: &[f64]| v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(",");
    println!(
        "{{\"call_ns\":{:.3},\"default_debounce_ms\":500,\"tuned_debounce_ms\":10,\"reload_default_us\":[{}],\"reload_tuned_us\":[{}]}}",
        batches[2],
        list(&default_us),
        list(&tuned_us)
    );
}
