//! Content fingerprints: blake3 of a file's bytes, taken only from content that
//! was stable for the whole read.

use std::cell::RefCell;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::DetectError;

/// Size of the reused read buffer for files below [`MMAP_MIN`]: 1 MiB reads
/// cost one syscall per MiB and fit the L2 cache.
const READ_BUF: usize = 1 << 20;

/// Files at least this large are hashed from a memory map on all cores
/// (blake3's `update_mmap_rayon`). Reaching the page cache is not free: on the
/// 2-core AVX-512 reference machine (CPU time per GB, 256 MiB file, warm
/// cache) blake3 over bytes in memory does 4.07 GB per CPU-second, 1 MiB reads
/// and hash 2.31 (the copy costs ~0.75x the hash; this is why 1 MiB reads of a
/// 1 GiB file measured 0.59 of in-memory blake3), a map + hash 2.40 (page
/// faults cost about what the copy did). The map's gain is that both cores
/// hash: ~1.2x one-thread in-memory speed on a quiet machine. Below this size
/// the read path stays: a hash of a few MiB takes a few milliseconds either
/// way, and a map of a file that a writer truncates while it is hashed faults
/// (SIGBUS), a risk kept to big files only (see [`FileHasher::with_mmap`]).
const MMAP_MIN: u64 = 64 << 20;

/// In-memory content (kept for a [`Change`](crate::Change)) at least this
/// large is hashed on all cores.
const RAYON_MIN: usize = 4 << 20;

/// How long ago a file's last change must be before its metadata can vouch
/// for a read (see [`settled_meta`]): two ticks of the coarsest kernel clock.
const TICK_GUARD: Duration = Duration::from_millis(20);

/// Waits for a file to settle before giving up with `ChangedWhileHashing`.
const SETTLE_ATTEMPTS: u32 = 4;

/// Bytes kept from a read, shared without copying.
pub(crate) type Content = Arc<[u8]>;

/// A hash with the metadata it was taken under and, if kept, the bytes.
pub(crate) type Hashed = (Fingerprint, FileMeta, Option<Content>);

/// The blake3 hash of a file's content plus the metadata it was taken with.
///
/// Two fingerprints describe the same content when their [`hash`](Self::hash)
/// fields are equal ([`same_content`](Self::same_content)); the derived `==`
/// also compares the metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Fingerprint {
    /// blake3 of the file's bytes.
    pub hash: blake3::Hash,
    /// Length in bytes.
    pub size: u64,
    /// Modification time when the file was hashed.
    pub mtime: SystemTime,
    /// Device number (0 where the platform has none).
    pub dev: u64,
    /// Inode number (0 where the platform has none).
    pub ino: u64,
}

impl Fingerprint {
    /// The hash as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.hash.to_hex().to_string()
    }

    /// The first 8 hex digits of the hash, for humans.
    pub fn short_hex(&self) -> String {
        let mut hex = self.hex();
        hex.truncate(8);
        hex
    }

    /// True if both fingerprints hash the same bytes (metadata is ignored).
    pub fn same_content(&self, other: &Fingerprint) -> bool {
        self.hash == other.hash
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.hash.to_hex())
    }
}

/// The metadata compared before trusting a cached hash and around every read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FileMeta {
    pub(crate) size: u64,
    pub(crate) mtime: SystemTime,
    /// Status-change time (seconds, nanoseconds): moves on every write and on
    /// `touch`, even when a tool puts the mtime back.
    pub(crate) ctime: (i64, i64),
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

impl FileMeta {
    /// True if the last status change is later than `t` (never on platforms
    /// without a ctime).
    pub(crate) fn changed_after(&self, t: SystemTime) -> bool {
        if self.ctime == (0, 0) {
            return false;
        }
        let Ok(since_epoch) = t.duration_since(UNIX_EPOCH) else {
            return true;
        };
        let t = (i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX), i64::from(since_epoch.subsec_nanos()));
        self.ctime > t
    }

    /// Time since the last status change (zero if it is in the future;
    /// "old enough" where the platform has no ctime).
    fn ctime_age(&self) -> Duration {
        if self.ctime == (0, 0) {
            return Duration::MAX;
        }
        let (secs, nanos) = self.ctime;
        let Ok(secs) = u64::try_from(secs) else {
            return Duration::MAX; // before 1970: old
        };
        let ctime = UNIX_EPOCH + Duration::new(secs, u32::try_from(nanos).unwrap_or(0));
        SystemTime::now().duration_since(ctime).unwrap_or(Duration::ZERO)
    }

    pub(crate) fn of(md: &Metadata) -> FileMeta {
        let mtime = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileMeta { size: md.len(), mtime, ctime: (md.ctime(), md.ctime_nsec()), dev: md.dev(), ino: md.ino() }
        }
        #[cfg(not(unix))]
        {
            FileMeta { size: md.len(), mtime, ctime: (0, 0), dev: 0, ino: 0 }
        }
    }
}

