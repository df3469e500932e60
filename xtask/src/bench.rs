//! `cargo xtask bench [--quick]`: runs every bench of `benches/` ("benchmarked together"),
//! the python3 baselines in `benches/python/`, and writes `target/hotpack-bench/report.json`,
//! `report.md` (side by side: hotpack, the floor, the alternative, the ratio, the goal) and
//! `report.svg` (each goal's ratio, drawn by hand: no plotting dependency).
//!
//! Criterion benches (`call`, `archive`, `detect`, `cache`) are read back from
//! `target/criterion/<group>/<bench>/new/estimates.json` (median point estimate, ns). The
//! custom-timed ones (`load`, `reload`: every iteration must load new code, which stays
//! mapped) write `target/hotpack-bench/<name>.json` themselves. `docs/BENCHMARKS.md` says
//! what each figure means.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Criterion bench targets of the root package, in run order.
const CRITERION_BENCHES: [&str; 4] = ["call", "cache", "archive", "detect"];
/// Bench targets that time themselves and write `target/hotpack-bench/<name>.json`.
const TIMED_BENCHES: [&str; 2] = ["load", "reload"];

/// One goal of the issue: a figure of the report and the bound it should meet.
struct Goal {
    key: &'static str,
    label: &'static str,
    /// `true`: the figure should be at most `bound`; `false`: at least.
    at_most: bool,
    bound: f64,
}

