//! The crate's one error type, [`DetectError`], with the path in every variant.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while fingerprinting or watching files.
///
/// Every variant names the path it is about. None of them means "the file
/// changed" or "the file did not change": an error is never turned into a hash.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// An I/O operation (`op`: "open", "read", "stat", "read directory", ...) failed on `path`.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// The file or directory the operation was applied to.
        path: PathBuf,
        /// What was being done, in words ("open", "read", "stat", ...).
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The file was modified, replaced or removed while it was being hashed.
    ///
    /// The partial hash was thrown away. The file is not ready yet: try again
    /// once it has been quiet for a while (the watcher and poller do this
    /// themselves).
    #[error("{} changed while it was being hashed (not ready yet, retry later)", path.display())]
    ChangedWhileHashing {
        /// The file that changed.
        path: PathBuf,
    },

    /// The path is neither a regular file nor a directory (a socket, a device, ...).
    #[error("{} is not a regular file or directory", path.display())]
    NotAFile {
        /// The offending path.
        path: PathBuf,
    },

    /// The file-watching backend failed for `path`.
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        /// The watched path (empty if the backend did not say which).
        path: PathBuf,
        /// The backend's error.
        #[source]
        source: notify::Error,
    },

    /// The operating system's limit on watches was reached while watching `path`
    /// (`fs.inotify.max_user_watches` on Linux).
    ///
    /// By default the watcher falls back to polling that path and reports a
    /// [`Warning::PollingFallback`](crate::Warning::PollingFallback); this
    /// variant is what a caller sees if it turned that off
    /// ([`WatchConfig::poll_on_watch_limit`](crate::WatchConfig::poll_on_watch_limit)).
    #[error(
        "the OS limit on file watches was reached while watching {} \
         (raise fs.inotify.max_user_watches or use polling)",
        path.display()
    )]
    WatchLimit {
        /// The path whose watch could not be added.
        path: PathBuf,
    },

    /// The background thread of a watcher or poller could not be started.
    #[error("cannot start the change-detection thread: {source}")]
    Thread {
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl DetectError {
    /// The path this error is about, if it names one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            DetectError::Io { path, .. }
            | DetectError::ChangedWhileHashing { path }
            | DetectError::NotAFile { path }
            | DetectError::Watch { path, .. }
            | DetectError::WatchLimit { path } => Some(path),
            DetectError::Thread { .. } => None,
        }
    }

    /// True if the error says only "not ready yet": the same operation is
    /// expected to succeed when retried later.
    pub fn is_transient(&self) -> bool {
        matches!(self, DetectError::ChangedWhileHashing { .. })
    }

    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        DetectError::Io { path: path.into(), op, source }
    }
}
