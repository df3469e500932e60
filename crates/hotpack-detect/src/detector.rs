//! The public faces of the engine: [`Watcher`] (notify), [`Poller`] (stat
//! sweeps), [`Detector`] (either, chosen by [`WatchConfig`]) and the
//! [`Events`] channel they all deliver through.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher as _};

use crate::cache::{Counters, DEFAULT_RACY_WINDOW};
use crate::engine::{Engine, Msg, Root};
use crate::{DetectError, Event, FingerprintStats};

/// How a [`Watcher`], [`Poller`] or [`Detector`] behaves.
///
/// Start from [`WatchConfig::default()`] (or [`new`](Self::new)) and adjust
/// with the builder methods or by assigning fields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchConfig {
    /// How long a path must go without activity before it is confirmed by
    /// hash, when no event said that the writer is done. A file renamed into
    /// place, closed after writing or hard-linked into place is confirmed at
    /// once, without this window and without [`settle`](Self::settle); what
    /// waits for it are
    /// creations, removals, metadata changes, files seen by polling, and the
    /// rest of a burst of writes. A file written in place that its writer
    /// still holds open is not confirmed at all until it is closed. Zero is
    /// allowed (a file changed less than `settle` earlier is still given that
    /// long, see [`hash_file`](crate::hash_file)). Default: 50 ms.
    pub quiet: Duration,
    /// `Some(interval)`: [`Detector::new`] polls instead of watching.
    /// Default: `None`.
    pub poll_interval: Option<Duration>,
    /// How often a watcher polls the paths it could not watch because the OS
    /// limit on watches was reached. Default: 1 s.
    pub fallback_poll_interval: Duration,
    /// What a watcher does when the OS limit on watches is reached: poll the
    /// affected paths with a warning (`true`, the default) or fail
    /// ([`DetectError::WatchLimit`], returned by [`Watcher::new`] or sent as
    /// [`Event::Error`] later).
    pub poll_on_watch_limit: bool,
    /// See [`FingerprintCache::with_racy_window`](crate::FingerprintCache::with_racy_window).
    /// Default: [`DEFAULT_RACY_WINDOW`].
    pub racy_window: Duration,
    /// See [`FileHasher::with_settle`](crate::FileHasher::with_settle); not
    /// applied to files whose writer is known to be done (renamed into
    /// place, closed after writing). Default: 20 ms.
    pub settle: Duration,
    /// Created and changed files of at most this many bytes are handed on
    /// with the bytes that were hashed ([`Change::content`](crate::Change::content)),
    /// so the consumer reads and hashes nothing again. 0 turns this off.
    /// Default: 64 MiB.
    pub content_limit: u64,
    /// See [`FileHasher::with_mmap`](crate::FileHasher::with_mmap). Default: `true`.
    pub mmap: bool,
    /// Ignore files whose names match the [`DEFAULT_TEMP_PATTERNS`](crate::DEFAULT_TEMP_PATTERNS): editor
    /// swap, backup and lock files and atomic-save temporaries
    /// (`.a.txt.swp`, `a.txt~`, `.#a.txt`, `4913`,
    /// `.module.so.hotpack-tmp-1-2`, `.tmpA1b2C3`). They are never
    /// fingerprinted or reported; the save they are part of is (a rename
    /// over the real file is its one `Changed`). Default: `true`.
    pub ignore_temp_files: bool,
    /// More file-name patterns to ignore, besides the temporary names (`*`:
    /// any run of characters, `?`: one other than `.`; matched against the file's name, not
    /// its path). Default: none.
    ///
    /// Ignoring applies to files found in watched directories, by the watcher
    /// and the poller alike; a file given to [`Watcher::new`] or
    /// [`Poller::new`] by its own path is never ignored.
    pub ignore: Vec<String>,
    /// Watch whole trees under directory roots (`true`, the default) or only the files
    /// directly inside them (`false`: a subdirectory, or a link to one, dropped into a root
    /// is neither watched, walked nor hashed; a plugin folder wants this). Either way a
    /// symbolic link to a directory that is not itself a root is never followed.
    pub recursive: bool,
}

/// Default [`WatchConfig::content_limit`]: 64 MiB.
pub const DEFAULT_CONTENT_LIMIT: u64 = 64 << 20;

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            quiet: Duration::from_millis(50),
            poll_interval: None,
            fallback_poll_interval: Duration::from_secs(1),
            poll_on_watch_limit: true,
            racy_window: DEFAULT_RACY_WINDOW,
            settle: Duration::from_millis(20),
            content_limit: DEFAULT_CONTENT_LIMIT,
            mmap: true,
            ignore_temp_files: true,
            ignore: Vec::new(),
            recursive: true,
        }
    }
}

