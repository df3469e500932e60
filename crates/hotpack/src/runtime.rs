//! The [`Runtime`]: the cache, the supervisor and the watcher, composed.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::preflight::{PreflightCommand, PreflightError};
use hotpack_archive::{Limits, SearchPath};
use hotpack_cache::{Cache, CacheError, CacheEvent, CacheView, HotModule};
use hotpack_detect::WatchConfig;
use hotpack_loader::{CallError, Interface, LoadError, Loader, Module};
use hotpack_rollback::{
    Deployed, IsolatedProbe, JournalReport, ModuleStatus, Policy, Probe, RestoreReport, RollbackError, RollbackEvent,
    Supervisor, VersionRef, WatchError, WatchReport, Watching,
};

/// Why a runtime operation failed. Whatever was serving keeps serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry refused (not found on the search path, a search problem).
    #[error(transparent)]
    Cache(Box<CacheError>),
    /// The supervisor refused: a failed gate, a downgrade, a pin, nothing to roll back to.
    #[error(transparent)]
    Rollback(Arc<RollbackError>),
    /// The cache directory could not be prepared.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// No preflight executable was found (see [`RuntimeBuilder::preflight`]).
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// The watch-to-deploy loop could not start (the watcher, or its thread).
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// Neither `XDG_CACHE_HOME` nor `HOME` names an absolute directory, and no cache
    /// directory was given.
    #[error(
        "no private cache directory: neither XDG_CACHE_HOME nor HOME is an absolute path; name one (cache_dir, or set \
         XDG_CACHE_HOME)"
    )]
    NoCacheDir,
    /// The cache directory cannot be created, or is not private (owned by another user, or
    /// writable by group or others): nothing in it is loaded. The error names the
    /// directory, its owner and mode.
    #[error("unusable cache directory")]
    CacheDir(#[source] hotpack_util::fs::FsError),
    /// A handler call returned an error or a caught panic.
    #[error("{module} {version}: {handler}: {error}")]
    Call {
        /// The module.
        module: String,
        /// The version that answered.
        version: hotpack_archive::semver::Version,
        /// The handler.
        handler: String,
        /// What happened.
        error: CallError,
    },
    /// The active version has no handler of that name.
    #[error("module `{module}` {version} has no handler named `{handler}`; its handlers: {}", list(available))]
    NoSuchHandler {
        /// The module.
        module: String,
        /// The active version.
        version: hotpack_archive::semver::Version,
        /// The handler asked for.
        handler: String,
        /// The handlers the active version has.
        available: Vec<String>,
    },
    /// No version of that module is active.
    #[error("module `{name}` is not loaded")]
    NotLoaded {
        /// The name.
        name: String,
    },
    /// The module runs in a worker process (isolation), and what was asked for cannot cross
    /// a process: a typed `Hot<I>`, a `HotModule`, a `Module` mapped here. Call its byte
    /// handlers with [`Runtime::call`], or build the runtime with
    /// [`RuntimeBuilder::in_process`].
    #[error(
        "module `{name}` runs in a worker process: typed handles and in-process modules cannot cross a process; call \
         its handlers with Runtime::call, or build the runtime in process"
    )]
    Isolated {
        /// The module.
        name: String,
    },
    /// The worker running the module died under the call in the code of a provider it hosts
    /// for the module (the worker's crash handler noted the site): the provider's version
    /// was demoted; the module serves on, on the same version, in a fresh worker.
    #[error(
        "module `{module}` {version}, handler `{handler}`: its worker {crash} in the code of its provider \
         {provider}; charged to the provider (its version demoted unless pinned); `{module}` serves on",
        crash = .provider.crash
    )]
    ProviderCrashed {
        /// The module called.
        module: String,
        /// Its version (not demoted).
        version: hotpack_archive::semver::Version,
        /// The handler.
        handler: String,
        /// The provider charged, its version that crashed, and how the worker ended (a fresh
        /// one serves the module now).
        provider: Box<hotpack_rollback::CrashedProvider>,
    },
    /// The host is stopping its workers ([`Supervisor::stop_workers`](hotpack_rollback::Supervisor::stop_workers)):
    /// the call was cut, and nothing was demoted.
    #[error("module `{module}`: the host is shutting down; the call was cut")]
    Stopped {
        /// The module called.
        module: String,
    },
    /// The worker running the module died under the call (a crash, the memory cap, the
    /// deadline); the version was demoted and the last good one answers the next call.
    #[error("module `{module}` {version}, handler `{handler}`: its worker (pid {pid}) {crash}; the version is demoted")]
    Crashed {
        /// The module.
        module: String,
        /// The version that crashed.
        version: hotpack_archive::semver::Version,
        /// The handler.
        handler: String,
        /// The worker's pid.
        pid: u32,
        /// How it ended.
        crash: hotpack_rollback::Crash,
    },
    /// A probe that could never run where its module runs: an in-process [`Probe`] on an
    /// isolated runtime, or an [`IsolatedProbe`] on an in-process one
    /// ([`GateError::InProcessProbeInWorker`], [`GateError::IsolatedProbeInProcess`]): refused
    /// at build rather than left unrun.
    ///
    /// [`GateError::InProcessProbeInWorker`]: hotpack_rollback::GateError::InProcessProbeInWorker
    /// [`GateError::IsolatedProbeInProcess`]: hotpack_rollback::GateError::IsolatedProbeInProcess
    #[error(transparent)]
    Probe(Box<hotpack_rollback::GateError>),
    /// The worker could not carry the call (a reply past its cap, a broken channel).
    #[error("module `{module}` {version}: {source}")]
    Worker {
        /// The module.
        module: String,
        /// The version.
        version: hotpack_archive::semver::Version,
        /// What the worker side said.
        source: Box<hotpack_worker::WorkerCallError>,
    },
}

