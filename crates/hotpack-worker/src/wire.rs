//! The byte encoding of control messages and call requests, and fd passing (`SCM_RIGHTS`)
//! over the control socket. Everything decoded here may come from an untrusted worker: every
//! read is bounds-checked and a malformed message is an error, never a panic.

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

/// Largest control message (a `SOCK_SEQPACKET` datagram).
pub(crate) const MAX_CONTROL: usize = 64 << 10;

/// Host -> worker control operations.
pub(crate) mod op {
    /// Limits and the resident data (fd). Reply: `READY`.
    pub(crate) const HELLO: u8 = 1;
    /// A library image (fd) and its hash. Reply: the module report or a refusal.
    pub(crate) const LOAD: u8 = 2;
    /// A new call channel: its shared slot and its stream socket (2 fds). Reply: OK.
    pub(crate) const CHANNEL: u8 = 3;
    /// A handler call (channel).
    pub(crate) const CALL: u8 = 10;
    /// A handler call whose input is the resident data (channel).
    pub(crate) const CALL_DATA: u8 = 11;
    /// The init hook (channel).
    pub(crate) const INIT: u8 = 12;
    /// State export (channel).
    pub(crate) const EXPORT: u8 = 13;
    /// State import (channel).
    pub(crate) const IMPORT: u8 = 14;
}

/// Worker -> host reply statuses.
pub(crate) mod status {
    pub(crate) const OK: u8 = 0;
    /// `OK` with no value (export without a hook).
    pub(crate) const NONE: u8 = 1;
    /// The handler or hook returned an error.
    pub(crate) const FAILED: u8 = 2;
    /// The handler or hook panicked (caught in the module).
    pub(crate) const PANICKED: u8 = 3;
    /// No such handler.
    pub(crate) const NO_HANDLER: u8 = 4;
    /// No module of that name in this worker.
    pub(crate) const NO_MODULE: u8 = 5;
    /// The worker refused the request (load failed, bad request): message follows.
    pub(crate) const REFUSED: u8 = 6;
    /// Before a failed call's status, any number of times: a provider the called module
    /// requires (name, string) whose typed shims caught `count` (u64) panics not reported
    /// before; the host charges them to that provider, as it does in process.
    pub(crate) const CHARGED: u8 = 7;
}

/// A message being built.
#[derive(Debug, Default)]
pub(crate) struct Enc(pub(crate) Vec<u8>);

impl Enc {
    pub(crate) fn new(op: u8) -> Enc {
        Enc(vec![op])
    }
    pub(crate) fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub(crate) fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn bytes(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(&(v.len() as u64).to_le_bytes());
        self.0.extend_from_slice(v);
        self
    }
    pub(crate) fn str(self, v: &str) -> Self {
        self.bytes(v.as_bytes())
    }
}

/// A message being read; `None` from any getter means malformed.
#[derive(Debug)]
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Dec<'a> {
        Dec { buf, pos: 0 }
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let v = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        let v = self.buf.get(self.pos..self.pos.checked_add(8)?)?;
        self.pos += 8;
        Some(u64::from_le_bytes(v.try_into().ok()?))
    }
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u64()?).ok()?;
        let v = self.buf.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some(v)
    }
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let v = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        v
    }
}

/// Sends one control message with `fds` attached.
pub(crate) fn send(sock: BorrowedFd<'_>, msg: &[u8], fds: &[BorrowedFd<'_>]) -> std::io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "too many fds for one message"));
    }
    let n = rustix::net::sendmsg(sock, &[IoSlice::new(msg)], &mut control, SendFlags::NOSIGNAL)?;
    if n != msg.len() {
        return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "control message cut short"));
    }
    Ok(())
}

/// Receives one control message and the fds attached to it (received close-on-exec).
/// `Ok(None)`: the other end closed.
pub(crate) fn recv(sock: BorrowedFd<'_>) -> std::io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_CONTROL];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = loop {
        match rustix::net::recvmsg(sock, &mut [IoSliceMut::new(&mut buf)], &mut control, RecvFlags::CMSG_CLOEXEC) {
            Ok(got) => break got,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut fds = Vec::new();
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = msg {
            fds.extend(rights);
        }
    }
    if got.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    buf.truncate(got.bytes);
    Ok(Some((buf, fds)))
}

/// Writes all of `data` to a stream socket.
pub(crate) fn write_all(sock: BorrowedFd<'_>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match rustix::net::send(sock, data, SendFlags::NOSIGNAL) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads exactly `out.len()` bytes from a stream socket.
pub(crate) fn read_exact(sock: BorrowedFd<'_>, mut out: &mut [u8]) -> std::io::Result<()> {
    while !out.is_empty() {
        match rustix::net::recv(sock, &mut *out, RecvFlags::empty()) {
            Ok((0, _)) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok((n, _)) => out = &mut out[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A sealed memfd holding `bytes`: sealed against writes and resizing, so every process
/// that maps it sees these bytes and nothing else, forever.
pub(crate) fn sealed_memfd(name: &str, bytes: &[u8]) -> std::io::Result<OwnedFd> {
    use rustix::fs::{MemfdFlags, SealFlags};
    use std::io::Write;
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    rustix::fs::fcntl_add_seals(&file, SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL)?;
    Ok(OwnedFd::from(file))
}

/// A memfd of `len` zero bytes that can never shrink or grow (a call slot both sides write).
pub(crate) fn slot_memfd(len: u64) -> std::io::Result<OwnedFd> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let fd = rustix::fs::memfd_create("hotpack-slot", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::ftruncate(&fd, len)?;
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decoding never panics and never reads past the message, whatever a worker sends:
    /// every prefix of a valid report and a spread of garbage.
    #[test]
    fn decoding_untrusted_bytes_never_panics() {
        let report = crate::ModuleReport {
            name: "m".into(),
            version: semver::Version::new(1, 2, 3),
            hash: blake3::hash(b"x"),
            handlers: vec!["a".into(), "b".into()],
            interfaces: vec![("I".into(), 7)],
            has_init: true,
            has_state: false,
        };
        let bytes = report.encode(Enc::default()).0;
        assert_eq!(crate::ModuleReport::decode(&mut Dec::new(&bytes)), Some(report));
        for cut in 0..bytes.len() {
            assert_eq!(crate::ModuleReport::decode(&mut Dec::new(&bytes[..cut])), None, "prefix {cut}");
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..512 {
            let garbage: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = crate::ModuleReport::decode(&mut Dec::new(&garbage));
            let mut d = Dec::new(&garbage);
            let _ = (d.u8(), d.u64(), d.bytes(), d.str(), d.rest());
        }
        // A length that claims more than there is.
        let mut d = Dec::new(&[0xff; 16]);
        assert_eq!(d.bytes(), None);
    }
}
