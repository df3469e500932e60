//! The host side: [`Worker`], one supervised worker process (its call channels in
//! `host/channels.rs`).

mod channels;
use channels::Channel;

use crate::slot::{self, Woke};
use crate::wire::{self, Dec, Enc, op, status};
use crate::{
    Death, LibraryImage, ModuleReport, ProtocolFault, ResidentData, WorkerCallError, WorkerCommand, WorkerError,
    WorkerLimits, contain,
};
use hotpack_loader::CallError;
use hotpack_util::error::ReportedError;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// One supervised worker process. `Send + Sync`: calls from many threads run concurrently,
/// each on its own channel (a shared-memory slot and a thread in the worker).
///
/// Dropping the last handle kills the worker and every process it started.
#[derive(Debug, Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pid: u32,
    control: Mutex<OwnedFd>,
    /// Open channels, published in order: `channels[..opened]` are set. A caller finds a free
    /// one by scanning them for a clear `busy` flag (no lock), lowest first, so the same few
    /// channels (and worker threads) stay warm.
    channels: Box<[OnceLock<Channel>]>,
    opened: AtomicUsize,
    /// Opening channels, the limit, and callers waiting for a free channel (slow path only).
    pool: Mutex<Pool>,
    pool_cv: Condvar,
    /// Callers waiting on `pool_cv`: a caller giving a channel back takes the lock and wakes
    /// one only when this is not zero.
    waiting: AtomicUsize,
    life: Mutex<Life>,
    life_cv: Condvar,
    /// Set (after `Life::death`) when the worker's death is recorded: a call checks this
    /// instead of taking the `life` lock.
    dead: AtomicBool,
    limits: WorkerLimits,
    data: Option<ResidentData>,
    calls: AtomicU64,
    /// Calls in flight now: a caller spins for its reply only when this is low
    /// ([`slot::spin_allowed`]).
    in_flight: AtomicUsize,
    started_at: SystemTime,
    modules: Mutex<Vec<ModuleReport>>,
    /// Panics providers hosted here caught inside failed calls of their dependents, by
    /// provider name, not yet taken ([`Worker::take_provider_panics`]).
    provider_panics: Mutex<Vec<(String, u64)>>,
    /// The end of the worker's stderr (which is also copied to the host's stderr as it comes).
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    /// Where the worker's crash handler notes whose code crashed it ([`Worker::crash_site`]).
    note: Option<OwnedFd>,
}

#[derive(Debug, Default)]
struct Pool {
    /// Channels opened or being opened.
    total: usize,
    /// Most channels: `WorkerLimits::max_calls`, lowered to what the worker managed when it
    /// could not start another call thread (its memory cap counts their stacks).
    limit: usize,
}

#[derive(Debug, Default)]
struct Life {
    /// Why the host killed it, when it did (decided before the signal is sent).
    kill_reason: Option<Death>,
    /// Reaped: the pid may belong to someone else now, never signal it again.
    reaped: bool,
    death: Option<Death>,
}

/// What a worker's counters say.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// The worker's pid.
    pub pid: u32,
    /// Calls started (handler calls, init, state moves).
    pub calls: u64,
    /// When it was started.
    pub started_at: SystemTime,
    /// Call channels opened (the most concurrent calls it has served).
    pub channels: usize,
    /// How it ended, once it has.
    pub death: Option<Death>,
}

enum Input<'a> {
    Bytes(&'a [u8]),
    ResidentData,
}

