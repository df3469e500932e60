//! Report area: A real `hotpack serve` under load (`xtask/src/serve_bench.rs`).

use super::report::{Goal, Row, row};
use super::{Ctx, Keys};
use anyhow::Result;

/// This area's goals.
pub(super) const GOALS: &[Goal] = &[];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
    row("serve: requests/s, trivial handler, 16 keep-alive clients", "serve_rps"),
    row("serve: p99 latency during 50 swaps (ms)", "serve_swap_p99_ms"),
];

/// `cargo xtask bench-serve`: a real `hotpack serve` under load from 16 clients, and 50 swaps.
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    let serve = crate::serve_bench::run(ctx.quick)?;
    let mut k = Keys::new();
    for key in ["serve_rps", "serve_swap_p99_ms", "serve_detail"] {
        k.insert(key.into(), serve[key].clone());
    }
    Ok(k)
}
