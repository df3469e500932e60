//! The adapter between `serve` and the `hotpack` facade: every use of the hotpack API by the
//! server is in this file, so a rename in the facade is a change here only.
//!
//! It decides nothing about deploying: the folder is watched and deployed by the supervisor's
//! one watch-to-deploy loop (`Supervisor::watch`, `deploy_all`, the watcher's confirmed bytes),
//! the version cap is the policy's (`Policy::max_versions`, enforced before a candidate is
//! loaded), and `--probe` is the supervisor's default probe (each spec applies to the module
//! names it names). What stays here is the server's bookkeeping of each outcome: log lines,
//! counters, and the files refused by their last deploy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hotpack::preflight::PreflightCommand;
use hotpack::rollback::{Happened, Policy, Record, RollbackError, RollbackEvent, WatchReport};
use hotpack::{Error, Event, Runtime};

use super::metrics::Metrics;
use crate::log::Escaped;

/// A `--probe [MODULE/]HANDLER[=INPUT]`.
#[derive(Debug, Clone)]
pub(crate) struct ProbeSpec {
    module: Option<String>,
    handler: String,
    input: Vec<u8>,
}

impl std::str::FromStr for ProbeSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (target, input) = s.split_once('=').unwrap_or((s, ""));
        let (module, handler) = match target.split_once('/') {
            Some((m, h)) => (Some(m.to_owned()), h),
            None => (None, target),
        };
        if handler.is_empty() || module.as_deref() == Some("") {
            return Err(format!("expected [MODULE/]HANDLER[=INPUT], found `{s}`"));
        }
        Ok(ProbeSpec { module, handler: handler.to_owned(), input: input.as_bytes().to_vec() })
    }
}

/// What the server needs from the runtime.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostConfig {
    pub(crate) quiet: Duration,
    pub(crate) allow_downgrade: bool,
    pub(crate) max_versions: usize,
    pub(crate) preflight: Option<PreflightConfig>,
    /// `None` with `--in-process`; else the per-call deadline and the worker memory cap.
    pub(crate) isolation: Option<IsolationConfig>,
}

/// Workers: per-call deadline (`None`: no deadline) and address-space budget in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IsolationConfig {
    pub(crate) call_deadline: Option<Duration>,
    pub(crate) memory: u64,
}

/// The worker settings of `serve` and `dev`: this very binary is the worker (`hotpack
/// __worker`, see main).
pub(crate) fn isolation(
    config: IsolationConfig,
    data: Option<hotpack::worker::ResidentData>,
) -> anyhow::Result<hotpack::rollback::Isolation> {
    let command = hotpack::worker::WorkerCommand::current_exe()?;
    let limits =
        hotpack::worker::WorkerLimits::default().call_deadline(config.call_deadline).memory(Some(config.memory));
    Ok(hotpack::rollback::Isolation { command, limits, data })
}

/// `--preflight`: the child's timeout and address-space limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PreflightConfig {
    pub(crate) timeout: Duration,
    pub(crate) memory: u64,
}

/// The result of a handler call, in HTTP terms.
pub(crate) enum CallOutcome {
    Ok(Vec<u8>),
    NotFound(String),
    Failed(String),
    /// The worker died (a crash, the memory cap, the deadline): 502 with the reason.
    Crashed(String),
    /// The host is shutting down and cut the call: 503.
    Unavailable(String),
}

/// The runtime plus the server's own bookkeeping (refused files, counters).
#[derive(Clone)]
pub(crate) struct Host {
    runtime: Runtime,
    folder: PathBuf,
    journal: PathBuf,
    config: HostConfig,
    probes: Arc<Vec<ProbeSpec>>,
    /// Files refused by their last deploy (removed when the file deploys, or when the module
    /// it was refused for serves those very bytes).
    refused: Arc<Mutex<BTreeMap<PathBuf, Refusal>>>,
    metrics: Arc<Metrics>,
    /// Told of every call that reached a module (`--fleet`: the analysis meter).
    observer: std::sync::OnceLock<CallObserver>,
}

