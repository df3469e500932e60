//! Containment, one real fixture handler per row of the failure table: each ends only its
//! worker with a typed error naming what happened, leaves no process behind, and a second
//! worker in the same host keeps answering. A worker that signals, traces or writes into its
//! host or a sibling worker is refused.

use crate::basics::{command, image};
use hotpack_testkit::procs::{alive, children_of, session_members, state_of};
use hotpack_worker::{Death, Worker, WorkerCallError, WorkerLimits};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

fn crash_worker(limits: &WorkerLimits) -> Worker {
    let worker = Worker::spawn(&command(), limits, None).expect("spawn");
    worker.load(&image("fx-worker-crash")).expect("load");
    worker.init("worker-crash").expect("init");
    worker
}

fn bystander() -> Worker {
    let worker = Worker::spawn(&command(), &WorkerLimits::default(), None).expect("spawn");
    worker.load(&image("greeter-v1")).expect("load");
    worker.init("greeter").expect("init");
    worker
}

/// A worker running `greeter` 3.2.0 from fx-greeter-unsafe (hardware faults, raw syscalls).
fn unsafe_worker() -> Worker {
    let worker = Worker::spawn(&command(), &WorkerLimits::default(), None).expect("spawn");
    worker.load(&image("fx-greeter-unsafe")).expect("load");
    worker.init("greeter").expect("init");
    worker
}

/// Calls `handler` on a fresh crash worker; see [`check_in`].
fn check(other: &Worker, limits: &WorkerLimits, handler: &str, expected: &str) -> (WorkerCallError, String) {
    let worker = crash_worker(limits);
    assert_eq!(worker.call("worker-crash", "ok", b"ping").expect("alive"), b"ping");
    check_in(other, worker, "worker-crash", handler, expected)
}

/// Calls `module`'s `handler` on `worker`; checks the error names `expected`, the worker and
/// its whole session are gone, and `other` still answers.
fn check_in(other: &Worker, worker: Worker, module: &str, handler: &str, expected: &str) -> (WorkerCallError, String) {
    let pid = worker.pid();
    assert!(alive(pid), "{handler}: worker {pid} runs before the call");
    let err = worker.call(module, handler, b"").expect_err(handler);
    assert!(err.to_string().contains(expected), "{handler}: {err}");
    assert!(err.death().is_some(), "{handler}: the error says the worker died: {err:?}");
    assert!(worker.death().is_some(), "{handler}: the worker is dead");
    assert!(!alive(pid), "{handler}: worker {pid} is gone");
    assert!(session_members(pid).is_empty(), "{handler}: nothing left of session {pid}");
    let again = worker.call(module, handler, b"");
    assert!(matches!(again, Err(WorkerCallError::Died { .. } | WorkerCallError::Deadline { .. })), "{again:?}");
    let out = other.call("greeter", "greet", b"still here").expect("the other worker answers");
    assert!(String::from_utf8_lossy(&out).contains("still here"));
    (err, worker.last_words())
}

#[test]
fn each_crash_ends_only_its_worker_with_a_typed_error() {
    let other = bystander();
    let limits = WorkerLimits::default();
    // Rust reports a stack overflow on stderr and aborts.
    let (_, said) = check(&other, &limits, "overflow", "SIGABRT");
    assert!(said.contains("overflowed its stack"), "{said}");
    check(&other, &limits, "exit7", "exited with code 7");
    check(&other, &limits, "abort", "SIGABRT");
    let (err, said) = check(&other, &limits.clone().memory(Some(256 << 20)), "hoard", "SIGABRT");
    assert!(matches!(err.death(), Some(Death::Signal { signal: 6, .. })), "{err:?}");
    assert!(said.contains("memory allocation"), "{said}");
    let (err, _) =
        check(&other, &limits.clone().call_deadline(Some(Duration::from_millis(500))), "hang", "deadline of");
    assert!(matches!(err, WorkerCallError::Deadline { .. }), "{err:?}");
    // The faults only `unsafe` code makes live in their own fixture: a null write, and a read
    // of a mapped page whose memfd was truncated under it.
    for (handler, signal, name) in [("null_write", 11, "SIGSEGV"), ("sigbus", 7, "SIGBUS")] {
        let worker = unsafe_worker();
        assert!(worker.call("greeter", "greet", b"x").is_ok(), "{handler}: alive before");
        let (err, _) = check_in(&other, worker, "greeter", handler, name);
        assert!(matches!(err.death(), Some(Death::Signal { signal: s, .. }) if s == signal), "{handler}: {err:?}");
    }
}

