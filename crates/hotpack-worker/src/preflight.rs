//! The preflight child: load a candidate in a short-lived process before the host maps it.
//!
//! A library's ELF constructors run at `dlopen`, before any hotpack gate. With a preflight,
//! the candidate is first loaded in a child process (its descriptor checks, its init hook and
//! the probe calls named in the [`PreflightCommand`]); only when the child exits cleanly does
//! the host load it. A candidate that segfaults, aborts, exits, hangs past the timeout or
//! runs past the memory limit there is refused at the rollback layer's `Gate::Preflight`
//! with the reason, and the host never maps it.
//!
//! The child is an executable that calls [`child_main_if_marked`] (or
//! [`worker_main_if_marked`](crate::worker_main_if_marked)) first thing: the `hotpack` CLI
//! (`hotpack __preflight ...`, a hidden subcommand), the `hotpack-preflight` binary of the
//! facade, or any host binary that does the same (like `multiprocessing`'s spawn). It is
//! contained like a worker: its own session, `SIGKILL` when the host dies, its own
//! address-space limit (`RLIMIT_AS`) set before it maps anything, the seccomp filter (it cannot
//! signal, stop or trace the host); when it ends or times out every process it started is
//! killed. It reports one JSON line on a socket that is its stdin (moved off fd 0 before the
//! candidate is mapped), never on stdout: nothing the candidate prints can pass for a report.
//!
//! `Gate::Preflight` is the rollback layer's gate that runs this.

use crate::contain;
use hotpack_archive::{Bundle, Limits, SearchPath};
use hotpack_cache::Cache;
use hotpack_loader::{Loader, Materialize, Module};
use hotpack_util::error::ReportedError;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The first argument that makes a binary a preflight child.
pub const MARKER: &str = "__preflight";

/// The environment variable naming the preflight executable for [`PreflightCommand::find`].
pub const EXE_ENV: &str = "HOTPACK_PREFLIGHT_EXE";

/// Exit code of a child whose checks refused the candidate (its JSON line says why).
const REFUSED: i32 = 1;

/// Bytes of the child's stderr kept for the reason.
const STDERR_TAIL: usize = 2048;

/// A handler call the child makes after init: the preflight's probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeCall {
    /// Only for this module (`None`: every module).
    pub module: Option<String>,
    /// The handler.
    pub handler: String,
    /// Its input.
    pub input: Vec<u8>,
}

/// How to start a preflight child: an executable and its leading arguments, the timeout,
/// the memory limit and the probe calls.
#[derive(Debug, Clone)]
pub struct PreflightCommand {
    program: PathBuf,
    args: Vec<OsString>,
    timeout: Duration,
    memory_limit: Option<u64>,
    calls: Vec<ProbeCall>,
    scratch: Option<PathBuf>,
}

/// Why the preflight refused a candidate, or could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreflightError {
    /// No preflight executable was found.
    #[error(
        "no preflight executable: set {EXE_ENV}, or put `hotpack` or `hotpack-preflight` next to this program or on PATH (tried {tried})"
    )]
    NoExecutable {
        /// What was looked for.
        tried: String,
    },
    /// The child could not be started, or its scratch directory created.
    #[error("cannot start the preflight child {}: {source}", program.display())]
    Spawn {
        /// The executable (or the scratch directory).
        program: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The child was killed by a signal while loading the candidate.
    #[error("{}: the preflight child was killed by {}{}", path.display(), signal_label(*signal), detail(stderr))]
    Signaled {
        /// The candidate.
        path: PathBuf,
        /// The signal number (named in the message: `SIGSEGV`, `SIGABRT`, ...).
        signal: i32,
        /// The end of the child's stderr.
        stderr: String,
    },
    /// The child exited with a code of the candidate's making.
    #[error("{}: the preflight child exited with code {code} before reporting{}", path.display(), detail(stderr))]
    Exited {
        /// The candidate.
        path: PathBuf,
        /// The exit code.
        code: i32,
        /// The end of the child's stderr.
        stderr: String,
    },
    /// The child did not finish in time and was killed.
    #[error("{}: the preflight child did not finish within {} ms and was killed", path.display(), timeout.as_millis())]
    TimedOut {
        /// The candidate.
        path: PathBuf,
        /// The timeout.
        timeout: Duration,
    },
    /// The child ran and its checks refused the candidate.
    #[error("{}: refused in the preflight child at the {gate} gate: {report}", path.display())]
    Refused {
        /// The candidate.
        path: PathBuf,
        /// The gate that refused (`load`, `abi`, `init`, `probe`).
        gate: String,
        /// Why, as the child reported it.
        #[source]
        report: hotpack_util::error::ReportedError,
    },
    /// The child exited cleanly without a report hotpack understands.
    #[error("{}: the preflight child gave no report (exit code 0 without a report line)", path.display())]
    Protocol {
        /// The candidate.
        path: PathBuf,
    },
}

