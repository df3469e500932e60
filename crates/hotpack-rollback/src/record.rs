//! The facts the supervisor records: one [`Happened`] and one [`Record`], used by the
//! [`history`](crate::Supervisor::history), the [`status`](crate::ModuleStatus::history),
//! the [`RollbackEvent`]s and the [`Deployed`](crate::Deployed) results.

use crate::{Crash, Gate, GateError, JournalError, RollbackError, VersionSummary, short};
use hotpack_cache::Source;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// What happened to a version of a module.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Happened {
    /// It passed every gate and serves.
    Promoted {
        /// The version that served before, if any.
        from: Option<semver::Version>,
    },
    /// The bytes are the ones already serving: nothing changed (never in the history).
    Unchanged,
    /// It failed a gate; the serving version kept serving.
    GateFailed {
        /// The gate.
        gate: Gate,
        /// What went wrong.
        error: Arc<GateError>,
    },
    /// It was refused without running any gate (pinned module, downgrade, failed before).
    Refused {
        /// Why.
        error: Arc<RollbackError>,
    },
    /// It exceeded the panic budget and was demoted (and marked failed).
    Demoted {
        /// Panics counted in the window.
        panics: u32,
        /// The version serving now; `None` when no good version was left to fall back to.
        to: Option<VersionSummary>,
    },
    /// Its process crashed under a call (a worker's death, or a call killed at its
    /// deadline): demoted at once and marked failed, whatever the panic budget.
    Crashed {
        /// How it ended.
        crash: Crash,
        /// The version serving now; `None` when no good version was left to fall back to.
        to: Option<VersionSummary>,
    },
    /// It serves again after a rollback (manual, or after a demotion).
    RolledBack {
        /// The version that served before, if any.
        from: Option<semver::Version>,
    },
    /// It serves and is held until [`Supervisor::unpin`](crate::Supervisor::unpin).
    Pinned,
    /// Its pin was lifted.
    Unpinned,
    /// A restart resumed it.
    Restored,
    /// The retention policy retired it from the cache.
    Retired,
}

impl Happened {
    /// A one-word name for logs and JSON: `promoted`, `unchanged`, `gate_failed`, `refused`,
    /// `demoted`, `crashed`, `rolled_back`, `pinned`, `unpinned`, `restored`, `retired`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Happened::Promoted { .. } => "promoted",
            Happened::Unchanged => "unchanged",
            Happened::GateFailed { .. } => "gate_failed",
            Happened::Refused { .. } => "refused",
            Happened::Demoted { .. } => "demoted",
            Happened::Crashed { .. } => "crashed",
            Happened::RolledBack { .. } => "rolled_back",
            Happened::Pinned => "pinned",
            Happened::Unpinned => "unpinned",
            Happened::Restored => "restored",
            Happened::Retired => "retired",
        }
    }

    /// Whether a version serves because of it (promoted, rolled back, pinned, restored).
    pub fn serves(&self) -> bool {
        matches!(self, Happened::Promoted { .. } | Happened::RolledBack { .. } | Happened::Pinned | Happened::Restored)
    }

    /// The typed cause, for a failed gate, a refusal or a crash.
    pub fn error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Happened::GateFailed { error, .. } => Some(&**error),
            Happened::Refused { error } => Some(&**error),
            Happened::Crashed { crash, .. } => Some(crash),
            _ => None,
        }
    }
}

impl PartialEq for Happened {
    /// Two facts are equal when they say the same thing (an error compares by message).
    fn eq(&self, other: &Self) -> bool {
        use Happened as H;
        match (self, other) {
            (H::Promoted { from: a }, H::Promoted { from: b })
            | (H::RolledBack { from: a }, H::RolledBack { from: b }) => a == b,
            (H::GateFailed { gate: a, error: ea }, H::GateFailed { gate: b, error: eb }) => {
                a == b && ea.to_string() == eb.to_string()
            }
            (H::Refused { error: a }, H::Refused { error: b }) => a.to_string() == b.to_string(),
            (H::Demoted { panics: a, to: ta }, H::Demoted { panics: b, to: tb }) => a == b && ta == tb,
            (H::Crashed { crash: a, to: ta }, H::Crashed { crash: b, to: tb }) => a == b && ta == tb,
            (H::Unchanged, H::Unchanged)
            | (H::Pinned, H::Pinned)
            | (H::Unpinned, H::Unpinned)
            | (H::Restored, H::Restored)
            | (H::Retired, H::Retired) => true,
            _ => false,
        }
    }
}

impl Eq for Happened {}

