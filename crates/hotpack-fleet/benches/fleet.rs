//! Fleet numbers (issues 17 and 24), against a real etcd and a real registry on loopback.
//!
//! Five real hosts, each with its own `hotpack::Runtime` and agent:
//! - `fleet_rollout_all_hosts_ms`: publish done -> every host of a 100% wave serving the new
//!   version (each host pulls, verifies and deploys it);
//! - `fleet_rollback_ms`: rollback command -> every host serving stable again (no download).
//!
//! 1,000 simulated hosts: the real `HostAgent` (its own etcd client, lease, watch, signature
//! and sequence checks, store re-hash, reports) with an in-memory `Deployer` instead of a
//! runtime (nothing is loaded or served). The agents share one store directory, filled with
//! both bundles by one pull before the clock starts (standing in for a node-local or
//! pull-through cache: the registry is not what is measured). From the operator's command to
//! the last agent's `ok` report seen in etcd (an operator-side watch applying events):
//! - `fleet_rollout_1000_hosts_ms` (goal <= 10,000) and `fleet_rollback_1000_hosts_ms`
//!   (goal <= 3,000), with etcd's load over each phase (gRPC messages received per second and
//!   bytes in and out, from etcd's own /metrics).
//!
//! Not criterion: each sample needs a fresh fleet. `cargo bench -p hotpack-fleet --bench
//! fleet`; `HOTPACK_BENCH_OUT=FILE` also writes the keys as JSON (what `cargo xtask bench`
//! reads); `HOTPACK_BENCH_QUICK=1` runs fewer rounds; `HOTPACK_FLEET_SIM_HOSTS=N` changes 1,000.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{EventType, GetOptions, WatchOptions};
use hotpack::archive::SigningKey;
use hotpack_fleet::{
    Active, DeployFailure, Deployer, Fleet, FleetConfig, HostAgent, HostConfig, HostReport, HostState, ReleaseRecord,
};
use hotpack_testkit::servers::{LocalEtcd, LocalRegistry};
use serde_json::json;

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

fn key() -> SigningKey {
    SigningKey::from_seed(&[24; 32])
}

