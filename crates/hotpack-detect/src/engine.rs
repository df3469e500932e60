//! The single background thread behind [`Watcher`](crate::Watcher) and
//! [`Poller`](crate::Poller): it owns all state (no locks), debounces
//! triggers per path, confirms them by hash and sends [`Event`]s.
//!
//! Triggers come from notify events (watched roots) and from sweeps (polled
//! roots, rescans after an overflow, new directories): a sweep stats every
//! file and triggers only those whose metadata differs from the cached
//! fingerprint's, plus known files that are gone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use self::hold::Held;
use crate::cache::{Counters, FingerprintCache, walk};
use crate::debounce::Debouncer;
use crate::fingerprint::FileMeta;
use crate::ignore::Ignore;
use crate::{Change, ChangeKind, DetectError, Event, Fingerprint, Warning, WatchConfig};

/// The shortest delay before a file that changed while being hashed is tried
/// again (matters with a zero quiet window).
const MIN_RETRY: Duration = Duration::from_millis(10);

/// Attempts to fingerprint a file that keeps changing while the baseline is taken.
const BASELINE_ATTEMPTS: u32 = 3;

/// Messages to the engine thread.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Something from notify's thread, with the wall-clock time it was
    /// passed on (just after notify read it from the kernel).
    Notify(notify::Result<notify::Event>, SystemTime),
    /// Stop now.
    Shutdown,
}

/// One path the user asked to watch (canonical).
#[derive(Debug)]
pub(crate) struct Root {
    pub(crate) path: PathBuf,
    pub(crate) is_dir: bool,
    /// Swept every poll interval (poller, or watch-limit fallback).
    pub(crate) polled: bool,
    /// `path` is a symbolic link to a directory (not resolved): files are
    /// named through it, and a repoint is followed.
    pub(crate) link: bool,
}

#[derive(Debug)]
struct Known {
    fp: Fingerprint,
    /// Sweep epoch in which the file was last seen.
    seen: u64,
}

/// Why a path is pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Observed {
    /// A notify event (or a retry): hash whatever is there when quiet,
    /// unless a writer still has the file open.
    Event,
    /// The writer is done: the file was renamed into place (`in_place`
    /// false) or closed after writing (`in_place` true); the event was read
    /// from the kernel at wall-clock time `at`. Confirmed at once, with no
    /// settle wait, if the file has not changed since.
    Complete { at: SystemTime, in_place: bool },
    /// A sweep saw this metadata: the file must still have it when the
    /// quiet window ends.
    Meta(FileMeta),
    /// A sweep did not find this known file.
    Gone,
}

#[derive(Debug)]
pub(crate) struct Engine {
    roots: Vec<Root>,
    /// Last reported (or baseline) fingerprint of every file.
    known: BTreeMap<PathBuf, Known>,
    /// Files that failed with a non-transient error, with the metadata they
    /// had: sweeps retry them only once that metadata moves.
    failed: HashMap<PathBuf, FileMeta>,
    cache: FingerprintCache,
    counters: Arc<Counters>,
    debounce: Debouncer<PathBuf, Observed>,
    out: Sender<Event>,
    quiet: Duration,
    poll_interval: Duration,
    next_poll: Option<Instant>,
    epoch: u64,
    closed: bool,
    /// Poll (true) or report an error (false) when the watch limit is hit.
    fallback: bool,
    /// Paths whose walk errors were already reported (a poller would
    /// otherwise repeat them every interval).
    reported: HashSet<PathBuf>,
    /// Files written in place (a modify event) and not yet closed: they are
    /// not confirmed until their close-after-write event.
    writing: HashSet<PathBuf>,
    /// Settle time for files confirmed without a completion event.
    settle: Duration,
    /// Changed files up to this size are handed on with their bytes.
    content_limit: u64,
    /// Changes of files closed in place, by the directory whose open event
    /// releases them.
    held: HashMap<PathBuf, Vec<Held>>,
    /// File names that are never fingerprinted or reported.
    ignore: Ignore,
    /// notify's watcher (none for a poller), for re-watching repointed links.
    backend: Option<notify::RecommendedWatcher>,
    /// Whether directories under a root are watched ([`WatchConfig::recursive`]).
    recursive: bool,
}

