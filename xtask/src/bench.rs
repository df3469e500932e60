//! `cargo xtask bench [--quick]`: runs every bench of `benches/`, the python3 baselines in
//! `benches/python/` and the hot-lib-reloader peer (`benches/peers/hot-lib-reloader`), and
//! writes `target/hotpack-bench/report.json`, `report.md` (side by side: hotpack, the floor,
//! the alternative, the ratio, the goal) and `report.svg` (each goal's figure, drawn by
//! hand: no plotting dependency).
//!
//! Layout, so that areas merge cleanly: one `*_keys` function per bench file produces that
//! area's report keys; [`GOALS`] is the one table of goals; [`ROWS`] the one table of the
//! markdown report's rows. Figures that are compared with python or hot-lib-reloader are
//! measured in ROUNDS that alternate between the Rust bench and the other side
//! ([`interleaved`]), so drift on a busy machine hits both alike; when the rounds disagree
//! by more than 20%, or the 1-minute load average exceeds the core count, the run is
//! `noisy` and the report gives no verdicts. `docs/BENCHMARKS.md` says what each figure
//! means and why its anchor is the fair one.

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One goal of the issues: a figure of the report and the bound it should meet.
struct Goal {
    key: &'static str,
    label: &'static str,
    /// `true`: the figure should be at most `bound`; `false`: at least.
    at_most: bool,
    bound: f64,
}

/// Every goal, in report order. Add a row here when a bench gains a goal.
const GOALS: &[Goal] = &[
    Goal { key: "call_overhead_ratio", label: "call: hot / raw", at_most: true, bound: 1.15 },
    Goal { key: "call_vs_plain_extern_c_ratio", label: "call: typed / plain extern C", at_most: true, bound: 2.0 },
    Goal { key: "load_overhead_ratio", label: "load: bundle / floor", at_most: true, bound: 1.5 },
    Goal { key: "reload_default_p50_us", label: "reload, defaults, p50 (us)", at_most: true, bound: 3000.0 },
    Goal { key: "reload_default_vs_python_ratio", label: "reload defaults / python", at_most: true, bound: 2.0 },
    Goal { key: "reload_p50_us", label: "reload, tuned, p50 (us)", at_most: true, bound: 1000.0 },
    Goal { key: "open_vs_zip_cd_ratio", label: "open 10k: hotpack / zip CD", at_most: true, bound: 2.0 },
    Goal { key: "python_open_speedup", label: "python zipimporter / hotpack", at_most: false, bound: 10.0 },
    Goal { key: "big_resource_deploy_peak_rss_mb", label: "1 GiB deploy peak RSS (MB)", at_most: true, bound: 64.0 },
    Goal {
        key: "big_resource_deploy_vs_library_only_ratio",
        label: "1 GiB deploy / library only",
        at_most: true,
        bound: 2.0,
    },
    Goal { key: "import_hit_10k_vs_1_ratio", label: "import hit 10k / 1 version", at_most: true, bound: 2.0 },
    Goal { key: "fingerprint_efficiency", label: "fingerprint / blake3", at_most: false, bound: 0.9 },
];

/// One row of report.md: keys of the report (`None`: no such column).
struct Row {
    what: &'static str,
    hot: &'static str,
    floor: Option<&'static str>,
    alt: Option<&'static str>,
    ratio: Option<&'static str>,
    /// The goal's key in [`GOALS`], if the row has one.
    goal: Option<&'static str>,
}

const fn row(what: &'static str, hot: &'static str) -> Row {
    Row { what, hot, floor: None, alt: None, ratio: None, goal: None }
}