impl fmt::Display for Happened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Happened::Promoted { from: Some(from) } => write!(f, "promoted (from {from})"),
            Happened::Promoted { from: None } => write!(f, "promoted"),
            Happened::Unchanged => write!(f, "unchanged (already serving)"),
            Happened::GateFailed { gate, error } => write!(f, "failed the {gate} gate: {error}"),
            Happened::Refused { error } => write!(f, "refused: {error}"),
            Happened::Demoted { panics, to: Some(to) } => write!(f, "demoted after {panics} panics; now serving {to}"),
            Happened::Demoted { panics, to: None } => {
                write!(f, "demoted after {panics} panics; nothing older to serve (still marked failed)")
            }
            Happened::Crashed { crash, to: Some(to) } => write!(f, "crashed ({crash}); demoted, now serving {to}"),
            Happened::Crashed { crash, to: None } => {
                write!(f, "crashed ({crash}); demoted, nothing older to serve (still marked failed)")
            }
            Happened::RolledBack { from: Some(from) } => write!(f, "rolled back to (from {from})"),
            Happened::RolledBack { from: None } => write!(f, "rolled back to"),
            Happened::Pinned => write!(f, "pinned"),
            Happened::Unpinned => write!(f, "unpinned"),
            Happened::Restored => write!(f, "restored after a restart"),
            Happened::Retired => write!(f, "retired by the retention policy"),
        }
    }
}

/// One fact about one version of a module: a line of its history, and an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When.
    pub at: SystemTime,
    /// Module name (the path of the bundle or file when no module name could be read).
    pub module: String,
    /// The version concerned, when known (bytes that never loaded have none).
    pub version: Option<semver::Version>,
    /// Its hash, when known (a bundle that failed verification has only the manifest's claim).
    pub hash: Option<blake3::Hash>,
    /// Where its bytes came from, when known.
    pub source: Option<Source>,
    /// What happened.
    pub happened: Happened,
}

impl Record {
    /// A record of now about `module`.
    pub(crate) fn now(
        module: &str,
        version: Option<semver::Version>,
        hash: Option<blake3::Hash>,
        happened: Happened,
    ) -> Record {
        Record { at: SystemTime::now(), module: module.to_owned(), version, hash, source: None, happened }
    }

    /// A record of now about a known version.
    pub(crate) fn of(module: &str, v: &VersionSummary, happened: Happened) -> Record {
        Record {
            at: SystemTime::now(),
            module: module.to_owned(),
            version: Some(v.version.clone()),
            hash: Some(v.hash),
            source: Some(v.source.clone()),
            happened,
        }
    }

    /// Why, in one line, for a failed gate or a refusal (the typed error's message).
    pub fn reason(&self) -> Option<String> {
        self.happened.error().map(ToString::to_string)
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        write!(f, "@{secs} {}", self.module)?;
        match &self.version {
            Some(v) => write!(f, " {v}")?,
            None => write!(f, " (version unknown)")?,
        }
        if let Some(h) = &self.hash {
            write!(f, " [{}]", short(h))?;
        }
        write!(f, " {}", self.happened)
    }
}

/// What the supervisor did, for logs and the CLI.
#[derive(Debug, Clone)]
#[non_exhaustive]
// Events are rare (one per deploy, rollback or journal write) and matched on directly:
// `RollbackEvent::Record(r)` reads better than a box.
#[allow(clippy::large_enum_variant)]
pub enum RollbackEvent {
    /// Something happened to a version of a module (the same record the history keeps).
    Record(Record),
    /// The journal could not be written (the change happened in memory; a restart may
    /// resume an older good version).
    JournalFailed {
        /// The journal file.
        path: PathBuf,
        /// What went wrong (the I/O error is its source).
        error: Arc<JournalError>,
    },
    /// A journal write succeeded after one had failed: the host is durable again.
    JournalRecovered {
        /// The journal file.
        path: PathBuf,
    },
}

impl RollbackEvent {
    /// The record, when the event is about a module.
    pub fn record(&self) -> Option<&Record> {
        match self {
            RollbackEvent::Record(r) => Some(r),
            RollbackEvent::JournalFailed { .. } | RollbackEvent::JournalRecovered { .. } => None,
        }
    }
}

impl fmt::Display for RollbackEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RollbackEvent::Record(r) => write!(f, "{r}"),
            RollbackEvent::JournalFailed { path, error } => write!(f, "journal {}: {error}", path.display()),
            RollbackEvent::JournalRecovered { path } => write!(f, "journal {}: writable again", path.display()),
        }
    }
}
