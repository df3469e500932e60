//! The preflight child is contained like a worker: what a candidate starts dies with the
//! check (also past a timeout), it cannot signal its host, and nothing it prints on stdout
//! passes for its report.

use hotpack_worker::preflight::{PreflightCommand, PreflightError};
use std::time::Duration;

fn child() -> PreflightCommand {
    PreflightCommand::new(env!("CARGO_BIN_EXE_hotpack-worker")).timeout(Duration::from_secs(3))
}

/// Live processes whose command line is exactly `args`.
fn running(args: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain(std::iter::once(0))).collect();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |s| s.rfind(')').is_some_and(|i| s[i + 1..].trim_start().starts_with('Z')));
        if !zombie && std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want) {
            out.push(pid);
        }
    }
    out
}

fn check(cmd: &PreflightCommand) -> Result<hotpack_worker::preflight::PreflightReport, PreflightError> {
    let path = hotpack_testkit::module("fx-worker-crash");
    let hash = blake3::hash(&std::fs::read(&path).expect("fixture"));
    cmd.check(&path, None, &hash)
}

#[test]
fn what_a_candidate_starts_dies_with_its_check() {
    // Passes, but the child it left behind does not outlive the check.
    let report = check(&child().call(None, "fork_sleep", b"1001.25")).expect("passes");
    assert_eq!(report.name, "worker-crash");
    assert!(running(&["sleep", "1001.25"]).is_empty(), "the sleep is gone");
    // Times out with a child running: both are killed.
    let err = check(&child().call(None, "fork_sleep", b"1001.5").call(None, "hang", b"")).expect_err("hangs");
    assert!(matches!(err, PreflightError::TimedOut { .. }), "{err}");
    assert!(running(&["sleep", "1001.5"]).is_empty(), "the sleep is gone after the timeout");
}

#[test]
fn a_candidate_cannot_signal_its_host_or_forge_its_report() {
    for handler in ["kill_parent", "stop_parent"] {
        let err = check(&child().call(None, handler, b"")).expect_err(handler);
        assert!(matches!(err, PreflightError::Refused { .. }), "{handler}: {err}");
    }
    let err = check(&child().call(None, "fake_report", b"")).expect_err("a report on stdout is not a report");
    assert!(matches!(err, PreflightError::Protocol { .. }), "{err}");
}