/// Every row of report.md, in order.
const ROWS: &[Row] = &[
    Row {
        floor: Some("call_raw_ns"),
        alt: Some("hot_lib_reloader_call_ns"),
        ratio: Some("call_overhead_ratio"),
        goal: Some("call_overhead_ratio"),
        ..row(
            "typed call (ns): hot handle vs same shim via plain fn ptr; alt: hot-lib-reloader (real crate)",
            "call_hot_ns",
        )
    },
    Row {
        floor: Some("call_plain_extern_c_ns"),
        ratio: Some("call_vs_plain_extern_c_ratio"),
        goal: Some("call_vs_plain_extern_c_ratio"),
        ..row(
            "typed call (ns) vs a plain extern \"C\" fn doing the same work in the same library",
            "call_typed_same_lib_ns",
        )
    },
    Row {
        floor: Some("load_floor_us"),
        ratio: Some("load_overhead_ratio"),
        goal: Some("load_overhead_ratio"),
        ..row("load from bundle, p50 (µs): vs blake3 + write + dlopen + dlsym", "load_bundle_us")
    },
    Row {
        alt: Some("python_watch_reload_us"),
        ratio: Some("reload_default_vs_python_ratio"),
        goal: Some("reload_default_p50_us"),
        ..row(
            "reload, DEFAULTS (Runtime::builder().build()?.watch(), bundle renamed over) → new answer, p50 (µs); alt: python inotify + importlib.reload from a zip",
            "reload_default_p50_us",
        )
    },
    Row {
        alt: Some("python_watch_reload_us"),
        ratio: Some("reload_default_vs_python_ratio"),
        goal: Some("reload_default_vs_python_ratio"),
        ..row("reload, defaults / python (ratio)", "reload_default_vs_python_ratio")
    },
    row("reload, defaults, p99 (µs)", "reload_default_p99_us"),
    row("hot-lib-reloader (real crate) reload, its defaults (500 ms debounce), p50 (ms)", "hot_lib_reloader_reload_ms"),
    row("hot-lib-reloader (real crate) reload, 10 ms debounce, p50 (ms)", "hot_lib_reloader_reload_tuned_ms"),
    Row {
        goal: Some("reload_p50_us"),
        ..row(
            "reload, TUNED (quiet 0, settle 0, memfd, plain .so, Cache::reload) → new answer, p50 (µs)",
            "reload_p50_us",
        )
    },
    row("reload tuned, p99 (µs)", "reload_p99_us"),
    row("reload tuned part: rename → confirmed event, p50 (µs)", "reload_detect_p50_us"),
    row("reload tuned part: Cache::reload, p50 (µs)", "reload_cache_p50_us"),
    Row {
        floor: Some("zip_cd_open_10k_ms"),
        alt: Some("python_zipimporter_10k_ms"),
        ratio: Some("open_vs_zip_cd_ratio"),
        goal: Some("open_vs_zip_cd_ratio"),
        ..row(
            "open + validate 10,000 entries (ms): vs zip crate reading the central directory; alt: python zipimporter",
            "open_validate_10k_ms",
        )
    },
    Row {
        alt: Some("python_zipimporter_10k_ms"),
        ratio: Some("python_open_speedup"),
        goal: Some("python_open_speedup"),
        ..row("python zipimporter / hotpack open (speedup, interleaved)", "python_open_speedup")
    },
    Row {
        floor: Some("library_only_deploy_ms"),
        ratio: Some("big_resource_deploy_vs_library_only_ratio"),
        goal: Some("big_resource_deploy_vs_library_only_ratio"),
        ..row("deploy a bundle with a 1 GiB resource (ms): vs the same library alone", "big_resource_deploy_ms")
    },
    Row {
        floor: Some("library_only_deploy_peak_rss_mb"),
        goal: Some("big_resource_deploy_peak_rss_mb"),
        ..row(
            "deploy with a 1 GiB resource, peak RSS of the process (MB): vs library alone",
            "big_resource_deploy_peak_rss_mb",
        )
    },
    Row {
        floor: Some("cache_import_hit_ns"),
        alt: Some("python_import_hit_ns"),
        ratio: Some("import_hit_10k_vs_1_ratio"),
        goal: Some("import_hit_10k_vs_1_ratio"),
        ..row(
            "cache import hit with 10,000 versions (ns): vs 1 version; alt: python import_module hit",
            "import_hit_10k_ns",
        )
    },
    Row {
        floor: Some("register_1_us"),
        ratio: Some("register_10k_vs_1_ratio"),
        ..row("register a version into 10,000 (µs): vs into 1", "register_10k_us")
    },
    Row {
        floor: Some("blake3_raw_gbps"),
        ratio: Some("fingerprint_efficiency"),
        goal: Some("fingerprint_efficiency"),
        ..row("fingerprint a big file (GB/s): vs blake3 in memory", "fingerprint_gbps")
    },
    Row {
        floor: Some("plain_deploy_us"),
        ratio: Some("preflight_deploy_ratio"),
        ..row("deploy with --preflight (child loads, inits, exits first), p50 (µs): vs without", "preflight_deploy_us")
    },
    row("preflight child check alone (spawn, load, init, exit, reap), p50 (µs)", "preflight_us"),
    row("verify_all, 10,000 entries (ms)", "verify_all_10k_ms"),
    row("watch: rename → confirmed event, quiet 0 (µs)", "watch_rename_to_event_us"),
    row("python importlib.reload alone, no detection (µs)", "python_reload_only_us"),
    row("plain extern \"C\" fn(u64, u64) -> u64 via fn ptr (ns)", "call_plain_extern_c_ns"),
    row("typed call via RwLock<&table> (ns)", "call_rwlock_table_ns"),
    row("hot-lib-reloader's shape in-tree: RwLock + dlsym per call (ns)", "call_rwlock_dlsym_per_call_ns"),
    row("byte handler via HotModule (ns)", "call_hot_module_handler_ns"),
    row("serve: requests/s, trivial handler, 16 keep-alive clients", "serve_rps"),
    row("serve: p99 latency during 50 swaps (ms)", "serve_swap_p99_ms"),
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
        let exe = self
            .exes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .with_context(|| format!("bench `{name}` was not built"))?;
        let mut cmd = Command::new(exe);
        cmd.current_dir(&self.root)
            .env("CRITERION_HOME", self.root.join("target").join("criterion"))
            .env("HOTPACK_BENCH_QUICK", if self.quick { "1" } else { "0" })
            .env("HOTPACK_BENCH_FINGERPRINT_MIB", self.fingerprint_mib.to_string())
            .arg("--bench")
            .args(extra);
        if let Some(part) = part {
            cmd.env("HOTPACK_BENCH_PART", part);
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
        criterion_median_ns(&self.root.join("target").join("criterion"), group, bench)
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

fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => json!(a / b),
        _ => Value::Null,
    }
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
    let out = root.join("target").join("hotpack-bench");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
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
    let areas: [(&str, Area); 8] = [
        ("call", call_keys),
        ("detect", detect_keys),
        ("cache", cache_keys),
        ("load", load_keys),
        ("preflight", preflight_keys),
        ("archive", archive_keys),
        ("reload_tuned", reload_tuned_keys),
        ("serve", serve_keys),
    ];
    for (name, keys) in areas {
        let start = std::time::Instant::now();
        report.extend(keys(&ctx)?);
        stages.insert(name.into(), json!(start.elapsed().as_secs_f64()));
    }
    let start = std::time::Instant::now();
    let rounds = interleaved(&ctx)?;
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
    std::fs::write(&md_path, markdown(&report)).with_context(|| format!("writing {}", md_path.display()))?;
    let svg_path = out.join("report.svg");
    std::fs::write(&svg_path, svg(&report)).with_context(|| format!("writing {}", svg_path.display()))?;
    println!("{}", markdown(&report));
    eprintln!("xtask: wrote {}, {} and {}", json_path.display(), md_path.display(), svg_path.display());
    Ok(())
}

