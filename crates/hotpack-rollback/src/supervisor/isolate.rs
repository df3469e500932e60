//! Isolation: versions that run in worker processes. The host keeps the verified bytes (a
//! sealed memfd, `LibraryImage`) and a worker per running version; it never maps the code.
//! The gates run for a worker version as for an in-process one (signature and verify on the
//! host; load, init and state in the candidate's first worker, its report checked against
//! the manifest), promotion swaps which worker answers, and a crash demotes at once.

use super::*;
use crate::Crash;
use hotpack_worker::{LibraryImage, ModuleReport, ResidentData, Worker, WorkerCallError, WorkerCommand, WorkerLimits};
use std::time::SystemTime;

/// How the supervisor runs module code in worker processes
/// ([`Supervisor::set_isolation`]).
#[derive(Clone)]
pub struct Isolation {
    /// The worker executable.
    pub command: WorkerCommand,
    /// Per-call deadline, memory cap, start deadline.
    pub limits: WorkerLimits,
    /// Resident data every worker maps read-only (kept once by the host, never reloaded).
    pub data: Option<ResidentData>,
}

impl fmt::Debug for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Isolation")
            .field("command", &self.command.program())
            .field("call_deadline", &self.limits.call_deadline)
            .field("memory", &self.limits.memory)
            .field("data", &self.data.as_ref().map(ResidentData::len))
            .finish()
    }
}

/// A health probe for a version that runs in a worker: it gets a [`WorkerProxy`] that calls
/// into the candidate's worker. `Err(reason)` fails the [`Gate::Probe`].
pub type IsolatedProbe = Arc<dyn Fn(&WorkerProxy<'_>) -> Result<(), crate::CallbackError> + Send + Sync>;

/// A candidate running in its worker, as a probe sees it: calls cross into the worker.
#[allow(missing_debug_implementations)] // borrows a worker; nothing to show but the report
pub struct WorkerProxy<'a> {
    worker: &'a Worker,
    report: &'a ModuleReport,
}

impl<'a> WorkerProxy<'a> {
    pub(super) fn new(worker: &'a Worker, report: &'a ModuleReport) -> Self {
        WorkerProxy { worker, report }
    }

    /// The module's name (as the host checked it against the manifest).
    pub fn name(&self) -> &str {
        &self.report.name
    }

    /// Its version.
    pub fn version(&self) -> &semver::Version {
        &self.report.version
    }

    /// Its handlers.
    pub fn handler_names(&self) -> impl Iterator<Item = &str> {
        self.report.handlers.iter().map(String::as_str)
    }

    /// Calls `handler` in the candidate's worker.
    ///
    /// # Errors
    ///
    /// The handler's error, a caught panic, or the worker's death.
    pub fn call(&self, handler: &str, input: &[u8]) -> Result<Vec<u8>, WorkerCallError> {
        self.worker.call(&self.report.name, handler, input)
    }
}

/// One worker as `/-/modules` and `/-/metrics` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// The module it runs.
    pub module: String,
    /// The version it runs.
    pub version: semver::Version,
    /// That version's hash.
    pub hash: blake3::Hash,
    /// Its pid (of the last worker, when none runs now).
    pub pid: Option<u32>,
    /// Whether it is alive.
    pub alive: bool,
    /// Calls it started.
    pub calls: u64,
    /// Workers started for this module after a death (a fallback or a restart).
    pub restarts: u64,
    /// The last death of a worker of this module, and when.
    pub last_death: Option<(Crash, SystemTime)>,
}

/// What [`Gate::Probe`] runs for a candidate ([`Supervisor::probe_for`]).
pub(super) enum ProbeFor {
    /// An in-process probe, on the module the host loaded.
    InProcess(Probe),
    /// An isolated probe, through a proxy into the candidate's worker.
    Worker(IsolatedProbe),
    /// The probe that applies cannot run where the candidate runs: refused with this.
    Unrunnable(GateError),
    /// No probe: the gate passes.
    Nothing,
}

