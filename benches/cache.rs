//! The module cache: `Cache::import` of a module that is already current (a hit, as
//! `importlib.import_module` of a module in `sys.modules`).

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use hotpack_archive::SearchPath;
use hotpack_cache::Cache;
use hotpack_loader::Loader;
use std::hint::black_box;

fn cache(c: &mut Criterion) {
    let dir = common::scratch("cache");
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).expect("scratch dir is writable");
    std::fs::copy(hotpack_testkit::module("greeter-v1"), plugins.join("libgreeter.so")).expect("fixture copies");
    let mut search = SearchPath::new();
    search.push(&plugins);
    let cache = Cache::new(Loader::new(dir.join("objects")).expect("scratch dir is writable"), search);
    let first = cache.import("greeter").expect("greeter is on the path");

    let mut g = c.benchmark_group("cache");
    g.bench_function("import_hit", |b| {
        b.iter(|| {
            let m = cache.import(black_box("greeter")).expect("a hit");
            debug_assert_eq!(m.hash(), first.hash());
            m
        })
    });
    g.finish();
}

criterion_group!(benches, cache);
criterion_main!(benches);
