//! Sealed memfds: the library never touches the disk (Linux; elsewhere, unsupported).

#[cfg(target_os = "linux")]
pub(crate) use linux::create;
#[cfg(not(target_os = "linux"))]
pub(crate) use other::create;

#[cfg(target_os = "linux")]
mod linux {
    use rustix::fs::{MemfdFlags, SealFlags};
    use std::io::Write;
    use std::os::fd::IntoRawFd;
    use std::path::PathBuf;

    /// Writes `bytes` into a new sealed memfd and returns its `/proc/self/fd/N` path. The fd
    /// is deliberately kept open forever: closing it would let the number, and so the path
    /// `dlopen` caches by, be reused for other code.
    pub(crate) fn create(hash: &blake3::Hash, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let name = format!("hotpack-{}", &hash.to_hex()[..16]);
        let fd = rustix::fs::memfd_create(name.as_str(), MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes)?;
        rustix::fs::fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL)?;
        let raw = file.into_raw_fd();
        Ok(PathBuf::from(format!("/proc/self/fd/{raw}")))
    }
}

#[cfg(not(target_os = "linux"))]
mod other {
    use std::path::PathBuf;

    pub(crate) fn create(_hash: &blake3::Hash, _bytes: &[u8]) -> std::io::Result<PathBuf> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "memfd is Linux-only"))
    }
}