impl WatchConfig {
    /// The defaults.
    pub fn new() -> WatchConfig {
        WatchConfig::default()
    }

    /// Watch whole trees (the default) or only the files directly inside each directory
    /// root: see [`recursive`](Self::recursive).
    pub fn recursive(mut self, recursive: bool) -> WatchConfig {
        self.recursive = recursive;
        self
    }

    /// Set the quiet window.
    pub fn quiet(mut self, quiet: Duration) -> WatchConfig {
        self.quiet = quiet;
        self
    }

    /// Poll every `interval` instead of watching (for [`Detector::new`]).
    pub fn poll_every(mut self, interval: Duration) -> WatchConfig {
        self.poll_interval = Some(interval);
        self
    }

    /// Set the watch-limit fallback's polling interval.
    pub fn fallback_poll_interval(mut self, interval: Duration) -> WatchConfig {
        self.fallback_poll_interval = interval;
        self
    }

    /// Choose between polling (`true`) and an error (`false`) when the OS
    /// limit on watches is reached.
    pub fn poll_on_watch_limit(mut self, poll: bool) -> WatchConfig {
        self.poll_on_watch_limit = poll;
        self
    }

    /// Set how long a just-changed file is left to settle before it is hashed.
    pub fn settle(mut self, settle: Duration) -> WatchConfig {
        self.settle = settle;
        self
    }

    /// Set the size up to which changed files are handed on with their bytes
    /// (0: never).
    pub fn content_limit(mut self, bytes: u64) -> WatchConfig {
        self.content_limit = bytes;
        self
    }

    /// Allow (`true`) or forbid memory maps for hashing big files.
    pub fn mmap(mut self, mmap: bool) -> WatchConfig {
        self.mmap = mmap;
        self
    }

    /// Ignore (`true`, the default) or report editor and atomic-save
    /// temporaries ([`DEFAULT_TEMP_PATTERNS`](crate::DEFAULT_TEMP_PATTERNS)).
    pub fn ignore_temp_files(mut self, ignore: bool) -> WatchConfig {
        self.ignore_temp_files = ignore;
        self
    }

    /// Also ignore files whose names match `pattern` (`*` any run of
    /// characters, `?` one other than `.`); see the field of the same name.
    pub fn ignore(mut self, pattern: impl Into<String>) -> WatchConfig {
        self.ignore.push(pattern.into());
        self
    }

    /// Set the racy window of the internal fingerprint cache.
    pub fn racy_window(mut self, window: Duration) -> WatchConfig {
        self.racy_window = window;
        self
    }
}

/// The receiving end shared by [`Watcher`], [`Poller`] and [`Detector`]:
/// a channel of [`Event`]s fed by one background thread.
///
/// Dropping it (with its owner) stops the thread and waits for it.
#[derive(Debug)]
pub struct Events {
    rx: Receiver<Event>,
    ctl: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Events {
    /// Wait for the next event. `None` once the background thread has stopped
    /// (it stops only when the detector is dropped).
    pub fn recv(&self) -> Option<Event> {
        self.rx.recv().ok()
    }

    /// Wait at most `timeout` for the next event.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if nothing came in time,
    /// [`RecvTimeoutError::Disconnected`] if the background thread stopped.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// Take an event if one is waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if none is, [`TryRecvError::Disconnected`] if
    /// the background thread stopped.
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        self.rx.try_recv()
    }

    /// A blocking iterator over events; it ends only if the thread stops.
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.rx.iter()
    }

    /// The work done so far by the detector's fingerprint cache (stat calls,
    /// files rehashed, bytes hashed), including the initial scan.
    pub fn stats(&self) -> FingerprintStats {
        self.counters.snapshot()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.ctl.send(Msg::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Anything that delivers change [`Event`]s: [`Watcher`], [`Poller`], [`Detector`].
pub trait ChangeSource {
    /// The event channel.
    fn events(&self) -> &Events;
}

macro_rules! delegate_events {
    ($ty:ty) => {
        impl ChangeSource for $ty {
            fn events(&self) -> &Events {
                self.events_ref()
            }
        }

        impl $ty {
            /// Wait for the next event; see [`Events::recv`].
            pub fn recv(&self) -> Option<Event> {
                self.events_ref().recv()
            }

            /// Wait at most `timeout`; see [`Events::recv_timeout`].
            ///
            /// # Errors
            ///
            /// As [`Events::recv_timeout`].
            pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
                self.events_ref().recv_timeout(timeout)
            }

            /// Take a waiting event; see [`Events::try_recv`].
            ///
            /// # Errors
            ///
            /// As [`Events::try_recv`].
            pub fn try_recv(&self) -> Result<Event, TryRecvError> {
                self.events_ref().try_recv()
            }

            /// A blocking iterator over events; see [`Events::iter`].
            pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
                self.events_ref().iter()
            }

            /// Work counters; see [`Events::stats`].
            pub fn stats(&self) -> FingerprintStats {
                self.events_ref().stats()
            }
        }
    };
}

