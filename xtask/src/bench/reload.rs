//! Report area: `benches/reload.rs`, part `tuned` (the part `default` runs in the interleaved rounds).

use super::report::{Goal, Row, row};
use super::{Ctx, Keys, num};
use anyhow::Result;
use serde_json::json;

/// This area's goals.
pub(super) const GOALS: &[Goal] =
    &[Goal { key: "reload_p50_us", label: "reload, tuned, p50 (us)", at_most: true, bound: 1000.0 }];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
    Row {
        goal: Some("reload_p50_us"),
        ..row(
            "reload, TUNED (quiet 0, settle 0, memfd, plain .so, Cache::reload) → new answer, p50 (µs)",
            "reload_p50_us",
        )
    },
    row("reload tuned, p99 (µs)", "reload_p99_us"),
    row("reload tuned part: rename → confirmed event, p50 (µs)", "reload_detect_p50_us"),
    row("reload tuned part: Cache::reload, p50 (µs)", "reload_cache_p50_us"),
];

/// `benches/reload.rs`, part `tuned` (one process; the part `default` runs in the rounds).
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    ctx.bench("reload", Some("tuned"), &[])?;
    let r = ctx.result("reload-tuned")?;
    let mut k = Keys::new();
    k.insert("reload_p50_us".into(), json!(num(&r, &["swaps", "p50_us"])?));
    k.insert("reload_p99_us".into(), json!(num(&r, &["swaps", "p99_us"])?));
    k.insert("reload_detect_p50_us".into(), json!(num(&r, &["breakdown", "rename_to_event", "p50_us"])?));
    k.insert("reload_cache_p50_us".into(), json!(num(&r, &["breakdown", "cache_reload", "p50_us"])?));
    k.insert("reload_tuned_detail".into(), r);
    Ok(k)
}
