//! The one error type of the rollback crate.

use crate::{Crash, Gate, GateError, JournalError, VersionRef};
use hotpack_cache::CacheError;
use hotpack_loader::LoadError;
use hotpack_util::error::ReportedError;
use std::path::PathBuf;
use std::sync::Arc;

fn opt_version(v: &Option<semver::Version>) -> String {
    v.as_ref().map_or_else(|| "(version unknown)".to_owned(), ToString::to_string)
}

fn opt_hash(h: &Option<blake3::Hash>) -> String {
    h.as_ref().map_or_else(String::new, |h| format!(" [{}]", crate::short(h)))
}

/// Why the supervisor did not do what was asked. Whatever was serving keeps serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RollbackError {
    /// A candidate failed one of its promotion gates; it is marked failed.
    #[error("module `{name}` {}{}: {gate} gate failed: {error}", opt_version(version), opt_hash(hash))]
    GateFailed {
        /// Module name (the path of the bundle or file when no module name could be read).
        name: String,
        /// The candidate's version, when known.
        version: Option<semver::Version>,
        /// blake3 of the candidate's library, when known.
        hash: Option<blake3::Hash>,
        /// The gate.
        gate: Gate,
        /// What went wrong (shared with the [`Record`](crate::Record) of the failure).
        #[source]
        error: std::sync::Arc<GateError>,
    },
    /// These exact bytes failed before (a gate or a demotion); they are not tried again.
    #[error("module `{name}` {version} [{}] already failed ({}): {cause}", crate::short(hash), gate.map_or_else(|| "demoted".to_owned(), |g| format!("{g} gate")))]
    AlreadyFailed {
        /// Module name.
        name: String,
        /// Its version.
        version: semver::Version,
        /// blake3 of the library.
        hash: blake3::Hash,
        /// The gate it failed, or `None` when it was demoted after promotion.
        gate: Option<Gate>,
        /// Why it failed then (shared with the supervisor's record of the failure).
        #[source]
        cause: Arc<FailureCause>,
    },
    /// A version lower than one already seen was offered from outside.
    #[error(
        "module `{name}`: refusing {offered}, a downgrade from the highest version seen ({highest}); roll back instead, or allow downgrades in the policy"
    )]
    Downgrade {
        /// Module name.
        name: String,
        /// The version offered.
        offered: semver::Version,
        /// The highest version seen.
        highest: semver::Version,
    },
    /// The module is pinned; updates are ignored until it is unpinned.
    #[error("module `{name}` is pinned to {pinned}; refusing {offered} until it is unpinned")]
    Pinned {
        /// Module name.
        name: String,
        /// The pinned version.
        pinned: semver::Version,
        /// The version offered.
        offered: semver::Version,
    },
    /// No earlier activated version is retained to roll back to.
    #[error("module `{name}` has no earlier good version retained to roll back to")]
    NoPrevious {
        /// Module name.
        name: String,
    },
    /// The version asked for was activated once but is no longer retained (or failed since).
    #[error("module `{name}`: {wanted} is not retained (or is marked failed)")]
    NotRetained {
        /// Module name.
        name: String,
        /// What was asked for.
        wanted: VersionRef,
    },
    /// This host never promoted the version asked for; rolling back only goes to versions
    /// this host ran.
    #[error("module `{name}`: {wanted} was never promoted by this host")]
    NeverActivated {
        /// Module name.
        name: String,
        /// What was asked for.
        wanted: VersionRef,
    },
    /// The supervisor knows no module of that name.
    #[error("module `{name}` is not supervised")]
    UnknownModule {
        /// Module name.
        name: String,
    },
    /// The journal or its object store could not be written or read.
    #[error("journal {}: {error}", path.display())]
    Journal {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        error: JournalError,
    },
    /// With [`JournalPolicy::Revert`](crate::JournalPolicy::Revert): the promotion could not
    /// be recorded in the journal, so it was undone and the previous version serves again.
    #[error("module `{name}` {version}: not promoted: the journal could not record it")]
    NotDurable {
        /// Module name.
        name: String,
        /// The version whose promotion was undone.
        version: semver::Version,
        /// Why the journal could not be written.
        #[source]
        error: std::sync::Arc<JournalError>,
    },
    /// The copy of the candidate's library a restart would load could not be stored beside
    /// the journal (a full disk, say): it was not promoted (not marked failed either; the
    /// same bytes are tried again on the next deploy) and the version serving keeps serving.
    #[error(
        "module `{name}` {version} [{}]: not promoted: its library could not be stored for a restart",
        crate::short(hash)
    )]
    NotStored {
        /// Module name.
        name: String,
        /// The candidate's version.
        version: semver::Version,
        /// blake3 of the candidate's library.
        hash: blake3::Hash,
        /// Why the store failed.
        #[source]
        error: std::sync::Arc<JournalError>,
    },
    /// Mapping the candidate would pass [`Policy::max_versions`](crate::Policy::max_versions):
    /// it is refused before it is loaded (not marked failed: a restarted host takes it) and
    /// the version serving keeps serving. Versions already mapped never count.
    #[error(
        "module `{name}` {}{}: refused: {mapped} versions are mapped and the cap is {cap}; the version serving keeps \
         serving; a restart reclaims mapped versions",
        opt_version(version),
        opt_hash(&Some(*hash))
    )]
    OverVersionCap {
        /// Module name (the path of the file when no module name could be read yet).
        name: String,
        /// The candidate's version, when known.
        version: Option<semver::Version>,
        /// blake3 of the candidate's library.
        hash: blake3::Hash,
        /// Versions mapped in this process now.
        mapped: usize,
        /// The cap.
        cap: usize,
    },
    /// The cache refused an operation.
    #[error(transparent)]
    Cache(CacheError),
}

