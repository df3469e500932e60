//! Worker calls: a byte-handler call into a worker process against the two floors of talking
//! to another process at all, interleaved call by call on the same 1 KiB payload, and what a
//! worker costs on top of the resident data it maps.
//!
//! - `isolated_call` : `Runtime::call("worker-echo", "echo", 1 KiB)` → 1 KiB back on a runtime
//!   built with `RuntimeBuilder::isolate` (the public call API: the supervisor's lookup of the
//!   serving worker, the call, its error mapping; one caller; the worker sleeps in
//!   `futex_wait` when idle, after a 50 µs spin that yields the CPU now and then): one
//!   caller calling again and again, as `isolated_call_p50_us` asks;
//! - `isolated_call_warm`: a second `Runtime::call` right after it;
//! - `in_process_call`: the anchor, `Runtime::call` of the same handler and payload on an
//!   in-process runtime (the module mapped in the bench process), timed just before
//!   `isolated_call`;
//! - `worker_call_warm`: `Worker::call` straight into a worker of its own (no runtime), right
//!   after another: against `isolated_call_warm`, what the facade adds to a call;
//! - `isolated_call_idle`: a `Runtime::call` after 200 µs of quiet, so the worker is asleep
//!   in `futex_wait` and must be woken (the cost of a worker that does not spin when idle).
//! - `socketpair`    : 1 KiB written to a unix stream socketpair, echoed by a child process.
//! - `shm_futex`     : 1 KiB through a shared-memory slot with a futex state word, echoed by a
//!   child process with the same spin-then-sleep policy as the worker.
//! - `resident_data` : a worker maps 1 GiB of resident data, its handler reads every byte;
//!   `worker_private_mb` = the worker's Rss minus the Rss of the resident-data mapping
//!   (`/proc/PID/smaps_rollup`, `/proc/PID/smaps`).
//!
//! Custom-timed (each round times one of each, so drift hits them all alike); results in
//! `target/hotpack-bench/worker.json`. The binary is its own worker (`worker_main_if_marked`)
//! and its own echo child (`__echo_socket`, `__echo_shm`).

mod common;

use hotpack::Runtime;
use hotpack::rollback::Isolation;
use hotpack_loader::SharedMap;
use hotpack_worker::{LibraryImage, ResidentData, Worker, WorkerCommand, WorkerLimits};
use rustix::thread::futex;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

const PAYLOAD: usize = 1024;
const SLOT: u64 = 64 << 10;

fn main() -> ExitCode {
    if let Some(code) = hotpack_worker::worker_main_if_marked() {
        return code;
    }
    match std::env::args().nth(1).as_deref() {
        Some("__echo_socket") => return echo_socket(),
        Some("__echo_shm") => return echo_shm(),
        _ => {}
    }
    calls();
    resident_data();
    ExitCode::SUCCESS
}