const GOALS: [Goal; 7] = [
    Goal { key: "call_overhead_ratio", label: "call: hot / raw", at_most: true, bound: 1.15 },
    Goal { key: "call_vs_plain_extern_c_ratio", label: "call: typed / plain extern C", at_most: true, bound: 2.0 },
    Goal { key: "load_overhead_ratio", label: "load: bundle / floor", at_most: true, bound: 1.5 },
    Goal { key: "open_overhead_ratio", label: "open 10k: hotpack / zip", at_most: true, bound: 2.0 },
    Goal { key: "fingerprint_efficiency", label: "fingerprint / blake3", at_most: false, bound: 0.9 },
    Goal { key: "python_open_speedup", label: "python zipimporter / hotpack", at_most: false, bound: 10.0 },
    Goal { key: "reload_p50_us", label: "reload p50 (us)", at_most: true, bound: 1000.0 },
];

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
    let load_before = loadavg();
    let fingerprint_mib: u64 = if quick { 256 } else { 1024 };
    let started = std::time::Instant::now();

    // Compile every bench target once, then run the executables one by one (not `cargo
    // bench --bench x` each time: other people edit the workspace while this runs).
    let exes = build_benches(quick, fingerprint_mib)?;
    let criterion_args: &[&str] = if quick {
        &["--warm-up-time", "0.5", "--measurement-time", "1.5", "--sample-size", "10"]
    } else {
        &["--warm-up-time", "2", "--measurement-time", "5"]
    };
    for name in CRITERION_BENCHES.iter().chain(&TIMED_BENCHES) {
        let exe = exes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .with_context(|| format!("bench `{name}` was not built"))?;
        let mut cmd = Command::new(exe);
        cmd.current_dir(&root)
            .env("CRITERION_HOME", root.join("target").join("criterion"))
            .env("HOTPACK_BENCH_QUICK", if quick { "1" } else { "0" })
            .env("HOTPACK_BENCH_FINGERPRINT_MIB", fingerprint_mib.to_string())
            .arg("--bench");
        if CRITERION_BENCHES.contains(name) {
            cmd.args(criterion_args);
        }
        crate::run(cmd)?;
    }

    let bundle = out.join("inputs").join("bundle-10k.zip");
    let py_repeat = if quick { "15" } else { "40" };
    let py_zip = python(&root, "zipimport_bench.py", &["--bundle", &bundle.to_string_lossy(), "--repeat", py_repeat])?;
    let py_reload = python(&root, "reload_bench.py", &["--repeat", if quick { "100" } else { "300" }])?;

    let crit = root.join("target").join("criterion");
    let est = |group: &str, bench: &str| criterion_median_ns(&crit, group, bench);
    let load = read_json(&out.join("load.json"))?;
    let reload = read_json(&out.join("reload.json"))?;
    let num = |v: &Value, path: &[&str]| -> Result<f64> {
        let mut cur = v;
        for key in path {
            cur = cur.get(key).with_context(|| format!("missing `{}` in a bench result", path.join(".")))?;
        }
        cur.as_f64().with_context(|| format!("`{}` is not a number", path.join(".")))
    };

    let call_hot_ns = est("call", "hot_typed")?;
    let call_raw_ns = est("call", "raw_table")?;
    let load_bundle_us = num(&load, &["bundle", "p50_us"])?;
    let load_floor_us = num(&load, &["floor", "p50_us"])?;
    let open_validate_10k_ms = est("archive", "open_validate_10k")? / 1e6;
    let zip_raw_open_10k_ms = est("archive", "zip_open_10k")? / 1e6;
    let python_zipimporter_10k_ms = py_zip.as_ref().map(|v| num(v, &["zipimporter_ms", "median"])).transpose()?;
    let bytes = (fingerprint_mib << 20) as f64;
    let fingerprint_gbps = bytes / est("detect", "fingerprint_file")?;
    let blake3_raw_gbps = bytes / est("detect", "blake3_in_memory")?;
    let python_reload_us = py_reload.as_ref().map(|v| num(v, &["reload_us", "median"])).transpose()?;
    let python_import_hit_ns = py_reload.as_ref().map(|v| num(v, &["import_hit_ns"])).transpose()?;

    // Both in `fx-call-floor`: a typed call and a plain `extern "C"` call doing the same work.
    let call_plain_ns = est("call", "plain_extern_c")?;
    let call_typed_same_lib_ns = est("call", "typed_same_lib")?;
    let report = json!({
        "quick": quick,
        "call_hot_ns": call_hot_ns,
        "call_raw_ns": call_raw_ns,
        "call_overhead_ratio": call_hot_ns / call_raw_ns,
        "call_plain_extern_c_ns": call_plain_ns,
        "call_typed_same_lib_ns": call_typed_same_lib_ns,
        "call_vs_plain_extern_c_ratio": call_typed_same_lib_ns / call_plain_ns,
        "call_rwlock_table_ns": est("call", "rwlock_table")?,
        "call_rwlock_dlsym_per_call_ns": est("call", "rwlock_dlsym_per_call")?,
        "call_hot_module_handler_ns": est("call", "hot_module_handler")?,
        "load_bundle_us": load_bundle_us,
        "load_floor_us": load_floor_us,
        "load_overhead_ratio": load_bundle_us / load_floor_us,
        "load_detail": load,
        "open_validate_10k_ms": open_validate_10k_ms,
        "zip_raw_open_10k_ms": zip_raw_open_10k_ms,
        "open_overhead_ratio": open_validate_10k_ms / zip_raw_open_10k_ms,
        "verify_all_10k_ms": est("archive", "verify_all_10k")? / 1e6,
        "python_zipimporter_10k_ms": python_zipimporter_10k_ms,
        "python_open_speedup": python_zipimporter_10k_ms.map(|p| p / open_validate_10k_ms),
        "fingerprint_file_mib": fingerprint_mib,
        "fingerprint_gbps": fingerprint_gbps,
        "blake3_raw_gbps": blake3_raw_gbps,
        "fingerprint_efficiency": fingerprint_gbps / blake3_raw_gbps,
        "watch_rename_to_event_us": est("detect", "watch_rename_to_event")? / 1e3,
        "reload_p50_us": num(&reload, &["swaps", "p50_us"])?,
        "reload_p99_us": num(&reload, &["swaps", "p99_us"])?,
        "reload_detect_p50_us": num(&reload, &["breakdown", "rename_to_event", "p50_us"])?,
        "reload_cache_p50_us": num(&reload, &["breakdown", "cache_reload", "p50_us"])?,
        "reload_defaults_p50_us": num(&reload, &["with_defaults", "swaps", "p50_us"])?,
        "reload_detail": reload,
        "python_reload_us": python_reload_us,
        "cache_import_hit_ns": est("cache", "import_hit")?,
        "python_import_hit_ns": python_import_hit_ns,
        "machine": machine(load_before),
        "wall_time_s": started.elapsed().as_secs_f64(),
    });

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

