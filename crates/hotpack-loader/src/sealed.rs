//! Loading a library image another process wrote into a sealed memfd (a worker's way in):
//! the same checks as every load, on bytes read through a read-only map of that very fd.

use crate::{LoadError, Loader, Module, ModuleInner, SealedMap, bind, precheck, provide, sys};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

impl Loader {
    /// Loads the library in a memfd another process wrote and sealed (a worker's library
    /// image): the bytes are read through a read-only map of that very fd (never a file, never
    /// a second copy), checked and hashed, and `dlopen`ed through `/proc/self/fd/N`. The fd is
    /// kept open forever, like every memfd the loader opens. When `expected` is given, bytes
    /// with another blake3 are refused before `dlopen`.
    ///
    /// # Errors
    ///
    /// [`LoadError::Unsealed`] when the fd is not a memfd sealed against writes and
    /// resizing; [`LoadError::HashMismatch`] for other bytes; any other [`LoadError`].
    pub fn load_sealed(
        &self,
        fd: std::os::fd::OwnedFd,
        expected: Option<&blake3::Hash>,
        origin: &Path,
    ) -> Result<Module, LoadError> {
        use std::os::fd::{AsFd, IntoRawFd};
        let object =
            |fd: &std::os::fd::OwnedFd| PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd)));
        let map =
            SealedMap::new(fd.as_fd()).map_err(|source| LoadError::Unsealed { path: origin.to_path_buf(), source })?;
        let bytes = map.bytes();
        let declared = precheck(origin, bytes)?;
        let hash = blake3::hash(bytes);
        if let Some(expected) = expected
            && *expected != hash
        {
            return Err(LoadError::HashMismatch { path: origin.to_path_buf(), expected: *expected, found: hash });
        }
        let size = bytes.len() as u64;
        drop(map);
        let mut state = hotpack_util::sync::lock(&self.state);
        if let Some(existing) = state.by_hash.get(&hash) {
            return Ok(existing.clone());
        }
        let path = object(&fd);
        let lib = sys::open(&path).map_err(|message| LoadError::Dlopen { path: origin.to_path_buf(), message })?;
        // Kept open forever: the number, and so the path dlopen caches by, is never reused.
        let _ = fd.into_raw_fd();
        state.stats.memfds += 1;
        if state.mapped.insert(hash) {
            state.stats.libraries += 1;
            state.stats.bytes += size;
        }
        let mut bound = bind(origin, lib)?;
        provide::agree(origin, &declared, &mut bound)?;
        let module = Module {
            inner: Arc::new(ModuleInner {
                bound,
                hash,
                source: origin.to_path_buf(),
                object: path,
                size,
                loaded_at: SystemTime::now(),
                init_result: OnceLock::new(),
            }),
        };
        state.by_hash.insert(hash, module.clone());
        Ok(module)
    }
}
