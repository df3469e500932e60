//! [`FingerprintCache`]: hashes a file again only when its metadata moved, and
//! [`TreeFingerprint`]s of whole directory trees built on it.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::fingerprint::{FileHasher, FileMeta, Hashed};
use crate::{Change, ChangeKind, DetectError, Fingerprint};

/// Default [`FingerprintCache::with_racy_window`]: two seconds, the coarsest
/// timestamp granularity in common use (FAT); ext4 with small inodes and HFS+
/// have one second.
pub const DEFAULT_RACY_WINDOW: Duration = Duration::from_secs(2);

/// Shared counters, readable from other threads while a cache works.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    stat_calls: AtomicU64,
    dirs_read: AtomicU64,
    files_rehashed: AtomicU64,
    bytes_hashed: AtomicU64,
}

impl Counters {
    pub(crate) fn stat(&self) {
        self.stat_calls.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dir(&self) {
        self.dirs_read.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> FingerprintStats {
        FingerprintStats {
            stat_calls: self.stat_calls.load(Ordering::Relaxed),
            dirs_read: self.dirs_read.load(Ordering::Relaxed),
            files_rehashed: self.files_rehashed.load(Ordering::Relaxed),
            bytes_hashed: self.bytes_hashed.load(Ordering::Relaxed),
        }
    }
}

/// What a cache (or a watcher's or poller's cache) has done so far.
///
/// Hashing done by [`hash_file`](crate::hash_file) directly is not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FingerprintStats {
    /// Metadata look-ups made to decide whether a file must be hashed.
    pub stat_calls: u64,
    /// Directories listed.
    pub dirs_read: u64,
    /// Files whose content was read and hashed (successfully or not).
    pub files_rehashed: u64,
    /// Bytes fed to blake3 by successful hashes.
    pub bytes_hashed: u64,
}

impl FingerprintStats {
    /// The work done between `earlier` and `self`.
    pub fn since(&self, earlier: &FingerprintStats) -> FingerprintStats {
        FingerprintStats {
            stat_calls: self.stat_calls - earlier.stat_calls,
            dirs_read: self.dirs_read - earlier.dirs_read,
            files_rehashed: self.files_rehashed - earlier.files_rehashed,
            bytes_hashed: self.bytes_hashed - earlier.bytes_hashed,
        }
    }
}

#[derive(Debug)]
struct Entry {
    meta: FileMeta,
    fp: Fingerprint,
    /// The file was modified so shortly before it was hashed that a later
    /// write could carry the same timestamp: do not trust the metadata.
    racy: bool,
}

/// Remembers, per path, the metadata a hash was taken under; hashes again
/// only when size, mtime, ctime or inode changed.
///
/// A file modified less than the *racy window* before it was hashed is hashed
/// again on the next look-up (git's "racily clean" rule): a second write within
/// the same timestamp tick would otherwise go unnoticed.
#[derive(Debug)]
pub struct FingerprintCache {
    entries: HashMap<PathBuf, Entry>,
    hasher: FileHasher,
    counters: Arc<Counters>,
    racy_window: Duration,
}

impl Default for FingerprintCache {
    fn default() -> Self {
        FingerprintCache::new()
    }
}

impl FingerprintCache {
    /// An empty cache with the [`DEFAULT_RACY_WINDOW`].
    pub fn new() -> FingerprintCache {
        FingerprintCache {
            entries: HashMap::new(),
            hasher: FileHasher::new(),
            counters: Arc::default(),
            racy_window: DEFAULT_RACY_WINDOW,
        }
    }

    /// Set how recent a file's mtime may be, relative to the moment it is
    /// hashed, before its cached hash is distrusted (see the type's doc).
    pub fn with_racy_window(mut self, window: Duration) -> FingerprintCache {
        self.racy_window = window;
        self
    }

    /// Set the hasher's settle time (see [`FileHasher::with_settle`](crate::FileHasher::with_settle)).
    pub fn with_settle(mut self, settle: Duration) -> FingerprintCache {
        self.hasher = std::mem::take(&mut self.hasher).with_settle(settle);
        self
    }

    /// Allow or forbid memory maps for big files (see [`FileHasher::with_mmap`](crate::FileHasher::with_mmap)).
    pub fn with_mmap(mut self, mmap: bool) -> FingerprintCache {
        self.hasher = std::mem::take(&mut self.hasher).with_mmap(mmap);
        self
    }

