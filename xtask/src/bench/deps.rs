//! Report area: `benches/deps.rs`: a provider swapped under 100 dependents against 1.

use super::report::{Goal, Row, row};
use super::{Ctx, Keys, num};
use anyhow::Result;
use serde_json::json;

/// This area's goals.
pub(super) const GOALS: &[Goal] = &[Goal {
    key: "provider_swap_100_vs_1_ratio",
    label: "provider swap, 100 dependents / 1",
    at_most: true,
    bound: 2.0,
}];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[Row {
    floor: Some("provider_swap_with_1_dependent_us"),
    ratio: Some("provider_swap_100_vs_1_ratio"),
    goal: Some("provider_swap_100_vs_1_ratio"),
    ..row(
        "provider swap, in-process deploy from bytes, gates included (µs p50): 100 dependents vs 1",
        "provider_swap_with_100_dependents_us",
    )
}];

/// `benches/deps.rs` (custom-timed).
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    ctx.bench("deps", None, &[])?;
    let d = ctx.result("deps")?;
    let (one, many) = (num(&d, &["provider_swap_1_us"])?, num(&d, &["provider_swap_100_us"])?);
    let mut k = Keys::new();
    k.insert("provider_swap_with_1_dependent_us".into(), json!(one));
    k.insert("provider_swap_with_100_dependents_us".into(), json!(many));
    k.insert("provider_swap_100_vs_1_ratio".into(), json!(many / one));
    Ok(k)
}