fn detail(stderr: &str) -> String {
    // The last few lines: a Rust abort says why one line above its backtrace notice.
    let mut lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).rev().take(3).collect();
    lines.reverse();
    let mut text = lines.join("; ");
    if text.len() > 400 {
        let cut = (0..=400).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
        text.push_str("...");
    }
    if text.is_empty() { String::new() } else { format!(" (stderr: {text})") }
}

/// What a child that exited cleanly reported.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreflightReport {
    /// The module name the candidate's descriptor gives.
    pub name: String,
    /// Its version.
    pub version: String,
}

impl PreflightCommand {
    /// Runs `program` (with no leading arguments; [`MARKER`] and the candidate follow).
    /// Defaults: 10 s timeout, 1 GiB address space, no probe calls.
    pub fn new(program: impl Into<PathBuf>) -> PreflightCommand {
        PreflightCommand {
            program: program.into(),
            args: Vec::new(),
            timeout: Duration::from_secs(10),
            memory_limit: Some(1 << 30),
            calls: Vec::new(),
            scratch: None,
        }
    }

    /// The running executable itself (`/proc/self/exe` on Linux): for a binary that calls
    /// [`child_main_if_marked`] first thing in `main`.
    pub fn current_exe() -> PreflightCommand {
        let exe = if cfg!(target_os = "linux") {
            PathBuf::from("/proc/self/exe")
        } else {
            std::env::current_exe().unwrap_or_else(|_| PathBuf::from("hotpack"))
        };
        PreflightCommand::new(exe)
    }

    /// `$HOTPACK_PREFLIGHT_EXE`, else `hotpack-preflight` or `hotpack` next to the current
    /// executable (or one level up from cargo's `deps/`), else on `PATH`: the search
    /// [`WorkerCommand::find`](crate::WorkerCommand::find) makes.
    ///
    /// # Errors
    ///
    /// [`PreflightError::NoExecutable`] when none is found.
    pub fn find() -> Result<PreflightCommand, PreflightError> {
        if let Some(exe) = std::env::var_os(EXE_ENV).filter(|v| !v.is_empty()) {
            return Ok(PreflightCommand::new(exe));
        }
        crate::find_executable(&["hotpack-preflight", "hotpack"])
            .map(PreflightCommand::new)
            .map_err(|tried| PreflightError::NoExecutable { tried })
    }

    /// Appends a leading argument (before [`MARKER`]).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// How long the child may take before it is killed (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The child's address-space limit in bytes (`RLIMIT_AS`; default 1 GiB; `None`: no limit).
    pub fn memory_limit(mut self, bytes: Option<u64>) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// A handler the child calls after init (for `module`, or every module with `None`); an
    /// error or a caught panic refuses the candidate. Host probes are closures and cannot
    /// run in another process: name here what the child should try.
    pub fn call(mut self, module: Option<&str>, handler: &str, input: &[u8]) -> Self {
        self.calls.push(ProbeCall {
            module: module.map(str::to_owned),
            handler: handler.to_owned(),
            input: input.to_vec(),
        });
        self
    }

