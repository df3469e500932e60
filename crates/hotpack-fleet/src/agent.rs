//! [`HostAgent`]: one host's side. Reads the rollout keys, watches them from the revision it
//! read, computes its target per module, pulls by digest, checks blake3 against the release
//! record, hands the verified bundle to a [`Deployer`], and reports under a lease.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcd_client::{EventType, GetOptions, PutOptions, WatchOptions};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::FleetError;
use crate::hostconfig::Accepted;
pub use crate::hostconfig::{DEFAULT_MAX_BUNDLE, DEFAULT_PULL_DEADLINE, HostConfig, WatchFault};
use crate::keys;
use crate::model::{ActiveRelease, HostReport, HostState, Progress, ReleaseRecord, Rollout, short};
use crate::operator::{connect_etcd, open_record, unix_now};
use crate::registry::{BundleRegistry, PullError, PullLimits};

/// What serves a module on this host, as the [`Deployer`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Active {
    /// Semantic version.
    pub version: String,
    /// blake3 of the serving library (64 hex digits).
    pub library: String,
}

/// Why a [`Deployer`] did not deploy: the version that was serving keeps serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeployFailure {
    /// [`HostState::Failed`] for a failed gate, [`HostState::Refused`] for bytes that do not fit.
    pub state: HostState,
    /// What went wrong, naming the module and the gate.
    pub reason: String,
}

/// What the agent deploys through. Calls are blocking; the agent runs them off its async
/// threads. [`hotpack::Runtime`] implements it (the runtime's promotion gates apply).
pub trait Deployer: Send + Sync + 'static {
    /// What serves `module` now, if anything.
    fn active(&self, module: &str) -> Option<Active>;
    /// Makes `release` serve again if this host still holds it (it ran it before): nothing is
    /// downloaded. `Ok(None)` when it is not held.
    ///
    /// # Errors
    ///
    /// A [`DeployFailure`] when the release is held but cannot serve.
    fn activate(&self, release: &ReleaseRecord) -> Result<Option<Active>, DeployFailure>;
    /// Deploys the verified bundle at `bundle` (its blake3 matched `release`).
    ///
    /// # Errors
    ///
    /// A [`DeployFailure`] when a gate failed or the bundle was refused.
    fn deploy(&self, release: &ReleaseRecord, bundle: &Path) -> Result<Active, DeployFailure>;
    /// Why `library` (blake3 hex) of `module` failed or was demoted here, when the deployer
    /// remembers (a crash, the panic budget): the agent puts it in a `demoted` report.
    fn failure(&self, _module: &str, _library: &str) -> Option<String> {
        None
    }
}

/// A running host agent. Dropping it stops the agent (its reports then expire with the
/// lease); [`stop`](Self::stop) also revokes the lease so they vanish at once.
#[derive(Debug)]
pub struct HostAgent {
    stop: watch::Sender<bool>,
    reports: watch::Receiver<BTreeMap<String, HostReport>>,
    task: Option<tokio::task::JoinHandle<()>>,
    host: String,
}

