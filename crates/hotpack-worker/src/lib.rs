//! Run hotpack modules in supervised worker processes: a module that crashes, exits, hangs
//! or eats memory ends its worker, never its host.
//!
//! A [`Worker`] is a child process (this crate's `hotpack-worker` binary, `hotpack __worker`,
//! or any program that calls [`worker_main_if_marked`] first thing in `main`). The host hands
//! it the exact library bytes it verified as a sealed memfd ([`LibraryImage`]) over a unix
//! socket; the worker `dlopen`s them through `/proc/self/fd/N` and serves byte-handler calls,
//! init and state moves. Calls travel through a shared-memory slot per channel with a futex
//! (a socket carries payloads bigger than the slot); concurrent callers get concurrent
//! channels. [`ResidentData`] is kept once by the host in a sealed memfd that every worker
//! maps read-only, so a crash costs the data nothing.
//!
//! ```no_run
//! use hotpack_worker::{LibraryImage, Worker, WorkerCommand, WorkerLimits};
//! let bytes = std::fs::read("target/release/libgreeter_v1.so")?;
//! let image = LibraryImage::new(&bytes, blake3::hash(&bytes), "libgreeter_v1.so")?;
//! let worker = Worker::spawn(&WorkerCommand::find()?, &WorkerLimits::default(), None)?;
//! let report = worker.load(&image)?;
//! worker.init(&report.name)?;
//! let out = worker.call(&report.name, "greet", b"world")?;
//! println!("{}", String::from_utf8_lossy(&out));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Containment
//!
//! Each of these ends only the worker, and the caller gets a [`WorkerCallError`] naming it:
//! a null write (`SIGSEGV`), a stack overflow (Rust reports it and aborts: `SIGABRT`),
//! `abort()` (`SIGABRT`), `exit(n)`, an allocation past the memory cap (`SIGABRT` from the
//! allocator), `SIGKILL` (the OOM killer), a call past its deadline (the host kills the
//! worker). [`Worker::last_words`] has what the worker said last on stderr. When a worker ends, every process it
//! started is killed too, including ones that left its process group. A worker cannot
//! signal, trace or read its host or other workers (seccomp), and nothing it says is
//! believed beyond what the host can check (see [`ModuleReport`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod child;
mod contain;
mod data;
mod error;
mod host;
pub mod preflight;
mod slot;
mod wire;

pub use child::{worker_main, worker_main_if_marked};
pub use data::{LibraryImage, ResidentData};
pub use error::{Death, ProtocolFault, WorkerCallError, WorkerError, signal_name};
pub use host::{Worker, WorkerStats};

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The first argument that makes a binary a worker.
pub const MARKER: &str = "__worker";

/// The environment variable naming the worker executable for [`WorkerCommand::find`].
pub const EXE_ENV: &str = "HOTPACK_WORKER_EXE";

/// How to start a worker process: an executable and its leading arguments ([`MARKER`] and
/// the worker's own arguments follow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    program: PathBuf,
    args: Vec<OsString>,
}

impl WorkerCommand {
    /// Runs `program`.
    pub fn new(program: impl Into<PathBuf>) -> WorkerCommand {
        WorkerCommand { program: program.into(), args: Vec::new() }
    }

    /// The running executable itself (`/proc/self/exe`): for a binary that calls
    /// [`worker_main_if_marked`] first thing in `main`.
    ///
    /// # Errors
    ///
    /// [`WorkerError::NoExecutable`] when the executable cannot be named.
    pub fn current_exe() -> Result<WorkerCommand, WorkerError> {
        if Path::new("/proc/self/exe").exists() {
            return Ok(WorkerCommand::new("/proc/self/exe"));
        }
        std::env::current_exe()
            .map(WorkerCommand::new)
            .map_err(|e| WorkerError::NoExecutable { tried: format!("the current executable ({e})") })
    }

    /// `$HOTPACK_WORKER_EXE`, else `hotpack-worker` or `hotpack` next to the current
    /// executable (or in its parent directory, where cargo puts binaries beside `deps/`),
    /// else on `PATH`.
    ///
    /// # Errors
    ///
    /// [`WorkerError::NoExecutable`] when none is found.
    pub fn find() -> Result<WorkerCommand, WorkerError> {
        if let Some(exe) = std::env::var_os(EXE_ENV).filter(|v| !v.is_empty()) {
            return Ok(WorkerCommand::new(exe));
        }
        find_executable(&["hotpack-worker", "hotpack"])
            .map(WorkerCommand::new)
            .map_err(|tried| WorkerError::NoExecutable { tried })
    }

    /// Appends a leading argument (before [`MARKER`]).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// The executable.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The leading arguments.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }
}