/// `benches/call.rs` (criterion).
fn call_keys(ctx: &Ctx) -> Result<Keys> {
    ctx.criterion("call")?;
    let hot = ctx.est("call", "hot_typed")?;
    let raw = ctx.est("call", "raw_table")?;
    let mut k = Keys::new();
    k.insert("call_hot_ns".into(), json!(hot));
    k.insert("call_raw_ns".into(), json!(raw));
    k.insert("call_overhead_ratio".into(), json!(hot / raw));
    let plain = ctx.est("call", "plain_extern_c")?;
    let typed_same_lib = ctx.est("call", "typed_same_lib")?;
    k.insert("call_plain_extern_c_ns".into(), json!(plain));
    k.insert("call_typed_same_lib_ns".into(), json!(typed_same_lib));
    k.insert("call_vs_plain_extern_c_ratio".into(), json!(typed_same_lib / plain));
    k.insert("call_rwlock_table_ns".into(), json!(ctx.est("call", "rwlock_table")?));
    k.insert("call_rwlock_dlsym_per_call_ns".into(), json!(ctx.est("call", "rwlock_dlsym_per_call")?));
    k.insert("call_hot_module_handler_ns".into(), json!(ctx.est("call", "hot_module_handler")?));
    Ok(k)
}

/// `benches/detect.rs` (criterion).
fn detect_keys(ctx: &Ctx) -> Result<Keys> {
    ctx.criterion("detect")?;
    let bytes = (ctx.fingerprint_mib << 20) as f64;
    let file = bytes / ctx.est("detect", "fingerprint_file")?;
    let memory = bytes / ctx.est("detect", "blake3_in_memory")?;
    let all_cores = bytes / ctx.est("detect", "blake3_in_memory_rayon")?;
    let mut k = Keys::new();
    k.insert("blake3_rayon_gbps".into(), json!(all_cores));
    k.insert("fingerprint_all_cores_efficiency".into(), json!(file / all_cores));
    k.insert("fingerprint_file_mib".into(), json!(ctx.fingerprint_mib));
    k.insert("fingerprint_gbps".into(), json!(file));
    k.insert("blake3_raw_gbps".into(), json!(memory));
    k.insert("fingerprint_efficiency".into(), json!(file / memory));
    k.insert("watch_rename_to_event_us".into(), json!(ctx.est("detect", "watch_rename_to_event")? / 1e3));
    Ok(k)
}

