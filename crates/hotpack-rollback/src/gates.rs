//! The promotion pipeline, defined once: the gates, the [`Step`]s of the one runner
//! (`supervisor/pipeline.rs`), the [`Plan`]s that list them, and what each refusal leaves
//! behind. Every way a new version becomes current runs a plan: deploy of a bundle, of a
//! `bundle.zip/sub` prefix or of a plain library (`deploy_path`, `deploy_bundle`,
//! `deploy_file`), import and reload (`import`, `deploy_source`), the watcher's confirmed
//! bytes (`deploy_confirmed`), a module the host loaded (`deploy`), a candidate that waited
//! for a provider (resumed at [`Step::Bindings`], or [`Step::StartWorker`] under isolation),
//! and after a restart the restore and the retained versions. A new check is one more step
//! in the plans that need it, not a copy of the order. The runner reports every step to the
//! step observer ([`Supervisor::observe_steps`](crate::Supervisor::observe_steps)); the tests
//! watch the plans run there.
//!
//! The plans ([`Plan::steps`]):
//!
//! | plan | steps |
//! |---|---|
//! | [`Plan::Bundle`] | Signature, Verify, Admit, Preflight, Load, Bindings, Requires, Init, State, Probe, Store, Promote |
//! | [`Plan::File`] | Signature, Verify, Preflight, Load, Admit, Bindings, Requires, Init, State, Probe, Store, Promote |
//! | [`Plan::Loaded`] | Signature (refuses with trusted keys), Admit, Load (registers), Bindings, Requires, Init, State, Probe, Store, Promote |
//! | [`Plan::IsolatedBundle`] | Signature, Verify, Admit, StartWorker, Requires, Init, State, Probe, Store, Promote |
//! | [`Plan::IsolatedFile`] | Signature, Verify, StartWorker, Admit, Requires, Init, State, Probe, Store, Promote |
//! | [`Plan::Restore`] | Signature (the stored proof), Verify (the stored object), Load, Bindings, Requires, Init, Probe, Promote |
//! | [`Plan::IsolatedRestore`] | Signature, Verify, StartWorker, Requires (providers hosted, no check), Init, Promote |
//! | [`Plan::Retain`] | Signature, Verify, Load (registered, not current) |
//! | [`Plan::IsolatedRetain`] | Signature, Verify, Keep |
//!
//! Before a bundle yields its candidates it must open: a bundle whose structure or manifests
//! are refused is recorded at [`Gate::Verify`] (nothing read beyond its directory), and a
//! `bundle.zip/sub` prefix or an import that names no module of it is refused; each module
//! it holds is then a candidate of its own.
//!
//! Under isolation there is no Preflight (the candidate's first worker is its preflight) and
//! no Bindings (no hot handle crosses a process; the worker's loader checks the ABI).
//!
//! What a refusal leaves behind, by gate:
//!
//! | gate | what runs | a refusal leaves behind |
//! |---|---|---|
//! | [`Gate::Signature`] | with trusted keys ([`Policy::trusted_keys`](crate::Policy::trusted_keys)): the bundle, as [`Bundle::open`](hotpack_archive::Bundle::open) read it, is signed by one of them (on restore: the signature proof stored beside the object); a plain library file or a module the host loaded is refused | nothing written, nothing loaded; the failure in history |
//! | [`Gate::Verify`] | the library entry matches its manifest digest (other entries when they are read); a stored object matches its name | nothing registered; the failure in history |
//! | (Admit) | bytes already serving end the run unchanged; a pin, bytes that failed before, a downgrade, the version cap ([`Policy::max_versions`](crate::Policy::max_versions): a plain library meets it in its Verify step, once hashed) refuse | in the bundle plans nothing has run yet; in the File plans Admit follows Load (or the first worker), whose registration is undone; the refusal in history (the cap marks nothing) |
//! | [`Gate::Preflight`] | (only with a [`Preflight`] set) the candidate loads, inits and is probed in a child process | nothing registered, nothing mapped in the host; the hash marked failed |
//! | [`Gate::Load`] | ELF checks, `dlopen`, the checked descriptor read (or the worker's load and report) | nothing registered (the code stays mapped: hotpack never unloads); a worker that could not start does not mark the bytes |
//! | [`Gate::Abi`] | the candidate serves every hot handle taken on its name | the candidate retired from the registry |
//! | [`Gate::Requires`] | every interface it requires has a current provider (which is handed to it), no current dependent of its name loses an interface it requires, no cycle | the candidate kept, not marked: a missing provider is waited for (the candidate resumes when a version is promoted) |
//! | [`Gate::Init`] | its init hook (an error and a panic both fail) | the candidate retired |
//! | [`Gate::State`] | it imports the state the serving version exported (an export that fails is not its fault: not marked) | the candidate retired |
//! | [`Gate::Probe`] | the host's health probe accepts it | the candidate retired |
//! | (Store) | the object a restart loads is stored | refused ([`RollbackError::NotStored`](crate::RollbackError::NotStored)), not marked; the host not durable until a store succeeds |
//! | (Promote) | one atomic swap of every hot handle (or of the worker that answers), the journal | the candidate retired |
//!
//! In every case the serving version keeps serving. A deploy plan marks the hash failed
//! when the candidate's bytes are to blame (so the same bytes are refused at once next
//! time); a restore plan never marks (a version that served well is not condemned by a
//! database down at start) and reports a [`RestoreProblem`](crate::RestoreProblem).
//!
//! Not plans: rollback, `rollback_to`, pin and a demotion's fallback select a version that
//! already passed every gate on this host (or, after a restart, its restore or retain plan);
//! they run only what the promotion itself checks (bindings, current dependents) and the
//! promotion (under isolation, a fresh worker for the retained image). The
//! cache owns the primitives the steps compose (`check_bindings`, `transfer_state`,
//! `promote`); its own `import`, for a cache used without a supervisor, is the layer below
//! the gates.

