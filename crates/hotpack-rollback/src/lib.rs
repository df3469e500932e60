//! Version history, promotion gates, automatic and manual rollback, and a crash-safe
//! journal for hotpack modules.
//!
//! A [`Supervisor`] sits on a [`Cache`] and decides which version of each module serves.
//! A new version is a *candidate* until it passes every [`Gate`]. One runner runs them: each
//! way in ([`Supervisor::deploy_path`], [`Supervisor::deploy_confirmed`],
//! [`Supervisor::import`], [`Supervisor::deploy`], [`Supervisor::restore`], in process or in
//! a worker) chooses a [`Plan`], a list of the runner's [`Step`]s, and every step it runs is
//! seen by the observer [`Supervisor::observe_steps`] sets. In every plan the gates come in
//! this order:
//!
//! 0. [`Gate::Signature`] (only with [`Policy::trusted_keys`]): the bundle is signed by a
//!    trusted key, checked on the bytes read, before anything is written or loaded (a plain
//!    library file, which cannot be signed, is refused);
//! 1. [`Gate::Verify`]: the bundle opens and every entry matches its manifest digest;
//!    [`Gate::Preflight`] (only with [`Supervisor::set_preflight`]): a child process loads,
//!    initialises and probes the candidate first (only ever trusted bytes: it runs after
//!    the signature check); a crash, exit, hang or refusal there is refused before the host
//!    maps the library;
//! 2. [`Gate::Load`]: the library loads (ELF checks, `dlopen` — which runs the library's ELF
//!    constructors — then the descriptor);
//! 3. [`Gate::Abi`]: hotpack ABI, rustc, target and layout match, and the candidate serves
//!    every hot handle already taken on its name with the same interface ids;
//!    [`Gate::Requires`]: every interface it requires has a current provider, and no current
//!    dependent loses one (a missing provider is waited for, not blamed on the candidate);
//! 4. [`Gate::Init`]: its init hook returns `Ok` (an error and a panic both fail);
//! 5. [`Gate::State`]: it imports the state the serving version exported (when it exported any);
//! 6. [`Gate::Probe`]: the host's health probe (see [`Supervisor::set_probe`]) accepts it.
//!
//! Only then is the copy of its library a restart loads stored, and it is promoted: one
//! atomic swap of every hot handle. A failing gate leaves the serving version serving, records the gate and the reason in the [`history`] and the
//! [`status`], emits a [`RollbackEvent`], and marks the candidate's bytes failed so the same
//! bytes are refused at once ([`RollbackError::AlreadyFailed`]) instead of being retried in
//! a loop. After promotion a panic budget applies ([`Policy::panic_budget`] caught panics in
//! [`Policy::panic_window`]); past it the version is demoted to the last good one.
//!
//! Rolling back ([`Supervisor::rollback`], [`Supervisor::rollback_to`], [`Supervisor::pin`])
//! only ever goes to versions this host activated and still retains: bytes from outside that
//! are older than the highest version seen are refused ([`RollbackError::Downgrade`]).
//!
//! A journal (JSON, written atomically on every change) remembers per module the active and
//! last good versions, the highest version seen, the pin and the failed hashes, with a copy
//! of every good library under `<journal dir>/objects/<blake3>.so`, so a restarted host
//! comes back on its last good version ([`Supervisor::restore`]) — never on the one that
//! crashed it — with every retained good version available to roll back to. A missing,
//! truncated or corrupt journal is reported in the [`JournalReport`] and the supervisor
//! starts with nothing from it; a journal directory, journal or stored copy owned by another
//! user or writable by others is refused. A journal write that fails is a
//! [`RollbackEvent::JournalFailed`] and [`Supervisor::journal_problem`]; [`Policy::journal`]
//! decides whether the promotion stands.
//!
//! [`history`]: Supervisor::history
//! [`status`]: Supervisor::status
//!
//! A host that watches folders runs the one watch-to-deploy loop, [`Supervisor::watch`]: the
//! watcher's confirmed bytes go to [`Supervisor::deploy_confirmed`] and every outcome comes
//! back as a [`WatchReport`]. [`Policy::max_versions`] caps the versions a process maps.
//!
//! Starting a host: open the journal (a first start finds none), then restore.
//!
//! ```
//! use hotpack_rollback::{JournalStatus, Policy, Supervisor};
//! let dir = tempfile::tempdir()?;
//! let loader = hotpack_loader::Loader::new(dir.path().join("cache"))?;
//! let cache = hotpack_cache::Cache::new(loader.clone(), hotpack_archive::SearchPath::new());
//! let (sup, report) = Supervisor::open(cache, Policy::default(), dir.path().join("journal.json"))?;
//! assert_eq!(report.status, JournalStatus::Missing);
//! assert!(sup.restore()?.restored.is_empty());
//! assert!(sup.status("greeter").is_none());
//!
//! // A damaged journal is reported, never trusted, never fatal.
//! std::fs::write(dir.path().join("journal.json"), b"{\"format\": \"hotpack-rol")?;
//! let cache = hotpack_cache::Cache::new(loader, hotpack_archive::SearchPath::new());
//! let (_sup, report) = Supervisor::open(cache, Policy::default(), dir.path().join("journal.json"))?;
//! assert!(matches!(report.status, JournalStatus::Corrupt { .. }), "{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Deploying, calling, rolling back:
//!
//! ```no_run
//! use hotpack_cache::Cache;
//! use hotpack_loader::Loader;
//! use hotpack_rollback::{Policy, Supervisor, VersionRef};
//! use std::sync::Arc;
//! # let dir = std::env::temp_dir().join("hotpack-rollback-doc");
//! let cache = Cache::new(Loader::new(dir.join("cache"))?, hotpack_archive::SearchPath::new());
//! let (sup, report) = Supervisor::open(cache, Policy::default(), dir.join("journal.json"))?;
//! println!("journal: {report}");
//! sup.restore()?;                                      // back on the last good versions
//! sup.set_probe("greeter", Arc::new(|m| match m.call("greet", b"probe") {
//!     Ok(out) if !out.is_empty() => Ok(()),
//!     Ok(_) => Err("empty greeting".into()),
//!     Err(e) => Err(e.into()),
//! }));
//! sup.deploy_bundle("greeter-2.0.0.zip".as_ref())?;   // gates, then an atomic swap
//! let answer = sup.call("greeter", "greet", b"world")?; // panics count against the budget
//! sup.rollback("greeter")?;                            // back to 1.0.0, if it was active before
//! sup.pin("greeter", VersionRef::Version("1.0.0".parse()?))?; // hold it; deploys are refused
//! for entry in sup.history("greeter") {
//!     println!("{entry}");
//! }
//! # let _ = answer;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod crash;
mod error;
mod gates;
mod journal;
mod record;
mod supervisor;
mod watch;

