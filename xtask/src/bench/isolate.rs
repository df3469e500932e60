//! Report area: `hotpack serve` with module code in worker processes (`xtask/src/isolate_bench.rs`).

use super::report::{Goal, Row, row};
use super::{Ctx, Keys};
use anyhow::Result;

/// This area's goals.
pub(super) const GOALS: &[Goal] = &[
    Goal {
        key: "isolated_serve_rps_vs_in_process_ratio",
        label: "serve: isolated / in-process requests/s",
        at_most: false,
        bound: 0.5,
    },
    Goal { key: "worker_respawn_ms", label: "crash 502 -> next 200 (ms)", at_most: true, bound: 50.0 },
];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
    Row {
        goal: Some("isolated_serve_rps_vs_in_process_ratio"),
        ..row("serve: isolated requests/s over --in-process, interleaved", "isolated_serve_rps_vs_in_process_ratio")
    },
    Row {
        goal: Some("worker_respawn_ms"),
        ..row("serve: a crash's 502 to the next call's 200, no spare worker (ms)", "worker_respawn_ms")
    },
    row(
        "serve: the crashing call itself, sent to its 502 (demotion, journal, fallback worker started) (ms)",
        "worker_crash_call_ms",
    ),
];

/// Both servers side by side, then a few crashes.
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    let figures = crate::isolate_bench::run(ctx.quick)?;
    let mut k = Keys::new();
    for key in ["isolated_serve_rps_vs_in_process_ratio", "worker_respawn_ms", "worker_crash_call_ms", "isolate_detail"]
    {
        k.insert(key.into(), figures[key].clone());
    }
    Ok(k)
}
