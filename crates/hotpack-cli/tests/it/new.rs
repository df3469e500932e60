//! `hotpack new`: a scaffolded module crate builds on its own (outside this workspace), packs,
//! serves, and answers a real HTTP call; bad names and non-empty directories are refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

pub(crate) fn hotpack(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpack")).args(args).output().expect("run hotpack")
}

/// A running `hotpack serve DIR` on a free loopback port, killed when dropped.
pub(crate) struct Served {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Served {
    pub(crate) fn start(dir: &Path, cache: &Path) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotpack"))
            .arg("serve")
            .arg(dir)
            .args(["--addr", "127.0.0.1:0"])
            .env("XDG_CACHE_HOME", cache)
            .env_remove("HOTPACK_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn hotpack serve");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
        let addr = line.trim().rsplit("http://").next().and_then(|a| a.parse().ok());
        let mut served = Served { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)) };
        served.addr = addr.unwrap_or_else(|| panic!("no address in {line:?}"));
        served
    }

    /// `POST /<path>` with `body`: (status, body).
    pub(crate) fn post(&self, path: &str, body: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body)).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read the response");
        let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status code");
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, body)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_new_module_builds_outside_the_workspace_packs_and_serves() {
    let dir = hotpack_testkit::scratch();
    let krate = dir.path().join("greet");
    let abi = hotpack_testkit::workspace_root().join("crates").join("hotpack-abi");
    let out = hotpack(&[
        "new".as_ref(),
        "greet".as_ref(),
        "--path".as_ref(),
        krate.as_os_str(),
        "--abi-path".as_ref(),
        abi.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).expect("Cargo.toml");
    for needle in ["crate-type = [\"cdylib\"]", "panic = \"unwind\"", "\n[workspace]\n", "hotpack-abi = { version = "] {
        assert!(manifest.contains(needle), "{needle} missing from:\n{manifest}");
    }
    let readme = std::fs::read_to_string(krate.join("README.md")).expect("README.md");
    for needle in ["hotpack dev", "hotpack pack", "hotpack serve", "curl"] {
        assert!(readme.contains(needle), "{needle} missing from the README");
    }

    // Its own build, as a user runs it (a target dir under ours, so reruns are warm).
    let target = hotpack_testkit::target_root().join("hotpack-new-test");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = Command::new(&cargo)
        .current_dir(&krate)
        .args(["build", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    assert!(build.status.success(), "cargo build: {}", String::from_utf8_lossy(&build.stderr));
    let test = Command::new(&cargo)
        .current_dir(&krate)
        .args(["test", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    assert!(test.status.success(), "cargo test: {}", String::from_utf8_lossy(&test.stderr));
    assert!(String::from_utf8_lossy(&test.stdout).contains("1 passed"), "{}", String::from_utf8_lossy(&test.stdout));

    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    let bundle = plugins.join("greet.zip");
    let lib = target.join("release").join("libgreet.so");
    let packed = hotpack(&["pack".as_ref(), lib.as_os_str(), "-o".as_ref(), bundle.as_os_str()]);
    assert!(packed.status.success(), "{}", String::from_utf8_lossy(&packed.stderr));

    let served = Served::start(&plugins, &dir.path().join("cache"));
    assert_eq!(served.post("/greet/run", b"ada"), (200, "hello, ada".to_owned()));
    let (status, body) = served.post("/greet/nope", b"");
    assert_eq!(status, 404);
    assert!(body.contains("its handlers: run"), "an unknown handler names the ones that exist: {body}");
}

#[test]
fn refuses_a_bad_name_and_a_non_empty_directory() {
    let dir = hotpack_testkit::scratch();
    for name in ["..", "9lives", "a/b", "has space"] {
        let out = hotpack(&["new".as_ref(), name.as_ref(), "--path".as_ref(), dir.path().join("x").as_os_str()]);
        assert_eq!(out.status.code(), Some(2), "a bad name is a usage error: {name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: invalid value"), "{name}: {err}");
    }
    assert!(!dir.path().join("x").exists(), "nothing is written for a bad name");

    std::fs::write(dir.path().join("keep.txt"), "mine").expect("write");
    let out = hotpack(&["new".as_ref(), "ok".as_ref(), "--path".as_ref(), dir.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already exists and is not empty"), "{err}");
    assert!(!dir.path().join("Cargo.toml").exists());

    // An empty directory is fine; without --abi-path the dependency is the checkout the CLI
    // was built from.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let out = hotpack(&["new".as_ref(), "ok-mod".as_ref(), "--path".as_ref(), empty.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = std::fs::read_to_string(empty.join("Cargo.toml")).expect("Cargo.toml");
    let abi = hotpack_testkit::workspace_root().join("crates").join("hotpack-abi");
    assert!(manifest.contains(&format!("path = {:?}", abi.display().to_string())), "{manifest}");
}

/// What a new user types, outside any repository, with no flags:
/// `hotpack new x && cd x && cargo build --release && hotpack dev .` (dev runs the scaffold's
/// `run` handler). The crate gets a git repository like `cargo new`'s, and its README points
/// at nothing that does not exist.
#[test]
fn new_then_build_then_dev_with_no_flags() {
    let dir = hotpack_testkit::scratch();
    let out =
        Command::new(env!("CARGO_BIN_EXE_hotpack")).args(["new", "x"]).current_dir(dir.path()).output().expect("new");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hotpack dev ."), "the next step is named");
    let krate = dir.path().join("x");
    let has_git = Command::new("git").arg("--version").output().is_ok_and(|o| o.status.success());
    let in_repo = Command::new("git")
        .args(["rev-parse", "--is-inside-work-tree"])
        .current_dir(dir.path())
        .output()
        .is_ok_and(|o| o.status.success());
    if has_git && !in_repo {
        assert!(krate.join(".git").is_dir(), "git init like cargo new");
    }
    let readme = std::fs::read_to_string(krate.join("README.md")).expect("README.md");
    assert!(!readme.contains("docs.rs"), "no link to a page that does not exist:\n{readme}");

    // Shared target dirs keep this cheap: hotpack-abi compiles once per target dir.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = hotpack_testkit::target_root().join("hotpack-new-test");
    let build = Command::new(&cargo)
        .current_dir(&krate)
        .args(["build", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    assert!(build.status.success(), "cargo build: {}", String::from_utf8_lossy(&build.stderr));

    let mut dev = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .args(["dev", "."])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hotpack dev");
    let stdout = dev.stdout.take().expect("piped");
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        let done = line.contains("result: ") || line.contains("failed");
        seen.push(line);
        if done {
            break;
        }
    }
    let _ = dev.kill();
    let _ = dev.wait();
    assert!(seen.iter().any(|l| l == "hotpack-dev: result: hello, world"), "{seen:#?}");
}

/// An installed CLI whose checkout is gone writes the hotpack-abi sources it was built from
/// into the new crate (`vendor/hotpack-abi`), and the crate builds from them.
#[test]
fn without_the_checkout_the_abi_sources_are_written_into_the_crate() {
    let dir = hotpack_testkit::scratch();
    let krate = dir.path().join("y");
    let out = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .args(["new", "y"])
        .current_dir(dir.path())
        .env("HOTPACK_NEW_EMBEDDED_ABI", "1")
        .output()
        .expect("new");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).expect("Cargo.toml");
    assert!(manifest.contains("path = \"vendor/hotpack-abi\""), "{manifest}");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = Command::new(&cargo)
        .current_dir(&krate)
        .args(["build", "--release", "--quiet"])
        .env("CARGO_TARGET_DIR", hotpack_testkit::target_root().join("hotpack-new-test"))
        .output()
        .expect("run cargo");
    assert!(build.status.success(), "cargo build: {}", String::from_utf8_lossy(&build.stderr));
}
