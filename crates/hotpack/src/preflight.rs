//! The preflight child: load a candidate in a short-lived, contained process before the host
//! maps it. It lives in `hotpack-worker` (its containment is the worker's); these are the
//! same names, re-exported so existing code keeps compiling.
//!
//! A candidate that segfaults, aborts, exits, hangs past the timeout or runs past the memory
//! limit there is refused at [`Gate::Preflight`](crate::rollback::Gate::Preflight) with the
//! reason, and the host never maps it.

pub use hotpack_worker::preflight::{
    EXE_ENV, MARKER, PreflightCommand, PreflightError, PreflightReport, ProbeCall, child_main, child_main_if_marked,
};
