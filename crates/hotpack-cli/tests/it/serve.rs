//! `hotpack serve`: the real binary on loopback, real bundles replaced under live traffic,
//! spoken to by a hand-written HTTP/1.1 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use hotpack_archive::{Hooks, ModuleMeta, PackSpec};

const WAIT: Duration = Duration::from_secs(30);

/// A running `hotpack serve`, killed when dropped.
pub(crate) struct Serve {
    child: Child,
    /// stderr, one log line per item.
    pub(crate) log: Receiver<String>,
    /// The log lines up to and including "listening on".
    pub(crate) startup: Vec<String>,
    pub(crate) addr: SocketAddr,
}

impl Serve {
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> Serve {
        Serve::start_under(&[], dir, extra)
    }

    /// Starts `hotpack serve` with extra environment variables.
    pub(crate) fn start_env(dir: &Path, extra: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Serve {
        Serve::start_full(&[], dir, extra, env)
    }

    /// Starts `hotpack serve` under `wrapper` (for example `prlimit --nofile=64`).
    fn start_under(wrapper: &[&str], dir: &Path, extra: &[&str]) -> Serve {
        Serve::start_full(wrapper, dir, extra, &[])
    }

    fn start_full(wrapper: &[&str], dir: &Path, extra: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Serve {
        let bin = env!("CARGO_BIN_EXE_hotpack");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = command
            .arg("serve")
            .arg(dir)
            .args(if extra.contains(&"--addr") {
                &["--quiet-ms", "30"][..]
            } else {
                &["--addr", "127.0.0.1:0", "--quiet-ms", "30"]
            })
            .args(extra)
            .env("XDG_CACHE_HOME", dir.parent().expect("dir has a parent").join("cache"))
            .env_remove("HOTPACK_TOKEN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hotpack serve");
        let stderr = lines(child.stderr.take().expect("piped stderr"));
        // Owned by a `Serve` at once, so a failed wait below still kills the process.
        let mut serve = Serve { child, log: stderr, startup: Vec::new(), addr: SocketAddr::from(([127, 0, 0, 1], 0)) };
        loop {
            let line = serve.log.recv_timeout(WAIT).expect("hotpack serve logged no 'listening' line");
            serve.startup.push(line.clone());
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().expect("an address after 'listening on'");
                serve.addr = addr.parse().expect("a socket address after 'listening on'");
                return serve;
            }
        }
    }

    /// The next deploy outcome line ("deployed ..." or "refused ...").
    pub(crate) fn next_outcome(&self) -> String {
        loop {
            let line = self.log.recv_timeout(WAIT).expect("hotpack serve reported no deploy outcome");
            if line.contains("deployed ") || line.contains("refused ") {
                return line;
            }
        }
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's peak resident set size in kB (VmHWM).
    fn peak_rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmHWM line")
    }

    /// Sends `SIGTERM` and waits up to 20 s for the process to exit: its status.
    pub(crate) fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM");
        let until = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(std::time::Instant::now() < until, "serve did not exit after SIGTERM");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running (for other test files).
    pub(crate) fn alive_now(&mut self) -> bool {
        self.alive()
    }

    /// Whether the process is still running.
    fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// As `http`, for other test files.
pub(crate) fn http_pub(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    http(addr, method, path, body)
}

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    http_with(addr, method, path, &[("Host", &addr.to_string())], body)
}

/// As [`http`], with the given headers (Host included) instead of the usual Host.
pub(crate) fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    raw(addr, &request)
}

/// Sends `request` as is and reads the response to its end; returns (status, body).
pub(crate) fn raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(WAIT))?;
    stream.write_all(request)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    parse_response(&response)
}

