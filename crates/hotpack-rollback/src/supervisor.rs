//! The [`Supervisor`]: gates, promotion, panic budgets, rollback, pinning, journal, restore.

use crate::gates::{self, Blame};
use crate::journal::{self, JFailed, JModule, JSource, JVersion};
use crate::{
    CallError, Demotion, Deployed, FailedVersion, Gate, GateError, HistoryEntry, HistoryKind, JournalReport,
    JournalStatus, ModuleStatus, Outcome, Policy, Probe, RestoreProblem, RestoreReport, RollbackError, RollbackEvent,
    VersionRef, VersionSummary,
};
use hotpack_archive::Bundle;
use hotpack_cache::{Cache, HotModule, Source};
use hotpack_loader::{Materialize, Module};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, mpsc};
use std::time::{Instant, SystemTime};

/// History lines kept per module (oldest dropped first).
const HISTORY_CAP: usize = 512;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Clone)]
struct Failure {
    version: semver::Version,
    gate: Option<Gate>,
    reason: String,
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
    history: VecDeque<HistoryEntry>,
    last_error: Option<String>,
    panics: VecDeque<Instant>,
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

    fn push_history(&mut self, version: semver::Version, hash: Option<blake3::Hash>, kind: HistoryKind) {
        if self.history.len() >= HISTORY_CAP {
            self.history.pop_front();
        }
        self.history.push_back(HistoryEntry { at: SystemTime::now(), version, hash, kind });
    }

    fn to_journal(&self) -> JModule {
        let jv = |v: &VersionSummary| JVersion {
            version: v.version.to_string(),
            hash: v.hash.to_hex().to_string(),
            source: JSource::from_source(&v.source),
        };
        JModule {
            active: self.active.as_ref().map(jv),
            last_good: self.last_good().map(jv),
            good: self.good.iter().map(jv).collect(),
            highest_seen: self.highest_seen.as_ref().map(ToString::to_string),
            pinned: self.pinned.as_ref().map(|p| p.hash.to_hex().to_string()),
            failed: self
                .failed
                .iter()
                .map(|(h, f)| JFailed {
                    version: f.version.to_string(),
                    hash: blake3::Hash::from_bytes(*h).to_hex().to_string(),
                    gate: f.gate.map(|g| g.as_str().to_owned()),
                    reason: f.reason.clone(),
                })
                .collect(),
        }
    }

    fn from_journal(j: &JModule) -> Result<ModState, String> {
        let version = |v: &JVersion| -> Result<VersionSummary, String> {
            Ok(VersionSummary {
                version: journal::parse_version(&v.version)?,
                hash: journal::parse_hash(&v.hash)?,
                source: v.source.to_source(),
            })
        };
        let mut m = ModState::default();
        for f in &j.failed {
            let failure = Failure {
                version: journal::parse_version(&f.version)?,
                gate: journal::parse_gate(&f.gate)?,
                reason: f.reason.clone(),
            };
            m.failed.insert(*journal::parse_hash(&f.hash)?.as_bytes(), failure);
        }
        for g in &j.good {
            let v = version(g)?;
            if !m.is_failed(&v.hash) {
                m.activated.insert(v.hash, v.version.clone());
                m.make_good(v);
            }
        }
        if let Some(lg) = &j.last_good {
            let v = version(lg)?;
            if !m.is_failed(&v.hash) {
                m.activated.insert(v.hash, v.version.clone());
                m.make_good(v);
            }
        }
        if let Some(a) = &j.active {
            // Only to know it ran here; it is resumed only if it is also good.
            let v = version(a)?;
            if !m.is_failed(&v.hash) && m.is_good(&v.hash) {
                m.activated.insert(v.hash, v.version.clone());
            }
        }
        m.highest_seen = j.highest_seen.as_deref().map(journal::parse_version).transpose()?;
        if let Some(p) = &j.pinned {
            let h = journal::parse_hash(p)?;
            m.pinned = m.good.iter().find(|g| g.hash == h).cloned();
        }
        Ok(m)
    }
}

#[derive(Default)]
struct State {
    modules: BTreeMap<String, ModState>,
    /// Failures of bytes that never loaded far enough to name their module.
    orphan_failed: HashMap<[u8; 32], (String, Failure)>,
    /// Modules over their panic budget whose demotion waits for the operation lock.
    pending: BTreeSet<String>,
}