/// What a call that reached a module came to, for a [`CallObserver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// Answered.
    Ok,
    /// The handler returned an error.
    Error,
    /// The handler panicked (caught).
    Panic,
    /// The worker died under the call, or the call passed its deadline.
    Crash,
    /// The worker died under the call in the code of this provider (charged to it).
    ProviderCrash(String),
}

/// Told of each call that reached a module: its name, what it came to, how long it took.
pub(crate) type CallObserver = Arc<dyn Fn(&str, CallKind, Duration) + Send + Sync>;

impl Host {
    /// Builds the runtime for `folder` with its journal in the cache directory, restores the
    /// last good versions and starts logging the runtime's events.
    pub(crate) fn start(
        folder: &Path,
        config: HostConfig,
        probes: Vec<ProbeSpec>,
        metrics: Arc<Metrics>,
        trusted: Vec<hotpack::archive::PublicKey>,
    ) -> anyhow::Result<Host> {
        // One journal per served folder, in the cache directory (never inside the watched
        // folder), so a restarted server comes back on the last good versions.
        let key = hotpack::detect::blake3::hash(folder.as_os_str().as_encoded_bytes()).to_hex();
        let journal = hotpack::default_cache_dir()?.join("serve").join(&key[..16]).join("journal.json");
        let policy = Policy {
            allow_downgrade: config.allow_downgrade,
            max_versions: Some(config.max_versions),
            trusted_keys: trusted,
            ..Policy::default()
        };
        let mut builder = Runtime::builder().search_path(folder).journal(&journal).policy(policy);
        if let Some(pf) = config.preflight {
            // This very binary is the child (`hotpack __preflight ...`, see main).
            let mut command = PreflightCommand::current_exe().timeout(pf.timeout).memory_limit(Some(pf.memory));
            for p in &probes {
                command = command.call(p.module.as_deref(), &p.handler, &p.input);
            }
            builder = builder.preflight_with(command);
        }
        if let Some(iso) = config.isolation {
            builder = builder.isolate(isolation(iso, None)?);
        }
        let (runtime, report) = builder.build_with_report()?;
        if let Some(report) = report.filter(|r| matches!(r.status, hotpack::rollback::JournalStatus::Corrupt { .. })) {
            tracing::warn!("journal {}: {}", crate::log::path(&journal), Escaped(&report.to_string()));
        }
        let host = Host {
            runtime,
            folder: folder.to_path_buf(),
            journal,
            config,
            probes: Arc::new(probes),
            refused: Arc::default(),
            metrics,
            observer: std::sync::OnceLock::new(),
        };
        host.log_events()?;
        let restored = host.runtime.restore()?;
        for problem in &restored.problems {
            tracing::warn!(module = %Escaped(&problem.name), "could not restore: {}", Escaped(&problem.error.to_string()));
        }
        // After the restore (restored versions passed their probes when deployed).
        host.set_probes();
        Ok(host)
    }

    /// One log line per runtime event that is not one of serve's deploys (rollbacks,
    /// demotions, journal failures); deploys and watch problems go through `on_report`.
    fn log_events(&self) -> anyhow::Result<()> {
        let events = self.runtime.subscribe();
        let host = self.clone();
        std::thread::Builder::new()
            .name("hotpack-events".into())
            .spawn(move || {
                for event in events.iter() {
                    host.on_event(event);
                }
            })
            .context("cannot start the event thread")?;
        Ok(())
    }

    fn on_event(&self, event: Event) {
        let metrics = &self.metrics;
        match event {
            // serve's own deploys (the folder's watch and `deploy_all`) are logged and counted
            // by `on_report`, on the thread that deployed, before the next file is looked at.
            Event::Deploy(_) => {}
            Event::Rollback(RollbackEvent::Record(r)) => on_record(metrics, &r),
            Event::Rollback(RollbackEvent::JournalFailed { path, error }) => {
                let problem = crate::log::error_chain(&*error);
                tracing::error!(
                    "journal {}: {}; changes are not durable (a restart may resume an older version) until a \
                     journal write succeeds",
                    crate::log::path(&path),
                    Escaped(&problem)
                );
            }
            Event::Rollback(RollbackEvent::JournalRecovered { path }) => {
                tracing::info!("journal {}: written again; durable", crate::log::path(&path));
            }
            _ => {}
        }
    }