    /// The work done so far.
    pub fn stats(&self) -> FingerprintStats {
        self.counters.snapshot()
    }

    pub(crate) fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Number of cached fingerprints.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached fingerprint of `path`, without touching the file system.
    pub fn get(&self, path: &Path) -> Option<Fingerprint> {
        self.entries.get(path).map(|e| e.fp)
    }

    /// Drop the cached fingerprint of `path`.
    pub fn forget(&mut self, path: &Path) {
        self.entries.remove(path);
    }

    /// Fingerprint `path`: one stat, plus a hash only if the metadata differs
    /// from the cached entry's (or the entry is racy, or there is none).
    ///
    /// # Errors
    ///
    /// As [`hash_file`](crate::hash_file); on error the old entry is dropped.
    pub fn fingerprint(&mut self, path: &Path) -> Result<Fingerprint, DetectError> {
        self.counters.stat();
        let md = fs::metadata(path).map_err(|e| DetectError::io(path, "stat", e))?;
        if !md.is_file() {
            return Err(DetectError::NotAFile { path: path.into() });
        }
        self.fingerprint_with_meta(path, FileMeta::of(&md))
    }

    /// True if `meta` (just stat'ed) does not let us trust the cached hash.
    pub(crate) fn needs_hash(&self, path: &Path, meta: &FileMeta) -> bool {
        match self.entries.get(path) {
            Some(entry) => entry.racy || entry.meta != *meta,
            None => true,
        }
    }

    /// Like [`fingerprint`](Self::fingerprint) with the stat already done.
    pub(crate) fn fingerprint_with_meta(&mut self, path: &Path, meta: FileMeta) -> Result<Fingerprint, DetectError> {
        let settle = self.hasher.settle();
        self.fingerprint_capture(path, meta, settle, 0).map(|(fp, _, _)| fp)
    }

    /// Like [`fingerprint_with_meta`](Self::fingerprint_with_meta) with an
    /// explicit settle time; when the file is hashed and is at most
    /// `keep_up_to` bytes long, the bytes that were hashed come back too,
    /// with the metadata the hash was taken under.
    pub(crate) fn fingerprint_capture(
        &mut self,
        path: &Path,
        meta: FileMeta,
        settle: Duration,
        keep_up_to: u64,
    ) -> Result<Hashed, DetectError> {
        if let Some(entry) = self.entries.get(path)
            && !entry.racy
            && entry.meta == meta
        {
            return Ok((entry.fp, entry.meta, None));
        }
        let started = SystemTime::now();
        let hashed = self.hasher.hash_capture(path, settle, keep_up_to);
        // Counted once done: a snapshot taken from another thread can tear
        // only between these two adds, not across a whole hash.
        if let Ok((fp, _, _)) = &hashed {
            self.counters.bytes_hashed.fetch_add(fp.size, Ordering::Relaxed);
        }
        self.counters.files_rehashed.fetch_add(1, Ordering::Relaxed);
        match hashed {
            Ok((fp, meta, content)) => {
                let racy = match started.duration_since(meta.mtime) {
                    Ok(age) => age < self.racy_window,
                    Err(_) => true, // mtime in the future: never trust it
                };
                match self.entries.get_mut(path) {
                    Some(entry) => *entry = Entry { meta, fp, racy },
                    None => {
                        self.entries.insert(path.to_path_buf(), Entry { meta, fp, racy });
                    }
                }
                Ok((fp, meta, content))
            }
            Err(e) => {
                self.entries.remove(path);
                Err(e)
            }
        }
    }