/// A version kept by the host for its workers: the verified bytes in a sealed memfd.
pub(super) struct IsoVersion {
    pub(super) summary: VersionSummary,
    pub(super) image: LibraryImage,
    /// What its static descriptor says it requires and provides (`supervisor/iso_deps.rs`).
    pub(super) requires: Vec<hotpack_loader::InterfaceInfo>,
    pub(super) provides: Vec<hotpack_loader::InterfaceInfo>,
}

impl IsoVersion {
    pub(super) fn new(summary: VersionSummary, image: LibraryImage, bytes: &[u8]) -> Self {
        let (requires, provides) = super::iso_deps::interfaces_of(bytes);
        Self { summary, image, requires, provides }
    }
}

/// A version with the worker that answers for it, and what that worker reported (checked
/// against what the host knows).
pub(super) struct Running {
    pub(super) version: Arc<IsoVersion>,
    pub(super) worker: Worker,
    pub(super) report: ModuleReport,
}

#[derive(Default)]
pub(super) struct IsoModule {
    pub(super) current: Option<Arc<Running>>,
    versions: HashMap<blake3::Hash, Arc<IsoVersion>>,
    restarts: u64,
    last_death: Option<(Crash, SystemTime)>,
    last_pid: Option<u32>,
}

type Refusal = Box<(Gate, GateError, bool)>;

impl Supervisor {
    /// Sets (or with `None` clears) isolation: from now on every deployed or restored version
    /// runs in a worker process ([`Isolation`]); versions already serving in process keep
    /// serving. Typed handles (`Hot<I>`) cannot cross a process: use byte handlers.
    pub fn set_isolation(&self, isolation: Option<Isolation>) {
        *lock(&self.inner.isolation) = isolation;
    }

    /// Whether new versions run in worker processes.
    pub fn is_isolated(&self) -> bool {
        lock(&self.inner.isolation).is_some()
    }

    /// Whether the version of `name` serving now runs in a worker.
    pub fn runs_in_worker(&self, name: &str) -> bool {
        lock(&self.inner.iso).get(name).is_some_and(|m| m.current.is_some())
    }

    /// Sets the probe of module `name` for versions that run in a worker: it calls into the
    /// candidate's worker through a [`WorkerProxy`]. A module's own probes come before the
    /// defaults ([`set_default_probes`](Self::set_default_probes)); when the one that applies
    /// cannot run where the candidate runs (an in-process [`Probe`] for a version in a worker,
    /// this kind for one in process), [`Gate::Probe`] refuses the candidate
    /// ([`GateError::InProcessProbeInWorker`], [`GateError::IsolatedProbeInProcess`]): a
    /// probe is never skipped.
    pub fn set_isolated_probe(&self, name: &str, probe: IsolatedProbe) {
        lock(&self.inner.iso_probes).insert(name.to_owned(), probe);
    }

    /// The first module (by name) whose own probe can never run where new versions run now
    /// (an in-process [`Probe`] while isolated, an [`IsolatedProbe`] in process): the error
    /// [`Gate::Probe`] will refuse its candidates with. A host checks it once its probes and
    /// isolation are set (`RuntimeBuilder::build` does).
    pub fn unrunnable_probe(&self) -> Option<GateError> {
        let isolated = self.is_isolated();
        let mut names: Vec<String> = if isolated {
            lock(&self.inner.probes).keys().cloned().collect()
        } else {
            lock(&self.inner.iso_probes).keys().cloned().collect()
        };
        names.sort();
        names.into_iter().find_map(|name| match self.probe_for(&name, isolated) {
            ProbeFor::Unrunnable(error) => Some(error),
            _ => None,
        })
    }