impl Worker {
    /// Starts a worker: spawns `cmd` in its own session, hands it the resident data (if any)
    /// and its limits, and waits (at most `limits.start_deadline`) until it has contained
    /// itself (own session, parent-death signal, memory cap, seccomp filter) and says so.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Spawn`], [`WorkerError::Died`], [`WorkerError::Unresponsive`],
    /// [`WorkerError::Io`].
    pub fn spawn(
        cmd: &WorkerCommand,
        limits: &WorkerLimits,
        data: Option<&ResidentData>,
    ) -> Result<Worker, WorkerError> {
        contain::become_subreaper();
        let io = |op: &'static str| move |e: rustix::io::Errno| WorkerError::Io { op, source: e.into() };
        let (host_end, worker_end) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .map_err(io("create the control socket"))?;
        let mut command = Command::new(cmd.program());
        command
            .args(cmd.args())
            .arg(crate::MARKER)
            .arg("--host")
            .arg(std::process::id().to_string())
            // The control socket is the worker's stdin (no pre_exec needed): it moves it off
            // fd 0 first thing. stdout/stderr are the host's: the module may print, but
            // nothing it prints is read by the host.
            .stdin(Stdio::from(worker_end))
            .stderr(Stdio::piped())
            // Per-thread malloc arenas reserve 64 MiB of address space each, which counts
            // against RLIMIT_AS; two arenas keep the cap meaningful.
            .env("MALLOC_ARENA_MAX", "2");
        // A crash note the host reads after a death; without one, crashes are not attributed.
        let note = rustix::fs::memfd_create("hotpack-crash-note", rustix::fs::MemfdFlags::CLOEXEC).ok();
        let mut child = contain::spawn(command)
            .map_err(|source| WorkerError::Spawn { program: cmd.program().to_path_buf(), source })?;
        let pid = child.id();
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let copier = child.stderr.take().and_then(|err| {
            let tail = stderr_tail.clone();
            let (done, finished) = std::sync::mpsc::channel::<()>();
            std::thread::Builder::new()
                .name(format!("hotpack-worker-{pid}-stderr"))
                .spawn(move || {
                    copy_stderr(err, &tail);
                    let _ = done.send(());
                })
                .ok()
                .map(|_| finished)
        });
        let inner = Arc::new(Inner {
            pid,
            control: Mutex::new(host_end),
            channels: (0..limits.max_calls.max(1)).map(|_| OnceLock::new()).collect(),
            opened: AtomicUsize::new(0),
            pool: Mutex::new(Pool { limit: limits.max_calls.max(1), ..Pool::default() }),
            pool_cv: Condvar::new(),
            waiting: AtomicUsize::new(0),
            life: Mutex::new(Life::default()),
            life_cv: Condvar::new(),
            dead: AtomicBool::new(false),
            limits: limits.clone(),
            data: data.cloned(),
            calls: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            started_at: SystemTime::now(),
            modules: Mutex::new(Vec::new()),
            provider_panics: Mutex::new(Vec::new()),
            stderr_tail,
            note,
        });
        let monitor = Arc::downgrade(&inner);
        let weak_pid = pid;
        let spawned = std::thread::Builder::new().name(format!("hotpack-worker-{pid}")).spawn(move || {
            watch(child, weak_pid, monitor, copier);
        });
        let worker = Worker { inner };
        if let Err(source) = spawned {
            worker.kill();
            return Err(WorkerError::Io { op: "start the worker's monitor thread", source });
        }
        let budget = limits.memory.unwrap_or(0);
        let hello =
            Enc::new(op::HELLO).u64(budget).u8(u8::from(data.is_some())).u8(u8::from(worker.inner.note.is_some()));
        let fds: Vec<_> =
            data.map(ResidentData::fd).into_iter().chain(worker.inner.note.as_ref().map(AsFd::as_fd)).collect();
        let reply = worker.control(&hello.0, &fds, limits.start_deadline).map_err(|e| worker.start_error(e))?;
        if reply.first() != Some(&status::OK) {
            let report = ReportedError::new(String::from_utf8_lossy(reply.get(1..).unwrap_or(&[])));
            worker.kill();
            return Err(WorkerError::Refused { origin: "worker start".into(), report });
        }
        Ok(worker)
    }

    fn start_error(&self, e: ControlError) -> WorkerError {
        match e {
            ControlError::Timeout(deadline) => {
                self.kill_with(Death::Killed);
                WorkerError::Unresponsive { pid: self.inner.pid, deadline }
            }
            ControlError::Closed => WorkerError::Died { pid: self.inner.pid, death: self.wait_death() },
            ControlError::Io(op, source) => {
                self.kill_with(Death::Killed);
                WorkerError::Io { op, source }
            }
        }
    }

