//! A call slot: one shared-memory page range per channel, a state word both processes
//! wait on with a futex, and a stream socket for payloads bigger than the slot.
//!
//! Layout (offsets in bytes): `0` state, `4` host sleeping, `8` worker sleeping, `16` payload
//! length (u64), `24` spill flag, `64..` payload. The host writes a request, stores
//! `REQUEST` and wakes the worker only if it sleeps; the worker answers with `REPLY` the same
//! way. A side may spin briefly before it sleeps (a call answered within the spin costs no
//! syscall on either side), but only while it is nearly alone: spinning pays when the other
//! side has a core of its own, and on a machine with fewer cores than waiting threads a
//! spinner only steals the core the other side needs (see [`spin_allowed`]). Idle workers
//! sleep in `futex_wait`, never spin. A payload longer
//! than the slot is marked spilled and sent on the channel's stream socket instead.
//!
//! The worker is not trusted: the host reads the length and the flag from shared memory
//! and checks them against the slot size before it copies anything.

use hotpack_loader::SharedMap;
use rustix::thread::futex;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

pub(crate) const IDLE: u32 = 0;
pub(crate) const REQUEST: u32 = 1;
pub(crate) const REPLY: u32 = 2;
/// Set by the host only: the worker is gone, or the channel is closed.
pub(crate) const CLOSED: u32 = 3;

const HEADER: usize = 64;
/// Size of a slot's memfd: header plus payload.
pub(crate) const SLOT_BYTES: u64 = 256 << 10;

/// How long a side spins on the state word (yielding now and then) before it sleeps on the
/// futex.
const SPIN: Duration = Duration::from_micros(50);

/// The cores this process may run on, read once.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}

/// Whether a side with `busy` threads of its process running or waiting on calls (this one
/// included) may spin: only when each of them, and the other side's thread, can have a core
/// of its own. On one core never; on two, only a lone caller spins. With more callers than
/// cores, every waiter sleeps on the futex at once and leaves the cores to the threads doing
/// the work (16 callers spinning on 2 cores cut the rate several times over).
pub(crate) fn spin_allowed(busy: usize) -> bool {
    busy < cores()
}

/// One side's view of a slot.
#[derive(Debug)]
pub(crate) struct Slot {
    map: SharedMap,
}

/// Why a wait ended without the state asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Woke {
    /// The state is now this value.
    State(u32),
    /// The timeout passed.
    Timeout,
}

impl Slot {
    pub(crate) fn new(map: SharedMap) -> Option<Slot> {
        if (map.len() as u64) < SLOT_BYTES {
            return None;
        }
        Some(Slot { map })
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        self.map.atomic_u32(offset).expect("slot words are in bounds: the map is at least SLOT_BYTES long")
    }

    pub(crate) fn state(&self) -> &AtomicU32 {
        self.word(0)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.map.len() - HEADER
    }

    /// Writes a payload of `parts` (concatenated) into the slot; `false` when it does not fit
    /// (then the caller spills it to the socket and calls [`Slot::set_spilled`]).
    pub(crate) fn put(&self, parts: &[&[u8]]) -> bool {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total > self.capacity() {
            return false;
        }
        let mut at = HEADER;
        for p in parts {
            self.map.write(at, p);
            at += p.len();
        }
        self.set_len(total as u64, false);
        true
    }

    pub(crate) fn set_spilled(&self, total: u64) {
        self.set_len(total, true);
    }

    fn set_len(&self, len: u64, spilled: bool) {
        self.map.write(16, &len.to_le_bytes());
        self.map.write(24, &[u8::from(spilled)]);
    }

    /// The payload length and whether it is spilled; the length is as written by the other
    /// side (check it).
    pub(crate) fn len(&self) -> (u64, bool) {
        let mut len = [0u8; 8];
        let mut flag = [0u8; 1];
        self.map.read(16, &mut len);
        self.map.read(24, &mut flag);
        (u64::from_le_bytes(len), flag[0] != 0)
    }

    /// Copies the in-slot payload of `len` bytes out; `None` when `len` exceeds the slot.
    pub(crate) fn take(&self, len: u64) -> Option<Vec<u8>> {
        let len = usize::try_from(len).ok().filter(|l| *l <= self.capacity())?;
        let mut out = vec![0u8; len];
        self.map.read(HEADER, &mut out);
        Some(out)
    }

    /// Stores `state` and wakes the other side if it sleeps. `host`: this is the host side.
    pub(crate) fn publish(&self, state: u32, host: bool) {
        self.state().store(state, SeqCst);
        let other_sleeping = self.word(if host { 8 } else { 4 });
        if other_sleeping.load(SeqCst) != 0 {
            let _ = futex::wake(self.state(), futex::Flags::empty(), u32::MAX);
        }
    }

    /// Host side: publishes a request unless the slot was closed (the worker died between the
    /// caller's check and now); `false` then.
    pub(crate) fn publish_request(&self) -> bool {
        let state = self.state();
        let mut current = state.load(SeqCst);
        loop {
            if current == CLOSED {
                return false;
            }
            match state.compare_exchange(current, REQUEST, SeqCst, SeqCst) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        if self.word(8).load(SeqCst) != 0 {
            let _ = futex::wake(state, futex::Flags::empty(), u32::MAX);
        }
        true
    }

    /// Wakes every waiter (used by the host when it closes the slot).
    pub(crate) fn wake_all(&self) {
        let _ = futex::wake(self.state(), futex::Flags::empty(), u32::MAX);
    }

    /// Spins (at most [`SPIN`]) until the state is no longer `from`: the new state, or `None`.
    pub(crate) fn spin_change(&self, from: u32) -> Option<u32> {
        let state = self.state();
        let until = Instant::now() + SPIN;
        let mut n = 0u32;
        loop {
            let v = state.load(SeqCst);
            if v != from {
                return Some(v);
            }
            n += 1;
            if n.is_multiple_of(64) {
                if Instant::now() >= until {
                    return None;
                }
                // The side just woken may have been placed on this very CPU: let it run.
                std::thread::yield_now();
            }
            std::hint::spin_loop();
        }
    }

    /// Waits until the state is no longer `from` (spins, then sleeps), or `deadline` passes.
    /// `spin`: whether to spin first.
    pub(crate) fn wait_change(&self, from: u32, deadline: Option<Instant>, host: bool, spin: bool) -> Woke {
        let state = self.state();
        if spin && let Some(v) = self.spin_change(from) {
            return Woke::State(v);
        }
        let sleeping = self.word(if host { 4 } else { 8 });
        loop {
            sleeping.store(1, SeqCst);
            let v = state.load(SeqCst);
            if v != from {
                sleeping.store(0, SeqCst);
                return Woke::State(v);
            }
            let timeout = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        sleeping.store(0, SeqCst);
                        return Woke::Timeout;
                    }
                    // Wake now and then anyway: a lost wake-up costs at most this.
                    Some(left.min(Duration::from_millis(100)))
                }
                None => None,
            };
            let ts = timeout
                .map(|t| rustix::fs::Timespec { tv_sec: t.as_secs() as i64, tv_nsec: i64::from(t.subsec_nanos()) });
            let _ = futex::wait(state, futex::Flags::empty(), from, ts.as_ref());
            sleeping.store(0, SeqCst);
        }
    }
}
