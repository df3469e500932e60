//! What the areas share and that is no area's own: building the bench executables, the
//! python baseline's interpreter, the hot-lib-reloader peer, reading criterion's estimates,
//! and describing the machine.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The python to run the baselines with: a venv under `target/hotpack-bench/venv` with
/// watchdog when it can be made (PyPI reachable), else the system python3, else none.
pub(super) fn python_env(root: &Path) -> Option<PathBuf> {
    let venv = crate::target_root(root).join("hotpack-bench").join("venv");
    let venv_python = venv.join("bin").join("python");
    let has_watchdog =
        |p: &Path| Command::new(p).args(["-c", "import watchdog.observers"]).output().is_ok_and(|o| o.status.success());
    if venv_python.exists() && has_watchdog(&venv_python) {
        return Some(venv_python);
    }
    let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().is_ok_and(|s| s.success())
        && Command::new(venv.join("bin").join("pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--timeout",
                "15",
                "--retries",
                "1",
                "watchdog",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if made && has_watchdog(&venv_python) {
        return Some(venv_python);
    }
    eprintln!("xtask: watchdog could not be installed into {}; the ctypes inotify watcher is used", venv.display());
    let python3 = PathBuf::from("python3");
    if Command::new(&python3).arg("-V").output().is_ok_and(|o| o.status.success()) {
        Some(python3)
    } else {
        eprintln!("xtask: python3 is not available; python baselines are left out");
        None
    }
}

/// Builds the hot-lib-reloader peer (its own workspace, its own target dir): (executable,
/// v1 library, v2 library), or `None` with a warning (the report then shows no figure).
pub(super) fn build_peer(root: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let manifest = root.join("benches").join("peers").join("hot-lib-reloader").join("Cargo.toml");
    let target = crate::target_root(root).join("peer-hot-lib-reloader");
    let mut cmd = crate::cargo();
    cmd.args(["build", "--release", "--workspace", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .stdout(std::process::Stdio::null());
    eprintln!("xtask: running {cmd:?}");
    if !cmd.status().is_ok_and(|s| s.success()) {
        eprintln!("xtask: the hot-lib-reloader peer did not build; its figures are left out");
        return None;
    }
    let dir = target.join("release");
    Some((
        dir.join("hotpack-peer-hot-lib-reloader"),
        dir.join("libhlr_greeter_v1.so"),
        dir.join("libhlr_greeter_v2.so"),
    ))
}

/// `cargo bench -p hotpack-suite --no-run`: builds every bench target, returns (name, executable).
pub(super) fn build_benches(quick: bool, fingerprint_mib: u64) -> Result<Vec<(String, PathBuf)>> {
    let mut cmd = crate::cargo();
    cmd.args(["bench", "-p", "hotpack-suite", "--no-run", "--message-format=json-render-diagnostics"])
        .env("HOTPACK_BENCH_QUICK", if quick { "1" } else { "0" })
        .env("HOTPACK_BENCH_FINGERPRINT_MIB", fingerprint_mib.to_string())
        .stderr(std::process::Stdio::inherit());
    eprintln!("xtask: running {cmd:?}");
    let output = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
    if !output.status.success() {
        bail!("{cmd:?} failed with {}", output.status);
    }
    let mut exes = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else { continue };
        let is_bench = msg["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bench"));
        if msg["reason"] == "compiler-artifact"
            && is_bench
            && let (Some(name), Some(exe)) = (msg["target"]["name"].as_str(), msg["executable"].as_str())
        {
            exes.push((name.to_owned(), PathBuf::from(exe)));
        }
    }
    Ok(exes)
}

/// Median point estimate (ns) of a criterion benchmark.
pub(super) fn criterion_median_ns(criterion_dir: &Path, group: &str, bench: &str) -> Result<f64> {
    let path = criterion_dir.join(group).join(bench).join("new").join("estimates.json");
    let v = read_json(&path)?;
    v.get("median")
        .and_then(|m| m.get("point_estimate"))
        .and_then(Value::as_f64)
        .with_context(|| format!("{}: no median.point_estimate", path.display()))
}

pub(super) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The 1-minute load average.
pub(super) fn loadavg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

pub(super) fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "rustc": command_line(&rustc, &["-V"]),
        "python": command_line("python3", &["-V"]),
        "os": command_line("uname", &["-sr"]),
        "date": command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
    })
}