/// Hashes files with one reused read buffer (and, for files of 64 MiB and
/// more, a memory map hashed on all cores).
///
/// [`hash_file`] uses one of these per thread; keep your own when you want
/// to control where the buffer lives.
#[derive(Debug)]
pub struct FileHasher {
    buf: Vec<u8>,
    settle: Duration,
    mmap: bool,
}

impl Default for FileHasher {
    fn default() -> Self {
        FileHasher::new()
    }
}

impl FileHasher {
    /// A hasher with a 1 MiB read buffer (allocated on first use) and memory
    /// maps for big files.
    pub fn new() -> FileHasher {
        FileHasher { buf: Vec::new(), settle: TICK_GUARD, mmap: true }
    }

    /// How long ago a file's last change must be before it is read (default 20 ms, two
    /// ticks of the coarsest kernel clock). `Duration::ZERO` reads at once: right for files
    /// renamed into place by a writer that is done with them (cargo, `hotpack pack`), and
    /// on kernels with multigrain timestamps (Linux 6.13+ on ext4, xfs, btrfs, tmpfs),
    /// where a change after our `stat` always gets a new ctime and is caught anyway.
    pub fn with_settle(mut self, settle: Duration) -> FileHasher {
        self.settle = settle;
        self
    }

    /// Hash files of 64 MiB and more from a memory map on all cores (`true`,
    /// the default: about twice the speed of reading on two cores), or always
    /// read them into the buffer on one thread (`false`).
    ///
    /// A mapped file that another process truncates while it is being hashed
    /// makes the kernel kill this process with SIGBUS. Turn maps off where big
    /// watched files may be truncated in place by their writer (rather than
    /// replaced by a rename, as compilers, packers and editors do).
    pub fn with_mmap(mut self, mmap: bool) -> FileHasher {
        self.mmap = mmap;
        self
    }

    pub(crate) fn settle(&self) -> Duration {
        self.settle
    }

    /// Fingerprint the file at `path`; see [`hash_file`].
    ///
    /// # Errors
    ///
    /// See [`hash_file`].
    pub fn hash_file(&mut self, path: &Path) -> Result<Fingerprint, DetectError> {
        let settle = self.settle;
        self.hash_capture(path, settle, 0).map(|(fp, _, _)| fp)
    }

    /// Fingerprint `path` and keep its bytes: `Some` when the file is at most
    /// `keep_up_to` bytes long. The bytes are exactly those hashed: the same
    /// checks as [`hash_file`] vouch that they were stable for the whole read.
    ///
    /// # Errors
    ///
    /// See [`hash_file`].
    #[allow(clippy::type_complexity)] // spelled out for the reader of the public API
    pub fn hash_and_keep(
        &mut self,
        path: &Path,
        keep_up_to: u64,
    ) -> Result<(Fingerprint, Option<Arc<[u8]>>), DetectError> {
        let settle = self.settle;
        self.hash_capture(path, settle, keep_up_to).map(|(fp, _, content)| (fp, content))
    }

    /// Hash `path` after a settle wait of `settle`, returning the fingerprint,
    /// the full metadata it was stable under and, for files of at most
    /// `keep_up_to` bytes (0: never), the bytes hashed.
    pub(crate) fn hash_capture(
        &mut self,
        path: &Path,
        settle: Duration,
        keep_up_to: u64,
    ) -> Result<Hashed, DetectError> {
        // Stat the path first: never open a FIFO or a device (open would block
        // or have side effects).
        let pre = settled_meta(path, settle)?;
        let mut file = File::open(path).map_err(|e| open_error(path, e))?;
        let before = FileMeta::of(&file.metadata().map_err(|e| DetectError::io(path, "stat", e))?);
        if (before.dev, before.ino) != (pre.dev, pre.ino) {
            return Err(DetectError::ChangedWhileHashing { path: path.into() });
        }

        let mut hasher = blake3::Hasher::new();
        let mut content = None;
        let total = if keep_up_to > 0 && before.size <= keep_up_to {
            let bytes = read_exact_size(&mut file, before.size, path)?;
            if bytes.len() >= RAYON_MIN {
                hasher.update_rayon(&bytes);
            } else {
                hasher.update(&bytes);
            }
            let n = bytes.len() as u64;
            content = Some(bytes);
            n
        } else if self.mmap && before.size >= MMAP_MIN {
            // blake3 maps the path it opens itself: the checks below make sure
            // that is still the file we stat'ed (same inode, same metadata).
            hasher.update_mmap_rayon(path).map_err(|e| open_error(path, e))?;
            hasher.count()
        } else {
            if self.buf.len() < READ_BUF {
                self.buf = vec![0; READ_BUF];
            }
            read_loop(&mut file, &mut self.buf, path, |chunk| {
                hasher.update(chunk);
            })?
        };

        let after = FileMeta::of(&file.metadata().map_err(|e| DetectError::io(path, "stat", e))?);
        // The path must still name the file we read: a rename-over during the
        // read means our bytes are not what the path holds now.
        let now = match fs::metadata(path) {
            Ok(md) => FileMeta::of(&md),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(DetectError::ChangedWhileHashing { path: path.into() });
            }
            Err(e) => return Err(DetectError::io(path, "stat", e)),
        };
        if before != after || after != now || total != before.size {
            return Err(DetectError::ChangedWhileHashing { path: path.into() });
        }
        let fp = Fingerprint {
            hash: hasher.finalize(),
            size: before.size,
            mtime: before.mtime,
            dev: before.dev,
            ino: before.ino,
        };
        Ok((fp, before, content))
    }
}

