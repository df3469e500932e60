//! What watchers and pollers report: [`Event`]s carrying confirmed [`Change`]s,
//! [`Warning`]s and errors.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::{DetectError, Fingerprint};

/// A confirmed content change of one file.
///
/// A watcher or poller hands on what it confirmed: [`hash`](Self::hash) is the
/// blake3 of the new content, and for files up to
/// [`WatchConfig::content_limit`](crate::WatchConfig::content_limit) bytes
/// [`content`](Self::content) holds the very bytes that were hashed, so the
/// consumer needs neither a second read nor a second hash (and cannot read a
/// newer, unconfirmed version by accident).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The file (absolute: watched paths are canonicalized).
    pub path: PathBuf,
    /// What happened, with the fingerprints before and after.
    pub kind: ChangeKind,
    /// The confirmed bytes, when they were kept.
    content: Option<Arc<[u8]>>,
}

/// The three kinds of change. `old` is the last fingerprint reported (or taken
/// when watching started), `new` the one just confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A file appeared.
    Created {
        /// Its fingerprint.
        new: Fingerprint,
    },
    /// A file's content hash changed (metadata-only changes are never reported).
    Changed {
        /// The previous fingerprint.
        old: Fingerprint,
        /// The new fingerprint (its hash differs from `old`'s).
        new: Fingerprint,
    },
    /// A file disappeared (deleted, or renamed away).
    Removed {
        /// Its last fingerprint.
        old: Fingerprint,
    },
}

impl ChangeKind {
    /// "created", "changed" or "removed".
    pub fn name(&self) -> &'static str {
        match self {
            ChangeKind::Created { .. } => "created",
            ChangeKind::Changed { .. } => "changed",
            ChangeKind::Removed { .. } => "removed",
        }
    }
}

impl Change {
    /// A change without content.
    pub fn new(path: PathBuf, kind: ChangeKind) -> Change {
        Change { path, kind, content: None }
    }

    /// Attach the confirmed bytes (ignored for a removal).
    ///
    /// The caller vouches that blake3 of `content` is the new fingerprint's hash.
    pub fn with_content(mut self, content: Option<Arc<[u8]>>) -> Change {
        if !matches!(self.kind, ChangeKind::Removed { .. }) {
            self.content = content;
        }
        self
    }

    /// The blake3 of the new content, as confirmed by the detector (`None`
    /// for a removal).
    pub fn hash(&self) -> Option<blake3::Hash> {
        self.new_fingerprint().map(|fp| fp.hash)
    }

    /// The bytes whose blake3 is [`hash`](Self::hash), read once by the
    /// detector: `Some` for created and changed files up to the detector's
    /// content limit, `None` for removals, larger files, and changes found
    /// without a fresh read.
    pub fn content(&self) -> Option<&Arc<[u8]>> {
        self.content.as_ref()
    }

    /// Take the confirmed bytes out of the change (see [`content`](Self::content)).
    pub fn take_content(&mut self) -> Option<Arc<[u8]>> {
        self.content.take()
    }

    /// The fingerprint of the new content (`None` for a removal).
    pub fn new_fingerprint(&self) -> Option<&Fingerprint> {
        match &self.kind {
            ChangeKind::Created { new } | ChangeKind::Changed { new, .. } => Some(new),
            ChangeKind::Removed { .. } => None,
        }
    }

    /// The fingerprint of the previous content (`None` for a creation).
    pub fn old_fingerprint(&self) -> Option<&Fingerprint> {
        match &self.kind {
            ChangeKind::Changed { old, .. } | ChangeKind::Removed { old } => Some(old),
            ChangeKind::Created { .. } => None,
        }
    }
}

impl fmt::Display for Change {
    /// `changed /p/a.so 1a2b3c4d.. -> 5e6f7a8b..`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            ChangeKind::Created { new } => write!(f, "created {path} -> {}..", new.short_hex()),
            ChangeKind::Changed { old, new } => {
                write!(f, "changed {path} {}.. -> {}..", old.short_hex(), new.short_hex())
            }
            ChangeKind::Removed { old } => write!(f, "removed {path} {}.. -> -", old.short_hex()),
        }
    }
}

/// Something the caller should know that is not a change: detection degraded
/// but did not stop.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// Events were lost (the kernel's event queue overflowed): the watched
    /// trees were rescanned and real differences will be reported as changes.
    Rescan {
        /// Why.
        cause: RescanCause,
    },
    /// The OS limit on watches was reached: these paths are now polled.
    PollingFallback {
        /// The watched roots now polled.
        paths: Vec<PathBuf>,
        /// How often they are polled.
        interval: Duration,
    },
}

/// Why the watched paths were rescanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RescanCause {
    /// The kernel's event queue overflowed: file events were lost.
    EventsLost,
}

impl fmt::Display for RescanCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RescanCause::EventsLost => "file events were lost (the kernel's event queue overflowed)",
        })
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::Rescan { cause } => {
                write!(f, "{cause}: rescanning the watched paths")
            }
            Warning::PollingFallback { paths, interval } => {
                write!(
                    f,
                    "the OS limit on file watches was reached; polling every {} ms instead:",
                    interval.as_millis()
                )?;
                for path in paths {
                    write!(f, " {}", path.display())?;
                }
                Ok(())
            }
        }
    }
}

/// One item from a [`Watcher`](crate::Watcher) or [`Poller`](crate::Poller).
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A confirmed content change.
    Change(Change),
    /// Detection degraded (and recovered as described); nothing was missed.
    Warning(Warning),
    /// A file could not be fingerprinted (unreadable, ...). Its last known
    /// fingerprint is kept and it is tried again on its next event (or, when
    /// polling, when its metadata next changes).
    Error(DetectError),
}

impl Event {
    /// The change, if this event is one.
    pub fn change(&self) -> Option<&Change> {
        match self {
            Event::Change(change) => Some(change),
            _ => None,
        }
    }

    /// The change, if this event is one (by value).
    pub fn into_change(self) -> Option<Change> {
        match self {
            Event::Change(change) => Some(change),
            _ => None,
        }
    }
}