/// Runs a python3 baseline and parses the JSON it prints; `None` (with a warning) when
/// python3 is missing, so the Rust figures are still reported.
fn python(root: &Path, script: &str, args: &[&str]) -> Result<Option<Value>> {
    let path: PathBuf = root.join("benches").join("python").join(script);
    let mut cmd = Command::new("python3");
    cmd.arg(&path).args(args).current_dir(root);
    eprintln!("xtask: running {cmd:?}");
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) => {
            eprintln!("xtask: python3 is not available ({e}); python baselines are left out");
            return Ok(None);
        }
    };
    if !output.status.success() {
        bail!("{} failed with {}:\n{}", path.display(), output.status, String::from_utf8_lossy(&output.stderr));
    }
    let value =
        serde_json::from_slice(&output.stdout).with_context(|| format!("parsing the output of {}", path.display()))?;
    Ok(Some(value))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
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

fn machine(load_before: String) -> Value {
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
        "load_average_before": load_before,
        "load_average_after": loadavg(),
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

fn verdict(goal: &Goal, report: &Value) -> &'static str {
    match f(report, goal.key) {
        None => "not measured",
        Some(x) if (goal.at_most && x <= goal.bound) || (!goal.at_most && x >= goal.bound) => "met",
        Some(_) => "**missed**",
    }
}

fn goal_text(goal: &Goal) -> String {
    format!("{} {}", if goal.at_most { "≤" } else { "≥" }, goal.bound)
}