impl From<CacheError> for Error {
    fn from(e: CacheError) -> Self {
        Error::Cache(Box::new(e))
    }
}

impl From<RollbackError> for Error {
    fn from(e: RollbackError) -> Self {
        Error::Rollback(Arc::new(e))
    }
}

/// What the runtime did, for logs and UIs. [`Runtime::subscribe`] delivers them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A registry event (loaded, swapped, retired, ...).
    Cache(CacheEvent),
    /// A supervisor event (promoted, gate failed, refused, demoted, rolled back, ...).
    Rollback(RollbackEvent),
    /// What a deploy of a file did ([`Runtime::deploy`], [`Runtime::import`], [`Runtime::watch`]:
    /// deployed, or refused with the same error value the call returned as
    /// [`Error::Rollback`]; the old version keeps serving), or what the watcher said
    /// (detection degraded, a file it could not read).
    Deploy(WatchReport),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Cache(e) => write!(f, "{e:?}"),
            Event::Rollback(e) => write!(f, "{e}"),
            Event::Deploy(report) => write!(f, "{report}"),
        }
    }
}

/// Configures a [`Runtime`]. Every setting has a default; see each method.
#[derive(Clone, Default)]
pub struct RuntimeBuilder {
    search: Vec<PathBuf>,
    cache_dir: Option<PathBuf>,
    journal: Option<PathBuf>,
    limits: Limits,
    policy: Policy,
    /// `None`: `WatchConfig`'s default.
    quiet: Option<Duration>,
    probes: Vec<(String, Probe)>,
    iso_probes: Vec<(String, IsolatedProbe)>,
    /// `None`: off; `Some(None)`: found at build ([`PreflightCommand::find`]).
    preflight: Option<Option<PreflightCommand>>,
    isolation: Option<hotpack_rollback::Isolation>,
    resident: Option<hotpack_worker::ResidentData>,
}

impl fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("search", &self.search)
            .field("cache_dir", &self.cache_dir)
            .field("journal", &self.journal)
            .field("policy", &self.policy)
            .field("quiet", &self.quiet)
            .finish_non_exhaustive()
    }
}

impl RuntimeBuilder {
    /// Trust: deploy only bundles signed by one of `keys` ([`Policy::trusted_keys`]; the rest
    /// of the policy: [`policy`](Self::policy)): unsigned and
    /// foreign-signed bundles, and plain library files (which cannot carry a signature),
    /// are refused at [`Gate::Signature`](hotpack_rollback::Gate::Signature), before a byte
    /// of them is written to a cache or loaded; whatever was serving keeps serving. Adds
    /// to the keys already given. Without any key, unsigned bundles are accepted.
    pub fn trusted_keys(mut self, keys: impl IntoIterator<Item = hotpack_archive::PublicKey>) -> Self {
        self.policy.trusted_keys.extend(keys);
        self
    }

    /// Appends an entry to the search path: a directory, a bundle, or `bundle.zip/sub/dir`.
    pub fn search_path(mut self, entry: impl Into<PathBuf>) -> Self {
        self.search.push(entry.into());
        self
    }

