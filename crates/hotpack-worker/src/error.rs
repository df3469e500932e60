//! The worker's error types: [`WorkerError`] (starting a worker, loading into it),
//! [`WorkerCallError`] (one call), and [`Death`] (how a worker ended).

use std::path::PathBuf;
use std::time::Duration;

/// How a worker process ended. Decided by the host from the exit status it reaped and from
/// what it did itself (a deadline kill), never from anything the worker said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Death {
    /// Killed by a signal it did not ask the host for: a crash (`SIGSEGV` from a null write
    /// or a stack overflow, `SIGABRT` from `abort()` or an allocation failure under the memory
    /// cap, `SIGBUS`), or `SIGKILL` from outside (the OOM killer, an operator).
    Signal {
        /// The signal number.
        signal: i32,
        /// Its name (`SIGSEGV`).
        name: &'static str,
    },
    /// Exited by itself (`std::process::exit(7)` in a handler), with this code.
    Exited {
        /// The exit code.
        code: i32,
    },
    /// Killed by the host because a call ran past its deadline.
    Deadline {
        /// The deadline that passed.
        deadline: Duration,
    },
    /// Killed by the host on request ([`Worker::kill`](crate::Worker::kill), drop).
    Killed,
    /// Killed by the host because it broke the protocol (a malformed or impossible reply).
    Protocol {
        /// What it did.
        detail: String,
    },
}

impl std::fmt::Display for Death {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Death::Signal { name, .. } => write!(f, "killed by {name}"),
            Death::Exited { code } => write!(f, "exited with code {code}"),
            Death::Deadline { deadline } => {
                write!(f, "deadline of {} passed", hotpack_util::duration::format_duration(*deadline))
            }
            Death::Killed => write!(f, "killed by its host"),
            Death::Protocol { detail } => write!(f, "killed for breaking the worker protocol: {detail}"),
        }
    }
}

/// Why a worker could not be started, or could not load a library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// No worker executable was found.
    #[error(
        "no worker executable: set {}, or put `hotpack-worker` or `hotpack` next to this program or on PATH (tried {tried})",
        crate::EXE_ENV
    )]
    NoExecutable {
        /// What was looked for.
        tried: String,
    },
    /// The process could not be started.
    #[error("cannot start the worker {}: {source}", program.display())]
    Spawn {
        /// The executable.
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A system call the host needs failed (memfd, socket, map).
    #[error("worker setup: could not {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The resident data file could not be read.
    #[error("{}: cannot read the resident data: {source}", path.display())]
    Data {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The worker did not answer in time (start or load) and was killed.
    #[error("worker {pid} did not answer within {} and was killed", hotpack_util::duration::format_duration(*deadline))]
    Unresponsive {
        /// Its pid.
        pid: u32,
        /// The deadline.
        deadline: Duration,
    },
    /// The worker died (while starting or loading: a constructor that crashed, say).
    #[error("worker {pid} {death}")]
    Died {
        /// Its pid.
        pid: u32,
        /// How it ended.
        death: Death,
    },
    /// The worker's loader refused the library (the message is the worker's, shown as text).
    #[error("{origin}: the worker refused to load it: {message}")]
    Refused {
        /// The library's origin as the host named it.
        origin: String,
        /// The worker's reason.
        message: String,
    },
    /// The worker's report contradicts what the host can check; the worker was killed.
    #[error("worker {pid} sent a report the host does not accept: {detail}")]
    Protocol {
        /// Its pid.
        pid: u32,
        /// What was wrong.
        detail: String,
    },
}

/// Why one call into a worker failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerCallError {
    /// The handler returned an error or panicked (caught inside the module); the worker
    /// lives on.
    #[error(transparent)]
    Module(hotpack_loader::CallError),
    /// The worker hosts no module of that name.
    #[error("worker {pid} hosts no module `{module}`")]
    NoSuchModule {
        /// Its pid.
        pid: u32,
        /// The name asked for.
        module: String,
    },
    /// The worker died during (or before) this call.
    #[error("worker {pid} {death}")]
    Died {
        /// Its pid.
        pid: u32,
        /// How it ended.
        death: Death,
    },
    /// The call ran past its deadline; the worker was killed.
    #[error("worker {pid} killed: deadline of {} passed", hotpack_util::duration::format_duration(*deadline))]
    Deadline {
        /// Its pid.
        pid: u32,
        /// The deadline.
        deadline: Duration,
    },
    /// The worker broke the protocol; it was killed.
    #[error("worker {pid} killed for breaking the worker protocol: {detail}")]
    Protocol {
        /// Its pid.
        pid: u32,
        /// What was wrong.
        detail: String,
    },
    /// The host could not set up the call (a channel's memfd or socket).
    #[error("worker {pid}: could not {op}: {source}")]
    Io {
        /// Its pid.
        pid: u32,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The reply is larger than the host accepts.
    #[error("worker {pid}: reply of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// Its pid.
        pid: u32,
        /// The announced length.
        len: u64,
        /// The limit.
        max: u64,
    },
}

impl WorkerCallError {
    /// The death this error reports, if the worker died (crash, exit, deadline, protocol).
    pub fn death(&self) -> Option<Death> {
        match self {
            WorkerCallError::Died { death, .. } => Some(death.clone()),
            WorkerCallError::Deadline { deadline, .. } => Some(Death::Deadline { deadline: *deadline }),
            WorkerCallError::Protocol { detail, .. } => Some(Death::Protocol { detail: detail.clone() }),
            _ => None,
        }
    }
}

/// The name of a signal number (`SIGSEGV`), or `"signal"` for one without a common name.
pub fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        31 => "SIGSYS",
        _ => "signal",
    }
}