impl Engine {
    pub(crate) fn new(roots: Vec<Root>, config: &WatchConfig, poll_interval: Duration, out: Sender<Event>) -> Engine {
        let quiet = config.quiet;
        let settle = config.settle;
        let cache =
            FingerprintCache::new().with_racy_window(config.racy_window).with_settle(settle).with_mmap(config.mmap);
        let counters = cache.counters();
        Engine {
            roots,
            known: BTreeMap::new(),
            failed: HashMap::new(),
            cache,
            counters,
            debounce: Debouncer::new(quiet),
            out,
            quiet,
            poll_interval,
            next_poll: None,
            epoch: 0,
            closed: false,
            fallback: true,
            reported: HashSet::new(),
            writing: HashSet::new(),
            settle,
            content_limit: config.content_limit,
            held: HashMap::new(),
            backend: None,
            ignore: Ignore::new(config),
            recursive: config.recursive,
        }
    }

    pub(crate) fn set_watch_limit_fallback(&mut self, poll: bool) {
        self.fallback = poll;
    }

    /// Own notify's watcher (events keep coming through the channel given to it).
    pub(crate) fn set_backend(&mut self, backend: notify::RecommendedWatcher) {
        self.backend = Some(backend);
    }

    pub(crate) fn roots(&self) -> &[Root] {
        &self.roots
    }

    pub(crate) fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    fn emit(&mut self, event: Event) {
        if self.out.send(event).is_err() {
            self.closed = true; // nobody listens any more: stop
        }
    }

    fn emit_change(&mut self, path: PathBuf, kind: ChangeKind) {
        self.emit(Event::Change(Change::new(path, kind)));
    }

    /// Switch roots to polling (the watch limit was hit) and say so.
    pub(crate) fn poll_roots(&mut self, which: &[usize], now: Instant) {
        let mut paths = Vec::new();
        for &i in which {
            if let Some(root) = self.roots.get_mut(i)
                && !root.polled
            {
                root.polled = true;
                paths.push(root.path.clone());
            }
        }
        if paths.is_empty() {
            return;
        }
        if self.next_poll.is_none() {
            self.next_poll = Some(now + self.poll_interval);
        }
        let interval = self.poll_interval;
        self.emit(Event::Warning(Warning::PollingFallback { paths, interval }));
    }

    /// Make every root polled from the start (the poller).
    pub(crate) fn poll_everything(&mut self, now: Instant) {
        for root in &mut self.roots {
            root.polled = true;
        }
        self.next_poll = Some(now + self.poll_interval);
    }

    /// Fingerprint everything once: the state changes are measured against.
    pub(crate) fn baseline(&mut self) {
        let now = Instant::now();
        let counters = Arc::clone(&self.counters);
        for i in 0..self.roots.len() {
            let root = self.roots[i].path.clone();
            let mut found = Vec::new();
            let walked = walk(&root, self.recursive, &counters, &mut |path, item| {
                found.push((path.to_path_buf(), item));
            });
            if let Err(e) = walked {
                self.emit(Event::Error(e));
            }
            for (path, item) in found {
                if !self.accepts(&path) {
                    continue;
                }
                match item {
                    Ok(meta) => self.baseline_file(path, meta, now),
                    Err(e) => self.emit(Event::Error(e)),
                }
            }
        }
    }

