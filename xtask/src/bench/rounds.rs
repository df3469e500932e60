//! The interleaved rounds: the figures compared with python and hot-lib-reloader, each
//! round running the Rust side and then the other side, so drift hits both alike.

use super::report::{Goal, Row, row};
use super::{Ctx, Keys, median, num, percentile};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::process::Command;

/// This area's goals.
pub(super) const GOALS: &[Goal] = &[
    Goal { key: "reload_default_p50_us", label: "reload, defaults, p50 (us)", at_most: true, bound: 3000.0 },
    Goal { key: "reload_default_vs_python_ratio", label: "reload defaults / python", at_most: true, bound: 2.0 },
    Goal { key: "open_vs_zip_cd_ratio", label: "open 10k: hotpack / zip CD", at_most: true, bound: 2.0 },
    Goal { key: "python_open_speedup", label: "python zipimporter / hotpack", at_most: false, bound: 10.0 },
];

/// This area's rows of report.md.
pub(super) const ROWS: &[Row] = &[
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
    row("python importlib.reload alone, no detection (µs)", "python_reload_only_us"),
];

/// What the interleaved rounds collected: per round, each side's figure.
#[derive(Default)]
pub(super) struct Rounds {
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
    /// Per round: the median over pairs of (python's open / hotpack's open right before it).
    python_open_pairs: Vec<f64>,
    hlr_call_ns: Vec<f64>,
    hlr_reload_us: Vec<f64>,
    hlr_reload_tuned_us: Vec<f64>,
    hlr_round_p50: Vec<f64>,
}

/// The rounds that compare hotpack with python and hot-lib-reloader: each round runs the
/// Rust side, then the other side, in turn (reload defaults, python watcher, hotpack open
/// alternating one by one with the zip crate's and python's zipimporter, python
/// reload/import hit, hot-lib-reloader).
pub(super) fn interleaved(ctx: &Ctx) -> Result<Rounds> {
    let rounds = if ctx.quick { 3 } else { 5 };
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

        ctx.bench_on("archive", Some("open-round"), &[], true)?;
        let a = ctx.result("archive-open")?;
        r.open_ms.push(num(&a, &["open_validate_10k", "p50_us"])? / 1e3);
        r.zip_cd_ms.push(num(&a, &["zip_cd_10k", "p50_us"])? / 1e3);
        // Python's zipimporter opens alternate with hotpack's inside the open-round part
        // (`zipimport_bench.py --pairs`), when there is a python.
        if a.get("python_open_speedup").is_some() {
            r.python_zip_ms.push(num(&a, &["python_zipimporter_10k", "p50_us"])? / 1e3);
            r.python_open_pairs.push(num(&a, &["python_open_speedup"])?);
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
    pub(super) fn keys(&self) -> Keys {
        let mut k = Keys::new();
        let d50 = percentile(&self.reload_default_us, 0.5);
        let py = median(&self.python_watch_us);
        k.insert("reload_default_p50_us".into(), json!(d50));
        k.insert("reload_default_p99_us".into(), json!(percentile(&self.reload_default_us, 0.99)));
        k.insert("reload_default_swaps".into(), json!(self.reload_default_us.len()));
        k.insert("python_watch_reload_us".into(), json!(py));
        k.insert("python_watcher".into(), json!(self.python_watcher));
        k.insert("reload_default_vs_python_ratio".into(), json!(median(&self.reload_vs_python())));
        let (open, zip_cd, python_zip) = (median(&self.open_ms), median(&self.zip_cd_ms), median(&self.python_zip_ms));
        k.insert("open_validate_10k_ms".into(), json!(open));
        k.insert("zip_cd_open_10k_ms".into(), json!(zip_cd));
        k.insert("open_vs_zip_cd_ratio".into(), json!(median(&self.open_vs_zip_cd())));
        k.insert("python_zipimporter_10k_ms".into(), json!(python_zip));
        k.insert("python_open_speedup".into(), json!(median(&self.python_open_speedup())));
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
                "reload_default_vs_python_ratio": self.reload_vs_python(),
                "open_vs_zip_cd_ratio": self.open_vs_zip_cd(),
                "python_open_speedup": self.python_open_speedup(),
            }),
        );
        k
    }

    /// Per round, hotpack's default reload p50 over python's watcher median.
    fn reload_vs_python(&self) -> Vec<f64> {
        paired(&self.reload_default_round_p50, &self.python_watch_round_median)
    }

    /// Per round, hotpack's open over the zip crate's central-directory read.
    fn open_vs_zip_cd(&self) -> Vec<f64> {
        paired(&self.open_ms, &self.zip_cd_ms)
    }

    /// Per round, python's zipimporter over hotpack's open: the median of the round's
    /// pairs (each python open timed right after a hotpack open).
    fn python_open_speedup(&self) -> Vec<f64> {
        self.python_open_pairs.clone()
    }

    /// The goals the rounds could not settle: a goal whose rounds disagree about it (one
    /// round meets it, another misses it) gets no verdict from this run. A ratio is judged
    /// per round, both sides measured back to back, so a machine that is slower for a while
    /// (a VM's neighbours) moves both sides of a round alike; its spread across rounds is
    /// shown, not judged, when every round agrees.
    pub(super) fn disagreements(&self) -> Vec<String> {
        let judged: [(&str, Vec<f64>); 4] = [
            ("reload_default_p50_us", self.reload_default_round_p50.clone()),
            ("reload_default_vs_python_ratio", self.reload_vs_python()),
            ("open_vs_zip_cd_ratio", self.open_vs_zip_cd()),
            ("python_open_speedup", self.python_open_speedup()),
        ];
        let mut out = Vec::new();
        for (key, rounds) in judged {
            let Some(goal) = GOALS.iter().find(|g| g.key == key) else { continue };
            let meets = |v: &f64| if goal.at_most { *v <= goal.bound } else { *v >= goal.bound };
            let met = rounds.iter().filter(|v| meets(v)).count();
            if met != 0 && met != rounds.len() {
                let shown: Vec<String> = rounds.iter().map(|v| format!("{v:.2}")).collect();
                out.push(format!(
                    "rounds of {key} disagree about its goal ({} {}): {}",
                    if goal.at_most { "<=" } else { ">=" },
                    goal.bound,
                    shown.join(", ")
                ));
            }
        }
        out
    }
}

/// `a[i] / b[i]` for every round where both sides have a figure.
fn paired(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).filter(|(_, b)| **b > 0.0).map(|(a, b)| a / b).collect()
}