/// The limits of one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerLimits {
    /// How long one call may run before the host kills the worker (`None`: no deadline).
    /// Default 30 s.
    pub call_deadline: Option<Duration>,
    /// Address space the worker may map on top of what it has mapped when it starts (its
    /// binary and the resident data, which so never count against it), as `RLIMIT_AS`
    /// (`None`: no cap). Default 1 GiB.
    pub memory: Option<u64>,
    /// How long starting, loading (constructors and descriptor checks) and opening a call
    /// channel may take. Default 10 s.
    pub start_deadline: Duration,
    /// Largest reply the host accepts from one call. Default 1 GiB.
    pub max_reply: u64,
    /// Most calls running at once in this worker (each has a channel and a thread with a
    /// 4 MiB stack in the worker, which count against `memory`); more callers wait for one.
    /// Default 64.
    pub max_calls: usize,
}

impl Default for WorkerLimits {
    fn default() -> Self {
        WorkerLimits {
            call_deadline: Some(Duration::from_secs(30)),
            memory: Some(1 << 30),
            start_deadline: Duration::from_secs(10),
            max_reply: 1 << 30,
            max_calls: 64,
        }
    }
}

impl WorkerLimits {
    /// Sets [`call_deadline`](Self::call_deadline).
    pub fn call_deadline(mut self, d: Option<Duration>) -> Self {
        self.call_deadline = d;
        self
    }

    /// Sets [`memory`](Self::memory).
    pub fn memory(mut self, bytes: Option<u64>) -> Self {
        self.memory = bytes;
        self
    }

    /// Sets [`max_calls`](Self::max_calls).
    pub fn max_calls(mut self, n: usize) -> Self {
        self.max_calls = n;
        self
    }

    /// Sets [`start_deadline`](Self::start_deadline).
    pub fn start_deadline(mut self, d: Duration) -> Self {
        self.start_deadline = d;
        self
    }
}

/// What a worker's loader found in a library, as the worker reported it.
///
/// What the host checks before it accepts the report: the hash is the one of the image it
/// sent (the worker's loader refuses other bytes too), the name follows the module-name
/// rule, the version is semver. The rest (handlers, interfaces, hooks) is the worker's claim
/// about code the host never maps: the host uses it only to route calls to that worker, never
/// to decide anything about another module or version; a caller that needs more compares it
/// with the bundle's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModuleReport {
    /// Module name.
    pub name: String,
    /// Module version.
    pub version: semver::Version,
    /// blake3 of the library bytes (the image's).
    pub hash: blake3::Hash,
    /// Handler names.
    pub handlers: Vec<String>,
    /// Typed interfaces: name and id. They stay inside the worker (a typed `Hot<I>` cannot
    /// cross a process); other modules in the same worker can use them.
    pub interfaces: Vec<(String, u64)>,
    /// Whether it has an init hook.
    pub has_init: bool,
    /// Whether it has state export/import hooks.
    pub has_state: bool,
}

impl ModuleReport {
    pub(crate) fn encode(&self, e: wire::Enc) -> wire::Enc {
        let mut e = e
            .str(&self.name)
            .str(&self.version.to_string())
            .bytes(self.hash.as_bytes())
            .u8(u8::from(self.has_init))
            .u8(u8::from(self.has_state))
            .u64(self.handlers.len() as u64);
        for h in &self.handlers {
            e = e.str(h);
        }
        e = e.u64(self.interfaces.len() as u64);
        for (n, id) in &self.interfaces {
            e = e.str(n).u64(*id);
        }
        e
    }

    pub(crate) fn decode(d: &mut wire::Dec<'_>) -> Option<ModuleReport> {
        let name = d.str()?.to_owned();
        let version = semver::Version::parse(d.str()?).ok()?;
        let hash = blake3::Hash::from_bytes(d.bytes()?.try_into().ok()?);
        let has_init = d.u8()? != 0;
        let has_state = d.u8()? != 0;
        let n = d.u64()?;
        let mut handlers = Vec::new();
        for _ in 0..n {
            handlers.push(d.str()?.to_owned());
        }
        let n = d.u64()?;
        let mut interfaces = Vec::new();
        for _ in 0..n {
            interfaces.push((d.str()?.to_owned(), d.u64()?));
        }
        Some(ModuleReport { name, version, hash, handlers, interfaces, has_init, has_state })
    }
}

/// The first of `names` next to the current executable (or one level up when it runs from
/// cargo's `deps/`: tests and benches), else on `PATH`; or what was tried, for the error.
pub(crate) fn find_executable(names: &[&str]) -> Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        if let Some(up) = dir.parent().filter(|_| dir.ends_with("deps")) {
            dirs.push(up.to_path_buf());
        }
        dirs.push(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.iter()
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("{} next to the program and on PATH", names.join(", ")))
}
