//! The promotion pipeline, defined once: which gates a candidate passes, in which order,
//! and what each failure leaves behind. Deploy and restore both run it; a later caller
//! (a preflight child, a fleet deploy, a max-versions limit, a signature check before any
//! byte is written) becomes one more [`Step`] in a plan, not a fourth copy of the order.
//!
//! The order, for every caller:
//!
//! | gate | what runs | a failure leaves behind |
//! |---|---|---|
//! | [`Gate::Signature`] | with trusted keys ([`Policy::trusted_keys`](crate::Policy::trusted_keys)): the bundle, as [`Bundle::open`](hotpack_archive::Bundle::open) read it, is signed by one of them; a plain library file is refused | nothing written, nothing loaded; the failure in history |
//! | [`Gate::Verify`] | the bundle opens, every entry matches its manifest digest | nothing registered; the failure in history |
//! | [`Gate::Preflight`] | (only with a [`Preflight`] set) the candidate loads, inits and is probed in a child process | nothing registered, nothing mapped in the host; the hash marked failed |
//! | [`Gate::Load`] | ELF checks, `dlopen`, the checked descriptor read | nothing registered (the code stays mapped: hotpack never unloads) |
//! | [`Gate::Abi`] | the candidate serves every hot handle taken on its name | the candidate retired from the registry |
//! | [`Gate::Requires`] | every interface it requires has a current provider (which is handed to it), no current dependent of its name loses an interface it requires, no cycle | the candidate kept, not marked: a missing provider is waited for (the candidate is retried when a version is promoted) |
//! | [`Gate::Init`] | its init hook (an error and a panic both fail) | the candidate retired |
//! | [`Gate::State`] | it imports the state the serving version exported | the candidate retired |
//! | [`Gate::Probe`] | the host's health probe accepts it | the candidate retired |
//! | promote | one atomic swap of every hot handle | the candidate retired |
//!
//! In every case the serving version keeps serving. Whether the candidate's hash is also
//! marked failed (so the same bytes are refused at once next time) depends on the
//! [`Blame`]: a deploy marks bytes the candidate is to blame for; a restore never marks
//! (a version that served well is not condemned by a database down at start).
//!
//! The cache owns the primitives the steps compose (`check_bindings`, `transfer_state`,
//! `promote`); it has no order of its own beyond its `import`, which runs the same
//! order without a probe.

use crate::Probe;
use hotpack_archive::{Bundle, BundleError, Fingerprint, PublicKey, SignatureStatus};
use hotpack_cache::{Cache, CacheError};
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

/// Who a failure is blamed on: only the candidate's own failures mark its bytes failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blame {
    /// The candidate failed: mark its hash (on deploy).
    Candidate,
    /// Something else failed (the serving version could not export its state).
    Environment,
}

/// A failed gate: which one, why, and whom to blame.
#[derive(Debug)]
pub(crate) struct GateFailure {
    pub gate: Gate,
    pub error: GateError,
    pub blame: Blame,
}

impl GateFailure {
    fn candidate(gate: Gate, error: GateError) -> GateFailure {
        GateFailure { gate, error, blame: Blame::Candidate }
    }
}

/// One step after the candidate loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// [`Gate::Abi`]: `Cache::check_bindings`.
    Bindings,
    /// [`Gate::Requires`]: `Cache::prepare_requirements`.
    Requires,
    /// [`Gate::Init`]: the module's init hook.
    Init,
    /// [`Gate::State`]: `Cache::transfer_state` from the serving version.
    State,
    /// [`Gate::Probe`]: the host's probe.
    Probe,
    /// The atomic swap: `Cache::promote`.
    Promote,
}

/// A deploy: every gate after load, then the promotion.
pub(crate) const DEPLOY: &[Step] =
    &[Step::Bindings, Step::Requires, Step::Init, Step::State, Step::Probe, Step::Promote];

/// A restore after a restart: no serving version to take state from.
pub(crate) const RESTORE: &[Step] = &[Step::Bindings, Step::Requires, Step::Init, Step::Probe, Step::Promote];

/// Runs `plan` on a loaded and registered `module`, in order, stopping at the first
/// failure. On success the candidate serves.
pub(crate) fn run(
    cache: &Cache,
    module: &Module,
    probe: Option<&Probe>,
    plan: &[Step],
    waiting: &[Module],
) -> Result<(), Box<GateFailure>> {
    debug_assert!(plan.windows(2).all(|w| step_rank(w[0]) < step_rank(w[1])), "steps out of order");
    for step in plan {
        match step {
            Step::Bindings => {
                cache.check_bindings(module).map_err(|e| GateFailure::candidate(Gate::Abi, GateError::Cache(e)))?
            }
            // Another module is missing or depends on this name: not the candidate's bytes'
            // fault, so they are not marked (it may pass once the other side changes).
            Step::Requires => cache.prepare_requirements(module, waiting).map_err(|e| GateFailure {
                gate: Gate::Requires,
                error: GateError::Cache(e),
                blame: Blame::Environment,
            })?,
            Step::Init => module.init().map_err(|e| GateFailure::candidate(load_gate(&e), GateError::Load(e)))?,
            Step::State => match cache.transfer_state(module) {
                Ok(_) => {}
                // The serving version could not export: not the candidate's fault.
                Err(e @ CacheError::StateExport { .. }) => {
                    return Err(Box::new(GateFailure {
                        gate: Gate::State,
                        error: GateError::Cache(e),
                        blame: Blame::Environment,
                    }));
                }
                Err(e) => return Err(Box::new(GateFailure::candidate(Gate::State, GateError::Cache(e)))),
            },
            Step::Probe => run_probe(probe, module).map_err(|e| GateFailure::candidate(Gate::Probe, e))?,
            Step::Promote => {
                cache.promote(module).map_err(|e| GateFailure::candidate(cache_gate(&e), GateError::Cache(e)))?
            }
        }
    }
    Ok(())
}

fn step_rank(s: Step) -> u8 {
    match s {
        Step::Bindings => 0,
        Step::Requires => 1,
        Step::Init => 2,
        Step::State => 3,
        Step::Probe => 4,
        Step::Promote => 5,
    }
}

fn run_probe(probe: Option<&Probe>, module: &Module) -> Result<(), GateError> {
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

    /// Every plan runs its steps in the one order, ABI before init (init runs module code).
    #[test]
    fn plans_follow_the_one_order() {
        for plan in [DEPLOY, RESTORE] {
            assert!(plan.windows(2).all(|w| step_rank(w[0]) < step_rank(w[1])), "{plan:?}");
            assert_eq!(plan.first(), Some(&Step::Bindings));
            assert_eq!(plan.last(), Some(&Step::Promote));
        }
        assert!(Gate::ORDER.windows(2).all(|w| w[0] < w[1]));
        for g in Gate::ORDER {
            assert_eq!(Gate::parse(g.as_str()), Some(g));
        }
    }
}
