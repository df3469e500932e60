//! The worker side: the process a [`Worker`](crate::Worker) talks to.
//!
//! Start-up order matters: move the control socket off fd 0; leave the host's session and
//! arm the parent-death signal; receive the limits and the resident data; map the data; cap
//! the address space; install the seccomp filter; only then accept libraries (whose
//! constructors run at `dlopen`).

use crate::slot::{self, Slot, Woke};
use crate::wire::{self, Dec, Enc, op, status};
use crate::{ModuleReport, contain};
use hotpack_archive::SearchPath;
use hotpack_cache::{Cache, Source};
use hotpack_loader::{CallError, Loader, Module, SealedMap, SharedMap};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// When this process was started as a worker (its first argument is [`MARKER`](crate::MARKER))
/// or as a preflight child ([`preflight::MARKER`](crate::preflight::MARKER)), runs it and
/// returns its exit code; otherwise `None`. Call it first thing in `main`:
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     if let Some(code) = hotpack_worker::worker_main_if_marked() {
///         return code;
///     }
///     // ... the host's own work, with WorkerCommand::current_exe()
///     std::process::ExitCode::SUCCESS
/// }
/// ```
pub fn worker_main_if_marked() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    let first = args.next()?;
    if first == OsStr::new(crate::MARKER) {
        return Some(worker_main(args));
    }
    if first == OsStr::new(crate::preflight::MARKER) {
        return Some(crate::preflight::child_main(args));
    }
    None
}

/// Stack of a call thread (a handler's stack): address space that counts against the cap.
const CALL_STACK: usize = 4 << 20;

/// Exit code of a worker that could not contain itself or was misused.
const SETUP_FAILED: u8 = 70;

/// The worker: `--host PID` (the arguments after [`MARKER`](crate::MARKER)), with the
/// control socket as stdin. Returns when the host closes the socket.
pub fn worker_main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hotpack worker: {message}");
            ExitCode::from(SETUP_FAILED)
        }
    }
}

struct State {
    cache: Cache,
    modules: RwLock<HashMap<String, Module>>,
    data: Option<SealedMap>,
    /// Call threads awake now (running a call, or spinning for the next): a thread that has
    /// answered spins for its channel's next request only when this is low
    /// ([`slot::spin_allowed`]); otherwise it sleeps on the futex at once.
    awake: AtomicUsize,
    /// Each provider version's count of panics caught in its typed shims, as last reported
    /// in a reply ([`charged`]).
    provider_panics_seen: Mutex<HashMap<blake3::Hash, u64>>,
}

fn run(args: impl IntoIterator<Item = OsString>) -> Result<(), String> {
    let mut args = args.into_iter();
    let mut host = None;
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--host") => host = args.next().and_then(|v| v.to_str().and_then(|s| s.parse::<u32>().ok())),
            _ => return Err(format!("unknown worker argument {}", a.to_string_lossy())),
        }
    }
    let host = host.ok_or("--host PID is required (a worker is started by its host)")?;
    // The control socket came as stdin: move it to a close-on-exec fd and put /dev/null on 0,
    // so nothing the module starts inherits it and a module reading stdin reads nothing.
    let stdin = std::io::stdin();
    let control = rustix::io::fcntl_dupfd_cloexec(stdin.as_fd(), 3).map_err(|e| format!("control socket: {e}"))?;
    let null = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    rustix::stdio::dup2_stdin(&null).map_err(|e| format!("stdin: {e}"))?;
    drop(null);
    contain::detach(host).map_err(|e| e.0)?;

    let (hello, fds) = wire::recv(control.as_fd()).map_err(|e| format!("hello: {e}"))?.ok_or("the host hung up")?;
    let mut d = Dec::new(&hello);
    let (Some(op::HELLO), Some(budget), Some(has_data)) = (d.u8(), d.u64(), d.u8()) else {
        return Err("malformed hello".into());
    };
    // A host that sends no crash note (an older one) gets no crash attribution.
    let has_note = d.u8().unwrap_or(0);
    let mut fds = fds.into_iter();
    let data = if has_data != 0 {
        let fd = fds.next().ok_or("hello without the resident data fd")?;
        Some(SealedMap::new(fd.as_fd()).map_err(|e| format!("resident data: {e}"))?)
    } else {
        None
    };
    if has_note != 0 {
        let note = fds.next().ok_or("hello without the crash note fd")?;
        hotpack_loader::crash::note_crashes_to(note).map_err(|e| format!("crash notes: {e}"))?;
    }
    if budget > 0 {
        contain::cap_memory(budget).map_err(|e| e.0)?;
    }
    contain::seal_syscalls().map_err(|e| e.0)?;
    let scratch = std::env::temp_dir().join("hotpack-worker");
    let loader = Loader::new(&scratch).map_err(|e| format!("loader: {e}"))?;
    let state = Arc::new(State {
        cache: Cache::new(loader, SearchPath::new()),
        modules: RwLock::new(HashMap::new()),
        data,
        awake: AtomicUsize::new(0),
        provider_panics_seen: Mutex::new(HashMap::new()),
    });
    wire::send(control.as_fd(), &Enc::new(status::OK).0, &[]).map_err(|e| format!("ready: {e}"))?;

    loop {
        let Some((msg, fds)) = wire::recv(control.as_fd()).map_err(|e| format!("control: {e}"))? else {
            return Ok(());
        };
        let reply = control_op(&state, &msg, fds);
        wire::send(control.as_fd(), &reply.0, &[]).map_err(|e| format!("control reply: {e}"))?;
    }
}