pub use crash::Crash;
pub use error::{FailureCause, RestoreError, RollbackError};
pub use gates::{
    CallbackError, Gate, GateError, Plan, Preflight, PreflightCandidate, Step, StepEnd, StepObserver, StepSeen,
};
pub use hotpack_cache::{Cache, Source};
pub use hotpack_loader::Module;
use hotpack_util::name::list;
pub use journal::{JournalError, JournalReport, JournalStatus, RestoreProblem, RestoreReport, referenced_hashes};
pub use record::{Happened, Record, RollbackEvent};
pub use supervisor::{IsolatedProbe, Isolation, Supervisor, WorkerInfo, WorkerProxy};
pub use watch::{DeployFilter, WatchError, WatchReport, Watching, deployable_files, is_bundle, is_deployable};

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Fuzzing entry point (`fuzz/fuzz_targets/journal.rs`), not a stable API: decode journal
/// bytes as a restore does, and for a journal that decodes, check that its encoding decodes
/// to the same modules and that the fields a restore parses never panic.
///
/// # Errors
/// The [`JournalError`] decoding refuses the bytes with.
#[doc(hidden)]
pub fn fuzz_journal_decode(bytes: &[u8]) -> Result<(), JournalError> {
    let modules = journal::decode(bytes)?;
    // A decoded journal always re-encodes (paths are stored as OS bytes, never refused).
    let encoded = journal::encode(&modules).expect("a decoded journal encodes");
    let again = journal::decode(&encoded).expect("an encoded journal decodes");
    assert_eq!(again, modules, "journal round trip");
    for module in modules.values() {
        for v in module.active.iter().chain(&module.last_good).chain(&module.good) {
            let _ = journal::parse_hash(&v.hash);
            let _ = journal::parse_version(&v.version);
            let _ = v.source.to_source();
        }
        for f in &module.failed {
            let _ = journal::parse_gate(&f.gate);
        }
    }
    Ok(())
}

/// The first 12 hex digits of a hash, for messages.
pub(crate) fn short(hash: &blake3::Hash) -> String {
    hash.to_hex()[..12].to_owned()
}