    /// The runtime (the fleet agent deploys into it).
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Watches the folder with the supervisor's watch-to-deploy loop; every outcome goes to
    /// [`on_report`](Self::on_report). The watch lives as long as the returned guard.
    pub(crate) fn watch(&self) -> anyhow::Result<hotpack::Watching> {
        let host = self.clone();
        let config = hotpack::detect::WatchConfig::new().quiet(self.config.quiet);
        let roots = [self.folder.clone()];
        let watching = self.runtime.supervisor().watch(&roots, &config, move |r| host.on_report(r));
        watching.with_context(|| format!("cannot watch {}", crate::log::path(&self.folder)))
    }

    /// Deploys every bundle and library directly in the folder, in name order.
    pub(crate) fn deploy_all(&self) {
        for report in self.runtime.supervisor().deploy_all(std::slice::from_ref(&self.folder)) {
            self.on_report(report);
        }
    }

    /// Logs and counts what a deploy did (or what the watcher said), and keeps the refused
    /// files for `/-/modules`.
    fn on_report(&self, report: WatchReport) {
        match report {
            WatchReport::Deployed { path, deployed } => {
                lock(&self.refused).remove(&path);
                // A dependent refused for a missing provider may have been promoted with it.
                self.forget_refusals_now_serving();
                for d in deployed {
                    self.metrics.deploy(if d.outcome == Happened::Unchanged { "unchanged" } else { "promoted" });
                    tracing::info!(
                        module = %Escaped(&d.name),
                        version = %d.version,
                        hash = %&d.hash.to_hex()[..12],
                        "deployed {} {} from {}: {}",
                        Escaped(&d.name),
                        d.version,
                        crate::log::path(&path),
                        outcome_words(&d.outcome)
                    );
                }
            }
            WatchReport::Refused { path, error } => {
                let over_cap = matches!(*error, RollbackError::OverVersionCap { .. });
                let mut reason = crate::log::error_chain(&*error);
                if over_cap {
                    reason.push_str(" (--max-versions)");
                }
                let module = refused_module(&error);
                let names = module.as_ref().map(|(name, version, _)| format!("{name} {version}")).unwrap_or_default();
                self.metrics.deploy(if over_cap { "over_version_cap" } else { "refused" });
                // Recorded before the log line: whoever reads the line finds it in /-/modules.
                let serving_check = module.and_then(|(name, _, hash)| Some((name, hash?)));
                lock(&self.refused).insert(path.clone(), Refusal { reason: reason.clone(), module: serving_check });
                tracing::warn!(
                    module = %Escaped(&names),
                    "refused {}: {}",
                    crate::log::path(&path),
                    Escaped(&reason)
                );
            }
            WatchReport::Watch(event) => match &*event {
                hotpack::detect::Event::Warning(w) => tracing::warn!("watch: {}", Escaped(&w.to_string())),
                hotpack::detect::Event::Error(e) => tracing::warn!("watch: {}", Escaped(&e.to_string())),
                _ => {}
            },
            _ => {}
        }
    }

    /// Drops the refusals of files whose module now serves the very bytes refused (a
    /// dependent that waited for its provider is promoted when the provider is).
    fn forget_refusals_now_serving(&self) {
        let serving = self.runtime.modules();
        lock(&self.refused).retain(|_, refusal| {
            refusal
                .module
                .as_ref()
                .is_none_or(|(name, hash)| !serving.iter().any(|m| &m.name == name && m.hash() == Some(*hash)))
        });
    }