use crate::Probe;
use hotpack_archive::{Bundle, BundleError, Fingerprint, PublicKey, SignatureStatus};
use hotpack_cache::CacheError;
use hotpack_loader::{LoadError, Module};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// A promotion gate, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Gate {
    /// With trusted keys: the bundle is signed by one of them (checked on the bytes
    /// `Bundle::open` read, before a byte is written to a cache or `dlopen`ed).
    Signature,
    /// The bundle opens and every entry matches its manifest.
    Verify,
    /// A short-lived child process loaded, initialised and probed the candidate and exited
    /// cleanly (only when a [`Preflight`] is set; the host has not mapped the library yet).
    Preflight,
    /// The library loads.
    Load,
    /// ABI, compiler, target, layout and interface ids match.
    Abi,
    /// Providers and dependents agree (`hotpack_cache`'s compatibility gate).
    Requires,
    /// The init hook succeeds.
    Init,
    /// The candidate imports the serving version's state.
    State,
    /// The host's health probe accepts it.
    Probe,
}

impl Gate {
    /// Every gate, in the order a candidate meets them.
    pub const ORDER: [Gate; 9] = [
        Gate::Signature,
        Gate::Verify,
        Gate::Preflight,
        Gate::Load,
        Gate::Abi,
        Gate::Requires,
        Gate::Init,
        Gate::State,
        Gate::Probe,
    ];