impl HostAgent {
    /// Starts the agent on the current tokio runtime. It retries etcd and the registry with
    /// backoff for as long as it runs; the deployer keeps serving what it serves meanwhile.
    ///
    /// # Errors
    ///
    /// [`FleetError::BadName`] for a fleet or host name that cannot be a key,
    /// [`FleetError::Io`] when the store directory cannot be created.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    pub fn spawn(config: HostConfig, deployer: Arc<dyn Deployer>) -> Result<HostAgent, FleetError> {
        config.fleet.check()?;
        if !keys::is_valid_segment(&config.host) {
            return Err(FleetError::BadName { name: config.host.clone(), what: "host id" });
        }
        if config.operator_keys.is_empty() && !config.allow_unsigned {
            return Err(FleetError::NoOperatorKey { host: config.host.clone() });
        }
        std::fs::create_dir_all(&config.store)
            .map_err(|source| FleetError::Io { path: config.store.clone(), source })?;
        let accepted = std::fs::read(intent_file(&config))
            .ok()
            .and_then(|b| serde_json::from_slice::<BTreeMap<String, Accepted>>(&b).ok())
            .unwrap_or_default();
        let (stop, stop_rx) = watch::channel(false);
        let (reports_tx, reports) = watch::channel(BTreeMap::new());
        let host = config.host.clone();
        let registry = BundleRegistry::new(&config.fleet.registry);
        let agent = Agent {
            config,
            deployer,
            registry,
            rollouts: BTreeMap::new(),
            releases: BTreeMap::new(),
            modules: BTreeMap::new(),
            reported: BTreeMap::new(),
            reports: reports_tx,
            stop: stop_rx,
            accepted,
            reported_at: BTreeMap::new(),
            rejected: BTreeMap::new(),
            live: None,
        };
        let task = tokio::spawn(agent.run());
        Ok(HostAgent { stop, reports, task: Some(task), host })
    }

    /// The host id.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The agent's latest report per module (also what it last wrote to etcd, or will write
    /// once etcd is back).
    pub fn reports(&self) -> BTreeMap<String, HostReport> {
        self.reports.borrow().clone()
    }

    /// A receiver that sees every change of [`reports`](Self::reports).
    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<String, HostReport>> {
        self.reports.clone()
    }

    /// Stops the agent and revokes its lease (best effort) so its reports vanish now.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for HostAgent {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[derive(Debug, Default)]
struct ModuleState {
    /// The release this host last served as its target.
    ok_on: Option<String>,
    /// Releases that failed here (gate, demotion, refused bytes): never tried again.
    failed: BTreeMap<String, (HostState, String)>,
    /// After a fetch failure: when to try again, and the next backoff.
    retry: Option<(Instant, Duration, String)>,
    report: Option<HostReport>,
}

struct Agent {
    config: HostConfig,
    deployer: Arc<dyn Deployer>,
    registry: BundleRegistry,
    rollouts: BTreeMap<String, Rollout>,
    releases: BTreeMap<String, ReleaseRecord>,
    modules: BTreeMap<String, ModuleState>,
    /// What this session wrote to etcd (cleared with each new lease).
    reported: BTreeMap<String, HostReport>,
    reports: watch::Sender<BTreeMap<String, HostReport>>,
    stop: watch::Receiver<bool>,
    /// When each module's report was last written.
    reported_at: BTreeMap<String, Instant>,
    /// The highest rollout record accepted per module (persisted).
    accepted: BTreeMap<String, Accepted>,
    /// Why the newest rollout record of a module was not accepted.
    rejected: BTreeMap<String, String>,
    /// The session's etcd client and lease, for reports sent in the middle of a pull.
    live: Option<(etcd_client::Client, i64)>,
}

/// Where the accepted sequence numbers are kept: `<store>/intent-<host>.json` (per host, so
/// agents may share a store directory as a cache).
fn intent_file(config: &HostConfig) -> PathBuf {
    config.store.join(format!("intent-{}.json", config.host))
}