    /// `--probe`: the supervisor's default probe, in process and in a worker; each spec
    /// applies to the module it names (or to every module), all of them in order.
    fn set_probes(&self) {
        if self.probes.is_empty() {
            return;
        }
        let (specs, iso_specs) = (Arc::clone(&self.probes), Arc::clone(&self.probes));
        self.runtime.supervisor().set_default_probes(
            Some(Arc::new(move |m: &hotpack::loader::Module| run_probes(&specs, m.name(), |h, i| m.call(h, i)))),
            // A candidate in a worker is probed through a proxy that calls into its worker.
            Some(Arc::new(move |m: &hotpack::rollback::WorkerProxy<'_>| {
                run_probes(&iso_specs, m.name(), |h, i| m.call(h, i))
            })),
        );
    }

    /// Calls a handler, counting latency and panics.
    pub(crate) fn call(&self, module: &str, handler: &str, input: &[u8]) -> CallOutcome {
        let started = Instant::now();
        let result = self.runtime.call(module, handler, input);
        let took = started.elapsed();
        self.metrics.handler_latency(took);
        let (kind, outcome) = match result {
            Ok(out) => (Some(CallKind::Ok), CallOutcome::Ok(out)),
            Err(e @ Error::NotLoaded { .. }) => (None, CallOutcome::NotFound(e.to_string())),
            // Names the handlers that exist.
            Err(e @ Error::NoSuchHandler { .. }) => (None, CallOutcome::NotFound(e.to_string())),
            Err(e @ Error::Call { .. }) => {
                let panicked = matches!(&e, Error::Call { error: hotpack::loader::CallError::Panicked { .. }, .. });
                if panicked {
                    self.metrics.panics.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                (Some(if panicked { CallKind::Panic } else { CallKind::Error }), CallOutcome::Failed(e.to_string()))
            }
            // The worker died under the call: the version is demoted, the next call is
            // answered by the last good one.
            Err(e @ (Error::Crashed { .. } | Error::Worker { .. })) => {
                (Some(CallKind::Crash), CallOutcome::Crashed(e.to_string()))
            }
            // The crash is the provider's: it was demoted, this module serves on.
            Err(e @ Error::ProviderCrashed { .. }) => {
                let Error::ProviderCrashed { provider, .. } = &e else { unreachable!("matched above") };
                (Some(CallKind::ProviderCrash(provider.name.clone())), CallOutcome::Crashed(e.to_string()))
            }
            // Not the module's doing: not counted.
            Err(e @ Error::Stopped { .. }) => (None, CallOutcome::Unavailable(e.to_string())),
            Err(e) => (None, CallOutcome::NotFound(e.to_string())),
        };
        if let (Some(kind), Some(observer)) = (kind, self.observer.get()) {
            observer(module, kind, took);
        }
        outcome
    }

    /// Tells `observer` of every call that reaches a module from now on (set once).
    pub(crate) fn observe_calls(&self, observer: CallObserver) {
        let _ = self.observer.set(observer);
    }

    /// `Ok(json)` after a rollback, `Err((status, message))` otherwise.
    pub(crate) fn rollback(&self, module: &str) -> Result<serde_json::Value, (u16, String)> {
        if self.runtime.status(module).is_none() {
            return Err((404, format!("module `{module}` is not loaded")));
        }
        match self.runtime.rollback(module) {
            Ok(d) => Ok(serde_json::json!({
                "name": d.name,
                "version": d.version.to_string(),
                "hash": d.hash.to_hex().to_string(),
            })),
            Err(e) => Err((409, e.to_string())),
        }
    }

    /// What the serving version of `name` requires, with providers (in a worker or in process).
    fn requirements(&self, name: &str) -> Vec<hotpack::cache::Requirement> {
        let supervisor = self.runtime.supervisor();
        supervisor.isolated_requirements(name).unwrap_or_else(|| self.runtime.cache().requirements(name))
    }

    /// The serving modules that take an interface from `name` (in workers and in process).
    fn dependents(&self, name: &str) -> Vec<String> {
        let mut out = self.runtime.supervisor().isolated_dependents(name);
        out.extend(self.runtime.cache().dependents(name));
        out.sort();
        out.dedup();
        out
    }

    /// `{"modules":[...], "refused":[{"path","reason"}]}`: modules with a serving version,
    /// and separately the files whose last deploy was refused.
    pub(crate) fn listing(&self) -> serde_json::Value {
        let modules: Vec<serde_json::Value> = self
            .runtime
            .modules()
            .into_iter()
            .filter(|m| m.version().is_some())
            .map(|m| {
                serde_json::json!({
                    "name": m.name,
                    "version": m.version().map(|v| v.to_string()),
                    "hash": m.hash().map(|h| h.to_hex().to_string()),
                    "state": state_words(&m.history),
                    "handlers": m.handlers,
                    "requires": self.requirements(&m.name).iter().map(|r| serde_json::json!({
                        "interface": r.interface,
                        "id": format!("{:016x}", r.id),
                        "range": r.range.as_ref().map(ToString::to_string),
                        "provider": r.provider,
                    })).collect::<Vec<_>>(),
                    "dependents": self.dependents(&m.name),
                    "history": m.history.iter().map(history_json).collect::<Vec<_>>(),
                    "last_error": m.last_error,
                })
            })
            .collect();
        let refused: Vec<serde_json::Value> = lock(&self.refused)
            .iter()
            .map(|(path, r)| serde_json::json!({"path": path.display().to_string(), "reason": r.reason}))
            .collect();
        let problem = self.journal_problem();
        let journal = serde_json::json!({
            "path": self.journal.display().to_string(),
            "durable": problem.is_none(),
            "problem": problem,
        });
        let workers: Vec<serde_json::Value> = self.runtime.supervisor().workers().iter().map(worker_json).collect();
        serde_json::json!({ "modules": modules, "refused": refused, "journal": journal, "workers": workers })
    }

    /// (versions, bytes) mapped by this process; they stay mapped until it exits.
    pub(crate) fn mapped(&self) -> (usize, u64) {
        let stats = self.runtime.cache().mapped();
        (stats.libraries, stats.bytes)
    }

    /// The policy's version cap (`--max-versions`).
    pub(crate) fn max_versions(&self) -> usize {
        self.runtime.supervisor().policy().max_versions.unwrap_or(usize::MAX)
    }

    pub(crate) fn modules_serving(&self) -> usize {
        self.runtime.modules().iter().filter(|m| m.version().is_some()).count()
    }

    /// Why the journal cannot be written, if it cannot.
    ///
    /// The supervisor's own word first (its last journal write failed: not durable), then
    /// whether a file can be created in the journal's directory (space, permissions,
    /// descriptors) before the next change needs it.
    pub(crate) fn journal_problem(&self) -> Option<String> {
        if let Some(problem) = self.runtime.supervisor().journal_problem() {
            return Some(format!(
                "not durable: the journal {} could not record the latest change: {}",
                self.journal.display(),
                crate::log::error_chain(problem.as_ref())
            ));
        }
        let dir = self.journal.parent()?;
        match tempfile::tempfile_in(dir) {
            Ok(_) => None,
            Err(e) => Some(format!("the journal cannot be written in {}: {e}", dir.display())),
        }
    }
}