    /// Fingerprint every regular file under `root` (or `root` itself if it is
    /// a file), rehashing only files whose metadata changed since this cache
    /// last saw them. A rescan of an unchanged tree costs one directory
    /// listing per directory and one stat per file.
    ///
    /// Symbolic links to files are followed; symbolic links to directories
    /// are not (no cycles). Cached entries for files under `root` that are
    /// gone are dropped.
    ///
    /// # Errors
    ///
    /// [`DetectError::Io`] if `root` itself cannot be read. Problems with
    /// single entries (unreadable files, files changing while hashed) do not
    /// fail the scan: they are listed in [`TreeFingerprint::errors`] and the
    /// file is left out.
    pub fn scan_tree(&mut self, root: &Path) -> Result<TreeFingerprint, DetectError> {
        let mut files = BTreeMap::new();
        let mut errors = Vec::new();
        let counters = Arc::clone(&self.counters);
        walk(root, true, &counters, &mut |path, item| match item {
            Ok(meta) => match self.fingerprint_with_meta(path, meta) {
                Ok(fp) => {
                    files.insert(path.to_path_buf(), fp);
                }
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(e),
        })?;
        self.entries.retain(|path, _| !path.starts_with(root) || files.contains_key(path));
        Ok(TreeFingerprint { root: root.to_path_buf(), files, errors })
    }
}

/// Walk the regular files under `root` (or `root` itself if it is a file),
/// calling `visit` with each file's path and metadata. One stat per file.
/// `recursive: false` visits only the files directly inside `root`.
/// Symbolic links to files are followed, never links to directories (a link
/// named as `root` itself is the caller's choice).
///
/// Entries that vanish during the walk are skipped silently (they are gone);
/// other per-entry failures are passed to `visit` as errors.
pub(crate) fn walk(
    root: &Path,
    recursive: bool,
    counters: &Counters,
    visit: &mut dyn FnMut(&Path, Result<FileMeta, DetectError>),
) -> Result<(), DetectError> {
    counters.stat();
    let md = fs::metadata(root).map_err(|e| DetectError::io(root, "stat", e))?;
    if md.is_file() {
        visit(root, Ok(FileMeta::of(&md)));
        return Ok(());
    }
    if !md.is_dir() {
        return Err(DetectError::NotAFile { path: root.into() });
    }
    let mut stack = vec![root.to_path_buf()];
    let mut first = true;
    while let Some(dir) = stack.pop() {
        counters.dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if first => return Err(DetectError::io(dir, "read directory", e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                visit(&dir, Err(DetectError::io(&dir, "read directory", e)));
                continue;
            }
        };
        first = false;
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    visit(&dir, Err(DetectError::io(&dir, "read directory", e)));
                    break;
                }
            };
            let path = entry.path();
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                if recursive {
                    stack.push(path);
                }
                continue;
            }
            if !file_type.is_file() && !file_type.is_symlink() {
                continue;
            }
            counters.stat();
            // Follow symbolic links to files (never into directories).
            let md = if file_type.is_symlink() { fs::metadata(&path) } else { entry.metadata() };
            match md {
                Ok(md) if md.is_file() => visit(&path, Ok(FileMeta::of(&md))),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => visit(&path, Err(DetectError::io(&path, "stat", e))),
            }
        }
    }
    Ok(())
}

/// The fingerprints of every regular file in a tree, from
/// [`FingerprintCache::scan_tree`].
#[derive(Debug)]
#[non_exhaustive]
pub struct TreeFingerprint {
    /// The scanned root.
    pub root: PathBuf,
    /// Every file that could be fingerprinted, by full path.
    pub files: BTreeMap<PathBuf, Fingerprint>,
    /// Entries that could not be fingerprinted (left out of `files`).
    pub errors: Vec<DetectError>,
}

impl TreeFingerprint {
    /// One hash for the whole tree: blake3 over every file's path relative to
    /// the root and content hash, in path order. Equal trees (same relative
    /// paths, same contents) give equal hashes.
    pub fn hash(&self) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new();
        for (path, fp) in &self.files {
            let rel = path.strip_prefix(&self.root).unwrap_or(path);
            let rel = rel.to_string_lossy();
            hasher.update(&(rel.len() as u64).to_le_bytes());
            hasher.update(rel.as_bytes());
            hasher.update(fp.hash.as_bytes());
        }
        hasher.finalize()
    }

    /// True if every entry could be fingerprinted.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }

    /// The content changes from `older` to `self`, in path order.
    pub fn changes_since(&self, older: &TreeFingerprint) -> Vec<Change> {
        let mut changes = Vec::new();
        for (path, new) in &self.files {
            match older.files.get(path) {
                None => changes.push(Change::new(path.clone(), ChangeKind::Created { new: *new })),
                Some(old) if !old.same_content(new) => {
                    changes.push(Change::new(path.clone(), ChangeKind::Changed { old: *old, new: *new }))
                }
                Some(_) => {}
            }
        }
        for (path, old) in &older.files {
            if !self.files.contains_key(path) {
                changes.push(Change::new(path.clone(), ChangeKind::Removed { old: *old }));
            }
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        changes
    }
}
