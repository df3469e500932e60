//! Report area: `benches/load.rs`: load from a bundle against the floor, and the 1 GiB resource deploy.

use super::report::{Goal, Row, row};
use super::{Ctx, Keys, num};
use anyhow::Result;
use serde_json::json;

/// This area's goals.
pub(super) const GOALS: &[Goal] = &[
    Goal { key: "load_overhead_ratio", label: "load: bundle / floor", at_most: true, bound: 1.5 },
    Goal { key: "big_resource_deploy_peak_rss_mb", label: "1 GiB deploy peak RSS (MB)", at_most: true, bound: 64.0 },
    Goal {
        key: "big_resource_deploy_vs_library_only_ratio",
        label: "1 GiB deploy / library only",
        at_most: true,
        bound: 2.0,
    },
];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
    Row {
        floor: Some("load_floor_us"),
        ratio: Some("load_overhead_ratio"),
        goal: Some("load_overhead_ratio"),
        ..row("load from bundle, p50 (µs): vs blake3 + write + dlopen + dlsym", "load_bundle_us")
    },
    Row {
        floor: Some("library_only_deploy_ms"),
        ratio: Some("big_resource_deploy_vs_library_only_ratio"),
        goal: Some("big_resource_deploy_vs_library_only_ratio"),
        ..row("deploy a bundle with a 1 GiB resource (ms): vs the same library alone", "big_resource_deploy_ms")
    },
    Row {
        floor: Some("library_only_deploy_peak_rss_mb"),
        goal: Some("big_resource_deploy_peak_rss_mb"),
        ..row(
            "deploy with a 1 GiB resource, peak RSS of the process (MB): vs library alone",
            "big_resource_deploy_peak_rss_mb",
        )
    },
];

/// `benches/load.rs`: load from a bundle vs the floor, and the 1 GiB resource deploy.
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    ctx.bench("load", Some("load"), &[])?;
    let load = ctx.result("load")?;
    ctx.bench("load", Some("big-deploy"), &[])?;
    let big = ctx.result("load-big-deploy")?;
    let (bundle, floor) = (num(&load, &["bundle", "p50_us"])?, num(&load, &["floor", "p50_us"])?);
    let big_ms = num(&big, &["big", "p50_us"])? / 1e3;
    let alone_ms = num(&big, &["library_only", "p50_us"])? / 1e3;
    let mut k = Keys::new();
    k.insert("load_bundle_us".into(), json!(bundle));
    k.insert("load_floor_us".into(), json!(floor));
    k.insert("load_overhead_ratio".into(), json!(bundle / floor));
    k.insert("load_detail".into(), load);
    k.insert("big_resource_deploy_ms".into(), json!(big_ms));
    k.insert("library_only_deploy_ms".into(), json!(alone_ms));
    k.insert("big_resource_deploy_vs_library_only_ratio".into(), json!(big_ms / alone_ms));
    k.insert("big_resource_deploy_peak_rss_mb".into(), big["big_peak_rss_mb"].clone());
    k.insert("library_only_deploy_peak_rss_mb".into(), big["library_only_peak_rss_mb"].clone());
    k.insert("big_resource_bytes".into(), big["resource_bytes"].clone());
    Ok(k)
}