/// What the supervisor allows and keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Versions kept registered per module (at least 1; default 5). The active, pinned and
    /// last good versions are never retired.
    pub retain: usize,
    /// Caught panics tolerated within [`panic_window`](Self::panic_window) (default 5);
    /// one more demotes the version.
    pub panic_budget: u32,
    /// The sliding window the panic budget applies to (default 60 s).
    pub panic_window: Duration,
    /// Accept bundles older than the highest version seen (default `false`).
    pub allow_downgrade: bool,
    /// How long a promoted version must serve without being demoted before it becomes the
    /// *last good* version, the one a restart resumes and a demotion falls back to (default
    /// 0: good as soon as promoted). With a non-zero probation, the change is noticed by
    /// [`Supervisor::settle`], which every supervisor operation calls.
    pub probation: Duration,
    /// Keys whose signature a bundle must carry (default: none, and unsigned bundles are
    /// accepted). When set, [`Gate::Signature`] refuses unsigned and foreign-signed bundles
    /// and every plain library file before a byte of them is written or loaded; the
    /// downgrade rule then applies to the signed manifest versions, the only ones seen.
    pub trusted_keys: Vec<hotpack_archive::PublicKey>,
    /// Whether a promotion whose journal write failed stands (default
    /// [`JournalPolicy::Stand`]).
    pub journal: JournalPolicy,
    /// Library versions this process may keep mapped (default `None`: no cap). Nothing is
    /// ever unmapped (see the loader), so a long-running host sets a cap below its
    /// descriptor and `vm.max_map_count` limits: a candidate that would map one more version
    /// past it is refused before it is loaded ([`RollbackError::OverVersionCap`]); a version
    /// already mapped (a rollback target, the same bytes again) never counts, and a version
    /// that runs in a worker maps nothing here.
    pub max_versions: Option<usize>,
}

/// What happens to a deploy's promotion when the journal cannot record it (a full disk, a
/// read-only or vanished cache directory). Either way the failure is a
/// [`RollbackEvent::JournalFailed`] and [`Supervisor::journal_problem`] says so until a
/// write succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum JournalPolicy {
    /// The promotion stands; the host is *not durable* (a restart may resume an older
    /// version) until a journal write succeeds.
    #[default]
    Stand,
    /// The promotion is undone: the version that served before serves again (what the
    /// journal still says), and the deploy fails with [`RollbackError::NotDurable`]. A first
    /// version, with nothing to return to, stands.
    Revert,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            retain: 5,
            panic_budget: 5,
            panic_window: Duration::from_secs(60),
            allow_downgrade: false,
            probation: Duration::ZERO,
            trusted_keys: Vec::new(),
            journal: JournalPolicy::Stand,
            max_versions: None,
        }
    }
}

/// A host-supplied health probe: run a known input through the candidate and judge the
/// answer. `Err(error)` fails the [`Gate::Probe`] (the error is kept as its typed source);
/// a panic in the probe fails it too.
pub type Probe = Arc<dyn Fn(&Module) -> Result<(), CallbackError> + Send + Sync>;

/// A version of a module, by semver or by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionRef {
    /// A semver version (the most recently activated one when several builds share it).
    Version(semver::Version),
    /// The blake3 of the library bytes.
    Hash(blake3::Hash),
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRef::Version(v) => write!(f, "version {v}"),
            VersionRef::Hash(h) => write!(f, "hash {}", h.to_hex()),
        }
    }
}

impl From<semver::Version> for VersionRef {
    fn from(v: semver::Version) -> Self {
        VersionRef::Version(v)
    }
}

impl From<blake3::Hash> for VersionRef {
    fn from(h: blake3::Hash) -> Self {
        VersionRef::Hash(h)
    }
}

/// One version: what it is and where its bytes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSummary {
    /// Semver version.
    pub version: semver::Version,
    /// blake3 of the library bytes.
    pub hash: blake3::Hash,
    /// Where the bytes came from.
    pub source: Source,
}

impl fmt::Display for VersionSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] from {}", self.version, short(&self.hash), self.source)
    }
}

/// The result of a successful deploy, rollback, pin or restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// Module name.
    pub name: String,
    /// The version serving now.
    pub version: semver::Version,
    /// Its hash.
    pub hash: blake3::Hash,
    /// Where its bytes came from.
    pub source: Source,
    /// What happened: [`Happened::Promoted`], [`Happened::Unchanged`],
    /// [`Happened::RolledBack`], [`Happened::Pinned`] or [`Happened::Restored`].
    pub outcome: Happened,
}

/// An automatic demotion: the panic budget was exceeded, or the version crashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demotion {
    /// Module name.
    pub name: String,
    /// The demoted version (now marked failed).
    pub from: VersionSummary,
    /// The version serving now; `None` when no good version was left to fall back to (the
    /// demoted one keeps serving, since a hot handle cannot be emptied, but it is marked
    /// failed and a restart will not resume it).
    pub to: Option<VersionSummary>,
    /// Panics counted in the window (0 for a crash).
    pub panics: u32,
    /// The crash that demoted it, when a crash did.
    pub crash: Option<Crash>,
}

/// A version that failed and will not be tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedVersion {
    /// Semver version (`0.0.0` when the bytes never loaded far enough to say).
    pub version: semver::Version,
    /// blake3 of the library bytes.
    pub hash: blake3::Hash,
    /// The gate it failed; `None` when it was demoted after promotion.
    pub gate: Option<Gate>,
    /// Why.
    pub reason: String,
}