    /// Where the child's scratch directories go (default: the system temporary directory;
    /// a runtime sets its cache directory's `preflight/`).
    pub fn scratch_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.scratch = Some(dir.into());
        self
    }

    /// Whether a scratch directory was set.
    pub fn has_scratch_dir(&self) -> bool {
        self.scratch.is_some()
    }

    /// The executable.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Loads a candidate in a child and waits for it (at most the timeout): the bundle at
    /// `path` with its module directory `module_dir`, or the library file at `path`
    /// (`module_dir` `None`); the child loads only bytes whose blake3 is `hash`.
    ///
    /// # Errors
    ///
    /// A [`PreflightError`] naming the candidate and the reason.
    pub fn check(
        &self,
        path: &Path,
        module_dir: Option<&str>,
        hash: &blake3::Hash,
    ) -> Result<PreflightReport, PreflightError> {
        let candidate = Candidate { path, module_dir, hash };
        self.check_candidate(&candidate)
    }

    fn check_candidate(&self, candidate: &Candidate<'_>) -> Result<PreflightReport, PreflightError> {
        let spawn_err = |program: &Path| {
            let program = program.to_path_buf();
            move |source| PreflightError::Spawn { program, source }
        };
        let scratch = match &self.scratch {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(spawn_err(dir))?;
                tempfile::Builder::new().prefix("child-").tempdir_in(dir).map_err(spawn_err(dir))?
            }
            None => {
                tempfile::Builder::new().prefix("hotpack-preflight-").tempdir().map_err(spawn_err(&self.program))?
            }
        };
        contain::become_subreaper();
        let (report_end, child_end) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::STREAM,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| PreflightError::Spawn { program: self.program.clone(), source: e.into() })?;
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).arg(MARKER).arg("--host").arg(std::process::id().to_string());
        cmd.arg("--scratch").arg(scratch.path());
        match candidate.module_dir {
            Some(dir) => cmd.arg("--bundle").arg(candidate.path).arg("--dir").arg(dir),
            None => cmd.arg("--library").arg(candidate.path),
        };
        // The child loads only these bytes (the ones the host verified and, with trusted
        // keys, whose signature it checked): a file swapped after that is refused.
        cmd.arg("--hash").arg(candidate.hash.to_hex().as_str());
        if let Some(limit) = self.memory_limit {
            cmd.arg("--memory-limit").arg(limit.to_string());
        }
        for c in &self.calls {
            cmd.arg("--call").arg(c.module.as_deref().unwrap_or("")).arg(&c.handler).arg(hex(&c.input));
        }
        // The report socket is the child's stdin; what it prints on stdout is never read.
        cmd.stdin(Stdio::from(child_end)).stdout(Stdio::null()).stderr(Stdio::piped());
        cmd.env("MALLOC_ARENA_MAX", "2");
        let mut child = contain::spawn(cmd).map_err(spawn_err(&self.program))?;
        let pid = child.id() as i32;
        let (tx, rx) = mpsc::channel();
        {
            let tx = tx.clone();
            let mut report = std::fs::File::from(report_end);
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = (&mut report).take(64 << 10).read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        }
        let err_reader = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut tail: Vec<u8> = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = err.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    tail.extend_from_slice(&chunk[..n]);
                    if tail.len() > 2 * STDERR_TAIL {
                        tail.drain(..tail.len() - STDERR_TAIL);
                    }
                }
                String::from_utf8_lossy(&tail).into_owned()
            })
        });
        drop(tx);
        let path = candidate.path.to_path_buf();
        let deadline = Instant::now() + self.timeout;
        let timed_out = |child: &mut std::process::Child| {
            let _ = child.kill();
            let _ = child.wait();
            contain::sweep_session(pid, None);
            PreflightError::TimedOut { path: path.clone(), timeout: self.timeout }
        };
        // The report socket closes when the child exits (or closes it); then reap it.
        let stdout = match rx.recv_timeout(self.timeout) {
            Ok(out) => out,
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(timed_out(&mut child)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Vec::new(),
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => return Err(timed_out(&mut child)),
                Ok(None) => std::thread::sleep(Duration::from_micros(200)),
                Err(source) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    contain::sweep_session(pid, None);
                    return Err(PreflightError::Spawn { program: self.program.clone(), source });
                }
            }
        };
        // Whatever the candidate started dies with the check.
        contain::sweep_session(pid, None);
        let stderr = err_reader.and_then(|h| h.join().ok()).unwrap_or_default();
        drop(scratch);
        judge(path, status, &stdout, stderr)
    }
}

fn judge(path: PathBuf, status: ExitStatus, stdout: &[u8], stderr: String) -> Result<PreflightReport, PreflightError> {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        return Err(PreflightError::Signaled { path, signal, stderr });
    }
    let code = status.code().unwrap_or(-1);
    let report = String::from_utf8_lossy(stdout)
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("hotpack_preflight").is_some());
    let field = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
    match (code, report) {
        (0, Some(v)) if v.get("ok").and_then(serde_json::Value::as_bool) == Some(true) => {
            Ok(PreflightReport { name: field(&v, "name"), version: field(&v, "version") })
        }
        (REFUSED, Some(v)) if v.get("ok").and_then(serde_json::Value::as_bool) == Some(false) => {
            Err(PreflightError::Refused {
                path,
                gate: field(&v, "gate"),
                report: ReportedError::new(field(&v, "error")),
            })
        }
        (0, _) => Err(PreflightError::Protocol { path }),
        (code, _) => Err(PreflightError::Exited { path, code, stderr }),
    }
}

