//! The [`Supervisor`]: gates, promotion, panic budgets, rollback, pinning, journal, restore.

use crate::gates::{self, Plan};
use crate::journal::{self, JFailed, JModule, JSource, JVersion};
use crate::watch::is_bundle;
use crate::{
    Demotion, Deployed, FailedVersion, FailureCause, Gate, GateError, Happened, JournalError, JournalPolicy,
    JournalReport, JournalStatus, ModuleStatus, Policy, Preflight, PreflightCandidate, Probe, Record, RestoreError,
    RestoreProblem, RestoreReport, RollbackError, RollbackEvent, SupervisorCallError, VersionRef, VersionSummary,
};
use hotpack_archive::{Bundle, BundleErrorKind};
use hotpack_cache::{Cache, CacheError, HotModule, Source};
use hotpack_loader::{Materialize, Module};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

mod budget;
mod candidate;
mod cap;
mod deploy;
mod iso_deps;
mod isolate;
mod pipeline;
pub use isolate::{IsolatedProbe, Isolation, WorkerInfo, WorkerProxy};
mod restore;
mod retention;
mod rollback;
mod state;

/// History lines kept per module (oldest dropped first).
const HISTORY_CAP: usize = 512;

use hotpack_util::error::ReportedError;
use hotpack_util::sync::lock;

#[derive(Debug, Clone)]
struct Failure {
    version: semver::Version,
    gate: Option<Gate>,
    cause: Arc<FailureCause>,
}

#[derive(Default)]
struct ModState {
    /// The version this supervisor promoted and that serves now.
    active: Option<VersionSummary>,
    promoted_at: Option<Instant>,
    /// Good versions, oldest first; the last one is the last good version.
    good: Vec<VersionSummary>,
    /// Activation stack: the top is the active version; `rollback` pops it.
    stack: Vec<blake3::Hash>,
    /// Every hash this host ever activated (journal-restored good ones included).
    activated: HashMap<blake3::Hash, semver::Version>,
    highest_seen: Option<semver::Version>,
    pinned: Option<VersionSummary>,
    failed: BTreeMap<[u8; 32], Failure>,
    history: VecDeque<Record>,
    last_error: Option<String>,
    panics: VecDeque<Instant>,
    /// The signature proof of each version's bundle (only with trusted keys), stored beside
    /// its object (`objects/<hash>.sig`) so a restart can check the signature itself.
    proofs: HashMap<blake3::Hash, Arc<[u8]>>,
}

impl ModState {
    fn last_good(&self) -> Option<&VersionSummary> {
        self.good.last()
    }

    fn is_failed(&self, h: &blake3::Hash) -> bool {
        self.failed.contains_key(h.as_bytes())
    }

    fn is_good(&self, h: &blake3::Hash) -> bool {
        self.good.iter().any(|g| g.hash == *h)
    }

    fn make_good(&mut self, v: VersionSummary) {
        self.good.retain(|g| g.hash != v.hash);
        self.good.push(v);
    }

    fn push_history(&mut self, record: Record) {
        if self.history.len() >= HISTORY_CAP {
            self.history.pop_front();
        }
        self.history.push_back(record);
    }
}

#[derive(Default)]
struct State {
    modules: BTreeMap<String, ModState>,
    /// Failures of bytes that never loaded far enough to name their module.
    orphan_failed: HashMap<[u8; 32], (String, Failure)>,
    /// Modules over their panic budget whose demotion waits for the operation lock.
    pending: BTreeSet<String>,
    /// Crashes whose demotion waits for the operation lock: module -> (hash, how).
    crashes: BTreeMap<String, (blake3::Hash, crate::Crash)>,
}