    /// Where loaded libraries are materialized (default: [`default_cache_dir`](crate::default_cache_dir)).
    /// Created with mode 0700; refused at build when another user owns it or group/others
    /// may write to it.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Keep a journal at `path`, so a restarted host comes back on its last good versions
    /// ([`Runtime::restore`]). Default: no journal.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = Some(path.into());
        self
    }

    /// Caps for the bundles the runtime opens.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The whole supervisor policy at once ([`Policy`]: versions retained, panic budget,
    /// downgrades, probation, trusted keys, journal policy, version cap), replacing what was
    /// set before (trusted keys included): `policy(Policy { retain: 2, ..Policy::default() })`.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// A health probe for module `name`, run on every candidate before it is promoted, in
    /// process: it gets the loaded [`Module`]. An isolated runtime ([`isolate`](Self::isolate))
    /// never maps a module in the host, so there [`build`](Self::build) refuses this kind
    /// ([`Error::Probe`]): use [`isolated_probe`](Self::isolated_probe).
    pub fn probe(mut self, name: impl Into<String>, probe: Probe) -> Self {
        self.probes.push((name.into(), probe));
        self
    }

    /// A health probe for module `name` on an isolated runtime, run on every candidate
    /// before it is promoted: it gets a [`WorkerProxy`](hotpack_rollback::WorkerProxy) whose
    /// `call` runs a handler in the candidate's worker (`Err` refuses the candidate at
    /// [`Gate::Probe`](hotpack_rollback::Gate::Probe); the version serving keeps serving). On
    /// an in-process runtime it could never run: [`build`](Self::build) refuses it
    /// ([`Error::Probe`]).
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// let builder = hotpack::Runtime::builder().isolated_probe(
    ///     "greeter",
    ///     Arc::new(|m: &hotpack::rollback::WorkerProxy<'_>| match m.call("greet", b"probe")? {
    ///         out if out.starts_with(b"hello") => Ok(()),
    ///         out => Err(format!("greet answered {:?}", String::from_utf8_lossy(&out)).into()),
    ///     }),
    /// );
    /// ```
    pub fn isolated_probe(mut self, name: impl Into<String>, probe: IsolatedProbe) -> Self {
        self.iso_probes.push((name.into(), probe));
        self
    }

    /// Load every deployed candidate in a short-lived child process first ([`Gate::Preflight`],
    /// after verify, before the host maps it): one that crashes, exits, hangs or runs away
    /// with memory there is refused and never mapped. The child is
    /// [`PreflightCommand::find`]'s (`$HOTPACK_PREFLIGHT_EXE`, else `hotpack-preflight` or
    /// `hotpack` next to this program or on `PATH`); [`build`](Self::build) fails when none
    /// is found. Default: off.
    ///
    /// [`Gate::Preflight`]: hotpack_rollback::Gate::Preflight
    pub fn preflight(mut self, on: bool) -> Self {
        self.preflight = on.then_some(None);
        self
    }

    /// As [`preflight(true)`](Self::preflight), with the given child command (for example
    /// [`PreflightCommand::current_exe`] in a binary that calls
    /// [`child_main_if_marked`](crate::preflight::child_main_if_marked)).
    pub fn preflight_with(mut self, command: PreflightCommand) -> Self {
        self.preflight = Some(Some(command));
        self
    }

    /// How long a file changed in place (a burst of writes without a close) must stay
    /// quiet before [`Runtime::watch`] deploys it: the default of `hotpack-detect`'s
    /// [`WatchConfig`] (50 ms). A rename into place or a close after writing is deployed
    /// as soon as its event arrives, whatever this is.
    pub fn quiet(mut self, quiet: Duration) -> Self {
        self.quiet = Some(quiet);
        self
    }

    /// Runs every deployed and restored version in a worker process (`Isolation`: the
    /// worker command, per-call deadline and memory cap, resident data): a crash, `exit`,
    /// `abort`, stack overflow, runaway allocation or hang ends only that worker and demotes
    /// the version. Only byte handlers ([`Runtime::call`]) cross a process; `hot`,
    /// `hot_module` and `import` of such a module answer [`Error::Isolated`].
    ///
    /// The library default is in process ([`in_process`](Self::in_process)): typed
    /// interfaces (`Hot<I>`, function tables at a few nanoseconds a call) are what most
    /// library hosts use, and a worker needs an executable that runs the worker entry. The
    /// `hotpack serve` and `hotpack dev` commands isolate by default.
    pub fn isolate(mut self, isolation: hotpack_rollback::Isolation) -> Self {
        self.isolation = Some(isolation);
        self
    }

    /// Resident data for [`Runtime::call_resident`] in process (under isolation, the
    /// `Isolation`'s data is what workers map).
    pub fn resident_data(mut self, data: hotpack_worker::ResidentData) -> Self {
        self.resident = Some(data);
        self
    }

    /// Runs module code in this process (the library default): typed handles work, and a
    /// module that crashes takes the process with it.
    pub fn in_process(mut self) -> Self {
        self.isolation = None;
        self
    }

    /// Builds the runtime, returning the journal report when a journal was configured.
    ///
    /// # Errors
    ///
    /// [`Error::Load`] when the cache directory cannot be created, [`Error::Rollback`]
    /// when the journal's directory cannot be created or read, [`Error::Probe`] when a probe
    /// could never run (an in-process [`probe`](Self::probe) on an isolated runtime, an
    /// [`isolated_probe`](Self::isolated_probe) on an in-process one).
    pub fn build_with_report(self) -> Result<(Runtime, Option<JournalReport>), Error> {
        let dir = self.cache_dir.map_or_else(crate::default_cache_dir, Ok)?;
        hotpack_util::fs::ensure_private_dir(&dir).map_err(Error::CacheDir)?;
        let preflight = self.preflight.map(|c| c.map_or_else(PreflightCommand::find, Ok)).transpose()?;
        let loader = Loader::new(&dir)?;
        let mut search = SearchPath::with_limits(self.limits.clone());
        self.search.iter().for_each(|entry| search.push(entry.clone()));
        let cache = Cache::with_limits(loader, search, self.limits);
        let (supervisor, report) = Supervisor::with_journal(cache.clone(), self.policy, self.journal.as_deref())?;
        self.probes.into_iter().for_each(|(name, probe)| supervisor.set_probe(&name, probe));
        self.iso_probes.into_iter().for_each(|(name, probe)| supervisor.set_isolated_probe(&name, probe));
        supervisor.set_isolation(self.isolation);
        if let Some(error) = supervisor.unrunnable_probe() {
            return Err(Error::Probe(Box::new(error)));
        }
        supervisor.set_resident_data(self.resident);
        let scratch = |c: PreflightCommand| if c.has_scratch_dir() { c } else { c.scratch_dir(dir.join("preflight")) };
        supervisor.set_preflight_command(preflight.map(scratch));
        let runtime = Runtime {
            inner: Arc::new(Inner { cache, supervisor, quiet: self.quiet, subscribers: Mutex::new(Vec::new()) }),
        };
        Ok((runtime, report))
    }

    /// Builds the runtime.
    ///
    /// # Errors
    ///
    /// As [`build_with_report`](Self::build_with_report).
    pub fn build(self) -> Result<Runtime, Error> {
        self.build_with_report().map(|(runtime, _)| runtime)
    }
}

