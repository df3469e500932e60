//! `cargo xtask <task>`: project automation in Rust (matklad's xtask convention).
//!
//! Tasks:
//! - `ci`: what `.ci/run` runs: the test suite exactly as the README states it.
//! - `bench [--quick]`: every bench plus the python baselines; writes
//!   `target/hotpack-bench/report.{json,md,svg}` (see `docs/BENCHMARKS.md`).
//! - `bench-serve [--quick]`: only the `hotpack serve` load test (`serve_rps`,
//!   `serve_swap_p99_ms`), printed as JSON.
//! - `man`: the `hotpack(1)` man page, generated from the CLI's own definition (the hidden
//!   `hotpack __man`, clap_mangen), written to `<target>/man/hotpack.1`.
//!
//! Outputs go under `<target>`: `CARGO_TARGET_DIR` when set (relative to the workspace root
//! when relative), else `<root>/target`.

#![forbid(unsafe_code)]

mod bench;
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
        Some("man") => man(),
        Some(other) => bail!("unknown task `{other}`; tasks: ci, bench, bench-serve, man"),
        None => bail!("usage: cargo xtask <ci|bench [--quick]|bench-serve [--quick]|man>"),
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

/// `cargo xtask man`: builds the CLI, asks it for its man page, writes `<target>/man/hotpack.1`.
fn man() -> Result<()> {
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "-p", "hotpack-cli", "--bin", "hotpack", "--", "__man"]);
    eprintln!("xtask: running {cmd:?}");
    let output = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
    if !output.status.success() {
        bail!("{cmd:?} failed with {}:\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    let dir = target_root(&root()).join("man");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("hotpack.1");
    std::fs::write(&path, &output.stdout).with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {} ({} bytes); view it with `man {}`", path.display(), output.stdout.len(), path.display());
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