struct Inner {
    cache: Cache,
    policy: Policy,
    journal: Option<PathBuf>,
    state: Mutex<State>,
    /// Serializes deploys, rollbacks, demotions and journal writes. Never taken on a call
    /// that does not panic.
    ops: Mutex<()>,
    probes: Mutex<HashMap<String, Probe>>,
    /// The probe of every module without one of its own.
    default_probe: Mutex<Option<Probe>>,
    default_iso_probe: Mutex<Option<isolate::IsolatedProbe>>,
    preflight: Mutex<Option<Preflight>>,
    subscribers: Mutex<Vec<mpsc::Sender<RollbackEvent>>>,
    /// Why the last journal write failed, until one succeeds.
    journal_problem: Mutex<Option<Arc<JournalError>>>,
    /// Candidates refused at the requires gate for a missing provider, retried after each
    /// promotion (`supervisor/deploy.rs`).
    waiting: Mutex<Vec<Waiting>>,
    /// Set: new versions run in worker processes.
    isolation: Mutex<Option<isolate::Isolation>>,
    /// Versions that run in workers, per module, and the worker answering for each.
    iso: Mutex<HashMap<String, isolate::IsoModule>>,
    iso_probes: Mutex<HashMap<String, isolate::IsolatedProbe>>,
    /// Isolated candidates refused for a missing provider, retried after each isolated
    /// promotion (`supervisor/iso_deps.rs`).
    iso_waiting: Mutex<Vec<iso_deps::IsoWaiting>>,
    /// Resident data for in-process `call_resident`.
    resident: Mutex<Option<hotpack_worker::ResidentData>>,
    /// Each provider version's typed-panic counter as last charged (`supervisor/budget.rs`).
    provider_panics_seen: Mutex<HashMap<blake3::Hash, u64>>,
    /// Why the last object store failed (and the hash it failed for), until a store writes
    /// an object again or stores that hash (a journal write that succeeds in between does
    /// not make the host durable: the object is what a restart loads).
    store_problem: Mutex<Option<(blake3::Hash, Arc<JournalError>)>>,
    /// Sees every step the runner runs (`Supervisor::observe_steps`).
    observer: Mutex<Option<crate::StepObserver>>,
    /// Set by [`Supervisor::stop_workers`]: the host is shutting down, a worker's death is
    /// no longer the module's fault.
    stopping: std::sync::atomic::AtomicBool,
}

/// Decides which version of each module serves: runs the gates, promotes, demotes, rolls
/// back, pins, and keeps the journal. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("policy", &self.inner.policy)
            .field("journal", &self.inner.journal)
            .finish_non_exhaustive()
    }
}

/// A candidate that loaded and waits for a provider: its plan resumes at
/// [`Step::Bindings`](crate::Step::Bindings) once one is promoted.
#[derive(Clone)]
struct Waiting {
    plan: Plan,
    module: Module,
    source: Source,
}

impl Supervisor {
    /// A supervisor without a journal: nothing survives a restart.
    pub fn new(cache: Cache, policy: Policy) -> Supervisor {
        Supervisor::build(cache, policy, None, State::default())
    }