struct Inner {
    /// The cache itself stays here: callers get a read-only view, so nothing they reach
    /// makes code current without the supervisor's gates.
    cache: Cache,
    supervisor: Supervisor,
    quiet: Option<Duration>,
    subscribers: Mutex<Vec<mpsc::Sender<Event>>>,
}

/// The hotpack runtime: a module registry with hot handles, deploys through promotion
/// gates, a panic budget, rollback, and a watcher. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("cache", &self.inner.cache).finish_non_exhaustive()
    }
}

use hotpack_util::name::list;
use hotpack_util::sync::{forward, lock};

impl Runtime {
    /// A builder with the defaults.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// The module registry, read-only: what is registered and current, handles on current
    /// versions, counters. Code becomes current only through the runtime's deploy, import,
    /// reload, watch, restore and rollback, each through the supervisor's gates.
    pub fn cache(&self) -> CacheView {
        self.inner.cache.view()
    }

    /// The supervisor (gates, history, rollback, pins, journal).
    pub fn supervisor(&self) -> &Supervisor {
        &self.inner.supervisor
    }

    /// Events from now on (every subscriber gets every event).
    pub fn subscribe(&self) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        forward(self.cache().subscribe(), tx.clone(), Event::Cache);
        forward(self.inner.supervisor.subscribe(), tx.clone(), Event::Rollback);
        lock(&self.inner.subscribers).push(tx);
        rx
    }

    fn emit(&self, event: Event) {
        lock(&self.inner.subscribers).retain(|tx| tx.send(event.clone()).is_ok());
    }

    /// Appends an entry to the search path while the program runs (`sys.path.append`).
    pub fn add_search_path(&self, entry: impl Into<PathBuf>) {
        self.inner.cache.add_search_entry(entry);
    }

    /// After a restart: brings every journaled module back on its last good version.
    ///
    /// # Errors
    ///
    /// [`Error::Rollback`] when the journal cannot be written.
    pub fn restore(&self) -> Result<RestoreReport, Error> {
        Ok(self.inner.supervisor.restore()?)
    }

    /// The active version of `name`; on first use (or after [`invalidate`](Self::invalidate))
    /// it is found on the search path and deployed through the gates, like
    /// `importlib.import_module`.
    ///
    /// # Errors
    ///
    /// [`Error::Cache`] when it is not on the search path, [`Error::Rollback`] when it fails
    /// a gate.
    pub fn import(&self, name: &str) -> Result<Module, Error> {
        if !self.cache().is_invalidated(name)
            && let Some(module) = self.cache().current(name)
        {
            return Ok(module);
        }
        // The cache resolves (the same path forms and name check as `Cache::import`); the
        // supervisor deploys exactly that version through the gates.
        let source = self.cache().resolve(name)?;
        let path = source.file().map_or_else(|| source.path(), Path::to_path_buf);
        self.report(WatchReport::of(&path, self.inner.supervisor.deploy_source(name, &source).map(|d| vec![d])))?;
        self.in_process(name, false)?;
        self.cache().current(name).ok_or_else(|| Error::NotLoaded { name: name.to_owned() })
    }

    /// Finds `name` on the search path again and deploys what is there now.
    ///
    /// # Errors
    ///
    /// As [`import`](Self::import); the old version keeps serving.
    pub fn reload(&self, name: &str) -> Result<Module, Error> {
        self.invalidate(name);
        self.import(name)
    }

    /// Marks `name` so its next [`import`](Self::import) looks on the search path again (the
    /// active version keeps serving until then).
    pub fn invalidate(&self, name: &str) {
        self.inner.cache.invalidate(name);
    }

    /// Deploys a bundle (`.zip`) or a plain library file through the promotion gates
    /// (verify, load, ABI, init, state, probe); modules that pass serve at once. A refusal
    /// leaves the old version serving, is recorded in the module's history and emitted as
    /// an [`Event::Deploy`] ([`WatchReport::Refused`]).
    ///
    /// # Errors
    ///
    /// [`Error::Rollback`]: the first module's failed gate, downgrade or pin.
    pub fn deploy(&self, path: &Path) -> Result<Vec<Deployed>, Error> {
        self.report(WatchReport::of(path, self.inner.supervisor.deploy_path(path)))
    }

    /// Emits what a deploy did (or what the watcher said) and returns the deploy's result.
    fn report(&self, report: WatchReport) -> Result<Vec<Deployed>, Error> {
        let result = match &report {
            WatchReport::Refused { error, .. } => Err(Error::Rollback(Arc::clone(error))),
            WatchReport::Deployed { deployed, .. } => Ok(deployed.clone()),
            _ => Ok(Vec::new()),
        };
        self.emit(Event::Deploy(report));
        result
    }

    /// Calls `handler` of the active version of `module`. A caught panic counts against the
    /// panic budget; past it the version is demoted to the last good one.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoaded`]; [`Error::NoSuchHandler`] (naming the handlers that exist) for an
    /// unknown handler; [`Error::Call`] with the handler's error or caught panic.
    pub fn call(&self, module: &str, handler: &str, input: &[u8]) -> Result<Vec<u8>, Error> {
        self.inner.supervisor.call(module, handler, input).map_err(|e| call_error(module, handler, e))
    }

    /// As [`call`](Self::call), with the resident data (`RuntimeBuilder::resident_data`, or
    /// the isolation's) as the input: a worker reads its own read-only map of it, so a large
    /// data set is never copied per call.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_resident(&self, module: &str, handler: &str) -> Result<Vec<u8>, Error> {
        self.inner.supervisor.call_resident(module, handler).map_err(|e| call_error(module, handler, e))
    }

    /// Ends the worker answering for `module` now (a run the user gave up on); its call
    /// returns [`Error::Crashed`] and the version is demoted.
    pub fn stop_worker(&self, module: &str) {
        self.inner.supervisor.stop_worker(module);
    }

    /// A hot handle on the handlers of `name`: follows every promotion and rollback. Calls
    /// through it bypass the panic budget (see [`Supervisor::record_panic`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotLoaded`] when no version of `name` is active.
    pub fn hot_module(&self, name: &str) -> Result<HotModule, Error> {
        self.in_process(name, false)?;
        self.cache().hot_module(name).ok_or_else(|| Error::NotLoaded { name: name.to_owned() })
    }

    /// A typed hot handle on interface `I` of `name` (imported if needed). Later candidates
    /// must provide `I` with the same id, or they fail the ABI gate.
    ///
    /// # Errors
    ///
    /// As [`import`](Self::import), or [`Error::Cache`] when the version does not provide `I`.
    pub fn hot<I: Interface>(&self, name: &str) -> Result<hotpack_cache::Hot<I>, Error> {
        self.in_process(name, self.inner.supervisor.is_isolated())?;
        self.import(name)?;
        Ok(self.cache().hot::<I>(name)?)
    }

    /// [`Error::Isolated`] when `name` runs in a worker (or `isolated`: the runtime isolates).
    fn in_process(&self, name: &str, isolated: bool) -> Result<(), Error> {
        let local = !isolated && !self.inner.supervisor.runs_in_worker(name);
        if local { Ok(()) } else { Err(Error::Isolated { name: name.to_owned() }) }
    }

    /// Rolls `name` back to the version this host ran before the current one.
    ///
    /// # Errors
    ///
    /// [`Error::Rollback`] (`NoPrevious`, `Pinned`, `UnknownModule`).
    pub fn rollback(&self, name: &str) -> Result<Deployed, Error> {
        Ok(self.inner.supervisor.rollback(name)?)
    }

    /// Rolls `name` to a version (semver or hash) this host ran before.
    ///
    /// # Errors
    ///
    /// [`Error::Rollback`].
    pub fn rollback_to(&self, name: &str, to: impl Into<VersionRef>) -> Result<Deployed, Error> {
        Ok(self.inner.supervisor.rollback_to(name, to.into())?)
    }

    /// The status of `name` (see [`modules`](Self::modules)).
    pub fn status(&self, name: &str) -> Option<ModuleStatus> {
        self.inner.supervisor.status(name)
    }

    /// Every supervised module with its serving version, handlers, history and last error.
    pub fn modules(&self) -> Vec<ModuleStatus> {
        self.inner.supervisor.statuses()
    }

    /// Deploys every bundle and library directly inside each search-path directory (and
    /// every search-path entry that is one), in name order. Returns each file's outcome.
    pub fn deploy_all(&self) -> Vec<(PathBuf, Result<Vec<Deployed>, Error>)> {
        let files = hotpack_rollback::deployable_files(&self.cache().search_entries());
        files.into_iter().map(|f| (f.clone(), self.deploy(&f))).collect()
    }

    /// Watches the search path and deploys every bundle or library, directly inside a
    /// search-path directory, whose content changed (created or replaced; removals are
    /// ignored: the version serving keeps serving), from the bytes the watcher confirmed:
    /// the supervisor's one watch-to-deploy loop ([`Supervisor::watch`]). Failures are emitted
    /// as events; the thread goes on. Returns once the watches are in place; dropping the
    /// handle stops it.
    ///
    /// # Errors
    ///
    /// [`Error::Watch`] when the watcher cannot start.
    pub fn watch(&self) -> Result<Watching, Error> {
        let runtime = self.clone();
        let config = self.inner.quiet.map_or_else(WatchConfig::new, |quiet| WatchConfig::new().quiet(quiet));
        let report = move |r| drop(runtime.report(r));
        Ok(self.inner.supervisor.watch(&self.cache().search_entries(), &config, report)?)
    }
}

/// A supervisor's call error in the facade's terms.
fn call_error(module: &str, handler: &str, e: hotpack_rollback::SupervisorCallError) -> Error {
    use hotpack_rollback::SupervisorCallError as S;
    let handler = handler.to_owned();
    match e {
        S::Module { name, version, error } => Error::Call { module: name, version, handler, error },
        S::NoSuchHandler { name, version, handler, available } => {
            Error::NoSuchHandler { module: name, version, handler, available }
        }
        S::Crashed { name, version, pid, crash } => Error::Crashed { module: name, version, handler, pid, crash },
        S::ProviderCrashed { name, version, provider, .. } => {
            Error::ProviderCrashed { module: name, version, handler, provider }
        }
        S::Stopped { name, .. } => Error::Stopped { module: name },
        S::Worker { name, version, error } => Error::Worker { module: name, version, source: error },
        _ => Error::NotLoaded { name: module.to_owned() },
    }
}