fn refused(message: impl std::fmt::Display) -> Enc {
    let mut e = Enc::new(status::REFUSED);
    e.0.extend_from_slice(message.to_string().as_bytes());
    e
}

fn control_op(state: &Arc<State>, msg: &[u8], fds: Vec<OwnedFd>) -> Enc {
    let mut d = Dec::new(msg);
    let mut fds = fds.into_iter();
    match d.u8() {
        Some(op::LOAD) => {
            let (Some(hash), Some(origin), Some(fd)) = (d.bytes(), d.str(), fds.next()) else {
                return refused("malformed load request");
            };
            let Ok(hash) = <[u8; 32]>::try_from(hash).map(blake3::Hash::from_bytes) else {
                return refused("malformed hash");
            };
            let module = match state.cache.loader().load_sealed(fd, Some(&hash), Path::new(origin)) {
                Ok(m) => m,
                Err(e) => return refused(e),
            };
            state.cache.register(module.clone(), Source::Memory(origin.to_owned()));
            // A crash inside its code is noted with its name (a provider's, inside a
            // dependent's call, is charged to the provider).
            hotpack_loader::crash::watch(&module);
            let info = module.info();
            let report = ModuleReport {
                name: info.name.clone(),
                version: info.version.clone(),
                hash: *module.hash(),
                handlers: info.handlers.clone(),
                interfaces: info.interfaces.iter().map(|i| (i.name.clone(), i.id)).collect(),
                has_init: info.has_init,
                has_state: info.has_state,
            };
            state.modules.write().unwrap_or_else(std::sync::PoisonError::into_inner).insert(info.name.clone(), module);
            report.encode(Enc::new(status::OK))
        }
        Some(op::CHANNEL) => {
            let (Some(memfd), Some(stream)) = (fds.next(), fds.next()) else {
                return refused("channel without its two fds");
            };
            let slot = match SharedMap::new(memfd.as_fd()).ok().and_then(Slot::new) {
                Some(s) => s,
                None => return refused("cannot map the call slot"),
            };
            let state = state.clone();
            let spawned = std::thread::Builder::new()
                .name("hotpack-call".into())
                .stack_size(CALL_STACK)
                .spawn(move || serve_channel(&state, &slot, &stream));
            match spawned {
                Ok(_) => Enc::new(status::OK),
                Err(e) => refused(format!("cannot start a call thread: {e}")),
            }
        }
        _ => refused("unknown control request"),
    }
}

/// One channel: wait for a request, run it, answer; until the host closes the slot.
fn serve_channel(state: &State, slot: &Slot, stream: &OwnedFd) {
    // Room for the crash handler's stack walk when module code crashes this thread.
    hotpack_loader::crash::prepare_thread();
    // A new slot starts idle; the host may have published a request before this thread ran,
    // so wait for a change from idle, not from whatever the state is now.
    let mut seen = slot::IDLE;
    let mut awake = Awake { count: &state.awake, on: false };
    loop {
        let spun = if awake.on { slot.spin_change(seen) } else { None };
        let now = match spun {
            Some(v) => v,
            None => {
                awake.set(false);
                match slot.wait_change(seen, None, false, false) {
                    Woke::State(v) => v,
                    Woke::Timeout => continue,
                }
            }
        };
        awake.set(true);
        match now {
            slot::REQUEST => {}
            slot::CLOSED => return,
            other => {
                seen = other;
                continue;
            }
        }
        let (len, spilled) = slot.len();
        let request = if spilled {
            let Ok(len) = usize::try_from(len) else { return };
            let mut buf = vec![0u8; len];
            if wire::read_exact(stream.as_fd(), &mut buf).is_err() {
                return;
            }
            buf
        } else {
            match slot.take(len) {
                Some(b) => b,
                None => return,
            }
        };
        let reply = handle(state, &request);
        if !slot.put(&[&reply]) {
            slot.set_spilled(reply.len() as u64);
            slot.publish(slot::REPLY, false);
            if wire::write_all(stream.as_fd(), &reply).is_err() {
                return;
            }
        } else {
            slot.publish(slot::REPLY, false);
        }
        seen = slot::REPLY;
        // Spin for the next request only while few call threads are awake (this one counts
        // while it spins); otherwise sleep on the futex at once.
        if !slot::spin_allowed(state.awake.load(Ordering::Relaxed)) {
            awake.set(false);
        }
    }
}

