//! The `serve` load test: a release `hotpack serve` on loopback, driven by a small
//! keep-alive HTTP/1.1 load generator (std threads and sockets, no dependency).
//!
//! - `serve_rps`: requests per second to a trivial handler (`greeter/greet`) from 16
//!   concurrent keep-alive clients, over a fixed window.
//! - `serve_swap_p99_ms`: p99 latency of those requests while the bundle is replaced 50
//!   times (v1 and v2 alternating; every swap waits for the server's "deployed" log line).
//!
//! Bounded: a few seconds of traffic, 50 swaps, then the server is killed.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
const SWAPS: usize = 50;

/// Builds what it needs, runs both measurements and returns
/// `{"serve_rps", "serve_swap_p99_ms", "serve_detail"}`.
pub(crate) fn run(quick: bool) -> Result<Value> {
    let root = crate::root();
    let target = crate::target_root(&root).join("hotpack-fixtures");
    let mut build = crate::cargo();
    build
        .args(["build", "--release", "--quiet", "-p", "hotpack-cli", "-p", "greeter-v1", "-p", "greeter-v2"])
        .arg("--target-dir")
        .arg(&target);
    crate::run(build)?;
    let release = target.join("release");
    let hotpack = release.join("hotpack");
    let work = crate::target_root(&root).join("hotpack-bench").join("serve");
    let _ = std::fs::remove_dir_all(&work);
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins).with_context(|| format!("creating {}", plugins.display()))?;
    let bundles = [work.join("v1.zip"), work.join("v2.zip")];
    for (lib, out) in ["libgreeter_v1.so", "libgreeter_v2.so"].iter().zip(&bundles) {
        let mut pack = Command::new(&hotpack);
        pack.arg("pack").arg(release.join(lib)).arg("--output").arg(out).stdout(Stdio::null());
        crate::run(pack)?;
    }
    std::fs::copy(&bundles[0], plugins.join("greeter.zip")).context("copying the first bundle")?;

    let mut server = Server::start(&hotpack, &plugins, &work)?;
    let window = Duration::from_secs(if quick { 2 } else { 5 });

    // Requests per second, nothing else happening.
    let load = Load::start(server.addr, CLIENTS);
    std::thread::sleep(Duration::from_millis(300));
    load.reset();
    std::thread::sleep(window);
    let steady = load.stop()?;
    let serve_rps = steady.latencies_us.len() as f64 / steady.elapsed.as_secs_f64();

    // Latency during 50 swaps.
    let load = Load::start(server.addr, CLIENTS);
    std::thread::sleep(Duration::from_millis(200));
    load.reset();
    let swaps_started = Instant::now();
    for i in 0..SWAPS {
        let source = &bundles[(i + 1) % 2];
        let tmp = plugins.join(".greeter.zip.tmp");
        std::fs::copy(source, &tmp).context("copying a bundle")?;
        std::fs::rename(&tmp, plugins.join("greeter.zip")).context("replacing the bundle")?;
        server.wait_for("deployed ")?;
    }
    let swapping = load.stop()?;
    let swap_seconds = swaps_started.elapsed().as_secs_f64();
    server.kill();

    let steady_p = percentiles(steady.latencies_us.clone());
    let mut during = swapping.latencies_us.clone();
    let swap_p = percentiles(std::mem::take(&mut during));
    if swapping.failures > 0 || steady.failures > 0 {
        bail!("{} requests failed during the serve bench", swapping.failures + steady.failures);
    }
    Ok(json!({
        "serve_rps": serve_rps,
        "serve_swap_p99_ms": swap_p.p99 / 1000.0,
        "serve_detail": {
            "clients": CLIENTS,
            "steady": {"requests": steady.latencies_us.len(), "seconds": steady.elapsed.as_secs_f64(),
                       "p50_us": steady_p.p50, "p99_us": steady_p.p99, "max_us": steady_p.max},
            "swaps": {"count": SWAPS, "seconds": swap_seconds, "requests": swapping.latencies_us.len(),
                      "p50_us": swap_p.p50, "p99_us": swap_p.p99, "max_us": swap_p.max},
        },
    }))
}

struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

fn percentiles(mut v: Vec<u64>) -> Percentiles {
    v.sort_unstable();
    let at =
        |q: f64| v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1))).copied().unwrap_or(0) as f64;
    Percentiles { p50: at(0.50), p99: at(0.99), max: v.last().copied().unwrap_or(0) as f64 }
}