    /// The lower-case name (`"verify"`, `"load"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Signature => "signature",
            Gate::Verify => "verify",
            Gate::Preflight => "preflight",
            Gate::Load => "load",
            Gate::Abi => "abi",
            Gate::Requires => "requires",
            Gate::Init => "init",
            Gate::State => "state",
            Gate::Probe => "probe",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Gate> {
        Gate::ORDER.into_iter().find(|g| g.as_str() == s)
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a gate refused a candidate: the typed cause, kept as the error's source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// The bundle was refused (structure, manifest, digest).
    #[error(transparent)]
    Bundle(BundleError),
    /// Trusted keys are set and the bundle is not signed by one of them (or its signature
    /// does not match).
    #[error("{status}")]
    Untrusted {
        /// What the signature check found.
        status: SignatureStatus,
    },
    /// Trusted keys are set and the candidate is a plain library file, which cannot carry
    /// a signature.
    #[error("{} is a plain library file, which cannot be signed; with trusted keys only signed bundles are deployed", path.display())]
    UnsignedFile {
        /// The file.
        path: PathBuf,
    },
    /// Trusted keys are set and the candidate is a module the host loaded itself
    /// ([`Supervisor::deploy`](crate::Supervisor::deploy)): nothing shows which bytes it came
    /// from or who signed them.
    #[error(
        "module `{name}` {version} was loaded by the host, not read from a signed bundle; with trusted keys only \
         signed bundles are deployed"
    )]
    HostLoaded {
        /// Module name.
        name: String,
        /// Its version.
        version: semver::Version,
    },
    /// Under isolation: the candidate's worker could not be started, or refused to load
    /// the library (its loader's checks, a constructor that crashed it).
    #[error("in its worker: {0}")]
    Worker(hotpack_worker::WorkerError),
    /// Under isolation: the candidate's init hook or a state move failed in its worker (an
    /// error, a panic, or the worker's death).
    #[error("in its worker: {0}")]
    WorkerCall(hotpack_worker::WorkerCallError),
    /// Under isolation: what the worker's loader reports disagrees with the manifest the host
    /// checked (a worker's claim is never trusted beyond what the host can check).
    #[error("its worker reports `{}` {}; the manifest says `{name}` {version}", found.name, found.version)]
    ReportMismatch {
        /// The manifest's module name.
        name: String,
        /// The manifest's version.
        version: semver::Version,
        /// What the worker reported.
        found: Box<hotpack_worker::ModuleReport>,
    },
    /// The loader refused the library, or its init hook failed.
    #[error(transparent)]
    Load(LoadError),
    /// The cache refused (bindings, state transfer, promotion).
    #[error(transparent)]
    Cache(CacheError),
    /// The library file could not be read.
    #[error("read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The preflight child refused the candidate (a signal, an exit code, a timeout, a
    /// refused check): the host never mapped it.
    #[error("{error}")]
    Preflight {
        /// What the preflight reported, as the host's preflight typed it.
        #[source]
        error: CallbackError,
    },
    /// The health probe said no.
    #[error("{error}")]
    Probe {
        /// What the probe said, as the host's probe typed it.
        #[source]
        error: CallbackError,
    },
    /// The health probe panicked.
    #[error("the probe panicked: {message}")]
    ProbePanicked {
        /// The panic message. A `String` because a panic payload is text (or nothing), not
        /// an error value.
        message: String,
    },
    /// The candidate runs in a worker process and the probe that applies to it is an
    /// in-process [`Probe`](crate::Probe), which needs the module mapped in the host
    /// (isolation never maps it): refused rather than promoted unprobed.
    #[error(
        "module `{module}` runs in a worker process and its probe is an in-process Probe, which cannot run there (the \
         host never maps the module's code): refused rather than promoted unprobed; give it an IsolatedProbe \
         (RuntimeBuilder::isolated_probe, Supervisor::set_isolated_probe), which calls into the worker through a \
         WorkerProxy"
    )]
    InProcessProbeInWorker {
        /// The module.
        module: String,
    },
    /// The candidate runs in process and the probe that applies to it is an
    /// [`IsolatedProbe`](crate::IsolatedProbe), which needs a worker to call into: refused
    /// rather than promoted unprobed.
    #[error(
        "module `{module}` runs in process and its probe is an IsolatedProbe, which needs a worker to call into: \
         refused rather than promoted unprobed; give it a Probe (RuntimeBuilder::probe, Supervisor::set_probe), or \
         isolate the runtime"
    )]
    IsolatedProbeInProcess {
        /// The module.
        module: String,
    },
}

/// [`Gate::Signature`]: with no trusted keys, every bundle passes (`None`); otherwise
/// `bundle` must be signed by one of `trusted` (checked on the bytes already read, nothing
/// written), and the signer's fingerprint is returned.
pub(crate) fn check_trust(bundle: &Bundle, trusted: &[PublicKey]) -> Result<Option<Fingerprint>, GateError> {
    if trusted.is_empty() {
        return Ok(None);
    }
    match bundle.check_signature(trusted) {
        Ok(SignatureStatus::Trusted(fp)) => Ok(Some(fp)),
        Ok(status) => Err(GateError::Untrusted { status }),
        Err(e) => Err(GateError::Bundle(e)),
    }
}