/// A file refused by its last deploy: the reason, and the module and hash it was refused
/// for, when the refusal names them.
struct Refusal {
    reason: String,
    module: Option<(String, hotpack::detect::blake3::Hash)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The module a refusal names: name, version (and hash, when known), for the log line and to
/// notice when those bytes serve after all. `None` when no module name could be read.
fn refused_module(error: &RollbackError) -> Option<(String, String, Option<hotpack::detect::blake3::Hash>)> {
    let (name, version, hash) = match error {
        RollbackError::GateFailed { name, version: Some(v), hash, .. } => (name, v, *hash),
        RollbackError::OverVersionCap { name, version: Some(v), hash, .. }
        | RollbackError::AlreadyFailed { name, version: v, hash, .. }
        | RollbackError::NotStored { name, version: v, hash, .. } => (name, v, Some(*hash)),
        RollbackError::Downgrade { name, offered: v, .. }
        | RollbackError::Pinned { name, offered: v, .. }
        | RollbackError::NotDurable { name, version: v, .. } => (name, v, None),
        _ => return None,
    };
    Some((name.clone(), version.to_string(), hash))
}

/// Runs every `--probe` spec that applies to `module` through `call`; the first failure
/// fails the probe gate, naming the handler.
fn run_probes<E: std::fmt::Display>(
    specs: &[ProbeSpec],
    module: &str,
    call: impl Fn(&str, &[u8]) -> Result<Vec<u8>, E>,
) -> Result<(), hotpack::rollback::CallbackError> {
    for p in specs.iter().filter(|p| p.module.as_deref().is_none_or(|m| m == module)) {
        call(&p.handler, &p.input).map_err(|e| format!("probe `{}` failed: {e}", p.handler))?;
    }
    Ok(())
}

/// Counts and logs the rollbacks and demotions (deploys are logged by `deploy`).
fn on_record(metrics: &Metrics, r: &Record) {
    let version = r.version.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
    match &r.happened {
        Happened::RolledBack { from } => {
            metrics.rollbacks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let from = from.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
            let hash = r.hash.map(|h| h.to_hex().to_string()).unwrap_or_default();
            tracing::info!(
                module = %Escaped(&r.module),
                version = %version,
                "rolled back {} from {from} to {version} [{}]",
                Escaped(&r.module),
                hash.get(..12).unwrap_or("")
            );
        }
        Happened::Crashed { crash, to } => {
            metrics.demotions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let to =
                to.as_ref().map_or_else(|| "nothing older (still marked failed)".to_owned(), |v| v.version.to_string());
            tracing::warn!(
                module = %Escaped(&r.module),
                version = %version,
                "worker of {} {version} died: {crash}; demoted, now serving {to}",
                Escaped(&r.module),
            );
        }
        Happened::Demoted { panics, to } => {
            metrics.demotions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let to =
                to.as_ref().map_or_else(|| "nothing older (still marked failed)".to_owned(), |v| v.version.to_string());
            tracing::warn!(
                module = %Escaped(&r.module),
                version = %version,
                "demoted {} {version} after {panics} panics; now serving {to}",
                Escaped(&r.module),
            );
        }
        _ => {}
    }
}

fn outcome_words(outcome: &Happened) -> &'static str {
    match outcome {
        Happened::Promoted { .. } => "promoted",
        Happened::Unchanged => "unchanged (already serving)",
        Happened::RolledBack { .. } => "rolled back to a version run before",
        Happened::Pinned => "pinned",
        Happened::Restored => "restored",
        _ => "serving",
    }
}

