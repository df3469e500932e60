//! Crash attribution, for a process that hosts several modules (a hotpack worker): when the
//! process dies of a fault signal (`SIGSEGV`, `SIGBUS`, `SIGABRT`, `SIGILL`, `SIGFPE`) or
//! calls `exit`, which module's code was running on the thread that did it.
//!
//! [`note_crashes_to`] installs the handlers; [`watch`] records a loaded module's code (its
//! executable segments, found with `dl_iterate_phdr`) in a fixed table. On a crash the
//! handler walks the crashing thread's stack with the unwinder (`_Unwind_Backtrace`, which
//! steps through the signal frame into the faulting code) and writes the name of the module
//! owning the innermost frame that lies in any watched module's code to the note file
//! (`pwrite` at offset 0), once. Frames in libc, in the worker itself or in anything else
//! are skipped: `abort()` called by a module is that module's, not libc's. Then the handler
//! hands the signal on to the handler it replaced (Rust's own stack-overflow report) or to
//! the default action, so the process dies exactly as it would have.
//!
//! The note is a diagnosis, not a proof. The handler runs in a dying process whose module
//! code could have corrupted anything. The unwinder allocates nothing; with glibc 2.35 and
//! GCC 12 or later it finds each frame's unwind table through `_dl_find_object`, without a
//! lock (older ones take the dynamic loader's recursive lock, and libgcc's registration
//! mutex). Should a walk hang anyway, after 1 s an alarm gives up on the note and the
//! process dies of its own signal. What it cannot reach, it does not note: a `SIGKILL` (the
//! memory cap, the OOM killer, a deadline), `_exit`, a stack too broken to walk, an overflow of the signal stack. A reader of the note must also remember that a
//! module in the process can write the note file itself: believe only names it could blame
//! anyway (hotpack's host believes a provider of the module it called, nothing else).
//!
//! Record: `HPCN`, the signal as a little-endian `i32` (0 for `exit`), one length byte, the
//! module name.

use crate::Module;
use std::ffi::{c_int, c_void};
use std::os::fd::{IntoRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicUsize, Ordering};

/// The first bytes of a crash note.
pub const NOTE_MAGIC: &[u8; 4] = b"HPCN";

/// Modules whose code the table holds at most (a worker hosts a module and its providers).
const MAX_WATCHED: usize = 256;

/// One watched module: `[start, end)` of its code, and its name (leaked: modules are never
/// unloaded, so neither is the entry). Published by `end` (Release) after the rest.
struct Entry {
    start: AtomicUsize,
    end: AtomicUsize,
    name: AtomicPtr<u8>,
    name_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)] // the repeat operand of TABLE only
const EMPTY: Entry = Entry {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    name: AtomicPtr::new(std::ptr::null_mut()),
    name_len: AtomicUsize::new(0),
};
static TABLE: [Entry; MAX_WATCHED] = [EMPTY; MAX_WATCHED];
/// Entries claimed (each is filled, then published by its `end`).
static CLAIMED: AtomicUsize = AtomicUsize::new(0);
/// The note file, `-1` until [`note_crashes_to`].
static NOTE_FD: AtomicI32 = AtomicI32::new(-1);
/// Set by the first note: a second fault while dying (Rust's overflow report aborts after
/// the `SIGSEGV`) keeps the first, truer site.
static NOTED: AtomicBool = AtomicBool::new(false);

/// The signals a module's crash arrives as.
const SIGNALS: [c_int; 5] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGABRT, libc::SIGILL, libc::SIGFPE];
/// The handlers replaced, in `SIGNALS` order.
static PREVIOUS: OnceLock<[libc::sigaction; SIGNALS.len()]> = OnceLock::new();

/// Why crash notes could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrashNoteError {
    /// Already set up in this process.
    #[error("crash notes are already set up in this process")]
    AlreadySet,
    /// A handler could not be installed.
    #[error("cannot install the handler for signal {signal}: {source}")]
    Install {
        /// The signal.
        signal: i32,
        /// What `sigaction`/`atexit` said.
        #[source]
        source: std::io::Error,
    },
}

