//! The call channels of a [`Worker`]: finding a free one without a lock, opening one on
//! demand, giving one back.

use super::{ControlError, Worker};
use crate::slot::{self, Slot};
use crate::wire::{self, Enc, op, status};
use crate::{ProtocolFault, WorkerCallError};
use hotpack_loader::SharedMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One channel: a call slot and its socket.
#[derive(Debug)]
pub(super) struct Channel {
    pub(super) slot: Slot,
    pub(super) stream: OwnedFd,
    /// Held by a call. A call that fails with the worker's death keeps it held.
    busy: AtomicBool,
}

impl Worker {
    /// A free channel, marked busy: the first free one of those open (no lock), else a new
    /// one, else (at the limit) waits for one to be given back.
    pub(super) fn take_channel(&self) -> Result<&Channel, WorkerCallError> {
        if let Some(ch) = self.free_channel() {
            return Ok(ch);
        }
        let pid = self.inner.pid;
        let mut pool = hotpack_util::sync::lock(&self.inner.pool);
        loop {
            // Counted before the scan: a channel given back after it is seen by its giver.
            self.inner.waiting.fetch_add(1, Ordering::SeqCst);
            if let Some(ch) = self.free_channel() {
                self.inner.waiting.fetch_sub(1, Ordering::SeqCst);
                return Ok(ch);
            }
            if pool.total < pool.limit {
                self.inner.waiting.fetch_sub(1, Ordering::SeqCst);
                pool.total += 1;
                drop(pool);
                let made = self.open_channel();
                pool = hotpack_util::sync::lock(&self.inner.pool);
                match made {
                    Ok(ch) => {
                        // Published in order under the lock: `channels[..opened]` are set.
                        let at = self.inner.opened.load(Ordering::Acquire);
                        let Some(cell) = self.inner.channels.get(at) else {
                            return Err(self.protocol(ProtocolFault::ChannelLimit));
                        };
                        let _ = cell.set(ch);
                        self.inner.opened.store(at + 1, Ordering::Release);
                        // A death recorded before the store would have missed this channel.
                        if self.death().is_some() {
                            return Err(self.died());
                        }
                        return cell.get().ok_or_else(|| self.protocol(ProtocolFault::ChannelVanished));
                    }
                    Err(Opened::Failed(e)) => {
                        pool.total -= 1;
                        self.inner.pool_cv.notify_one();
                        return Err(e);
                    }
                    Err(Opened::NoThread(message)) => {
                        // The worker is alive but cannot start another call thread: wait
                        // for a channel in use, unless there is none.
                        pool.total -= 1;
                        pool.limit = pool.total;
                        if pool.total == 0 {
                            return Err(WorkerCallError::Io {
                                pid,
                                op: "open a call channel",
                                source: std::io::Error::other(message),
                            });
                        }
                        continue;
                    }
                }
            }
            if self.death().is_some() {
                self.inner.waiting.fetch_sub(1, Ordering::SeqCst);
                return Err(self.died());
            }
            pool = self
                .inner
                .pool_cv
                .wait_timeout(pool, Duration::from_millis(100))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            self.inner.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The first open channel not busy, marked busy; `None` when all are.
    fn free_channel(&self) -> Option<&Channel> {
        let opened = self.inner.opened.load(Ordering::Acquire);
        self.inner.channels.iter().take(opened).filter_map(OnceLock::get).find(|ch| {
            !ch.busy.load(Ordering::Relaxed)
                && ch.busy.compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed).is_ok()
        })
    }

    fn open_channel(&self) -> Result<Channel, Opened> {
        let pid = self.inner.pid;
        let io =
            |op: &'static str| move |source: std::io::Error| Opened::Failed(WorkerCallError::Io { pid, op, source });
        let memfd = wire::slot_memfd(slot::SLOT_BYTES).map_err(io("create a call slot"))?;
        let map = SharedMap::new(memfd.as_fd()).map_err(io("map a call slot"))?;
        let slot = Slot::new(map).ok_or_else(|| {
            Opened::Failed(WorkerCallError::Io {
                pid,
                op: "map a call slot",
                source: std::io::Error::other("slot too small"),
            })
        })?;
        let (mine, theirs) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| Opened::Failed(WorkerCallError::Io { pid, op: "create a call socket", source: e.into() }))?;
        let reply = self
            .control(&Enc::new(op::CHANNEL).0, &[memfd.as_fd(), theirs.as_fd()], self.inner.limits.start_deadline)
            .map_err(|e| {
                Opened::Failed(match e {
                    ControlError::Closed => self.died(),
                    ControlError::Timeout(_) => self.protocol(ProtocolFault::ChannelTimeout),
                    ControlError::Io(op, source) => WorkerCallError::Io { pid, op, source },
                })
            })?;
        match reply.first() {
            Some(&status::OK) => {}
            Some(&status::REFUSED) => {
                return Err(Opened::NoThread(hotpack_util::error::ReportedError::new(String::from_utf8_lossy(
                    reply.get(1..).unwrap_or(&[]),
                ))));
            }
            _ => return Err(Opened::Failed(self.protocol(ProtocolFault::ChannelReply))),
        }
        Ok(Channel { slot, stream: mine, busy: AtomicBool::new(true) })
    }

    /// Marks `ch` free; takes the lock and wakes a waiter only when one waits.
    pub(super) fn give_back(&self, ch: &Channel) {
        ch.busy.store(false, Ordering::SeqCst);
        if self.inner.waiting.load(Ordering::SeqCst) > 0 {
            let _pool = hotpack_util::sync::lock(&self.inner.pool);
            self.inner.pool_cv.notify_one();
        }
    }
}

/// Why a channel was not opened.
enum Opened {
    /// The call fails with this.
    Failed(WorkerCallError),
    /// The worker could not start a call thread (its message); it lives.
    NoThread(hotpack_util::error::ReportedError),
}
