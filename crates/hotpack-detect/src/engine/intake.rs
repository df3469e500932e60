//! Notify event intake: turns each backend message into triggers (quiet
//! window or immediate confirmation), barrier releases, rescans and the
//! watch-limit fallback, and re-watches a repointed link.

use std::fs;
use std::path::Path;
use std::time::{Instant, SystemTime};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{ErrorKind as NotifyErrorKind, EventKind};

use super::hold::BARRIER_TIMEOUT;
use super::{Engine, Observed};
use crate::{DetectError, Event, RescanCause, Warning};

impl Engine {
    pub(super) fn on_notify(&mut self, res: notify::Result<notify::Event>, received: SystemTime, now: Instant) {
        match res {
            Ok(event) => {
                if event.need_rescan() {
                    // Close and barrier events may be among those lost: no
                    // file stays parked or held.
                    self.writing.clear();
                    self.release_stale(now + BARRIER_TIMEOUT);
                    self.emit(Event::Warning(Warning::Rescan { cause: RescanCause::EventsLost }));
                    for i in 0..self.roots.len() {
                        let root = self.roots[i].path.clone();
                        self.sweep(&root, now);
                    }
                    return;
                }
                if let EventKind::Access(AccessKind::Open(_)) = event.kind {
                    // Opens change nothing, but a directory's open may be the
                    // barrier that releases held changes.
                    for path in &event.paths {
                        self.release(path);
                    }
                    return;
                }
                // The path a writer is done with: renamed into place (`To`;
                // `Both` names the source first) or closed after writing.
                let complete = match event.kind {
                    EventKind::Access(AccessKind::Close(AccessMode::Write)) => event.paths.first(),
                    EventKind::Access(_) => return, // reads (ours included) change nothing
                    EventKind::Modify(ModifyKind::Name(RenameMode::To)) => event.paths.first(),
                    EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => event.paths.last(),
                    // A new hard link to a written file (cargo's uplift into
                    // target/debug): nobody creates a link to a file mid-write.
                    EventKind::Create(CreateKind::File) => event.paths.first().filter(|p| is_extra_link(p)),
                    _ => None,
                };
                let observed =
                    Observed::Complete { at: received, in_place: matches!(event.kind, EventKind::Access(_)) };
                let in_place_write = matches!(event.kind, EventKind::Modify(ModifyKind::Data(_)));
                for path in &event.paths {
                    if !self.accepts(path) {
                        continue;
                    }
                    if Some(path) == complete {
                        self.writing.remove(path);
                        self.debounce.touch_until(path.as_path(), now, observed);
                    } else {
                        if in_place_write && !self.writing.contains(path) {
                            self.writing.insert(path.clone());
                        }
                        self.debounce.touch(path.as_path(), now, Observed::Event);
                    }
                }
            }
            Err(e) if matches!(e.kind, NotifyErrorKind::MaxFilesWatch) && !self.fallback => {
                let path = e.paths.first().cloned().unwrap_or_default();
                self.emit(Event::Error(DetectError::WatchLimit { path }));
            }
            Err(e) if matches!(e.kind, NotifyErrorKind::MaxFilesWatch) => {
                let which: Vec<usize> = self
                    .roots
                    .iter()
                    .enumerate()
                    .filter(|(_, root)| {
                        e.paths.is_empty()
                            || e.paths.iter().any(|p| p.starts_with(&root.path) || root.path.starts_with(p))
                    })
                    .map(|(i, _)| i)
                    .collect();
                self.poll_roots(&which, now);
                for i in which {
                    let root = self.roots[i].path.clone();
                    self.sweep(&root, now);
                }
            }
            Err(e) => {
                let path = e.paths.first().cloned().unwrap_or_default();
                self.emit(Event::Error(DetectError::Watch { path, source: e }));
            }
        }
    }

    /// Watch a repointed link's new target (through the link) instead of the
    /// old one.
    pub(super) fn rewatch(&mut self, link: &Path) {
        let Some(backend) = self.backend.as_mut() else {
            return;
        };
        use notify::Watcher as _;
        let _ = backend.unwatch(link); // the old target's watches
        if let Err(source) = backend.watch(link, notify::RecursiveMode::Recursive) {
            self.emit(Event::Error(DetectError::Watch { path: link.to_path_buf(), source }));
        }
    }
}

/// True if `path` is a regular file with more than one name (a hard link).
fn is_extra_link(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::symlink_metadata(path).is_ok_and(|md| md.is_file() && md.nlink() > 1)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}