async fn round(dir: &Path, v1: &Path, v2: &Path) -> (f64, f64) {
    let etcd = LocalEtcd::start().expect("etcd starts");
    let registry = LocalRegistry::start().expect("the registry starts");
    let config = FleetConfig::new("bench", etcd.endpoint(), registry.url());
    let fleet = Fleet::connect(config.clone()).await.expect("connect").with_key(key());
    let run = tempfile::tempdir_in(dir).expect("scratch");
    let hosts: Vec<Host> = (0..5)
        .map(|i| {
            let home = run.path().join(format!("host-{i}"));
            let runtime = hotpack::Runtime::builder()
                .cache_dir(home.join("cache"))
                .search_path(home.join("plugins"))
                .build()
                .expect("runtime");
            let config = HostConfig::new(config.clone(), format!("host-{i}"), home.join("store"))
                .operator_keys([key().public_key()]);
            let agent = HostAgent::spawn(config, Arc::new(runtime.clone())).expect("agent");
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

/// A host that serves nothing: what it "runs" is a library hash; what it ran it still holds.
#[derive(Default)]
struct SimDeployer {
    active: Mutex<Option<Active>>,
    held: Mutex<BTreeMap<String, String>>,
}

impl SimDeployer {
    fn set(&self, release: &ReleaseRecord) -> Option<Active> {
        let library = release.libraries.get(hotpack::abi::TARGET)?.clone();
        let now = Active { version: release.version.clone(), library: library.clone() };
        self.held.lock().ok()?.insert(library, release.version.clone());
        *self.active.lock().ok()? = Some(now.clone());
        Some(now)
    }
}

impl Deployer for SimDeployer {
    fn active(&self, _module: &str) -> Option<Active> {
        self.active.lock().ok()?.clone()
    }

    fn activate(&self, release: &ReleaseRecord) -> Result<Option<Active>, DeployFailure> {
        let held = release
            .libraries
            .get(hotpack::abi::TARGET)
            .is_some_and(|l| self.held.lock().is_ok_and(|h| h.contains_key(l)));
        Ok(if held { self.set(release) } else { None })
    }

    fn deploy(&self, release: &ReleaseRecord, _bundle: &Path) -> Result<Active, DeployFailure> {
        self.set(release).ok_or_else(|| DeployFailure { state: HostState::Refused, reason: "no library".into() })
    }
}

/// etcd's own counters: gRPC messages received, bytes received and sent.
fn etcd_load(endpoint: &str) -> (f64, f64, f64) {
    let addr = endpoint.trim_start_matches("http://");
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return (0.0, 0.0, 0.0) };
    let _ = write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let sum = |prefix: &str| -> f64 {
        text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    };
    (
        sum("grpc_server_msg_received_total"),
        sum("etcd_network_client_grpc_received_bytes_total"),
        sum("etcd_network_client_grpc_sent_bytes_total"),
    )
}

/// Follows the host reports by watch events (no re-read) until `n` hosts report `ok` on a
/// release whose bundle is `blake3`; returns when that happened.
async fn all_ok(etcd: &mut etcd_client::Client, fleet: &str, n: usize, blake3: &str) -> Instant {
    let prefix = format!("/hotpack/{fleet}/hosts/");
    let response = etcd.get(prefix.clone(), Some(GetOptions::new().with_prefix())).await.expect("read reports");
    let revision = response.header().map_or(0, |h| h.revision());
    let mut ok = BTreeSet::new();
    let apply = |ok: &mut BTreeSet<String>, key: &[u8], value: Option<&[u8]>| {
        let key = String::from_utf8_lossy(key).into_owned();
        let report = value.and_then(|v| serde_json::from_slice::<HostReport>(v).ok());
        let good = report
            .is_some_and(|r| r.state == HostState::Ok && r.active.and_then(|a| a.blake3).as_deref() == Some(blake3));
        if good {
            ok.insert(key);
        } else {
            ok.remove(&key);
        }
    };
    for kv in response.kvs() {
        apply(&mut ok, kv.key(), Some(kv.value()));
    }
    let mut stream = etcd
        .watch(prefix, Some(WatchOptions::new().with_prefix().with_start_revision(revision + 1)))
        .await
        .expect("watch reports");
    let deadline = Instant::now() + Duration::from_secs(300);
    while ok.len() < n {
        assert!(Instant::now() < deadline, "only {} of {n} hosts reached {blake3}", ok.len());
        let Ok(Ok(Some(message))) = tokio::time::timeout(Duration::from_secs(10), stream.message()).await else {
            continue;
        };
        for event in message.events() {
            if let Some(kv) = event.kv() {
                apply(&mut ok, kv.key(), (event.event_type() == EventType::Put).then(|| kv.value()));
            }
        }
    }
    Instant::now()
}

struct SimResult {
    rollout_ms: f64,
    rollback_ms: f64,
    load: serde_json::Value,
}

async fn simulate(dir: &Path, v1: &Path, v2: &Path, n: usize) -> SimResult {
    let etcd = LocalEtcd::start().expect("etcd starts");
    let registry = LocalRegistry::start().expect("the registry starts");
    let config = FleetConfig::new("sim", etcd.endpoint(), registry.url());
    let fleet = Fleet::connect(config.clone()).await.expect("connect").with_key(key());
    let r1 = fleet.publish(v1).await.expect("publish v1").record;
    let r2 = fleet.publish(v2).await.expect("publish v2").record;
    let run = tempfile::tempdir_in(dir).expect("scratch");
    let store = run.path().join("shared-store");
    std::fs::create_dir_all(&store).expect("store");
    std::fs::copy(v1, store.join(format!("{}.zip", r1.blake3))).expect("cache v1");
    std::fs::copy(v2, store.join(format!("{}.zip", r2.blake3))).expect("cache v2");
    let mut agents = Vec::with_capacity(n);
    for i in 0..n {
        let mut host =
            HostConfig::new(config.clone(), format!("sim-{i:04}"), &store).operator_keys([key().public_key()]);
        host.lease_ttl = 30; // docs/FLEET.md: past a few hundred hosts, 15-30 s
        agents.push(HostAgent::spawn(host, Arc::new(SimDeployer::default())).expect("agent"));
    }
    let mut watcher = etcd_client::Client::connect([etcd.endpoint()], None).await.expect("watcher");
    fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_ok(&mut watcher, "sim", n, &r1.blake3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let load0 = etcd_load(&etcd.endpoint());
    let start = Instant::now();
    fleet.rollout("greeter", "2.0.0", &[100], false).await.expect("rollout v2");
    let done = all_ok(&mut watcher, "sim", n, &r2.blake3).await;
    let rollout_ms = (done - start).as_secs_f64() * 1e3;
    let load1 = etcd_load(&etcd.endpoint());
    tokio::time::sleep(Duration::from_secs(1)).await;

    let load2 = etcd_load(&etcd.endpoint());
    let start = Instant::now();
    fleet.rollback("greeter", "bench").await.expect("rollback");
    let done = all_ok(&mut watcher, "sim", n, &r1.blake3).await;
    let rollback_ms = (done - start).as_secs_f64() * 1e3;
    let load3 = etcd_load(&etcd.endpoint());

    let phase = |a: (f64, f64, f64), b: (f64, f64, f64), ms: f64| {
        json!({
            "grpc_messages": b.0 - a.0,
            "grpc_messages_per_s": (b.0 - a.0) / (ms / 1e3).max(1e-3),
            "bytes_in": b.1 - a.1,
            "bytes_out": b.2 - a.2,
        })
    };
    let load = json!({
        "hosts": n,
        "rollout": phase(load0, load1, rollout_ms),
        "rollback": phase(load2, load3, rollback_ms),
    });
    for a in agents {
        drop(a);
    }
    SimResult { rollout_ms, rollback_ms, load }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn summary(name: &str, samples: &[f64], what: &str) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{name}: median {:.1} ms (min {:.1}, max {:.1}, {} {what})",
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
        sorted.len()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that does not name us skips the run.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if !args.is_empty() && !args.iter().any(|a| "fleet_rollout_all_hosts_ms fleet_rollback_ms".contains(a.as_str())) {
        return;
    }
    let quick = std::env::var("HOTPACK_BENCH_QUICK").is_ok_and(|v| v == "1");
    let sim_hosts: usize = std::env::var("HOTPACK_FLEET_SIM_HOSTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().expect("scratch");
    let loader = hotpack::loader::Loader::new(dir.path().join("pack-cache")).expect("loader");
    let v1 = dir.path().join("greeter-v1.zip");
    let v2 = dir.path().join("greeter-v2.zip");
    hotpack::pack_library_with(&loader, &hotpack_testkit::module("greeter-v1"), &v1, vec![]).expect("pack v1");
    hotpack::pack_library_with(&loader, &hotpack_testkit::module("greeter-v2"), &v2, vec![]).expect("pack v2");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let (mut rollouts, mut rollbacks) = (Vec::new(), Vec::new());
    for _ in 0..if quick { 3 } else { 7 } {
        let (a, b) = rt.block_on(round(dir.path(), &v1, &v2));
        rollouts.push(a);
        rollbacks.push(b);
    }
    summary("fleet_rollout_all_hosts_ms", &rollouts, "fresh fleets of 5 hosts");
    summary("fleet_rollback_ms", &rollbacks, "fresh fleets of 5 hosts");
    let (mut sim_rollouts, mut sim_rollbacks, mut loads) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..if quick { 1 } else { 3 } {
        let r = rt.block_on(simulate(dir.path(), &v1, &v2, sim_hosts));
        sim_rollouts.push(r.rollout_ms);
        sim_rollbacks.push(r.rollback_ms);
        loads.push(r.load);
    }
    summary("fleet_rollout_1000_hosts_ms", &sim_rollouts, &format!("fresh fleets of {sim_hosts} simulated hosts"));
    summary("fleet_rollback_1000_hosts_ms", &sim_rollbacks, &format!("fresh fleets of {sim_hosts} simulated hosts"));
    println!("etcd load: {}", serde_json::to_string(&loads).unwrap_or_default());
    if let Some(out) = std::env::var_os("HOTPACK_BENCH_OUT") {
        let report = json!({
            "fleet_rollout_all_hosts_ms": median(rollouts),
            "fleet_rollback_ms": median(rollbacks),
            "fleet_rollout_1000_hosts_ms": median(sim_rollouts),
            "fleet_rollback_1000_hosts_ms": median(sim_rollbacks),
            "fleet_sim_hosts": sim_hosts,
            "fleet_etcd_load": loads,
        });
        std::fs::write(&out, report.to_string()).expect("write HOTPACK_BENCH_OUT");
    }
}
