//! `hotpack watch`: the real binary, real files, real inotify (and polling).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use hotpack::detect::blake3;

const WAIT: Duration = Duration::from_secs(20);

/// A running `hotpack watch`, killed when dropped (also when a test fails).
struct Watch {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Watch {
    fn spawn(args: &[&str], path: &Path) -> Watch {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotpack"))
            .arg("watch")
            .args(args)
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hotpack watch");
        let stdout = lines(child.stdout.take().expect("piped stdout"));
        let stderr = lines(child.stderr.take().expect("piped stderr"));
        Watch { child, stdout, stderr }
    }

    /// Wait for the "watching" line: watches are in place from then on.
    fn wait_ready(&self) {
        loop {
            let line = self.stderr.recv_timeout(WAIT).expect("hotpack watch printed no 'watching' line");
            if line.contains("watching") {
                return;
            }
        }
    }

    fn next_line(&self) -> String {
        self.stdout.recv_timeout(WAIT).expect("hotpack watch printed no change line")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(pipe: impl std::io::Read + Send + 'static) -> Receiver<String> {
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

fn hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[test]
fn json_line_for_a_real_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(dir.path()).expect("canonical");
    let file = root.join("module.so");
    fs::write(&file, b"version 1").expect("write");

    let watch = Watch::spawn(&["--json", "--quiet-ms", "50"], &root);
    watch.wait_ready();
    fs::write(&file, b"version 2").expect("write");

    let line = watch.next_line();
    let v: serde_json::Value = serde_json::from_str(&line).expect("one JSON object per line");
    assert_eq!(v["path"], file.to_string_lossy().as_ref(), "{line}");
    assert_eq!(v["kind"], "changed", "{line}");
    assert_eq!(v["hash"], hex(b"version 2"), "{line}");
    assert_eq!(v["old_hash"], hex(b"version 1"), "{line}");
    assert_eq!(v["size"], 9, "{line}");
}

#[test]
fn polling_reports_creation_and_removal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(dir.path()).expect("canonical");
    let watch = Watch::spawn(&["--json", "--quiet-ms", "30", "--poll-ms", "20"], &root);
    watch.wait_ready();

    let file = root.join("new.bin");
    fs::write(&file, b"fresh").expect("write");
    let v: serde_json::Value = serde_json::from_str(&watch.next_line()).expect("json");
    assert_eq!(v["kind"], "created");
    assert_eq!(v["path"], file.to_string_lossy().as_ref());
    assert_eq!(v["hash"], hex(b"fresh"));
    assert!(v["old_hash"].is_null());

    fs::remove_file(&file).expect("rm");
    let v: serde_json::Value = serde_json::from_str(&watch.next_line()).expect("json");
    assert_eq!(v["kind"], "removed");
    assert!(v["hash"].is_null());
    assert_eq!(v["old_hash"], hex(b"fresh"));
}

#[test]
fn human_line_names_the_path_and_both_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = fs::canonicalize(dir.path()).expect("canonical");
    let file = root.join("a.txt");
    fs::write(&file, b"one").expect("write");
    // Watch the file itself (through its parent directory).
    let watch = Watch::spawn(&["--quiet-ms", "50"], &file);
    watch.wait_ready();
    fs::write(&file, b"two").expect("write");
    let line = watch.next_line();
    assert_eq!(line, format!("changed {} {}.. -> {}..", file.display(), &hex(b"one")[..8], &hex(b"two")[..8]));
}

#[test]
fn a_missing_path_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-dir");
    let out = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .args(["watch", "--json"])
        .arg(&missing)
        .output()
        .expect("run hotpack watch");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&*missing.to_string_lossy()), "{stderr}");
    assert!(stderr.contains("No such file"), "{stderr}");
    assert!(out.stdout.is_empty());
}
