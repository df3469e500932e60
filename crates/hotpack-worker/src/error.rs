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
        fault: ProtocolFault,
    },
}

/// How a worker broke the protocol: a reply the host cannot decode, or a report that
/// contradicts what the host checked itself. The host decides each from what it received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolFault {
    /// A load reply with a status the host does not know.
    #[error("unknown load reply")]
    UnknownLoadReply,
    /// A load reply whose module report does not decode.
    #[error("malformed module report")]
    MalformedReport,
    /// The module report names other bytes than the host sent.
    #[error("reports hash {}, the host sent {}", .reported.to_hex(), .sent.to_hex())]
    ReportedHash {
        /// The hash the worker reported.
        reported: blake3::Hash,
        /// The hash of the bytes the host sent.
        sent: blake3::Hash,
    },
    /// The module report names a module the name rule refuses.
    #[error("reports module name `{}`: {source}", .name.escape_debug())]
    ReportedName {
        /// The name reported.
        name: String,
        /// The rule it breaks.
        #[source]
        source: hotpack_util::name::NameError,
    },
    /// The worker closed a call slot itself.
    #[error("closed a call slot itself")]
    SlotClosed,
    /// The worker set a call slot to a state only the host sets.
    #[error("set a call slot to state {state}")]
    SlotState {
        /// The state found.
        state: u32,
    },
    /// The worker announced a reply over the host's limit.
    #[error("announced a reply of {len} bytes")]
    ReplyTooLarge {
        /// The announced length.
        len: u64,
    },
    /// The worker announced more bytes than its call slot holds.
    #[error("announced {len} bytes in a smaller slot")]
    SlotOverrun {
        /// The announced length.
        len: u64,
    },
    /// The worker opened more call channels than the limit.
    #[error("more channels than the limit")]
    ChannelLimit,
    /// A call channel the host published is gone.
    #[error("a channel vanished")]
    ChannelVanished,
    /// The worker did not open a call channel in time.
    #[error("did not open a call channel in time")]
    ChannelTimeout,
    /// The worker answered a channel request with a status the host does not know.
    #[error("answered a channel request with nonsense")]
    ChannelReply,
    /// A spilled transfer over a call socket failed while the worker lived.
    #[error("call socket: {}", io_text(*.kind, *.os_error))]
    CallSocket {
        /// The error's kind.
        kind: std::io::ErrorKind,
        /// The OS error number, when there was one.
        os_error: Option<i32>,
    },
    /// An empty call reply.
    #[error("empty reply")]
    EmptyReply,
    /// A call reply with a status the host does not know.
    #[error("unknown reply status {status}")]
    UnknownStatus {
        /// The status found.
        status: u8,
    },
    /// A call reply whose provider charge (a provider's panics met by the call) is cut short.
    #[error("a malformed provider charge in a call reply")]
    MalformedCharge,
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
            Death::Protocol { fault } => write!(f, "killed for breaking the worker protocol: {fault}"),
        }
    }
}

/// An I/O error's text from what a [`ProtocolFault`] keeps of it (the OS's words for an
/// error number).
fn io_text(kind: std::io::ErrorKind, os_error: Option<i32>) -> String {
    match os_error {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        None => std::io::Error::from(kind).to_string(),
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
    /// The worker's loader refused the library (the reason is the worker's, shown as text).
    #[error("{origin}: the worker refused to load it: {report}")]
    Refused {
        /// The library's origin as the host named it.
        origin: String,
        /// The worker's reason, as it reported it.
        #[source]
        report: hotpack_util::error::ReportedError,
    },
    /// The bytes handed over for loading do not hash to the hash verified for them (checked
    /// by the host, before the worker sees them).
    #[error("{origin}: the worker refused to load it: bytes hash to {}, not the verified {}", .found.to_hex(), .expected.to_hex())]
    HashMismatch {
        /// The library's origin as the host named it.
        origin: String,
        /// The verified hash.
        expected: blake3::Hash,
        /// The hash of the bytes.
        found: blake3::Hash,
    },
    /// The worker's report contradicts what the host can check; the worker was killed.
    #[error("worker {pid} sent a report the host does not accept: {fault}")]
    Protocol {
        /// Its pid.
        pid: u32,
        /// What was wrong.
        fault: ProtocolFault,
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
    #[error("worker {pid} killed for breaking the worker protocol: {fault}")]
    Protocol {
        /// Its pid.
        pid: u32,
        /// What was wrong.
        fault: ProtocolFault,
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
            WorkerCallError::Protocol { fault, .. } => Some(Death::Protocol { fault: fault.clone() }),
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