/// From now on, a crash of this process (a fault signal, or `exit`) inside a [`watch`]ed
/// module's code writes that module's name to `note` (see the module docs). Once per
/// process; `note` stays open for the life of the process.
///
/// # Errors
///
/// [`CrashNoteError`]: called twice, or the kernel refused a handler.
pub fn note_crashes_to(note: OwnedFd) -> Result<(), CrashNoteError> {
    // SAFETY: a zeroed sigaction (SIG_DFL, empty mask) is a valid value.
    let mut previous: [libc::sigaction; SIGNALS.len()] = unsafe { std::mem::zeroed() };
    for (old, &signal) in previous.iter_mut().zip(SIGNALS.iter()) {
        // SAFETY: `old` is a valid out-parameter; a null new action only queries.
        if unsafe { libc::sigaction(signal, std::ptr::null(), old) } != 0 {
            return Err(CrashNoteError::Install { signal, source: std::io::Error::last_os_error() });
        }
    }
    PREVIOUS.set(previous).map_err(|_| CrashNoteError::AlreadySet)?;
    NOTE_FD.store(note.into_raw_fd(), Ordering::Release);
    for &signal in &SIGNALS {
        // SAFETY: a zeroed sigaction with an empty mask is valid; the handler below is an
        // `extern "C" fn(c_int, *mut siginfo_t, *mut c_void)`, what SA_SIGINFO expects, and
        // it runs on the thread's signal stack (SA_ONSTACK: Rust gives each thread one), so
        // a stack overflow reaches it.
        let installed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if installed != 0 {
            return Err(CrashNoteError::Install { signal, source: std::io::Error::last_os_error() });
        }
    }
    prepare_thread();
    // SAFETY: `on_exit` is an `extern "C" fn()` that lives as long as the process.
    if unsafe { libc::atexit(on_exit) } != 0 {
        return Err(CrashNoteError::Install { signal: 0, source: std::io::Error::other("atexit refused") });
    }
    Ok(())
}

/// Size of the signal stack [`prepare_thread`] gives a thread: the unwinder needs more than
/// the few KiB Rust gives each thread for its overflow report.
const SIGNAL_STACK: usize = 256 << 10;

/// The signal stack of this thread, while [`prepare_thread`]'s is in use.
struct SignalStack {
    base: *mut c_void,
    len: usize,
}

impl Drop for SignalStack {
    fn drop(&mut self) {
        // SAFETY: disables this thread's signal stack (ours) before unmapping it, so no
        // signal can land on unmapped memory; `base`/`len` are the mapping made below.
        unsafe {
            let off = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
            libc::sigaltstack(&off, std::ptr::null_mut());
            libc::munmap(self.base, self.len);
        }
    }
}

thread_local! {
    static SIGNAL_STACK_OF_THREAD: std::cell::RefCell<Option<SignalStack>> = const { std::cell::RefCell::new(None) };
}

/// Gives the calling thread a signal stack large enough for the crash handler's stack walk
/// (256 KiB of address space, with a guard page below it). Call it first thing on each
/// thread that runs module code; without it a crash on that thread is often not noted (the
/// walk overflows the small stack Rust gives threads, and the process dies of that
/// `SIGSEGV` instead of its own signal). `false` when the stack could not be made.
pub fn prepare_thread() -> bool {
    if SIGNAL_STACK_OF_THREAD.with(|s| s.borrow().is_some()) {
        return true;
    }
    let page = 4096;
    let len = SIGNAL_STACK + page;
    // SAFETY: a fresh private anonymous mapping at an address the kernel picks; checked below.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return false;
    }
    let stack = SignalStack { base, len };
    // SAFETY: the lowest page of the mapping made above becomes the guard; the rest (inside
    // the mapping) is this thread's signal stack until `stack` is dropped with the thread.
    let ok = unsafe {
        libc::mprotect(base, page, libc::PROT_NONE) == 0 && {
            let on = libc::stack_t { ss_sp: base.cast::<u8>().add(page).cast(), ss_flags: 0, ss_size: SIGNAL_STACK };
            libc::sigaltstack(&on, std::ptr::null_mut()) == 0
        }
    };
    if !ok {
        return false;
    }
    SIGNAL_STACK_OF_THREAD.with(|s| *s.borrow_mut() = Some(stack));
    true
}

