//! Report area: `benches/cache.rs`: 1 against 10,000 retained versions.

use super::report::{Goal, Row, row};
use super::{Ctx, Keys, num};
use anyhow::Result;
use serde_json::json;

/// This area's goals.
pub(super) const GOALS: &[Goal] =
    &[Goal { key: "import_hit_10k_vs_1_ratio", label: "import hit 10k / 1 version", at_most: true, bound: 2.0 }];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
    Row {
        floor: Some("cache_import_hit_ns"),
        alt: Some("python_import_hit_ns"),
        ratio: Some("import_hit_10k_vs_1_ratio"),
        goal: Some("import_hit_10k_vs_1_ratio"),
        ..row(
            "cache import hit with 10,000 versions (ns): vs 1 version; alt: python import_module hit",
            "import_hit_10k_ns",
        )
    },
    Row {
        floor: Some("register_1_us"),
        ratio: Some("register_10k_vs_1_ratio"),
        ..row("register a version into 10,000 (µs): vs into 1", "register_10k_us")
    },
];

/// `benches/cache.rs` (custom-timed: 1 vs 10,000 retained versions).
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    ctx.bench("cache", None, &[])?;
    let c = ctx.result("cache")?;
    let (hit_1, hit_n) = (num(&c, &["import_hit_1_ns"])?, num(&c, &["import_hit_n_ns"])?);
    let (reg_1, reg_n) = (num(&c, &["register_1_us"])?, num(&c, &["register_n_us"])?);
    let mut k = Keys::new();
    k.insert("cache_versions".into(), c["versions"].clone());
    k.insert("cache_import_hit_ns".into(), json!(hit_1));
    k.insert("import_hit_10k_ns".into(), json!(hit_n));
    k.insert("import_hit_10k_vs_1_ratio".into(), json!(hit_n / hit_1));
    k.insert("register_1_us".into(), json!(reg_1));
    k.insert("register_10k_us".into(), json!(reg_n));
    k.insert("register_10k_vs_1_ratio".into(), json!(reg_n / reg_1));
    Ok(k)
}
