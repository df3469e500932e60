//! Change detection that reports only real content changes: blake3
//! fingerprints, a debounced [`Watcher`] on `notify`, and a [`Poller`] with
//! the same contract for file systems where change notifications are
//! unreliable.
//!
//! This crate stands alone: it loads no code and depends on no other hotpack
//! crate.
//!
//! # Fingerprints
//!
//! [`hash_file`] returns a [`Fingerprint`]: blake3 of the file's bytes plus the
//! size, mtime and inode they were read under. Files are read in 1 MiB
//! blocks into a reused buffer; files of 64 MiB and more are hashed from a
//! memory map on all cores (no copy through a buffer; see
//! [`FileHasher::with_mmap`]). A file that is written, replaced or removed
//! while it is read gives [`DetectError::ChangedWhileHashing`], never a hash.
//!
//! [`FingerprintCache`] remembers the metadata each hash was taken under and
//! hashes a file again only when that metadata moved;
//! [`FingerprintCache::scan_tree`] does this for a whole tree, so a rescan of
//! an unchanged tree costs one stat per file.
//!
//! ```
//! use hotpack_detect::{FingerprintCache, hash_file};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("module.so");
//! std::fs::write(&path, b"v1")?;
//!
//! let fp = hash_file(&path)?;
//! assert_eq!(fp.hash, blake3::hash(b"v1"));
//! assert_eq!(fp.hex().len(), 64);
//!
//! let mut cache = FingerprintCache::new();
//! let tree = cache.scan_tree(dir.path())?;
//! assert_eq!(tree.files[&path].hash, fp.hash);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Watching: the contract
//!
//! A [`Watcher`] (or [`Poller`], or a [`Detector`] holding either) is given
//! files and directories and delivers [`Event`]s through a channel
//! ([`Events::recv`], [`Events::recv_timeout`], [`Events::try_recv`],
//! [`Events::iter`]), fed by one background thread that owns all state.
//!
//! - **What counts as a change.** Content, by blake3. A [`Change`] is
//!   [`ChangeKind::Created`], [`ChangeKind::Changed`] (the hash differs from
//!   the last one reported, or from the one taken when watching started) or
//!   [`ChangeKind::Removed`]. Touching a file, rewriting the same bytes or
//!   changing its permissions is not a change. A rename-over save is one
//!   `Changed`; a rename inside a watched tree is a `Removed` plus a `Created`.
//! - **A writer that is done is confirmed at once.** A file renamed into
//!   place (the usual atomic save or deploy) or closed after writing is hashed
//!   as soon as its event arrives: no quiet window, no settle wait. A file
//!   closed in place is reported only once every event the kernel queued
//!   before our read has arrived (a directory-open barrier), so that a next
//!   writer's truncation discards the read instead of reporting it.
//! - **A writer that is not done is never confirmed.** A file written in place
//!   (modify events) and not yet closed is not hashed at all, however long it
//!   stays quiet; its close confirms it. A burst of writes through one open
//!   file gives one change with the final content.
//! - **Quiet window.** Other activity on a path (creation, removal, metadata,
//!   or for the poller a metadata change seen by a sweep) restarts that path's
//!   timer; the path is examined only after [`WatchConfig::quiet`] without
//!   activity. The poller also requires the metadata to be unchanged over the
//!   window.
//! - **What is handed on.** A [`Change`] carries the blake3 the detector
//!   confirmed ([`Change::hash`]) and, for files up to
//!   [`WatchConfig::content_limit`], the bytes it hashed ([`Change::content`]):
//!   the consumer needs no second read and no second hash.
//! - **Confirmation.** When the window ends the file is hashed (only if its
//!   metadata moved) and compared with the last known fingerprint; nothing is
//!   reported if the hash is the same. A file that changes while it is hashed
//!   is not ready: it is tried again after another quiet window. A file that
//!   cannot be read is reported as [`Event::Error`] and tried again on its
//!   next event.
//! - **Fallback, never silence.** If the kernel drops events (queue
//!   overflow), the watched trees are rescanned and a [`Warning::Rescan`] is
//!   sent; real differences are then reported as changes. If the OS limit on
//!   watches is reached, the affected paths are polled and a
//!   [`Warning::PollingFallback`] is sent.
//!
//! ```
//! use std::time::Duration;
//! use hotpack_detect::{ChangeKind, Event, WatchConfig, Watcher};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("plugin.so");
//! std::fs::write(&path, b"v1")?;
//!
//! let config = WatchConfig::new().quiet(Duration::from_millis(20));
//! let watcher = Watcher::new([dir.path()], &config)?;
//! std::fs::write(&path, b"v2")?;
//! match watcher.recv_timeout(Duration::from_secs(10))? {
//!     Event::Change(change) => {
//!         assert!(matches!(change.kind, ChangeKind::Changed { .. }));
//!         assert_eq!(change.new_fingerprint().map(|f| f.hash), Some(blake3::hash(b"v2")));
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Temporary files
//!
//! Editor swap, backup and lock files and atomic-save temporaries are noise
//! for a watcher that reports content: by default files whose names match
//! [`DEFAULT_TEMP_PATTERNS`] (`*.swp`, `*.swx`, `*.swo`, `*~`, `.#*`, `#*#`,
//! `4913`, `.*.kate-swp`, hotpack-util's `.*.hotpack-tmp-*`, tempfile's
//! `.tmp??????`, `sed -i`'s `sed??????`, GLib's `.goutputstream-*`; after
//! watchexec's default ignores) are never fingerprinted
//! or reported, by the watcher and the poller alike. An editor's save is then
//! exactly one `Changed` of the file saved, whatever order the kernel's
//! events are read in. [`WatchConfig::ignore_temp_files`] turns this off;
//! [`WatchConfig::ignore`] adds patterns. Patterns match a file's name, not
//! its path. A file given by its own path to [`Watcher::new`] or
//! [`Poller::new`] is never ignored.
//!
//! A writer whose temporary name matches no pattern and that closes the
//! temporary before renaming it over the target races the detector, which
//! confirms a closed file at once:
//!
//! - if the rename is read before the temporary is confirmed (the usual
//!   case: it is in the same batch of events, or ahead of the directory-open
//!   barrier of the temporary's change), the temporary is never reported and
//!   the save is one `Changed` of the target;
//! - otherwise the temporary is reported as [`ChangeKind::Created`], the
//!   target as `Changed`, and the temporary as [`ChangeKind::Removed`] once
//!   its quiet window ends (all three with the same hash).
//!
//! Either way the target's change is reported exactly once and the
//! temporary's `Created` is always followed by its `Removed`. Hidden files in
//! general are not suppressed: `.env` or `.htaccess` renamed into place is
//! content, and a watcher that ignored it would be silent about a real
//! change. Add the writer's temporary name with [`WatchConfig::ignore`]
//! instead.
//!
//! Reported paths are canonical (absolute, symbolic links resolved in the
//! watched roots), except under a watched root that is itself a symbolic link
//! to a directory (`current -> releases/7`): files there are named through
//! the link, and a repoint of the link is followed (files whose content
//! differs between the old and the new target are reported as changed).
//! Symbolic links to files inside a tree are followed; symbolic links to
//! directories inside a tree are not.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod debounce;
mod detector;
mod engine;
mod error;
mod event;
mod fingerprint;
mod ignore;

pub use blake3;

pub use cache::{DEFAULT_RACY_WINDOW, FingerprintCache, FingerprintStats, TreeFingerprint};
pub use detector::{ChangeSource, DEFAULT_CONTENT_LIMIT, Detector, Events, Poller, WatchConfig, Watcher};
pub use error::DetectError;
pub use event::{Change, ChangeKind, Event, RescanCause, Warning};
pub use fingerprint::{FileHasher, Fingerprint, hash_file};
pub use ignore::DEFAULT_TEMP_PATTERNS;
pub use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
