//! Timing harness (not a test): rename-over save -> confirmed `Event::Change` with the
//! default `WatchConfig`, p50/p90/p99 over N rounds (`cargo run --release -p hotpack-detect
//! --example rename_latency -- [N] [BYTES]`). Also times a close-after-write in place.

use std::time::{Duration, Instant};

use hotpack_detect::{Event, WatchConfig, Watcher};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(400_000);
    let live = tempfile::tempdir()?;
    let staging = tempfile::tempdir_in(live.path().parent().unwrap_or(live.path()))?;
    let target = live.path().join("plugin.so");
    std::fs::write(&target, b"baseline")?;
    let watcher = Watcher::new([live.path()], &WatchConfig::new())?;
    for (label, in_place) in [("rename-over", false), ("close-after-write in place", true)] {
        let mut samples = Vec::with_capacity(rounds);
        for i in 0..rounds {
            let mut bytes = vec![(i % 251) as u8; size];
            bytes[..8].copy_from_slice(&(i as u64 + if in_place { 1 << 40 } else { 0 }).to_le_bytes());
            let start;
            if in_place {
                start = Instant::now();
                std::fs::write(&target, &bytes)?;
            } else {
                let staged = staging.path().join("next.so");
                std::fs::write(&staged, &bytes)?;
                start = Instant::now();
                std::fs::rename(&staged, &target)?;
            }
            loop {
                match watcher.recv_timeout(Duration::from_secs(10))? {
                    Event::Change(change) if change.path.ends_with("plugin.so") => {
                        assert_eq!(change.hash(), Some(blake3::hash(&bytes)));
                        break;
                    }
                    _ => {}
                }
            }
            samples.push(start.elapsed());
            while watcher.try_recv().is_ok() {}
        }
        samples.sort();
        let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
        println!(
            "{label}, {size} bytes, {rounds} rounds: p50 {:.0} us, p90 {:.0} us, p99 {:.0} us",
            p(0.5),
            p(0.9),
            p(0.99)
        );
    }
    Ok(())
}