/// A `hotpack serve` child; killed on drop.
pub(crate) struct Server {
    child: Child,
    log: mpsc::Receiver<String>,
    pub(crate) addr: SocketAddr,
}

impl Server {
    fn start(hotpack: &Path, plugins: &Path, work: &Path) -> Result<Server> {
        Server::start_with(hotpack, plugins, work, &[])
    }

    /// As `start`, with extra arguments (`--in-process`).
    pub(crate) fn start_with(hotpack: &Path, plugins: &Path, work: &Path, extra: &[&str]) -> Result<Server> {
        let mut child = Command::new(hotpack)
            .arg("serve")
            .arg(plugins)
            .args(["--addr", "127.0.0.1:0", "--quiet-ms", "10", "--allow-downgrade"])
            .args(extra)
            .env("XDG_CACHE_HOME", work.join("cache"))
            .env_remove("HOTPACK_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", hotpack.display()))?;
        let stderr = child.stderr.take().context("piped stderr")?;
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, log, addr: SocketAddr::from(([127, 0, 0, 1], 0)) };
        let line = server.wait_for("listening on http://")?;
        let addr = line.split("listening on http://").nth(1).and_then(|r| r.split_whitespace().next());
        server.addr = addr.and_then(|a| a.parse().ok()).with_context(|| format!("no address in {line:?}"))?;
        Ok(server)
    }

    pub(crate) fn wait_for(&self, needle: &str) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.log.recv_timeout(left).with_context(|| format!("hotpack serve never logged {needle:?}"))?;
            if line.contains(needle) {
                return Ok(line);
            }
            if line.contains("refused ") {
                bail!("hotpack serve refused a bundle: {line}");
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a load run measured.
pub(crate) struct Measured {
    pub(crate) latencies_us: Vec<u64>,
    pub(crate) failures: usize,
    pub(crate) elapsed: Duration,
}

/// `n` keep-alive clients calling `greeter/greet` in a loop until stopped.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    /// Bumped by `reset`: results before it are dropped.
    epoch: Arc<std::sync::atomic::AtomicU64>,
    started: Arc<std::sync::Mutex<Instant>>,
    clients: Vec<std::thread::JoinHandle<(Vec<u64>, usize)>>,
}

impl Load {
    pub(crate) fn start(addr: SocketAddr, n: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let clients = (0..n)
            .map(|i| {
                let (stop, epoch) = (Arc::clone(&stop), Arc::clone(&epoch));
                std::thread::spawn(move || client(addr, i, &stop, &epoch))
            })
            .collect();
        Load { stop, epoch, started: Arc::new(std::sync::Mutex::new(Instant::now())), clients }
    }

    /// Forgets what was measured so far (warm-up) and restarts the clock.
    pub(crate) fn reset(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub(crate) fn stop(self) -> Result<Measured> {
        self.stop.store(true, Ordering::SeqCst);
        let elapsed = self.started.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
        let mut latencies_us = Vec::new();
        let mut failures = 0;
        for c in self.clients {
            let (l, f) = c.join().map_err(|_| anyhow::anyhow!("a load client panicked"))?;
            latencies_us.extend(l);
            failures += f;
        }
        Ok(Measured { latencies_us, failures, elapsed })
    }
}

fn client(addr: SocketAddr, i: usize, stop: &AtomicBool, epoch: &std::sync::atomic::AtomicU64) -> (Vec<u64>, usize) {
    let body = format!("client{i}");
    let request =
        format!("POST /greeter/greet HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    let mut latencies = Vec::with_capacity(100_000);
    let mut failures = 0;
    let mut seen_epoch = epoch.load(Ordering::SeqCst);
    let mut conn: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) {
        let now_epoch = epoch.load(Ordering::SeqCst);
        if now_epoch != seen_epoch {
            latencies.clear();
            failures = 0;
            seen_epoch = now_epoch;
        }
        let started = Instant::now();
        let result = (|| -> std::io::Result<u16> {
            if conn.is_none() {
                let s = TcpStream::connect(addr)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                conn = Some(BufReader::new(s));
            }
            let reader = conn.as_mut().expect("connected above");
            reader.get_mut().write_all(request.as_bytes())?;
            read_response(reader)
        })();
        match result {
            Ok(200) => latencies.push(started.elapsed().as_micros() as u64),
            _ => {
                failures += 1;
                conn = None;
            }
        }
    }
    (latencies, failures)
}

/// Reads one response (status line, headers, `Content-Length` body); returns the status.
pub(crate) fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(status)
}
