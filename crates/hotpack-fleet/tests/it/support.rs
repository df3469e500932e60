//! A fleet on loopback: servers, bundles, hosts, and a polling `eventually`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotpack_fleet::{Fleet, FleetConfig, HostAgent, HostConfig, HostReport, HostState};
use hotpack_testkit::servers::{LocalEtcd, LocalRegistry};

pub struct Cluster {
    pub etcd: LocalEtcd,
    pub registry: LocalRegistry,
    pub config: FleetConfig,
    pub fleet: Fleet,
    pub dir: tempfile::TempDir,
}

pub struct Host {
    pub id: String,
    pub runtime: hotpack::Runtime,
    pub agent: Option<HostAgent>,
    pub store: PathBuf,
}

impl Host {
    /// What `greeter` answers to `version` here ("1", "2", ...), or the error.
    pub fn serving(&self) -> String {
        match self.runtime.call("greeter", "version", b"") {
            Ok(out) => String::from_utf8_lossy(&out).into_owned(),
            Err(e) => format!("error: {e}"),
        }
    }

    pub fn report(&self) -> Option<HostReport> {
        self.agent.as_ref().and_then(|a| a.reports().get("greeter").cloned())
    }
}

/// Starts etcd and the registry. Panics (the test FAILS) when they cannot start.
pub async fn cluster() -> Cluster {
    let etcd = LocalEtcd::start().expect("etcd must start (apt-get install etcd-server)");
    let registry = LocalRegistry::start().expect("the registry must start (apt-get install docker-registry)");
    let config = FleetConfig::new("test", etcd.endpoint(), registry.url());
    let fleet = Fleet::connect(config.clone()).await.expect("connect the operator");
    let dir = hotpack_testkit::scratch();
    Cluster { etcd, registry, config, fleet, dir }
}

impl Cluster {
    /// Packs a fixture or example module into a bundle.
    pub fn bundle(&self, package: &str) -> PathBuf {
        let out = self.dir.path().join(format!("{package}.zip"));
        if !out.exists() {
            let loader = hotpack::loader::Loader::new(self.dir.path().join("pack-cache")).expect("pack loader");
            hotpack::pack_library_with(&loader, &hotpack_testkit::module(package), &out, vec![]).expect("pack");
        }
        out
    }

    /// `n` hosts, each with its own runtime (own cache dir, own search folder) and agent.
    pub fn hosts(&self, n: usize) -> Vec<Host> {
        (0..n).map(|i| self.host(&format!("host-{i}"))).collect()
    }

    pub fn host(&self, id: &str) -> Host {
        let dir = self.dir.path().join(id);
        let runtime = hotpack::Runtime::builder()
            .cache_dir(dir.join("cache"))
            .search_path(dir.join("plugins"))
            .build()
            .expect("runtime");
        let store = dir.join("store");
        let config = HostConfig::new(self.config.clone(), id, &store);
        let agent = HostAgent::spawn(config, Arc::new(runtime.clone())).expect("spawn the agent");
        Host { id: id.to_owned(), runtime, agent: Some(agent), store }
    }
}

/// Polls `check` until it passes (a liveness bound, not a timing assert: 60 s).
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> Result<(), String>) {
    let start = Instant::now();
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) if start.elapsed() > Duration::from_secs(60) => panic!("{what}: still not true: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

/// Every host serves `version` and its agent reports ok on it.
pub async fn all_serve(hosts: &[Host], version: &str) {
    eventually(&format!("every host serves {version}"), async || {
        for h in hosts {
            let serving = h.serving();
            let report = h.report();
            let ok = report.as_ref().is_some_and(|r| r.state == HostState::Ok);
            if serving != version || !ok {
                return Err(format!("{} serves {serving}, reports {report:?}", h.id));
            }
        }
        Ok(())
    })
    .await;
}

/// The first wave percentage that holds some hosts but not all (2 of 5 hosts).
pub fn split_wave(hosts: &[Host]) -> u8 {
    let mut buckets: Vec<u8> = hosts.iter().map(|h| hotpack_fleet::bucket(&h.id, "greeter")).collect();
    buckets.sort();
    assert!(buckets[1] < buckets[2], "hosts' buckets must differ: {buckets:?}");
    buckets[1] + 1
}
