//! What hosts count for the canary analysis ([`CallStats`]) and the settings the operator's
//! `--auto --bake` watcher applies ([`AnalysisConfig`]).

use serde::{Deserialize, Serialize};

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
    /// Worker processes that died under this version. The runtime does not run modules in
    /// worker processes yet; `hotpack-worker`'s `Worker::death` is where this will be counted.
    pub worker_deaths: u64,
    /// 99th percentile latency in microseconds over the counted calls (0 with no calls).
    pub p99_us: u64,
    /// When the counting started, unix milliseconds.
    pub since_ms: u64,
}

/// How `--auto --bake` judges a wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisConfig {
    /// How long a wave's hosts serve the canary before it is judged, in milliseconds.
    pub bake_ms: u64,
    /// Fewest canary calls (and baseline calls) for a verdict; fewer pauses the rollout.
    pub min_calls: u64,
    /// The canary's error rate may exceed the baseline's by at most this many percentage
    /// points (in hundredths: 100 = 1 point).
    pub max_error_rate_increase_bp: u64,
    /// The canary's p99 latency may be at most this many percent of the baseline's.
    pub max_p99_ratio_pct: u64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig { bake_ms: 60_000, min_calls: 100, max_error_rate_increase_bp: 100, max_p99_ratio_pct: 150 }
    }
}