    fn baseline_file(&mut self, path: PathBuf, meta: FileMeta, now: Instant) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.cache.fingerprint_with_meta(&path, meta) {
                Ok(fp) => {
                    self.known.insert(path, Known { fp, seen: self.epoch });
                    return;
                }
                Err(e) if e.is_transient() && attempt < BASELINE_ATTEMPTS => {
                    std::thread::sleep(MIN_RETRY);
                }
                Err(e) if e.is_transient() => {
                    // Still being written: confirm it once quiet (it will be
                    // reported as created, having had no stable content yet).
                    self.debounce.touch(&path, now, Observed::Event);
                    return;
                }
                Err(e) => {
                    self.failed.insert(path, meta);
                    self.emit(Event::Error(e));
                    return;
                }
            }
        }
    }

    fn accepts(&self, path: &Path) -> bool {
        accepts(&self.roots, &self.ignore, path)
    }

    fn in_dir_root(&self, path: &Path) -> bool {
        self.roots.iter().any(|root| root.is_dir && path.starts_with(&root.path))
    }

    /// The engine thread's loop: runs until shutdown or until the receiver
    /// of events is dropped.
    pub(crate) fn run(mut self, rx: Receiver<Msg>) {
        while !self.closed {
            let held_until = self.held_until();
            let wake = [self.debounce.next_deadline(), self.next_poll, held_until].into_iter().flatten().min();
            let msg = match wake {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match msg {
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Msg::Notify(res, received)) => {
                    self.on_notify(res, received, Instant::now());
                    // Absorb the rest of a burst before doing any hashing.
                    loop {
                        match rx.try_recv() {
                            Ok(Msg::Notify(res, received)) => self.on_notify(res, received, Instant::now()),
                            Ok(Msg::Shutdown) => return,
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if self.next_poll.is_some_and(|at| at <= now) {
                self.poll(now);
                self.next_poll = Some(Instant::now() + self.poll_interval);
            }
            if held_until.is_some_and(|at| at <= now) {
                self.release_stale(now);
            }
            while !self.closed {
                let now = Instant::now();
                let Some((path, observed)) = self.debounce.pop_due(now) else {
                    break;
                };
                self.confirm(path, observed, now);
            }
        }
    }

    fn poll(&mut self, now: Instant) {
        for i in 0..self.roots.len() {
            if self.roots[i].polled {
                let root = self.roots[i].path.clone();
                self.sweep(&root, now);
            }
        }
    }

    /// Stat every file under `dir` and trigger those whose metadata says the
    /// cached fingerprint cannot be trusted, and known files that are gone.
    fn sweep(&mut self, dir: &Path, now: Instant) {
        self.sweep_as(dir, now, None);
    }

    /// [`sweep`](Self::sweep); with `complete`, the files found are known to
    /// be complete (moved in at that time) and are confirmed at once.
    fn sweep_as(&mut self, dir: &Path, now: Instant, complete: Option<SystemTime>) {
        self.epoch += 1;
        let epoch = self.epoch;
        let counters = Arc::clone(&self.counters);
        let mut errors = Vec::new();
        {
            let roots = &self.roots;
            let ignore = &self.ignore;
            let cache = &self.cache;
            let known = &mut self.known;
            let failed = &self.failed;
            let debounce = &mut self.debounce;
            let recursive = self.recursive;
            let walked = walk(dir, recursive, &counters, &mut |path, item| {
                let meta = match item {
                    Ok(meta) => meta,
                    Err(e) => {
                        errors.push(e);
                        return;
                    }
                };
                if !accepts(roots, ignore, path) {
                    return;
                }
                let stale = match known.get_mut(path) {
                    Some(k) => {
                        k.seen = epoch;
                        cache.needs_hash(path, &meta)
                    }
                    None => true,
                };
                if !stale || failed.get(path) == Some(&meta) {
                    return;
                }
                if let Some(at) = complete {
                    debounce.touch_until(path, now, Observed::Complete { at, in_place: false });
                    return;
                }
                // Already waiting out its quiet window with this very metadata.
                if debounce.pending_data(path) == Some(&Observed::Meta(meta)) {
                    return;
                }
                debounce.touch(path, now, Observed::Meta(meta));
            });
            match walked {
                Ok(()) => {}
                Err(DetectError::Io { ref source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => errors.push(e),
            }
        }
        for e in errors {
            let first_time = e.path().is_none_or(|p| self.reported.insert(p.to_path_buf()));
            if first_time {
                self.emit(Event::Error(e));
            }
        }
        let gone: Vec<PathBuf> = self
            .known
            .range::<Path, _>((Bound::Included(dir), Bound::Unbounded))
            .take_while(|(path, _)| path.starts_with(dir))
            .filter(|(_, k)| k.seen != epoch)
            .map(|(path, _)| path.clone())
            .collect();
        for path in gone {
            // Already waiting out its window as gone: do not restart it.
            if self.debounce.pending_data(&path) != Some(&Observed::Gone) {
                self.debounce.touch(&path, now, Observed::Gone);
            }
        }
    }

    /// Report every known file at or under `path` as removed.
    fn remove_under(&mut self, path: &Path) {
        let gone: Vec<PathBuf> = self
            .known
            .range::<Path, _>((Bound::Included(path), Bound::Unbounded))
            .take_while(|(p, _)| p.starts_with(path))
            .map(|(p, _)| p.clone())
            .collect();
        for p in gone {
            self.cache.forget(&p);
            self.failed.remove(&p);
            self.writing.remove(&p);
            if let Some(k) = self.known.remove(&p) {
                self.emit_change(p, ChangeKind::Removed { old: k.fp });
            }
        }
    }

    /// The quiet window of `path` ended: find out what really happened.
    fn confirm(&mut self, path: PathBuf, observed: Observed, now: Instant) {
        self.counters.stat();
        let md = match fs::metadata(&path) {
            Ok(md) => md,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.remove_under(&path);
                return;
            }
            Err(e) => {
                self.emit(Event::Error(DetectError::io(path, "stat", e)));
                return;
            }
        };
        if md.is_dir() {
            if let Some(k) = self.known.remove(&path) {
                self.cache.forget(&path);
                self.emit_change(path.clone(), ChangeKind::Removed { old: k.fp });
            }
            if self.roots.iter().any(|r| r.link && !r.polled && r.path == path) {
                self.rewatch(&path);
            }
            // A new or moved-in directory (or a repointed link): its files
            // may predate its watch. Moved in, they are complete. A root is
            // swept; below a root only a real directory, and only when
            // watching trees: a link to `/` dropped into a folder costs
            // nothing.
            let is_root = self.roots.iter().any(|r| r.is_dir && r.path == path);
            let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            if is_root || (self.recursive && !is_link && self.in_dir_root(&path)) {
                let complete = match observed {
                    Observed::Complete { at, in_place: false } => Some(at),
                    _ => None,
                };
                self.sweep_as(&path, now, complete);
            }
            return;
        }
        if !md.is_file() {
            if let Some(k) = self.known.remove(&path) {
                self.cache.forget(&path);
                self.emit_change(path, ChangeKind::Removed { old: k.fp });
            }
            return;
        }
        let meta = FileMeta::of(&md);
        if let Observed::Meta(observed) = observed
            && observed != meta
        {
            // Polled file still moving: it must be stable for a whole window.
            self.debounce.touch(&path, now, Observed::Meta(meta));
            return;
        }
        if observed == Observed::Event && self.writing.contains(&path) {
            // Written in place by a writer that has not closed it yet: a
            // partial write. Its close-after-write event confirms it.
            return;
        }
        // A writer that is done needs no settle wait: anything it (or another
        // writer) does next raises a new event, and the cache distrusts a
        // hash taken so soon after a change (racy), so it is hashed again.
        let settle = if matches!(observed, Observed::Complete { .. }) { Duration::ZERO } else { self.settle };
        match self.cache.fingerprint_capture(&path, meta, settle, self.content_limit) {
            Ok((_, hashed, _)) if matches!(observed, Observed::Complete { at, .. } if hashed.changed_after(at)) => {
                // Changed again after its writer was done (another writer is
                // at work, e.g. truncating for the next save): these may be
                // partial bytes. The new writer's events bring it back; until
                // then it waits like any in-place write.
                self.debounce.touch(&path, now, Observed::Event);
            }
            Ok((fp, _, content))
                if matches!(observed, Observed::Complete { in_place: true, .. })
                    && self.known.get(&path).is_none_or(|k| !k.fp.same_content(&fp)) =>
            {
                self.failed.remove(&path);
                self.hold(path, fp, content, now);
            }
            Ok((fp, _, content)) => {
                self.failed.remove(&path);
                let epoch = self.epoch;
                match self.known.get_mut(&path) {
                    Some(k) if k.fp.same_content(&fp) => k.fp = fp,
                    Some(k) => {
                        let old = std::mem::replace(&mut k.fp, fp);
                        let change = Change::new(path, ChangeKind::Changed { old, new: fp }).with_content(content);
                        self.emit(Event::Change(change));
                    }
                    None => {
                        self.known.insert(path.clone(), Known { fp, seen: epoch });
                        let change = Change::new(path, ChangeKind::Created { new: fp }).with_content(content);
                        self.emit(Event::Change(change));
                    }
                }
            }
            Err(e) if e.is_transient() || is_not_found(&e) => {
                // Not ready yet (or just vanished): look again once quiet.
                let retry = now + self.quiet.max(MIN_RETRY);
                self.debounce.touch_until(&path, retry, Observed::Event);
            }
            Err(e) => {
                self.failed.insert(path, meta);
                self.emit(Event::Error(e));
            }
        }
    }
}

/// True if `path` is one of `roots` or, unless its name is ignored, under a
/// watched directory. A file the user named is never ignored.
fn accepts(roots: &[Root], ignore: &Ignore, path: &Path) -> bool {
    let named = roots.iter().any(|root| path == root.path);
    named || (roots.iter().any(|root| root.is_dir && path.starts_with(&root.path)) && !ignore.matches(path))
}

fn is_not_found(e: &DetectError) -> bool {
    matches!(e, DetectError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

mod hold;
mod intake;
#[cfg(test)]
mod tests;
