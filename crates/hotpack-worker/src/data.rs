//! What the host hands its workers as sealed memfds: [`ResidentData`] (kept once, mapped
//! read-only by every worker) and [`LibraryImage`] (the exact bytes the host verified).

use crate::WorkerError;
use hotpack_loader::SealedMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

/// Resident data, kept once by the host in a sealed memfd that the host and every worker
/// map read-only: a 1 GiB data set costs a worker page-table entries, not a copy, and it
/// survives every worker crash (the host holds it). Cheap to clone.
#[derive(Clone)]
pub struct ResidentData {
    inner: Arc<DataInner>,
}

struct DataInner {
    fd: OwnedFd,
    map: SealedMap,
}

impl std::fmt::Debug for ResidentData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentData").field("len", &self.len()).finish()
    }
}

impl ResidentData {
    /// Copies `bytes` into a new sealed memfd (once; the `Vec` is dropped after).
    ///
    /// # Errors
    ///
    /// [`WorkerError::Io`] when the memfd cannot be created, written, sealed or mapped.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<ResidentData, WorkerError> {
        let fd = crate::wire::sealed_memfd("hotpack-resident-data", &bytes)
            .map_err(|source| WorkerError::Io { op: "create the resident data memfd", source })?;
        drop(bytes);
        Self::from_fd(fd)
    }

    /// Reads the file at `path` into a new sealed memfd (streamed: the file is never held
    /// in a second buffer).
    ///
    /// # Errors
    ///
    /// [`WorkerError::Data`] when the file cannot be read; [`WorkerError::Io`] for the memfd.
    pub fn from_file(path: &Path) -> Result<ResidentData, WorkerError> {
        let file =
            std::fs::File::open(path).map_err(|source| WorkerError::Data { path: path.to_path_buf(), source })?;
        Self::from_reader(file, path)
    }

    /// Streams `reader` into a new sealed memfd (data generated or received, never held in
    /// a second buffer); `origin` names it in errors.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Data`] when reading fails; [`WorkerError::Io`] for the memfd.
    pub fn from_reader(mut reader: impl std::io::Read, origin: &Path) -> Result<ResidentData, WorkerError> {
        use rustix::fs::{MemfdFlags, SealFlags};
        let data_err = |source| WorkerError::Data { path: origin.to_path_buf(), source };
        let file = &mut reader;
        let fd = rustix::fs::memfd_create("hotpack-resident-data", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
            .map_err(|e| WorkerError::Io { op: "create the resident data memfd", source: e.into() })?;
        let mut out = std::fs::File::from(fd);
        std::io::copy(file, &mut out).map_err(data_err)?;
        rustix::fs::fcntl_add_seals(&out, SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL)
            .map_err(|e| WorkerError::Io { op: "seal the resident data memfd", source: e.into() })?;
        Self::from_fd(OwnedFd::from(out))
    }

    fn from_fd(fd: OwnedFd) -> Result<ResidentData, WorkerError> {
        let map =
            SealedMap::new(fd.as_fd()).map_err(|source| WorkerError::Io { op: "map the resident data", source })?;
        Ok(ResidentData { inner: Arc::new(DataInner { fd, map }) })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.inner.map.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.map.is_empty()
    }

    /// The bytes, through the host's own read-only map.
    pub fn bytes(&self) -> &[u8] {
        self.inner.map.bytes()
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }
}

/// A library's verified bytes in a sealed memfd: the worker maps and `dlopen`s exactly these
/// bytes (never the file again). Cheap to clone; one memfd per image, however many workers
/// load it.
#[derive(Clone)]
pub struct LibraryImage {
    inner: Arc<ImageInner>,
}

struct ImageInner {
    fd: OwnedFd,
    hash: blake3::Hash,
    len: usize,
    origin: String,
}

impl std::fmt::Debug for LibraryImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibraryImage")
            .field("hash", &self.inner.hash.to_hex().as_str())
            .field("len", &self.inner.len)
            .field("origin", &self.inner.origin)
            .finish()
    }
}

impl LibraryImage {
    /// Writes `bytes` (whose blake3 the caller verified: `hash`) into a sealed memfd.
    /// The hash is checked once more here, on the bytes written.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Refused`] when `bytes` do not hash to `hash`; [`WorkerError::Io`] for
    /// the memfd.
    pub fn new(bytes: &[u8], hash: blake3::Hash, origin: impl Into<String>) -> Result<LibraryImage, WorkerError> {
        let origin = origin.into();
        let found = blake3::hash(bytes);
        if found != hash {
            return Err(WorkerError::HashMismatch { origin, expected: hash, found });
        }
        let name = format!("hotpack-{}", &hash.to_hex()[..16]);
        let fd = crate::wire::sealed_memfd(&name, bytes)
            .map_err(|source| WorkerError::Io { op: "create the library memfd", source })?;
        Ok(LibraryImage { inner: Arc::new(ImageInner { fd, hash, len: bytes.len(), origin }) })
    }

    /// The blake3 of the bytes.
    pub fn hash(&self) -> &blake3::Hash {
        &self.inner.hash
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.inner.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// Where the bytes came from, as the host named it.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }
}