    fn build(cache: Cache, mut policy: Policy, journal: Option<PathBuf>, state: State) -> Supervisor {
        policy.retain = policy.retain.max(1);
        Supervisor {
            inner: Arc::new(Inner {
                cache,
                policy,
                journal,
                state: Mutex::new(state),
                ops: Mutex::new(()),
                probes: Mutex::new(HashMap::new()),
                default_probe: Mutex::new(None),
                default_iso_probe: Mutex::new(None),
                preflight: Mutex::new(None),
                subscribers: Mutex::new(Vec::new()),
                journal_problem: Mutex::new(None),
                waiting: Mutex::new(Vec::new()),
                isolation: Mutex::new(None),
                iso: Mutex::new(HashMap::new()),
                iso_probes: Mutex::new(HashMap::new()),
                iso_waiting: Mutex::new(Vec::new()),
                resident: Mutex::new(None),
                provider_panics_seen: Mutex::new(HashMap::new()),
                store_problem: Mutex::new(None),
                observer: Mutex::new(None),
                stopping: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// A supervisor keeping its journal at `journal` (created on the first change; library
    /// copies go to `<journal dir>/objects/`). The journal is read now; call
    /// [`restore`](Self::restore) to bring its modules back.
    ///
    /// A journal that is missing, empty, cut short, garbage, or fails its checksum is not an
    /// error: the [`JournalReport`] says what was wrong, a damaged file is copied to
    /// `<journal>.corrupt`, and the supervisor starts with nothing from it.
    ///
    /// # Errors
    ///
    /// [`RollbackError::Journal`] when the journal's directory cannot be created, when the
    /// directory, the journal or the object store is owned by another user or writable by
    /// group or others (a planted journal is never read), or when the file exists but
    /// cannot be read at all (permissions, I/O).
    pub fn open(
        cache: Cache,
        policy: Policy,
        journal: impl AsRef<Path>,
    ) -> Result<(Supervisor, JournalReport), RollbackError> {
        let path = journal.as_ref().to_path_buf();
        let jerr = |error: JournalError| RollbackError::Journal { path: path.clone(), error };
        // The journal says what to load at start: its directory, the file and the object
        // store must be this user's and writable by nobody else (as ssh treats its keys).
        let dir = journal_dir(&path);
        hotpack_util::fs::ensure_private_dir(&dir).map_err(|e| jerr(e.into()))?;
        if std::fs::symlink_metadata(&path).is_ok() {
            hotpack_util::fs::check_private_file(&path).map_err(|e| jerr(e.into()))?;
        }
        let objects = dir.join("objects");
        if std::fs::symlink_metadata(&objects).is_ok() {
            hotpack_util::fs::ensure_private_dir(&objects).map_err(|e| jerr(e.into()))?;
        }
        // What a crash or `kill -9` left mid-write (today's temporaries and the old
        // `.hotpack-journal-*.tmp` names); a failure only leaves them behind.
        for d in [&dir, &objects] {
            let _ = hotpack_util::fs::remove_stale_temps(d);
        }
        journal::remove_old_temps(&dir);
        let mut state = State::default();
        let status = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => JournalStatus::Missing,
            Err(source) => return Err(jerr(JournalError::Io { what: "read", path: path.clone(), source })),
            Ok(bytes) => {
                let parsed = journal::decode(&bytes).and_then(|modules| {
                    let mut out = BTreeMap::new();
                    for (name, j) in &modules {
                        let m = ModState::from_journal(j)
                            .map_err(|e| JournalError::Module { module: name.clone(), source: Box::new(e) })?;
                        out.insert(name.clone(), m);
                    }
                    Ok(out)
                });
                match parsed {
                    Ok(modules) => {
                        state.modules = modules;
                        JournalStatus::Loaded
                    }
                    Err(problem) => {
                        let mut keep = path.clone().into_os_string();
                        keep.push(".corrupt");
                        let keep = PathBuf::from(keep);
                        let kept_at = journal::write_atomic(&keep, &bytes).ok().map(|()| keep);
                        JournalStatus::Corrupt { problem: Arc::new(problem), kept_at }
                    }
                }
            }
        };
        let report = JournalReport { path: path.clone(), modules: state.modules.keys().cloned().collect(), status };
        Ok((Supervisor::build(cache, policy, Some(path), state), report))
    }

    /// [`open`](Self::open) with a journal (and its report), [`new`](Self::new) without.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn with_journal(
        cache: Cache,
        policy: Policy,
        journal: Option<&Path>,
    ) -> Result<(Supervisor, Option<JournalReport>), RollbackError> {
        match journal {
            Some(path) => Supervisor::open(cache, policy, path).map(|(s, r)| (s, Some(r))),
            None => Ok((Supervisor::new(cache, policy), None)),
        }
    }

    /// Runs `command`'s child process ([`hotpack_worker::preflight`]) as the preflight of
    /// every deployed candidate ([`set_preflight`](Self::set_preflight)); `None` clears it.
    pub fn set_preflight_command(&self, command: Option<hotpack_worker::preflight::PreflightCommand>) {
        self.set_preflight(command.map(|command| -> Preflight {
            Arc::new(move |c: &PreflightCandidate<'_>| {
                command.check(c.path, c.module_dir, c.hash).map(|_| ()).map_err(|e| Box::new(e) as crate::CallbackError)
            })
        }));
    }

    /// The cache the supervisor promotes into, read-only: nothing reached through the
    /// supervisor makes code current without its gates (the `Cache` itself stays with whoever
    /// built the supervisor).
    pub fn cache(&self) -> hotpack_cache::CacheView {
        self.inner.cache.view()
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Sets the health probe of module `name`: run on every candidate that runs in process,
    /// after its state was imported and before it is promoted (and on restore). A version
    /// that runs in a worker needs an [`IsolatedProbe`](isolate::IsolatedProbe)
    /// ([`set_isolated_probe`](Self::set_isolated_probe)): given only this kind, its candidates
    /// are refused at [`Gate::Probe`] ([`GateError::InProcessProbeInWorker`]), never promoted
    /// unprobed.
    pub fn set_probe(&self, name: &str, probe: Probe) {
        lock(&self.inner.probes).insert(name.to_owned(), probe);
    }

    /// Sets (or with `None` clears) the probe of every module that has none of its own
    /// ([`set_probe`](Self::set_probe)), in process, and the one of every module that runs in
    /// a worker and has none of its own ([`set_isolated_probe`](Self::set_isolated_probe)).
    /// A probe that applies to some modules only looks at [`Module::name`] (or
    /// [`WorkerProxy::name`]) and accepts the others. For a host whose module names are not
    /// known before their bundles are read (a plugin folder).
    pub fn set_default_probes(&self, probe: Option<Probe>, isolated: Option<isolate::IsolatedProbe>) {
        *lock(&self.inner.default_probe) = probe;
        *lock(&self.inner.default_iso_probe) = isolated;
    }

    /// Sets (or with `None` clears) the preflight: run on every deployed candidate after
    /// [`Gate::Verify`] and before the host loads it ([`Gate::Preflight`]).
    pub fn set_preflight(&self, preflight: Option<Preflight>) {
        *lock(&self.inner.preflight) = preflight;
    }

    fn preflight(&self, c: &PreflightCandidate<'_>) -> Result<(), GateError> {
        let preflight = lock(&self.inner.preflight).clone();
        gates::run_preflight(preflight.as_ref(), c)
    }

    /// Removes the health probes of `name` (in process and isolated).
    pub fn clear_probe(&self, name: &str) {
        lock(&self.inner.probes).remove(name);
        lock(&self.inner.iso_probes).remove(name);
    }

    /// Events from now on. Every subscriber gets every event.
    pub fn subscribe(&self) -> mpsc::Receiver<RollbackEvent> {
        let (tx, rx) = mpsc::channel();
        lock(&self.inner.subscribers).push(tx);
        rx
    }

    fn emit(&self, event: RollbackEvent) {
        lock(&self.inner.subscribers).retain(|tx| tx.send(event.clone()).is_ok());
    }

    /// Runs `f` holding the operation lock, then any demotion that waited for it.
    fn with_ops<R>(&self, f: impl FnOnce() -> R) -> R {
        let result = {
            let _ops = lock(&self.inner.ops);
            self.settle_locked();
            let r = f();
            self.drain_pending_locked();
            r
        };
        self.kick_pending();
        result
    }

    fn kick_pending(&self) {
        loop {
            {
                let st = lock(&self.inner.state);
                if st.pending.is_empty() && st.crashes.is_empty() {
                    return;
                }
            }
            match self.inner.ops.try_lock() {
                Ok(_ops) => self.drain_pending_locked(),
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    let _ops = p.into_inner();
                    self.drain_pending_locked();
                }
                // Whoever holds the lock drains after its operation.
                Err(std::sync::TryLockError::WouldBlock) => return,
            }
        }
    }

    // ----- views -------------------------------------------------------------------------

    /// The status of `name`, if the supervisor knows it.
    pub fn status(&self, name: &str) -> Option<ModuleStatus> {
        let retained: Vec<VersionSummary> = match self.iso_retained(name) {
            Some(retained) => retained,
            None => self
                .inner
                .cache
                .versions(name)
                .into_iter()
                .map(|v| VersionSummary { version: v.version, hash: v.hash, source: v.source })
                .collect(),
        };
        let active = lock(&self.inner.state).modules.get(name)?.active.as_ref().map(|a| a.hash);
        let handlers = match self.iso_handlers(name) {
            Some(handlers) => handlers,
            None => active
                .and_then(|h| self.inner.cache.version(name, &h))
                .map(|m| m.handler_names().map(str::to_owned).collect())
                .unwrap_or_default(),
        };
        let st = lock(&self.inner.state);
        let m = st.modules.get(name)?;
        let now = Instant::now();
        let window = self.inner.policy.panic_window;
        Some(ModuleStatus {
            name: name.to_owned(),
            active: m.active.clone(),
            last_good: m.last_good().cloned(),
            pinned: m.pinned.clone(),
            highest_seen: m.highest_seen.clone(),
            retained,
            failed: m
                .failed
                .iter()
                .map(|(h, f)| FailedVersion {
                    version: f.version.clone(),
                    hash: blake3::Hash::from_bytes(*h),
                    gate: f.gate,
                    reason: f.cause.to_string(),
                })
                .collect(),
            last_error: m.last_error.clone(),
            recent_panics: u32::try_from(m.panics.iter().filter(|t| now.duration_since(**t) <= window).count())
                .unwrap_or(u32::MAX),
            on_probation: m.active.as_ref().is_some_and(|a| !m.is_good(&a.hash)),
            handlers,
            history: m.history.iter().cloned().collect(),
        })
    }

    /// The status of every module the supervisor knows, by name.
    pub fn statuses(&self) -> Vec<ModuleStatus> {
        let names: Vec<String> = lock(&self.inner.state).modules.keys().cloned().collect();
        names.iter().filter_map(|n| self.status(n)).collect()
    }

    /// What happened to `name`, oldest first (the last 512 entries; not persisted).
    pub fn history(&self, name: &str) -> Vec<Record> {
        lock(&self.inner.state).modules.get(name).map(|m| m.history.iter().cloned().collect()).unwrap_or_default()
    }
}

fn journal_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn deployed(name: &str, v: &VersionSummary, outcome: Happened) -> Deployed {
    Deployed { name: name.to_owned(), version: v.version.clone(), hash: v.hash, source: v.source.clone(), outcome }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervisor_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Supervisor>();
    }
}