fn parse_response(response: &[u8]) -> std::io::Result<(u16, String)> {
    let text = String::from_utf8_lossy(response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

pub(crate) fn call(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    http(addr, method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A good bundle of `package`, made unique by a `step` resource (same library bytes).
pub(crate) fn good_bundle(package: &str, step: usize) -> Vec<u8> {
    let library = hotpack_testkit::module(package);
    let scratch = hotpack_testkit::scratch();
    let out = scratch.path().join("b.zip");
    hotpack::pack_library(&library, &out, vec![("step.txt".into(), step.to_string().into_bytes())])
        .expect("pack a fixture");
    std::fs::read(&out).expect("read the packed bundle")
}

/// A bundle claiming to be `greeter` 3.0.0 whose library is not a library: fails the load gate.
fn unloadable_bundle(step: usize) -> Vec<u8> {
    let spec = PackSpec {
        meta: ModuleMeta {
            name: "greeter".into(),
            version: hotpack_archive::semver::Version::new(3, 0, step as u64),
            abi_version: hotpack::abi::ABI_VERSION,
            rustc: hotpack::abi::RUSTC_VERSION.into(),
            interfaces: vec![],
            handlers: vec!["greet".into()],
            hooks: Hooks::default(),
        },
        target: hotpack::abi::TARGET.into(),
        library_name: "libgreeter.so".into(),
        library: format!("not a shared object, step {step}").into_bytes(),
        resources: vec![],
    };
    hotpack_archive::pack(&spec).expect("pack a broken bundle")
}

/// A copy of a good bundle with one byte of its library flipped: fails verification.
fn corrupt_bundle(step: usize) -> Vec<u8> {
    let mut bytes = good_bundle("greeter-v2", step);
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    bytes
}

#[test]
fn serve_swaps_bundles_under_live_traffic_and_never_answers_from_a_broken_version() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    let bundle = dir.join("greeter.zip");
    hotpack_archive::write_atomic(&bundle, &good_bundle("greeter-v1", 0)).expect("write v1");
    hotpack_archive::write_atomic(&dir.join("panicky.zip"), &good_bundle("fx-panicky", 0)).expect("write panicky");

    let serve = Serve::start(&dir, &["--allow-downgrade"]);
    let addr = serve.addr;

    // The routes, before any traffic.
    assert_eq!(call(addr, "POST", "/greeter/greet", b"ann").0, 200);
    assert_eq!(call(addr, "POST", "/nosuch/greet", b"").0, 404);
    assert_eq!(call(addr, "POST", "/greeter/nosuch", b"").0, 404);
    let (status, body) = call(addr, "POST", "/panicky/fail", b"");
    assert_eq!(status, 422, "{body}");
    let (status, body) = call(addr, "POST", "/panicky/boom", b"");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("panicked"), "{body}");
    assert_eq!(call(addr, "POST", "/-/rollback/greeter", b"").0, 409, "nothing ran before v1");
    assert_eq!(call(addr, "POST", "/-/rollback/nosuch", b"").0, 404);
    let (status, body) = call(addr, "GET", "/-/modules", b"");
    assert_eq!(status, 200);
    let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON listing");
    let greeter = listing["modules"]
        .as_array()
        .expect("modules array")
        .iter()
        .find(|m| m["name"] == "greeter")
        .cloned()
        .expect("greeter listed");
    assert_eq!(greeter["version"], "1.0.0");
    assert_eq!(greeter["hash"].as_str().map(str::len), Some(64));
    assert!(greeter["handlers"].as_array().is_some_and(|h| h.iter().any(|h| h == "greet")), "{greeter}");
    assert!(greeter["history"].is_array(), "{greeter}");
    assert!(greeter.get("last_error").is_some(), "{greeter}");

    // Live traffic: 4 clients calling while the bundle is replaced 50 times.
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (stop, calls, failures) = (Arc::clone(&stop), Arc::clone(&calls), Arc::clone(&failures));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match http(addr, "POST", "/greeter/greet", format!("client{i}").as_bytes()) {
                        Ok((200, body)) if body.contains("(v1,") || body.contains("(V2,") || body.contains("(v2,") => {}
                        Ok((status, body)) => failures.lock().expect("lock").push(format!("{status} {body}")),
                        Err(e) => failures.lock().expect("lock").push(format!("connection error: {e}")),
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let mut deployed = 0;
    let mut refused = 0;
    let mut rollbacks = 0;
    for step in 1..=50 {
        let bytes = match step % 5 {
            0 => corrupt_bundle(step),
            1 | 3 => good_bundle("greeter-v2", step),
            2 => unloadable_bundle(step),
            _ => good_bundle("greeter-v1", step),
        };
        hotpack_archive::write_atomic(&bundle, &bytes).expect("replace the bundle");
        let outcome = serve.next_outcome();
        if outcome.contains("refused ") {
            refused += 1;
        } else {
            deployed += 1;
        }
        if step % 10 == 7 {
            let (status, body) = call(addr, "POST", "/-/rollback/greeter", b"");
            assert_eq!(status, 200, "manual rollback: {body}");
            let now: serde_json::Value = serde_json::from_str(&body).expect("JSON rollback answer");
            assert!(now["version"] == "1.0.0" || now["version"] == "2.0.0", "{now}");
            rollbacks += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }

    let failures = failures.lock().expect("lock");
    assert!(
        failures.is_empty(),
        "{} of {} calls failed: {:?}",
        failures.len(),
        calls.load(Ordering::Relaxed),
        &failures[..failures.len().min(10)]
    );
    assert!(calls.load(Ordering::Relaxed) > 50, "the clients were calling throughout");
    assert!(refused >= 20, "every broken bundle was refused ({refused} refusals)");
    assert!(deployed >= 20, "the good bundles were deployed ({deployed})");
    assert_eq!(rollbacks, 5);

    let (_, body) = call(addr, "GET", "/-/modules", b"");
    let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON listing");
    let greeter = listing["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["name"] == "greeter")
        .cloned()
        .expect("greeter");
    assert!(greeter["version"] == "1.0.0" || greeter["version"] == "2.0.0", "{greeter}");
    assert!(greeter["last_error"].is_string(), "the last refusal is reported: {greeter}");
    assert!(greeter["state"].is_string() && !greeter["state"].as_str().unwrap_or("").contains('('), "{greeter}");
    assert!(listing["refused"].is_array(), "{listing}");
}

#[test]
fn serve_refuses_a_missing_folder_and_a_port_in_use_with_one_line() {
    let scratch = hotpack_testkit::scratch();
    let out = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .arg("serve")
        .arg(scratch.path().join("nope"))
        .output()
        .expect("run hotpack serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("local addr");
    let out = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .arg("serve")
        .arg(scratch.path())
        .args(["--addr", &addr.to_string()])
        .output()
        .expect("run hotpack serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

/// A folder holding greeter v1, and the scratch dir that owns it.
pub(crate) fn plugin_folder() -> (tempfile::TempDir, std::path::PathBuf) {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    hotpack_archive::write_atomic(&dir.join("greeter.zip"), &good_bundle("greeter-v1", 0)).expect("write v1");
    (scratch, dir)
}

/// Checks the Prometheus text exposition format line by line and returns the samples
/// (`name{labels}` -> value).
fn parse_prometheus(text: &str) -> std::collections::HashMap<String, f64> {
    let mut samples = std::collections::HashMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().expect("a metric name after # TYPE");
            let kind = parts.next().expect("a type after the name");
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line}");
            assert!(typed.insert(name.to_owned()), "one TYPE line per metric: {line}");
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment line: {line}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().expect("a name");
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "bad labels: {line}");
            for pair in labels[1..labels.len() - 1].split(',') {
                let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("bad label: {line}"));
                assert!(!k.is_empty() && v.starts_with('"') && v.ends_with('"'), "bad label: {line}");
            }
        }
        let family = ["_bucket", "_sum", "_count"].iter().fold(name, |n, suffix| n.strip_suffix(suffix).unwrap_or(n));
        assert!(typed.contains(name) || typed.contains(family), "sample before its TYPE: {line}");
        samples.insert(series.to_owned(), value);
    }
    samples
}

#[test]
fn serve_refuses_a_huge_chunked_body_with_413_and_stays_small() {
    let (_scratch, dir) = plugin_folder();
    let serve = Serve::start(&dir, &[]);
    let addr = serve.addr;

    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let reader = stream.try_clone().expect("clone the stream");
    let response = thread::spawn(move || {
        let mut reader = reader;
        let mut response = Vec::new();
        let _ = reader.read_to_end(&mut response);
        response
    });
    let head = format!("POST /greeter/greet HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("send the head");
    // Up to 1 GiB in 1 MiB chunks; the server stops reading at 16 MiB and closes.
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0usize;
    for _ in 0..1024 {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if stream.write_all(&frame).is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent < 1024, "the server read the whole 1 GiB body");
    let response = response.join().expect("reader thread");
    let (status, body) = parse_response(&response).expect("a response before the close");
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("--max-body"), "{body}");

    // A declared length over the limit is refused without reading.
    let (status, _) = http_with(addr, "POST", "/greeter/greet", &[("Host", "localhost")], &vec![b'y'; (16 << 20) + 1])
        .unwrap_or((413, String::new()));
    assert_eq!(status, 413);

    // A 1 MB header: 431, without reading it all.
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let reader = stream.try_clone().expect("clone the stream");
    let response = thread::spawn(move || {
        let mut reader = reader;
        let mut response = Vec::new();
        let _ = reader.read_to_end(&mut response);
        response
    });
    let head = format!("GET /-/healthz HTTP/1.1\r\nHost: {addr}\r\nX-Big: {}\r\n\r\n", "a".repeat(1 << 20));
    let _ = stream.write_all(head.as_bytes());
    let (status, _) = parse_response(&response.join().expect("reader thread")).expect("a response to a huge head");
    assert_eq!(status, 431);

    assert_eq!(call(addr, "POST", "/greeter/greet", b"ann").0, 200, "the server still answers");
    let peak = serve.peak_rss_kb();
    assert!(peak < 100 * 1024, "peak RSS {peak} kB");
}

#[test]
fn serve_cuts_slow_clients_after_the_read_timeout_without_blocking_others() {
    let (_scratch, dir) = plugin_folder();
    let serve = Serve::start(&dir, &["--read-timeout", "1000", "--threads", "1"]);
    let addr = serve.addr;

    // Eight slow uploads: the head and 2 bytes of a 1000-byte body, then silence.
    let slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            let head = format!("POST /greeter/greet HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000\r\n\r\nab");
            s.write_all(head.as_bytes()).expect("send");
            s.set_read_timeout(Some(WAIT)).expect("timeout");
            s
        })
        .collect();
    // Plus eight that send half a head.
    let half: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(b"POST /greeter/greet HTTP/1.1\r\nHost: loc").expect("send");
            s.set_read_timeout(Some(WAIT)).expect("timeout");
            s
        })
        .collect();
    let (status, body) = call(addr, "POST", "/greeter/greet", b"ann");
    assert_eq!(status, 200, "a normal request is answered while slow clients wait: {body}");

    for mut s in slow {
        let mut response = Vec::new();
        let _ = s.read_to_end(&mut response);
        let (status, body) = parse_response(&response).expect("a 408 response");
        assert_eq!(status, 408, "{body}");
    }
    for mut s in half {
        // The connection is closed (hyper may or may not write a 408 first).
        let mut response = Vec::new();
        let read = s.read_to_end(&mut response);
        assert!(read.is_ok() || response.is_empty(), "{read:?}");
    }
    assert_eq!(call(addr, "POST", "/greeter/greet", b"bob").0, 200);
}

