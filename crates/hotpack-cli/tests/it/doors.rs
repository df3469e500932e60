//! Every door of `hotpack serve` tried the way it was found open (issue 21): a forged Host,
//! a dribbled body, a world-readable or short token, unprotected routes on a network bind.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::serve::{Serve, call, http_with, plugin_folder, raw};

const TOKEN: &str = "a-token-of-at-least-thirty-two-characters";

/// A token file with `mode`.
fn token_file(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, text).expect("write the token");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode)).expect("chmod");
    path
}

/// `hotpack serve` that must refuse to start: (exit code, stderr).
fn refused(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .arg("serve")
        .arg(dir)
        .args(args)
        .env("XDG_CACHE_HOME", dir.parent().expect("a parent").join("cache"))
        .env_remove("HOTPACK_TOKEN")
        .envs(env.iter().copied())
        .output()
        .expect("run hotpack serve");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_host_check_refuses_every_malformed_or_ambiguous_form() {
    let (_scratch, dir) = plugin_folder();
    let serve = Serve::start(&dir, &[]);
    let addr = serve.addr;
    let port = addr.port();
    let ok = format!("127.0.0.1:{port}");
    let post = |target: &str, hosts: &[&str]| {
        let mut head = format!("POST {target} HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n");
        for h in hosts {
            head.push_str(&format!("Host: {h}\r\n"));
        }
        head.push_str("\r\nann");
        raw(addr, head.as_bytes()).unwrap_or_else(|e| panic!("{target} {hosts:?}: {e}"))
    };
    assert_eq!(post("/greeter/greet", &[&ok]).0, 200);
    assert_eq!(post("/greeter/greet", &["localhost"]).0, 200);
    for host in [
        format!("127.0.0.1:{port}@evil.example"),
        format!("evil.example@127.0.0.1:{port}"),
        format!("127.0.0.1:{port}/evil"),
        format!("127.0.0.1:{port}:{port}"),
        "127.0.0.1:".to_owned(),
        "127.0.0.1:http".to_owned(),
        "127.0.0.1:123456".to_owned(),
        "[::1".to_owned(),
        "[127.0.0.1]".to_owned(),
        format!("[::1]x:{port}"),
        "local host".to_owned(),
        "".to_owned(),
        "evil.example".to_owned(),
    ] {
        let (status, body) = post("/greeter/greet", &[&host]);
        assert_eq!(status, 421, "Host {host:?}: {body}");
    }
    let (status, body) = post("/greeter/greet", &[&ok, "evil.example"]);
    assert_eq!(status, 421, "a second Host: {body}");
    assert!(body.contains("exactly one Host"), "{body}");
    let (status, body) = post("/greeter/greet", &[&ok, &ok]);
    assert_eq!(status, 421, "the same Host twice: {body}");
    // Absolute form: the target's authority must be the Host.
    let (status, body) = post("http://evil.example/greeter/greet", &[&ok]);
    assert_eq!(status, 421, "{body}");
    assert!(body.contains("target names"), "{body}");
    let (status, body) = post(&format!("http://{ok}/greeter/greet"), &[&ok]);
    assert_eq!(status, 200, "an agreeing absolute form: {body}");
}

/// A body dribbled one byte every 2 s never stalls past the read timeout, yet is cut at
/// `--body-timeout`; another client is served meanwhile.
#[test]
fn a_dribbled_body_is_cut_at_the_body_timeout() {
    let (_scratch, dir) = plugin_folder();
    let serve = Serve::start(&dir, &["--read-timeout", "5000", "--body-timeout", "3000"]);
    let addr = serve.addr;
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let head = format!("POST /greeter/greet HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\n");
    s.write_all(head.as_bytes()).expect("send the head");
    let mut sent = 0;
    let mut response = Vec::new();
    // One byte every 2 s (inside the 5 s read timeout) until the server answers.
    while sent < 100 {
        if s.write_all(b"x").is_err() {
            break;
        }
        sent += 1;
        s.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => {}
        }
        assert_eq!(call(addr, "POST", "/greeter/greet", b"bob").0, 200, "others are served meanwhile");
    }
    let _ = s.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{sent} bytes sent: {text}");
    assert!(text.contains("--body-timeout"), "{text}");
    assert!(sent < 10, "cut after {sent} bytes");
}

#[test]
fn body_timeout_has_a_default_in_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_hotpack")).args(["serve", "--help"]).output().expect("help");
    let help = String::from_utf8_lossy(&out.stdout);
    let line = help.lines().skip_while(|l| !l.contains("--body-timeout")).take(4).collect::<Vec<_>>().join(" ");
    assert!(line.contains("[default: 30000]"), "{help}");
}

