//! A provider swapped under its dependents: an in-process deploy of a new `textutil` version
//! from bytes in memory (load through a memfd, then `Cache::activate`: bindings, the
//! requirements gate, init, state, the promotion, and the store of the new table into every
//! dependent's handle), p50, with 100 dependents against 1
//! (`provider_swap_with_100_dependents_us`, `provider_swap_100_vs_1_ratio`; goal: at most 2,
//! since a swap touches one pointer per dependent, not the dependents).
//!
//! The 100 dependents are `svc-a` with its name rewritten in the bytes (`d0000` .. `d0099`,
//! the same length, in its descriptor and its descriptor section), so they are 100 modules.
//! Each sample deploys fresh bytes (a distinct-bytes variant of textutil v1 or v2,
//! alternating). `cargo test --benches` runs 3 samples.

mod common;

use hotpack_archive::SearchPath;
use hotpack_cache::{Cache, Source};
use hotpack_loader::{Loader, Materialize, Module};
use std::time::{Duration, Instant};

fn renamed(bytes: &[u8], name: &[u8; 5]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i + 5 <= out.len() {
        if &out[i..i + 5] == b"svc-a" {
            out[i..i + 5].copy_from_slice(name);
            i += 5;
        } else {
            i += 1;
        }
    }
    out
}

/// A cache with textutil v1 and `dependents` dependents, all current.
fn setup(dir: &std::path::Path, dependents: usize) -> (Cache, Vec<Module>) {
    let cache = Cache::new(Loader::new(dir).expect("scratch dir is writable"), SearchPath::new());
    let origin = dir.join("textutil.so");
    let v1 = hotpack_testkit::module_bytes("textutil-v1");
    let provider = cache.loader().load_bytes_with(&v1, &origin, Materialize::Memfd).expect("v1 loads");
    cache.activate(&provider, Source::Memory("textutil".into())).expect("v1 activates");
    let svc = hotpack_testkit::module_bytes("svc-a");
    let mut list = Vec::new();
    for i in 0..dependents {
        let name = format!("d{i:04}");
        let bytes = renamed(&svc, name.as_bytes().try_into().expect("5 bytes"));
        let m = cache.loader().load_bytes_with(&bytes, &dir.join(&name), Materialize::Memfd).expect("loads");
        assert_eq!(m.name(), name);
        cache.activate(&m, Source::Memory(name)).expect("a dependent activates");
        list.push(m);
    }
    (cache, list)
}

fn swaps(cache: &Cache, dependents: &[Module], samples: usize, seed: u64) -> Vec<Duration> {
    let v1 = hotpack_testkit::module_bytes("textutil-v1");
    let v2 = hotpack_testkit::module_bytes("textutil-v2");
    let origin = std::path::PathBuf::from("textutil.so");
    let mut out = Vec::new();
    for i in 0..samples {
        let (bytes, expected) = if i % 2 == 0 { (&v2, b"ABC!".as_slice()) } else { (&v1, b"ABC".as_slice()) };
        let bytes = common::variant(bytes, seed + i as u64);
        let start = Instant::now();
        let module = cache.loader().load_bytes_with(&bytes, &origin, Materialize::Memfd).expect("textutil loads");
        cache.activate(&module, Source::Memory("textutil".into())).expect("the swap passes its gates");
        out.push(start.elapsed());
        // Every dependent sees the new provider on its next call.
        for d in [dependents.first(), dependents.last()].into_iter().flatten() {
            let answer = d.call("run", b"abc").expect("run");
            assert!(answer.ends_with(expected), "{}", String::from_utf8_lossy(&answer));
        }
    }
    out
}

fn main() {
    let samples = match (common::test_mode(), common::quick()) {
        (true, _) => 3,
        (false, true) => 20,
        (false, false) => 50,
    };
    let dir = common::scratch("deps");
    let (one, one_deps) = setup(&dir.join("one"), 1);
    let (many, many_deps) = setup(&dir.join("many"), 100);
    // Alternate the two, so drift on a busy machine hits both alike.
    let (mut s1, mut s100) = (Vec::new(), Vec::new());
    for round in 0..samples as u64 {
        s1.extend(swaps(&one, &one_deps, 1, 1_000 + round));
        s100.extend(swaps(&many, &many_deps, 1, 100_000 + round));
    }
    let p50 = |v: &[Duration]| common::summary_us(v)["p50_us"].as_f64().expect("a number");
    common::publish(
        "deps",
        &serde_json::json!({
            "provider_swap_1_us": p50(&s1),
            "provider_swap_100_us": p50(&s100),
            "swap_1": common::summary_us(&s1),
            "swap_100": common::summary_us(&s100),
        }),
    );
}
