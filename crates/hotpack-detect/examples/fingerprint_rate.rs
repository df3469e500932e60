//! Timing harness (not a test): `hash_file` of a big file against blake3 over the same bytes
//! in memory (one thread, all cores), best-of-5 wall time and process CPU time per GB
//! (`cargo run --release -p hotpack-detect --example fingerprint_rate -- FILE`). CPU time
//! is read from /proc/self/stat (Linux), which keeps the comparison useful on a busy machine.

use std::time::Instant;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or("");
    let fields: Vec<f64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect();
    (fields.get(11).copied().unwrap_or(0.0) + fields.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn time(label: &str, bytes: f64, mut f: impl FnMut() -> blake3::Hash) -> f64 {
    let (mut best, mut hash) = (f64::MAX, None);
    let cpu0 = cpu_seconds();
    for _ in 0..5 {
        let start = Instant::now();
        hash = Some(f());
        best = best.min(start.elapsed().as_secs_f64());
    }
    let cpu = (cpu_seconds() - cpu0) / 5.0;
    let gbps = bytes / best / 1e9;
    println!(
        "{label:34} {gbps:6.2} GB/s wall, {:6.2} GB per CPU-second  {:?}",
        bytes / cpu / 1e9,
        hash.map(|h| h.to_hex())
    );
    gbps
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: fingerprint_rate FILE")?);
    let data = std::fs::read(&path)?;
    let bytes = data.len() as f64;
    let file = time("hash_file", bytes, || {
        hotpack_detect::hash_file(&path).map(|fp| fp.hash).unwrap_or_else(|e| panic!("{e}"))
    });
    let one = time("blake3 in memory, one thread", bytes, || blake3::hash(&data));
    let all = time("blake3 in memory, all cores", bytes, || blake3::Hasher::new().update_rayon(&data).finalize());
    println!("efficiency vs one thread {:.2}, vs all cores {:.2}", file / one, file / all);
    Ok(())
}
