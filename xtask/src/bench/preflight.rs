//! Report area: `benches/load.rs`, part `preflight`: the preflight child's cost.

use super::report::{Goal, Row, row};
use super::{Ctx, Keys, num};
use anyhow::Result;
use serde_json::json;

/// This area's goals.
pub(super) const GOALS: &[Goal] = &[];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
    Row {
        floor: Some("plain_deploy_us"),
        ratio: Some("preflight_deploy_ratio"),
        ..row("deploy with --preflight (child loads, inits, exits first), p50 (µs): vs without", "preflight_deploy_us")
    },
    row("preflight child check alone (spawn, load, init, exit, reap), p50 (µs)", "preflight_us"),
];

/// `benches/load.rs`, part `preflight`: the preflight child's cost, alone and in a deploy.
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    ctx.bench("load", Some("preflight"), &[])?;
    let p = ctx.result("load-preflight")?;
    let (with, without) = (num(&p, &["deploy_with_preflight", "p50_us"])?, num(&p, &["deploy_plain", "p50_us"])?);
    let mut k = Keys::new();
    k.insert("preflight_us".into(), json!(num(&p, &["check", "p50_us"])?));
    k.insert("preflight_deploy_us".into(), json!(with));
    k.insert("plain_deploy_us".into(), json!(without));
    k.insert("preflight_deploy_ratio".into(), json!(with / without));
    k.insert("preflight_detail".into(), p);
    Ok(k)
}
