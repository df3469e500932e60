//! Bundles: open + validate a 10,000-entry bundle vs the zip crate reading only the central
//! directory, and `verify_all` (blake3 of every entry).
//!
//! The anchor (`open_vs_zip_cd_ratio`) is `zip::ZipArchive::new(BufReader<File>)`: the zip
//! crate seeks to the end record and parses the central directory, reading nothing else,
//! which is all an importer needs before the first entry is asked for. (The old anchor,
//! `fs::read` of the whole file + `ZipArchive::new(Cursor)`, charged the zip crate for
//! hotpack's whole-file read and so flattered hotpack; it is kept as `zip_read_all_open`.)
//!
//! Two modes. With `HOTPACK_BENCH_PART=open-round` (what `cargo xtask bench` runs, several
//! times, between `benches/python/zipimport_bench.py` rounds) the bench times a fixed number
//! of `Bundle::open` and zip central-directory opens, alternating, and writes
//! `target/hotpack-bench/archive-open.json`. Otherwise criterion runs `verify_all_10k` and
//! both opens. The bundle is written to `target/hotpack-bench/inputs/bundle-10k.zip`, where
//! the python zipimporter baseline reads it too.

mod common;

use criterion::{Criterion, criterion_group};
use hotpack_archive::{Bundle, Limits};
use hotpack_loader::Loader;
use std::hint::black_box;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Entries in the bundle: manifest + library + resources.
const ENTRIES: usize = 10_000;

/// Packs the 10,000-entry bundle (outside any timed loop) and returns its path.
fn bundle_10k() -> PathBuf {
    let loader = Loader::new(common::scratch("archive")).expect("scratch dir is writable");
    let bytes = hotpack_testkit::module_bytes("greeter-v1");
    let module = loader.load_bytes(&bytes, "greeter-v1".as_ref()).expect("greeter-v1 loads");
    let resources: Vec<(String, Vec<u8>)> = (0..ENTRIES - 2)
        .map(|i| (format!("data/{:02}/r{i:05}.txt", i % 100), format!("resource {i}\n").into_bytes()))
        .collect();
    let spec = hotpack_cache::pack_spec(&module, "libgreeter.so", bytes, resources);
    let path = common::inputs_dir().join("bundle-10k.zip");
    hotpack_archive::pack_to_file(&spec, &path).expect("the bundle packs");
    let bundle = Bundle::open(&path, &Limits::default()).expect("the bundle is valid");
    assert_eq!(bundle.entries().filter(|e| !e.is_dir).count(), ENTRIES, "the bundle has 10,000 files");
    path
}

/// The anchor: the zip crate reading the end record and the central directory only.
fn zip_central_directory(path: &Path) -> zip::ZipArchive<BufReader<std::fs::File>> {
    let file = std::fs::File::open(path).expect("readable");
    zip::ZipArchive::new(BufReader::new(file)).expect("a zip")
}

/// `open-round`: `n` hotpack opens and `n` zip central-directory opens, alternating.
fn open_round(n: usize) {
    let path = bundle_10k();
    let limits = Limits::default();
    let (mut hot, mut zip_cd) = (Vec::<Duration>::new(), Vec::<Duration>::new());
    for i in 0..n + 2 {
        let start = Instant::now();
        black_box(Bundle::open(black_box(&path), &limits).expect("valid"));
        let t_hot = start.elapsed();
        let start = Instant::now();
        let archive = zip_central_directory(black_box(&path));
        let t_zip = start.elapsed();
        assert!(archive.len() >= ENTRIES, "the zip crate sees every entry");
        if i >= 2 {
            hot.push(t_hot);
            zip_cd.push(t_zip);
        }
    }
    common::publish(
        "archive-open",
        &serde_json::json!({ "open_validate_10k": common::summary_us(&hot), "zip_cd_10k": common::summary_us(&zip_cd) }),
    );
}

fn archive(c: &mut Criterion) {
    let path = bundle_10k();
    let limits = Limits::default();
    let mut g = c.benchmark_group("archive");
    g.bench_function("open_validate_10k", |b| b.iter(|| Bundle::open(black_box(&path), &limits).expect("valid")));
    g.bench_function("zip_cd_10k", |b| b.iter(|| zip_central_directory(black_box(&path))));
    g.bench_function("zip_read_all_open_10k", |b| {
        b.iter(|| {
            let bytes = std::fs::read(black_box(&path)).expect("readable");
            zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip")
        })
    });
    let bundle = Bundle::open(&path, &limits).expect("valid");
    g.bench_function("verify_all_10k", |b| b.iter(|| bundle.verify_all().expect("intact")));
    g.finish();
}

criterion_group!(benches, archive);

fn main() {
    if std::env::var("HOTPACK_BENCH_PART").is_ok_and(|p| p == "open-round") {
        open_round(if common::quick() { 15 } else { 40 });
        return;
    }
    if common::test_mode() {
        open_round(2);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
