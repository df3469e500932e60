//! Report area: `benches/call.rs` (criterion): a typed call through a hot handle against the floors.

use super::report::{Goal, Row, row};
use super::{Ctx, Keys};
use anyhow::Result;
use serde_json::json;

/// This area's goals.
pub(super) const GOALS: &[Goal] = &[
    Goal { key: "call_overhead_ratio", label: "call: hot / raw", at_most: true, bound: 1.15 },
    Goal { key: "call_vs_plain_extern_c_ratio", label: "call: typed / plain extern C", at_most: true, bound: 2.0 },
];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
    Row {
        floor: Some("call_raw_ns"),
        alt: Some("hot_lib_reloader_call_ns"),
        ratio: Some("call_overhead_ratio"),
        goal: Some("call_overhead_ratio"),
        ..row(
            "typed call (ns): hot handle vs same shim via plain fn ptr; alt: hot-lib-reloader (real crate)",
            "call_hot_ns",
        )
    },
    Row {
        floor: Some("call_plain_extern_c_ns"),
        ratio: Some("call_vs_plain_extern_c_ratio"),
        goal: Some("call_vs_plain_extern_c_ratio"),
        ..row(
            "typed call (ns) vs a plain extern \"C\" fn doing the same work in the same library",
            "call_typed_same_lib_ns",
        )
    },
    row("plain extern \"C\" fn(u64, u64) -> u64 via fn ptr (ns)", "call_plain_extern_c_ns"),
    row("typed call via RwLock<&table> (ns)", "call_rwlock_table_ns"),
    row("hot-lib-reloader's shape in-tree: RwLock + dlsym per call (ns)", "call_rwlock_dlsym_per_call_ns"),
    row("byte handler via HotModule (ns)", "call_hot_module_handler_ns"),
];

/// `benches/call.rs` (criterion).
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    ctx.criterion("call")?;
    let hot = ctx.est("call", "hot_typed")?;
    let raw = ctx.est("call", "raw_table")?;
    let mut k = Keys::new();
    k.insert("call_hot_ns".into(), json!(hot));
    k.insert("call_raw_ns".into(), json!(raw));
    k.insert("call_overhead_ratio".into(), json!(hot / raw));
    let plain = ctx.est("call", "plain_extern_c")?;
    let typed_same_lib = ctx.est("call", "typed_same_lib")?;
    k.insert("call_plain_extern_c_ns".into(), json!(plain));
    k.insert("call_typed_same_lib_ns".into(), json!(typed_same_lib));
    k.insert("call_vs_plain_extern_c_ratio".into(), json!(typed_same_lib / plain));
    k.insert("call_rwlock_table_ns".into(), json!(ctx.est("call", "rwlock_table")?));
    k.insert("call_rwlock_dlsym_per_call_ns".into(), json!(ctx.est("call", "rwlock_dlsym_per_call")?));
    k.insert("call_hot_module_handler_ns".into(), json!(ctx.est("call", "hot_module_handler")?));
    Ok(k)
}