/// A candidate's bytes as the [`Preflight`] sees them: verified, not yet mapped by the host.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct PreflightCandidate<'a> {
    /// The bundle (with [`module_dir`](Self::module_dir)) or the library file.
    pub path: &'a std::path::Path,
    /// The module directory inside the bundle; `None` for a library file.
    pub module_dir: Option<&'a str>,
    /// The module name, when the manifest (or the caller) names it.
    pub name: Option<&'a str>,
    /// The version the manifest claims, when there is one.
    pub version: Option<&'a semver::Version>,
    /// blake3 of the library bytes.
    pub hash: &'a blake3::Hash,
}

impl<'a> PreflightCandidate<'a> {
    /// Module directory `dir` of the bundle at `path`.
    pub fn bundle(path: &'a std::path::Path, dir: &'a str, hash: &'a blake3::Hash) -> Self {
        PreflightCandidate { path, module_dir: Some(dir), name: None, version: None, hash }
    }

    /// The library file at `path`.
    pub fn library(path: &'a std::path::Path, hash: &'a blake3::Hash) -> Self {
        PreflightCandidate { path, module_dir: None, name: None, version: None, hash }
    }
}

/// The error a host's callback ([`Preflight`], [`Probe`](crate::Probe)) returns: any error
/// value, kept as the typed `source()` of the gate failure (a `String` or `&str` converts
/// with `.into()` or `?`).
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

/// A host-supplied preflight: loads the candidate somewhere it cannot hurt the host (a
/// child process) and says whether it survived. `Err(error)` fails [`Gate::Preflight`]
/// before the host maps a byte of the library; a panic in the preflight fails it too.
/// The rollback crate never spawns anything itself: the facade and the CLI provide this.
pub type Preflight = std::sync::Arc<dyn Fn(&PreflightCandidate<'_>) -> Result<(), CallbackError> + Send + Sync>;

/// Runs [`Gate::Preflight`] (nothing when no preflight is set).
pub(crate) fn run_preflight(preflight: Option<&Preflight>, c: &PreflightCandidate<'_>) -> Result<(), GateError> {
    match preflight {
        None => Ok(()),
        Some(p) => match catch_unwind(AssertUnwindSafe(|| p(c))) {
            Ok(r) => r.map_err(|error| GateError::Preflight { error }),
            Err(payload) => Err(GateError::Preflight {
                error: format!("the preflight panicked: {}", panic_message(payload.as_ref())).into(),
            }),
        },
    }
}

/// One step of the runner (`supervisor/pipeline.rs`). A [`Plan`] is a list of them; the
/// runner runs them in that order, stops at the first that refuses, and reports each to the
/// step observer ([`Supervisor::observe_steps`](crate::Supervisor::observe_steps)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// [`Gate::Signature`]: with trusted keys, the bundle (or, on restore, the signature
    /// proof stored beside the object) is signed by one of them; a plain library or a
    /// module the host loaded is refused.
    Signature,
    /// [`Gate::Verify`]: the library bytes read and checked against their digest (a bundle's
    /// manifest, a stored object's name); a plain library's bytes hashed.
    Verify,
    /// The refusals that run nothing: bytes already serving (the run ends, unchanged), a
    /// pin, bytes that failed before, a downgrade.
    Admit,
    /// [`Gate::Preflight`]: the host's preflight child loads, inits and probes the candidate.
    Preflight,
    /// [`Gate::Load`] and [`Gate::Abi`]: loaded in the host (ELF checks, `dlopen`, the
    /// descriptor) and registered, not current.
    Load,
    /// [`Gate::Load`] and [`Gate::Abi`] under isolation: the verified bytes go to the
    /// candidate's first worker as a sealed image; its report is checked against what the
    /// host knows (name, version, hash).
    StartWorker,
    /// Under isolation, a retained version: its checked bytes kept as an image for a later
    /// worker (nothing started).
    Keep,
    /// [`Gate::Abi`]: it serves every hot handle taken on its name (`Cache::check_bindings`).
    Bindings,
    /// [`Gate::Requires`]: providers and dependents agree, the providers handed to it (in
    /// process) or hosted in its worker.
    Requires,
    /// [`Gate::Init`]: its init hook.
    Init,
    /// [`Gate::State`]: it imports the state the serving version exports.
    State,
    /// [`Gate::Probe`]: the host's health probe.
    Probe,
    /// The copy a restart loads is stored (`objects/<blake3>.so`, with its signature proof).
    Store,
    /// The swap (hot handles, or which worker answers), the journal, and the waiting
    /// candidates retried.
    Promote,
}

