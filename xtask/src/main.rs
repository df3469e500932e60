//! `cargo xtask <task>`: project automation in Rust (matklad's xtask convention).
//!
//! Tasks:
//! - `ci`: what `.ci/run` runs: the test suite exactly as the README states it.
//! - `bench [--quick]`: every bench plus the python baselines; writes
//!   `target/hotpack-bench/report.{json,md,svg}` (see `docs/BENCHMARKS.md`).
//! - `bench-serve [--quick]`: only the `hotpack serve` load test (`serve_rps`,
//!   `serve_swap_p99_ms`), printed as JSON.
//! - `fuzz [--time SECS] [--target NAME]... [--keep] [--no-miri]`: every cargo-fuzz target
//!   under `fuzz/` for SECS seconds (default 60), then hotpack-abi's tests under Miri;
//!   installs nightly, cargo-fuzz and Miri when missing (see `docs/FUZZING.md`).
//! - `package`: `cargo package` of every library crate, verification included (each crate
//!   built from its package against the others' packages), in `<target>/package-check`.
//! - `man`: the `hotpack(1)` man page and one `hotpack-SUBCOMMAND(1)` page per subcommand,
//!   generated from the CLI's own definition (the hidden `hotpack __man`, clap_mangen),
//!   written to `<target>/man/`.
//! - `etcd-proto`: regenerates the vendored etcd client's gRPC code (needs protoc; the only
//!   task that does) and its `GENERATED.blake3` record.
//! - `no-protoc`: builds the CLI with the `fleet` feature with `PROTOC=/nonexistent` and no
//!   protoc on PATH, in `<target>/no-protoc` (CI runs it).
//!
//! Outputs go under `<target>`: `CARGO_TARGET_DIR` when set (relative to the workspace root
//! when relative), else `<root>/target`.

#![forbid(unsafe_code)]

mod bench;
mod etcd_proto;
mod fuzz;
mod isolate_bench;
mod serve_bench;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench::run(&args[1..]),
        Some("bench-serve") => {
            let quick = args[1..].iter().any(|a| a == "--quick");
            println!("{}", serde_json::to_string_pretty(&serve_bench::run(quick)?)?);
            Ok(())
        }
        Some("bench-isolate") => {
            let quick = args[1..].iter().any(|a| a == "--quick");
            println!("{}", serde_json::to_string_pretty(&isolate_bench::run(quick)?)?);
            Ok(())
        }
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("man") => man(),
        Some("package") => package(args[1..].iter().any(|a| a == "--no-verify")),
        Some("etcd-proto") => etcd_proto::regenerate(),
        Some("no-protoc") => etcd_proto::no_protoc(),
        Some(other) => {
            bail!(
                "unknown task `{other}`; tasks: ci, bench, bench-serve, bench-isolate, fuzz, man, package, etcd-proto, no-protoc"
            )
        }
        None => bail!(
            "usage: cargo xtask <ci|bench [--quick]|bench-serve [--quick]|bench-isolate [--quick]|fuzz [--time SECS]|man|package [--no-verify]|etcd-proto|no-protoc>"
        ),
    }
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The cargo target directory: `CARGO_TARGET_DIR` when set (relative to `root` when
/// relative), else `<root>/target`.
fn target_root(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The library crates, in dependency order.
const LIBRARY_CRATES: [&str; 10] = [
    "hotpack-abi",
    "hotpack-util",
    "hotpack-archive",
    "hotpack-detect",
    "hotpack-loader",
    "hotpack-cache",
    "hotpack-worker",
    "hotpack-rollback",
    "hotpack",
    "hotpack-fleet",
];

/// `cargo xtask package [--no-verify]`: `cargo package` of the library crates, with
/// verification unless `--no-verify` (which still checks metadata and each package's file list).
///
/// Cargo verifies each crate against the others' packages through a local overlay registry,
/// and treats registry crates as immutable: a package rebuilt with the same version would be
/// served from the sources it unpacked last time (`$CARGO_HOME/registry/src/-<hash>/`) and
/// from the artifacts it compiled last time. Both are removed first, for our crates only, so
/// every run checks the packages as they are now.
fn package(no_verify: bool) -> Result<()> {
    let target = target_root(&root()).join("package-check");
    let fingerprints = target.join("debug").join(".fingerprint");
    if let Ok(entries) = std::fs::read_dir(&fingerprints) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("hotpack") {
                std::fs::remove_dir_all(entry.path())
                    .with_context(|| format!("cannot remove {}", entry.path().display()))?;
            }
        }
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    if let Some(src) = cargo_home.map(|h| h.join("registry").join("src"))
        && let Ok(registries) = std::fs::read_dir(&src)
    {
        // Overlay registries are the ones without a host name (`-<hash>`).
        for registry in registries.flatten().filter(|r| r.file_name().to_string_lossy().starts_with('-')) {
            for krate in std::fs::read_dir(registry.path()).into_iter().flatten().flatten() {
                let name = krate.file_name().to_string_lossy().into_owned();
                if LIBRARY_CRATES
                    .iter()
                    .any(|c| name.strip_prefix(c).is_some_and(|v| v.starts_with("-0") || v.starts_with("-1")))
                {
                    std::fs::remove_dir_all(krate.path())
                        .with_context(|| format!("cannot remove {}", krate.path().display()))?;
                }
            }
        }
    }
    let mut cmd = cargo();
    cmd.arg("package");
    for krate in LIBRARY_CRATES {
        cmd.args(["-p", krate]);
    }
    cmd.args(["--offline", "--allow-dirty"]).env("CARGO_TARGET_DIR", &target);
    if no_verify {
        cmd.arg("--no-verify");
    }
    let started = std::time::Instant::now();
    run(cmd)?;
    eprintln!(
        "xtask: {} crates packaged{} in {:.0} s",
        LIBRARY_CRATES.len(),
        if no_verify { " (not verified)" } else { " and verified" },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask man`: builds the CLI and has it write its man pages (`hotpack.1` and one
/// `hotpack-SUBCOMMAND.1` per subcommand) into `<target>/man/`.
fn man() -> Result<()> {
    let dir = target_root(&root()).join("man");
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "-p", "hotpack-cli", "--bin", "hotpack", "--", "__man", "--dir"]).arg(&dir);
    run(cmd)?;
    println!("view them with `man {}`", dir.join("hotpack.1").display());
    Ok(())
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(mut cmd: Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// The README's test command.
fn ci() -> Result<()> {
    let mut test = cargo();
    test.args(["test", "--workspace", "--locked"]);
    run(test)
}