#[test]
fn children_a_handler_starts_die_with_its_worker() {
    let other = bystander();
    let host = std::process::id();
    // `fork_sleep`: a child of the worker; `fork_orphan`: a `sleep` whose shell exited, so it
    // was reparented to the host (a subreaper) and only its session still ties it to the worker.
    for handler in ["fork_sleep", "fork_orphan"] {
        let worker = crash_worker(&WorkerLimits::default());
        let pid = worker.pid();
        let out = worker.call("worker-crash", handler, b"").expect(handler);
        let child: u32 = String::from_utf8_lossy(&out).trim().parse().expect("a pid");
        assert!(alive(child), "{handler}: child {child} runs while its worker does");
        let parent = state_of(child).map(|(_, ppid)| ppid);
        let expected_parent = if handler == "fork_orphan" { host } else { pid };
        assert_eq!(parent, Some(expected_parent), "{handler}: the parent of child {child}");
        let members = session_members(pid);
        assert!(members.contains(&pid) && members.contains(&child), "session {pid} holds {members:?}");
        let err = worker.call("worker-crash", "exit7", b"").expect_err("exit");
        assert!(matches!(err.death(), Some(Death::Exited { code: 7 })), "{err:?}");
        assert!(!alive(child), "{handler}: child {child} was killed with its worker");
        assert!(session_members(pid).is_empty(), "{handler}: nothing left of session {pid}");
        assert!(other.call("greeter", "greet", b"x").is_ok());
    }
    // No child can leave the worker's session (which is how the sweep finds the orphans).
    let worker = crash_worker(&WorkerLimits::default());
    let err = worker.call("worker-crash", "fork_setsid", b"").expect_err("setsid is refused");
    assert!(matches!(err, WorkerCallError::Module(_)), "{err:?}");
    assert!(err.to_string().contains("Operation not permitted"), "{err}");
    assert!(worker.is_alive());
    // Killing a worker by hand ends what it started too.
    let out = worker.call("worker-crash", "fork_sleep", b"").expect("fork");
    let child: u32 = String::from_utf8_lossy(&out).parse().expect("a pid");
    assert!(alive(child));
    worker.kill();
    assert_eq!(worker.death(), Some(Death::Killed));
    assert!(!alive(child));
}

#[test]
fn a_worker_cannot_kill_or_stop_its_host() {
    let worker = crash_worker(&WorkerLimits::default());
    for handler in ["kill_parent", "stop_parent"] {
        let err = worker.call("worker-crash", handler, b"").expect_err(handler);
        assert!(matches!(err, WorkerCallError::Module(_)), "{handler}: refused inside the worker: {err:?}");
    }
    // Still here, and so is the worker.
    assert_eq!(worker.call("worker-crash", "ok", b"alive").expect("alive"), b"alive");
}

/// What `fx-greeter-unsafe`'s `vm_write` aims at in this process.
static TARGET: AtomicU64 = AtomicU64::new(0x5afe_5afe_5afe_5afe);

#[test]
fn a_worker_cannot_trace_write_into_or_signal_its_host_or_a_sibling() {
    let host = std::process::id();
    let sibling = bystander();
    let sib = sibling.pid();
    let worker = unsafe_worker();
    let target = std::ptr::addr_of!(TARGET) as usize;
    let attempts = [
        ("ptrace_attach", host.to_string()),
        ("ptrace_attach", sib.to_string()),
        ("vm_write", format!("{host} {target}")),
        ("signal", format!("{} {sib}", libc::SIGSTOP)),
        ("signal", format!("{} {sib}", libc::SIGKILL)),
        ("signal", format!("{} {host}", libc::SIGSTOP)),
    ];
    for (handler, input) in attempts {
        let err = worker.call("greeter", handler, input.as_bytes()).expect_err(handler);
        assert!(matches!(err, WorkerCallError::Module(_)), "{handler} {input}: refused inside the worker: {err:?}");
        assert!(err.to_string().contains("Operation not permitted"), "{handler} {input}: EPERM: {err}");
        // The sibling is neither stopped, traced nor dead, and answers.
        assert!(matches!(state_of(sib), Some((s, _)) if s == 'S' || s == 'R'), "{handler}: sibling {sib}");
        let status = std::fs::read_to_string(format!("/proc/{sib}/status")).expect("sibling status");
        assert!(status.contains("TracerPid:\t0\n"), "{handler}: sibling {sib} is not traced");
        let out = sibling.call("greeter", "greet", b"still here").expect("the sibling answers");
        assert!(String::from_utf8_lossy(&out).contains("still here"));
    }
    assert_eq!(TARGET.load(Ordering::SeqCst), 0x5afe_5afe_5afe_5afe, "the host's memory is untouched");
    let own = std::fs::read_to_string("/proc/self/status").expect("own status");
    assert!(own.contains("TracerPid:\t0\n"), "the host is not traced");
    assert!(sibling.is_alive() && worker.is_alive());
    assert!(String::from_utf8_lossy(&worker.call("greeter", "greet", b"x").expect("alive")).contains("hello, x"));
}

#[test]
fn a_worker_dies_with_its_host() {
    // A stand-in host: `sh`, whose child is a worker started the way `Worker::spawn` starts
    // one (the control socket as stdin, `--host` naming its parent). SIGKILL the host: the
    // worker's parent-death signal ends it.
    let (_mine, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let mut host = std::process::Command::new("sh")
        .args(["-c", r#"exec 3<&0; "$0" __worker --host $$ 0<&3 3<&- & wait"#, env!("CARGO_BIN_EXE_hotpack-worker")])
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .spawn()
        .expect("sh");
    let sh = host.id();
    let worker = (0..500)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(10));
            children_of(sh).into_iter().next()
        })
        .expect("the worker started");
    // It left the host's session (it is the leader of its own).
    let in_own_session = (0..500).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        session_members(worker).contains(&worker)
    });
    assert!(in_own_session, "worker {worker} leads its own session");
    host.kill().expect("SIGKILL the host");
    host.wait().expect("reap the host");
    let gone = (0..500).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        !alive(worker)
    });
    assert!(gone, "worker {worker} died with its host");
}
