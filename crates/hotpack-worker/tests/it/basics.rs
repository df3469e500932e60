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
