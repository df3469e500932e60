//! Counters behind `GET /-/metrics`, rendered in the Prometheus text format (version 0.0.4).
//!
//! Plain atomics, no registry crate: the set of series is fixed and small, and a scrape must
//! work when descriptors or memory are short.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the handler latency histogram buckets.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// Deploy outcomes counted by `hotpack_deploys_total{outcome=...}`.
pub(crate) const DEPLOY_OUTCOMES: [&str; 4] = ["promoted", "unchanged", "refused", "over_version_cap"];

/// Every counter the server keeps.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Responses by status code (index = status, 100..=599).
    responses: [AtomicU64; 600],
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    deploys: [AtomicU64; DEPLOY_OUTCOMES.len()],
    pub(crate) rollbacks: AtomicU64,
    pub(crate) demotions: AtomicU64,
    pub(crate) panics: AtomicU64,
    /// `accept` failed because the process or system ran out of descriptors.
    pub(crate) accept_fd_exhausted: AtomicU64,
    /// `accept` failed for another reason.
    pub(crate) accept_other_errors: AtomicU64,
    /// Connections turned away with 503 because `--max-connections` were open.
    pub(crate) connections_refused: AtomicU64,
    /// Connections open now.
    pub(crate) connections_open: AtomicU64,
    /// Handler calls running now.
    pub(crate) calls_in_flight: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            responses: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_buckets: Default::default(),
            latency_count: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
            deploys: Default::default(),
            rollbacks: AtomicU64::new(0),
            demotions: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            accept_fd_exhausted: AtomicU64::new(0),
            accept_other_errors: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            calls_in_flight: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub(crate) fn response(&self, status: u16) {
        if let Some(counter) = self.responses.get(usize::from(status)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn handler_latency(&self, elapsed: std::time::Duration) {
        let secs = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub(crate) fn deploy(&self, outcome: &str) {
        if let Some(i) = DEPLOY_OUTCOMES.iter().position(|o| *o == outcome) {
            self.deploys[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The text exposition; `gauges` are the values read at scrape time.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);

        header(&mut out, "hotpack_http_responses_total", "counter", "HTTP responses sent, by status code.");
        for (status, counter) in self.responses.iter().enumerate() {
            let n = load(counter);
            if n > 0 {
                let _ = writeln!(out, "hotpack_http_responses_total{{status=\"{status}\"}} {n}");
            }
        }

        header(&mut out, "hotpack_handler_duration_seconds", "histogram", "Handler call latency.");
        let mut cumulative = 0;
        for (bound, counter) in LATENCY_BUCKETS.iter().zip(&self.latency_buckets) {
            cumulative += load(counter);
            let _ = writeln!(out, "hotpack_handler_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = load(&self.latency_count);
        let _ = writeln!(out, "hotpack_handler_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = load(&self.latency_sum_us) as f64 / 1e6;
        let _ = writeln!(out, "hotpack_handler_duration_seconds_sum {sum}");
        let _ = writeln!(out, "hotpack_handler_duration_seconds_count {count}");

        header(&mut out, "hotpack_deploys_total", "counter", "Deploy attempts, by outcome.");
        for (outcome, counter) in DEPLOY_OUTCOMES.iter().zip(&self.deploys) {
            let _ = writeln!(out, "hotpack_deploys_total{{outcome=\"{outcome}\"}} {}", load(counter));
        }
        let counters: [(&str, &str, &AtomicU64); 8] = [
            ("hotpack_rollbacks_total", "Rollbacks asked for and done.", &self.rollbacks),
            ("hotpack_demotions_total", "Automatic demotions after the panic budget.", &self.demotions),
            ("hotpack_handler_panics_total", "Handler calls that panicked (caught).", &self.panics),
            (
                "hotpack_accept_fd_exhausted_total",
                "accept() failures for lack of descriptors (EMFILE/ENFILE).",
                &self.accept_fd_exhausted,
            ),
            ("hotpack_accept_errors_total", "Other accept() failures.", &self.accept_other_errors),
            (
                "hotpack_connections_refused_total",
                "Connections answered 503 at the connection cap.",
                &self.connections_refused,
            ),
            ("hotpack_connections_open", "Connections open now.", &self.connections_open),
            ("hotpack_calls_in_flight", "Handler calls running now.", &self.calls_in_flight),
        ];
        for (name, help, counter) in counters {
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {}", load(counter));
        }
        let gauges: [(&str, &str, u64); 6] = [
            ("hotpack_mapped_versions", "Library versions mapped (never unmapped).", gauges.mapped_versions),
            ("hotpack_mapped_versions_max", "The --max-versions cap.", gauges.max_versions),
            ("hotpack_mapped_bytes", "Total size of the mapped libraries.", gauges.mapped_bytes),
            ("hotpack_modules_serving", "Modules with an active version.", gauges.modules_serving),
            ("hotpack_open_fds", "Open descriptors (/proc/self/fd).", gauges.open_fds),
            ("hotpack_max_fds", "Soft descriptor limit (RLIMIT_NOFILE).", gauges.max_fds),
        ];
        for (name, help, value) in gauges {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

/// Values read when the metrics are scraped.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Gauges {
    pub(crate) mapped_versions: u64,
    pub(crate) max_versions: u64,
    pub(crate) mapped_bytes: u64,
    pub(crate) modules_serving: u64,
    pub(crate) open_fds: u64,
    pub(crate) max_fds: u64,
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Open descriptors of this process, counted in `/proc/self/fd` (0 when it cannot be read,
/// for example when no descriptor is left to open the directory).
pub(crate) fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0)
}

/// The soft descriptor limit.
pub(crate) fn max_fds() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// One series per worker: `hotpack_worker_calls`, `hotpack_worker_restarts`,
/// `hotpack_worker_alive` (labels: module, version, pid) and `hotpack_worker_last_death`
/// (1, labelled with the kind and reason of the module's last worker death).
pub(crate) fn render_workers(workers: &[hotpack::rollback::WorkerInfo]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if workers.is_empty() {
        return out;
    }
    let label = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', " ");
    for (name, kind, help) in [
        ("hotpack_worker_calls", "counter", "Calls a module's current worker started."),
        ("hotpack_worker_restarts", "counter", "Workers started for a module after a death."),
        ("hotpack_worker_alive", "gauge", "Whether a module's current worker is alive."),
    ] {
        header(&mut out, name, kind, help);
        for w in workers {
            let value = match name {
                "hotpack_worker_calls" => w.calls,
                "hotpack_worker_restarts" => w.restarts,
                _ => u64::from(w.alive),
            };
            let pid = w.pid.map(|p| p.to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "{name}{{module=\"{}\",version=\"{}\",pid=\"{pid}\"}} {value}",
                label(&w.module),
                w.version
            );
        }
    }
    header(&mut out, "hotpack_worker_last_death", "gauge", "The last worker death of a module, and why.");
    for w in workers {
        if let Some((crash, _)) = &w.last_death {
            let _ = writeln!(
                out,
                "hotpack_worker_last_death{{module=\"{}\",kind=\"{}\",reason=\"{}\"}} 1",
                label(&w.module),
                crash.as_str(),
                label(&crash.to_string())
            );
        }
    }
    out
}
