//! `hotpack serve` with its default isolation: every way native code takes its process down,
//! contained in the module's worker, while another module keeps answering; the crashed
//! version demoted at once, the good one answering the next call and after a restart; no
//! process left behind.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::serve::{Serve, call, good_bundle};
use hotpack_testkit::procs::{alive, descendants, gone, session_members};

/// Calls `worker-crash/ok` from 2 clients until stopped; collects every answer that is not 200.
struct Traffic {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    clients: Vec<thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(addr: std::net::SocketAddr) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let clients = (0..2)
            .map(|i| {
                let (stop, answered, failures) = (Arc::clone(&stop), Arc::clone(&answered), Arc::clone(&failures));
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let body = format!("client {i}");
                        let (status, out) = call(addr, "POST", "/worker-crash/ok", body.as_bytes());
                        if status == 200 && out == body {
                            answered.fetch_add(1, Ordering::Relaxed);
                        } else {
                            failures.lock().expect("lock").push(format!("{status} {out}"));
                        }
                    }
                })
            })
            .collect();
        Traffic { stop, answered, failures, clients }
    }

    /// Stops the clients; panics if any request was lost.
    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            c.join().expect("client thread");
        }
        let failures = self.failures.lock().expect("lock");
        assert!(failures.is_empty(), "the other module lost requests: {failures:?}");
        self.answered.load(Ordering::Relaxed)
    }
}

fn listing(addr: std::net::SocketAddr) -> serde_json::Value {
    let (status, body) = call(addr, "GET", "/-/modules", b"");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON listing")
}

