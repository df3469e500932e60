//! File-system helpers: atomic writes, the sweep of their leftovers, and private
//! directories and files.
//!
//! Every error names the path once, in [`FsError`]'s message; the I/O error is its
//! [`source`](std::error::Error::source), not repeated in the message.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The marker every temporary file of [`AtomicWrite`] carries: `.<name>.hotpack-tmp-<unique>`.
pub const TEMP_MARKER: &str = ".hotpack-tmp-";

/// How many bytes of the target's name a temporary name keeps (see `create_temp`).
const TEMP_NAME_KEEP: usize = 180;

/// Why a file-system operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// An I/O operation failed.
    #[error("cannot {op} `{}`", .path.display())]
    Io {
        /// The path operated on.
        path: PathBuf,
        /// What was being done, e.g. `create a temporary file beside`.
        op: &'static str,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The target exists and is not a regular file (a directory, a symlink, a device);
    /// an atomic write never replaces one.
    #[error("`{}` exists and is not a regular file; refusing to replace it", .path.display())]
    NotARegularFile {
        /// The target.
        path: PathBuf,
    },
    /// The path exists but is not a directory.
    #[error("`{}` is not a directory", .path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// A directory or file that must be private is owned by another user.
    #[error("`{}` is owned by uid {owner}, not by this user (uid {expected}), mode {mode:o}; refusing to use it", .path.display())]
    ForeignOwner {
        /// The path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// This process's effective uid.
        expected: u32,
        /// Its permission bits.
        mode: u32,
    },
    /// A directory or file that must be private is writable by group or others.
    #[error("`{}` (owner uid {owner}) has mode {mode:o}, writable by group or others; refusing to use it (chmod go-w)", .path.display())]
    WritableByOthers {
        /// The path.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Its permission bits.
        mode: u32,
    },
}

impl FsError {
    /// The path this error is about.
    pub fn path(&self) -> &Path {
        match self {
            FsError::Io { path, .. }
            | FsError::NotARegularFile { path }
            | FsError::NotADirectory { path }
            | FsError::ForeignOwner { path, .. }
            | FsError::WritableByOthers { path, .. } => path,
        }
    }
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| FsError::Io { path: path.to_path_buf(), op, source }
}

/// Write `bytes` to `path` atomically with mode 0644 (see [`AtomicWrite`]).
///
/// # Errors
/// [`FsError`] naming the target (or the temporary file).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    AtomicWrite::new(path).write(bytes)
}

/// An atomic replacement of one file: readers see the old content or the new, never a
/// half-written file, and after it returns the new content survives a crash.
///
/// The steps: a temporary file `.<name>.hotpack-tmp-<pid>-<n>` is created in the target's
/// directory with `O_CREAT | O_EXCL` (mode 0600), written, given the final mode, fsynced,
/// renamed over the target, and the directory is fsynced. On failure the temporary file is
/// removed; after a crash [`remove_stale_temps`] finds it by its name.
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("journal.json");
/// hotpack_util::fs::AtomicWrite::new(&path).mode(0o600).write_with(|file| {
///     use std::io::Write;
///     file.write_all(b"{\"versions\":[]}")
/// })?;
/// assert_eq!(std::fs::read(&path)?, b"{\"versions\":[]}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct AtomicWrite<'a> {
    path: &'a Path,
    mode: u32,
    durable: bool,
}

impl<'a> AtomicWrite<'a> {
    /// An atomic write of `path`, mode 0644, durable.
    pub fn new(path: &'a Path) -> Self {
        AtomicWrite { path, mode: 0o644, durable: true }
    }

    /// The permission bits of the file written (default 0644; 0600 for private files).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o7777;
        self
    }

    /// Whether to fsync the file and the directory (default `true`). Without it the
    /// replacement is still atomic for readers, but a crash may leave the old content.
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    /// Write `bytes`.
    ///
    /// # Errors
    /// As [`write_with`](Self::write_with).
    pub fn write(self, bytes: &[u8]) -> Result<(), FsError> {
        self.write_with(|file| file.write_all(bytes))
    }

    /// Write by streaming into the temporary file with `fill`.
    ///
    /// # Errors
    /// [`FsError::NotARegularFile`] when the target exists and is not a regular file;
    /// [`FsError::Io`] naming the temporary file or the target for each step that fails.
    pub fn write_with(self, fill: impl FnOnce(&mut File) -> io::Result<()>) -> Result<(), FsError> {
        let path = self.path;
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_file() => {
                return Err(FsError::NotARegularFile { path: path.to_path_buf() });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path, "inspect")(e)),
        }
        let dir = parent_dir(path);
        let name = path.file_name().ok_or_else(|| FsError::NotARegularFile { path: path.to_path_buf() })?;
        let (tmp_path, mut file) = create_temp(dir, &name.to_string_lossy())?;
        let result = (|| {
            fill(&mut file).map_err(io_err(&tmp_path, "write the temporary file"))?;
            set_mode(&file, self.mode).map_err(io_err(&tmp_path, "set the mode of"))?;
            if self.durable {
                file.sync_all().map_err(io_err(&tmp_path, "fsync"))?;
            }
            drop(file);
            std::fs::rename(&tmp_path, path).map_err(io_err(path, "rename the temporary file over"))
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp_path);
            return Err(e);
        }
        if self.durable {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir, "fsync the directory"))?;
        }
        Ok(())
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn create_temp(dir: &Path, name: &str) -> Result<(PathBuf, File), FsError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // A file name is at most 255 bytes: the target's name is cut (on a character boundary)
    // so the temporary name fits whatever the target's length (the marker, pid, counter and
    // time take at most 1 + 13 + 10 + 1 + 20 + 1 + 8 bytes).
    let mut cut = name.len().min(TEMP_NAME_KEEP);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let name = &name[..cut];
    let pid = std::process::id();
    let mut last = None;
    for _ in 0..64 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let tmp = dir.join(format!(".{name}{TEMP_MARKER}{pid}-{n}-{nanos:08x}"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(FsError::Io { path: tmp, op: "create a temporary file", source: e }),
        }
    }
    Err(FsError::Io {
        path: dir.to_path_buf(),
        op: "find a free temporary file name in",
        source: last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)),
    })
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// `true` when `file_name` is a temporary file of [`AtomicWrite`].
pub fn is_temp_name(file_name: &str) -> bool {
    file_name.starts_with('.') && file_name.contains(TEMP_MARKER)
}

