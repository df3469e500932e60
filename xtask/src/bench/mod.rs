//! `cargo xtask bench [--quick]`: runs every bench of `benches/`, the python3 baselines in
//! `benches/python/` and the hot-lib-reloader peer (`benches/peers/hot-lib-reloader`), and
//! writes `target/hotpack-bench/report.json`, `report.md` (side by side: hotpack, the floor,
//! the alternative, the ratio, the goal) and `report.svg` (each goal's figure, drawn by
//! hand: no plotting dependency).
//!
//! Layout, so that areas merge cleanly: one file per area (`call.rs`, `load.rs`, ...) holds
//! that area's `keys` function (runs its bench, returns its report keys), its `GOALS` and its
//! `ROWS` of report.md. A new report key goes into the area file's `keys`, its row into that
//! file's `ROWS` and its goal (if any) into that file's `GOALS`; a new area is a new file plus
//! one line in [`AREAS`]. Figures that are compared with python or hot-lib-reloader are
//! measured in ROUNDS that alternate between the Rust bench and the other side
//! (`rounds.rs`), so drift on a busy machine hits both alike (ratios are taken per round);
//! when the rounds disagree about a goal, or the 1-minute load average exceeds the core
//! count, the run is `noisy` and the report gives no verdicts. `docs/BENCHMARKS.md` says what each figure
//! means and why its anchor is the fair one.

mod archive;
mod cache;
mod call;
mod deps;
mod detect;
mod fleet;
mod isolate;
mod load;
mod preflight;
mod reload;
mod report;
mod rounds;
mod serve;
mod tools;
mod worker;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use std::process::Command;
use tools::{build_benches, build_peer, criterion_median_ns, loadavg_1m, machine, python_env, read_json};

/// One area of the report.
struct AreaDef {
    name: &'static str,
    /// Runs the area's bench and returns its keys; `None` for the interleaved rounds, which
    /// run last (`rounds::interleaved`).
    keys: Option<Area>,
    goals: &'static [report::Goal],
    rows: &'static [report::Row],
}

/// Every area, in the order they run and appear in the report. Add a line here for a new area.
const AREAS: &[AreaDef] = &[
    AreaDef { name: "call", keys: Some(call::keys), goals: call::GOALS, rows: call::ROWS },
    AreaDef { name: "load", keys: Some(load::keys), goals: load::GOALS, rows: load::ROWS },
    AreaDef { name: "interleaved_rounds", keys: None, goals: rounds::GOALS, rows: rounds::ROWS },
    AreaDef { name: "reload_tuned", keys: Some(reload::keys), goals: reload::GOALS, rows: reload::ROWS },
    AreaDef { name: "cache", keys: Some(cache::keys), goals: cache::GOALS, rows: cache::ROWS },
    AreaDef { name: "deps", keys: Some(deps::keys), goals: deps::GOALS, rows: deps::ROWS },
    AreaDef { name: "detect", keys: Some(detect::keys), goals: detect::GOALS, rows: detect::ROWS },
    AreaDef { name: "preflight", keys: Some(preflight::keys), goals: preflight::GOALS, rows: preflight::ROWS },
    AreaDef { name: "archive", keys: Some(archive::keys), goals: archive::GOALS, rows: archive::ROWS },
    AreaDef { name: "serve", keys: Some(serve::keys), goals: serve::GOALS, rows: serve::ROWS },
    AreaDef { name: "worker", keys: Some(worker::keys), goals: worker::GOALS, rows: worker::ROWS },
    AreaDef { name: "isolate", keys: Some(isolate::keys), goals: isolate::GOALS, rows: isolate::ROWS },
    AreaDef { name: "fleet", keys: Some(fleet::keys), goals: fleet::GOALS, rows: fleet::ROWS },
];

/// Criterion warm-up/measurement flags.
fn criterion_args(quick: bool) -> &'static [&'static str] {
    if quick {
        &["--warm-up-time", "0.5", "--measurement-time", "1.5", "--sample-size", "10"]
    } else {
        &["--warm-up-time", "2", "--measurement-time", "5"]
    }
}

/// What every area's function needs.
struct Ctx {
    root: PathBuf,
    out: PathBuf,
    quick: bool,
    fingerprint_mib: u64,
    exes: Vec<(String, PathBuf)>,
    /// The python interpreter (a venv with watchdog when it could be made), if any.
    python: Option<PathBuf>,
    /// The hot-lib-reloader peer's executable and its two libraries, if it built.
    peer: Option<(PathBuf, PathBuf, PathBuf)>,
}

type Keys = Map<String, Value>;

/// An area of the report: the function that runs its bench and returns its keys.
type Area = fn(&Ctx) -> Result<Keys>;

impl Ctx {
    /// Runs bench `name` with `part` (`HOTPACK_BENCH_PART`) and extra args.
    fn bench(&self, name: &str, part: Option<&str>, extra: &[&str]) -> Result<()> {
        self.bench_on(name, part, extra, false)
    }