enum SessionEnd {
    Stop,
    Reread,
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Agent {
    async fn run(mut self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            if *self.stop.borrow() {
                return;
            }
            match self.session().await {
                Ok(SessionEnd::Stop) => return,
                Ok(SessionEnd::Reread) => backoff = MIN_BACKOFF,
                Err(_) => {
                    // etcd is unreachable or our lease is gone: keep serving, retry. Converge
                    // what we know meanwhile (registry retries, demotion checks).
                    self.converge_all(None).await;
                    let mut stop = self.stop.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn etcd_err(&self, operation: impl Into<String>) -> impl FnOnce(etcd_client::Error) -> FleetError + '_ {
        let operation = operation.into();
        move |e| FleetError::etcd(&self.config.fleet.etcd, operation, e)
    }

    /// One connection and lease: read everything, watch from the revision read.
    async fn session(&mut self) -> Result<SessionEnd, FleetError> {
        let fleet = self.config.fleet.name.clone();
        let mut client = connect_etcd(&self.config.fleet.etcd).await?;
        let lease = client.lease_grant(self.config.lease_ttl, None).await.map_err(self.etcd_err("grant a lease"))?.id();
        self.reported.clear();
        let (mut keeper, mut alive) =
            client.lease_keep_alive(lease).await.map_err(self.etcd_err("keep the lease alive"))?;
        let prefix = keys::rollouts(&fleet);
        let response = client
            .get(prefix.clone(), Some(GetOptions::new().with_prefix()))
            .await
            .map_err(self.etcd_err(format!("read {prefix}")))?;
        let revision = response.header().map_or(0, |h| h.revision());
        self.live = Some((client.clone(), lease));
        let mut seen = BTreeSet::new();
        for kv in response.kvs() {
            if let Some(module) = self.accept_rollout(kv.key(), kv.value()) {
                seen.insert(module);
            }
        }
        self.rollouts.retain(|m, _| seen.contains(m) || self.rejected.contains_key(m));
        self.converge_all(Some(&mut client)).await;
        self.publish_reports(&mut client, lease).await?;
        let mut stream = client
            .watch(prefix.clone(), Some(WatchOptions::new().with_prefix().with_start_revision(revision + 1)))
            .await
            .map_err(self.etcd_err(format!("watch {prefix}")))?;
        let period = Duration::from_millis((self.config.lease_ttl.max(1) as u64 * 1000) / 3);
        let mut tick = tokio::time::interval(period.min(Duration::from_millis(500)));
        let mut last_keepalive = Instant::now();
        let mut stop = self.stop.clone();
        let mut last_revision = revision;
        let fault = self.config.watch_fault.clone();
        let mut was_stalled = false;
        loop {
            let stalled = fault.as_ref().is_some_and(WatchFault::stalled);
            if was_stalled && !stalled {
                // A watcher that fell behind reconnects from the last revision it read.
                stream = client
                    .watch(
                        prefix.clone(),
                        Some(WatchOptions::new().with_prefix().with_start_revision(last_revision + 1)),
                    )
                    .await
                    .map_err(self.etcd_err(format!("watch {prefix}")))?;
            }
            was_stalled = stalled;
            tokio::select! {
                _ = stop.changed() => {
                    let _ = tokio::time::timeout(Duration::from_millis(500), client.lease_revoke(lease)).await;
                    return Ok(SessionEnd::Stop);
                }
                _ = tick.tick() => {
                    if last_keepalive.elapsed() >= period {
                        let ttl = tokio::time::timeout(Duration::from_secs(2), async {
                            keeper.keep_alive().await?;
                            alive.message().await
                        })
                        .await;
                        match ttl {
                            Ok(Ok(Some(r))) if r.ttl() > 0 => last_keepalive = Instant::now(),
                            Ok(Err(e)) => return Err(FleetError::etcd(&self.config.fleet.etcd, "keep the lease alive", e)),
                            _ => return Err(FleetError::Rollout { module: String::new(), problem: "lease lost".into() }),
                        }
                    }
                    self.converge_all(Some(&mut client)).await;
                    self.publish_reports(&mut client, lease).await?;
                }
                message = stream.message(), if !stalled => {
                    let Some(response) = message.map_err(self.etcd_err("watch"))? else {
                        return Err(FleetError::Rollout { module: String::new(), problem: "the watch ended".into() });
                    };
                    if response.canceled() || response.compact_revision() > 0 {
                        // History was compacted past our revision: read everything again.
                        if let Some(f) = &fault {
                            f.compactions.fetch_add(1, Ordering::SeqCst);
                        }
                        return Ok(SessionEnd::Reread);
                    }
                    if let Some(h) = response.header() {
                        last_revision = last_revision.max(h.revision());
                    }
                    for event in response.events() {
                        let Some(kv) = event.kv() else { continue };
                        last_revision = last_revision.max(kv.mod_revision());
                        let module = String::from_utf8_lossy(kv.key()).rsplit('/').next().unwrap_or_default().to_owned();
                        match event.event_type() {
                            EventType::Put => {
                                if let Some(module) = self.accept_rollout(kv.key(), kv.value())
                                    && let Some(state) = self.modules.get_mut(&module)
                                {
                                    state.retry = None;
                                }
                            }
                            EventType::Delete => {
                                self.rollouts.remove(&module);
                                self.rejected.remove(&module);
                            }
                        }
                    }
                    self.converge_all(Some(&mut client)).await;
                    self.publish_reports(&mut client, lease).await?;
                }
            }
        }
    }

    /// Checks a rollout record (signature, fleet, module, sequence) and takes it when it
    /// passes; otherwise remembers why (the host keeps what it serves and reports it).
    /// Returns the module when the record was taken.
    fn accept_rollout(&mut self, key: &[u8], value: &[u8]) -> Option<String> {
        let module = String::from_utf8_lossy(key).rsplit('/').next().unwrap_or_default().to_owned();
        match self.check_rollout(&module, key, value) {
            Ok(rollout) => {
                self.rejected.remove(&module);
                self.rollouts.insert(module.clone(), rollout);
                Some(module)
            }
            Err(reason) => {
                self.rejected.insert(module, reason);
                None
            }
        }
    }

    fn check_rollout(&mut self, module: &str, key: &[u8], value: &[u8]) -> Result<Rollout, String> {
        let keys = if self.config.allow_unsigned && self.config.operator_keys.is_empty() {
            &[][..]
        } else {
            &self.config.operator_keys[..]
        };
        let opened = crate::signed::open::<Rollout>("rollout", value, keys)
            .map_err(|e| format!("rollout record {}: {e}", String::from_utf8_lossy(key)))?;
        let rollout = opened.record;
        if rollout.fleet != self.config.fleet.name || rollout.module != module {
            return Err(format!(
                "rollout record {} was written for fleet `{}` module `{}`; refused",
                String::from_utf8_lossy(key),
                rollout.fleet,
                rollout.module
            ));
        }
        if let Some(had) = self.accepted.get(module) {
            if rollout.sequence < had.sequence || (rollout.sequence == had.sequence && opened.digest != had.digest) {
                return Err(format!(
                    "rollout record {} has sequence {}, but this host already followed sequence {}: an old record                      replayed; refused",
                    String::from_utf8_lossy(key),
                    rollout.sequence,
                    had.sequence
                ));
            }
            if rollout.sequence == had.sequence {
                return Ok(rollout);
            }
        }
        self.accepted.insert(module.to_owned(), Accepted { sequence: rollout.sequence, digest: opened.digest });
        let path = intent_file(&self.config);
        let bytes = serde_json::to_vec(&self.accepted).expect("plain data");
        if let Err(e) = hotpack_archive::write_atomic(&path, &bytes) {
            // Without the file a restart could accept a replay; say so, and follow the record.
            self.rejected.insert(module.to_owned(), format!("cannot persist {}: {e}", path.display()));
        }
        Ok(rollout)
    }

    async fn publish_reports(&mut self, client: &mut etcd_client::Client, lease: i64) -> Result<(), FleetError> {
        let fleet = self.config.fleet.name.clone();
        for (module, state) in &self.modules {
            let Some(report) = &state.report else { continue };
            match self.reported.get(module) {
                Some(old) if old == report => continue,
                Some(old)
                    if HostReport { stats: None, ..old.clone() } == HostReport { stats: None, ..report.clone() }
                        && self.reported_at.get(module).is_some_and(|t| t.elapsed() < self.config.stats_interval) =>
                {
                    continue;
                }
                _ => {}
            }
            let key = keys::host_report(&fleet, &self.config.host, module);
            let value = serde_json::to_vec(report).expect("reports are plain data");
            client
                .put(key.clone(), value, Some(PutOptions::new().with_lease(lease)))
                .await
                .map_err(|e| FleetError::etcd(&self.config.fleet.etcd, format!("put {key}"), e))?;
            self.reported.insert(module.clone(), report.clone());
            self.reported_at.insert(module.clone(), Instant::now());
        }
        Ok(())
    }

    async fn converge_all(&mut self, mut client: Option<&mut etcd_client::Client>) {
        let modules: BTreeSet<String> =
            self.rollouts.keys().chain(self.modules.keys()).chain(self.rejected.keys()).cloned().collect();
        for module in modules {
            let report = self.converge(&module, client.as_deref_mut()).await;
            self.modules.entry(module).or_default().report = Some(report);
        }
        let all = self.modules.iter().filter_map(|(m, s)| s.report.clone().map(|r| (m.clone(), r))).collect();
        self.reports.send_replace(all);
    }

    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&dyn Deployer) -> T + Send + 'static) -> T {
        let deployer = Arc::clone(&self.deployer);
        tokio::task::spawn_blocking(move || f(deployer.as_ref())).await.expect("a deployer call does not panic")
    }

    fn active_release(&self, active: &Option<Active>) -> Option<ActiveRelease> {
        active.as_ref().map(|a| ActiveRelease {
            version: a.version.clone(),
            library: a.library.clone(),
            blake3: self
                .releases
                .values()
                .find(|r| r.libraries.get(hotpack::abi::TARGET) == Some(&a.library))
                .map(|r| r.blake3.clone()),
        })
    }

    fn report(
        &self,
        module: &str,
        active: &Option<Active>,
        target: Option<&str>,
        state: HostState,
        reason: Option<String>,
    ) -> HostReport {
        HostReport {
            host: self.config.host.clone(),
            module: module.to_owned(),
            active: self.active_release(active),
            target: target.map(str::to_owned),
            state,
            reason,
            progress: None,
            stats: self.stats(module, active),
        }
    }

    fn stats(&self, module: &str, active: &Option<Active>) -> Option<crate::analysis::CallStats> {
        let meter = self.config.meter.as_ref()?;
        meter.restart(module, &active.as_ref()?.library);
        meter.snapshot(module)
    }

    async fn release(
        &mut self,
        module: &str,
        blake3: &str,
        client: Option<&mut etcd_client::Client>,
    ) -> Result<ReleaseRecord, (HostState, String)> {
        if let Some(r) = self.releases.get(blake3) {
            return Ok(r.clone());
        }
        let Some(client) = client else {
            return Err((HostState::FetchFailed, "etcd unreachable: cannot read the release record".into()));
        };
        let key = keys::release(&self.config.fleet.name, module, blake3);
        let response = client
            .get(key.clone(), None)
            .await
            .map_err(|e| (HostState::FetchFailed, format!("etcd: get {key}: {e}")))?;
        let Some(kv) = response.kvs().first() else {
            return Err((HostState::Refused, format!("no release record at {key}")));
        };
        let keys = if self.config.allow_unsigned && self.config.operator_keys.is_empty() {
            &[][..]
        } else {
            &self.config.operator_keys[..]
        };
        let record: ReleaseRecord =
            open_record(kv.key(), kv.value(), keys).map_err(|e| (HostState::Refused, e.to_string()))?;
        if record.blake3 != blake3 || record.module != module {
            return Err((
                HostState::Refused,
                format!("release record {key} names {} {}", record.module, record.blake3),
            ));
        }
        self.releases.insert(blake3.to_owned(), record.clone());
        Ok(record)
    }

    /// Brings `module` to its target if it can, and says where it stands.
    async fn converge(&mut self, module: &str, client: Option<&mut etcd_client::Client>) -> HostReport {
        let m = module.to_owned();
        let active = self.blocking(move |d| d.active(&m)).await;
        if let Some(reason) = self.rejected.get(module) {
            let reason = format!("{reason}; keeping what serves");
            return self.report(module, &active, None, HostState::Refused, Some(reason));
        }
        let Some(rollout) = self.rollouts.get(module).cloned() else {
            return self.report(module, &active, None, HostState::Idle, Some("no rollout for this module".into()));
        };
        let Some(target) = rollout.target_for(&self.config.host, module).map(str::to_owned) else {
            return self.report(module, &active, None, HostState::Idle, Some("no stable release".into()));
        };
        if rollout.expires != 0 && unix_now() > rollout.expires {
            let reason = format!(
                "the newest rollout record (sequence {}) expired at unix time {}: the fleet's intent may be frozen; \
                 keeping what serves until the operator renews it",
                rollout.sequence, rollout.expires
            );
            return self.report(module, &active, Some(&target), HostState::Expired, Some(reason));
        }
        if rollout.paused {
            return self.report(module, &active, Some(&target), HostState::Paused, Some("rollout paused".into()));
        }
        let release = match self.release(module, &target, client).await {
            Ok(r) => r,
            Err((state, reason)) => {
                if state == HostState::Refused {
                    self.modules
                        .entry(module.to_owned())
                        .or_default()
                        .failed
                        .insert(target.clone(), (state, reason.clone()));
                }
                return self.report(module, &active, Some(&target), state, Some(reason));
            }
        };
        let wanted = release.libraries.get(hotpack::abi::TARGET).cloned();
        let state = self.modules.entry(module.to_owned()).or_default();
        if active.as_ref().map(|a| &a.library) == wanted.as_ref() && wanted.is_some() {
            state.ok_on = Some(target.clone());
            state.retry = None;
            return self.report(module, &active, Some(&target), HostState::Ok, None);
        }
        if state.ok_on.as_deref() == Some(target.as_str()) && !state.failed.contains_key(&target) {
            // It served here and moved off without the fleet asking: demoted (a crash, the
            // panic budget). Say which: the counts that would show it restart on what serves now.
            let cause = match wanted.clone() {
                Some(library) => {
                    let m = module.to_owned();
                    self.blocking(move |d| d.failure(&m, &library)).await
                }
                None => None,
            };
            let reason = match cause {
                Some(cause) => format!("{} was demoted on this host: {cause}", release.label()),
                None => format!("{} was demoted on this host", release.label()),
            };
            let state = self.modules.entry(module.to_owned()).or_default();
            state.failed.insert(target.clone(), (HostState::Demoted, reason));
        }
        let state = self.modules.entry(module.to_owned()).or_default();
        if let Some((failed, reason)) = state.failed.get(&target).cloned() {
            return self.report(module, &active, Some(&target), failed, Some(reason));
        }
        let Some(_) = wanted else {
            let reason = format!("{} has no library for target {}", release.label(), hotpack::abi::TARGET);
            state.failed.insert(target.clone(), (HostState::Refused, reason.clone()));
            return self.report(module, &active, Some(&target), HostState::Refused, Some(reason));
        };
        if let Some((at, _, reason)) = &state.retry
            && Instant::now() < *at
        {
            let reason = reason.clone();
            return self.report(module, &active, Some(&target), HostState::FetchFailed, Some(reason));
        }
        // A version this host ran before comes back without a download.
        let r = release.clone();
        match self.blocking(move |d| d.activate(&r)).await {
            Ok(Some(now)) => {
                let state = self.modules.entry(module.to_owned()).or_default();
                state.ok_on = Some(target.clone());
                return self.report(module, &Some(now), Some(&target), HostState::Ok, None);
            }
            Ok(None) => {}
            Err(f) => return self.fail(module, &active, &target, f),
        }
        let path = match self.fetch(&release, &active).await {
            Ok(path) => path,
            Err(Fetch::Refused(reason)) => {
                return self.fail(module, &active, &target, DeployFailure { state: HostState::Refused, reason });
            }
            Err(Fetch::Failed(reason)) => {
                let state = self.modules.entry(module.to_owned()).or_default();
                let backoff = state.retry.as_ref().map_or(MIN_BACKOFF, |(_, b, _)| (*b * 2).min(MAX_BACKOFF));
                state.retry = Some((Instant::now() + backoff, backoff, reason.clone()));
                return self.report(module, &active, Some(&target), HostState::FetchFailed, Some(reason));
            }
        };
        let r = release.clone();
        match self.blocking(move |d| d.deploy(&r, &path)).await {
            Ok(now) => {
                let state = self.modules.entry(module.to_owned()).or_default();
                state.retry = None;
                if Some(&now.library) == release.libraries.get(hotpack::abi::TARGET) {
                    state.ok_on = Some(target.clone());
                    self.report(module, &Some(now), Some(&target), HostState::Ok, None)
                } else {
                    let reason = format!(
                        "{}: the deployed library {} is not the recorded one",
                        release.label(),
                        short(&now.library)
                    );
                    self.fail(module, &Some(now), &target, DeployFailure { state: HostState::Refused, reason })
                }
            }
            Err(f) => self.fail(module, &active, &target, f),
        }
    }

    fn fail(&mut self, module: &str, active: &Option<Active>, target: &str, f: DeployFailure) -> HostReport {
        let state = self.modules.entry(module.to_owned()).or_default();
        state.failed.insert(target.to_owned(), (f.state, f.reason.clone()));
        state.retry = None;
        self.report(module, active, Some(target), f.state, Some(f.reason))
    }

    /// Sends one report now (in the middle of a pull), outside the converge loop.
    async fn send_report(&self, report: HostReport) {
        let module = report.module.clone();
        if let Some((client, lease)) = &self.live {
            let key = keys::host_report(&self.config.fleet.name, &self.config.host, &module);
            let value = serde_json::to_vec(&report).expect("reports are plain data");
            let _ = client.clone().put(key, value, Some(PutOptions::new().with_lease(*lease))).await;
        }
        self.reports.send_modify(|all| {
            all.insert(module, report);
        });
    }

    /// The verified bundle of `release` in the store: kept from an earlier pull, or pulled
    /// by digest now, at most min(record size, `max_bundle`) bytes streamed to a temporary
    /// file while hashing, within the pull deadline; a `fetching` report with progress goes
    /// out every half second. Bytes whose blake3 differs from the record are never kept.
    async fn fetch(&self, release: &ReleaseRecord, active: &Option<Active>) -> Result<PathBuf, Fetch> {
        let path = self.config.store.join(format!("{}.zip", release.blake3));
        if let Ok(mut file) = std::fs::File::open(&path) {
            let mut hasher = blake3::Hasher::new();
            if hasher.update_reader(&mut file).is_ok() && hasher.finalize().to_hex().as_str() == release.blake3 {
                return Ok(path);
            }
        }
        if release.size > self.config.max_bundle {
            return Err(Fetch::Refused(format!(
                "release {} {} is {} bytes, more than this host's --max-bundle {}; refused",
                release.module, release.version, release.size, self.config.max_bundle
            )));
        }
        let limits = PullLimits {
            limit: release.size.min(self.config.max_bundle),
            deadline: Instant::now() + self.config.pull_deadline,
            progress: Arc::new(AtomicU64::new(0)),
        };
        let part = self.config.store.join(format!(".{}.{}.part", release.blake3, self.config.host));
        let _ = std::fs::remove_file(&part);
        let pulled = {
            let pull = self.registry.pull_to(&release.repository, &release.manifest_digest, &part, &limits);
            tokio::pin!(pull);
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            tick.tick().await;
            let mut stop = self.stop.clone();
            loop {
                tokio::select! {
                    result = &mut pull => break result,
                    _ = stop.changed() => break Err(PullError::Failed("the agent is stopping".into())),
                    _ = tick.tick() => {
                        let bytes = limits.progress.load(Ordering::Relaxed);
                        let mut report = self.report(
                            &release.module,
                            active,
                            Some(&release.blake3),
                            HostState::Fetching,
                            Some(format!("pulling {}@{}: {bytes} of {} bytes", release.repository, short(&release.manifest_digest), limits.limit)),
                        );
                        report.progress = Some(Progress { bytes, limit: limits.limit });
                        self.send_report(report).await;
                    }
                }
            }
        };
        let (hash, _) = match pulled {
            Ok(done) => done,
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(match e {
                    PullError::Refused(r) => Fetch::Refused(r),
                    PullError::Failed(r) => Fetch::Failed(r),
                });
            }
        };
        let got = hash.to_hex().to_string();
        if got != release.blake3 {
            let _ = std::fs::remove_file(&part);
            return Err(Fetch::Refused(format!(
                "release {} {}: the registry's bundle ({}@{}) has blake3 {}, not the recorded {}; refused",
                release.module,
                release.version,
                release.repository,
                release.manifest_digest,
                short(&got),
                short(&release.blake3)
            )));
        }
        std::fs::rename(&part, &path).map_err(|e| Fetch::Failed(format!("cannot store {}: {e}", path.display())))?;
        Ok(path)
    }
}

enum Fetch {
    Refused(String),
    Failed(String),
}
