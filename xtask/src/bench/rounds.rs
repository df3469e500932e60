//! The interleaved rounds: the figures compared with python and hot-lib-reloader, each
//! round running the Rust side and then the other side, so drift hits both alike.

use super::report::{Goal, Row, row};
use super::{Ctx, Keys, median, num, percentile, ratio};
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
    hlr_call_ns: Vec<f64>,
    hlr_reload_us: Vec<f64>,
    hlr_reload_tuned_us: Vec<f64>,
    hlr_round_p50: Vec<f64>,
}

/// The rounds that compare hotpack with python and hot-lib-reloader: each round runs the
/// Rust side, then the other side, in turn (reload defaults, python watcher, hotpack open,
/// python zipimporter, python reload/import hit, hot-lib-reloader).
pub(super) fn interleaved(ctx: &Ctx) -> Result<Rounds> {
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
    pub(super) fn keys(&self) -> Keys {
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
    pub(super) fn disagreements(&self) -> Vec<String> {
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
