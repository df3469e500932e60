//! Content fingerprints: blake3 of a file's bytes, taken only from content that
//! was stable for the whole read.

use std::cell::RefCell;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::DetectError;

/// Size of the reused read buffer. Measured on the reference 2-core machine
/// against a 1 GiB file in the page cache: 1 MiB reads hash at 4.3 GB/s, the
/// same as blake3 over an in-memory slice (4.25 GB/s), ahead of 64 KiB reads
/// (3.7 GB/s) and of a memory map (3.0 GB/s, which would also turn a
/// concurrent truncation into SIGBUS).
const READ_BUF: usize = 1 << 20;

/// How long ago a file's last change must be before its metadata can vouch
/// for a read (see [`settled_meta`]): two ticks of the coarsest kernel clock.
const TICK_GUARD: Duration = Duration::from_millis(20);

/// Waits for a file to settle before giving up with `ChangedWhileHashing`.
const SETTLE_ATTEMPTS: u32 = 4;

/// Files at least this large are hashed with several threads when the
/// `parallel` feature is on.
#[cfg(feature = "parallel")]
const PARALLEL_MIN: u64 = 64 << 20;

/// Read size for multi-threaded hashing: large enough for rayon to split.
#[cfg(feature = "parallel")]
const PARALLEL_BUF: usize = 16 << 20;

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

/// Hashes files with one reused read buffer.
///
/// [`hash_file`] uses one of these per thread; keep your own when you want
/// to control where the buffer lives.
#[derive(Debug)]
pub struct FileHasher {
    buf: Vec<u8>,
    settle: Duration,
    #[cfg(feature = "parallel")]
    big: Vec<u8>,
}

impl Default for FileHasher {
    fn default() -> Self {
        FileHasher::new()
    }
}

impl FileHasher {
    /// A hasher with a 1 MiB read buffer.
    pub fn new() -> FileHasher {
        FileHasher {
            buf: vec![0; READ_BUF],
            settle: TICK_GUARD,
            #[cfg(feature = "parallel")]
            big: Vec::new(),
        }
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

    /// Fingerprint the file at `path`; see [`hash_file`].
    ///
    /// # Errors
    ///
    /// See [`hash_file`].
    pub fn hash_file(&mut self, path: &Path) -> Result<Fingerprint, DetectError> {
        self.hash_with_meta(path).map(|(fp, _)| fp)
    }

    /// Hash `path`, returning the fingerprint and the full metadata it was
    /// stable under.
    pub(crate) fn hash_with_meta(&mut self, path: &Path) -> Result<(Fingerprint, FileMeta), DetectError> {
        // Stat the path first: never open a FIFO or a device (open would block
        // or have side effects).
        let pre = settled_meta(path, self.settle)?;
        let mut file = File::open(path).map_err(|e| open_error(path, e))?;
        let before = FileMeta::of(&file.metadata().map_err(|e| DetectError::io(path, "stat", e))?);
        if (before.dev, before.ino) != (pre.dev, pre.ino) {
            return Err(DetectError::ChangedWhileHashing { path: path.into() });
        }

        let mut hasher = blake3::Hasher::new();
        let total = self.read_into(&mut file, &mut hasher, before.size, path)?;

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
        Ok((fp, before))
    }

    /// Feed the whole file to `hasher`; returns the number of bytes read.
    fn read_into(
        &mut self,
        file: &mut File,
        hasher: &mut blake3::Hasher,
        size: u64,
        path: &Path,
    ) -> Result<u64, DetectError> {
        #[cfg(feature = "parallel")]
        if size >= PARALLEL_MIN {
            if self.big.len() < PARALLEL_BUF {
                self.big = vec![0; PARALLEL_BUF];
            }
            return read_loop(file, &mut self.big, path, |chunk| {
                hasher.update_rayon(chunk);
            });
        }
        let _ = size;
        read_loop(file, &mut self.buf, path, |chunk| {
            hasher.update(chunk);
        })
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
/// into a per-thread buffer (multi-threaded for files of 64 MiB and more with
/// the `parallel` feature).
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
