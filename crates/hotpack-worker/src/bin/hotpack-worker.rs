//! `hotpack-worker`: the worker process (and preflight child) for library hosts that have no
//! entry of their own. [`hotpack_worker::WorkerCommand::find`] finds it next to the host
//! program or on `PATH`; it is started as `hotpack-worker __worker --host PID`.

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    match hotpack_worker::worker_main_if_marked() {
        Some(code) => code,
        None => {
            eprintln!(
                "hotpack-worker is started by its host (hotpack_worker::Worker::spawn) as `hotpack-worker {} ...`",
                hotpack_worker::MARKER
            );
            ExitCode::from(2)
        }
    }
}
