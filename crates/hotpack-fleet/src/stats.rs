//! The numbers hosts report and the thresholds `--auto --bake` applies: plain serde data
//! (std and serde only), so the release-record fuzz target compiles it in with `model.rs`.

use serde::{Deserialize, Serialize};

/// Latency buckets: four per power of two of microseconds, 1 µs .. ~16 s.
pub(crate) const BUCKETS: usize = 96;

fn bound_us(i: usize) -> u64 {
    let base = 1u64 << (i / 4);
    base + base * (i as u64 % 4) / 4
}

pub(crate) fn bucket_of(us: u64) -> usize {
    (0..BUCKETS).find(|&i| bound_us(i) >= us).unwrap_or(BUCKETS - 1)
}

/// Per module, what a host's calls did since the version it serves started serving.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStats {
    /// blake3 of the library these counts belong to (counts restart with each version).
    pub library: String,
    /// Calls answered or failed.
    pub calls: u64,
    /// Calls that returned an error (panics included).
    pub errors: u64,
    /// Calls that panicked (caught).
    pub panics: u64,
    /// Worker processes that died under this version (`CallMeter::worker_died`: `hotpack
    /// serve --fleet` counts a call whose worker died or passed its deadline).
    pub worker_deaths: u64,
    /// Latency histogram: counts per bucket (four per power of two of microseconds), trailing
    /// empty buckets left out.
    pub latency: Vec<u64>,
}

impl CallStats {
    /// The 99th percentile latency in microseconds (the bucket's upper bound; 0 with no calls).
    pub fn p99_us(&self) -> u64 {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return 0;
        }
        let want = total - total / 100;
        let mut seen = 0;
        for (i, n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= want {
                return bound_us(i);
            }
        }
        bound_us(self.latency.len().saturating_sub(1))
    }

    /// Errors per 10,000 calls.
    pub fn error_bp(&self) -> u64 {
        (self.errors * 10_000).checked_div(self.calls).unwrap_or(0)
    }

    /// What happened since `earlier` (the same host's snapshot): the difference when both
    /// count the same library, else everything in `self`.
    pub fn since(&self, earlier: &CallStats) -> CallStats {
        if earlier.library != self.library || earlier.calls > self.calls {
            return self.clone();
        }
        let mut latency = self.latency.clone();
        for (i, n) in earlier.latency.iter().enumerate() {
            if let Some(slot) = latency.get_mut(i) {
                *slot = slot.saturating_sub(*n);
            }
        }
        CallStats {
            library: self.library.clone(),
            calls: self.calls - earlier.calls,
            errors: self.errors.saturating_sub(earlier.errors),
            panics: self.panics.saturating_sub(earlier.panics),
            worker_deaths: self.worker_deaths.saturating_sub(earlier.worker_deaths),
            latency,
        }
    }

    /// Adds `other` into `self` (the library is left as it is).
    pub fn add(&mut self, other: &CallStats) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.panics += other.panics;
        self.worker_deaths += other.worker_deaths;
        if self.latency.len() < other.latency.len() {
            self.latency.resize(other.latency.len(), 0);
        }
        for (i, n) in other.latency.iter().enumerate() {
            self.latency[i] += n;
        }
    }

    /// A short summary for humans: `1200 calls, 0.50% errors, p99 256 µs`.
    pub fn summary(&self) -> String {
        format!(
            "{} calls, {}.{:02}% errors, {} panics, {} worker deaths, p99 {} µs",
            self.calls,
            self.error_bp() / 100,
            self.error_bp() % 100,
            self.panics,
            self.worker_deaths,
            self.p99_us()
        )
    }
}

/// How `--auto --bake` judges a wave (defaults in `hotpack fleet rollout --help`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisConfig {
    /// How long a wave's hosts serve the canary before it is judged, in milliseconds.
    pub bake_ms: u64,
    /// Fewest calls on the canary, and on the baseline, for a verdict; fewer pauses.
    pub min_calls: u64,
    /// The canary's error rate may exceed the baseline's by at most this many basis points
    /// (100 = one percentage point).
    pub max_error_increase_bp: u64,
    /// The canary's p99 may be at most this percent of the baseline's...
    pub max_p99_ratio_pct: u64,
    /// ...unless it is within this many microseconds of it (microsecond p99s are noise).
    pub p99_slack_us: u64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            bake_ms: 60_000,
            min_calls: 100,
            max_error_increase_bp: 100,
            max_p99_ratio_pct: 150,
            p99_slack_us: 5_000,
        }
    }
}