impl Step {
    /// The gate a refusal at this step is recorded under (the loader's own refusals may
    /// name a later one: an ABI mismatch found by [`Step::Load`] is [`Gate::Abi`]).
    pub fn gate(self) -> Option<Gate> {
        match self {
            Step::Signature => Some(Gate::Signature),
            Step::Verify => Some(Gate::Verify),
            Step::Preflight => Some(Gate::Preflight),
            Step::Load | Step::StartWorker | Step::Keep => Some(Gate::Load),
            Step::Bindings => Some(Gate::Abi),
            Step::Requires => Some(Gate::Requires),
            Step::Init => Some(Gate::Init),
            Step::State => Some(Gate::State),
            Step::Probe => Some(Gate::Probe),
            Step::Admit | Step::Store | Step::Promote => None,
        }
    }
}

/// Which steps a candidate meets: chosen by where its bytes come from (a bundle's module,
/// a plain library's bytes, a module the host loaded, a stored object) and where its code
/// runs (in the host, or in a worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Plan {
    /// A module of a bundle, in the host: deploy, import and reload of a bundle, a watched
    /// bundle's confirmed bytes.
    Bundle,
    /// A plain library's bytes, in the host (its name and version are known once it loaded,
    /// so [`Step::Admit`] follows [`Step::Load`]).
    File,
    /// A module the host loaded itself (`Supervisor::deploy`): with trusted keys refused at
    /// [`Step::Signature`].
    Loaded,
    /// A module of a bundle, in a worker.
    IsolatedBundle,
    /// A plain library's bytes, in a worker.
    IsolatedFile,
    /// After a restart, a stored good version brought back to serve (no state to take).
    Restore,
    /// The same, in a worker (the compatibility check is not run: a dependent restored before
    /// its provider is wired when the provider comes back).
    IsolatedRestore,
    /// After a restart, another retained good version loaded so rollback reaches it (not
    /// started: no init runs until it serves again).
    Retain,
    /// The same under isolation: its checked bytes kept for a later worker.
    IsolatedRetain,
}

impl Plan {
    /// Every plan.
    pub const ALL: [Plan; 9] = [
        Plan::Bundle,
        Plan::File,
        Plan::Loaded,
        Plan::IsolatedBundle,
        Plan::IsolatedFile,
        Plan::Restore,
        Plan::IsolatedRestore,
        Plan::Retain,
        Plan::IsolatedRetain,
    ];

    /// Its steps, in the order they run.
    pub fn steps(self) -> &'static [Step] {
        use Step::*;
        match self {
            Plan::Bundle => {
                &[Signature, Verify, Admit, Preflight, Load, Bindings, Requires, Init, State, Probe, Store, Promote]
            }
            Plan::File => {
                &[Signature, Verify, Preflight, Load, Admit, Bindings, Requires, Init, State, Probe, Store, Promote]
            }
            Plan::Loaded => &[Signature, Admit, Load, Bindings, Requires, Init, State, Probe, Store, Promote],
            Plan::IsolatedBundle => {
                &[Signature, Verify, Admit, StartWorker, Requires, Init, State, Probe, Store, Promote]
            }
            Plan::IsolatedFile => {
                &[Signature, Verify, StartWorker, Admit, Requires, Init, State, Probe, Store, Promote]
            }
            Plan::Restore => &[Signature, Verify, Load, Bindings, Requires, Init, Probe, Promote],
            Plan::IsolatedRestore => &[Signature, Verify, StartWorker, Requires, Init, Promote],
            Plan::Retain => &[Signature, Verify, Load],
            Plan::IsolatedRetain => &[Signature, Verify, Keep],
        }
    }

    /// Whether a refusal is recorded as a deploy's (history, status, the bytes marked when
    /// they are to blame) or reported as a restore's (never marked: a version that served
    /// well is not condemned by a database down at start).
    pub(crate) fn is_deploy(self) -> bool {
        matches!(self, Plan::Bundle | Plan::File | Plan::Loaded | Plan::IsolatedBundle | Plan::IsolatedFile)
    }
}