fn worker_pids(addr: std::net::SocketAddr) -> Vec<u32> {
    listing(addr)["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["pid"].as_u64().and_then(|p| u32::try_from(p).ok()))
        .collect()
}

/// `calls` of `module`'s worker in `/-/modules`.
fn worker_calls(addr: std::net::SocketAddr, module: &str) -> u64 {
    let listed = listing(addr);
    let worker = listed["workers"].as_array().expect("workers").iter().find(|w| w["module"] == module).cloned();
    worker.and_then(|w| w["calls"].as_u64()).unwrap_or_else(|| panic!("{module}'s worker and its calls: {listed}"))
}

/// One crash kind: greeter 1.0.0 serves, greeter 3.1.0 (fx-greeter-crashes) or 3.2.0
/// (fx-greeter-unsafe), which crashes in `handler`, is deployed over it, starts a `sleep`,
/// and `handler` is called while another module takes traffic.
fn crash_is_contained(handler: &str, expect: &[&str]) {
    crash_of_is_contained("fx-greeter-crashes", "3.1", handler, expect);
}

fn crash_of_is_contained(package: &str, version: &str, handler: &str, expect: &[&str]) {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    let greeter = dir.join("greeter.zip");
    hotpack_archive::write_atomic(&greeter, &good_bundle("greeter-v1", 0)).expect("write v1");
    hotpack_archive::write_atomic(&dir.join("other.zip"), &good_bundle("fx-worker-crash", 0)).expect("write other");
    // The row that hangs waits for its deadline; every other row must end by its own crash,
    // however slow the machine, so its deadline is far out of the way.
    let deadline = if expect.contains(&"deadline") { "2" } else { "60" };
    let args = ["--call-deadline", deadline, "--worker-memory", "256"];
    let mut serve = Serve::start(&dir, &args);
    let addr = serve.addr;
    assert_eq!(call(addr, "POST", "/greeter/version", b""), (200, "1".to_owned()));
    hotpack_archive::write_atomic(&greeter, &good_bundle(package, 0)).expect("write the crashing v3");
    let outcome = serve.next_outcome();
    assert!(outcome.contains("deployed"), "{outcome}");
    assert_eq!(call(addr, "POST", "/greeter/version", b""), (200, version.to_owned()));
    // The crashing version's worker starts a child: it dies with the worker.
    let (status, child) = call(addr, "POST", "/greeter/fork_sleep", b"");
    assert_eq!(status, 200, "{child}");
    let child: u32 = child.trim().parse().expect("a pid");
    assert!(alive(child), "{handler}: the forked child runs");

    let traffic = Traffic::start(addr);
    let (status, body) = call(addr, "POST", &format!("/greeter/{handler}"), b"");
    assert_eq!(status, 502, "{handler}: {body}");
    assert!(expect.iter().any(|e| body.contains(e)), "{handler}: the answer names what happened: {body}");
    assert!(gone(child), "{handler}: the forked child {child} outlived its worker");
    // The next call is answered by the good version, in a fresh worker.
    assert_eq!(call(addr, "POST", "/greeter/version", b""), (200, "1".to_owned()), "{handler}");
    thread::sleep(Duration::from_millis(100)); // let the other module take traffic after the crash too
    let answered = traffic.finish();
    assert!(answered > 0, "the other module answered");
    assert!(serve.alive_now(), "{handler}: the host is alive");
    // The other module's worker counted every call it answered, and counts each new one.
    let before = worker_calls(addr, "worker-crash");
    assert!(before >= answered as u64, "{handler}: {before} calls counted, {answered} answered");
    for _ in 0..3 {
        assert_eq!(call(addr, "POST", "/worker-crash/ok", b"x"), (200, "x".to_owned()));
    }
    assert_eq!(worker_calls(addr, "worker-crash"), before + 3, "{handler}: three more calls counted");

    // Observable: the log has the death in one line, /-/modules and /-/metrics the worker.
    let listed = listing(addr);
    let worker = listed["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .find(|w| w["module"] == "greeter")
        .cloned()
        .expect("greeter's worker listed");
    assert_eq!(worker["version"], "1.0.0", "{worker}");
    assert!(worker["restarts"].as_u64() >= Some(1), "{worker}");
    assert!(worker["last_death"]["reason"].as_str().is_some_and(|r| expect.iter().any(|e| r.contains(e))), "{worker}");
    let (_, metrics) = call(addr, "GET", "/-/metrics", b"");
    assert!(metrics.contains("hotpack_worker_last_death{module=\"greeter\""), "{metrics}");
    let mut died = false;
    while let Ok(line) = serve.log.recv_timeout(Duration::from_secs(5)) {
        if line.contains(&format!("worker of greeter {version}.0 died")) {
            died = true;
            break;
        }
    }
    assert!(died, "{handler}: one log line says the worker died");

    // No process survives serve: its workers end with it, and so does every process of their
    // sessions.
    let mut before = worker_pids(addr);
    before.extend(descendants(serve.pid()));
    for worker in worker_pids(addr) {
        before.extend(session_members(worker));
    }
    assert!(!before.is_empty());
    drop(serve);
    for pid in &before {
        assert!(gone(*pid), "{handler}: process {pid} outlived serve");
    }

    // A restart comes back on the good version, never on the one that crashed (its bytes are
    // still in the folder, and refused).
    let serve = Serve::start(&dir, &args);
    assert_eq!(call(serve.addr, "POST", "/greeter/version", b""), (200, "1".to_owned()), "{handler} after a restart");
    assert_eq!(call(serve.addr, "POST", "/worker-crash/ok", b"x"), (200, "x".to_owned()));
}

/// `SIGTERM` (a service manager's stop) ends serve cleanly: every worker and every process a
/// worker started is gone, a call in flight is cut without counting against its module, and
/// a restart comes back on the version that served (nothing was demoted).
#[test]
fn sigterm_ends_serve_and_what_its_workers_started_and_demotes_nothing() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    let greeter = dir.join("greeter.zip");
    hotpack_archive::write_atomic(&greeter, &good_bundle("greeter-v1", 0)).expect("write v1");
    let args = ["--call-deadline", "60"];
    let mut serve = Serve::start(&dir, &args);
    let addr = serve.addr;
    hotpack_archive::write_atomic(&greeter, &good_bundle("fx-greeter-crashes", 0)).expect("write 3.1");
    assert!(serve.next_outcome().contains("deployed"));
    assert_eq!(call(addr, "POST", "/greeter/version", b""), (200, "3.1".to_owned()));
    let (status, child) = call(addr, "POST", "/greeter/fork_sleep", b"");
    assert_eq!(status, 200, "{child}");
    let child: u32 = child.trim().parse().expect("a pid");
    let mut before = vec![child];
    before.extend(descendants(serve.pid()));
    for worker in worker_pids(addr) {
        before.extend(session_members(worker));
    }
    // A call that never returns, in flight when the signal comes.
    let hung = thread::spawn(move || super::serve::http_pub(addr, "POST", "/greeter/hang", b""));
    let start = std::time::Instant::now();
    while !call(addr, "GET", "/-/metrics", b"").1.lines().any(|l| l == "hotpack_calls_in_flight 1") {
        assert!(start.elapsed() < Duration::from_secs(20), "the hung call never reached its handler");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(!hung.is_finished(), "the hung call is in flight");

    let status = serve.terminate();
    assert!(status.success(), "serve exits 0 after SIGTERM: {status}");
    for pid in &before {
        assert!(gone(*pid), "process {pid} outlived serve");
    }
    // The cut call is answered: 503, not the module's fault.
    let (code, body) = hung.join().expect("the caller thread").expect("an answer before serve exits");
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("shutting down"), "{body}");

    let serve = Serve::start(&dir, &args);
    assert_eq!(call(serve.addr, "POST", "/greeter/version", b""), (200, "3.1".to_owned()), "nothing was demoted");
}

/// In process, a call that never returns cannot be ended: `SIGTERM` still ends serve (it does
/// not wait for the call).
#[test]
fn sigterm_ends_serve_in_process_despite_a_hung_call() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    hotpack_archive::write_atomic(&dir.join("greeter.zip"), &good_bundle("fx-greeter-crashes", 0)).expect("write");
    let mut serve = Serve::start(&dir, &["--in-process"]);
    let addr = serve.addr;
    assert_eq!(call(addr, "POST", "/greeter/version", b""), (200, "3.1".to_owned()));
    let hung = thread::spawn(move || super::serve::http_pub(addr, "POST", "/greeter/hang", b""));
    thread::sleep(Duration::from_millis(300));
    assert!(!hung.is_finished(), "the hung call is in flight");
    let status = serve.terminate();
    assert!(status.success(), "serve exits 0 after SIGTERM: {status}");
    let _ = hung.join();
}