/// `cargo xtask bench-serve`: a real `hotpack serve` under load from 16 clients, and 50 swaps.
fn serve_keys(ctx: &Ctx) -> Result<Keys> {
    let serve = crate::serve_bench::run(ctx.quick)?;
    let mut k = Keys::new();
    for key in ["serve_rps", "serve_swap_p99_ms", "serve_detail"] {
        k.insert(key.into(), serve[key].clone());
    }
    Ok(k)
}

/// `benches/cache.rs` (custom-timed: 1 vs 10,000 retained versions).
fn cache_keys(ctx: &Ctx) -> Result<Keys> {
    ctx.bench("cache", None, &[])?;
    let c = ctx.result("cache")?;
    let (hit_1, hit_n) = (num(&c, &["import_hit_1_ns"])?, num(&c, &["import_hit_n_ns"])?);
    let (reg_1, reg_n) = (num(&c, &["register_1_us"])?, num(&c, &["register_n_us"])?);
    let mut k = Keys::new();
    k.insert("cache_versions".into(), c["versions"].clone());
    k.insert("cache_import_hit_ns".into(), json!(hit_1));
    k.insert("import_hit_10k_ns".into(), json!(hit_n));
    k.insert("import_hit_10k_vs_1_ratio".into(), json!(hit_n / hit_1));
    k.insert("register_1_us".into(), json!(reg_1));
    k.insert("register_10k_us".into(), json!(reg_n));
    k.insert("register_10k_vs_1_ratio".into(), json!(reg_n / reg_1));
    Ok(k)
}

/// `benches/load.rs`: load from a bundle vs the floor, and the 1 GiB resource deploy.
fn load_keys(ctx: &Ctx) -> Result<Keys> {
    ctx.bench("load", Some("load"), &[])?;
    let load = ctx.result("load")?;
    ctx.bench("load", Some("big-deploy"), &[])?;
    let big = ctx.result("load-big-deploy")?;
    let (bundle, floor) = (num(&load, &["bundle", "p50_us"])?, num(&load, &["floor", "p50_us"])?);
    let big_ms = num(&big, &["big", "p50_us"])? / 1e3;
    let alone_ms = num(&big, &["library_only", "p50_us"])? / 1e3;
    let mut k = Keys::new();
    k.insert("load_bundle_us".into(), json!(bundle));
    k.insert("load_floor_us".into(), json!(floor));
    k.insert("load_overhead_ratio".into(), json!(bundle / floor));
    k.insert("load_detail".into(), load);
    k.insert("big_resource_deploy_ms".into(), json!(big_ms));
    k.insert("library_only_deploy_ms".into(), json!(alone_ms));
    k.insert("big_resource_deploy_vs_library_only_ratio".into(), json!(big_ms / alone_ms));
    k.insert("big_resource_deploy_peak_rss_mb".into(), big["big_peak_rss_mb"].clone());
    k.insert("library_only_deploy_peak_rss_mb".into(), big["library_only_peak_rss_mb"].clone());
    k.insert("big_resource_bytes".into(), big["resource_bytes"].clone());
    Ok(k)
}