fn signal_label(signal: i32) -> String {
    match crate::signal_name(signal) {
        "signal" => format!("signal {signal}"),
        name => name.to_owned(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

// ----- the child ---------------------------------------------------------------------------

/// When this process was started as a preflight child (its first argument is [`MARKER`]),
/// runs the child and returns its exit code; otherwise `None`. Call it first thing in
/// `main`, before any other work:
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     if let Some(code) = hotpack_worker::preflight::child_main_if_marked() {
///         return code;
///     }
///     // ... the host's own work, with
///     // hotpack::RuntimeBuilder::preflight_with(PreflightCommand::current_exe())
///     std::process::ExitCode::SUCCESS
/// }
/// ```
pub fn child_main_if_marked() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(OsStr::new(MARKER)) {
        return None;
    }
    Some(child_main(args))
}

/// The child: `--scratch DIR (--bundle PATH --dir DIR | --library PATH) [--memory-limit BYTES]
/// [--call MODULE HANDLER HEXINPUT]...` (the arguments after [`MARKER`]). Sets its memory
/// limit, loads the candidate (descriptor checks), runs its init hook and the calls, prints
/// one JSON line and exits 0 (passed) or 1 (refused). Whatever else happens (a signal,
/// another exit code) is the candidate's doing.
pub fn child_main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    // The report goes to the socket the host passed as stdin (moved off fd 0 first, so the
    // candidate cannot write to it by accident or inherit it); without one (a child started
    // by hand), to stdout.
    let channel = std::sync::Mutex::new(report_channel());
    let report = |v: serde_json::Value| {
        let mut out = hotpack_util::sync::lock(&channel);
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    };
    let refuse = |gate: &str, error: String| {
        report(serde_json::json!({ "hotpack_preflight": 1, "ok": false, "gate": gate, "error": error }));
        ExitCode::from(REFUSED as u8)
    };
    let opts = match ChildOpts::parse(args) {
        Ok(o) => o,
        Err(e) => return refuse("usage", e),
    };
    // Contained like a worker: own session, death with the host, no signals to it.
    if let Some(host) = opts.host {
        if let Err(e) = contain::detach(host) {
            return refuse("usage", e.0);
        }
        if let Err(e) = contain::seal_syscalls() {
            return refuse("usage", e.0);
        }
    }
    // First thing, before the candidate is mapped: its constructors run under the limit.
    if let Some(limit) = opts.memory_limit {
        let lim = rustix::process::Rlimit { current: Some(limit), maximum: Some(limit) };
        if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::As, lim) {
            return refuse("usage", format!("cannot set the memory limit: {e}"));
        }
    }
    let loader = match Loader::new(&opts.scratch) {
        Ok(l) => l.materialize_files(Materialize::Memfd),
        Err(e) => return refuse("load", e.to_string()),
    };
    let module: Module = match &opts.target {
        Target::Bundle(path, dir) => {
            let limits = Limits::default();
            let bundle = match Bundle::open(path, &limits) {
                Ok(b) => b,
                Err(e) => return refuse("verify", e.to_string()),
            };
            if let Some(expected) = &opts.hash {
                let claimed = bundle.modules().iter().find(|m| m.dir() == dir).and_then(|m| {
                    let rel = m.manifest().library(hotpack_abi::TARGET)?;
                    bundle.digest(m.name(), rel).map(|d| blake3::Hash::from_bytes(d.blake3))
                });
                if claimed.as_ref() != Some(expected) {
                    return refuse("verify", format!("{}: not the library the host checked", path.display()));
                }
            }
            // The library's bytes are checked against the manifest digest compared above.
            let cache = Cache::new(loader, SearchPath::new());
            match cache.load_bundle_module(&bundle, dir) {
                Ok((m, _)) => m,
                Err(e) => return refuse("load", e.to_string()),
            }
        }
        Target::Library(path) => {
            let bytes = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => return refuse("load", format!("{}: {e}", path.display())),
            };
            if opts.hash.is_some_and(|expected| blake3::hash(&bytes) != expected) {
                return refuse("verify", format!("{}: not the library the host checked", path.display()));
            }
            match loader.load_bytes_with(&bytes, path, Materialize::Memfd) {
                Ok(m) => m,
                Err(e) => return refuse("load", e.to_string()),
            }
        }
    };
    if let Err(e) = module.init() {
        return refuse("init", e.to_string());
    }
    for c in opts.calls.iter().filter(|c| c.module.as_deref().is_none_or(|m| m == module.name())) {
        if let Err(e) = module.call(&c.handler, &c.input) {
            return refuse("probe", format!("probe `{}` failed: {e}", c.handler));
        }
    }
    report(serde_json::json!({
        "hotpack_preflight": 1,
        "ok": true,
        "name": module.name(),
        "version": module.version().to_string(),
    }));
    ExitCode::SUCCESS
}