    /// Sends one control message and waits for its reply.
    fn control(
        &self,
        msg: &[u8],
        fds: &[std::os::fd::BorrowedFd<'_>],
        deadline: Duration,
    ) -> Result<Vec<u8>, ControlError> {
        let sock = hotpack_util::sync::lock(&self.inner.control);
        wire::send(sock.as_fd(), msg, fds).map_err(|e| {
            if e.raw_os_error() == Some(libc::EPIPE) {
                ControlError::Closed
            } else {
                ControlError::Io("send a control message", e)
            }
        })?;
        let _ = rustix::net::sockopt::set_socket_timeout(&*sock, rustix::net::sockopt::Timeout::Recv, Some(deadline));
        match wire::recv(sock.as_fd()) {
            Ok(Some((reply, _fds))) => Ok(reply),
            Ok(None) => Err(ControlError::Closed),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Err(ControlError::Timeout(deadline))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Err(ControlError::Closed),
            Err(e) => Err(ControlError::Io("receive a control reply", e)),
        }
    }

    /// Loads `image` in the worker: its constructors run there, then the loader's descriptor
    /// checks. No init. The report is checked against what the host knows (the hash it
    /// sent, the name rule, semver) and kept.
    ///
    /// # Errors
    ///
    /// [`WorkerError::Refused`] (the worker's loader said no), [`WorkerError::Died`] (a
    /// constructor crashed it), [`WorkerError::Unresponsive`], [`WorkerError::Protocol`].
    pub fn load(&self, image: &LibraryImage) -> Result<ModuleReport, WorkerError> {
        if let Some(death) = self.death() {
            return Err(WorkerError::Died { pid: self.inner.pid, death });
        }
        let msg = Enc::new(op::LOAD).bytes(image.hash().as_bytes()).str(image.origin());
        let reply =
            self.control(&msg.0, &[image.fd()], self.inner.limits.start_deadline).map_err(|e| self.start_error(e))?;
        let mut d = Dec::new(&reply);
        match d.u8() {
            Some(status::OK) => {}
            Some(status::REFUSED) => {
                let report = ReportedError::new(String::from_utf8_lossy(d.rest()));
                return Err(WorkerError::Refused { origin: image.origin().to_owned(), report });
            }
            _ => return Err(self.protocol_load(ProtocolFault::UnknownLoadReply)),
        }
        let report = ModuleReport::decode(&mut d).ok_or_else(|| self.protocol_load(ProtocolFault::MalformedReport))?;
        if report.hash != *image.hash() {
            return Err(self.protocol_load(ProtocolFault::ReportedHash { reported: report.hash, sent: *image.hash() }));
        }
        if let Err(source) = hotpack_util::name::check_module_name(&report.name) {
            return Err(self.protocol_load(ProtocolFault::ReportedName { name: report.name.clone(), source }));
        }
        let mut modules = hotpack_util::sync::lock(&self.inner.modules);
        modules.retain(|m| m.name != report.name);
        modules.push(report.clone());
        Ok(report)
    }

    fn protocol_load(&self, fault: ProtocolFault) -> WorkerError {
        self.kill_with(Death::Protocol { fault: fault.clone() });
        WorkerError::Protocol { pid: self.inner.pid, fault }
    }

    /// Runs `module`'s init hook (once; later calls answer the first outcome) and makes it
    /// the version the worker's own cache serves under its name, so typed handles other
    /// modules in this worker hold swap to it.
    ///
    /// # Errors
    ///
    /// [`WorkerCallError`]: the hook's error or panic, or the worker's death.
    pub fn init(&self, module: &str) -> Result<(), WorkerCallError> {
        self.request(op::INIT, module, "", Input::Bytes(&[])).map(|_| ())
    }

    /// Calls `handler` of `module` with `input`; the reply is the handler's output.
    ///
    /// # Errors
    ///
    /// [`WorkerCallError::Module`] for the handler's error or caught panic (the worker
    /// lives); [`WorkerCallError::Died`] / [`WorkerCallError::Deadline`] when the call cost
    /// the worker its life.
    pub fn call(&self, module: &str, handler: &str, input: &[u8]) -> Result<Vec<u8>, WorkerCallError> {
        self.request(op::CALL, module, handler, Input::Bytes(input)).map(|r| r.unwrap_or_default())
    }

    /// Calls `handler` of `module` with the resident data as its input (the worker's own
    /// read-only map of it: nothing is copied). Without resident data the input is empty.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_resident(&self, module: &str, handler: &str) -> Result<Vec<u8>, WorkerCallError> {
        self.request(op::CALL_DATA, module, handler, Input::ResidentData).map(|r| r.unwrap_or_default())
    }