#[test]
fn serve_contains_an_abort() {
    crash_is_contained("abort", &["SIGABRT"]);
}

#[test]
fn serve_contains_an_exit() {
    crash_is_contained("exit7", &["exited with code 7"]);
}

#[test]
fn serve_contains_a_stack_overflow() {
    crash_is_contained("overflow", &["SIGABRT", "SIGSEGV"]);
}

#[test]
fn serve_contains_an_unbounded_allocation() {
    crash_is_contained("hoard", &["SIGABRT", "SIGKILL", "SIGSEGV"]);
}

#[test]
fn serve_ends_a_call_past_its_deadline() {
    crash_is_contained("hang", &["deadline"]);
}

#[test]
fn serve_contains_a_null_write() {
    crash_of_is_contained("fx-greeter-unsafe", "3.2", "null_write", &["SIGSEGV"]);
}

#[test]
fn serve_contains_a_sigbus() {
    crash_of_is_contained("fx-greeter-unsafe", "3.2", "sigbus", &["SIGBUS"]);
}

#[test]
fn a_crashed_module_with_nothing_to_fall_back_to_answers_404() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    hotpack_archive::write_atomic(&dir.join("null.zip"), &good_bundle("fx-worker-null-write", 0)).expect("write");
    hotpack_archive::write_atomic(&dir.join("other.zip"), &good_bundle("fx-worker-crash", 0)).expect("write other");
    let mut serve = Serve::start(&dir, &[]);
    let addr = serve.addr;
    let traffic = Traffic::start(addr);
    let (status, body) = call(addr, "POST", "/worker-null-write/null_write", b"");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("SIGSEGV"), "{body}");
    // Nothing older to fall back to: the module answers nothing, and says so.
    let (status, _) = call(addr, "POST", "/worker-null-write/null_write", b"");
    assert_eq!(status, 404);
    traffic.finish();
    assert!(serve.alive_now());
}