/// Remove the temporary files [`AtomicWrite`] left in `dir` (after a crash or `kill -9`),
/// returning how many were removed. Call it at start, before this process writes into `dir`;
/// another process writing into the same directory at that moment may lose its write (it
/// then fails with an error, never a half-written target).
///
/// # Errors
/// [`FsError::Io`] naming `dir` or the file that could not be removed. A missing `dir`
/// removes nothing.
pub fn remove_stale_temps(dir: &Path) -> Result<usize, FsError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err(dir, "list")(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(io_err(dir, "list"))?;
        if !is_temp_name(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        if !entry.file_type().map_err(io_err(&path, "inspect"))?.is_file() {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, "remove the stale temporary file")(e)),
        }
    }
    Ok(removed)
}

/// The per-user cache directory of `app`: `$XDG_CACHE_HOME/<app>` when that variable holds
/// an absolute path, else `$HOME/.cache/<app>` (the XDG base directory rule); `None` when
/// neither does (no guess from the password database: the caller names one then). Never a
/// shared temporary folder: a path anyone can predict and create first is how another local
/// user plants code. Create it with [`ensure_private_dir`].
pub fn user_cache_dir(app: &str) -> Option<PathBuf> {
    let absolute = |name: &str| std::env::var_os(name).map(PathBuf::from).filter(|p| p.is_absolute());
    absolute("XDG_CACHE_HOME")
        .map(|xdg| xdg.join(app))
        .or_else(|| absolute("HOME").map(|home| home.join(".cache").join(app)))
}

/// Create `path` (and missing parents) with mode 0700 if it does not exist, then check that
/// it is a directory owned by this user and not writable by group or others.
///
/// # Errors
/// [`FsError::ForeignOwner`], [`FsError::WritableByOthers`] (both naming the path, its owner
/// and its mode), [`FsError::NotADirectory`], or [`FsError::Io`].
pub fn ensure_private_dir(path: &Path) -> Result<(), FsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(io_err(path, "create the directory"))?;
    let meta = std::fs::metadata(path).map_err(io_err(path, "inspect"))?;
    if !meta.is_dir() {
        return Err(FsError::NotADirectory { path: path.to_path_buf() });
    }
    check_private(path, &meta)
}