    /// Exports `module`'s state as bytes (`None`: it has no export hook).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn export_state(&self, module: &str) -> Result<Option<Vec<u8>>, WorkerCallError> {
        self.request(op::EXPORT, module, "", Input::Bytes(&[]))
    }

    /// Imports state bytes (another version's export) into `module`.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn import_state(&self, module: &str, state: &[u8]) -> Result<(), WorkerCallError> {
        self.request(op::IMPORT, module, "", Input::Bytes(state)).map(|_| ())
    }

    /// Panics that providers hosted in this worker caught in their typed shims inside failed
    /// calls of the modules requiring them, by provider name, since the last take: what the
    /// host charges to those providers (the worker says so; a host checks each name is a
    /// provider of the module it called before it believes it).
    pub fn take_provider_panics(&self) -> Vec<(String, u64)> {
        std::mem::take(&mut *hotpack_util::sync::lock(&self.inner.provider_panics))
    }

    /// The worker's pid.
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// After its death: the module whose code the worker's crash handler found innermost on
    /// the stack of the thread that crashed it (a fault signal or `exit`; see
    /// `hotpack_loader::crash`), as the worker wrote it. `None` while it lives, when nothing
    /// was noted (`SIGKILL`, a deadline, a crash outside every module's code) or the note
    /// does not decode.
    ///
    /// The worker's word: any module in it can write the note. Believe only a name the caller
    /// could have blamed anyway (hotpack's supervisor: a provider of the module it called).
    pub fn crash_site(&self) -> Option<String> {
        self.death()?;
        let note = self.inner.note.as_ref()?;
        let mut buf = [0u8; 4 + 4 + 1 + 255];
        let n = rustix::io::pread(note, &mut buf, 0).ok()?;
        let record = buf.get(..n)?;
        let (magic, rest) = record.split_at_checked(4)?;
        if magic != hotpack_loader::crash::NOTE_MAGIC {
            return None;
        }
        let (&len, name) = rest.get(4..)?.split_first()?;
        let name = std::str::from_utf8(name.get(..usize::from(len))?).ok()?;
        hotpack_util::name::check_module_name(name).ok()?;
        Some(name.to_owned())
    }

    /// The modules loaded into it, as their reports said (and the host checked).
    pub fn modules(&self) -> Vec<ModuleReport> {
        hotpack_util::sync::lock(&self.inner.modules).clone()
    }

    /// The resident data it maps, if any.
    pub fn resident_data(&self) -> Option<&ResidentData> {
        self.inner.data.as_ref()
    }

    /// How it ended, once it has (and once every process it started was killed).
    pub fn death(&self) -> Option<Death> {
        hotpack_util::sync::lock(&self.inner.life).death.clone()
    }

    /// The last lines the worker wrote to stderr (up to three, joined with `; `): once it
    /// died, what it said last (Rust's "has overflowed its stack", "memory allocation of N
    /// bytes failed"). Text of the module's making: show it, never act on it.
    pub fn last_words(&self) -> String {
        let tail = hotpack_util::sync::lock(&self.inner.stderr_tail);
        let text = String::from_utf8_lossy(&tail);
        let mut lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).rev().take(3).collect();
        lines.reverse();
        let mut out = lines.join("; ");
        if out.len() > 400 {
            let cut = (0..=400).rev().find(|i| out.is_char_boundary(*i)).unwrap_or(0);
            out.truncate(cut);
            out.push_str("...");
        }
        out
    }

    /// Whether it is still running.
    pub fn is_alive(&self) -> bool {
        self.death().is_none()
    }

    /// Ends it and every process it started; returns once they are gone.
    pub fn kill(&self) {
        self.kill_with(Death::Killed);
        self.wait_death();
    }

    /// Its counters.
    pub fn stats(&self) -> WorkerStats {
        WorkerStats {
            pid: self.inner.pid,
            calls: self.inner.calls.load(Ordering::Relaxed),
            started_at: self.inner.started_at,
            channels: self.inner.opened.load(Ordering::Acquire),
            death: self.death(),
        }
    }

    /// Sends `SIGKILL` unless it was already reaped; `reason` is what its death will say.
    fn kill_with(&self, reason: Death) {
        let mut life = hotpack_util::sync::lock(&self.inner.life);
        if life.reaped {
            return;
        }
        life.kill_reason.get_or_insert(reason);
        if let Some(pid) = rustix::process::Pid::from_raw(self.inner.pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }

    /// Waits until the monitor recorded the death (it killed every descendant first).
    fn wait_death(&self) -> Death {
        let mut life = hotpack_util::sync::lock(&self.inner.life);
        loop {
            if let Some(d) = &life.death {
                return d.clone();
            }
            life = self.inner.life_cv.wait(life).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn died(&self) -> WorkerCallError {
        let death = self.wait_death();
        match death {
            Death::Deadline { deadline } => WorkerCallError::Deadline { pid: self.inner.pid, deadline },
            Death::Protocol { fault } => WorkerCallError::Protocol { pid: self.inner.pid, fault },
            death => WorkerCallError::Died { pid: self.inner.pid, death },
        }
    }

    fn protocol(&self, fault: ProtocolFault) -> WorkerCallError {
        self.kill_with(Death::Protocol { fault });
        self.died()
    }

    fn request(
        &self,
        opcode: u8,
        module: &str,
        handler: &str,
        input: Input<'_>,
    ) -> Result<Option<Vec<u8>>, WorkerCallError> {
        let pid = self.inner.pid;
        if self.inner.dead.load(Ordering::Acquire) {
            return Err(self.died());
        }
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let _in_flight = InFlight::enter(&self.inner.in_flight);
        let deadline = self.inner.limits.call_deadline.map(|d| (d, Instant::now() + d));
        let ch = self.take_channel()?;
        let header = Enc::new(opcode).str(module).str(handler).0;
        let input = match input {
            Input::Bytes(b) => b,
            Input::ResidentData => &[],
        };
        let spilled = !ch.slot.put(&[&header, input]);
        if spilled {
            ch.slot.set_spilled((header.len() + input.len()) as u64);
        }
        if !ch.slot.publish_request() {
            return Err(self.died());
        }
        if spilled {
            let left =
                deadline.map(|(_, at)| at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
            let _ = rustix::net::sockopt::set_socket_timeout(&ch.stream, rustix::net::sockopt::Timeout::Send, left);
            let sent =
                wire::write_all(ch.stream.as_fd(), &header).and_then(|()| wire::write_all(ch.stream.as_fd(), input));
            if let Err(e) = sent {
                return Err(self.after_failure(e, deadline));
            }
        }
        // Wake at least every 100 ms to look at the worker's life and the deadline: a wake-up
        // lost to a race with the monitor costs that much, never a hung caller.
        // Spin only when this caller is (nearly) alone: the worker's thread then has a core
        // of its own and answers within the spin; with more callers than cores, sleep at once.
        let mut spin = slot::spin_allowed(self.inner.in_flight.load(Ordering::Relaxed));
        loop {
            let tick = Instant::now() + Duration::from_millis(100);
            let until = deadline.map_or(tick, |(_, at)| at.min(tick));
            match ch.slot.wait_change(slot::REQUEST, Some(until), true, spin) {
                Woke::State(slot::REPLY) => break,
                Woke::State(slot::CLOSED) => {
                    if self.death().is_some() {
                        return Err(self.died());
                    }
                    return Err(self.protocol(ProtocolFault::SlotClosed));
                }
                Woke::State(other) => return Err(self.protocol(ProtocolFault::SlotState { state: other })),
                Woke::Timeout => {
                    if self.death().is_some() {
                        return Err(self.died());
                    }
                    if let Some((d, at)) = deadline
                        && Instant::now() >= at
                    {
                        self.kill_with(Death::Deadline { deadline: d });
                        return Err(self.died());
                    }
                    spin = false;
                }
            }
        }
        let (len, spilled) = ch.slot.len();
        let max = self.inner.limits.max_reply;
        if len > max {
            return Err({
                self.kill_with(Death::Protocol { fault: ProtocolFault::ReplyTooLarge { len } });
                self.wait_death();
                WorkerCallError::TooLarge { pid, len, max }
            });
        }
        let reply = if spilled {
            let left =
                deadline.map(|(_, at)| at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
            let _ = rustix::net::sockopt::set_socket_timeout(&ch.stream, rustix::net::sockopt::Timeout::Recv, left);
            let mut buf = vec![0u8; len as usize];
            if let Err(e) = wire::read_exact(ch.stream.as_fd(), &mut buf) {
                return Err(self.after_failure(e, deadline));
            }
            buf
        } else {
            match ch.slot.take(len) {
                Some(b) => b,
                None => return Err(self.protocol(ProtocolFault::SlotOverrun { len })),
            }
        };
        self.give_back(ch);
        decode_reply(pid, module, &reply, &self.inner.provider_panics).map_err(|e| match e {
            ReplyError::Call(e) => e,
            ReplyError::Malformed(fault) => self.protocol(fault),
        })
    }

    /// A socket error during a spilled transfer: the deadline, or the worker's death.
    fn after_failure(&self, e: std::io::Error, deadline: Option<(Duration, Instant)>) -> WorkerCallError {
        if let Some((d, at)) = deadline
            && Instant::now() >= at
        {
            self.kill_with(Death::Deadline { deadline: d });
            return self.died();
        }
        if self.death().is_some()
            || matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
            )
        {
            // Give the monitor the moment it needs to reap and sweep.
            return self.died();
        }
        self.protocol(ProtocolFault::CallSocket { kind: e.kind(), os_error: e.raw_os_error() })
    }
}

/// Counts a call in flight while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> InFlight<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

enum ReplyError {
    Call(WorkerCallError),
    Malformed(ProtocolFault),
}

fn decode_reply(
    pid: u32,
    module: &str,
    reply: &[u8],
    provider_panics: &Mutex<Vec<(String, u64)>>,
) -> Result<Option<Vec<u8>>, ReplyError> {
    let mut d = Dec::new(reply);
    let mut code = d.u8().ok_or(ReplyError::Malformed(ProtocolFault::EmptyReply))?;
    while code == status::CHARGED {
        let malformed = || ReplyError::Malformed(ProtocolFault::MalformedCharge);
        let (provider, count) = (d.str().ok_or_else(malformed)?, d.u64().ok_or_else(malformed)?);
        let mut charged = hotpack_util::sync::lock(provider_panics);
        match charged.iter_mut().find(|(p, _)| p == provider) {
            Some((_, n)) => *n = n.saturating_add(count),
            None => charged.push((provider.to_owned(), count)),
        }
        drop(charged);
        code = d.u8().ok_or_else(malformed)?;
    }
    let rest = d.rest();
    let text = || String::from_utf8_lossy(rest).into_owned();
    match code {
        status::OK => Ok(Some(rest.to_vec())),
        status::NONE => Ok(None),
        status::FAILED => Err(ReplyError::Call(WorkerCallError::Module(CallError::Failed { message: text() }))),
        status::PANICKED => Err(ReplyError::Call(WorkerCallError::Module(CallError::Panicked { message: text() }))),
        status::NO_HANDLER => Err(ReplyError::Call(WorkerCallError::Module(CallError::NoSuchHandler { name: text() }))),
        status::NO_MODULE => Err(ReplyError::Call(WorkerCallError::NoSuchModule { pid, module: module.to_owned() })),
        other => Err(ReplyError::Malformed(ProtocolFault::UnknownStatus { status: other })),
    }
}

enum ControlError {
    Timeout(Duration),
    Closed,
    Io(&'static str, std::io::Error),
}

/// The monitor thread: waits for the worker to end (without reaping it first, so the pid
/// cannot be reused while a kill may still be sent), reaps it, kills and reaps every process
/// of its session, then records the death and wakes every caller.
/// Copies the worker's stderr to the host's, keeping the last 2 KiB.
fn copy_stderr(mut err: std::process::ChildStderr, tail: &Mutex<Vec<u8>>) {
    use std::io::{Read, Write};
    let mut chunk = [0u8; 4096];
    while let Ok(n) = err.read(&mut chunk) {
        if n == 0 {
            break;
        }
        let _ = std::io::stderr().write_all(&chunk[..n]);
        let mut t = hotpack_util::sync::lock(tail);
        t.extend_from_slice(&chunk[..n]);
        if t.len() > 4096 {
            let cut = t.len() - 2048;
            t.drain(..cut);
        }
    }
}

fn watch(
    mut child: std::process::Child,
    pid: u32,
    inner: std::sync::Weak<Inner>,
    copier: Option<std::sync::mpsc::Receiver<()>>,
) {
    use rustix::process::{WaitId, WaitIdOptions};
    let exited = match rustix::process::Pid::from_raw(pid as i32) {
        Some(p) => loop {
            match rustix::process::waitid(WaitId::Pid(p), WaitIdOptions::EXITED | WaitIdOptions::NOWAIT) {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other.is_ok(),
            }
        },
        None => false,
    };
    let mark_reaped = |inner: &std::sync::Weak<Inner>| {
        inner.upgrade().map(|i| {
            hotpack_util::sync::lock(&i.life).reaped = true;
        })
    };
    let status = if exited {
        // It has exited and is not reaped yet: mark it reaped under the lock, then reap, so
        // no kill can reach a reused pid.
        let guard = inner.upgrade();
        let _life = guard.as_ref().map(|i| {
            let mut life = hotpack_util::sync::lock(&i.life);
            life.reaped = true;
            life
        });
        child.wait()
    } else {
        // waitid failed (it should not): wait without holding the lock.
        let status = child.wait();
        mark_reaped(&inner);
        status
    };
    contain::sweep_session(pid as i32, None);
    // Everything that could hold the stderr pipe is dead now, so the tail is complete before
    // the death is visible; a pipe end passed to a process outside the session could keep it
    // open, so this waits one second at most.
    if let Some(copier) = copier {
        let _ = copier.recv_timeout(Duration::from_secs(1));
    }
    let Some(inner) = inner.upgrade() else { return };
    let death = {
        use std::os::unix::process::ExitStatusExt;
        let mut life = hotpack_util::sync::lock(&inner.life);
        let from_status = match &status {
            Ok(s) => match (s.signal(), s.code()) {
                (Some(signal), _) => Death::Signal { signal, name: crate::signal_name(signal) },
                (None, Some(code)) => Death::Exited { code },
                (None, None) => Death::Killed,
            },
            Err(_) => Death::Killed,
        };
        // A kill the host sent explains a SIGKILL; any other end is the worker's own.
        let death = match (life.kill_reason.take(), &from_status) {
            (Some(reason), Death::Signal { signal: 9, .. }) => reason,
            (_, other) => other.clone(),
        };
        life.death = Some(death.clone());
        inner.dead.store(true, Ordering::Release);
        death
    };
    let _ = death;
    inner.life_cv.notify_all();
    let _ = rustix::net::shutdown(&*hotpack_util::sync::lock(&inner.control), rustix::net::Shutdown::Both);
    let opened = inner.opened.load(Ordering::Acquire);
    for ch in inner.channels.iter().take(opened).filter_map(OnceLock::get) {
        ch.slot.state().store(slot::CLOSED, std::sync::atomic::Ordering::SeqCst);
        ch.slot.wake_all();
        let _ = rustix::net::shutdown(&ch.stream, rustix::net::Shutdown::Both);
    }
    inner.pool_cv.notify_all();
}

impl Drop for Inner {
    fn drop(&mut self) {
        let life = hotpack_util::sync::lock(&self.life);
        if !life.reaped
            && let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ReplyError, decode_reply};
    use crate::wire::{Enc, status};
    use std::sync::Mutex;

    /// A failed call's reply may start with provider charges: they are collected (summed by
    /// name) and the reply proper is decoded after them; a charge cut short is a protocol
    /// fault, never a panic, whatever the cut.
    #[test]
    fn provider_charges_before_a_reply_are_collected_and_a_cut_one_is_refused() {
        let charged = Mutex::new(Vec::new());
        let reply = Enc::new(status::CHARGED).str("textutil").u64(2).u8(status::CHARGED).str("textutil").u64(1);
        let reply = reply.u8(status::FAILED).0.into_iter().chain(*b"cannot transform").collect::<Vec<u8>>();
        match decode_reply(1, "svc-b", &reply, &charged) {
            Err(ReplyError::Call(e)) => assert!(e.to_string().contains("cannot transform"), "{e}"),
            _ => panic!("expected the call's failure"),
        }
        assert_eq!(*charged.lock().expect("charged"), [("textutil".to_owned(), 3)]);
        for cut in 1..reply.len() - b"cannot transform".len() {
            let fresh = Mutex::new(Vec::new());
            let outcome = decode_reply(1, "svc-b", &reply[..cut], &fresh);
            assert!(matches!(outcome, Err(ReplyError::Malformed(_))), "cut at {cut}");
        }
    }
}