/// Resolve user paths to canonical roots; every path must exist.
fn resolve_roots<I, P>(paths: I) -> Result<Vec<Root>, DetectError>
where
    I: IntoIterator<Item = P>,
    P: AsRef<Path>,
{
    let mut roots: Vec<Root> = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let canonical = std::fs::canonicalize(path).map_err(|e| DetectError::io(path, "resolve", e))?;
        let md = std::fs::metadata(&canonical).map_err(|e| DetectError::io(path, "stat", e))?;
        if !md.is_dir() && !md.is_file() {
            return Err(DetectError::NotAFile { path: path.into() });
        }
        // A symbolic link to a directory (`current -> releases/7`) is kept as
        // the link, so that a repoint is followed and paths stay stable.
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let (root, link) = match (is_link && md.is_dir(), path.parent(), path.file_name()) {
            (true, Some(parent), Some(name)) => {
                let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
                let parent = std::fs::canonicalize(parent).map_err(|e| DetectError::io(parent, "resolve", e))?;
                (parent.join(name), true)
            }
            _ => (canonical, false),
        };
        if roots.iter().any(|r| r.path == root) {
            continue;
        }
        roots.push(Root { path: root, is_dir: md.is_dir(), polled: false, link });
    }
    Ok(roots)
}

fn spawn(engine: Engine, ctl: Sender<Msg>, ctl_rx: Receiver<Msg>, rx: Receiver<Event>) -> Result<Events, DetectError> {
    let counters = engine.counters();
    let thread = std::thread::Builder::new()
        .name("hotpack-detect".into())
        .spawn(move || engine.run(ctl_rx))
        .map_err(|source| DetectError::Thread { source })?;
    Ok(Events { rx, ctl, thread: Some(thread), counters })
}

/// Watches files and directory trees with the OS's notification API (inotify
/// on Linux) and reports confirmed content changes.
///
/// - A watched **file** is watched through its parent directory (not
///   recursively), so saves that write a temporary file and rename it over
///   the original are seen.
/// - A watched **directory** is watched recursively; new subdirectories are
///   scanned when they appear.
/// - A watched **symbolic link to a directory** (`current -> releases/7`) is
///   watched through the link, and its parent directory too: when the link is
///   repointed (a new link renamed over it, or removed and created again), the
///   new target is watched instead and scanned; files are reported by their
///   path through the link, as changed where their content differs from the
///   old target's, created or removed where only one side has them.
/// - If the OS limit on watches is reached, the affected paths are polled
///   instead (a [`Warning::PollingFallback`](crate::Warning::PollingFallback));
///   if the kernel's event queue overflows, everything is rescanned (a
///   [`Warning::Rescan`](crate::Warning::Rescan)).
///
/// When [`new`](Self::new) returns, the watches are in place and every file
/// has been fingerprinted: any later change is reported.
#[derive(Debug)]
pub struct Watcher {
    // The engine thread owns notify's watcher (it re-watches a repointed
    // link) and drops it when it stops.
    events: Events,
}

impl Watcher {
    /// Watch `paths` (files and/or directories; each must exist).
    ///
    /// # Errors
    ///
    /// [`DetectError::Io`] for a path that does not exist or cannot be
    /// resolved, [`DetectError::Watch`] if the OS refuses a watch for another
    /// reason than its limit, [`DetectError::Thread`] if the background
    /// thread cannot start.
    pub fn new<I, P>(paths: I, config: &WatchConfig) -> Result<Watcher, DetectError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let roots = resolve_roots(paths)?;
        let (out, rx) = mpsc::channel();
        let (ctl, ctl_rx) = mpsc::channel();
        let to_engine = ctl.clone();
        let mut backend = notify::recommended_watcher(move |res| {
            let _ = to_engine.send(Msg::Notify(res, SystemTime::now()));
        })
        .map_err(|source| DetectError::Watch { path: PathBuf::new(), source })?;
        let mut engine = Engine::new(roots, config, config.fallback_poll_interval, out);

