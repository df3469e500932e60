//! Report area: `benches/archive.rs` (criterion part; the open figures run in the interleaved rounds).

use super::report::{Goal, Row, row};
use super::{Ctx, Keys};
use anyhow::Result;
use serde_json::json;

/// This area's goals.
pub(super) const GOALS: &[Goal] = &[];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[row("verify_all, 10,000 entries (ms)", "verify_all_10k_ms")];

/// `benches/archive.rs` (criterion part: verify_all, and the old whole-file-read anchor).
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    ctx.criterion("archive")?;
    let mut k = Keys::new();
    k.insert("verify_all_10k_ms".into(), json!(ctx.est("archive", "verify_all_10k")? / 1e6));
    k.insert("zip_read_all_open_10k_ms".into(), json!(ctx.est("archive", "zip_read_all_open_10k")? / 1e6));
    k.insert("open_validate_10k_criterion_ms".into(), json!(ctx.est("archive", "open_validate_10k")? / 1e6));
    k.insert("zip_cd_open_10k_criterion_ms".into(), json!(ctx.est("archive", "zip_cd_10k")? / 1e6));
    Ok(k)
}