/// Records `module`'s code so a crash inside it is noted with its name. `false` when its
/// code was not found (it is then never blamed) or the table is full.
pub fn watch(module: &Module) -> bool {
    let Some((start, end)) = code_range(module.inner.bound.typed_panics.addr()) else { return false };
    let index = CLAIMED.fetch_add(1, Ordering::AcqRel);
    let Some(entry) = TABLE.get(index) else { return false };
    let name: &'static mut [u8] = Box::leak(module.name().as_bytes().to_vec().into_boxed_slice());
    entry.name_len.store(name.len(), Ordering::Relaxed);
    entry.name.store(name.as_mut_ptr(), Ordering::Relaxed);
    entry.start.store(start, Ordering::Relaxed);
    entry.end.store(end, Ordering::Release);
    true
}

/// The lowest and highest address of the executable segments of the object mapped at `addr`.
fn code_range(addr: usize) -> Option<(usize, usize)> {
    struct Find {
        addr: usize,
        found: Option<(usize, usize)>,
    }
    unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _size: libc::size_t, data: *mut c_void) -> c_int {
        // SAFETY: `data` is the `Find` passed to dl_iterate_phdr below, used by this thread
        // only; `info` is valid during the callback, and its `dlpi_phdr` points at
        // `dlpi_phnum` program headers of a mapped object.
        let (want, info) = unsafe { (&mut *data.cast::<Find>(), &*info) };
        let phdrs = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: as above.
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        let base = info.dlpi_addr as usize;
        let span = |p: &libc::Elf64_Phdr| {
            let start = base.wrapping_add(p.p_vaddr as usize);
            (start, start.wrapping_add(p.p_memsz as usize))
        };
        let loads = || phdrs.iter().filter(|p| p.p_type == libc::PT_LOAD);
        if !loads().map(span).any(|(s, e)| (s..e).contains(&want.addr)) {
            return 0;
        }
        want.found = loads()
            .filter(|p| p.p_flags & libc::PF_X != 0)
            .map(span)
            .reduce(|(s1, e1), (s2, e2)| (s1.min(s2), e1.max(e2)));
        1
    }
    let mut find = Find { addr, found: None };
    // SAFETY: `each` only reads what the loader passes it and writes `find`, which outlives
    // the call.
    unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut find).cast()) };
    find.found
}

/// The watched module whose code holds `ip`.
fn owner(ip: usize) -> Option<&'static [u8]> {
    let claimed = CLAIMED.load(Ordering::Acquire).min(MAX_WATCHED);
    TABLE[..claimed].iter().find_map(|e| {
        let end = e.end.load(Ordering::Acquire);
        if end == 0 || !(e.start.load(Ordering::Relaxed)..end).contains(&ip) {
            return None;
        }
        let (ptr, len) = (e.name.load(Ordering::Relaxed), e.name_len.load(Ordering::Relaxed));
        // SAFETY: published by `end` after `name`/`name_len`: a leaked, never-freed slice.
        Some(unsafe { std::slice::from_raw_parts(ptr.cast_const(), len) })
    })
}

#[allow(non_camel_case_types)]
type _Unwind_Trace_Fn = extern "C" fn(*mut c_void, *mut c_void) -> c_int;
unsafe extern "C" {
    // libgcc_s's unwinder, which Rust's std on Linux links.
    fn _Unwind_Backtrace(trace: _Unwind_Trace_Fn, arg: *mut c_void) -> c_int;
    fn _Unwind_GetIPInfo(ctx: *mut c_void, ip_before_insn: *mut c_int) -> usize;
}
/// `_URC_NO_REASON`: go on walking.
const KEEP_WALKING: c_int = 0;
/// `_URC_END_OF_STACK`: stop.
const STOP: c_int = 5;

