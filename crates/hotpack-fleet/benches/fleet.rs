//! Fleet numbers (issue 17): five hosts on loopback, each with its own `hotpack::Runtime` and
//! agent, against a real etcd and a real registry.
//!
//! - `fleet_rollout_all_hosts_ms`: publish done -> every host of a 100% wave serving the new
//!   version (each host pulls, verifies and deploys it);
//! - `fleet_rollback_ms`: rollback command -> every host serving stable again (no download).
//!
//! Not criterion: each sample needs a fresh fleet (a second rollout of the same bundle would
//! skip the download), so this is a plain harness that runs `ROUNDS` fresh fleets and prints
//! min / median / max. `cargo bench -p hotpack-fleet --bench fleet`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hotpack_fleet::{Fleet, FleetConfig, HostAgent, HostConfig, HostState};
use hotpack_testkit::servers::{LocalEtcd, LocalRegistry};

const HOSTS: usize = 5;
const ROUNDS: usize = 7;

struct Host {
    runtime: hotpack::Runtime,
    agent: HostAgent,
}

fn serving(hosts: &[Host], version: &str) -> bool {
    hosts.iter().all(|h| {
        h.runtime.call("greeter", "version", b"").is_ok_and(|out| out == version.as_bytes())
            && h.agent.reports().get("greeter").is_some_and(|r| r.state == HostState::Ok)
    })
}

async fn wait_for(hosts: &[Host], version: &str) {
    let start = Instant::now();
    while !serving(hosts, version) {
        assert!(start.elapsed() < Duration::from_secs(60), "hosts never reached {version}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn round(dir: &std::path::Path, v1: &std::path::Path, v2: &std::path::Path) -> (f64, f64) {
    let etcd = LocalEtcd::start().expect("etcd starts");
    let registry = LocalRegistry::start().expect("the registry starts");
    let config = FleetConfig::new("bench", etcd.endpoint(), registry.url());
    let fleet = Fleet::connect(config.clone()).await.expect("connect");
    let run = tempfile::tempdir_in(dir).expect("scratch");
    let hosts: Vec<Host> = (0..HOSTS)
        .map(|i| {
            let home = run.path().join(format!("host-{i}"));
            let runtime = hotpack::Runtime::builder()
                .cache_dir(home.join("cache"))
                .search_path(home.join("plugins"))
                .build()
                .expect("runtime");
            let agent = HostAgent::spawn(
                HostConfig::new(config.clone(), format!("host-{i}"), home.join("store")),
                Arc::new(runtime.clone()),
            )
            .expect("agent");
            Host { runtime, agent }
        })
        .collect();
    fleet.publish(v1).await.expect("publish v1");
    fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    wait_for(&hosts, "1").await;

    fleet.publish(v2).await.expect("publish v2");
    let start = Instant::now();
    fleet.rollout("greeter", "2.0.0", &[100], false).await.expect("rollout v2");
    wait_for(&hosts, "2").await;
    let rollout = start.elapsed().as_secs_f64() * 1e3;

    let start = Instant::now();
    fleet.rollback("greeter", "bench").await.expect("rollback");
    wait_for(&hosts, "1").await;
    let rollback = start.elapsed().as_secs_f64() * 1e3;
    for h in hosts {
        h.agent.stop().await;
    }
    (rollout, rollback)
}

fn summary(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    println!(
        "{name}: median {median:.1} ms (min {:.1}, max {:.1}, {} fresh fleets of {HOSTS} hosts)",
        samples[0],
        samples[samples.len() - 1],
        samples.len()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that does not name us skips the run.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if !args.is_empty() && !args.iter().any(|a| "fleet_rollout_all_hosts_ms fleet_rollback_ms".contains(a.as_str())) {
        return;
    }
    let dir = tempfile::tempdir().expect("scratch");
    let loader = hotpack::loader::Loader::new(dir.path().join("pack-cache")).expect("loader");
    let v1 = dir.path().join("greeter-v1.zip");
    let v2 = dir.path().join("greeter-v2.zip");
    hotpack::pack_library_with(&loader, &hotpack_testkit::module("greeter-v1"), &v1, vec![]).expect("pack v1");
    hotpack::pack_library_with(&loader, &hotpack_testkit::module("greeter-v2"), &v2, vec![]).expect("pack v2");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let (mut rollouts, mut rollbacks) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (a, b) = rt.block_on(round(dir.path(), &v1, &v2));
        rollouts.push(a);
        rollbacks.push(b);
    }
    summary("fleet_rollout_all_hosts_ms", rollouts);
    summary("fleet_rollback_ms", rollbacks);
}