        let mut watched: HashSet<PathBuf> = HashSet::new();
        let mut over_limit = Vec::new();
        for (i, root) in engine.roots().iter().enumerate() {
            let parent = root.path.parent().unwrap_or(Path::new("/"));
            let parent_covered = engine.roots().iter().any(|r| r.is_dir && !r.link && parent.starts_with(&r.path));
            let mut targets = Vec::new();
            if root.is_dir {
                // A linked directory is watched through the link (notify
                // follows it and names events by the link's path).
                let mode = if config.recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
                targets.push((root.path.as_path(), mode));
            }
            if (!root.is_dir || root.link) && !parent_covered {
                // A file, or the link to a directory: its parent sees it
                // replaced (rename-over, repoint).
                targets.push((parent, RecursiveMode::NonRecursive));
            }
            for (target, mode) in targets {
                if !watched.insert(target.to_path_buf()) {
                    continue;
                }
                match backend.watch(target, mode) {
                    Ok(()) => {}
                    Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => over_limit.push(i),
                    Err(source) => {
                        return Err(DetectError::Watch { path: target.to_path_buf(), source });
                    }
                }
            }
        }
        if !config.poll_on_watch_limit
            && let Some(&i) = over_limit.first()
        {
            let path = engine.roots()[i].path.clone();
            return Err(DetectError::WatchLimit { path });
        }
        engine.set_watch_limit_fallback(config.poll_on_watch_limit);
        engine.poll_roots(&over_limit, Instant::now());
        engine.baseline();
        engine.set_backend(backend);
        let events = spawn(engine, ctl, ctl_rx, rx)?;
        Ok(Watcher { events })
    }

    fn events_ref(&self) -> &Events {
        &self.events
    }
}

delegate_events!(Watcher);

/// Polls files and directory trees every interval and reports confirmed
/// content changes, with the same contract and events as [`Watcher`]; for
/// file systems where change notifications are unreliable (network mounts,
/// some containers).
///
/// Each poll costs one stat per file and one listing per directory; only
/// files whose metadata changed are hashed, and only once their metadata has
/// stayed the same for the quiet window.
#[derive(Debug)]
pub struct Poller {
    events: Events,
}

impl Poller {
    /// Poll `paths` (files and/or directories; each must exist) every
    /// `config.poll_interval` (or `config.fallback_poll_interval` if unset).
    ///
    /// # Errors
    ///
    /// [`DetectError::Io`] for a path that does not exist or cannot be
    /// resolved, [`DetectError::Thread`] if the background thread cannot start.
    pub fn new<I, P>(paths: I, config: &WatchConfig) -> Result<Poller, DetectError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let roots = resolve_roots(paths)?;
        let interval = config.poll_interval.unwrap_or(config.fallback_poll_interval);
        let (out, rx) = mpsc::channel();
        let (ctl, ctl_rx) = mpsc::channel();
        let mut engine = Engine::new(roots, config, interval, out);
        engine.baseline();
        engine.poll_everything(Instant::now());
        Ok(Poller { events: spawn(engine, ctl, ctl_rx, rx)? })
    }

    fn events_ref(&self) -> &Events {
        &self.events
    }
}

delegate_events!(Poller);

/// A [`Watcher`] or a [`Poller`], chosen by [`WatchConfig::poll_interval`].
#[derive(Debug)]
pub enum Detector {
    /// Notification-based.
    Watcher(Watcher),
    /// Polling-based.
    Poller(Poller),
}

impl Detector {
    /// A [`Poller`] if `config.poll_interval` is set, else a [`Watcher`].
    ///
    /// # Errors
    ///
    /// As [`Watcher::new`] or [`Poller::new`].
    pub fn new<I, P>(paths: I, config: &WatchConfig) -> Result<Detector, DetectError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        Ok(match config.poll_interval {
            Some(_) => Detector::Poller(Poller::new(paths, config)?),
            None => Detector::Watcher(Watcher::new(paths, config)?),
        })
    }

    /// "notify" or "polling".
    pub fn backend(&self) -> &'static str {
        match self {
            Detector::Watcher(_) => "notify",
            Detector::Poller(_) => "polling",
        }
    }

    fn events_ref(&self) -> &Events {
        match self {
            Detector::Watcher(w) => &w.events,
            Detector::Poller(p) => &p.events,
        }
    }
}

delegate_events!(Detector);
