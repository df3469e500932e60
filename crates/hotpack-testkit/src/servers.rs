//! Throw-away local servers for tests, benches and demos: etcd (`etcd`, Debian's
//! `etcd-server`) and an OCI registry (`docker-registry`, Debian's distribution 2.8), each on
//! free loopback ports with a temporary data directory, killed when dropped. They can be
//! stopped and started again on the same ports and data (to test outages). A missing `etcd` or
//! `docker-registry` is installed first when the test process may ([`crate::tools::require`]).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a local server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The program could not be run (not installed?).
    #[error("cannot run `{program}` (install Debian's `{package}`): {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The package that provides it.
        package: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// It ran but did not answer in time, or exited.
    #[error("`{program}` did not become ready on {addr} within {waited:?}: {problem}; log: {}", log.display())]
    NotReady {
        /// The program.
        program: String,
        /// Where it should listen.
        addr: SocketAddr,
        /// How long we waited.
        waited: Duration,
        /// What we saw.
        problem: String,
        /// Its log file.
        log: PathBuf,
    },
    /// A temporary directory or file could not be made.
    #[error("{what}: {source}")]
    Io {
        /// What was being made.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

fn free_port() -> Result<u16, ServerError> {
    // A server that is stopped and restarted must get its port back. A port from the
    // kernel's ephemeral range (what `bind(:0)` hands out) can be taken in between as the
    // local port of any outgoing connection, so look below that range first.
    let (low, _) = ephemeral_range();
    if low > 10_000 {
        let span = u32::from(low - 10_000);
        let seed = std::process::id().wrapping_mul(2_654_435_761)
            ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        for i in 0..64u32 {
            let port = 10_000 + (seed.wrapping_add(i.wrapping_mul(7_919)) % span) as u16;
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|source| ServerError::Io { what: "bind a free loopback port".into(), source })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| ServerError::Io { what: "read a free port".into(), source })
}

/// The kernel's ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`), or Linux's
/// default when it cannot be read.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

/// GETs `path` from `addr` over plain HTTP/1.0 and returns the status line and body.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

struct Process {
    program: String,
    package: &'static str,
    args: Vec<String>,
    log: PathBuf,
    addr: SocketAddr,
    health: &'static str,
    healthy: fn(&str) -> bool,
    child: Option<Child>,
}

impl Process {
    fn start(&mut self) -> Result<(), ServerError> {
        if self.child.is_some() {
            return Ok(());
        }
        crate::tools::require(&self.program, self.package);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|source| ServerError::Io { what: format!("open {}", self.log.display()), source })?;
        let err = log.try_clone().map_err(|source| ServerError::Io { what: "clone the log handle".into(), source })?;
        let child =
            Command::new(&self.program).args(&self.args).stdin(Stdio::null()).stdout(log).stderr(err).spawn().map_err(
                |source| ServerError::Spawn { program: self.program.clone(), package: self.package, source },
            )?;
        self.child = Some(child);
        let waited = Duration::from_secs(20);
        let start = Instant::now();
        let mut last = String::from("no answer yet");
        while start.elapsed() < waited {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(self.not_ready(waited, format!("exited with {status}")));
            }
            match http_get(self.addr, self.health) {
                Ok(answer) if (self.healthy)(&answer) => return Ok(()),
                Ok(answer) => last = answer.lines().next().unwrap_or_default().to_owned(),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(self.not_ready(waited, last))
    }

    /// Starts the stopped process again, with a few attempts: right after a SIGKILL the old
    /// process's files and sockets may still be on their way out.
    fn restart(&mut self) -> Result<(), ServerError> {
        let mut last = self.start();
        for _ in 0..2 {
            if last.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
            last = self.start();
        }
        last
    }

    fn not_ready(&self, waited: Duration, problem: String) -> ServerError {
        ServerError::NotReady { program: self.program.clone(), addr: self.addr, waited, problem, log: self.log.clone() }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A single-member etcd on loopback with a temporary data directory.
pub struct LocalEtcd {
    process: Process,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for LocalEtcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEtcd").field("endpoint", &self.endpoint()).finish_non_exhaustive()
    }
}

impl LocalEtcd {
    /// Starts `etcd` (program name from `HOTPACK_ETCD_BIN`, default `etcd`) and waits until
    /// `/health` answers.
    ///
    /// # Errors
    ///
    /// [`ServerError`] when it is not installed or does not become healthy.
    pub fn start() -> Result<LocalEtcd, ServerError> {
        let dir = tempfile::Builder::new()
            .prefix("hotpack-etcd-")
            .tempdir()
            .map_err(|source| ServerError::Io { what: "create etcd's data dir".into(), source })?;
        let client = free_port()?;
        let peer = free_port()?;
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let args = vec![
            "--name".into(),
            "hotpack".into(),
            "--data-dir".into(),
            dir.path().join("data").display().to_string(),
            "--listen-client-urls".into(),
            client_url.clone(),
            "--advertise-client-urls".into(),
            client_url,
            "--listen-peer-urls".into(),
            peer_url.clone(),
            "--initial-advertise-peer-urls".into(),
            peer_url.clone(),
            "--initial-cluster".into(),
            format!("hotpack={peer_url}"),
            "--log-level".into(),
            "warn".into(),
        ];
        let mut process = Process {
            program: std::env::var("HOTPACK_ETCD_BIN").unwrap_or_else(|_| "etcd".into()),
            package: "etcd-server",
            args,
            log: dir.path().join("etcd.log"),
            addr: SocketAddr::from(([127, 0, 0, 1], client)),
            health: "/health",
            healthy: |answer| answer.contains("\"health\":\"true\""),
            child: None,
        };
        process.start()?;
        Ok(LocalEtcd { process, _dir: dir })
    }

    /// The client URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.process.addr)
    }

    /// Kills the server (SIGKILL: a crash, not a clean shutdown). Its data stays.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts it again on the same port and data.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.process.restart()
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.process.log
    }
}

/// An OCI registry (distribution) on loopback, plain HTTP, with a temporary storage dir.
pub struct LocalRegistry {
    process: Process,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for LocalRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRegistry").field("url", &self.url()).finish_non_exhaustive()
    }
}

impl LocalRegistry {
    /// Starts `docker-registry serve` (program from `HOTPACK_REGISTRY_BIN`) and waits until
    /// `/v2/` answers 200.
    ///
    /// # Errors
    ///
    /// [`ServerError`] when it is not installed or does not become ready.
    pub fn start() -> Result<LocalRegistry, ServerError> {
        let dir = tempfile::Builder::new()
            .prefix("hotpack-registry-")
            .tempdir()
            .map_err(|source| ServerError::Io { what: "create the registry's data dir".into(), source })?;
        let port = free_port()?;
        let config = dir.path().join("config.yml");
        let text = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        std::fs::write(&config, text)
            .map_err(|source| ServerError::Io { what: format!("write {}", config.display()), source })?;
        let mut process = Process {
            program: std::env::var("HOTPACK_REGISTRY_BIN").unwrap_or_else(|_| "docker-registry".into()),
            package: "docker-registry",
            args: vec!["serve".into(), config.display().to_string()],
            log: dir.path().join("registry.log"),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            health: "/v2/",
            healthy: |answer| answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
            child: None,
        };
        process.start()?;
        Ok(LocalRegistry { process, _dir: dir })
    }

    /// The registry URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.process.addr)
    }

    /// Kills the server. Its storage stays.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts it again on the same port and storage.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.process.restart()
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.process.log
    }
}