struct Inner {
    cache: Cache,
    policy: Policy,
    journal: Option<PathBuf>,
    state: Mutex<State>,
    /// Serializes deploys, rollbacks, demotions and journal writes. Never taken on a call
    /// that does not panic.
    ops: Mutex<()>,
    probes: RwLock<HashMap<String, Probe>>,
    subscribers: Mutex<Vec<mpsc::Sender<RollbackEvent>>>,
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

/// A candidate that loaded, before the gates from Abi on.
struct Candidate {
    module: Module,
    source: Source,
}

impl Candidate {
    fn summary(&self) -> VersionSummary {
        VersionSummary {
            version: self.module.version().clone(),
            hash: *self.module.hash(),
            source: self.source.clone(),
        }
    }
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
                probes: RwLock::new(HashMap::new()),
                subscribers: Mutex::new(Vec::new()),
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
    /// [`RollbackError::Journal`] only when the journal's directory cannot be created or the
    /// file exists but cannot be read at all (permissions, I/O).
    pub fn open(
        cache: Cache,
        policy: Policy,
        journal: impl AsRef<Path>,
    ) -> Result<(Supervisor, JournalReport), RollbackError> {
        let path = journal.as_ref().to_path_buf();
        let jerr = |problem: String| RollbackError::Journal { path: path.clone(), problem };
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| jerr(format!("create {}: {e}", dir.display())))?;
        }
        let mut state = State::default();
        let status = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => JournalStatus::Missing,
            Err(e) => return Err(jerr(format!("read: {e}"))),
            Ok(bytes) => {
                let parsed = journal::decode(&bytes).and_then(|modules| {
                    let mut out = BTreeMap::new();
                    for (name, j) in &modules {
                        let m = ModState::from_journal(j).map_err(|e| format!("module `{name}`: {e}"))?;
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
                        JournalStatus::Corrupt { problem, kept_at }
                    }
                }
            }
        };
        let report = JournalReport { path: path.clone(), modules: state.modules.keys().cloned().collect(), status };
        Ok((Supervisor::build(cache, policy, Some(path), state), report))
    }

    /// The cache the supervisor promotes into.
    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// Sets the health probe of module `name`: run on every candidate after its state was
    /// imported and before it is promoted (and on restore).
    pub fn set_probe(&self, name: &str, probe: Probe) {
        self.inner.probes.write().unwrap_or_else(|p| p.into_inner()).insert(name.to_owned(), probe);
    }

    /// Removes the health probe of `name`.
    pub fn clear_probe(&self, name: &str) {
        self.inner.probes.write().unwrap_or_else(|p| p.into_inner()).remove(name);
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
            if lock(&self.inner.state).pending.is_empty() {
                return;
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

    // ----- deploying -------------------------------------------------------------------

    /// Deploys every module of the bundle at `path`, each through every gate from
    /// [`Gate::Verify`] on. A bundle that fails verification is refused as a whole. Modules
    /// are handled independently: those that pass are promoted even when another fails.
    ///
    /// # Errors
    ///
    /// The first module's error ([`RollbackError::GateFailed`], `AlreadyFailed`,
    /// `Downgrade`, `Pinned`); every outcome is in the history and status of its module.
    pub fn deploy_bundle(&self, path: &Path) -> Result<Vec<Deployed>, RollbackError> {
        self.with_ops(|| self.deploy_bundle_locked(path))
    }

    fn deploy_bundle_locked(&self, path: &Path) -> Result<Vec<Deployed>, RollbackError> {
        let cache = &self.inner.cache;
        let bundle = match Bundle::open(path, cache.limits()) {
            Ok(b) => b,
            Err(e) => {
                return Err(self.gate_failed_unnamed(
                    path.display().to_string(),
                    None,
                    Gate::Verify,
                    GateError::Bundle(e),
                ));
            }
        };
        let target = hotpack_abi::TARGET;
        if let Err(e) = bundle.verify_all() {
            let reason = e.to_string();
            let mut first = None;
            for m in bundle.modules() {
                let meta = &m.manifest().meta;
                let claimed = m
                    .manifest()
                    .library(target)
                    .and_then(|rel| bundle.digest(m.name(), rel))
                    .map(|d| blake3::Hash::from_bytes(d.blake3));
                self.record_gate_failure(m.name(), &meta.version, claimed, Gate::Verify, &reason, false);
                first.get_or_insert((m.name().to_owned(), meta.version.clone(), claimed));
            }
            let error = GateError::Bundle(e);
            return Err(match first {
                Some((name, version, hash)) => {
                    RollbackError::GateFailed { name, version: Some(version), hash, gate: Gate::Verify, error }
                }
                None => self.gate_failed_unnamed(path.display().to_string(), None, Gate::Verify, error),
            });
        }
        let mut done = Vec::new();
        let mut first_err = None;
        for m in bundle.modules() {
            let name = m.name().to_owned();
            let version = m.manifest().meta.version.clone();
            let result = match bundle.read_library(&name, target) {
                Err(e) => {
                    Err(self.gate_failed_named(&name, version.clone(), None, Gate::Load, GateError::Bundle(e), false))
                }
                Ok(bytes) => {
                    let hash = blake3::hash(&bytes);
                    drop(bytes);
                    match self.precheck(&name, &version, &hash) {
                        Err(e) => Err(e),
                        Ok(Some(unchanged)) => Ok(unchanged),
                        Ok(None) => match cache.load_bundle_module(&bundle, m.dir()) {
                            Err(e) => Err(self.gate_failed_named(
                                &name,
                                version.clone(),
                                Some(hash),
                                gates::cache_gate(&e),
                                GateError::Cache(e),
                                true,
                            )),
                            Ok((module, source)) => self.run_gates(Candidate { module, source }),
                        },
                    }
                }
            };
            match result {
                Ok(d) => done.push(d),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Deploys a plain library file: gates from [`Gate::Load`] on.
    ///
    /// # Errors
    ///
    /// As [`deploy_bundle`](Self::deploy_bundle).
    pub fn deploy_file(&self, path: &Path) -> Result<Deployed, RollbackError> {
        self.with_ops(|| self.deploy_file_locked(path))
    }

    fn deploy_file_locked(&self, path: &Path) -> Result<Deployed, RollbackError> {
        let label = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| {
            self.gate_failed_unnamed(
                label.clone(),
                None,
                Gate::Load,
                GateError::Read { path: path.to_path_buf(), source },
            )
        })?;
        let hash = blake3::hash(&bytes);
        if let Some(err) = self.failed_anywhere(&hash) {
            return Err(err);
        }
        let module = match self.inner.cache.loader().load_bytes_with(&bytes, path, Materialize::ContentAddressed) {
            Ok(m) => m,
            Err(e) => {
                return Err(self.gate_failed_unnamed(label, Some(hash), gates::load_gate(&e), GateError::Load(e)));
            }
        };
        drop(bytes);
        self.deploy_locked(module, Source::File(path.to_path_buf()))
    }

    /// Deploys a module the host loaded itself: gates from [`Gate::Abi`] on.
    ///
    /// # Errors
    ///
    /// As [`deploy_bundle`](Self::deploy_bundle).
    pub fn deploy(&self, module: Module, source: Source) -> Result<Deployed, RollbackError> {
        self.with_ops(|| self.deploy_locked(module, source))
    }

    fn deploy_locked(&self, module: Module, source: Source) -> Result<Deployed, RollbackError> {
        match self.precheck(module.name(), module.version(), module.hash())? {
            Some(unchanged) => Ok(unchanged),
            None => {
                self.inner.cache.register(module.clone(), source.clone());
                self.run_gates(Candidate { module, source })
            }
        }
    }

    /// Refusals that run nothing. `Ok(Some)` when the bytes already serve.
    fn precheck(
        &self,
        name: &str,
        version: &semver::Version,
        hash: &blake3::Hash,
    ) -> Result<Option<Deployed>, RollbackError> {
        let mut st = lock(&self.inner.state);
        let m = st.modules.entry(name.to_owned()).or_default();
        let refuse = |m: &mut ModState, err: RollbackError| {
            let reason = err.to_string();
            m.push_history(version.clone(), Some(*hash), HistoryKind::Refused { reason: reason.clone() });
            m.last_error = Some(reason.clone());
            (err, RollbackEvent::Refused { name: name.to_owned(), version: version.clone(), reason })
        };
        let refused = if let Some(p) = &m.pinned {
            if p.hash == *hash {
                return Ok(Some(deployed(name, p, Outcome::Unchanged)));
            }
            let err =
                RollbackError::Pinned { name: name.to_owned(), pinned: p.version.clone(), offered: version.clone() };
            Some(refuse(m, err))
        } else if let Some(a) = m.active.as_ref().filter(|a| a.hash == *hash) {
            return Ok(Some(deployed(name, a, Outcome::Unchanged)));
        } else if let Some(f) = m.failed.get(hash.as_bytes()) {
            let err = RollbackError::AlreadyFailed {
                name: name.to_owned(),
                version: version.clone(),
                hash: *hash,
                gate: f.gate,
                reason: f.reason.clone(),
            };
            Some(refuse(m, err))
        } else if let Some(highest) =
            m.highest_seen.as_ref().filter(|h| version < *h && !self.inner.policy.allow_downgrade)
        {
            let err =
                RollbackError::Downgrade { name: name.to_owned(), offered: version.clone(), highest: highest.clone() };
            Some(refuse(m, err))
        } else {
            None
        };
        drop(st);
        match refused {
            Some((err, event)) => {
                self.emit(event);
                Err(err)
            }
            None => Ok(None),
        }
    }

    fn failed_anywhere(&self, hash: &blake3::Hash) -> Option<RollbackError> {
        let st = lock(&self.inner.state);
        for (name, m) in &st.modules {
            if let Some(f) = m.failed.get(hash.as_bytes()) {
                return Some(RollbackError::AlreadyFailed {
                    name: name.clone(),
                    version: f.version.clone(),
                    hash: *hash,
                    gate: f.gate,
                    reason: f.reason.clone(),
                });
            }
        }
        st.orphan_failed.get(hash.as_bytes()).map(|(label, f)| RollbackError::AlreadyFailed {
            name: label.clone(),
            version: f.version.clone(),
            hash: *hash,
            gate: f.gate,
            reason: f.reason.clone(),
        })
    }

    /// The deploy plan of [`gates`]: Abi, Init, State, Probe, then the promotion.
    fn run_gates(&self, c: Candidate) -> Result<Deployed, RollbackError> {
        let module = &c.module;
        let probe = self.probe_of(module.name());
        if let Err(f) = gates::run(&self.inner.cache, module, probe.as_ref(), gates::DEPLOY) {
            let mark = f.blame == Blame::Candidate;
            return Err(self.gate_failed_named(
                module.name(),
                module.version().clone(),
                Some(*module.hash()),
                f.gate,
                f.error,
                mark,
            ));
        }
        Ok(self.promoted(module.name(), c.summary(), Outcome::Promoted))
    }

    fn probe_of(&self, name: &str) -> Option<Probe> {
        self.inner.probes.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// Bookkeeping after `cache.promote` succeeded.
    fn promoted(&self, name: &str, v: VersionSummary, outcome: Outcome) -> Deployed {
        let name = name.to_owned();
        let from = {
            let mut st = lock(&self.inner.state);
            let probation = self.inner.policy.probation;
            let m = st.modules.entry(name.clone()).or_default();
            let from = m.active.replace(v.clone());
            m.promoted_at = Some(Instant::now());
            m.panics.clear();
            m.activated.insert(v.hash, v.version.clone());
            m.stack.retain(|h| *h != v.hash);
            m.stack.push(v.hash);
            if m.highest_seen.as_ref().is_none_or(|h| v.version > *h) {
                m.highest_seen = Some(v.version.clone());
            }
            // A version rolled back to (or restored) already proved itself.
            if probation.is_zero() || outcome != Outcome::Promoted || m.is_good(&v.hash) {
                m.make_good(v.clone());
            }
            let kind = match (outcome, &from) {
                (Outcome::Restored, _) => HistoryKind::Restored,
                (Outcome::RolledBack, Some(f)) => HistoryKind::RolledBack { from: f.version.clone() },
                (Outcome::Pinned, _) => HistoryKind::Pinned,
                _ => HistoryKind::Promoted,
            };
            m.push_history(v.version.clone(), Some(v.hash), kind);
            from
        };
        self.store_object(&name, &v);
        let event = match outcome {
            Outcome::Restored => RollbackEvent::Restored { name: name.clone(), version: v.clone() },
            Outcome::RolledBack => {
                RollbackEvent::RolledBack { name: name.clone(), from: from.map(|f| f.version), to: v.clone() }
            }
            Outcome::Pinned => RollbackEvent::Pinned { name: name.clone(), version: v.clone() },
            _ => RollbackEvent::Promoted { name: name.clone(), version: v.clone(), from: from.map(|f| f.version) },
        };
        self.emit(event);
        self.retain(&name);
        self.write_journal();
        deployed(&name, &v, outcome)
    }

    /// Records a gate failure of a module whose name is known.
    fn gate_failed_named(
        &self,
        name: &str,
        version: semver::Version,
        hash: Option<blake3::Hash>,
        gate: Gate,
        error: GateError,
        mark: bool,
    ) -> RollbackError {
        self.record_gate_failure(name, &version, hash, gate, &error.to_string(), mark);
        RollbackError::GateFailed { name: name.to_owned(), version: Some(version), hash, gate, error }
    }

    /// What a failed gate leaves behind (see [`gates`]): history, status, event; when
    /// `mark`, the hash marked failed and the candidate retired from the registry.
    fn record_gate_failure(
        &self,
        name: &str,
        version: &semver::Version,
        hash: Option<blake3::Hash>,
        gate: Gate,
        reason: &str,
        mark: bool,
    ) {
        let reason = reason.to_owned();
        {
            let mut st = lock(&self.inner.state);
            let m = st.modules.entry(name.to_owned()).or_default();
            m.push_history(version.clone(), hash, HistoryKind::GateFailed { gate, reason: reason.clone() });
            m.last_error = Some(format!("{version}: {gate} gate failed: {reason}"));
            if let (true, Some(h)) = (mark, hash) {
                m.failed.insert(
                    *h.as_bytes(),
                    Failure { version: version.clone(), gate: Some(gate), reason: reason.clone() },
                );
                m.good.retain(|g| g.hash != h);
            }
        }
        if let (true, Some(h)) = (mark, hash) {
            // The failed candidate leaves the registry (never the serving version).
            let serving = self.inner.cache.current(name).is_some_and(|c| *c.hash() == h);
            if !serving && self.inner.cache.version(name, &h).is_some() {
                let _ = self.inner.cache.retire(name, &h);
            }
            self.write_journal();
        }
        self.emit(RollbackEvent::GateFailed {
            name: name.to_owned(),
            version: Some(version.clone()),
            hash,
            gate,
            reason,
        });
    }

    /// Records a failure of bytes whose module name is unknown.
    fn gate_failed_unnamed(
        &self,
        label: String,
        hash: Option<blake3::Hash>,
        gate: Gate,
        error: GateError,
    ) -> RollbackError {
        let reason = error.to_string();
        if let Some(h) = hash {
            lock(&self.inner.state).orphan_failed.insert(
                *h.as_bytes(),
                (
                    label.clone(),
                    Failure { version: semver::Version::new(0, 0, 0), gate: Some(gate), reason: reason.clone() },
                ),
            );
        }
        self.emit(RollbackEvent::GateFailed { name: label.clone(), version: None, hash, gate, reason });
        RollbackError::GateFailed { name: label, version: None, hash, gate, error }
    }

    // ----- calls and panics ------------------------------------------------------------

    /// Calls `handler` of the active version of `name` through its hot handle. A caught
    /// panic counts against the panic budget and may demote the version (the call itself
    /// still returns the panic as an error).
    ///
    /// # Errors
    ///
    /// [`CallError::NotActive`] when no version was promoted; [`CallError::Module`] with
    /// the module's error or caught panic.
    pub fn call(&self, name: &str, handler: &str, input: &[u8]) -> Result<Vec<u8>, CallError> {
        let hot = self.hot(name).ok_or_else(|| CallError::NotActive { name: name.to_owned() })?;
        let version = hot.current();
        match version.call(handler, input) {
            Ok(out) => Ok(out),
            Err(error) => {
                if error.is_panic() {
                    self.panicked(name, *version.module().hash());
                }
                Err(CallError::Module { name: name.to_owned(), version: version.module().version().clone(), error })
            }
        }
    }

    fn hot(&self, name: &str) -> Option<HotModule> {
        // Never import through the search path here: only promoted versions serve.
        self.inner.cache.loaded_hot_module(name)
    }

    /// Counts one caught panic of the active version of `name`, for hosts that call through
    /// their own `Hot<I>` handles. Returns the demotion when this panic exceeded the budget
    /// and the demotion could run now (when another operation holds the supervisor, the
    /// demotion runs as soon as it finishes, and `None` is returned).
    pub fn record_panic(&self, name: &str) -> Option<Demotion> {
        let hash = lock(&self.inner.state).modules.get(name)?.active.as_ref()?.hash;
        self.panicked(name, hash)
    }

    fn panicked(&self, name: &str, hash: blake3::Hash) -> Option<Demotion> {
        let over = {
            let mut st = lock(&self.inner.state);
            let policy = &self.inner.policy;
            let m = st.modules.get_mut(name)?;
            if m.active.as_ref().is_none_or(|a| a.hash != hash) {
                return None; // a call still in flight on a version already swapped out
            }
            let now = Instant::now();
            m.panics.push_back(now);
            while m.panics.front().is_some_and(|t| now.duration_since(*t) > policy.panic_window) {
                m.panics.pop_front();
            }
            let over = m.panics.len() > policy.panic_budget as usize;
            if over {
                st.pending.insert(name.to_owned());
            }
            over
        };
        if !over {
            return None;
        }
        let demotion = match self.inner.ops.try_lock() {
            Ok(_ops) => self.take_pending_locked(name),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                let _ops = p.into_inner();
                self.take_pending_locked(name)
            }
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        self.kick_pending();
        demotion
    }

    fn take_pending_locked(&self, name: &str) -> Option<Demotion> {
        let was = lock(&self.inner.state).pending.remove(name);
        if was { self.demote_locked(name) } else { None }
    }

    fn drain_pending_locked(&self) {
        let pending: Vec<String> = std::mem::take(&mut lock(&self.inner.state).pending).into_iter().collect();
        for name in pending {
            self.demote_locked(&name);
        }
    }

    /// Demotes the active version of `name` if it is (still) over its panic budget.
    fn demote_locked(&self, name: &str) -> Option<Demotion> {
        let policy = &self.inner.policy;
        let (from, panics, candidates) = {
            let mut st = lock(&self.inner.state);
            let m = st.modules.get_mut(name)?;
            let now = Instant::now();
            while m.panics.front().is_some_and(|t| now.duration_since(*t) > policy.panic_window) {
                m.panics.pop_front();
            }
            let panics = u32::try_from(m.panics.len()).unwrap_or(u32::MAX);
            if panics <= policy.panic_budget {
                return None;
            }
            let from = m.active.clone()?;
            if m.pinned.is_some() {
                // An operator's pin wins over the automatic demotion; say so once per window.
                m.last_error =
                    Some(format!("{}: {panics} panics past the budget, but the module is pinned", from.version));
                m.panics.clear();
                return None;
            }
            let reason = format!("demoted after {panics} panics within {:?}", policy.panic_window);
            m.failed.insert(
                *from.hash.as_bytes(),
                Failure { version: from.version.clone(), gate: None, reason: reason.clone() },
            );
            m.good.retain(|g| g.hash != from.hash);
            m.stack.retain(|h| *h != from.hash);
            m.push_history(from.version.clone(), Some(from.hash), HistoryKind::Demoted { panics });
            m.last_error = Some(format!("{}: {reason}", from.version));
            m.panics.clear();
            let candidates: Vec<VersionSummary> = m.good.iter().rev().cloned().collect();
            (from, panics, candidates)
        };
        let mut to = None;
        for c in candidates {
            if let Some(module) = self.inner.cache.version(name, &c.hash)
                && self.inner.cache.promote(&module).is_ok()
            {
                to = Some(c);
                break;
            }
        }
        let demotion = Demotion { name: name.to_owned(), from: from.clone(), to: to.clone(), panics };
        self.emit(RollbackEvent::Demoted(demotion.clone()));
        match to {
            Some(v) => {
                self.promoted(name, v, Outcome::RolledBack);
            }
            None => {
                if let Some(m) = lock(&self.inner.state).modules.get_mut(name) {
                    m.promoted_at = Some(Instant::now());
                }
                self.write_journal();
            }
        }
        Some(demotion)
    }

    // ----- rollback and pins -----------------------------------------------------------

    /// Rolls `name` back to the version active before the current one (popping the current
    /// one off the activation stack; repeated calls go further back). Only retained versions
    /// this host activated and that did not fail are candidates. The version rolled back to
    /// resumes with the module-owned state it held when it last served.
    ///
    /// # Errors
    ///
    /// [`RollbackError::NoPrevious`], [`RollbackError::Pinned`], [`RollbackError::Cache`].
    pub fn rollback(&self, name: &str) -> Result<Deployed, RollbackError> {
        self.with_ops(|| {
            let (target, pinned) = {
                let mut st = lock(&self.inner.state);
                let m = st.modules.get_mut(name).ok_or_else(|| RollbackError::NoPrevious { name: name.to_owned() })?;
                let active = m.active.clone().ok_or_else(|| RollbackError::NoPrevious { name: name.to_owned() })?;
                let mut stack = m.stack.clone();
                stack.retain(|h| *h != active.hash);
                let mut target = None;
                while let Some(h) = stack.last().copied() {
                    if !m.is_failed(&h) && self.inner.cache.version(name, &h).is_some() {
                        target = Some(h);
                        break;
                    }
                    stack.pop();
                }
                let target = target.ok_or_else(|| RollbackError::NoPrevious { name: name.to_owned() })?;
                if m.pinned.is_none() {
                    m.stack = stack;
                }
                (target, m.pinned.clone())
            };
            let module = self
                .inner
                .cache
                .version(name, &target)
                .ok_or_else(|| RollbackError::NoPrevious { name: name.to_owned() })?;
            if let Some(p) = pinned {
                return Err(RollbackError::Pinned {
                    name: name.to_owned(),
                    pinned: p.version,
                    offered: module.version().clone(),
                });
            }
            self.switch_to(name, &module, Outcome::RolledBack)
        })
    }

    /// Rolls `name` to `to`: a retained version this host activated before and that did
    /// not fail.
    ///
    /// # Errors
    ///
    /// [`RollbackError::NeverActivated`], [`RollbackError::NotRetained`],
    /// [`RollbackError::Pinned`], [`RollbackError::Cache`].
    pub fn rollback_to(&self, name: &str, to: VersionRef) -> Result<Deployed, RollbackError> {
        self.with_ops(|| {
            let module = self.resolve(name, &to)?;
            if let Some(p) = self.pinned_version(name).filter(|p| p.hash != *module.hash()) {
                return Err(RollbackError::Pinned {
                    name: name.to_owned(),
                    pinned: p.version,
                    offered: module.version().clone(),
                });
            }
            self.switch_to(name, &module, Outcome::RolledBack)
        })
    }

    /// Makes `to` (a retained version this host activated) serve and holds it: deploys are
    /// refused with [`RollbackError::Pinned`], and the panic budget no longer demotes it,
    /// until [`unpin`](Self::unpin). Pinning again moves the pin.
    ///
    /// # Errors
    ///
    /// As [`rollback_to`](Self::rollback_to).
    pub fn pin(&self, name: &str, to: VersionRef) -> Result<Deployed, RollbackError> {
        self.with_ops(|| {
            let module = self.resolve(name, &to)?;
            let d = self.switch_to(name, &module, Outcome::Pinned)?;
            if let Some(m) = lock(&self.inner.state).modules.get_mut(name) {
                m.pinned = m.active.clone();
            }
            self.write_journal();
            Ok(d)
        })
    }

    /// Lifts the pin of `name`, if any.
    pub fn unpin(&self, name: &str) {
        self.with_ops(|| {
            let lifted = {
                let mut st = lock(&self.inner.state);
                match st.modules.get_mut(name) {
                    Some(m) => match m.pinned.take() {
                        Some(p) => {
                            m.push_history(p.version.clone(), Some(p.hash), HistoryKind::Unpinned);
                            true
                        }
                        None => false,
                    },
                    None => false,
                }
            };
            if lifted {
                self.emit(RollbackEvent::Unpinned { name: name.to_owned() });
                self.write_journal();
            }
        });
    }

    fn pinned_version(&self, name: &str) -> Option<VersionSummary> {
        lock(&self.inner.state).modules.get(name).and_then(|m| m.pinned.clone())
    }

    /// The retained, activated, not failed module `to` names.
    fn resolve(&self, name: &str, to: &VersionRef) -> Result<Module, RollbackError> {
        let st = lock(&self.inner.state);
        let never = || RollbackError::NeverActivated { name: name.to_owned(), wanted: to.clone() };
        let m = st.modules.get(name).ok_or_else(never)?;
        let retained = self.inner.cache.versions(name);
        let not_retained = || RollbackError::NotRetained { name: name.to_owned(), wanted: to.clone() };
        let hash = match to {
            VersionRef::Hash(h) => {
                if !m.activated.contains_key(h) {
                    return Err(never());
                }
                *h
            }
            VersionRef::Version(v) => {
                // Most recently activated first: the stack, then the good list.
                let mut order: Vec<blake3::Hash> = m.stack.iter().rev().copied().collect();
                order.extend(m.good.iter().rev().map(|g| g.hash));
                order.extend(m.activated.keys().copied());
                let activated: Vec<blake3::Hash> = order
                    .into_iter()
                    .filter(|h| m.activated.contains_key(h) && retained.iter().any(|r| r.hash == *h && r.version == *v))
                    .collect();
                if activated.is_empty() {
                    let ever = m.activated.values().any(|a| a == v);
                    return Err(if ever { not_retained() } else { never() });
                }
                match activated.iter().find(|h| !m.is_failed(h)) {
                    Some(h) => *h,
                    None => return Err(not_retained()),
                }
            }
        };
        if m.is_failed(&hash) {
            return Err(not_retained());
        }
        drop(st);
        self.inner.cache.version(name, &hash).ok_or_else(not_retained)
    }

    fn switch_to(&self, name: &str, module: &Module, outcome: Outcome) -> Result<Deployed, RollbackError> {
        let source = self
            .inner
            .cache
            .versions(name)
            .into_iter()
            .find(|v| v.hash == *module.hash())
            .map(|v| v.source)
            .unwrap_or_else(|| Source::File(module.source().to_path_buf()));
        let summary = VersionSummary { version: module.version().clone(), hash: *module.hash(), source };
        let is_active = lock(&self.inner.state)
            .modules
            .get(name)
            .and_then(|m| m.active.as_ref())
            .is_some_and(|a| a.hash == summary.hash);
        if is_active && outcome == Outcome::RolledBack {
            return Ok(deployed(name, &summary, Outcome::Unchanged));
        }
        if !is_active {
            self.inner.cache.promote(module).map_err(RollbackError::Cache)?;
        }
        Ok(self.promoted(name, summary, outcome))
    }

    // ----- probation, retention, journal -----------------------------------------------

    /// Makes the active versions that served their probation the last good ones (and
    /// journals them). Every supervisor operation does this first; hosts with a non-zero
    /// [`Policy::probation`] may also call it from a timer.
    pub fn settle(&self) {
        self.with_ops(|| {});
    }

    fn settle_locked(&self) {
        let probation = self.inner.policy.probation;
        if probation.is_zero() {
            return;
        }
        let changed = {
            let mut st = lock(&self.inner.state);
            let mut changed = false;
            for m in st.modules.values_mut() {
                if let (Some(a), Some(at)) = (m.active.clone(), m.promoted_at)
                    && !m.is_good(&a.hash)
                    && !m.is_failed(&a.hash)
                    && at.elapsed() >= probation
                {
                    m.make_good(a);
                    changed = true;
                }
            }
            changed
        };
        if changed {
            self.write_journal();
        }
    }

    fn retain(&self, name: &str) {
        let cache = &self.inner.cache;
        let keep = self.inner.policy.retain;
        let (protected, retired) = {
            let st = lock(&self.inner.state);
            let Some(m) = st.modules.get(name) else { return };
            let mut protected: HashSet<blake3::Hash> = HashSet::new();
            protected.extend(m.active.as_ref().map(|a| a.hash));
            protected.extend(m.pinned.as_ref().map(|p| p.hash));
            protected.extend(m.good.iter().rev().take(2).map(|g| g.hash));
            (protected, Vec::<VersionSummary>::new())
        };
        let mut retired = retired;
        let versions = cache.versions(name);
        let mut excess = versions.len().saturating_sub(keep);
        for v in versions {
            if excess == 0 {
                break;
            }
            if protected.contains(&v.hash) || v.current {
                continue;
            }
            if cache.retire(name, &v.hash).is_ok() {
                excess -= 1;
                retired.push(VersionSummary { version: v.version, hash: v.hash, source: v.source });
            }
        }
        if retired.is_empty() {
            return;
        }
        {
            let mut st = lock(&self.inner.state);
            if let Some(m) = st.modules.get_mut(name) {
                m.good.retain(|g| !retired.iter().any(|r| r.hash == g.hash));
                m.stack.retain(|h| !retired.iter().any(|r| r.hash == *h));
            }
        }
        for v in retired {
            self.emit(RollbackEvent::Retired { name: name.to_owned(), version: v });
        }
    }

    fn store_object(&self, name: &str, v: &VersionSummary) {
        let Some(path) = &self.inner.journal else { return };
        let dir = journal_dir(path);
        let Some(module) = self.inner.cache.version(name, &v.hash) else { return };
        if let Err(problem) = journal::store_object(&dir, &v.hash, module.object_path()) {
            self.journal_failed(path, problem);
        }
    }

    fn journal_failed(&self, path: &Path, problem: String) {
        self.emit(RollbackEvent::JournalFailed { path: path.to_path_buf(), problem });
    }

    fn write_journal(&self) {
        let Some(path) = &self.inner.journal else { return };
        let (bytes, keep) = {
            let st = lock(&self.inner.state);
            let modules: BTreeMap<String, JModule> =
                st.modules.iter().map(|(n, m)| (n.clone(), m.to_journal())).collect();
            let keep: HashSet<String> = st
                .modules
                .values()
                .flat_map(|m| m.good.iter().chain(m.active.iter()).map(|g| g.hash.to_hex().to_string()))
                .collect();
            (journal::encode(&modules), keep)
        };
        match journal::write_atomic(path, &bytes) {
            Ok(()) => journal::collect_garbage(&journal_dir(path), &keep),
            Err(problem) => self.journal_failed(path, problem),
        }
    }

    // ----- restore -----------------------------------------------------------------------

    /// After a restart: brings every journaled module back on its pinned or last good
    /// version, from the library copy in the object store (its blake3 checked), through the
    /// gates Load, Abi, Init and Probe. When that version cannot come back, older good
    /// versions are tried; a version that failed or was demoted is never started. Modules
    /// already serving that version are left alone.
    ///
    /// # Errors
    ///
    /// None today beyond what the report carries; the `Result` leaves room for a journal
    /// that cannot be written.
    pub fn restore(&self) -> Result<RestoreReport, RollbackError> {
        Ok(self.with_ops(|| self.restore_locked()))
    }

    fn restore_locked(&self) -> RestoreReport {
        let mut report = RestoreReport::default();
        let Some(path) = self.inner.journal.clone() else { return report };
        let dir = journal_dir(&path);
        let plan: Vec<(String, Vec<VersionSummary>)> = {
            let st = lock(&self.inner.state);
            st.modules
                .iter()
                .map(|(name, m)| {
                    let mut order: Vec<VersionSummary> = Vec::new();
                    order.extend(m.pinned.clone());
                    order.extend(m.good.iter().rev().cloned());
                    order.retain(|v| !m.is_failed(&v.hash));
                    (name.clone(), order)
                })
                .filter(|(_, order)| !order.is_empty())
                .collect()
        };
        let cache = &self.inner.cache;
        for (name, order) in plan {
            let mut done = false;
            for v in order {
                if cache.current(&name).is_some_and(|c| *c.hash() == v.hash) {
                    report.restored.push(deployed(&name, &v, Outcome::Unchanged));
                    done = true;
                    break;
                }
                let problem = |reason: String| RestoreProblem {
                    name: name.clone(),
                    version: Some(v.version.clone()),
                    hash: Some(v.hash),
                    reason,
                };
                let bytes = match journal::read_object(&dir, &v.hash) {
                    Ok(b) => b,
                    Err(e) => {
                        report.problems.push(problem(e));
                        continue;
                    }
                };
                let module =
                    match cache.loader().load_bytes_with(&bytes, &v.source.path(), Materialize::ContentAddressed) {
                        Ok(m) => m,
                        Err(e) => {
                            report.problems.push(problem(format!("{} gate: {e}", gates::load_gate(&e))));
                            continue;
                        }
                    };
                if module.name() != name || *module.version() != v.version {
                    report.problems.push(problem(format!(
                        "the stored library is {} {}, not what the journal says",
                        module.name(),
                        module.version()
                    )));
                    continue;
                }
                cache.register(module.clone(), v.source.clone());
                let probe = self.probe_of(&name);
                if let Err(f) = gates::run(cache, &module, probe.as_ref(), gates::RESTORE) {
                    let reason = format!("{} gate: {}", f.gate, f.error);
                    // Environmental failures (a database down at start) do not condemn a
                    // version that served well; it is skipped this time.
                    if cache.current(&name).is_none_or(|c| *c.hash() != v.hash) {
                        let _ = cache.retire(&name, &v.hash);
                    }
                    report.problems.push(problem(reason));
                    continue;
                }
                report.restored.push(self.promoted(&name, v, Outcome::Restored));
                done = true;
                break;
            }
            if !done {
                report.problems.push(RestoreProblem {
                    name: name.clone(),
                    version: None,
                    hash: None,
                    reason: "no good version could be restored; nothing is active".to_owned(),
                });
            }
        }
        report
    }

    // ----- views -------------------------------------------------------------------------

    /// The status of `name`, if the supervisor knows it.
    pub fn status(&self, name: &str) -> Option<ModuleStatus> {
        let retained: Vec<VersionSummary> = self
            .inner
            .cache
            .versions(name)
            .into_iter()
            .map(|v| VersionSummary { version: v.version, hash: v.hash, source: v.source })
            .collect();
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
                    reason: f.reason.clone(),
                })
                .collect(),
            last_error: m.last_error.clone(),
            recent_panics: u32::try_from(m.panics.iter().filter(|t| now.duration_since(**t) <= window).count())
                .unwrap_or(u32::MAX),
            on_probation: m.active.as_ref().is_some_and(|a| !m.is_good(&a.hash)),
        })
    }

    /// The status of every module the supervisor knows, by name.
    pub fn statuses(&self) -> Vec<ModuleStatus> {
        let names: Vec<String> = lock(&self.inner.state).modules.keys().cloned().collect();
        names.iter().filter_map(|n| self.status(n)).collect()
    }

    /// What happened to `name`, oldest first (the last 512 entries; not persisted).
    pub fn history(&self, name: &str) -> Vec<HistoryEntry> {
        lock(&self.inner.state).modules.get(name).map(|m| m.history.iter().cloned().collect()).unwrap_or_default()
    }
}

fn journal_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn deployed(name: &str, v: &VersionSummary, outcome: Outcome) -> Deployed {
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