fn calls() {
    let (warmup, n) = match (common::test_mode(), common::quick()) {
        (true, _) => (10, 50),
        (false, true) => (500, 3_000),
        (false, false) => (2_000, 20_000),
    };
    let exe = WorkerCommand::current_exe().expect("the bench binary is its own worker");
    let worker = Worker::spawn(&exe, &WorkerLimits::default(), None).expect("worker starts");
    let bytes = hotpack_testkit::module_bytes("fx-worker-echo");
    let image = LibraryImage::new(&bytes, blake3::hash(&bytes), "fx-worker-echo").expect("image");
    worker.load(&image).expect("loads");
    worker.init("worker-echo").expect("inits");
    let input = vec![7u8; PAYLOAD];
    let runtime = |name: &str, isolation: Option<Isolation>| {
        let builder = Runtime::builder().cache_dir(common::scratch(name).join("cache"));
        let runtime = match isolation {
            Some(isolation) => builder.isolate(isolation),
            None => builder.in_process(),
        }
        .build()
        .expect("runtime");
        runtime.deploy(&hotpack_testkit::module("fx-worker-echo")).expect("worker-echo deploys");
        runtime
    };
    let isolation = Isolation { command: exe.clone(), limits: WorkerLimits::default(), data: None };
    let iso = runtime("worker-isolated", Some(isolation));
    assert!(iso.supervisor().runs_in_worker("worker-echo"), "the isolated runtime calls into a worker");
    let inp = runtime("worker-in-process", None);
    let call = |rt: &Runtime| {
        let t = Instant::now();
        let reply = rt.call("worker-echo", "echo", &input).expect("echo");
        let took = t.elapsed();
        assert_eq!(reply.len(), PAYLOAD);
        took
    };

    let (sock, mut sock_child) = socket_echo_child();
    let (slot, mut shm_child) = shm_echo_child();

    let (mut isolated, mut warm, mut in_process, mut direct, mut idle, mut socket, mut shm) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut out = vec![0u8; PAYLOAD];
    for i in 0..warmup + n {
        // The anchor first: `isolated_call` then comes as long after its worker's last call
        // (the idle one, then the two floors) as it did before the anchor was added.
        let t_in_process = call(&inp);
        let t_isolated = call(&iso);
        let t_warm = call(&iso);
        // Straight into the other worker, twice: the second is what `isolated_call_warm` is
        // to the facade (its first would wake a worker asleep since the last round).
        worker.call("worker-echo", "echo", &input).expect("echo");
        let t = Instant::now();
        let reply = worker.call("worker-echo", "echo", &input).expect("echo");
        let t_direct = t.elapsed();
        assert_eq!(reply.len(), PAYLOAD);

        std::thread::sleep(Duration::from_micros(200));
        let t_idle = call(&iso);

        let t = Instant::now();
        (&sock).write_all(&input).expect("socket write");
        (&sock).read_exact(&mut out).expect("socket read");
        let t_socket = t.elapsed();

        let t = Instant::now();
        shm_round_trip(&slot, &input, &mut out);
        let t_shm = t.elapsed();
        if i >= warmup {
            isolated.push(t_isolated);
            warm.push(t_warm);
            in_process.push(t_in_process);
            direct.push(t_direct);
            idle.push(t_idle);
            socket.push(t_socket);
            shm.push(t_shm);
        }
    }
    drop(sock);
    let _ = sock_child.wait();
    slot.state().store(CLOSE, SeqCst);
    let _ = futex::wake(slot.state(), futex::Flags::empty(), 1);
    let _ = shm_child.wait();
    common::publish(
        "worker",
        &serde_json::json!({
            "payload_bytes": PAYLOAD,
            "isolated_call": common::summary_us(&isolated),
            "isolated_call_warm": common::summary_us(&warm),
            "in_process_call": common::summary_us(&in_process),
            "worker_call_warm": common::summary_us(&direct),
            "isolated_call_idle": common::summary_us(&idle),
            "socketpair": common::summary_us(&socket),
            "shm_futex": common::summary_us(&shm),
        }),
    );
}

fn resident_data() {
    let size: u64 = if common::test_mode() { 16 << 20 } else { 1 << 30 };
    let data = ResidentData::from_reader(std::io::repeat(1).take(size), "generated".as_ref()).expect("resident data");
    let exe = WorkerCommand::current_exe().expect("the bench binary is its own worker");
    let worker = Worker::spawn(&exe, &WorkerLimits::default(), Some(&data)).expect("worker starts");
    let bytes = hotpack_testkit::module_bytes("fx-worker-echo");
    let image = LibraryImage::new(&bytes, blake3::hash(&bytes), "fx-worker-echo").expect("image");
    worker.load(&image).expect("loads");
    let t = Instant::now();
    let sum = worker.call_resident("worker-echo", "sum").expect("sum");
    let took = t.elapsed();
    assert_eq!(String::from_utf8_lossy(&sum), size.to_string(), "the handler read every byte");
    let pid = worker.pid();
    let kib = |text: &str| -> u64 { text.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a kB figure") };
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).expect("smaps_rollup");
    let total_kib = rollup.lines().find(|l| l.starts_with("Rss:")).map(kib).expect("Rss");
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    let mut data_kib = 0;
    let mut in_data = false;
    for line in smaps.lines() {
        if line.split_whitespace().next().is_some_and(|f| f.contains('-') && !f.ends_with(':')) {
            in_data = line.contains("hotpack-resident-data");
        } else if in_data && line.starts_with("Rss:") {
            data_kib += kib(line);
        }
    }
    common::publish(
        "worker-resident-data",
        &serde_json::json!({
            "data_mb": size as f64 / (1 << 20) as f64,
            "worker_rss_mb": total_kib as f64 / 1024.0,
            "data_rss_mb": data_kib as f64 / 1024.0,
            "worker_private_mb": (total_kib.saturating_sub(data_kib)) as f64 / 1024.0,
            "read_all_ms": took.as_secs_f64() * 1e3,
        }),
    );
}

