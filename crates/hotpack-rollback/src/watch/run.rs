//! The one watch-to-deploy loop: a watcher over folders, the [`DeployFilter`], and
//! [`Supervisor::deploy_confirmed`] with the bytes and hash the watcher confirmed. The
//! facade's `Runtime::watch` and `hotpack serve` both run it; they differ only in what they
//! do with each [`WatchReport`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hotpack_detect::{Change, ChangeKind, DetectError, RecvTimeoutError, WatchConfig, Watcher};

use super::{DeployFilter, is_deployable};
use crate::{Deployed, RollbackError, Supervisor};

/// What the watch-to-deploy loop (and [`Supervisor::deploy_all`]) did, one file or one
/// watcher event at a time.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WatchReport {
    /// A file was deployed: its modules passed their gates (or already served).
    Deployed {
        /// The file.
        path: PathBuf,
        /// What serves now.
        deployed: Vec<Deployed>,
    },
    /// A file was refused (the first module's error); whatever served keeps serving.
    Refused {
        /// The file.
        path: PathBuf,
        /// Why: the error the deploy returned.
        error: Arc<RollbackError>,
    },
    /// Anything else the watcher said: detection degraded (a rescan after lost events,
    /// polling past the watch limit) or a file it could not read.
    Watch(Arc<hotpack_detect::Event>),
}

impl WatchReport {
    /// The report of a deploy of `path` that returned `result`.
    pub fn of(path: &Path, result: Result<Vec<Deployed>, RollbackError>) -> WatchReport {
        match result {
            Ok(deployed) => WatchReport::Deployed { path: path.to_path_buf(), deployed },
            Err(e) => WatchReport::Refused { path: path.to_path_buf(), error: Arc::new(e) },
        }
    }
}

impl fmt::Display for WatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchReport::Deployed { path, deployed } => {
                write!(f, "deployed {}:", path.display())?;
                for d in deployed {
                    write!(f, " {} {} [{}] ({:?})", d.name, d.version, crate::short(&d.hash), d.outcome)?;
                }
                Ok(())
            }
            WatchReport::Refused { path, error } => write!(f, "refused {}: {error}", path.display()),
            WatchReport::Watch(event) => match &**event {
                hotpack_detect::Event::Warning(w) => write!(f, "watch: {w}"),
                hotpack_detect::Event::Error(e) => write!(f, "watch: {e}"),
                other => write!(f, "watch: {other:?}"),
            },
        }
    }
}

/// Why [`Supervisor::watch`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The watcher refused a root.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// The loop's thread could not be started.
    #[error("cannot start the watch thread")]
    Spawn {
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A running watch-to-deploy loop; dropping it stops the loop and waits for its thread.
#[derive(Debug)]
pub struct Watching {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Every bundle and library directly inside each directory of `roots` (each directory's in
/// name order), and every root that is one itself; nothing below a root is walked, and only
/// regular files (or links to them) are taken: a directory, a FIFO or a device with a
/// library's name is skipped.
pub fn deployable_files(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for root in roots {
        if root.is_dir() {
            if let Ok(read) = std::fs::read_dir(root) {
                let mut found: Vec<PathBuf> =
                    read.flatten().map(|e| e.path()).filter(|p| is_deployable(p) && p.is_file()).collect();
                found.sort();
                files.extend(found);
            }
        } else if is_deployable(root) {
            files.push(root.clone());
        }
    }
    files
}

impl Supervisor {
    /// Deploys each of [`deployable_files`]`(roots)` with [`deploy_path`](Self::deploy_path),
    /// in order, and reports each outcome.
    pub fn deploy_all(&self, roots: &[PathBuf]) -> Vec<WatchReport> {
        deployable_files(roots).into_iter().map(|f| WatchReport::of(&f, self.deploy_path(&f))).collect()
    }

    /// Deploys a change a watcher confirmed, from the bytes and hash it confirmed when it
    /// kept them ([`deploy_confirmed`](Self::deploy_confirmed): no second read or hash),
    /// else from the path.
    pub fn deploy_change(&self, mut change: Change) -> WatchReport {
        let result = match change.hash().zip(change.take_content()) {
            Some((hash, content)) => self.deploy_confirmed(&change.path, content, hash),
            None => self.deploy_path(&change.path),
        };
        WatchReport::of(&change.path, result)
    }

    /// Watches `roots` (those that exist; `config` with [`WatchConfig::recursive`] off, so
    /// nothing below a root is walked or hashed) and deploys every bundle or library directly
    /// inside one (or a root that is one) whose confirmed content changed (created or
    /// replaced; removals deploy nothing: the version serving keeps serving), through
    /// [`deploy_change`](Self::deploy_change). Every deploy and every other watcher event is
    /// handed to `report`, on the loop's thread; the loop goes on after a refusal. Returns once
    /// the watches are in place.
    ///
    /// # Errors
    ///
    /// [`WatchError`] when the watcher or its thread cannot start.
    pub fn watch(
        &self,
        roots: &[PathBuf],
        config: &WatchConfig,
        report: impl Fn(WatchReport) + Send + 'static,
    ) -> Result<Watching, WatchError> {
        let roots: Vec<PathBuf> = roots.iter().filter(|p| p.exists()).cloned().collect();
        let filter = DeployFilter::new(&roots);
        let watcher = Watcher::new(&roots, &config.clone().recursive(false))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let supervisor = self.clone();
        let thread = std::thread::Builder::new()
            .name("hotpack-watch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match watcher.recv_timeout(Duration::from_millis(100)) {
                        Ok(hotpack_detect::Event::Change(change)) => {
                            if filter.wants(&change.path, matches!(change.kind, ChangeKind::Removed { .. })) {
                                report(supervisor.deploy_change(change));
                            }
                        }
                        Ok(other) => report(WatchReport::Watch(Arc::new(other))),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            })
            .map_err(|source| WatchError::Spawn { source })?;
        Ok(Watching { stop, thread: Some(thread) })
    }
}