/// Why a version was marked failed: the typed cause when this process saw the failure, the
/// journal's text when an earlier run did (the journal stores [`FailureCause`]'s `Display`,
/// `docs/FORMAT.md`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum FailureCause {
    /// It failed a gate.
    Gate(Arc<GateError>),
    /// Promoted, it panicked more often than the policy's budget allows and was demoted.
    Panics {
        /// Panics counted in the window.
        panics: u32,
        /// The window.
        window: std::time::Duration,
    },
    /// Its process crashed under a call.
    Crashed(Crash),
    /// An earlier run recorded the failure in the journal, which keeps its text.
    Journaled(ReportedError),
}

impl std::fmt::Display for FailureCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureCause::Gate(error) => error.fmt(f),
            FailureCause::Panics { panics, window } => write!(f, "demoted after {panics} panics within {window:?}"),
            FailureCause::Crashed(crash) => write!(f, "crashed: {crash}"),
            FailureCause::Journaled(text) => text.fmt(f),
        }
    }
}

impl std::error::Error for FailureCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FailureCause::Gate(error) => Some(&**error),
            FailureCause::Crashed(crash) => Some(crash),
            FailureCause::Journaled(text) => Some(text),
            FailureCause::Panics { .. } => None,
        }
    }
}

/// Why [`Supervisor::restore`](crate::Supervisor::restore) skipped a version (see
/// [`RestoreProblem`](crate::RestoreProblem)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The stored copy of the library could not be read (missing, or its bytes do not
    /// match their hash).
    #[error("the stored library: {0}")]
    Object(#[source] JournalError),
    /// The stored library did not load.
    #[error("{gate} gate: {error}")]
    Load {
        /// The gate a load failure belongs to.
        gate: Gate,
        /// What the loader said.
        #[source]
        error: LoadError,
    },
    /// The stored library is not the module and version the journal names.
    #[error("the stored library is {name} {version}, not what the journal says")]
    Mismatch {
        /// The module name the library says.
        name: String,
        /// The version the library says.
        version: semver::Version,
    },
    /// A gate refused it this time (a probe against a database still down, say); the
    /// version is skipped, not marked failed.
    #[error("{gate} gate: {error}")]
    Gate {
        /// The gate.
        gate: Gate,
        /// What went wrong.
        #[source]
        error: GateError,
    },
    /// With trusted keys: the version was signed by a key that is no longer trusted.
    #[error("signature gate: signed by {fingerprint}, which is no longer trusted")]
    NoLongerTrusted {
        /// The fingerprint of the key that signed it.
        fingerprint: String,
    },
    /// With trusted keys: no signature proof is stored with the version (it was not
    /// deployed from a bundle a trusted key signed).
    #[error("signature gate: it was not deployed from a bundle signed by a trusted key")]
    Unsigned,
    /// With trusted keys: the stored signature proof does not show that a trusted key
    /// signed this module's library (a forged or edited proof, or one of another bundle).
    #[error("signature gate: {0}")]
    Signature(#[source] hotpack_archive::ProofError),
    /// A retained (not serving) good version could not be loaded for rollback.
    #[error("not available to roll back to: {0}")]
    NotRetained(#[source] Box<RestoreError>),
    /// No good version of the module could be restored; nothing is active.
    #[error("no good version could be restored; nothing is active")]
    NothingRestored,
}