/// Read exactly `size` bytes (the file's size when it was opened) into a new
/// shared buffer. A file that turns out shorter or longer is changing.
fn read_exact_size(file: &mut File, size: u64, path: &Path) -> Result<Arc<[u8]>, DetectError> {
    let len = usize::try_from(size).map_err(|_| DetectError::ChangedWhileHashing { path: path.into() })?;
    let mut bytes: Arc<[u8]> = std::iter::repeat_n(0u8, len).collect();
    let buf = Arc::get_mut(&mut bytes).expect("a fresh Arc has no other owner");
    let mut filled = 0;
    while filled < len {
        match file.read(&mut buf[filled..]) {
            Ok(0) => return Err(DetectError::ChangedWhileHashing { path: path.into() }),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DetectError::io(path, "read", e)),
        }
    }
    let mut probe = [0u8; 1];
    loop {
        match file.read(&mut probe) {
            Ok(0) => return Ok(bytes),
            Ok(_) => return Err(DetectError::ChangedWhileHashing { path: path.into() }),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DetectError::io(path, "read", e)),
        }
    }
}

/// Stat `path`, waiting (at most a few ticks) until its last change is
/// older than [`TICK_GUARD`].
///
/// Kernels without fine-grained timestamps stamp changes with a coarse clock
/// (one tick, up to 10 ms): a rewrite within the tick of the previous change
/// keeps size, mtime and ctime identical, and a read spanning it could mix
/// two contents unnoticed. Once the last change is a full tick in the past,
/// any later change gets a different ctime and is caught.
fn settled_meta(path: &Path, guard: Duration) -> Result<FileMeta, DetectError> {
    for _ in 0..SETTLE_ATTEMPTS {
        let md = fs::metadata(path).map_err(|e| DetectError::io(path, "stat", e))?;
        if !md.is_file() {
            return Err(DetectError::NotAFile { path: path.into() });
        }
        let meta = FileMeta::of(&md);
        let age = meta.ctime_age();
        if age >= guard {
            return Ok(meta);
        }
        std::thread::sleep(guard - age);
    }
    Err(DetectError::ChangedWhileHashing { path: path.into() })
}

fn read_loop(file: &mut File, buf: &mut [u8], path: &Path, mut sink: impl FnMut(&[u8])) -> Result<u64, DetectError> {
    let mut total = 0u64;
    loop {
        match file.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                sink(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DetectError::io(path, "read", e)),
        }
    }
}

fn open_error(path: &Path, e: io::Error) -> DetectError {
    if e.kind() == io::ErrorKind::NotFound {
        // It was there a moment ago (we just stat'ed it).
        DetectError::ChangedWhileHashing { path: path.into() }
    } else {
        DetectError::io(path, "open", e)
    }
}

thread_local! {
    static HASHER: RefCell<Option<FileHasher>> = const { RefCell::new(None) };
}

/// Fingerprint the file at `path`: blake3 of its bytes, read in 1 MiB blocks
/// into a per-thread buffer (files of 64 MiB and more are hashed from a memory
/// map on all cores, see [`FileHasher::with_mmap`]).
///
/// The metadata (size, mtime, ctime, inode) is taken before and after the read
/// and the path is stat'ed again at the end; the hash is returned only if all
/// agree and the byte count matches the size. A file changed less than 20 ms
/// ago is first given time to settle (so that coarse kernel timestamps
/// cannot hide a rewrite during the read); this is the only wait. A file written, truncated,
/// replaced or removed during the read gives
/// [`DetectError::ChangedWhileHashing`] instead: never a hash of content that
/// was not stable.
///
/// # Errors
///
/// - [`DetectError::Io`] if the file cannot be stat'ed, opened or read
///   (`op` says which);
/// - [`DetectError::NotAFile`] for directories, FIFOs, devices and sockets;
/// - [`DetectError::ChangedWhileHashing`] as above.
pub fn hash_file(path: &Path) -> Result<Fingerprint, DetectError> {
    HASHER.with_borrow_mut(|slot| slot.get_or_insert_with(FileHasher::new).hash_file(path))
}
