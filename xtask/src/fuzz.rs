//! `cargo xtask fuzz [--time SECS] [--target NAME]... [--keep] [--no-miri]`: every
//! cargo-fuzz target under `fuzz/` for SECS seconds each (default 60), then the ABI crate's
//! tests under Miri. Installs what it needs when missing: the nightly toolchain, cargo-fuzz,
//! and nightly's `miri` and `rust-src` components (docs/FUZZING.md).
//!
//! Each target starts from its kept corpus, `fuzz/corpus/<target>/` (read, never written),
//! and writes what it finds to a work corpus under `<target>/fuzz-corpus/<target>/`; with
//! `--keep`, the inputs of the work corpus that add coverage are merged into the kept one
//! (libFuzzer's `-merge=1`, which keeps it minimal). A crash stops that target (its input is
//! in `fuzz/artifacts/<target>/`), the others still run, and the task fails at the end.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};

/// What the task was asked to do.
struct Opts {
    secs: u64,
    targets: Vec<String>,
    keep: bool,
    miri: bool,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut opts = Opts { secs: 60, targets: Vec::new(), keep: false, miri: true };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--time" => {
                let v = it.next().context("--time needs a number of seconds")?;
                opts.secs = v.parse().with_context(|| format!("--time {v}: not a number of seconds"))?;
            }
            "--target" => opts.targets.push(it.next().context("--target needs a target name")?.clone()),
            "--keep" => opts.keep = true,
            "--no-miri" => opts.miri = false,
            other => bail!(
                "unknown option `{other}`; usage: cargo xtask fuzz [--time SECS] [--target NAME]... [--keep] [--no-miri]"
            ),
        }
    }
    Ok(opts)
}

/// `rustup run nightly <program>`, from `dir`, without the variables the stable cargo that
/// runs xtask sets for its children (they would pin the child to stable's tools).
fn nightly(dir: &Path, program: &str) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", program]).current_dir(dir);
    for var in ["RUSTUP_TOOLCHAIN", "CARGO", "RUSTC", "RUSTDOC", "CARGO_TARGET_DIR"] {
        cmd.env_remove(var);
    }
    cmd
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// The nightly toolchain, cargo-fuzz and Miri, installed when missing.
fn install_tools() -> Result<()> {
    if !succeeds(Command::new("rustup").args(["--version"])) {
        bail!("rustup is needed (for the nightly toolchain): https://rustup.rs");
    }
    if !succeeds(Command::new("rustup").args(["run", "nightly", "rustc", "--version"])) {
        super::run({
            let mut c = Command::new("rustup");
            c.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
            c
        })?;
    }
    let installed = Command::new("rustup")
        .args(["component", "list", "--installed", "--toolchain", "nightly"])
        .output()
        .context("rustup component list")?;
    let installed = String::from_utf8_lossy(&installed.stdout);
    let missing: Vec<&str> =
        ["miri", "rust-src"].into_iter().filter(|c| !installed.lines().any(|l| l.starts_with(c))).collect();
    if !missing.is_empty() {
        let mut c = Command::new("rustup");
        c.args(["component", "add", "--toolchain", "nightly"]).args(&missing);
        super::run(c)?;
    }
    if !succeeds(Command::new("cargo").args(["fuzz", "--version"])) {
        let mut c = Command::new("cargo");
        c.args(["install", "cargo-fuzz", "--locked"]);
        super::run(c)?;
    }
    if !succeeds(Command::new("c++").arg("--version")) {
        bail!("libFuzzer is C++: install a C++ compiler (`apt-get install g++`)");
    }
    Ok(())
}

/// One target's run, as libFuzzer summed it up.
struct Outcome {
    target: String,
    ok: bool,
    execs: String,
    cov: String,
    corpus: String,
}

/// The last `cov:` and `corp:` figures and the executions, from libFuzzer's output.
fn summarise(target: &str, ok: bool, log: &str) -> Outcome {
    let field = |line: &str, key: &str| {
        line.split_whitespace().skip_while(|w| *w != key).nth(1).map(str::to_owned).unwrap_or_default()
    };
    let last = log.lines().rev().find(|l| l.contains(" cov: ")).unwrap_or("");
    let execs = log
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    Outcome { target: target.to_owned(), ok, execs, cov: field(last, "cov:"), corpus: field(last, "corp:") }
}

/// `cargo xtask fuzz`.
pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    install_tools()?;
    let root = super::root();
    let fuzz_dir = root.join("fuzz");
    let work = super::target_root(&root).join("fuzz-corpus");

    let listed = nightly(&root, "cargo").args(["fuzz", "list"]).output().context("cargo fuzz list")?;
    let all: Vec<String> = String::from_utf8_lossy(&listed.stdout).lines().map(str::to_owned).collect();
    let targets = if opts.targets.is_empty() { all.clone() } else { opts.targets.clone() };
    if let Some(unknown) = targets.iter().find(|t| !all.contains(t)) {
        bail!("no fuzz target `{unknown}` (targets: {})", all.join(", "));
    }
    let mut build = nightly(&root, "cargo");
    build.args(["fuzz", "build", "-O"]);
    super::run(build)?;

    let mut outcomes = Vec::new();
    for target in &targets {
        let kept = fuzz_dir.join("corpus").join(target);
        let scratch = work.join(target);
        std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
        std::fs::create_dir_all(&kept).with_context(|| format!("creating {}", kept.display()))?;
        let mut cmd = nightly(&root, "cargo");
        cmd.args(["fuzz", "run", "-O", target])
            .arg(&scratch)
            .arg(&kept)
            .arg("--")
            .arg(format!("-max_total_time={}", opts.secs))
            .args(["-print_final_stats=1", "-rss_limit_mb=2048", "-max_len=65536"]);
        eprintln!("xtask: fuzzing `{target}` for {} s", opts.secs);
        let out = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let outcome = summarise(target, out.status.success(), &log);
        if !outcome.ok {
            eprintln!(
                "{}",
                log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
            );
            eprintln!("xtask: `{target}` failed; its input is under fuzz/artifacts/{target}/");
        } else if opts.keep {
            let mut merge = nightly(&root, "cargo");
            merge.args(["fuzz", "run", "-O", target]).arg(&kept).arg(&scratch).args(["--", "-merge=1"]);
            super::run(merge)?;
        }
        outcomes.push(outcome);
    }

    println!("{:<16} {:>6} {:>14} {:>8} {:>10}", "target", "result", "executions", "cov", "corpus");
    for o in &outcomes {
        let result = if o.ok { "ok" } else { "FAILED" };
        println!("{:<16} {result:>6} {:>14} {:>8} {:>10}", o.target, o.execs, o.cov, o.corpus);
    }

    if opts.miri {
        // trybuild's compile-fail tests (tests/ui.rs) cannot run under Miri: --lib --test it.
        let mut miri = nightly(&root, "cargo");
        miri.args(["miri", "test", "-p", "hotpack-abi", "--lib", "--test", "it"]);
        super::run(miri)?;
    }
    let failed: Vec<&str> = outcomes.iter().filter(|o| !o.ok).map(|o| o.target.as_str()).collect();
    if !failed.is_empty() {
        bail!("fuzz targets failed: {}", failed.join(", "));
    }
    Ok(())
}
