//! Change detection: fingerprinting a big file (`hotpack_detect::hash_file`: files of 64 MiB
//! and more are hashed from a memory map on all cores) against the hash floor, blake3 over the
//! same bytes already in memory, on one thread (`blake3_in_memory`) and on all cores
//! (`blake3_in_memory_rayon`); and the watcher's latency from a file renamed into a watched
//! directory to the confirmed [`Event::Change`](hotpack_detect::Event) with the default
//! [`WatchConfig`] (a rename into place skips the quiet window; blake3 confirmation included).
//!
//! The file is `target/hotpack-bench/inputs/fingerprint-<MiB>.bin`, generated once and
//! reused; 1024 MiB by default, `HOTPACK_BENCH_FINGERPRINT_MIB` overrides it (the xtask's
//! `--quick` uses 256). It is read from a warm page cache: the figure is hashing plus the
//! page-cache access, not the disk.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotpack_detect::{Event, WatchConfig, Watcher};
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Size of the fingerprinted file in MiB.
fn size_mib() -> u64 {
    if common::test_mode() {
        return 8;
    }
    std::env::var("HOTPACK_BENCH_FINGERPRINT_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024)
}

/// The input file: deterministic pseudo-random bytes (xorshift), written once.
fn big_file(mib: u64) -> PathBuf {
    let path = common::inputs_dir().join(format!("fingerprint-{mib}.bin"));
    let size = mib << 20;
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == size) {
        return path;
    }
    let tmp = path.with_extension("tmp");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("inputs dir is writable"));
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        out.write_all(&block).expect("inputs dir is writable");
    }
    out.into_inner().expect("flushed").sync_all().expect("synced");
    std::fs::rename(&tmp, &path).expect("renamed into place");
    path
}

fn fingerprint(c: &mut Criterion) {
    let mib = size_mib();
    let path = big_file(mib);
    let data = std::fs::read(&path).expect("the input is readable");
    assert_eq!(hotpack_detect::hash_file(&path).expect("hashes").hash, blake3::hash(&data));
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Bytes(mib << 20));
    g.sample_size(10);
    g.bench_function("fingerprint_file", |b| b.iter(|| hotpack_detect::hash_file(black_box(&path)).expect("hashes")));
    g.bench_function("blake3_in_memory", |b| b.iter(|| blake3::hash(black_box(&data))));
    g.bench_function("blake3_in_memory_rayon", |b| {
        b.iter(|| blake3::Hasher::new().update_rayon(black_box(&data)).finalize())
    });
    g.finish();
    drop(data);
}

fn watch(c: &mut Criterion) {
    let dir = common::scratch("watch");
    let (live, staging) = (dir.join("live"), dir.join("staging"));
    std::fs::create_dir_all(&live).expect("scratch is writable");
    std::fs::create_dir_all(&staging).expect("scratch is writable");
    let target = live.join("plugin.so");
    std::fs::write(&target, b"version 0").expect("scratch is writable");
    // The defaults: a rename into place is confirmed without the quiet window.
    let watcher = Watcher::new([&live], &WatchConfig::new()).expect("inotify works");
    let mut n = 0u64;
    let mut g = c.benchmark_group("detect");
    g.bench_function("watch_rename_to_event", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let staged = staging.join("next.so");
                std::fs::write(&staged, format!("version {n}")).expect("scratch is writable");
                let start = Instant::now();
                std::fs::rename(&staged, &target).expect("same file system");
                loop {
                    match watcher.recv_timeout(Duration::from_secs(10)).expect("an event within 10 s") {
                        Event::Change(_) => break,
                        other => eprintln!("watch bench: ignoring {other:?}"),
                    }
                }
                total += start.elapsed();
                while watcher.try_recv().is_ok() {}
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, fingerprint, watch);
criterion_main!(benches);
