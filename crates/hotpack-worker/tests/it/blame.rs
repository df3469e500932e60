//! Crash attribution: a worker that dies of a fault or an `exit` names the module whose code
//! was running innermost on the crashing thread (`Worker::crash_site`), through libc frames
//! (`abort`) and Rust's own stack-overflow report; a death no handler sees names nobody.

use crate::basics::{command, image};
use hotpack_worker::{Worker, WorkerLimits};
use std::time::Duration;

/// A worker hosting `svc-b` (or `svc-crashes`) and its provider, textutil 5.0.0, whose
/// `transform` crashes on the inputs `segv`, `abort`, `exit` and `overflow`.
fn pair(dependent: &str) -> Worker {
    let worker = Worker::spawn(&command(), &WorkerLimits::default(), None).expect("spawn");
    worker.load(&image("fx-textutil-crashes")).expect("load the provider");
    worker.init("textutil").expect("init the provider");
    let report = worker.load(&image(dependent)).expect("load the dependent");
    worker.init(&report.name).expect("init the dependent");
    worker
}

#[test]
fn a_crash_in_provider_code_inside_a_dependents_call_names_the_provider() {
    for (input, death) in
        [("segv", "SIGSEGV"), ("abort", "SIGABRT"), ("exit", "exited with code 7"), ("overflow", "SIGABRT")]
    {
        let worker = pair("svc-b");
        assert_eq!(worker.call("svc-b", "run", b"abc").expect("alive"), b"b:ABC");
        assert_eq!(worker.crash_site(), None, "{input}: nothing is noted while it lives");
        let err = worker.call("svc-b", "run", input.as_bytes()).expect_err(input);
        assert!(err.to_string().contains(death), "{input}: {err}");
        assert_eq!(worker.crash_site().as_deref(), Some("textutil"), "{input}: {err}; {}", worker.last_words());
        if input == "overflow" {
            // The handler hands the signal on: Rust's own report still reaches stderr.
            assert!(worker.last_words().contains("overflowed its stack"), "{}", worker.last_words());
        }
    }
}

#[test]
fn a_crash_in_the_dependents_own_code_after_its_provider_answered_names_the_dependent() {
    let worker = pair("fx-svc-crashes");
    assert_eq!(worker.call("svc-crashes", "run", b"abc").expect("alive"), b"c:ABC");
    let err = worker.call("svc-crashes", "abort", b"abc").expect_err("aborts");
    assert!(err.to_string().contains("SIGABRT"), "{err}");
    assert_eq!(worker.crash_site().as_deref(), Some("svc-crashes"), "{err}");
}

#[test]
fn a_death_no_handler_sees_names_nobody() {
    // A call past its deadline is a SIGKILL from the host: nothing in the worker runs.
    let limits = WorkerLimits::default().call_deadline(Some(Duration::from_millis(300)));
    let worker = Worker::spawn(&command(), &limits, None).expect("spawn");
    worker.load(&image("fx-worker-crash")).expect("load");
    worker.init("worker-crash").expect("init");
    let err = worker.call("worker-crash", "hang", b"").expect_err("hangs");
    assert!(err.to_string().contains("deadline of"), "{err}");
    assert_eq!(worker.crash_site(), None);
    // A worker the host ends (drop, kill) is not a crash either.
    let worker = pair("svc-b");
    worker.kill();
    let _ = worker.call("svc-b", "run", b"abc");
    assert_eq!(worker.crash_site(), None);
}
