//! A worker loads a real module from a sealed memfd and serves calls, init and state.

use hotpack_worker::{LibraryImage, ResidentData, Worker, WorkerCommand, WorkerLimits};

pub(crate) fn command() -> WorkerCommand {
    WorkerCommand::new(env!("CARGO_BIN_EXE_hotpack-worker"))
}

pub(crate) fn image(package: &str) -> LibraryImage {
    let bytes = hotpack_testkit::module_bytes(package);
    LibraryImage::new(&bytes, blake3::hash(&bytes), package).expect("image")
}

#[test]
fn a_worker_loads_from_a_sealed_memfd_and_answers_calls() {
    let worker = Worker::spawn(&command(), &WorkerLimits::default(), None).expect("spawn");
    let report = worker.load(&image("greeter-v1")).expect("load");
    assert_eq!(report.name, "greeter");
    worker.init("greeter").expect("init");
    let out = worker.call("greeter", "greet", b"world").expect("call");
    assert!(String::from_utf8_lossy(&out).starts_with("hello, world"), "{}", String::from_utf8_lossy(&out));
    let big = vec![b'x'; 1 << 20];
    let out = worker.call("greeter", "greet", &big).expect("a spilled call");
    assert!(out.len() > big.len());
    assert!(worker.is_alive());
    worker.kill();
    assert!(worker.death().is_some());
}

#[test]
fn resident_data_is_the_handlers_input() {
    let data = ResidentData::from_bytes(b"resident".to_vec()).expect("data");
    let worker = Worker::spawn(&command(), &WorkerLimits::default(), Some(&data)).expect("spawn");
    worker.load(&image("greeter-v1")).expect("load");
    worker.init("greeter").expect("init");
    let out = worker.call_resident("greeter", "greet").expect("call");
    assert!(String::from_utf8_lossy(&out).contains("resident"), "{}", String::from_utf8_lossy(&out));
}

#[test]
fn state_moves_between_versions_in_two_workers_as_bytes() {
    let v1 = Worker::spawn(&command(), &WorkerLimits::default(), None).expect("spawn");
    v1.load(&image("greeter-v1")).expect("load");
    v1.init("greeter").expect("init");
    for _ in 0..3 {
        v1.call("greeter", "greet", b"x").expect("call");
    }
    let state = v1.export_state("greeter").expect("export").expect("greeter has state hooks");
    let v2 = Worker::spawn(&command(), &WorkerLimits::default(), None).expect("spawn");
    let report = v2.load(&image("greeter-v2")).expect("load");
    assert!(report.has_state);
    v2.init("greeter").expect("init");
    v2.import_state("greeter", &state).expect("import");
    let out = String::from_utf8_lossy(&v2.call("greeter", "greet", b"x").expect("call")).into_owned();
    assert!(out.contains("#4"), "the count moved across: {out}");
    let err = v2.import_state("greeter", b"short").expect_err("bad state");
    assert!(matches!(err, hotpack_worker::WorkerCallError::Module(_)), "{err:?}");
    assert!(v2.is_alive());
}

#[test]
fn a_handler_error_and_an_unknown_name_leave_the_worker_alive() {
    let worker = Worker::spawn(&command(), &WorkerLimits::default(), None).expect("spawn");
    worker.load(&image("greeter-v1")).expect("load");
    let err = worker.call("greeter", "nope", b"").expect_err("no such handler");
    assert!(matches!(err, hotpack_worker::WorkerCallError::Module(hotpack_loader::CallError::NoSuchHandler { .. })));
    let err = worker.call("other", "greet", b"").expect_err("no such module");
    assert!(matches!(err, hotpack_worker::WorkerCallError::NoSuchModule { .. }), "{err:?}");
    let bytes = b"\x7fELF not really".to_vec();
    let bad = LibraryImage::new(&bytes, blake3::hash(&bytes), "bad.so").expect("image");
    let err = worker.load(&bad).expect_err("refused");
    assert!(matches!(err, hotpack_worker::WorkerError::Refused { .. }), "{err}");
    assert!(worker.call("greeter", "greet", b"y").is_ok());
    let err = LibraryImage::new(&bytes, blake3::hash(b"other"), "bad.so").expect_err("hash checked");
    assert!(err.to_string().contains("not the verified"), "{err}");
}

#[test]
fn concurrent_callers_are_served_concurrently() {
    let worker = Worker::spawn(&command(), &WorkerLimits::default(), None).expect("spawn");
    worker.load(&image("fx-worker-crash")).expect("load");
    // Eight callers at once, each on its own channel (and its own thread in the worker).
    std::thread::scope(|s| {
        for t in 0..8 {
            let worker = &worker;
            s.spawn(move || {
                for i in 0..200 {
                    let input = format!("{t}-{i}");
                    let out = worker.call("worker-crash", "ok", input.as_bytes()).expect("echo");
                    assert_eq!(out, input.as_bytes());
                }
            });
        }
    });
    assert!(worker.stats().channels >= 2, "{:?}", worker.stats());
    assert_eq!(worker.stats().calls, 1600);
}

#[test]
fn a_sigkill_from_outside_is_named() {
    let worker = Worker::spawn(&command(), &WorkerLimits::default(), None).expect("spawn");
    worker.load(&image("greeter-v1")).expect("load");
    let status = std::process::Command::new("kill").args(["-KILL", &worker.pid().to_string()]).status().expect("kill");
    assert!(status.success());
    let err = worker.call("greeter", "greet", b"x").expect_err("dead");
    assert!(err.to_string().contains("killed by SIGKILL"), "{err}");
    assert!(matches!(worker.death(), Some(hotpack_worker::Death::Signal { signal: 9, .. })));
}

#[test]
fn callers_past_max_calls_wait_for_a_channel() {
    let worker = Worker::spawn(&command(), &WorkerLimits::default().max_calls(2), None).expect("spawn");
    worker.load(&image("fx-worker-crash")).expect("load");
    std::thread::scope(|s| {
        for t in 0..6 {
            let worker = &worker;
            s.spawn(move || {
                for i in 0..50 {
                    let input = format!("{t}-{i}");
                    assert_eq!(worker.call("worker-crash", "ok", input.as_bytes()).expect("echo"), input.as_bytes());
                }
            });
        }
    });
    assert!(worker.stats().channels <= 2, "{:?}", worker.stats());
}

/// A worker's loader makes the checks of every other load: a library whose descriptor
/// section disagrees with its live descriptor, or that has none, is refused (the latter
/// before it is mapped, so none of its constructors runs), and the worker keeps serving.
#[test]
fn a_worker_refuses_a_missing_or_disagreeing_descriptor_section() {
    let worker = Worker::spawn(&command(), &WorkerLimits::default(), None).expect("spawn");
    worker.load(&image("greeter-v1")).expect("load");
    let err = worker.load(&image("fx-forged-section")).expect_err("the section disagrees");
    assert!(err.to_string().contains("disagree"), "{err}");
    let err = worker.load(&image("fx-no-descriptor")).expect_err("no section");
    assert!(err.to_string().contains("section"), "{err}");
    assert!(worker.call("greeter", "greet", b"y").is_ok(), "the worker keeps serving");
}