// ----- the socketpair floor ----------------------------------------------------------------

fn self_child(marker: &str, stdin: OwnedFd) -> std::process::Child {
    Command::new("/proc/self/exe").arg(marker).stdin(Stdio::from(stdin)).spawn().expect("echo child starts")
}

fn socket_echo_child() -> (std::os::unix::net::UnixStream, std::process::Child) {
    let (mine, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let child = self_child("__echo_socket", OwnedFd::from(theirs));
    (mine, child)
}

fn echo_socket() -> ExitCode {
    let stdin = std::io::stdin();
    let mut stream = std::fs::File::from(rustix::io::fcntl_dupfd_cloexec(stdin.as_fd(), 3).expect("dup the socket"));
    let mut buf = vec![0u8; PAYLOAD];
    while stream.read_exact(&mut buf).is_ok() {
        if stream.write_all(&buf).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

// ----- the shared-memory + futex floor -----------------------------------------------------

const IDLE: u32 = 0;
const REQUEST: u32 = 1;
const REPLY: u32 = 2;
const CLOSE: u32 = 3;

struct ShmSlot(SharedMap);

impl ShmSlot {
    fn state(&self) -> &AtomicU32 {
        self.0.atomic_u32(0).expect("in bounds")
    }
    fn sleeping(&self, host: bool) -> &AtomicU32 {
        self.0.atomic_u32(if host { 4 } else { 8 }).expect("in bounds")
    }
    fn publish(&self, state: u32, host: bool) {
        self.state().store(state, SeqCst);
        if self.sleeping(!host).load(SeqCst) != 0 {
            let _ = futex::wake(self.state(), futex::Flags::empty(), 1);
        }
    }
    /// Spin 50 µs (yielding, as the worker's slot does), then sleep on the futex, until the
    /// state is not `from`.
    fn wait(&self, from: u32, host: bool) -> u32 {
        let until = Instant::now() + Duration::from_micros(50);
        loop {
            let v = self.state().load(SeqCst);
            if v != from {
                return v;
            }
            if Instant::now() >= until {
                break;
            }
            std::thread::yield_now();
        }
        loop {
            self.sleeping(host).store(1, SeqCst);
            let v = self.state().load(SeqCst);
            if v != from {
                self.sleeping(host).store(0, SeqCst);
                return v;
            }
            let _ = futex::wait(self.state(), futex::Flags::empty(), from, None);
            self.sleeping(host).store(0, SeqCst);
        }
    }
}

fn shm_echo_child() -> (ShmSlot, std::process::Child) {
    use rustix::fs::{MemfdFlags, SealFlags};
    let fd = rustix::fs::memfd_create("bench-slot", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).expect("memfd");
    rustix::fs::ftruncate(&fd, SLOT).expect("size");
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW).expect("seal");
    let slot = ShmSlot(SharedMap::new(fd.as_fd()).expect("map"));
    let child = self_child("__echo_shm", fd);
    (slot, child)
}

fn shm_round_trip(slot: &ShmSlot, input: &[u8], out: &mut [u8]) {
    slot.0.write(64, input);
    slot.publish(REQUEST, true);
    let v = slot.wait(REQUEST, true);
    assert_eq!(v, REPLY);
    slot.0.read(64, out);
}

fn echo_shm() -> ExitCode {
    let stdin = std::io::stdin();
    let slot = ShmSlot(SharedMap::new(stdin.as_fd()).expect("map the slot"));
    let mut buf = vec![0u8; PAYLOAD];
    let mut seen = IDLE;
    loop {
        match slot.wait(seen, false) {
            REQUEST => {
                slot.0.read(64, &mut buf);
                slot.0.write(64, &buf);
                slot.publish(REPLY, false);
                seen = REPLY;
            }
            CLOSE => return ExitCode::SUCCESS,
            other => seen = other,
        }
    }
}