extern "C" fn frame(ctx: *mut c_void, arg: *mut c_void) -> c_int {
    let mut before: c_int = 0;
    // SAFETY: `ctx` is the unwinder's context for this frame, valid during the callback.
    let ip = unsafe { _Unwind_GetIPInfo(ctx, &mut before) };
    // A return address points past its call: the call itself is one byte before. A signal
    // frame's address is the faulting instruction (`before` set).
    let ip = if before == 0 { ip.saturating_sub(1) } else { ip };
    match owner(ip) {
        Some(name) => {
            // SAFETY: `arg` is the `Option` in `note`, used by this thread only.
            unsafe { *arg.cast::<Option<&'static [u8]>>() = Some(name) };
            STOP
        }
        None => KEEP_WALKING,
    }
}

/// The longest a stack walk may take before the process is ended without a note.
const WALK_SECONDS: u32 = 1;

/// The signal whose stack walk is running (0: none, or `exit`'s).
static WALKING: AtomicI32 = AtomicI32::new(0);

/// A stack walk took over [`WALK_SECONDS`]: gives up on the note and dies of the signal that
/// started the walk (unblocked here, where its handler left it blocked), so the process ends
/// as it would have without the walk.
extern "C" fn walk_timed_out(_: c_int) {
    let signal = WALKING.load(Ordering::Acquire);
    // SAFETY: `signal`, `sigemptyset`, `sigaddset`, `pthread_sigmask` and `raise` are
    // async-signal-safe; the set is a local.
    unsafe {
        if signal == 0 {
            // An `exit` walk: the default action of this alarm ends the process.
            libc::signal(libc::SIGALRM, libc::SIG_DFL);
            libc::raise(libc::SIGALRM);
            return;
        }
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::raise(signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// Writes the note for `signal` (0: `exit`), once, if a watched module's frame is found.
fn note(signal: c_int) {
    let fd = NOTE_FD.load(Ordering::Acquire);
    if fd < 0 || NOTED.load(Ordering::Acquire) {
        return;
    }
    let mut found: Option<&'static [u8]> = None;
    // A walk that hangs on a lock is given up after WALK_SECONDS: the alarm's handler ends
    // the process with `signal` (installed only for the walk: a module's own SIGALRM use is
    // left alone otherwise).
    WALKING.store(signal, Ordering::Release);
    // SAFETY: `signal` and `alarm` are async-signal-safe; `walk_timed_out` is an
    // `extern "C" fn(c_int)` living as long as the process; `frame` matches the trace
    // callback's signature and writes only `found`.
    unsafe {
        let previous = libc::signal(libc::SIGALRM, walk_timed_out as extern "C" fn(c_int) as libc::sighandler_t);
        libc::alarm(WALK_SECONDS);
        _Unwind_Backtrace(frame, (&raw mut found).cast());
        libc::alarm(0);
        libc::signal(libc::SIGALRM, previous);
    }
    let Some(name) = found else { return };
    if NOTED.swap(true, Ordering::AcqRel) {
        return;
    }
    let mut record = [0u8; 4 + 4 + 1 + 255];
    let len = name.len().min(255);
    record[..4].copy_from_slice(NOTE_MAGIC);
    record[4..8].copy_from_slice(&signal.to_le_bytes());
    record[8] = len as u8;
    record[9..9 + len].copy_from_slice(&name[..len]);
    // SAFETY: pwrite is async-signal-safe; the buffer outlives the call.
    let _ = unsafe { libc::pwrite(fd, record.as_ptr().cast(), 9 + len, 0) };
}

extern "C" fn on_exit() {
    note(0);
}

extern "C" fn on_signal(signal: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    note(signal);
    let Some(previous) = SIGNALS.iter().position(|&s| s == signal).and_then(|i| PREVIOUS.get().map(|p| p[i])) else {
        return;
    };
    let handler = previous.sa_sigaction;
    if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
        // Hand on to the handler this one replaced (Rust's: it reports a stack overflow and
        // aborts, or restores the default and returns).
        if previous.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous action was installed with SA_SIGINFO: its handler has this
            // signature, and it gets the very arguments the kernel passed.
            let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) = unsafe { std::mem::transmute(handler) };
            f(signal, info, ctx);
        } else {
            // SAFETY: without SA_SIGINFO the handler takes the signal number only.
            let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(handler) };
            f(signal);
        }
        return;
    }
    // The default action: restore it, and die of it. A fault re-executes and faults again
    // on return; a signal that was sent (abort's, a raise) is sent again, pending until the
    // return unblocks it.
    // SAFETY: restoring SIG_DFL for this signal; `raise` is async-signal-safe.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        let sent = !info.is_null() && (*info).si_code <= 0;
        if sent {
            libc::raise(signal);
        }
    }
}