#[test]
fn token_files_must_be_private_and_tokens_long() {
    let (scratch, dir) = plugin_folder();
    let readable = token_file(scratch.path(), TOKEN, 0o644);
    let (code, err) = refused(&dir, &["--token-file", readable.to_str().expect("utf-8")], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("group or others may read it"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let short = token_file(scratch.path(), "x", 0o600);
    let (code, err) = refused(&dir, &["--addr", "0.0.0.0:0", "--token-file", short.to_str().expect("utf-8")], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("at least 32"), "{err}");
    let (code, err) = refused(&dir, &["--addr", "0.0.0.0:0"], &[("HOTPACK_TOKEN", "short")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("HOTPACK_TOKEN") && err.contains("at least 32"), "{err}");
}

/// On a network bind every route but `/-/healthz` needs the token, unless `--public-calls`.
#[test]
fn a_network_bind_protects_every_route_but_healthz() {
    let (scratch, dir) = plugin_folder();
    let file = token_file(scratch.path(), TOKEN, 0o600);
    let file = file.to_str().expect("utf-8");
    let bearer = format!("Bearer {TOKEN}");
    for (extra, open) in [(&[][..], false), (&["--public-calls"][..], true)] {
        let args: Vec<&str> = [&["--addr", "0.0.0.0:0", "--token-file", file][..], extra].concat();
        let serve = Serve::start(&dir, &args);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], serve.addr.port()));
        let host = [("Host", "localhost")];
        let with_token = [("Host", "localhost"), ("Authorization", bearer.as_str())];
        let get = |path: &str, h: &[(&str, &str)]| http_with(addr, "GET", path, h, b"").expect(path).0;
        let post = |path: &str, h: &[(&str, &str)]| http_with(addr, "POST", path, h, b"ann").expect(path).0;
        assert_eq!(get("/-/healthz", &host), 200);
        let want = if open { 200 } else { 401 };
        assert_eq!(post("/greeter/greet", &host), want, "calls, {extra:?}");
        assert_eq!(get("/-/modules", &host), want, "modules, {extra:?}");
        assert_eq!(get("/-/metrics", &host), want, "metrics, {extra:?}");
        assert_eq!(post("/-/rollback/greeter", &host), 401, "rollback always needs the token");
        assert_eq!(post("/greeter/greet", &with_token), 200);
        assert_eq!(get("/-/modules", &with_token), 200);
        assert_eq!(get("/-/metrics", &with_token), 200);
    }
}

/// Links to `/` and `/usr` and a directory full of files dropped into the served folder cost
/// nothing: the next bundle deploys at once (it waited 30 s and more behind a walk of `/`),
/// and no warning per file of the target is logged.
#[test]
fn links_to_directories_in_the_folder_are_not_walked() {
    let (_scratch, dir) = plugin_folder();
    let serve = Serve::start(&dir, &[]);
    std::os::unix::fs::symlink("/", dir.join("slash")).expect("link to /");
    std::os::unix::fs::symlink("/usr", dir.join("usr.zip")).expect("link to /usr named like a bundle");
    std::fs::create_dir(dir.join("sub")).expect("a subdirectory");
    for i in 0..50 {
        std::fs::write(dir.join("sub").join(format!("lib{i}.so")), b"not a library").expect("write");
    }
    hotpack_archive::write_atomic(&dir.join("greeter.zip"), &crate::serve::good_bundle("greeter-v2", 1))
        .expect("write v2");
    let mut lines = Vec::new();
    loop {
        let line = serve.log.recv_timeout(Duration::from_secs(30)).expect("v2 deployed in time");
        if line.contains("deployed greeter 2.0.0") {
            break;
        }
        lines.push(line);
    }
    assert!(lines.len() < 10, "{} lines before the deploy: {lines:#?}", lines.len());
    assert!(lines.iter().all(|l| !l.contains("/sub/")), "{lines:#?}");
    assert_eq!(call(serve.addr, "GET", "/-/healthz", b"").0, 200);
}

/// Unmounts (lazily) when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A full disk under the journal: v2's library copy cannot be stored, so v2 is refused and
/// v1 keeps serving, the host says it is not durable, and after `kill -9` it comes back on
/// v1 (it came back older than what served when the object was stored after promotion).
/// The journal directory is a small tmpfs (v1's copy fits, v2's does not) when this test may
/// mount one (root), else v2's object path is blocked by a directory.
#[test]
fn a_full_disk_refuses_the_deploy_and_a_kill_9_comes_back_on_what_served() {
    let (scratch, dir) = plugin_folder();
    let folder = dir.canonicalize().expect("canonical folder");
    let key = hotpack::detect::blake3::hash(folder.as_os_str().as_encoded_bytes()).to_hex();
    let journal_dir = scratch.path().join("cache").join("hotpack").join("serve").join(&key[..16]);
    std::fs::create_dir_all(&journal_dir).expect("create the journal directory");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=600k,mode=0700", "tmpfs"])
        .arg(&journal_dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        .then(|| Mounted(journal_dir.clone()));
    if mounted.is_none() {
        let v2 = hotpack::detect::blake3::hash(&hotpack_testkit::module_bytes("greeter-v2")).to_hex();
        std::fs::create_dir_all(journal_dir.join("objects").join(format!("{v2}.so"))).expect("block v2's object");
    }

    let serve = Serve::start(&dir, &[]);
    assert_eq!(call(serve.addr, "GET", "/-/healthz", b"").0, 200, "v1 stored: durable");
    hotpack_archive::write_atomic(&dir.join("greeter.zip"), &crate::serve::good_bundle("greeter-v2", 1))
        .expect("write v2");
    let outcome = serve.next_outcome();
    assert!(outcome.contains("refused") && outcome.contains("could not be stored"), "{outcome}");
    if mounted.is_some() {
        assert!(outcome.contains("No space left on device"), "the cause is kept: {outcome}");
    }
    let (_, body) = call(serve.addr, "POST", "/greeter/greet", b"ann");
    assert!(body.contains("(v1,"), "v1 keeps serving: {body}");
    let (status, body) = call(serve.addr, "GET", "/-/healthz", b"");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not durable"), "{body}");
    let (_, body) = call(serve.addr, "GET", "/-/modules", b"");
    let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(listing["journal"]["durable"], false, "{listing}");

    let pid = serve.pid();
    assert!(Command::new("kill").args(["-9", &pid.to_string()]).status().is_ok_and(|s| s.success()));
    drop(serve);
    let serve = Serve::start(&dir, &[]);
    let (_, body) = call(serve.addr, "POST", "/greeter/greet", b"ann");
    assert!(body.contains("(v1,"), "back on what served, never older: {body}");
    drop(serve);
    drop(mounted);
}