/// Whether a call thread is counted in `State::awake` (running a call or spinning); dropped
/// when the thread ends.
struct Awake<'a> {
    count: &'a AtomicUsize,
    on: bool,
}

impl Awake<'_> {
    fn set(&mut self, on: bool) {
        if on != self.on {
            if on {
                self.count.fetch_add(1, Ordering::Relaxed);
            } else {
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
            self.on = on;
        }
    }
}

impl Drop for Awake<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

fn encode_call(result: Result<Vec<u8>, CallError>) -> Vec<u8> {
    match result {
        Ok(mut out) => {
            out.insert(0, status::OK);
            out
        }
        Err(CallError::Failed { message }) => [&[status::FAILED][..], message.as_bytes()].concat(),
        Err(CallError::Panicked { message }) => [&[status::PANICKED][..], message.as_bytes()].concat(),
        Err(CallError::NoSuchHandler { name }) => [&[status::NO_HANDLER][..], name.as_bytes()].concat(),
        Err(other) => [&[status::FAILED][..], other.to_string().as_bytes()].concat(),
    }
}

/// A call's reply. A failed one is first prefixed with a `CHARGED` record for each provider
/// `module` requires whose typed shims caught panics since they were last reported: a
/// provider's panic inside the call reaches `module` as an error value, and the host charges
/// it to the provider, not to `module`. Nothing is read on the success path.
fn charged(state: &State, module: &str, result: Result<Vec<u8>, CallError>) -> Vec<u8> {
    if result.is_ok() {
        return encode_call(result);
    }
    let mut reply = Enc(Vec::new());
    let mut seen = hotpack_util::sync::lock(&state.provider_panics_seen);
    for requirement in state.cache.requirements(module) {
        let Some(provider) = requirement.provider.and_then(|p| state.cache.current(&p)) else { continue };
        let now = provider.typed_panics();
        let before = seen.insert(*provider.hash(), now).unwrap_or(0);
        if now > before {
            reply = reply.u8(status::CHARGED).str(provider.name()).u64(now - before);
        }
    }
    drop(seen);
    reply.0.extend_from_slice(&encode_call(result));
    reply.0
}

fn handle(state: &State, request: &[u8]) -> Vec<u8> {
    let mut d = Dec::new(request);
    let (Some(opcode), Some(module), Some(handler)) = (d.u8(), d.str(), d.str()) else {
        return refused("malformed request").0;
    };
    let input = d.rest();
    let Some(m) = state.modules.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(module).cloned() else {
        return vec![status::NO_MODULE];
    };
    match opcode {
        op::CALL => charged(state, module, m.call(handler, input)),
        op::CALL_DATA => {
            charged(state, module, m.call(handler, state.data.as_ref().map(SealedMap::bytes).unwrap_or(&[])))
        }
        op::INIT => match m.init() {
            Ok(()) => {
                let _ = state.cache.promote(&m);
                vec![status::OK]
            }
            Err(e) => {
                let panicked = matches!(e, hotpack_loader::LoadError::InitPanicked { .. });
                [&[if panicked { status::PANICKED } else { status::FAILED }][..], e.to_string().as_bytes()].concat()
            }
        },
        op::EXPORT => match m.export_state() {
            Ok(Some(bytes)) => encode_call(Ok(bytes)),
            Ok(None) => vec![status::NONE],
            Err(e) => encode_call(Err(e)),
        },
        op::IMPORT => match m.import_state(input) {
            Ok(_) => vec![status::OK],
            Err(e) => encode_call(Err(e)),
        },
        _ => refused("unknown request").0,
    }
}
