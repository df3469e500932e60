//! `hotpack-preflight`: the preflight child for library hosts that have no child entry of
//! their own. [`hotpack::RuntimeBuilder::preflight`] finds it next to the host program or on
//! `PATH`; it is started as `hotpack-preflight __preflight --scratch ... --bundle ...`. It
//! runs the worker entry too (`hotpack::worker::worker_main_if_marked`), so
//! `WorkerCommand::new(path to it)` serves [`hotpack::RuntimeBuilder::isolate`].

#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    match hotpack::worker::worker_main_if_marked() {
        Some(code) => code,
        None => {
            eprintln!(
                "hotpack-preflight is started by hotpack (RuntimeBuilder::preflight) as `hotpack-preflight {} ...`",
                hotpack::preflight::MARKER
            );
            ExitCode::from(2)
        }
    }
}