/// The module's state in words, from its latest history entry.
fn state_words(history: &[Record]) -> &'static str {
    match history.iter().rev().find(|e| !matches!(e.happened, Happened::GateFailed { .. } | Happened::Refused { .. })) {
        Some(e) => match e.happened {
            Happened::Promoted { .. } => "promoted",
            Happened::Demoted { .. } | Happened::Crashed { .. } => "demoted to an earlier version",
            Happened::RolledBack { .. } => "rolled back",
            Happened::Pinned => "pinned",
            Happened::Restored => "restored after a restart",
            _ => "serving",
        },
        None => "serving",
    }
}

/// One history entry: `{"at","version","hash","event","gate","reason"}`, reasons escaped
/// nowhere (JSON escapes control characters itself).
fn history_json(entry: &Record) -> serde_json::Value {
    let at = entry.at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (gate, reason) = match &entry.happened {
        Happened::GateFailed { gate, error } => (Some(gate.as_str()), Some(error.to_string())),
        Happened::Refused { error } => (None, Some(error.to_string())),
        Happened::Demoted { panics, .. } => (None, Some(format!("{panics} panics"))),
        Happened::Crashed { crash, .. } => (None, Some(crash.to_string())),
        Happened::RolledBack { from: Some(from) } => (None, Some(format!("from {from}"))),
        _ => (None, None),
    };
    let event = entry.happened.as_str();
    serde_json::json!({
        "at": at,
        "version": entry.version.as_ref().map(ToString::to_string),
        "hash": entry.hash.map(|h| h.to_hex().to_string()),
        "event": event,
        "gate": gate,
        "reason": reason,
    })
}

/// One worker in `/-/modules`: pid, version, calls, restarts, last death and why.
pub(crate) fn worker_json(w: &hotpack::rollback::WorkerInfo) -> serde_json::Value {
    serde_json::json!({
        "module": w.module,
        "version": w.version.to_string(),
        "hash": w.hash.to_hex().to_string(),
        "pid": w.pid,
        "alive": w.alive,
        "calls": w.calls,
        "restarts": w.restarts,
        "last_death": w.last_death.as_ref().map(|(crash, at)| serde_json::json!({
            "kind": crash.as_str(),
            "reason": crash.to_string(),
            "at": at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        })),
    })
}

impl Host {
    /// The workers, for the metrics.
    pub(crate) fn workers(&self) -> Vec<hotpack::rollback::WorkerInfo> {
        self.runtime.supervisor().workers()
    }
}
