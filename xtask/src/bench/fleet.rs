//! Report area: `crates/hotpack-fleet/benches/fleet.rs`: five real hosts, and 1,000 simulated
//! agents (the real `HostAgent` with an in-memory deployer) against a real etcd; the
//! registry and etcd run on loopback (`etcd`, `docker-registry` must be installed).

use super::report::{Goal, Row, row};
use super::{Ctx, Keys, num};
use anyhow::Result;

/// This area's goals.
pub(super) const GOALS: &[Goal] = &[
    Goal { key: "fleet_rollout_1000_hosts_ms", label: "rollout to 1,000 hosts (ms)", at_most: true, bound: 10_000.0 },
    Goal { key: "fleet_rollback_1000_hosts_ms", label: "rollback of 1,000 hosts (ms)", at_most: true, bound: 3_000.0 },
];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
    row("fleet: rollout to 5 real hosts, command -> all serving (ms)", "fleet_rollout_all_hosts_ms"),
    row("fleet: rollback of 5 real hosts, command -> all serving (ms)", "fleet_rollback_ms"),
    Row {
        goal: Some("fleet_rollout_1000_hosts_ms"),
        ..row("fleet: rollout to 1,000 simulated hosts, command -> last ok report (ms)", "fleet_rollout_1000_hosts_ms")
    },
    Row {
        goal: Some("fleet_rollback_1000_hosts_ms"),
        ..row(
            "fleet: rollback of 1,000 simulated hosts, command -> last ok report (ms)",
            "fleet_rollback_1000_hosts_ms",
        )
    },
];

/// Runs the fleet bench (its own cargo invocation: it is hotpack-fleet's, not the suite's).
pub(super) fn keys(ctx: &Ctx) -> Result<Keys> {
    let out = ctx.out.join("fleet.json");
    let mut cmd = crate::cargo();
    cmd.args(["bench", "-p", "hotpack-fleet", "--bench", "fleet"])
        .current_dir(&ctx.root)
        .env("HOTPACK_BENCH_QUICK", if ctx.quick { "1" } else { "0" })
        .env("HOTPACK_BENCH_OUT", &out);
    crate::run(cmd)?;
    let v = ctx.result("fleet")?;
    let mut k = Keys::new();
    for key in [
        "fleet_rollout_all_hosts_ms",
        "fleet_rollback_ms",
        "fleet_rollout_1000_hosts_ms",
        "fleet_rollback_1000_hosts_ms",
    ] {
        k.insert(key.into(), serde_json::json!(num(&v, &[key])?));
    }
    for key in ["fleet_sim_hosts", "fleet_etcd_load"] {
        k.insert(key.into(), v[key].clone());
    }
    Ok(k)
}
