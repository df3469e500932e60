//! `hotpack demo`: the main job in one command, needing no input.
//!
//! Builds a large data set in memory once, builds the example `task` modules (v1, v2 and a
//! broken v3) with cargo, packs each into a bundle, then deploys v1 from its bundle and runs
//! it on the resident data, swaps in v2 and runs it, is handed the broken v3 and rolls back
//! to v2, which keeps serving. Every number printed is measured.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::Context;
use hotpack::Runtime;
use hotpack::rollback::Policy;

/// Arguments of `hotpack demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Size of the in-memory data set, in MiB
    #[arg(long, value_name = "MIB", default_value_t = 300, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1 << 20))]
    size_mb: usize,
}

/// Bytes per record of the data set: `id: u64, amount: u32, category: u32`, little-endian.
const RECORD: usize = 16;
/// Categories the data set uses.
const CATEGORIES: u32 = 16;
/// The example module packages, in the order they are deployed.
const PACKAGES: [&str; 3] = ["task-v1", "task-v2", "task-v3"];

/// The workspace this binary was built from (the demo builds its example modules there).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// `CARGO_TARGET_DIR` when set (relative to the workspace root when relative), else
/// `<root>/target`: the demo's builds go where the user's cargo builds go.
fn target_root(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

fn ms(d: Duration) -> String {
    crate::log::duration(d)
}

fn secs(d: Duration) -> String {
    crate::log::duration(d)
}

macro_rules! say {
    ($($arg:tt)*) => {{
        println!($($arg)*);
        let _ = std::io::stdout().flush();
    }};
}

/// Generates `size` bytes of records with a fixed-seed xorshift generator.
fn build_data(size: usize) -> Vec<u8> {
    let records = size / RECORD;
    let mut data = vec![0u8; records * RECORD];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for (id, record) in data.chunks_exact_mut(RECORD).enumerate() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let amount = (state % 10_000) as u32;
        let category = ((state >> 32) % u64::from(CATEGORIES)) as u32;
        record[..8].copy_from_slice(&(id as u64).to_le_bytes());
        record[8..12].copy_from_slice(&amount.to_le_bytes());
        record[12..].copy_from_slice(&category.to_le_bytes());
    }
    data
}

/// Builds the example modules with cargo into a target directory of their own.
fn build_modules(root: &Path) -> anyhow::Result<PathBuf> {
    for package in PACKAGES {
        let manifest = root.join("examples/modules").join(package).join("Cargo.toml");
        anyhow::ensure!(
            manifest.is_file(),
            "hotpack demo builds its example modules from the hotpack source tree, and {} is missing; \
             run it from a clone: cargo run --release -p hotpack-cli -- demo",
            manifest.display()
        );
    }
    let target_dir = target_root(root).join("hotpack-demo");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root).args(["build", "--release", "--quiet", "--target-dir"]).arg(&target_dir);
    for package in PACKAGES {
        cmd.args(["-p", package]);
    }
    let status = cmd.status().with_context(|| format!("cannot run {}", Path::new(&cargo).display()))?;
    anyhow::ensure!(status.success(), "building the example modules with cargo failed ({status})");
    Ok(target_dir.join("release"))
}

fn library(release: &Path, package: &str) -> PathBuf {
    release.join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ))
}

fn call(runtime: &Runtime, data: &[u8]) -> (Duration, Result<String, String>) {
    let started = Instant::now();
    let out = runtime.call("task", "run", data);
    let took = started.elapsed();
    (took, out.map(|b| String::from_utf8_lossy(&b).into_owned()).map_err(|e| e.to_string()))
}