/// Where the child writes its report: the host's socket (stdin, moved to a close-on-exec fd,
/// `/dev/null` put on fd 0), or stdout when stdin is not a socket.
fn report_channel() -> Box<dyn Write + Send> {
    let stdin = std::io::stdin();
    let is_socket = rustix::fs::fstat(stdin.as_fd())
        .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Socket);
    if is_socket && let Ok(fd) = rustix::io::fcntl_dupfd_cloexec(stdin.as_fd(), 3) {
        if let Ok(null) = std::fs::File::open("/dev/null") {
            let _ = rustix::stdio::dup2_stdin(&null);
        }
        return Box::new(std::fs::File::from(fd));
    }
    Box::new(std::io::stdout())
}

/// The candidate as the host names it.
struct Candidate<'a> {
    path: &'a Path,
    module_dir: Option<&'a str>,
    hash: &'a blake3::Hash,
}

enum Target {
    Bundle(PathBuf, String),
    Library(PathBuf),
}

struct ChildOpts {
    /// The host's pid: when given, the child contains itself (session, death signal, seccomp).
    host: Option<u32>,
    scratch: PathBuf,
    target: Target,
    memory_limit: Option<u64>,
    /// blake3 of the library the host checked; the child loads nothing else.
    hash: Option<blake3::Hash>,
    calls: Vec<ProbeCall>,
}

impl ChildOpts {
    fn parse(args: impl IntoIterator<Item = OsString>) -> Result<ChildOpts, String> {
        let mut args = args.into_iter();
        let (mut scratch, mut bundle, mut dir, mut library, mut memory_limit, mut calls) =
            (None, None, None, None, None, Vec::new());
        let mut hash = None;
        let mut host = None;
        let text = |v: Option<OsString>, what: &str| {
            v.and_then(|s| s.into_string().ok()).ok_or_else(|| format!("{what}: a UTF-8 value expected"))
        };
        while let Some(flag) = args.next() {
            match flag.to_str() {
                Some("--scratch") => scratch = args.next().map(PathBuf::from),
                Some("--host") => {
                    let v = text(args.next(), "--host")?;
                    host = Some(v.parse::<u32>().map_err(|e| format!("--host {v}: {e}"))?);
                }
                Some("--bundle") => bundle = args.next().map(PathBuf::from),
                Some("--library") => library = args.next().map(PathBuf::from),
                Some("--dir") => dir = Some(text(args.next(), "--dir")?),
                Some("--hash") => {
                    let v = text(args.next(), "--hash")?;
                    hash = Some(blake3::Hash::from_hex(&v).map_err(|e| format!("--hash {v}: {e}"))?);
                }
                Some("--memory-limit") => {
                    let v = text(args.next(), "--memory-limit")?;
                    memory_limit = Some(v.parse::<u64>().map_err(|e| format!("--memory-limit {v}: {e}"))?);
                }
                Some("--call") => {
                    let module = text(args.next(), "--call module")?;
                    let handler = text(args.next(), "--call handler")?;
                    let input = text(args.next(), "--call input")?;
                    let input = unhex(&input).ok_or_else(|| format!("--call input {input}: not hex"))?;
                    calls.push(ProbeCall { module: Some(module).filter(|m| !m.is_empty()), handler, input });
                }
                _ => return Err(format!("unknown preflight argument {}", flag.to_string_lossy())),
            }
        }
        let scratch = scratch.ok_or("--scratch is required")?;
        let target = match (bundle, dir, library) {
            (Some(b), Some(d), None) => Target::Bundle(b, d),
            (None, None, Some(l)) => Target::Library(l),
            _ => return Err("give --bundle PATH --dir DIR, or --library PATH".into()),
        };
        Ok(ChildOpts { host, scratch, target, memory_limit, hash, calls })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes = b"\x00probe\xff".to_vec();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn signals_have_names() {
        assert_eq!(signal_label(11), "SIGSEGV");
        assert_eq!(signal_label(6), "SIGABRT");
        assert_eq!(signal_label(64), "signal 64");
    }
}
