//! The report's tables and renderings: [`Goal`] and [`Row`] (each area file declares its own
//! `GOALS` and `ROWS`; [`super::AREAS`] puts them in order), `report.md` and `report.svg`.

use super::AREAS;
use serde_json::Value;
use std::fmt::Write as _;

/// One goal of the issues: a figure of the report and the bound it should meet.
pub(super) struct Goal {
    pub(super) key: &'static str,
    pub(super) label: &'static str,
    /// `true`: the figure should be at most `bound`; `false`: at least.
    pub(super) at_most: bool,
    pub(super) bound: f64,
}

/// One row of report.md: keys of the report (`None`: no such column).
pub(super) struct Row {
    pub(super) what: &'static str,
    pub(super) hot: &'static str,
    pub(super) floor: Option<&'static str>,
    pub(super) alt: Option<&'static str>,
    pub(super) ratio: Option<&'static str>,
    /// The goal's key in an area's `GOALS`, if the row has one.
    pub(super) goal: Option<&'static str>,
}

pub(super) const fn row(what: &'static str, hot: &'static str) -> Row {
    Row { what, hot, floor: None, alt: None, ratio: None, goal: None }
}

/// Every goal, in report order (area by area).
fn goals() -> impl Iterator<Item = &'static Goal> {
    AREAS.iter().flat_map(|a| a.goals)
}

/// Every row of report.md, in order (area by area).
fn rows() -> impl Iterator<Item = &'static Row> {
    AREAS.iter().flat_map(|a| a.rows)
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

pub(super) fn markdown(r: &Value) -> String {
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
    for row in rows() {
        let goal = row.goal.and_then(|key| goals().find(|g| g.key == key));
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
pub(super) fn svg(r: &Value) -> String {
    let (left, width, bar_h, gap, top) = (250.0, 420.0, 22.0, 14.0, 50.0);
    let max_score = 3.0;
    let x_of = |score: f64| left + width * score.min(max_score) / max_score;
    let height = top + goals().count() as f64 * (bar_h + gap) + 40.0;
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
    for (i, goal) in goals().enumerate() {
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
    let bottom = top + goals().count() as f64 * (bar_h + gap);
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
