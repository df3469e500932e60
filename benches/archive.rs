//! Bundles: open + validate a 10,000-entry bundle vs the zip crate's bare
//! `ZipArchive::new` on the same file, and `verify_all` (blake3 of every entry).
//!
//! Both opens start from the path and read the whole file first (`Bundle::open` does; the
//! zip baseline does `fs::read` + `ZipArchive::new(Cursor)`), so the ratio is the cost of
//! hotpack's checks. The bundle is written to
//! `target/hotpack-bench/inputs/bundle-10k.zip`, where the python zipimporter baseline
//! reads it too.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use hotpack_archive::{Bundle, Limits};
use hotpack_loader::Loader;
use std::hint::black_box;
use std::path::PathBuf;

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

fn archive(c: &mut Criterion) {
    let path = bundle_10k();
    let limits = Limits::default();
    let mut g = c.benchmark_group("archive");
    g.bench_function("open_validate_10k", |b| b.iter(|| Bundle::open(black_box(&path), &limits).expect("valid")));
    g.bench_function("zip_open_10k", |b| {
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
criterion_main!(benches);
