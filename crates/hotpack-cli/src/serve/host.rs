//! The adapter between `serve` and the `hotpack` facade: every use of the hotpack API by the
//! server is in this file, so a rename in the facade is a change here only.
//!
//! It adds two policies the facade does not have (yet): the cap on mapped versions
//! (`--max-versions`, checked before a file is handed to the gates, so a refused version is
//! never mapped) and probes named on the command line (`--probe`), set for each module name
//! before its bundle is deployed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hotpack::preflight::PreflightCommand;
use hotpack::rollback::{Happened, Record, RollbackEvent};
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
}

/// The runtime plus the server's own bookkeeping (refused files, counters).
#[derive(Clone)]
pub(crate) struct Host {
    runtime: Runtime,
    folder: PathBuf,
    journal: PathBuf,
    config: HostConfig,
    probes: Arc<Vec<ProbeSpec>>,
    /// Files refused by their last deploy, with the reason (removed when the file deploys).
    refused: Arc<Mutex<BTreeMap<PathBuf, String>>>,
    metrics: Arc<Metrics>,
    /// Told of every call that reached a module (`--fleet`: the analysis meter).
    observer: std::sync::OnceLock<CallObserver>,
}

/// What a call that reached a module came to, for a [`CallObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// Answered.
    Ok,
    /// The handler returned an error.
    Error,
    /// The handler panicked (caught).
    Panic,
    /// The worker died under the call, or the call passed its deadline.
    Crash,
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
        let mut builder = Runtime::builder()
            .search_path(folder)
            .journal(&journal)
            .allow_downgrade(config.allow_downgrade)
            .quiet(config.quiet)
            .trusted_keys(trusted);
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
        Ok(host)
    }

    /// One log line per runtime event not caused by `deploy` (rollbacks, demotions, watch
    /// problems).
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
            // Deploys are logged and counted by `deploy`, which knows the module names and
            // runs before the next file is looked at.
            Event::Deployed { .. } | Event::DeployFailed { .. } => {}
            e @ Event::Watch(_) => tracing::warn!("{}", Escaped(&e.to_string())),
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

    /// Watches the folder and deploys every changed bundle or library through
    /// [`deploy`](Self::deploy). The watcher lives as long as the returned guard.
    /// The runtime (the fleet agent deploys into it).
    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub(crate) fn watch(&self) -> anyhow::Result<Watching> {
        use hotpack::detect::{ChangeKind, RecvTimeoutError, WatchConfig, Watcher};
        let root = self.folder.canonicalize().with_context(|| format!("cannot resolve {}", self.folder.display()))?;
        let watcher = Watcher::new([&root], &WatchConfig::new().quiet(self.config.quiet).recursive(false))
            .with_context(|| format!("cannot watch {}", self.folder.display()))?;
        let host = self.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("hotpack-watch".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    match watcher.recv_timeout(Duration::from_millis(100)) {
                        Ok(hotpack::detect::Event::Change(change)) => {
                            let direct = change.path.parent() == Some(root.as_path());
                            if direct && !matches!(change.kind, ChangeKind::Removed { .. }) && deployable(&change.path)
                            {
                                host.deploy(&change.path);
                            }
                        }
                        Ok(hotpack::detect::Event::Warning(w)) => tracing::warn!("watch: {}", Escaped(&w.to_string())),
                        Ok(hotpack::detect::Event::Error(e)) => tracing::warn!("watch: {}", Escaped(&e.to_string())),
                        Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            })
            .context("cannot start the watcher thread")?;
        Ok(Watching { stop })
    }

    /// Deploys every bundle and library directly in the folder, in name order.
    pub(crate) fn deploy_all(&self) {
        let Ok(read) = std::fs::read_dir(&self.folder) else { return };
        let mut files: Vec<PathBuf> = read.flatten().map(|e| e.path()).filter(|p| deployable(p)).collect();
        files.sort();
        for file in files {
            self.deploy(&file);
        }
    }

    /// Deploys one file through the gates, after the version cap and with the probes set.
    /// Outcomes are logged once, by the event thread (or here for the cap).
    pub(crate) fn deploy(&self, path: &Path) {
        let candidates = self.candidates(path);
        if let Some(reason) = self.over_cap(&candidates) {
            self.metrics.deploy("over_version_cap");
            self.refused.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_path_buf(), reason.clone());
            tracing::warn!("refused {}: {reason}", crate::log::path(path));
            return;
        }
        for candidate in &candidates {
            self.set_probes(&candidate.name);
        }
        match self.runtime.deploy(path) {
            Ok(deployed) => {
                self.refused.lock().unwrap_or_else(|p| p.into_inner()).remove(path);
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
                        crate::log::path(path),
                        outcome_words(&d.outcome)
                    );
                }
            }
            Err(e) => {
                let reason = crate::log::error_chain(&e);
                let names: Vec<String> = candidates.iter().map(|c| format!("{} {}", c.name, c.version)).collect();
                self.metrics.deploy("refused");
                // Recorded before the log line: whoever reads the line finds it in /-/modules.
                self.refused.lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_path_buf(), reason.clone());
                tracing::warn!(
                    module = %Escaped(names.join(", ").trim()),
                    "refused {}: {}",
                    crate::log::path(path),
                    Escaped(&reason)
                );
            }
        }
    }

    /// Drops the refusals of files whose every module now serves those very bytes (a
    /// dependent that waited for its provider is promoted when the provider is).
    fn forget_refusals_now_serving(&self) {
        let paths: Vec<PathBuf> = self.refused.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        for path in paths {
            let candidates = self.candidates(&path);
            // In process or in a worker: what the supervisor says serves.
            let serving_now = self.runtime.modules();
            let serving = !candidates.is_empty()
                && candidates.iter().all(|c| {
                    serving_now.iter().any(|m| (c.name.is_empty() || m.name == c.name) && m.hash() == Some(c.hash))
                });
            if serving {
                self.refused.lock().unwrap_or_else(|p| p.into_inner()).remove(&path);
            }
        }
    }

    /// Each module the file would load; empty when the file cannot be read as a bundle (the
    /// gates will say why).
    fn candidates(&self, path: &Path) -> Vec<Candidate> {
        if path.extension().is_some_and(|e| e == "zip") {
            let Ok(bundle) = hotpack::archive::Bundle::open(path, &hotpack::archive::Limits::default()) else {
                return Vec::new();
            };
            bundle
                .modules()
                .iter()
                .filter_map(|m| {
                    let manifest = m.manifest();
                    let library = manifest.libraries.get(hotpack::abi::TARGET)?;
                    let digest = manifest.entries.get(library)?;
                    Some(Candidate {
                        name: manifest.meta.name.clone(),
                        version: manifest.meta.version.to_string(),
                        hash: hotpack::detect::blake3::Hash::from_bytes(digest.blake3),
                    })
                })
                .collect()
        } else {
            match std::fs::read(path) {
                Ok(bytes) => vec![Candidate {
                    name: String::new(),
                    version: String::new(),
                    hash: hotpack::detect::blake3::hash(&bytes),
                }],
                Err(_) => Vec::new(),
            }
        }
    }

    /// Why the file is refused by `--max-versions`, if it is: it would map a version beyond
    /// the cap. Versions already mapped (a rollback target, the same bytes again) never count.
    fn over_cap(&self, candidates: &[Candidate]) -> Option<String> {
        let cache = self.runtime.cache();
        let new = candidates.iter().filter(|c| !cache.is_mapped(&c.hash)).count();
        let (mapped, _) = self.mapped();
        let max = self.config.max_versions;
        (new > 0 && mapped + new > max).then(|| {
            format!(
                "{mapped} versions are mapped and the cap is {max} (--max-versions); a new version is refused and \
                 the one serving keeps serving; restart the server to reclaim mapped versions"
            )
        })
    }

    fn set_probes(&self, module: &str) {
        for probe in self.probes.iter().filter(|p| p.module.as_deref().is_none_or(|m| m == module)) {
            let (handler, input) = (probe.handler.clone(), probe.input.clone());
            // A candidate in a worker is probed through a proxy that calls into its worker.
            let (h, i) = (handler.clone(), input.clone());
            self.runtime.supervisor().set_isolated_probe(
                module,
                Arc::new(move |m: &hotpack::rollback::WorkerProxy<'_>| {
                    m.call(&h, &i).map(|_| ()).map_err(|e| format!("probe `{h}` failed: {e}").into())
                }),
            );
            self.runtime.supervisor().set_probe(
                module,
                Arc::new(move |m: &hotpack::loader::Module| {
                    m.call(&handler, &input).map(|_| ()).map_err(|e| format!("probe `{handler}` failed: {e}").into())
                }),
            );
        }
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
                        "provider": r.provider,
                    })).collect::<Vec<_>>(),
                    "dependents": self.dependents(&m.name),
                    "history": m.history.iter().map(history_json).collect::<Vec<_>>(),
                    "last_error": m.last_error,
                })
            })
            .collect();
        let refused: Vec<serde_json::Value> = self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(path, reason)| serde_json::json!({"path": path.display().to_string(), "reason": reason}))
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

    pub(crate) fn max_versions(&self) -> usize {
        self.config.max_versions
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

/// A module a file would load, as its bundle declares it.
struct Candidate {
    name: String,
    version: String,
    hash: hotpack::detect::blake3::Hash,
}

/// Stops the watcher thread when dropped.
#[derive(Debug)]
pub(crate) struct Watching {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A bundle or a library, not a hidden (temporary) file.
fn deployable(path: &Path) -> bool {
    let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
    !hidden && path.extension().is_some_and(|e| e == "zip" || e == std::env::consts::DLL_EXTENSION)
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