/// `benches/load.rs`, part `preflight`: the preflight child's cost, alone and in a deploy.
fn preflight_keys(ctx: &Ctx) -> Result<Keys> {
    ctx.bench("load", Some("preflight"), &[])?;
    let p = ctx.result("load-preflight")?;
    let (with, without) = (num(&p, &["deploy_with_preflight", "p50_us"])?, num(&p, &["deploy_plain", "p50_us"])?);
    let mut k = Keys::new();
    k.insert("preflight_us".into(), json!(num(&p, &["check", "p50_us"])?));
    k.insert("preflight_deploy_us".into(), json!(with));
    k.insert("plain_deploy_us".into(), json!(without));
    k.insert("preflight_deploy_ratio".into(), json!(with / without));
    k.insert("preflight_detail".into(), p);
    Ok(k)
}

/// `benches/archive.rs` (criterion part: verify_all, and the old whole-file-read anchor).
fn archive_keys(ctx: &Ctx) -> Result<Keys> {
    ctx.criterion("archive")?;
    let mut k = Keys::new();
    k.insert("verify_all_10k_ms".into(), json!(ctx.est("archive", "verify_all_10k")? / 1e6));
    k.insert("zip_read_all_open_10k_ms".into(), json!(ctx.est("archive", "zip_read_all_open_10k")? / 1e6));
    k.insert("open_validate_10k_criterion_ms".into(), json!(ctx.est("archive", "open_validate_10k")? / 1e6));
    k.insert("zip_cd_open_10k_criterion_ms".into(), json!(ctx.est("archive", "zip_cd_10k")? / 1e6));
    Ok(k)
}

/// `benches/reload.rs`, part `tuned` (one process; the part `default` runs in the rounds).
fn reload_tuned_keys(ctx: &Ctx) -> Result<Keys> {
    ctx.bench("reload", Some("tuned"), &[])?;
    let r = ctx.result("reload-tuned")?;
    let mut k = Keys::new();
    k.insert("reload_p50_us".into(), json!(num(&r, &["swaps", "p50_us"])?));
    k.insert("reload_p99_us".into(), json!(num(&r, &["swaps", "p99_us"])?));
    k.insert("reload_detect_p50_us".into(), json!(num(&r, &["breakdown", "rename_to_event", "p50_us"])?));
    k.insert("reload_cache_p50_us".into(), json!(num(&r, &["breakdown", "cache_reload", "p50_us"])?));
    k.insert("reload_tuned_detail".into(), r);
    Ok(k)
}

/// What the interleaved rounds collected: per round, each side's figure.
#[derive(Default)]
struct Rounds {
    reload_default_us: Vec<f64>,
    reload_default_round_p50: Vec<f64>,
    python_watch_us: Vec<f64>,
    python_watch_round_median: Vec<f64>,
    python_watcher: Option<String>,
    python_reload_only_us: Vec<f64>,
    python_import_hit_ns: Vec<f64>,
    open_ms: Vec<f64>,
    zip_cd_ms: Vec<f64>,
    python_zip_ms: Vec<f64>,
    hlr_call_ns: Vec<f64>,
    hlr_reload_us: Vec<f64>,
    hlr_reload_tuned_us: Vec<f64>,
    hlr_round_p50: Vec<f64>,
}