/// How a step ended, as the step observer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StepEnd {
    /// It passed; the next step runs.
    Passed,
    /// It ended the run without a refusal (the bytes already serve).
    Stopped,
    /// It refused the candidate; nothing after it runs.
    Refused,
}

/// One step the runner ran, reported to the step observer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepSeen {
    /// The plan it belongs to.
    pub plan: Plan,
    /// The step.
    pub step: Step,
    /// The module's name, or the path of bytes whose name is not known yet.
    pub module: String,
    /// How it ended.
    pub end: StepEnd,
}

/// Sees every step the runner runs, as it ends ([`Supervisor::observe_steps`](crate::Supervisor::observe_steps)):
/// called on the deploying thread with the operation lock held, so it must return quickly
/// and must not call the supervisor.
pub type StepObserver = std::sync::Arc<dyn Fn(&StepSeen) + Send + Sync>;

pub(crate) fn run_probe(probe: Option<&Probe>, module: &Module) -> Result<(), GateError> {
    match probe {
        None => Ok(()),
        Some(p) => match catch_unwind(AssertUnwindSafe(|| p(module))) {
            Ok(r) => r.map_err(|error| GateError::Probe { error }),
            Err(payload) => Err(GateError::ProbePanicked { message: panic_message(payload.as_ref()) }),
        },
    }
}

/// The gate a load error belongs to.
pub(crate) fn load_gate(e: &LoadError) -> Gate {
    match e {
        LoadError::WrongArchitecture { .. }
        | LoadError::LayoutMismatch { .. }
        | LoadError::AbiMismatch { .. }
        | LoadError::RustcMismatch { .. }
        | LoadError::TargetMismatch { .. }
        | LoadError::PanicAbort { .. }
        | LoadError::InterfaceMissing { .. }
        | LoadError::InterfaceMismatch { .. } => Gate::Abi,
        LoadError::InitFailed { .. } | LoadError::InitPanicked { .. } => Gate::Init,
        _ => Gate::Load,
    }
}

/// The gate a cache error belongs to.
pub(crate) fn cache_gate(e: &CacheError) -> Gate {
    match e {
        CacheError::Load(l) => load_gate(l),
        CacheError::StateExport { .. } | CacheError::StateImport { .. } => Gate::State,
        CacheError::MissingProvider { .. }
        | CacheError::BreaksDependents { .. }
        | CacheError::OutsideRange { .. }
        | CacheError::Cycle { .. }
        | CacheError::HasDependents { .. } => Gate::Requires,
        _ => Gate::Load,
    }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_errors_map_to_gates() {
        let path = PathBuf::from("x.so");
        let abi = LoadError::AbiMismatch { path: path.clone(), module: "m".into(), expected: 1, found: 999 };
        assert_eq!(load_gate(&abi), Gate::Abi);
        let init = LoadError::InitFailed {
            path: path.clone(),
            module: "m".into(),
            error: hotpack_abi::CallError::Failed { message: "no".into() },
        };
        assert_eq!(load_gate(&init), Gate::Init);
        assert_eq!(load_gate(&LoadError::NotFound { path }), Gate::Load);
    }

    #[test]
    fn gate_names_round_trip() {
        for g in Gate::ORDER {
            assert_eq!(Gate::parse(g.as_str()), Some(g));
        }
    }
}
