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
struct Serve {
    child: Child,
    stdout: Receiver<String>,
    addr: SocketAddr,
}

impl Serve {
    fn start(dir: &Path, extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotpack"))
            .arg("serve")
            .arg(dir)
            .args(["--addr", "127.0.0.1:0", "--quiet-ms", "30"])
            .args(extra)
            .env("XDG_CACHE_HOME", dir.parent().expect("dir has a parent").join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn hotpack serve");
        let stdout = lines(child.stdout.take().expect("piped stdout"));
        // Owned by a `Serve` at once, so a failed wait below still kills the process.
        let mut serve = Serve { child, stdout, addr: SocketAddr::from(([127, 0, 0, 1], 0)) };
        loop {
            let line = serve.stdout.recv_timeout(WAIT).expect("hotpack serve printed no 'listening' line");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                serve.addr = rest.trim().parse().expect("a socket address after 'listening on'");
                return serve;
            }
        }
    }

    /// The next deploy outcome line ("deployed ..." or "refused ...").
    fn next_outcome(&self) -> String {
        loop {
            let line = self.stdout.recv_timeout(WAIT).expect("hotpack serve reported no deploy outcome");
            if line.contains("deployed ") || line.contains("refused ") {
                return line;
            }
        }
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

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(WAIT))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

fn call(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    http(addr, method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A good bundle of `package`, made unique by a `step` resource (same library bytes).
fn good_bundle(package: &str, step: usize) -> Vec<u8> {
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