    /// As [`Ctx::bench`]; with `pinned`, the bench and every process it starts run on one
    /// core (`taskset`, when the machine has it): a comparison with another process (python)
    /// then times both sides on the same core. On this kind of VM a process left free to
    /// move ran python's zipimporter at 31-34 ms in some runs and 55-62 ms in others; pinned
    /// to either core, 32-34 ms in every run.
    fn bench_on(&self, name: &str, part: Option<&str>, extra: &[&str], pinned: bool) -> Result<()> {
        let exe = self
            .exes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .with_context(|| format!("bench `{name}` was not built"))?;
        let taskset = pinned && Command::new("taskset").arg("--version").output().is_ok_and(|o| o.status.success());
        let mut cmd = if taskset {
            let core = std::thread::available_parallelism().map_or(0, |n| n.get() - 1);
            let mut c = Command::new("taskset");
            c.args(["-c", &core.to_string()]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.current_dir(&self.root)
            .env("CRITERION_HOME", crate::target_root(&self.root).join("criterion"))
            .env("HOTPACK_BENCH_OUT", &self.out)
            .env("CARGO_MANIFEST_DIR", &self.root)
            .env("HOTPACK_BENCH_QUICK", if self.quick { "1" } else { "0" })
            .env("HOTPACK_BENCH_FINGERPRINT_MIB", self.fingerprint_mib.to_string())
            .arg("--bench")
            .args(extra);
        if let Some(part) = part {
            cmd.env("HOTPACK_BENCH_PART", part);
        }
        // The archive bench's open-round alternates python's zipimporter with hotpack's open.
        if let Some(python) = &self.python {
            cmd.env("HOTPACK_BENCH_PYTHON", python);
        }
        crate::run(cmd)
    }

    fn criterion(&self, name: &str) -> Result<()> {
        self.bench(name, None, criterion_args(self.quick))
    }

    fn result(&self, name: &str) -> Result<Value> {
        read_json(&self.out.join(format!("{name}.json")))
    }

    fn est(&self, group: &str, bench: &str) -> Result<f64> {
        criterion_median_ns(&crate::target_root(&self.root).join("criterion"), group, bench)
    }

    /// Runs a python3 baseline; `None` when there is no python.
    fn python(&self, script: &str, args: &[&str]) -> Result<Option<Value>> {
        let Some(python) = &self.python else { return Ok(None) };
        let path = self.root.join("benches").join("python").join(script);
        let mut cmd = Command::new(python);
        cmd.arg(&path).args(args).current_dir(&self.root);
        eprintln!("xtask: running {cmd:?}");
        let output = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
        if !output.status.success() {
            bail!("{} failed with {}:\n{}", path.display(), output.status, String::from_utf8_lossy(&output.stderr));
        }
        let value = serde_json::from_slice(&output.stdout)
            .with_context(|| format!("parsing the output of {}", path.display()))?;
        Ok(Some(value))
    }
}

fn num(v: &Value, path: &[&str]) -> Result<f64> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key).with_context(|| format!("missing `{}` in a bench result", path.join(".")))?;
    }
    cur.as_f64().with_context(|| format!("`{}` is not a number", path.join(".")))
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

fn percentile(v: &[f64], p: f64) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1])
}

/// Runs the task.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => bail!("unknown argument `{other}`; usage: cargo xtask bench [--quick]"),
        }
    }
    let root = crate::root();
    let out = crate::target_root(&root).join("hotpack-bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    // Results of an earlier run are never read as this run's: each bench writes its
    // `<name>.json` afresh, and one that did not fails `result` instead of reading old figures.
    for entry in std::fs::read_dir(&out).with_context(|| format!("reading {}", out.display()))?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "json") {
            std::fs::remove_file(entry.path()).with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    let load_before = loadavg_1m();
    let fingerprint_mib: u64 = if quick { 256 } else { 1024 };
    let started = std::time::Instant::now();

    // Compile every bench target once, then run the executables one by one (not `cargo
    // bench --bench x` each time: other people edit the workspace while this runs).
    let exes = build_benches(quick, fingerprint_mib)?;
    let python = python_env(&root);
    let peer = build_peer(&root);
    let ctx = Ctx { root, out: out.clone(), quick, fingerprint_mib, exes, python, peer };

    let mut report = Keys::new();
    report.insert("quick".into(), json!(quick));
    let mut stages = Keys::new();
    stages.insert("build".into(), json!(started.elapsed().as_secs_f64()));
    for area in AREAS {
        let Some(keys) = area.keys else { continue };
        let start = std::time::Instant::now();
        report.extend(keys(&ctx)?);
        stages.insert(area.name.into(), json!(start.elapsed().as_secs_f64()));
    }
    let start = std::time::Instant::now();
    let rounds = rounds::interleaved(&ctx)?;
    stages.insert("interleaved_rounds".into(), json!(start.elapsed().as_secs_f64()));
    report.extend(rounds.keys());
    report.insert("stage_s".into(), Value::Object(stages));

    let load_after = loadavg_1m();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut reasons = rounds.disagreements();
    for (when, load) in [("before", load_before), ("after", load_after)] {
        if let Some(load) = load.filter(|l| *l > cores as f64) {
            reasons.push(format!("1-minute load average {when} the run was {load:.2} > {cores} cores"));
        }
    }
    report.insert("load_avg".into(), json!({ "before": load_before, "after": load_after, "cores": cores }));
    report.insert("noisy".into(), json!(!reasons.is_empty()));
    report.insert("noisy_reasons".into(), json!(reasons));
    report.insert("machine".into(), machine());
    report.insert("wall_time_s".into(), json!(started.elapsed().as_secs_f64()));
    let report = Value::Object(report);

    let json_path = out.join("report.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    let md_path = out.join("report.md");
    std::fs::write(&md_path, report::markdown(&report)).with_context(|| format!("writing {}", md_path.display()))?;
    let svg_path = out.join("report.svg");
    std::fs::write(&svg_path, report::svg(&report)).with_context(|| format!("writing {}", svg_path.display()))?;
    println!("{}", report::markdown(&report));
    eprintln!("xtask: wrote {}, {} and {}", json_path.display(), md_path.display(), svg_path.display());
    Ok(())
}