/// Runs the demo.
pub(crate) fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    say!("hotpack demo: load the data once, reload the code that analyses it");
    say!("");

    // 1. The data: built once, resident for the whole run, passed by reference to every call.
    let size = args.size_mb << 20;
    say!("[1/6] building the data set in memory ({} MiB of 16-byte records)...", args.size_mb);
    let started = Instant::now();
    let data = build_data(size);
    let data_load = started.elapsed();
    say!("      data loaded: {} records, {} MiB, in {}", data.len() / RECORD, data.len() >> 20, secs(data_load));

    // 2. The modules: real crates, built by cargo.
    say!("[2/6] building the task modules with cargo (v1, v2, and a broken v3)...");
    let started = Instant::now();
    let release = build_modules(&workspace_root())?;
    say!("      built in {}", secs(started.elapsed()));

    // 3. Bundles.
    let scratch =
        tempfile::Builder::new().prefix("hotpack-demo-").tempdir().context("cannot create a temporary directory")?;
    // Panic budget 0: the first caught panic demotes a version to the last good one.
    let policy = Policy { panic_budget: 0, ..Policy::default() };
    let runtime = Runtime::builder().cache_dir(scratch.path().join("cache")).policy(policy).build()?;
    say!("[3/6] packing each module into a bundle...");
    let mut bundles = Vec::new();
    for package in PACKAGES {
        let out = scratch.path().join(format!("{package}.zip"));
        let meta = hotpack::pack_library(&library(&release, package), &out, Vec::new())
            .with_context(|| format!("packing {package}"))?;
        let len = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        say!("      {} -> module `{}` {} ({} KiB)", out.display(), meta.name, meta.version, len >> 10);
        bundles.push(out);
    }

    // 4. v1 from its bundle.
    let mut swaps = Vec::new();
    let deploy = |path: &Path| -> anyhow::Result<Duration> {
        let started = Instant::now();
        runtime.deploy(path).with_context(|| format!("deploying {}", path.display()))?;
        Ok(started.elapsed())
    };
    say!("[4/6] deploying task v1 from its bundle...");
    let took = deploy(&bundles[0])?;
    swaps.push(took);
    say!("      deployed v1.0.0 in {} (verify bundle, load, ABI, init, promote)", ms(took));
    let (ran, out) = call(&runtime, &data);
    say!("      ran in {}: {}", ms(ran), out.map_err(anyhow::Error::msg)?);

    // 5. Swap in v2: the data does not move.
    say!("[5/6] deploying task v2 (the data stays where it is)...");
    let took = deploy(&bundles[1])?;
    swaps.push(took);
    say!("      promoted v2.0.0 in {}", ms(took));
    let (ran, out) = call(&runtime, &data);
    say!("      ran in {}: {}", ms(ran), out.map_err(anyhow::Error::msg)?);

    // 6. The broken v3.
    say!("[6/6] handed a broken task v3...");
    let took = deploy(&bundles[2])?;
    say!("      v3.0.0 passed its gates (it loads and initializes) and is serving, deployed in {}", ms(took));
    let (ran, out) = call(&runtime, &data);
    match out {
        Ok(text) => say!("      ran in {}: {text} (unexpected: v3 should have failed)", ms(ran)),
        Err(e) => say!("      FAILED after {}, the panic was caught inside the module: {e}", ms(ran)),
    }
    let rollback = ran;
    let status = runtime.status("task").context("task is supervised")?;
    let serving = status.version().map(|v| v.to_string()).unwrap_or_else(|| "nothing".into());
    say!(
        "      panic budget exceeded: v3 demoted, rolled back to v{serving} automatically (within that {} call); \
         the host and its data are untouched",
        ms(rollback)
    );
    let (ran, out) = call(&runtime, &data);
    say!("      ran in {}: {}", ms(ran), out.map_err(anyhow::Error::msg)?);

    say!("");
    let worst = swaps.iter().max().copied().unwrap_or_default();
    say!("summary:");
    say!("  data load (once)          {}", secs(data_load));
    say!("  module deploy (worst)     {}", ms(worst));
    say!("  failed call + rollback    {}", ms(rollback));
    if worst > Duration::ZERO {
        say!(
            "  a code swap cost {:.0}x less than loading the data again",
            data_load.as_secs_f64() / worst.as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}