    /// The probe a candidate of `name` gets at [`Gate::Probe`]: the module's own probes
    /// before the defaults, and of those the kind that runs where the candidate runs.
    pub(super) fn probe_for(&self, name: &str, in_worker: bool) -> ProbeFor {
        let own = (lock(&self.inner.probes).get(name).cloned(), lock(&self.inner.iso_probes).get(name).cloned());
        let (probe, isolated) = match own {
            (None, None) => (lock(&self.inner.default_probe).clone(), lock(&self.inner.default_iso_probe).clone()),
            own => own,
        };
        let module = name.to_owned();
        match (in_worker, probe, isolated) {
            (true, _, Some(isolated)) => ProbeFor::Worker(isolated),
            (false, Some(probe), _) => ProbeFor::InProcess(probe),
            (true, Some(_), None) => ProbeFor::Unrunnable(GateError::InProcessProbeInWorker { module }),
            (false, None, Some(_)) => ProbeFor::Unrunnable(GateError::IsolatedProbeInProcess { module }),
            (_, None, None) => ProbeFor::Nothing,
        }
    }

    /// Every module's worker: pid, version, calls, restarts, last death.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        let iso = lock(&self.inner.iso);
        let mut out = Vec::new();
        for (name, m) in iso.iter() {
            let Some(r) = m.current.as_ref() else { continue };
            let stats = r.worker.stats();
            out.push(WorkerInfo {
                module: name.clone(),
                version: r.version.summary.version.clone(),
                hash: r.version.summary.hash,
                pid: Some(stats.pid),
                alive: stats.death.is_none(),
                calls: stats.calls,
                restarts: m.restarts,
                last_death: m.last_death.clone(),
            });
        }
        for (name, m) in iso.iter().filter(|(_, m)| m.current.is_none() && m.last_death.is_some()) {
            let Some(v) = m.versions.values().next() else { continue };
            out.push(WorkerInfo {
                module: name.clone(),
                version: v.summary.version.clone(),
                hash: v.summary.hash,
                pid: m.last_pid,
                alive: false,
                calls: 0,
                restarts: m.restarts,
                last_death: m.last_death.clone(),
            });
        }
        out.sort_by(|a, b| a.module.cmp(&b.module));
        out
    }

    pub(super) fn isolation(&self) -> Option<Isolation> {
        lock(&self.inner.isolation).clone()
    }

    pub(super) fn iso_running(&self, name: &str) -> Option<Arc<Running>> {
        lock(&self.inner.iso).get(name).and_then(|m| m.current.clone())
    }

    pub(super) fn iso_handlers(&self, name: &str) -> Option<Vec<String>> {
        self.iso_running(name).map(|r| r.report.handlers.clone())
    }

    pub(super) fn iso_summary(&self, name: &str, hash: &blake3::Hash) -> Option<VersionSummary> {
        lock(&self.inner.iso).get(name).and_then(|m| m.versions.get(hash)).map(|v| v.summary.clone())
    }

    pub(super) fn iso_has(&self, name: &str, hash: &blake3::Hash) -> bool {
        self.iso_summary(name, hash).is_some()
    }

    /// Makes retained version `v` of `name` answer (a rollback or a pin): a fresh worker
    /// unless it answers already.
    pub(super) fn iso_switch(
        &self,
        name: &str,
        v: VersionSummary,
        outcome: Happened,
    ) -> Result<Deployed, RollbackError> {
        let is_active = self.iso_running(name).is_some_and(|r| r.version.summary.hash == v.hash);
        if is_active && matches!(outcome, Happened::RolledBack { .. }) {
            return Ok(deployed(name, &v, Happened::Unchanged));
        }
        let target = lock(&self.inner.iso).get(name).and_then(|m| m.versions.get(&v.hash).cloned());
        if !is_active && let Some(target) = target {
            // The same compatibility gate as a deploy: a version its dependents cannot use
            // is refused naming them.
            self.iso_check(name, &target).map_err(RollbackError::Cache)?;
        }
        if !is_active && !self.iso_start_retained(name, &v.hash, false) {
            return Err(RollbackError::NotRetained { name: name.to_owned(), wanted: VersionRef::Hash(v.hash) });
        }
        let done = self.promoted(name, v, outcome);
        if let Some(iso) = self.isolation() {
            // A version brought back may be what a waiting dependent requires.
            self.iso_retry_waiting(&iso);
        }
        Ok(done)
    }

    pub(super) fn iso_retained(&self, name: &str) -> Option<Vec<VersionSummary>> {
        let iso = lock(&self.inner.iso);
        let m = iso.get(name)?;
        let mut v: Vec<VersionSummary> = m.versions.values().map(|v| v.summary.clone()).collect();
        v.sort_by(|a, b| a.version.cmp(&b.version));
        Some(v)
    }

    /// Starts a worker for `v` of `name`: spawn, load its image, check the report against
    /// what the host knows (name, version, hash), init.
    fn start_worker(&self, iso: &Isolation, name: &str, v: &IsoVersion) -> Result<(Worker, ModuleReport), Refusal> {
        let worker = Worker::spawn(&iso.command, &iso.limits, iso.data.as_ref())
            .map_err(|e| Box::new((Gate::Load, GateError::Worker(e), false)))?;
        let report = worker.load(&v.image).map_err(|e| Box::new((Gate::Load, GateError::Worker(e), true)))?;
        if report.name != name || report.version != v.summary.version || report.hash != v.summary.hash {
            let error = GateError::ReportMismatch {
                name: name.to_owned(),
                version: v.summary.version.clone(),
                found: Box::new(report),
            };
            return Err(Box::new((Gate::Abi, error, true)));
        }
        // Not the version's fault when a provider it requires does not start here.
        self.iso_host_providers(&worker, name, &v.requires).map_err(|r| Box::new((r.0, r.1, false)))?;
        worker.init(name).map_err(|e| Box::new((Gate::Init, GateError::WorkerCall(e), true)))?;
        Ok((worker, report))
    }

    /// Makes `worker` (running `v`) answer the calls of `name`: one swap of the pointer
    /// callers clone; calls in flight finish on the worker they hold.
    pub(super) fn iso_swap(&self, name: &str, v: Arc<IsoVersion>, worker: Worker, report: ModuleReport) {
        let pid = worker.pid();
        {
            let mut iso = lock(&self.inner.iso);
            let m = iso.entry(name.to_owned()).or_default();
            m.versions.insert(v.summary.hash, Arc::clone(&v));
            m.current = Some(Arc::new(Running { version: Arc::clone(&v), worker, report }));
            m.last_pid = Some(pid);
        }
        // Dependents' workers that host `name` see the new version on their next call.
        self.iso_push_provider(name, &v);
    }

    /// Starts a fresh worker for a retained version `hash` of `name` and makes it answer
    /// (a fallback after a demotion, a rollback, a restore). `false` when it is not
    /// retained or its worker would not start.
    pub(super) fn iso_start_retained(&self, name: &str, hash: &blake3::Hash, restart: bool) -> bool {
        let Some(iso) = self.isolation() else { return false };
        let Some(v) = lock(&self.inner.iso).get(name).and_then(|m| m.versions.get(hash).cloned()) else {
            return false;
        };
        match self.start_worker(&iso, name, &v) {
            Ok((worker, report)) => {
                self.iso_swap(name, v, worker, report);
                if restart && let Some(m) = lock(&self.inner.iso).get_mut(name) {
                    m.restarts += 1;
                }
                true
            }
            Err(_) => false,
        }
    }

    /// No good version left after a crash: nothing answers for `name` (a crashed worker is
    /// never started again).
    pub(super) fn iso_stop(&self, name: &str) {
        if let Some(m) = lock(&self.inner.iso).get_mut(name) {
            m.current = None;
        }
    }

    /// Keeps the stored bytes of a retained good version of `name` (not started) so a
    /// rollback can reach it.
    pub(super) fn iso_keep(&self, name: &str, v: &VersionSummary, bytes: &[u8]) -> Result<(), RestoreError> {
        let image = LibraryImage::new(bytes, v.hash, v.source.to_string())
            .map_err(|e| RestoreError::Gate { gate: Gate::Load, error: GateError::Worker(e) })?;
        lock(&self.inner.iso)
            .entry(name.to_owned())
            .or_default()
            .versions
            .insert(v.hash, Arc::new(IsoVersion::new(v.clone(), image, bytes)));
        Ok(())
    }

    /// Calls `handler` of `name` with the resident data as its input: the worker reads its
    /// read-only map of it (no copy). In process, the host's map is passed.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call); [`SupervisorCallError::NotActive`] also when the supervisor
    /// has no resident data.
    pub fn call_resident(&self, name: &str, handler: &str) -> Result<Vec<u8>, SupervisorCallError> {
        if let Some(running) = self.iso_running(name) {
            return self.call_isolated(name, running, handler, None);
        }
        let data = self.isolation().and_then(|i| i.data).or_else(|| lock(&self.inner.resident).clone());
        match data {
            Some(data) => self.call(name, handler, data.bytes()),
            None => self.call(name, handler, &[]),
        }
    }

    /// Keeps `data` for [`call_resident`](Self::call_resident) in process.
    pub fn set_resident_data(&self, data: Option<ResidentData>) {
        *lock(&self.inner.resident) = data;
    }

    /// Ends the worker answering for `name` now (a stuck run the user gave up on): the call
    /// running in it returns the worker's death, which demotes the version like any crash.
    pub fn stop_worker(&self, name: &str) {
        if let Some(running) = self.iso_running(name) {
            running.worker.kill();
        }
    }

    /// Ends every worker (and everything each started) for a host that is shutting down:
    /// calls in flight return [`SupervisorCallError::Stopped`], and nothing is demoted,
    /// journaled or started again, so a restart comes back on what served. Returns the
    /// number of workers ended.
    pub fn stop_workers(&self) -> usize {
        self.inner.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        let running: Vec<Arc<Running>> = lock(&self.inner.iso).values().filter_map(|m| m.current.clone()).collect();
        for r in &running {
            r.worker.kill();
        }
        running.len()
    }

    /// A call into the worker of `name` (`input`: `None` for the resident data): a death or
    /// a deadline demotes the version at once.
    pub(super) fn call_isolated(
        &self,
        name: &str,
        running: Arc<Running>,
        handler: &str,
        input: Option<&[u8]>,
    ) -> Result<Vec<u8>, SupervisorCallError> {
        let v = &running.version.summary;
        let result = match input {
            Some(input) => running.worker.call(name, handler, input),
            None => running.worker.call_resident(name, handler),
        };
        match result {
            Ok(out) => Ok(out),
            Err(WorkerCallError::Module(hotpack_loader::CallError::NoSuchHandler { .. })) => {
                Err(SupervisorCallError::NoSuchHandler {
                    name: name.to_owned(),
                    version: v.version.clone(),
                    handler: handler.to_owned(),
                    available: running.report.handlers.clone(),
                })
            }
            Err(WorkerCallError::Module(error)) => {
                if error.is_panic() {
                    self.panicked(name, v.hash);
                }
                self.iso_charge_providers(name, &running);
                Err(SupervisorCallError::Module { name: name.to_owned(), version: v.version.clone(), error })
            }
            Err(error) => match error.death() {
                Some(_) if self.inner.stopping.load(std::sync::atomic::Ordering::SeqCst) => {
                    Err(SupervisorCallError::Stopped { name: name.to_owned(), version: v.version.clone() })
                }
                Some(death) => {
                    let crash = Crash::from(&death);
                    if let Some(m) = lock(&self.inner.iso).get_mut(name) {
                        m.last_death = Some((crash.clone(), SystemTime::now()));
                    }
                    if let Some(provider) = self.iso_charge_provider_crash(name, &running, &crash) {
                        return Err(SupervisorCallError::ProviderCrashed {
                            name: name.to_owned(),
                            version: v.version.clone(),
                            pid: running.worker.pid(),
                            provider: Box::new(provider),
                        });
                    }
                    self.record_crash(name, v.hash, crash.clone());
                    Err(SupervisorCallError::Crashed {
                        name: name.to_owned(),
                        version: v.version.clone(),
                        pid: running.worker.pid(),
                        crash,
                    })
                }
                None => Err(SupervisorCallError::Worker {
                    name: name.to_owned(),
                    version: v.version.clone(),
                    error: Box::new(error),
                }),
            },
        }
    }
}
