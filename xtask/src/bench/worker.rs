//! Report area: `benches/worker.rs`: a byte-handler call into a worker process through the
//! public call API (`Runtime::call` on an isolated runtime) beside the same call in process,
//! `Worker::call` straight into a worker, and the two floors of talking to another process
//! at all (same 1 KiB payload, interleaved), and what a worker costs on top of the resident
//! data it maps.

use super::report::{Goal, Row, row};
use super::{Ctx, Keys, num};
use anyhow::Result;
use serde_json::json;

/// This area's goals (issue 20).
pub(super) const GOALS: &[Goal] = &[
    Goal { key: "isolated_call_p50_us", label: "isolated call, 1 KiB each way (µs p50)", at_most: true, bound: 10.0 },
    Goal {
        key: "isolated_resident_data_worker_private_mb",
        label: "worker private MB over 1 GiB resident data",
        at_most: true,
        bound: 64.0,
    },
];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
    Row {
        floor: Some("worker_floor_shm_futex_p50_us"),
        alt: Some("in_process_call_p50_us"),
        goal: Some("isolated_call_p50_us"),
        ..row(
            "isolated Runtime::call, 1 KiB each way, one caller (µs p50): vs shm + futex floor; alt: the same \
             Runtime::call in process",
            "isolated_call_p50_us",
        )
    },
    row("isolated Runtime::call right after another (µs p50)", "isolated_call_warm_p50_us"),
    row("isolated Runtime::call that wakes a sleeping worker (µs p50)", "isolated_call_idle_p50_us"),
    row("in-process Runtime::call, same handler and payload (µs p50)", "in_process_call_p50_us"),
    row(
        "Worker::call straight into a worker right after another, no runtime (µs p50)",
        "isolated_worker_call_warm_p50_us",
    ),
    row("floor: 1 KiB round trip over a socketpair (µs p50)", "worker_floor_socketpair_p50_us"),
    row("floor: 1 KiB round trip through shared memory + futex (µs p50)", "worker_floor_shm_futex_p50_us"),
    Row {
        goal: Some("isolated_resident_data_worker_private_mb"),
        ..row(
            "worker Rss minus its resident-data mapping after reading 1 GiB (MB)",
            "isolated_resident_data_worker_private_mb",
        )
    },
];

/// `benches/worker.rs` (custom-timed).
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    ctx.bench("worker", None, &[])?;
    let w = ctx.result("worker")?;
    let r = ctx.result("worker-resident-data")?;
    let mut k = Keys::new();
    for (key, series) in [
        ("isolated_call_p50_us", "isolated_call"),
        ("isolated_call_warm_p50_us", "isolated_call_warm"),
        ("isolated_call_idle_p50_us", "isolated_call_idle"),
        ("in_process_call_p50_us", "in_process_call"),
        ("isolated_worker_call_warm_p50_us", "worker_call_warm"),
        ("worker_floor_socketpair_p50_us", "socketpair"),
        ("worker_floor_shm_futex_p50_us", "shm_futex"),
    ] {
        k.insert(key.into(), json!(num(&w, &[series, "p50_us"])?));
    }
    k.insert("isolated_resident_data_worker_private_mb".into(), json!(num(&r, &["worker_private_mb"])?));
    Ok(k)
}
