//! Bundles: open + validate a 10,000-entry bundle vs the zip crate reading only the central
//! directory, and `verify_all` (blake3 of every entry).
//!
//! The anchor (`open_vs_zip_cd_ratio`) is `zip::ZipArchive::new(BufReader<File>)`: the zip
//! crate seeks to the end record and parses the central directory, reading nothing else,
//! which is all an importer needs before the first entry is asked for. (The old anchor,
//! `fs::read` of the whole file + `ZipArchive::new(Cursor)`, charged the zip crate for
//! hotpack's whole-file read and so flattered hotpack; it is kept as `zip_read_all_open`.)
//!
//! Two modes. With `HOTPACK_BENCH_PART=open-round` (what `cargo xtask bench` runs once per
//! round) the bench times a fixed number of `Bundle::open`, zip central-directory opens and,
//! when `HOTPACK_BENCH_PYTHON` names an interpreter, python zipimporter opens
//! (`benches/python/zipimport_bench.py --pairs`), alternating one by one, and writes
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

/// Python's zipimporter, one open per request: `benches/python/zipimport_bench.py --pairs`
/// run by the interpreter `cargo xtask bench` names in `HOTPACK_BENCH_PYTHON`.
struct PythonOpens {
    child: std::process::Child,
    to: std::process::ChildStdin,
    from: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl PythonOpens {
    fn start(bundle: &Path) -> Option<PythonOpens> {
        use std::process::{Command, Stdio};
        let python = std::env::var_os("HOTPACK_BENCH_PYTHON")?;
        let script = hotpack_testkit::workspace_root().join("benches").join("python").join("zipimport_bench.py");
        let mut child = Command::new(python)
            .arg(&script)
            .arg("--bundle")
            .arg(bundle)
            .arg("--pairs")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the python interpreter named by HOTPACK_BENCH_PYTHON starts");
        let to = child.stdin.take().expect("piped");
        let from = std::io::BufRead::lines(BufReader::new(child.stdout.take().expect("piped")));
        Some(PythonOpens { child, to, from })
    }

    /// One zipimporter open of the bundle, timed by python.
    fn open(&mut self) -> Duration {
        use std::io::Write;
        writeln!(self.to, "open").expect("python reads its requests");
        let line = self.from.next().expect("python answers every request").expect("python's answer is text");
        let v: serde_json::Value = serde_json::from_str(&line).expect("python answers with JSON");
        assert_eq!(v["entries"].as_u64(), Some(ENTRIES as u64), "python's zipimporter sees every entry");
        Duration::from_secs_f64(v["ms"].as_f64().expect("a number of milliseconds") / 1e3)
    }
}

impl Drop for PythonOpens {
    fn drop(&mut self) {
        let _ = std::io::Write::write_all(&mut self.to, b"quit\n");
        let _ = self.child.wait();
    }
}

/// `open-round`: `n` hotpack opens, `n` zip central-directory opens and (when the xtask names
/// a python) `n` python zipimporter opens, alternating one by one: each python/hotpack pair
/// is measured within ~40 ms, so a machine that slows down for a while (a VM's neighbours)
/// slows both sides of a pair, and the per-pair ratios' median is the speedup.
fn open_round(n: usize) {
    let path = bundle_10k();
    let limits = Limits::default();
    let mut python = PythonOpens::start(&path);
    let (mut hot, mut zip_cd, mut py) = (Vec::<Duration>::new(), Vec::<Duration>::new(), Vec::<Duration>::new());
    for i in 0..n + 2 {
        let start = Instant::now();
        black_box(Bundle::open(black_box(&path), &limits).expect("valid"));
        let t_hot = start.elapsed();
        let start = Instant::now();
        let archive = zip_central_directory(black_box(&path));
        let t_zip = start.elapsed();
        assert!(archive.len() >= ENTRIES, "the zip crate sees every entry");
        let t_py = python.as_mut().map(PythonOpens::open);
        if i >= 2 {
            hot.push(t_hot);
            zip_cd.push(t_zip);
            py.extend(t_py);
        }
    }
    let mut out =
        serde_json::json!({ "open_validate_10k": common::summary_us(&hot), "zip_cd_10k": common::summary_us(&zip_cd) });
    if !py.is_empty() {
        let mut speedups: Vec<f64> = py.iter().zip(&hot).map(|(p, h)| p.as_secs_f64() / h.as_secs_f64()).collect();
        speedups.sort_by(f64::total_cmp);
        out["python_zipimporter_10k"] = common::summary_us(&py);
        out["python_open_speedup"] = serde_json::json!(speedups[speedups.len() / 2]);
    }
    common::publish("archive-open", &out);
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