/// The rounds that compare hotpack with python and hot-lib-reloader: each round runs the
/// Rust side, then the other side, in turn (reload defaults, python watcher, hotpack open,
/// python zipimporter, python reload/import hit, hot-lib-reloader).
fn interleaved(ctx: &Ctx) -> Result<Rounds> {
    let rounds = if ctx.quick { 3 } else { 5 };
    let bundle = ctx.out.join("inputs").join("bundle-10k.zip");
    let bundle = bundle.to_string_lossy().into_owned();
    let mut r = Rounds::default();
    let samples = |v: &Value| -> Vec<f64> {
        v["samples_us"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default()
    };
    for round in 0..rounds {
        eprintln!("xtask: interleaved round {} of {rounds}", round + 1);
        ctx.bench("reload", Some("default"), &[])?;
        let d = ctx.result("reload-default")?;
        r.reload_default_us.extend(samples(&d));
        r.reload_default_round_p50.push(num(&d, &["swaps", "p50_us"])?);

        let scratch = ctx.out.join("tmp").join("python-watch");
        let _ = std::fs::remove_dir_all(&scratch);
        let swaps = if ctx.quick { "10" } else { "25" };
        if let Some(p) =
            ctx.python("watch_reload_bench.py", &["--dir", &scratch.to_string_lossy(), "--swaps", swaps])?
        {
            r.python_watch_us.extend(samples(&p));
            r.python_watch_round_median.push(num(&p, &["watch_reload_us", "median"])?);
            r.python_watcher = p["watcher"].as_str().map(str::to_owned);
        }

        ctx.bench("archive", Some("open-round"), &[])?;
        let a = ctx.result("archive-open")?;
        r.open_ms.push(num(&a, &["open_validate_10k", "p50_us"])? / 1e3);
        r.zip_cd_ms.push(num(&a, &["zip_cd_10k", "p50_us"])? / 1e3);
        let repeat = if ctx.quick { "15" } else { "40" };
        if let Some(p) = ctx.python("zipimport_bench.py", &["--bundle", &bundle, "--repeat", repeat])? {
            r.python_zip_ms.push(num(&p, &["zipimporter_ms", "median"])?);
        }
        if let Some(p) = ctx.python("reload_bench.py", &["--repeat", "50"])? {
            r.python_reload_only_us.push(num(&p, &["reload_us", "median"])?);
            r.python_import_hit_ns.push(num(&p, &["import_hit_ns"])?);
        }

        if let Some((exe, v1, v2)) = &ctx.peer {
            let dir = ctx.out.join("tmp").join("hot-lib-reloader");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut cmd = Command::new(exe);
            cmd.args(["--dir", &dir.to_string_lossy(), "--v1", &v1.to_string_lossy(), "--v2", &v2.to_string_lossy()])
                .args(["--swaps", if ctx.quick { "4" } else { "10" }])
                .args(["--calls", if ctx.quick { "500000" } else { "2000000" }]);
            eprintln!("xtask: running {cmd:?}");
            let output = cmd.output().with_context(|| format!("could not start {cmd:?}"))?;
            if !output.status.success() {
                bail!("{cmd:?} failed with {}:\n{}", output.status, String::from_utf8_lossy(&output.stderr));
            }
            let h: Value =
                serde_json::from_slice(&output.stdout).context("parsing the hot-lib-reloader peer's output")?;
            let list = |key: &str| -> Vec<f64> {
                h[key].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default()
            };
            r.hlr_call_ns.push(num(&h, &["call_ns"])?);
            let default = list("reload_default_us");
            r.hlr_round_p50.extend(median(&default));
            r.hlr_reload_us.extend(default);
            r.hlr_reload_tuned_us.extend(list("reload_tuned_us"));
        }
    }
    Ok(r)
}

impl Rounds {
    fn keys(&self) -> Keys {
        let mut k = Keys::new();
        let d50 = percentile(&self.reload_default_us, 0.5);
        let py = median(&self.python_watch_us);
        k.insert("reload_default_p50_us".into(), json!(d50));
        k.insert("reload_default_p99_us".into(), json!(percentile(&self.reload_default_us, 0.99)));
        k.insert("reload_default_swaps".into(), json!(self.reload_default_us.len()));
        k.insert("python_watch_reload_us".into(), json!(py));
        k.insert("python_watcher".into(), json!(self.python_watcher));
        k.insert("reload_default_vs_python_ratio".into(), ratio(d50, py));
        let (open, zip_cd, python_zip) = (median(&self.open_ms), median(&self.zip_cd_ms), median(&self.python_zip_ms));
        k.insert("open_validate_10k_ms".into(), json!(open));
        k.insert("zip_cd_open_10k_ms".into(), json!(zip_cd));
        k.insert("open_vs_zip_cd_ratio".into(), ratio(open, zip_cd));
        k.insert("python_zipimporter_10k_ms".into(), json!(python_zip));
        k.insert("python_open_speedup".into(), ratio(python_zip, open));
        k.insert("python_reload_only_us".into(), json!(median(&self.python_reload_only_us)));
        k.insert("python_import_hit_ns".into(), json!(median(&self.python_import_hit_ns)));
        k.insert("hot_lib_reloader_call_ns".into(), json!(median(&self.hlr_call_ns)));
        k.insert("hot_lib_reloader_reload_ms".into(), json!(median(&self.hlr_reload_us).map(|u| u / 1e3)));
        k.insert("hot_lib_reloader_reload_tuned_ms".into(), json!(median(&self.hlr_reload_tuned_us).map(|u| u / 1e3)));
        k.insert(
            "rounds".into(),
            json!({
                "reload_default_p50_us": self.reload_default_round_p50,
                "python_watch_reload_us": self.python_watch_round_median,
                "open_validate_10k_ms": self.open_ms,
                "zip_cd_open_10k_ms": self.zip_cd_ms,
                "python_zipimporter_10k_ms": self.python_zip_ms,
                "hot_lib_reloader_call_ns": self.hlr_call_ns,
                "hot_lib_reloader_reload_p50_us": self.hlr_round_p50,
            }),
        );
        k
    }

    /// Figures whose rounds disagree by more than 20% ((max - min) / median).
    fn disagreements(&self) -> Vec<String> {
        let figures: [(&str, &[f64]); 7] = [
            ("reload_default_p50_us", &self.reload_default_round_p50),
            ("python_watch_reload_us", &self.python_watch_round_median),
            ("open_validate_10k_ms", &self.open_ms),
            ("zip_cd_open_10k_ms", &self.zip_cd_ms),
            ("python_zipimporter_10k_ms", &self.python_zip_ms),
            ("hot_lib_reloader_call_ns", &self.hlr_call_ns),
            ("hot_lib_reloader_reload_p50_us", &self.hlr_round_p50),
        ];
        let mut out = Vec::new();
        for (name, v) in figures {
            let (Some(m), Some(lo), Some(hi)) =
                (median(v), v.iter().copied().reduce(f64::min), v.iter().copied().reduce(f64::max))
            else {
                continue;
            };
            if m > 0.0 && (hi - lo) / m > 0.2 {
                out.push(format!("rounds of {name} disagree by {:.0}% ({lo:.1} .. {hi:.1})", (hi - lo) / m * 100.0));
            }
        }
        out
    }
}

/// The python to run the baselines with: a venv under `target/hotpack-bench/venv` with
/// watchdog when it can be made (PyPI reachable), else the system python3, else none.
fn python_env(root: &Path) -> Option<PathBuf> {
    let venv = root.join("target").join("hotpack-bench").join("venv");
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
fn build_peer(root: &Path) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let manifest = root.join("benches").join("peers").join("hot-lib-reloader").join("Cargo.toml");
    let target = root.join("target").join("peer-hot-lib-reloader");
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
fn build_benches(quick: bool, fingerprint_mib: u64) -> Result<Vec<(String, PathBuf)>> {
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
fn criterion_median_ns(criterion_dir: &Path, group: &str, bench: &str) -> Result<f64> {
    let path = criterion_dir.join(group).join(bench).join("new").join("estimates.json");
    let v = read_json(&path)?;
    v.get("median")
        .and_then(|m| m.get("point_estimate"))
        .and_then(Value::as_f64)
        .with_context(|| format!("{}: no median.point_estimate", path.display()))
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// The 1-minute load average.
fn loadavg_1m() -> Option<f64> {
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

fn machine() -> Value {
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

fn f(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// A figure with a sensible number of digits, or `—` when absent.
fn show(x: Option<f64>) -> String {
    match x {
        None => "—".into(),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) if x >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn noisy(report: &Value) -> bool {
    report["noisy"].as_bool() != Some(false)
}

fn verdict(goal: &Goal, report: &Value) -> &'static str {
    match f(report, goal.key) {
        None => "not measured",
        Some(_) if noisy(report) => "no verdict (noisy)",
        Some(x) if (goal.at_most && x <= goal.bound) || (!goal.at_most && x >= goal.bound) => "met",
        Some(_) => "**missed**",
    }
}

fn goal_text(goal: &Goal) -> String {
    format!("{} {}", if goal.at_most { "≤" } else { "≥" }, goal.bound)
}

fn markdown(r: &Value) -> String {
    let m = &r["machine"];
    let mut out = String::new();
    let _ = writeln!(out, "# hotpack benchmark report\n");
    let _ = writeln!(
        out,
        "{} · {} cores · {} · {} · 1-minute load average before/after: {} / {}{}\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["rustc"].as_str().unwrap_or("?"),
        m["date"].as_str().unwrap_or("?"),
        show(r["load_avg"]["before"].as_f64()),
        show(r["load_avg"]["after"].as_f64()),
        if r["quick"].as_bool() == Some(true) {
            format!(" · **--quick** (short runs, {} MiB fingerprint file)", r["fingerprint_file_mib"])
        } else {
            String::new()
        },
    );
    if noisy(r) {
        let _ = writeln!(out, "**noisy run: no verdicts.**\n");
        for reason in r["noisy_reasons"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "- {}", reason.as_str().unwrap_or("?"));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "| figure | hotpack | floor | alternative | ratio | goal | |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|---|");
    let opt = |key: Option<&str>| key.map_or_else(|| "—".to_owned(), |k| show(f(r, k)));
    for row in ROWS {
        let goal = row.goal.and_then(|key| GOALS.iter().find(|g| g.key == key));
        let (goal_s, met) = match goal {
            Some(goal) => (goal_text(goal), verdict(goal, r).to_owned()),
            None => ("—".into(), "—".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {goal_s} | {met} |",
            row.what,
            show(f(r, row.hot)),
            opt(row.floor),
            opt(row.alt),
            opt(row.ratio)
        );
    }
    if let Some(n) = r["cache_versions"].as_u64().filter(|n| *n != 10_000) {
        let _ = writeln!(out, "\n**The cache rows were measured with {n} versions, not 10,000.**");
    }
    let _ = writeln!(
        out,
        "\nPython watcher: {}. Chart of the goals: `report.svg`. Meaning of each figure: `docs/BENCHMARKS.md`.",
        r["python_watcher"].as_str().unwrap_or("none")
    );
    out
}

/// A horizontal bar per goal: the figure relative to its goal, oriented so that a bar
/// ending left of the goal line meets it (`value / bound` for "at most" goals,
/// `bound / value` for "at least" goals). A noisy run draws grey bars and says so.
fn svg(r: &Value) -> String {
    let (left, width, bar_h, gap, top) = (250.0, 420.0, 22.0, 14.0, 50.0);
    let max_score = 3.0;
    let x_of = |score: f64| left + width * score.min(max_score) / max_score;
    let height = top + GOALS.len() as f64 * (bar_h + gap) + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="12">"#,
        w = left + width + 160.0
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let title = if noisy(r) {
        "hotpack: noisy run: no verdicts (figures relative to their goals)"
    } else {
        "hotpack: each figure relative to its goal (left of the line = met)"
    };
    let _ = writeln!(s, r#"<text x="10" y="22" font-size="15" font-weight="bold">{title}</text>"#);
    for (i, goal) in GOALS.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        let value = f(r, goal.key);
        let score = value.map(|v| {
            if goal.at_most {
                v / goal.bound
            } else if v > 0.0 {
                goal.bound / v
            } else {
                max_score
            }
        });
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + bar_h * 0.7,
            escape(goal.label)
        );
        if let Some(score) = score {
            let color = match (noisy(r), score <= 1.0) {
                (true, _) => "#999999",
                (false, true) => "#2e9e4f",
                (false, false) => "#d0433a",
            };
            let _ = writeln!(
                s,
                r#"<rect x="{left}" y="{y}" width="{:.1}" height="{bar_h}" fill="{color}"/>"#,
                x_of(score) - left
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{} (goal {})</text>"#,
            x_of(score.unwrap_or(0.0)) + 6.0,
            y + bar_h * 0.7,
            show(value),
            escape(&goal_text(goal))
        );
    }
    let x1 = x_of(1.0);
    let bottom = top + GOALS.len() as f64 * (bar_h + gap);
    let _ = writeln!(
        s,
        r#"<line x1="{x1}" y1="{}" x2="{x1}" y2="{bottom}" stroke="black" stroke-dasharray="4 3"/>"#,
        top - 8.0
    );
    let _ = writeln!(s, r#"<text x="{x1}" y="{}" text-anchor="middle">goal</text>"#, bottom + 16.0);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="end">bars are clipped at 3× the goal</text>"#,
        left + width,
        bottom + 16.0
    );
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