#[test]
fn a_worker_cannot_signal_or_trace_serve_or_another_modules_worker() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    hotpack_archive::write_atomic(&dir.join("greeter.zip"), &good_bundle("fx-greeter-unsafe", 0)).expect("write");
    hotpack_archive::write_atomic(&dir.join("other.zip"), &good_bundle("fx-worker-crash", 0)).expect("write other");
    let mut serve = Serve::start(&dir, &[]);
    let addr = serve.addr;
    assert_eq!(call(addr, "POST", "/worker-crash/ok", b"x"), (200, "x".to_owned()));
    assert_eq!(call(addr, "POST", "/greeter/version", b""), (200, "3.2".to_owned()));
    let sibling_of = |addr| {
        let listed = listing(addr);
        let w = listed["workers"].as_array().expect("workers").iter().find(|w| w["module"] == "worker-crash").cloned();
        w.unwrap_or_else(|| panic!("worker-crash's worker listed: {listed}"))
    };
    let sibling = sibling_of(addr);
    let sib = sibling["pid"].as_u64().expect("a pid");
    let host = serve.pid();
    for (handler, input) in [
        ("signal", format!("9 {sib}")),
        ("signal", format!("19 {sib}")),
        ("signal", format!("19 {host}")),
        ("ptrace_attach", sib.to_string()),
        ("ptrace_attach", host.to_string()),
    ] {
        let (status, body) = call(addr, "POST", &format!("/greeter/{handler}"), input.as_bytes());
        assert_ne!(status, 200, "{handler} {input}: {body}");
        assert!(body.contains("Operation not permitted"), "{handler} {input}: refused: {body}");
        assert_eq!(call(addr, "POST", "/worker-crash/ok", b"y"), (200, "y".to_owned()), "{handler} {input}");
        assert!(serve.alive_now(), "{handler} {input}: serve is alive");
    }
    let after = sibling_of(addr);
    assert_eq!(after["pid"], sibling["pid"], "the sibling worker was never replaced: {after}");
    assert_eq!(after["restarts"], 0, "{after}");
}

#[test]
fn hung_calls_in_one_module_never_starve_another() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    hotpack_archive::write_atomic(&dir.join("greeter.zip"), &good_bundle("fx-greeter-crashes", 0)).expect("write");
    hotpack_archive::write_atomic(&dir.join("other.zip"), &good_bundle("fx-worker-crash", 0)).expect("write other");
    // Two modules, four slots: a share of two each; no deadline, so the hung calls stay.
    let serve = Serve::start(&dir, &["--max-calls", "4", "--call-deadline", "0"]);
    let addr = serve.addr;
    let hung: Vec<_> =
        (0..2).map(|_| thread::spawn(move || super::serve::http_pub(addr, "POST", "/greeter/hang", b""))).collect();
    // Wait until both hang (healthz names the module whose slots are all held).
    let until = Instant::now() + Duration::from_secs(30);
    let mut health = String::new();
    while Instant::now() < until {
        let (status, body) = call(addr, "GET", "/-/healthz", b"");
        health = body;
        if status == 503 && health.contains("module `greeter` holds all 2 of its call slots") {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert!(health.contains("module `greeter` holds all 2 of its call slots"), "{health}");
    let (status, body) = call(addr, "POST", "/greeter/version", b"");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("greeter"), "{body}");
    for i in 0..10 {
        assert_eq!(call(addr, "POST", "/worker-crash/ok", b"x"), (200, "x".to_owned()), "call {i} of the other module");
    }
    drop(serve);
    for h in hung {
        let _ = h.join();
    }
}