fn markdown(r: &Value) -> String {
    let g = |key: &str| GOALS.iter().find(|g| g.key == key).expect("a known goal");
    let row =
        |out: &mut String, what: &str, hot: Option<f64>, floor: &str, alt: &str, ratio: &str, goal: Option<&Goal>| {
            let (goal_s, met) = match goal {
                Some(goal) => (goal_text(goal), verdict(goal, r).to_owned()),
                None => ("—".into(), "—".into()),
            };
            let _ = writeln!(out, "| {what} | {} | {floor} | {alt} | {ratio} | {goal_s} | {met} |", show(hot));
        };
    let m = &r["machine"];
    let mut out = String::new();
    let _ = writeln!(out, "# hotpack benchmark report\n");
    let _ = writeln!(
        out,
        "{} · {} cores · {} · {} · load average before/after: {} / {}{}\n",
        m["cpu"].as_str().unwrap_or("?"),
        m["cores"],
        m["rustc"].as_str().unwrap_or("?"),
        m["date"].as_str().unwrap_or("?"),
        m["load_average_before"].as_str().unwrap_or("?"),
        m["load_average_after"].as_str().unwrap_or("?"),
        if r["quick"].as_bool() == Some(true) {
            format!(" · **--quick** (short criterion runs, {} MiB fingerprint file)", r["fingerprint_file_mib"])
        } else {
            String::new()
        },
    );
    let _ = writeln!(out, "| figure | hotpack | floor | alternative | ratio | goal | |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|---|");
    row(
        &mut out,
        "typed call (ns): hot handle vs same shim via plain fn ptr; alt: RwLock + dlsym per call",
        f(r, "call_hot_ns"),
        &show(f(r, "call_raw_ns")),
        &show(f(r, "call_rwlock_dlsym_per_call_ns")),
        &show(f(r, "call_overhead_ratio")),
        Some(g("call_overhead_ratio")),
    );
    row(
        &mut out,
        "load from bundle, p50 (µs): vs blake3 + write + dlopen + dlsym",
        f(r, "load_bundle_us"),
        &show(f(r, "load_floor_us")),
        "—",
        &show(f(r, "load_overhead_ratio")),
        Some(g("load_overhead_ratio")),
    );
    row(
        &mut out,
        "open + validate 10,000 entries (ms): vs zip crate; alt: python zipimporter",
        f(r, "open_validate_10k_ms"),
        &show(f(r, "zip_raw_open_10k_ms")),
        &show(f(r, "python_zipimporter_10k_ms")),
        &show(f(r, "open_overhead_ratio")),
        Some(g("open_overhead_ratio")),
    );
    row(
        &mut out,
        "python zipimporter / hotpack open (speedup)",
        f(r, "python_open_speedup"),
        "—",
        &show(f(r, "python_zipimporter_10k_ms")),
        &show(f(r, "python_open_speedup")),
        Some(g("python_open_speedup")),
    );
    row(
        &mut out,
        &format!("fingerprint a {} MiB file (GB/s): vs blake3 in memory", r["fingerprint_file_mib"]),
        f(r, "fingerprint_gbps"),
        &show(f(r, "blake3_raw_gbps")),
        "—",
        &show(f(r, "fingerprint_efficiency")),
        Some(g("fingerprint_efficiency")),
    );
    row(
        &mut out,
        &format!(
            "reload, rename → new answer, p50 (µs; p99 {}); alt: python importlib.reload",
            show(f(r, "reload_p99_us"))
        ),
        f(r, "reload_p50_us"),
        "—",
        &show(f(r, "python_reload_us")),
        "—",
        Some(g("reload_p50_us")),
    );
    row(&mut out, "reload part: rename → confirmed event, p50 (µs)", f(r, "reload_detect_p50_us"), "—", "—", "—", None);
    row(&mut out, "reload part: Cache::reload, p50 (µs)", f(r, "reload_cache_p50_us"), "—", "—", "—", None);
    row(
        &mut out,
        "reload with default settings (20 ms settle, fsynced file), p50 (µs)",
        f(r, "reload_defaults_p50_us"),
        "—",
        "—",
        "—",
        None,
    );
    row(&mut out, "verify_all, 10,000 entries (ms)", f(r, "verify_all_10k_ms"), "—", "—", "—", None);
    row(&mut out, "watch: rename → confirmed event (µs)", f(r, "watch_rename_to_event_us"), "—", "—", "—", None);
    row(
        &mut out,
        "cache import hit (ns); alt: python import_module hit",
        f(r, "cache_import_hit_ns"),
        "—",
        &show(f(r, "python_import_hit_ns")),
        "—",
        None,
    );
    row(
        &mut out,
        "typed call (ns) vs plain extern \"C\" fn(u64, u64) -> u64 doing the same work in the same library",
        f(r, "call_typed_same_lib_ns"),
        &show(f(r, "call_plain_extern_c_ns")),
        "—",
        &show(f(r, "call_vs_plain_extern_c_ratio")),
        Some(g("call_vs_plain_extern_c_ratio")),
    );
    row(&mut out, "typed call via RwLock<&table> (ns)", f(r, "call_rwlock_table_ns"), "—", "—", "—", None);
    row(&mut out, "byte handler via HotModule (ns)", f(r, "call_hot_module_handler_ns"), "—", "—", "—", None);
    let _ = writeln!(out, "\nChart of the goals: `report.svg`. Meaning of each figure: `docs/BENCHMARKS.md`.");
    out
}

/// A horizontal bar per goal: the figure relative to its goal, oriented so that a bar
/// ending left of the goal line meets it (`value / bound` for "at most" goals,
/// `bound / value` for "at least" goals).
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
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">hotpack: each figure relative to its goal (left of the line = met)</text>"#
    );
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
            let color = if score <= 1.0 { "#2e9e4f" } else { "#d0433a" };
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