#[test]
fn serve_checks_the_host_header_and_the_token() {
    let (scratch, dir) = plugin_folder();
    let token_file = scratch.path().join("token");
    std::fs::write(&token_file, "s3cret-token-of-thirty-two-chars\n").expect("write the token");
    std::fs::set_permissions(&token_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod 600");
    let token = token_file.to_str().expect("utf-8 path");

    let serve = Serve::start(&dir, &["--token-file", token, "--allow-host", "plugins.test"]);
    let addr = serve.addr;
    let post = |path: &str, headers: &[(&str, &str)]| http_with(addr, "POST", path, headers, b"x").expect(path);

    assert_eq!(post("/greeter/greet", &[("Host", "evil.example")]).0, 421);
    assert_eq!(post("/greeter/greet", &[("Host", "evil.example:80")]).0, 421);
    assert_eq!(post("/greeter/greet", &[]).0, 421, "no Host at all");
    assert_eq!(post("/greeter/greet", &[("Host", "localhost")]).0, 200);
    assert_eq!(post("/greeter/greet", &[("Host", &format!("localhost:{}", addr.port()))]).0, 200);
    assert_eq!(post("/greeter/greet", &[("Host", "plugins.test")]).0, 200, "--allow-host");

    let host = addr.to_string();
    assert_eq!(post("/-/rollback/greeter", &[("Host", &host)]).0, 401);
    assert_eq!(post("/-/rollback/greeter", &[("Host", &host), ("Authorization", "Bearer wrong")]).0, 401);
    assert_eq!(
        post("/-/rollback/greeter", &[("Host", &host), ("Authorization", "Bearer s3cret-token-of-thirty-two-chars")]).0,
        409
    );
    assert_eq!(post("/greeter/greet", &[("Host", &host)]).0, 200, "calls are open without --protect-calls");
    drop(serve);

    let serve = Serve::start(&dir, &["--token-file", token, "--protect-calls"]);
    let addr = serve.addr;
    let host = addr.to_string();
    let post = |path: &str, headers: &[(&str, &str)]| http_with(addr, "POST", path, headers, b"x").expect(path);
    assert_eq!(post("/greeter/greet", &[("Host", &host)]).0, 401);
    assert_eq!(
        post("/greeter/greet", &[("Host", &host), ("Authorization", "Bearer s3cret-token-of-thirty-two-chars")]).0,
        200
    );
    assert_eq!(http(addr, "GET", "/-/healthz", b"").expect("healthz").0, 200, "health needs no token");
    assert_eq!(http(addr, "GET", "/-/modules", b"").expect("modules").0, 401);
    assert_eq!(http(addr, "GET", "/-/metrics", b"").expect("metrics").0, 401);
    let bearer = [("Host", host.as_str()), ("Authorization", "Bearer s3cret-token-of-thirty-two-chars")];
    assert_eq!(http_with(addr, "GET", "/-/metrics", &bearer, b"").expect("metrics").0, 200);
}

#[test]
fn serve_refuses_a_non_loopback_address_without_a_token() {
    let scratch = hotpack_testkit::scratch();
    let out = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .arg("serve")
        .arg(scratch.path())
        .args(["--addr", "0.0.0.0:0"])
        .env_remove("HOTPACK_TOKEN")
        .output()
        .expect("run hotpack serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without a token"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn serve_reports_health_metrics_refusals_probes_and_the_version_cap() {
    let (_scratch, dir) = plugin_folder();
    // A bundle whose module is unknown and whose library does not load: refused.
    hotpack_archive::write_atomic(&dir.join("ghost.zip"), &ghost_bundle()).expect("write ghost");
    // In process: the version cap counts versions mapped here (a worker maps none here).
    let serve = Serve::start(&dir, &["--in-process", "--max-versions", "2", "--probe", "greeter/greet=probe"]);
    let addr = serve.addr;
    let refusals: Vec<&String> = serve.startup.iter().filter(|l| l.contains("ghost.zip")).collect();
    assert_eq!(refusals.len(), 1, "a refused bundle is logged once: {refusals:?}");
    assert!(refusals[0].contains("refused") && refusals[0].contains("ghost 1.0.0"), "{refusals:?}");
    assert!(serve.startup.iter().any(|l| l.contains("deployed greeter 1.0.0") && l.contains("promoted")));
    let unsigned_notes = serve.startup.iter().filter(|l| l.contains("accepting unsigned")).count();
    assert_eq!(unsigned_notes, 1, "without --trusted-key serve says once that it runs unsigned code");

    let (status, body) = call(addr, "GET", "/-/healthz", b"");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("JSON health");
    assert_eq!(health["status"], "ok", "{health}");

    let (_, body) = call(addr, "GET", "/-/modules", b"");
    let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON listing");
    let names: Vec<&str> =
        listing["modules"].as_array().expect("modules").iter().filter_map(|m| m["name"].as_str()).collect();
    assert_eq!(names, ["greeter"], "{listing}");
    let refused = listing["refused"].as_array().expect("refused");
    assert_eq!(refused.len(), 1, "{listing}");
    assert!(refused[0]["path"].as_str().is_some_and(|p| p.ends_with("ghost.zip")), "{listing}");
    assert!(refused[0]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{listing}");
    assert_eq!(listing["modules"][0]["state"], "promoted", "{listing}");

    assert_eq!(call(addr, "POST", "/greeter/greet", b"ann").0, 200);
    assert_eq!(call(addr, "POST", "/greeter/nosuch", b"").0, 404);
    let (status, body) = call(addr, "GET", "/-/metrics", b"");
    assert_eq!(status, 200);
    let samples = parse_prometheus(&body);
    assert!(samples["hotpack_http_responses_total{status=\"200\"}"] >= 2.0, "{body}");
    assert!(samples["hotpack_handler_duration_seconds_count"] >= 2.0, "{body}");
    assert!(samples["hotpack_handler_duration_seconds_bucket{le=\"+Inf\"}"] >= 2.0, "{body}");
    assert_eq!(samples["hotpack_mapped_versions"], 1.0, "{body}");
    assert!(samples["hotpack_mapped_bytes"] > 0.0, "{body}");
    assert!(samples["hotpack_open_fds"] > 0.0, "{body}");
    assert_eq!(samples["hotpack_deploys_total{outcome=\"promoted\"}"], 1.0, "{body}");
    assert_eq!(samples["hotpack_deploys_total{outcome=\"refused\"}"], 1.0, "{body}");

    // A second version reaches the cap of 2 (health says so), a third is refused and
    // v2 keeps serving.
    let bundle = dir.join("greeter.zip");
    hotpack_archive::write_atomic(&bundle, &good_bundle("greeter-v2", 1)).expect("write v2");
    assert!(serve.next_outcome().contains("deployed greeter 2.0.0"), "v2 passes the probe");
    let (status, body) = call(addr, "GET", "/-/healthz", b"");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("--max-versions"), "{body}");
    hotpack_archive::write_atomic(&bundle, &good_bundle("fx-greeter-v3-panics", 2)).expect("write a third version");
    let outcome = serve.next_outcome();
    assert!(outcome.contains("refused") && outcome.contains("--max-versions"), "{outcome}");
    let (status, body) = call(addr, "POST", "/greeter/greet", b"ann");
    assert_eq!(status, 200);
    assert!(body.contains("v2") || body.contains("V2"), "{body}");
    // Rolling back to a mapped version is not a new version.
    assert_eq!(call(addr, "POST", "/-/rollback/greeter", b"").0, 200);
    let (_, body) = call(addr, "GET", "/-/metrics", b"");
    let samples = parse_prometheus(&body);
    assert_eq!(samples["hotpack_deploys_total{outcome=\"over_version_cap\"}"], 1.0, "{body}");
    assert_eq!(samples["hotpack_rollbacks_total"], 1.0, "{body}");
}

#[test]
fn serve_refuses_a_candidate_that_fails_its_probe() {
    let (_scratch, dir) = plugin_folder();
    let serve = Serve::start(&dir, &["--probe", "nosuch"]);
    let (status, body) = call(serve.addr, "GET", "/-/modules", b"");
    assert_eq!(status, 200);
    let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON listing");
    assert_eq!(listing["modules"].as_array().map(Vec::len), Some(0), "{listing}");
    let reason = listing["refused"][0]["reason"].as_str().unwrap_or("").to_owned();
    assert!(reason.contains("probe") && reason.contains("nosuch"), "{listing}");
}

#[test]
fn serve_keeps_accepting_after_running_out_of_descriptors() {
    let (_scratch, dir) = plugin_folder();
    let mut serve = Serve::start_under(
        &["prlimit", "--nofile=48:48"],
        &dir,
        &["--max-connections", "1000", "--read-timeout", "500"],
    );
    let addr = serve.addr;
    // More idle connections than descriptors: accept fails with EMFILE until idle ones are cut.
    let held: Vec<TcpStream> = (0..80).filter_map(|_| TcpStream::connect(addr).ok()).collect();
    assert!(held.len() > 48, "only {} connections", held.len());
    let (status, body) = call(addr, "GET", "/-/healthz", b"");
    assert!(status == 200 || status == 503, "{status} {body}");
    drop(held);
    assert_eq!(call(addr, "POST", "/greeter/greet", b"ann").0, 200, "calls are answered");
    let (_, body) = call(addr, "GET", "/-/metrics", b"");
    let samples = parse_prometheus(&body);
    assert!(samples["hotpack_accept_fd_exhausted_total"] >= 1.0, "{body}");
    let (status, body) = call(addr, "GET", "/-/healthz", b"");
    assert_eq!(status, 503, "health reports the recent exhaustion: {body}");
    assert!(body.contains("descriptors"), "{body}");
    assert!(serve.alive());
    let logged: Vec<String> = serve.log.try_iter().filter(|l| l.contains("cannot accept")).collect();
    assert_eq!(logged.len(), 1, "logged once: {logged:?}");
}

/// A bundle whose module `ghost` has a library that is not a library.
fn ghost_bundle() -> Vec<u8> {
    let spec = PackSpec {
        meta: ModuleMeta {
            name: "ghost".into(),
            version: hotpack_archive::semver::Version::new(1, 0, 0),
            abi_version: hotpack::abi::ABI_VERSION,
            rustc: hotpack::abi::RUSTC_VERSION.into(),
            interfaces: vec![],
            handlers: vec!["greet".into()],
            hooks: Hooks::default(),
        },
        target: hotpack::abi::TARGET.into(),
        library_name: "libghost.so".into(),
        library: b"not a shared object".to_vec(),
        resources: vec![],
    };
    hotpack_archive::pack(&spec).expect("pack a broken bundle")
}

#[test]
fn control_characters_from_a_bundle_never_reach_the_terminal() {
    // An entry name that would erase the line and print a fake success, and a bell; the
    // zip crate writes what hotpack's packer refuses to.
    let evil = "data/\u{1b}[2K\rok: all good\u{7}.txt";
    let scratch = hotpack_testkit::scratch();
    let path = scratch.path().join("evil.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    zip.start_file(evil, zip::write::SimpleFileOptions::default()).expect("start an entry");
    zip.write_all(b"x").expect("write an entry");
    zip.finish().expect("finish the zip");

    for sub in ["inspect", "verify"] {
        let out = crate::inspect::hotpack(&[sub.as_ref(), path.as_os_str()]);
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        let text = String::from_utf8_lossy(&all);
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\r'), "{sub}: {text:?}");
        assert!(text.contains("\\u{1b}"), "{sub} shows the escape visibly: {text}");
    }
}

/// A bundle of fixture `package` (module `name`), packed without loading it: its
/// constructor would kill the test process.
fn raw_fixture_bundle(package: &str, name: &str, init: bool) -> Vec<u8> {
    let spec = PackSpec {
        meta: ModuleMeta {
            name: name.into(),
            version: hotpack_archive::semver::Version::new(0, 1, 0),
            abi_version: hotpack::abi::ABI_VERSION,
            rustc: hotpack::abi::RUSTC_VERSION.into(),
            interfaces: vec![],
            handlers: vec!["hello".into()],
            hooks: Hooks { init, ..Hooks::default() },
        },
        target: hotpack::abi::TARGET.into(),
        library_name: format!("lib{}.so", package.replace('-', "_")),
        library: hotpack_testkit::module_bytes(package),
        resources: vec![],
    };
    hotpack_archive::pack(&spec).expect("pack a fixture bundle")
}

#[test]
fn serve_preflight_refuses_candidates_that_crash_exit_hang_or_hoard_and_keeps_serving() {
    let (_scratch, dir) = plugin_folder();
    let mut serve = Serve::start(
        &dir,
        // In process: under isolation the candidate's first worker is its preflight.
        &[
            "--in-process",
            "--preflight",
            "--preflight-timeout",
            "3000",
            "--preflight-memory",
            "512",
            "--probe",
            "greeter/greet=probe",
        ],
    );
    assert!(serve.startup.iter().any(|l| l.contains("deployed greeter 1.0.0") && l.contains("promoted")));
    let cases = [
        ("fx-ctor-abort", "ctor-abort", false, "killed by SIGABRT"),
        ("fx-ctor-exit", "ctor-exit", false, "exited with code 3"),
        ("fx-init-hang", "init-hang", true, "did not finish within 3000 ms"),
        ("fx-init-oom", "init-oom", true, "SIGABRT"),
    ];
    for (package, name, init, expected) in cases {
        let file = format!("{name}.zip");
        hotpack_archive::write_atomic(&dir.join(&file), &raw_fixture_bundle(package, name, init)).expect("write");
        let outcome = serve.next_outcome();
        assert!(outcome.contains("refused") && outcome.contains(&file), "{package}: {outcome}");
        assert!(outcome.contains("preflight") && outcome.contains(expected), "{package}: {outcome}");
        assert!(serve.alive(), "{package} took the server down");
        let (status, body) = call(serve.addr, "POST", "/greeter/greet", b"ann");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("v1"), "{body}");
    }
    // The listing records a refusal just after the log line: wait for the fourth.
    let started = std::time::Instant::now();
    let listing = loop {
        let (_, body) = call(serve.addr, "GET", "/-/modules", b"");
        let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON listing");
        if listing["refused"].as_array().map(Vec::len) == Some(4) || started.elapsed() > WAIT {
            break listing;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let refused = listing["refused"].as_array().expect("refused");
    assert_eq!(refused.len(), 4, "{listing}");
    assert!(refused.iter().all(|r| r["reason"].as_str().is_some_and(|s| s.contains("preflight"))), "{listing}");
    let (_, body) = call(serve.addr, "GET", "/-/metrics", b"");
    assert_eq!(parse_prometheus(&body)["hotpack_mapped_versions"], 1.0, "none of them was mapped: {body}");

    // A good version passes the child and its probe, then the host's gates.
    hotpack_archive::write_atomic(&dir.join("greeter.zip"), &good_bundle("greeter-v2", 1)).expect("write v2");
    let outcome = serve.next_outcome();
    assert!(outcome.contains("deployed greeter 2.0.0"), "{outcome}");
}

/// A module built with `panic = "abort"` would kill the host at its first panic: `serve`
/// refuses it with the one-line fix while the serving version keeps answering, and the
/// server stays up.
#[test]
fn serve_refuses_a_panic_abort_module_and_stays_up() {
    let (_scratch, dir) = plugin_folder();
    let mut serve = Serve::start(&dir, &[]);
    let library = std::fs::read(hotpack_testkit::panic_abort_module()).expect("read the panic=abort module");
    let spec = PackSpec {
        meta: ModuleMeta {
            name: "panic-abort".into(),
            version: hotpack_archive::semver::Version::new(1, 0, 0),
            abi_version: hotpack::abi::ABI_VERSION,
            rustc: hotpack::abi::RUSTC_VERSION.into(),
            interfaces: vec![],
            handlers: vec!["boom".into()],
            hooks: Hooks::default(),
        },
        target: hotpack::abi::TARGET.into(),
        library_name: "libfx_panic_abort.so".into(),
        library,
        resources: vec![],
    };
    let bundle = hotpack_archive::pack(&spec).expect("pack the panic=abort module");
    hotpack_archive::write_atomic(&dir.join("panic-abort.zip"), &bundle).expect("write");
    let outcome = serve.next_outcome();
    assert!(outcome.contains("refused") && outcome.contains("panic-abort.zip"), "{outcome}");
    assert!(outcome.contains("panic = \\\"abort\\\"") || outcome.contains("panic = \"abort\""), "{outcome}");
    assert!(outcome.contains("unwind"), "the fix is named: {outcome}");
    assert!(serve.alive(), "a panic=abort module took the server down");
    let (status, body) = call(serve.addr, "POST", "/greeter/greet", b"ann");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("v1"), "{body}");
    let (status, _) = call(serve.addr, "POST", "/panic-abort/boom", b"");
    assert_eq!(status, 404, "the refused module is never callable");
}
