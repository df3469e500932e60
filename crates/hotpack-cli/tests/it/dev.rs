//! `hotpack dev`: a real module crate edited on disk while the real binary rebuilds,
//! swaps and reruns it on data it loaded once.

use hotpack_testkit::procs::{descendants, gone};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

/// Builds can take a while on a busy 2-core machine.
const WAIT: Duration = Duration::from_secs(240);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the workspace root exists")
}

/// One target directory for every crate these tests build, so hotpack-abi compiles once.
fn target_dir() -> PathBuf {
    hotpack_testkit::target_root().join("hotpack-dev-tests")
}

/// A module crate outside our workspace, depending on the workspace's hotpack-abi by path.
fn write_crate(dir: &Path, body: &str) {
    std::fs::create_dir_all(dir.join("src")).expect("create the crate");
    let abi = workspace_root().join("crates").join("hotpack-abi");
    let manifest = format!(
        "[package]\nname = \"devmod\"\nversion = \"1.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nhotpack-abi = {{ path = {:?} }}\n\n\
         [workspace]\n",
        abi.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    write_source(dir, body);
}

fn write_source(dir: &Path, body: &str) {
    let source = format!(
        "//! A module under edit.\n\n{body}\n\nhotpack_abi::module! {{\n    name: \"devmod\",\n    \
         version: env!(\"CARGO_PKG_VERSION\"),\n    handlers: {{ \"run\" => run }},\n}}\n"
    );
    std::fs::write(dir.join("src").join("lib.rs"), source).expect("write lib.rs");
}

const GOOD_1: &str = "fn run(data: &[u8]) -> String { format!(\"answer-1 over {} bytes\", data.len()) }";
const BROKEN: &str = "fn run(data: &[u8]) -> String { this does not compile }";
const PANICS: &str = "fn run(data: &[u8]) -> String { panic!(\"edit panicked on {} bytes\", data.len()) }";
const GOOD_2: &str = "fn run(data: &[u8]) -> String { format!(\"answer-2: {} newlines\", data.iter().filter(|b| **b == b'\\n').count()) }";

struct Dev {
    child: Child,
    stdout: Receiver<String>,
    seen: Vec<String>,
}

impl Dev {
    /// `hotpack dev DIR` building into `target` (tests running at once need their own: the
    /// crates share a name, so one build would overwrite the other's library).
    fn spawn(dir: &Path, data: Option<&Path>, target: &Path) -> Dev {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hotpack"));
        command.arg("dev").arg(dir);
        if let Some(data) = data {
            command.arg("--data").arg(data);
        }
        let mut child = command
            .arg("--target-dir")
            .arg(target)
            .args(["--quiet-ms", "100"])
            .env("XDG_CACHE_HOME", dir.parent().expect("crate dir has a parent").join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn hotpack dev");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Dev { child, stdout: rx, seen: Vec::new() }
    }

    /// Reads lines until one contains `marker`; returns it.
    fn until(&mut self, marker: &str) -> String {
        loop {
            let line = self
                .stdout
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no line with {marker:?}; seen so far:\n{}", self.seen.join("\n")));
            self.seen.push(line.clone());
            if line.contains(marker) {
                return line;
            }
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn dev_rebuilds_swaps_and_reruns_on_resident_data_and_survives_bad_edits() {
    let scratch = hotpack_testkit::scratch();
    let krate = scratch.path().join("devmod");
    write_crate(&krate, GOOD_1);
    let data = scratch.path().join("data.txt");
    std::fs::write(&data, "one\ntwo\nthree\n").expect("write the data");

    let mut dev = Dev::spawn(&krate, Some(&data), &target_dir());
    let result = dev.until("hotpack-dev: result:");
    assert!(result.contains("answer-1 over 14 bytes"), "{result}");
    assert!(dev.seen.iter().any(|l| l.contains("hotpack-dev: deployed v1.0.0")), "{:?}", dev.seen);
    assert!(dev.seen.iter().any(|l| l.contains("hotpack-dev: ran in")), "{:?}", dev.seen);
    dev.until("waiting for changes");

    // A compile error: shown, and the loop goes on with v1 loaded.
    write_source(&krate, BROKEN);
    let failed = dev.until("hotpack-dev: build failed");
    assert!(failed.contains("still serving devmod"), "{failed}");
    dev.until("waiting for changes");

    // A handler that panics: shown, and the last good version is loaded again.
    write_source(&krate, PANICS);
    let failed = dev.until("hotpack-dev: handler failed");
    assert!(failed.contains("edit panicked on 14 bytes"), "{failed}");
    dev.until("hotpack-dev: rolled back to v1.0.0");
    dev.until("waiting for changes");

    // The second good version.
    write_source(&krate, GOOD_2);
    let result = dev.until("hotpack-dev: result:");
    assert!(result.contains("answer-2: 3 newlines"), "{result}");
    dev.until("waiting for changes");

    let loads = dev.seen.iter().filter(|l| l.contains("hotpack-dev: data loaded")).count();
    assert_eq!(loads, 1, "the data was loaded once: {:?}", dev.seen);
}

/// `N.NN ms`, `NN.N ms`, `NNN ms` or the same in `s`: the one duration format.
fn is_duration(text: &str) -> bool {
    let Some((number, unit)) = text.split_once(' ') else { return false };
    let digits = number.chars().filter(char::is_ascii_digit).count();
    matches!(unit, "ms" | "s")
        && number.parse::<f64>().is_ok()
        && (digits == 3 || number.starts_with("0."))
        && !number.contains('e')
}

#[test]
fn dev_without_data_runs_the_handler_on_empty_input() {
    let scratch = hotpack_testkit::scratch();
    let krate = scratch.path().join("devmod");
    write_crate(&krate, GOOD_1);
    let mut dev = Dev::spawn(&krate, None, &target_dir().join("without-data"));
    let result = dev.until("hotpack-dev: result:");
    assert!(result.contains("answer-1 over 0 bytes"), "{result}");
    assert!(dev.seen.iter().any(|l| l.contains("data loaded: 0 bytes")), "{:?}", dev.seen);
    let ran = dev.seen.iter().find_map(|l| l.strip_prefix("hotpack-dev: ran in ")).expect("a ran-in line");
    assert!(is_duration(ran), "durations print one way (`1.23 ms`): {ran:?}");
}

#[test]
fn dev_reports_an_unreadable_data_file_in_one_line() {
    let scratch = hotpack_testkit::scratch();
    let krate = scratch.path().join("devmod");
    write_crate(&krate, GOOD_1);
    let out = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .arg("dev")
        .arg(&krate)
        .arg("--data")
        .arg(scratch.path().join("missing.bin"))
        .output()
        .expect("run hotpack dev");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read data file"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .arg("dev")
        .arg(scratch.path().join("no-crate"))
        .arg("--data")
        .arg(scratch.path().join("missing.bin"))
        .output()
        .expect("run hotpack dev");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a crate directory"), "{stderr}");
}

const ABORTS: &str = "fn run(_: &[u8]) -> String { std::process::abort() }";
const EXITS: &str = "fn run(_: &[u8]) -> String { std::process::exit(9) }";
const OVERFLOWS: &str = "fn depth(n: u64, pad: [u8; 1024]) -> u64 { if n == 0 { u64::from(pad[0]) } else { \
                         depth(n + 1, pad).wrapping_add(u64::from(pad[(n % 1024) as usize])) } }\n\
                         fn run(_: &[u8]) -> String { depth(1, [1; 1024]).to_string() }";
const HOARDS: &str = "fn run(_: &[u8]) -> String { let mut v: Vec<Vec<u8>> = Vec::new(); loop { let mut c = \
                      vec![0u8; 16 << 20]; c[4096] = 1; v.push(c); if v.len() == usize::MAX { return String::new(); } \
                      } }";
const NULL_WRITES: &str = "fn run(_: &[u8]) -> String { let p: *mut u8 = std::hint::black_box(std::ptr::null_mut()); unsafe { p.write_volatile(1) }; String::new() }";
const HANGS: &str = "fn run(_: &[u8]) -> String { loop { std::thread::sleep(std::time::Duration::from_millis(10)); } }";

/// A handler that starts `sleep 1000`, writes its pid to `pid_file`, then does `then`.
fn forks_then(pid_file: &Path, then: &str) -> String {
    format!(
        "fn run(_: &[u8]) -> String {{ let c = std::process::Command::new(\"sleep\").arg(\"1000\").spawn().expect(\"sleep\"); \
         std::fs::write({:?}, c.id().to_string()).expect(\"pid file\"); {then} }}",
        pid_file.display().to_string()
    )
}

/// Waits for `pid_file` to hold a pid; returns it.
fn forked_pid(dev: &Dev, pid_file: &Path) -> u32 {
    let until = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < until {
        if let Some(pid) = std::fs::read_to_string(pid_file).ok().and_then(|s| s.trim().parse().ok()) {
            return pid;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("the handler never wrote {}; seen so far:\n{}", pid_file.display(), dev.seen.join("\n"));
}

#[test]
fn dev_keeps_its_data_and_its_loop_through_every_crash_in_a_worker() {
    let scratch = hotpack_testkit::scratch();
    let krate = scratch.path().join("devmod");
    write_crate(&krate, GOOD_1);
    let data = scratch.path().join("data.txt");
    std::fs::write(&data, "one\ntwo\nthree\n").expect("write the data");
    let target = hotpack_testkit::target_root().join("hotpack-dev-tests-crash");
    let mut dev = Dev::spawn(&krate, Some(&data), &target);
    let result = dev.until("hotpack-dev: result:");
    assert!(result.contains("answer-1 over 14 bytes"), "{result}");
    dev.until("waiting for changes");

    let pid_file = scratch.path().join("forked.pid");
    let forks = forks_then(&pid_file, "std::process::abort()");
    for (body, says) in [
        (ABORTS, &["SIGABRT"][..]),
        (EXITS, &["exited with code 9"][..]),
        (OVERFLOWS, &["SIGABRT", "SIGSEGV"][..]),
        (HOARDS, &["SIGABRT", "SIGKILL", "SIGSEGV"][..]),
        (NULL_WRITES, &["SIGSEGV"][..]),
        (forks.as_str(), &["SIGABRT"][..]),
    ] {
        write_source(&krate, body);
        let failed = dev.until("hotpack-dev: handler failed");
        assert!(says.iter().any(|s| failed.contains(s)), "{failed}");
        dev.until("hotpack-dev: rolled back to v1.0.0");
        dev.until("waiting for changes");
    }
    // The forked child died with its worker.
    let child = forked_pid(&dev, &pid_file);
    assert!(gone(child), "the forked child {child} outlived its worker");

    // A run that never returns (no deadline by default) is ended by the next save.
    write_source(&krate, HANGS);
    dev.until("hotpack-dev: deployed");
    write_source(&krate, GOOD_2);
    dev.until("hotpack-dev: run stopped");
    let result = dev.until("hotpack-dev: result:");
    assert!(result.contains("answer-2: 3 newlines"), "{result}");
    dev.until("waiting for changes");

    let loads = dev.seen.iter().filter(|l| l.contains("hotpack-dev: data loaded")).count();
    assert_eq!(loads, 1, "the data was loaded once: {:?}", dev.seen);
    assert!(dev.child.try_wait().expect("try_wait").is_none(), "the loop is alive");

    // Ctrl-C during a stuck run ends the loop, its workers and what they started.
    let pid_file = scratch.path().join("stuck.pid");
    write_source(&krate, &forks_then(&pid_file, "loop { std::thread::sleep(std::time::Duration::from_millis(10)); }"));
    dev.until("hotpack-dev: deployed");
    let child = forked_pid(&dev, &pid_file);
    let mut left = descendants(dev.child.id());
    assert!(left.contains(&child), "the stuck run's child {child} is under dev: {left:?}");
    left.push(child);
    let dev_pid = rustix::process::Pid::from_raw(dev.child.id() as i32).expect("a pid");
    rustix::process::kill_process(dev_pid, rustix::process::Signal::INT).expect("SIGINT to dev");
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while dev.child.try_wait().expect("try_wait").is_none() && std::time::Instant::now() < until {
        thread::sleep(Duration::from_millis(20));
    }
    let status = dev.child.try_wait().expect("try_wait");
    assert_eq!(status.and_then(|s| s.code()), Some(130), "Ctrl-C ended dev: {status:?}");
    dev.until("hotpack-dev: interrupted: the run of v1.0.0 stopped");
    for pid in left {
        assert!(gone(pid), "process {pid} outlived dev's Ctrl-C");
    }
}
