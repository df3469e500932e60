//! [`Crash`]: why the process running a version ended under a call, as the supervisor
//! records it (a worker's death, or a call killed at its deadline).

use std::time::Duration;

/// How a version's process ended under a call. A crash demotes the version at once
/// ([`Supervisor::record_crash`](crate::Supervisor::record_crash)); a caught panic only
/// counts against the panic budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Crash {
    /// Killed by a signal (a stack overflow and `abort` are `SIGABRT`/`SIGSEGV`, a null
    /// write `SIGSEGV`, the memory cap or the OOM killer `SIGKILL`).
    #[error("killed by signal {signal} ({name})")]
    Signal {
        /// The signal number.
        signal: i32,
        /// Its name (`SIGSEGV`).
        name: String,
    },
    /// The process exited on its own (`std::process::exit`) in the middle of a call.
    #[error("exited with code {code} during a call")]
    Exited {
        /// The exit code.
        code: i32,
    },
    /// A call did not answer within its deadline and the process was killed.
    #[error("deadline of {} passed; the worker was killed", hotpack_util::duration::format_duration(*deadline))]
    Deadline {
        /// The deadline that passed.
        deadline: Duration,
    },
    /// The process ended for a reason it did not report (killed from outside, lost pipe).
    #[error("the worker ended: {detail}")]
    // The one string: what the mechanism saw, when none of the typed causes above fits.
    Lost {
        /// What was seen.
        detail: String,
    },
}

impl Crash {
    /// A one-word name for logs and JSON: `signal`, `exit`, `deadline`, `lost`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Crash::Signal { .. } => "signal",
            Crash::Exited { .. } => "exit",
            Crash::Deadline { .. } => "deadline",
            Crash::Lost { .. } => "lost",
        }
    }
}

impl From<&hotpack_worker::Death> for Crash {
    fn from(death: &hotpack_worker::Death) -> Crash {
        match death {
            hotpack_worker::Death::Signal { signal, name } => {
                Crash::Signal { signal: *signal, name: (*name).to_owned() }
            }
            hotpack_worker::Death::Exited { code } => Crash::Exited { code: *code },
            hotpack_worker::Death::Deadline { deadline } => Crash::Deadline { deadline: *deadline },
            other => Crash::Lost { detail: other.to_string() },
        }
    }
}