/// Check that `path` is a regular file owned by this user and not writable by group or
/// others (a journal, a stored object, a secret key).
///
/// # Errors
/// [`FsError::ForeignOwner`], [`FsError::WritableByOthers`], [`FsError::NotARegularFile`],
/// or [`FsError::Io`] (including a missing file).
pub fn check_private_file(path: &Path) -> Result<(), FsError> {
    let meta = std::fs::metadata(path).map_err(io_err(path, "inspect"))?;
    if !meta.is_file() {
        return Err(FsError::NotARegularFile { path: path.to_path_buf() });
    }
    check_private(path, &meta)
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), FsError> {
    use std::os::unix::fs::MetadataExt;
    let owner = meta.uid();
    let mode = meta.mode() & 0o7777;
    let expected = rustix::process::geteuid().as_raw();
    if owner != expected {
        return Err(FsError::ForeignOwner { path: path.to_path_buf(), owner, expected, mode });
    }
    if mode & 0o022 != 0 {
        return Err(FsError::WritableByOthers { path: path.to_path_buf(), owner, mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), FsError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").mode() & 0o7777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf8"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.zip");
        write_atomic(&path, b"one").expect("first write");
        write_atomic(&path, b"two").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        assert_eq!(mode(&path), 0o644);
        assert_eq!(names(dir.path()), ["out.zip"]);
    }

    #[test]
    fn streaming_write_with_a_private_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal");
        AtomicWrite::new(&path)
            .mode(0o600)
            .write_with(|f| {
                f.write_all(b"a")?;
                f.write_all(b"b")
            })
            .expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"ab");
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_failed_fill_keeps_the_old_file_and_removes_the_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        write_atomic(&path, b"old").expect("write");
        let err = AtomicWrite::new(&path)
            .write_with(|f| {
                f.write_all(b"half")?;
                Err(io::Error::other("disk full"))
            })
            .expect_err("fails");
        assert!(matches!(&err, FsError::Io { op: "write the temporary file", .. }), "{err:?}");
        assert_eq!(std::fs::read(&path).expect("read"), b"old");
        assert_eq!(names(dir.path()), ["f"]);
    }

    #[test]
    fn the_message_names_the_path_once_and_the_cause_is_the_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing-dir").join("f");
        let err = write_atomic(&path, b"x").expect_err("no directory");
        let msg = err.to_string();
        assert!(msg.starts_with("cannot create a temporary file `"), "{msg}");
        assert!(!msg.contains("os error"), "the cause is the source, not the message: {msg}");
        let source = std::error::Error::source(&err).expect("has a source");
        assert!(source.to_string().contains("No such file"), "{source}");
    }

    #[test]
    fn never_replaces_a_symlink_or_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").expect("write");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(matches!(write_atomic(&link, b"x"), Err(FsError::NotARegularFile { .. })));
        assert!(std::fs::symlink_metadata(&link).expect("lstat").file_type().is_symlink());
        assert!(matches!(write_atomic(dir.path(), b"x"), Err(FsError::NotARegularFile { .. })));
        assert_eq!(std::fs::read(&target).expect("read"), b"keep");
    }

    #[test]
    fn stale_temps_are_swept_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".journal.hotpack-tmp-123-0-0"), b"half").expect("write");
        std::fs::write(dir.path().join(".x.so.hotpack-tmp-9-9-9"), b"half").expect("write");
        std::fs::write(dir.path().join("journal"), b"keep").expect("write");
        std::fs::write(dir.path().join("hotpack-tmp-not-hidden"), b"keep").expect("write");
        assert_eq!(remove_stale_temps(dir.path()).expect("sweep"), 2);
        assert_eq!(names(dir.path()), ["hotpack-tmp-not-hidden", "journal"]);
        assert_eq!(remove_stale_temps(&dir.path().join("absent")).expect("absent dir"), 0);
    }

    #[test]
    fn a_private_dir_is_created_0700_and_accepted_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("a").join("cache");
        ensure_private_dir(&cache).expect("created");
        assert_eq!(mode(&cache), 0o700);
        ensure_private_dir(&cache).expect("existing private dir accepted");
    }

    #[test]
    fn a_world_writable_dir_is_refused_naming_path_owner_and_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).expect("mkdir");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = ensure_private_dir(&shared).expect_err("refused");
        match &err {
            FsError::WritableByOthers { path, mode, .. } => {
                assert_eq!(path, &shared);
                assert_eq!(*mode, 0o777);
            }
            other => panic!("expected WritableByOthers, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&shared.display().to_string()) && msg.contains("777"), "{msg}");
    }

    #[test]
    fn a_foreign_owned_dir_and_file_are_refused() {
        if rustix::process::geteuid().as_raw() != 0 {
            // chown to another user needs root; the suite runs as root in CI.
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let planted = dir.path().join("planted");
        std::fs::create_dir(&planted).expect("mkdir");
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).expect("chown");
        match ensure_private_dir(&planted).expect_err("refused") {
            FsError::ForeignOwner { path, owner, expected, mode } => {
                assert_eq!((path, owner, expected, mode), (planted.clone(), 65534, 0, 0o700));
            }
            other => panic!("expected ForeignOwner, got {other:?}"),
        }
        let file = dir.path().join("journal");
        std::fs::write(&file, b"{}").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        check_private_file(&file).expect("own file accepted");
        std::os::unix::fs::chown(&file, Some(65534), None).expect("chown");
        assert_eq!(std::fs::metadata(&file).expect("stat").uid(), 65534);
        assert!(matches!(check_private_file(&file), Err(FsError::ForeignOwner { owner: 65534, .. })));
    }

    #[test]
    fn a_group_writable_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("key");
        std::fs::write(&file, b"secret").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o620)).expect("chmod");
        assert!(matches!(check_private_file(&file), Err(FsError::WritableByOthers { mode: 0o620, .. })));
        assert!(matches!(check_private_file(dir.path()), Err(FsError::NotARegularFile { .. })));
    }

    /// A target whose name is 255 bytes (the most a name may have) is written too: the
    /// temporary name is cut to fit.
    #[test]
    fn a_255_byte_name_is_written_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["n".repeat(255), format!("{}.zip", "é".repeat(125))] {
            let path = dir.path().join(&name);
            write_atomic(&path, b"long").expect("write a 255-byte name");
            assert_eq!(std::fs::read(&path).expect("read"), b"long");
        }
    }
}
