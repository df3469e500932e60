//! Changes of files closed in place, held until a directory-open barrier
//! shows that no later event invalidated the read.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Engine, Known, Observed};
use crate::{Change, ChangeKind, Event, Fingerprint};

/// How long a change held behind a barrier (see [`Engine::hold`]) may wait
/// for it before the file goes back to the quiet-window path.
pub(super) const BARRIER_TIMEOUT: Duration = Duration::from_secs(1);

/// A confirmed change waiting for its barrier event.
#[derive(Debug)]
pub(super) struct Held {
    path: PathBuf,
    fp: Fingerprint,
    content: Option<Arc<[u8]>>,
    since: Instant,
}

impl Engine {
    /// When the oldest held change stops waiting for its barrier.
    pub(super) fn held_until(&self) -> Option<Instant> {
        self.held.values().flatten().map(|h| h.since + BARRIER_TIMEOUT).min()
    }

    /// Hold the change of a file closed in place until every event the
    /// kernel queued before our read has arrived.
    ///
    /// The next writer may have truncated the file for the next save between
    /// the close event and our read: then we hashed partial bytes, and the
    /// truncation's event is in the kernel's queue but maybe not yet passed on
    /// by notify's thread. Opening the file's directory queues an open event
    /// behind everything before it (the directory is watched): when that
    /// event arrives, any event about the file that could invalidate our read
    /// has arrived too, and [`release`](Self::release) decides.
    ///
    /// Not airtight: the kernel queues a write's event just after the write
    /// is visible, so a next writer preempted between the two can slip past
    /// the barrier and the truncated bytes be reported; its close then
    /// reports the final content. Saves by rename have no such window.
    pub(super) fn hold(&mut self, path: PathBuf, fp: Fingerprint, content: Option<Arc<[u8]>>, now: Instant) {
        let Some(dir) = path.parent().map(Path::to_path_buf) else {
            return self.finish(path, fp, content);
        };
        self.counters.dir();
        if fs::read_dir(&dir).is_err() {
            // No barrier possible: the quiet-window path decides instead.
            self.debounce.touch(&path, now, Observed::Event);
            return;
        }
        self.held.entry(dir).or_default().push(Held { path, fp, content, since: now });
    }

    /// The barrier for `dir` arrived: report each held change whose file saw
    /// no event since it was hashed (those are pending again and will be
    /// confirmed afresh).
    pub(super) fn release(&mut self, dir: &Path) {
        let Some(held) = self.held.remove(dir) else {
            return;
        };
        for h in held {
            if self.debounce.pending_data(&h.path).is_none() && !self.writing.contains(&h.path) {
                self.finish(h.path, h.fp, h.content);
            }
        }
    }

    /// Held changes whose barrier did not come by `now - BARRIER_TIMEOUT`
    /// go back to the quiet-window path.
    pub(super) fn release_stale(&mut self, now: Instant) {
        let mut stale = Vec::new();
        self.held.retain(|_, held| {
            held.retain(|h| {
                let keep = h.since + BARRIER_TIMEOUT > now;
                if !keep {
                    stale.push(h.path.clone());
                }
                keep
            });
            !held.is_empty()
        });
        for path in stale {
            if self.debounce.pending_data(&path).is_none() {
                self.debounce.touch(&path, now, Observed::Event);
            }
        }
    }

    /// Record `fp` as the file's known content and report the change.
    pub(super) fn finish(&mut self, path: PathBuf, fp: Fingerprint, content: Option<Arc<[u8]>>) {
        let epoch = self.epoch;
        let kind = match self.known.get_mut(&path) {
            Some(k) if k.fp.same_content(&fp) => {
                k.fp = fp;
                return;
            }
            Some(k) => ChangeKind::Changed { old: std::mem::replace(&mut k.fp, fp), new: fp },
            None => {
                self.known.insert(path.clone(), Known { fp, seen: epoch });
                ChangeKind::Created { new: fp }
            }
        };
        self.emit(Event::Change(Change::new(path, kind).with_content(content)));
    }
}
