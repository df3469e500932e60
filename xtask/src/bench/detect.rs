//! Report area: `benches/detect.rs` (criterion): fingerprinting and the watcher.

use super::report::{Goal, Row, row};
use super::{Ctx, Keys};
use anyhow::Result;
use serde_json::json;

/// This area's goals.
pub(super) const GOALS: &[Goal] =
    &[Goal { key: "fingerprint_efficiency", label: "fingerprint / blake3", at_most: false, bound: 0.9 }];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
    Row {
        floor: Some("blake3_raw_gbps"),
        ratio: Some("fingerprint_efficiency"),
        goal: Some("fingerprint_efficiency"),
        ..row("fingerprint a big file (GB/s): vs blake3 in memory", "fingerprint_gbps")
    },
    row("watch: rename → confirmed event, quiet 0 (µs)", "watch_rename_to_event_us"),
];

/// `benches/detect.rs` (criterion).
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    ctx.criterion("detect")?;
    let bytes = (ctx.fingerprint_mib << 20) as f64;
    let file = bytes / ctx.est("detect", "fingerprint_file")?;
    let memory = bytes / ctx.est("detect", "blake3_in_memory")?;
    let all_cores = bytes / ctx.est("detect", "blake3_in_memory_rayon")?;
    let mut k = Keys::new();
    k.insert("blake3_rayon_gbps".into(), json!(all_cores));
    k.insert("fingerprint_all_cores_efficiency".into(), json!(file / all_cores));
    k.insert("fingerprint_file_mib".into(), json!(ctx.fingerprint_mib));
    k.insert("fingerprint_gbps".into(), json!(file));
    k.insert("blake3_raw_gbps".into(), json!(memory));
    k.insert("fingerprint_efficiency".into(), json!(file / memory));
    k.insert("watch_rename_to_event_us".into(), json!(ctx.est("detect", "watch_rename_to_event")? / 1e3));
    Ok(k)
}