/// A module as the supervisor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStatus {
    /// Module name.
    pub name: String,
    /// The version serving now (promoted by this supervisor).
    pub active: Option<VersionSummary>,
    /// The version a restart resumes and a demotion falls back to.
    pub last_good: Option<VersionSummary>,
    /// The pinned version, if any.
    pub pinned: Option<VersionSummary>,
    /// The highest version that passed its gates here (persisted).
    pub highest_seen: Option<semver::Version>,
    /// Versions registered in the cache, oldest first.
    pub retained: Vec<VersionSummary>,
    /// Failed candidates and demoted versions.
    pub failed: Vec<FailedVersion>,
    /// The last failure, as a message.
    pub last_error: Option<String>,
    /// Panics of the active version inside the current window.
    pub recent_panics: u32,
    /// Whether the active version is still on probation (not yet the last good one).
    pub on_probation: bool,
    /// The active version's handlers.
    pub handlers: Vec<String>,
    /// What happened to the module, oldest first (promotions, failed gates, rollbacks).
    pub history: Vec<Record>,
}

impl ModuleStatus {
    /// The version serving now, if any.
    pub fn version(&self) -> Option<&semver::Version> {
        self.active.as_ref().map(|a| &a.version)
    }

    /// blake3 of the library serving now, if any.
    pub fn hash(&self) -> Option<blake3::Hash> {
        self.active.as_ref().map(|a| a.hash)
    }
}

/// Why [`Supervisor::call`] returned no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupervisorCallError {
    /// No version of the module was promoted.
    #[error("module `{name}` has no active version")]
    NotActive {
        /// Module name.
        name: String,
    },
    /// The module answered with an error or a caught panic.
    #[error("module `{name}` {version}: {error}")]
    Module {
        /// Module name.
        name: String,
        /// The version that answered.
        version: semver::Version,
        /// The module's error.
        #[source]
        error: hotpack_loader::CallError,
    },
    /// The host stopped its workers ([`Supervisor::stop_workers`]): not the module's fault,
    /// nothing was demoted.
    #[error("module `{name}` {version}: its worker was stopped (the host is shutting down)")]
    Stopped {
        /// Module name.
        name: String,
        /// The version that was answering.
        version: semver::Version,
    },
    /// The worker running the active version died under this call (a crash, the memory
    /// cap, a call past its deadline). The version is demoted at once; the next call is
    /// answered by the last good version in a fresh worker.
    #[error("module `{name}` {version}: its worker (pid {pid}) {crash}; the version is demoted")]
    Crashed {
        /// Module name.
        name: String,
        /// The version that crashed.
        version: semver::Version,
        /// The worker's pid.
        pid: u32,
        /// How it ended.
        crash: Crash,
    },
    /// The worker running the active version died under this call, in the code of a
    /// provider it hosts for the module (its crash handler noted the site): the crash is
    /// charged to the provider, whose version is demoted; the module serves on, on the same
    /// version, in a fresh worker that loads the provider's last good version.
    #[error(
        "module `{name}` {version}: its worker (pid {pid}) {crash} in the code of its provider {provider}; \
         charged to the provider (its version demoted unless pinned); `{name}` serves on",
        crash = .provider.crash
    )]
    ProviderCrashed {
        /// Module name.
        name: String,
        /// The module's version (not demoted).
        version: semver::Version,
        /// The worker's pid.
        pid: u32,
        /// The provider whose code crashed it, its version (demoted), and how the worker ended.
        provider: Box<CrashedProvider>,
    },
    /// The worker could not carry the call (a reply past its size cap, a broken channel)
    /// and is still alive.
    #[error("module `{name}` {version}: {error}")]
    Worker {
        /// Module name.
        name: String,
        /// The active version.
        version: semver::Version,
        /// What the worker side said.
        #[source]
        error: Box<hotpack_worker::WorkerCallError>,
    },
    /// The active version has no handler of that name.
    #[error("module `{name}` {version} has no handler named `{handler}`; its handlers: {}", list(available))]
    NoSuchHandler {
        /// Module name.
        name: String,
        /// The active version.
        version: semver::Version,
        /// The handler asked for.
        handler: String,
        /// The handlers the active version has.
        available: Vec<String>,
    },
}

/// The provider a [`SupervisorCallError::ProviderCrashed`] charged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CrashedProvider {
    /// The provider's module name.
    pub name: String,
    /// Its version whose code crashed the worker.
    pub version: semver::Version,
    /// How the worker ended.
    pub crash: Crash,
}

impl std::fmt::Display for CrashedProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` {}", self.name, self.version)
    }
}

impl SupervisorCallError {
    /// Whether the module panicked (the panic was caught inside it).
    pub fn is_panic(&self) -> bool {
        matches!(self, SupervisorCallError::Module { error, .. } if error.is_panic())
    }
}
