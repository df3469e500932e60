//! The canary analysis of `--auto --bake`: what hosts count per module ([`CallMeter`] ->
//! [`CallStats`] in their reports), and the verdict on a wave ([`judge`]): the canary's error
//! rate and p99 latency over the bake window against the hosts still on the stable release
//! (the last wave: against the baseline measured during the previous wave).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::stats::{AnalysisConfig, CallStats};
use crate::stats::{BUCKETS, bucket_of};

/// How a call ended, for [`CallMeter::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered.
    Ok,
    /// Returned an error.
    Error,
    /// Panicked (caught).
    Panic,
}

#[derive(Debug, Default)]
struct Counter {
    stats: CallStats,
    hist: Vec<u64>,
}

/// Counts calls per module for the analysis. The host's call path records each call
/// ([`record`](Self::record), or [`call`](Self::call) around `Runtime::call`); the agent
/// restarts a module's counts when the library serving it changes and puts a snapshot in its
/// reports. Constant memory per module.
#[derive(Debug, Default)]
pub struct CallMeter {
    modules: Mutex<BTreeMap<String, Counter>>,
}

impl CallMeter {
    /// An empty meter.
    pub fn new() -> CallMeter {
        CallMeter::default()
    }

    fn with<T>(&self, module: &str, f: impl FnOnce(&mut Counter) -> T) -> T {
        let mut modules = self.modules.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(modules.entry(module.to_owned()).or_default())
    }

    /// Records one call of `module`.
    pub fn record(&self, module: &str, outcome: Outcome, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.with(module, |c| {
            c.stats.calls += 1;
            match outcome {
                Outcome::Ok => {}
                Outcome::Error => c.stats.errors += 1,
                Outcome::Panic => {
                    c.stats.errors += 1;
                    c.stats.panics += 1;
                }
            }
            if c.hist.is_empty() {
                c.hist = vec![0; BUCKETS];
            }
            c.hist[bucket_of(us)] += 1;
        });
    }

    /// Records a worker process of `module` that died.
    pub fn worker_died(&self, module: &str) {
        self.with(module, |c| c.stats.worker_deaths += 1);
    }

    /// Calls `runtime` and records the call.
    ///
    /// # Errors
    ///
    /// The runtime's error, unchanged.
    pub fn call(
        &self,
        runtime: &hotpack::Runtime,
        module: &str,
        handler: &str,
        input: &[u8],
    ) -> Result<Vec<u8>, hotpack::Error> {
        let start = std::time::Instant::now();
        let result = runtime.call(module, handler, input);
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(hotpack::Error::Call { error: hotpack::abi::CallError::Panicked { .. }, .. }) => Outcome::Panic,
            Err(_) => Outcome::Error,
        };
        self.record(module, outcome, start.elapsed());
        result
    }

    /// Starts counting `module` afresh for `library` unless it already counts that library.
    ///
    /// Calls recorded before the first `restart` of a module (the agent had not reported yet)
    /// are the first library's: the calls that reach a first version between its promotion
    /// and the agent's report on it are not lost. A later library starts afresh at its first
    /// report: calls between its promotion and that report are dropped, never counted for the
    /// wrong library.
    pub fn restart(&self, module: &str, library: &str) {
        self.with(module, |c| {
            if c.stats.library.is_empty() {
                library.clone_into(&mut c.stats.library);
            } else if c.stats.library != library {
                *c = Counter {
                    stats: CallStats { library: library.to_owned(), ..CallStats::default() },
                    hist: Vec::new(),
                };
            }
        });
    }

    /// What `module` counted, if anything.
    pub fn snapshot(&self, module: &str) -> Option<CallStats> {
        let modules = self.modules.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = modules.get(module)?;
        let mut stats = c.stats.clone();
        let used = c.hist.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1);
        stats.latency = c.hist[..used].to_vec();
        Some(stats)
    }
}

/// The verdict on one wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Still baking (or waiting for the wave's hosts).
    Pending,
    /// No worse than the baseline: promoted.
    Passed,
    /// Worse than the baseline, or a host failed: rolled back.
    Failed,
    /// Too few calls to tell: the rollout is paused.
    Inconclusive,
}

/// Judges `canary` against `baseline` (both summed over the bake window).
pub fn judge(config: &AnalysisConfig, canary: &CallStats, baseline: &CallStats) -> (Verdict, String) {
    if canary.worker_deaths > 0 {
        return (Verdict::Failed, format!("canary worker processes died: {}", canary.summary()));
    }
    if canary.calls < config.min_calls || baseline.calls < config.min_calls {
        return (
            Verdict::Inconclusive,
            format!(
                "too few calls to judge (need {} each): canary {}, baseline {}",
                config.min_calls, canary.calls, baseline.calls
            ),
        );
    }
    let (c, b) = (canary.error_bp(), baseline.error_bp());
    if c > b + config.max_error_increase_bp {
        return (
            Verdict::Failed,
            format!(
                "canary error rate {}.{:02}% exceeds the baseline's {}.{:02}% by more than {}.{:02} points \
                 (canary: {}; baseline: {})",
                c / 100,
                c % 100,
                b / 100,
                b % 100,
                config.max_error_increase_bp / 100,
                config.max_error_increase_bp % 100,
                canary.summary(),
                baseline.summary()
            ),
        );
    }
    let (cp, bp) = (canary.p99_us(), baseline.p99_us());
    if cp * 100 > bp * config.max_p99_ratio_pct && cp > bp + config.p99_slack_us {
        return (
            Verdict::Failed,
            format!(
                "canary p99 {cp} µs is over {}% of the baseline's {bp} µs (canary: {}; baseline: {})",
                config.max_p99_ratio_pct,
                canary.summary(),
                baseline.summary()
            ),
        );
    }
    (Verdict::Passed, format!("canary {} vs baseline {}", canary.summary(), baseline.summary()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(calls: u64, errors: u64, us: u64) -> CallStats {
        let meter = CallMeter::new();
        for i in 0..calls {
            let outcome = if i < errors { Outcome::Error } else { Outcome::Ok };
            meter.record("m", outcome, Duration::from_micros(us));
        }
        meter.snapshot("m").unwrap_or_default()
    }

    #[test]
    fn calls_before_the_first_report_count_for_the_first_library() {
        let meter = CallMeter::new();
        meter.record("m", Outcome::Ok, Duration::from_micros(5));
        meter.restart("m", "lib-a");
        meter.record("m", Outcome::Error, Duration::from_micros(5));
        let a = meter.snapshot("m").unwrap_or_default();
        assert_eq!((a.library.as_str(), a.calls, a.errors), ("lib-a", 2, 1));
        meter.restart("m", "lib-a");
        assert_eq!(meter.snapshot("m").unwrap_or_default().calls, 2, "the same library keeps counting");
        meter.restart("m", "lib-b");
        let b = meter.snapshot("m").unwrap_or_default();
        assert_eq!((b.library.as_str(), b.calls), ("lib-b", 0), "another library starts afresh");
    }

    #[test]
    fn verdicts() {
        let config = AnalysisConfig { min_calls: 50, ..AnalysisConfig::default() };
        assert_eq!(judge(&config, &stats(10, 0, 100), &stats(100, 0, 100)).0, Verdict::Inconclusive);
        assert_eq!(judge(&config, &stats(100, 0, 120), &stats(100, 0, 100)).0, Verdict::Passed);
        assert_eq!(judge(&config, &stats(100, 10, 100), &stats(100, 0, 100)).0, Verdict::Failed);
        assert_eq!(judge(&config, &stats(100, 0, 20_000), &stats(100, 0, 100)).0, Verdict::Failed);
        let p = stats(1000, 0, 300).p99_us();
        assert!((300..=400).contains(&p), "p99 {p}");
        let later = {
            let mut s = stats(150, 0, 300);
            s.library = String::new();
            s
        };
        assert_eq!(later.since(&stats(100, 0, 300)).calls, 50);
    }

    /// A canary whose worker processes died fails whatever else its numbers say: with a clean
    /// error rate and latency, with too few calls to judge otherwise, and with no baseline;
    /// the reason names the deaths.
    #[test]
    fn worker_deaths_fail_the_canary_with_the_reason() {
        let config = AnalysisConfig { min_calls: 50, ..AnalysisConfig::default() };
        let crashed = |calls, deaths| {
            let meter = CallMeter::new();
            for _ in 0..calls {
                meter.record("m", Outcome::Ok, Duration::from_micros(100));
            }
            for _ in 0..deaths {
                // What `serve --fleet` records for a call whose worker died.
                meter.record("m", Outcome::Error, Duration::from_micros(100));
                meter.worker_died("m");
            }
            meter.snapshot("m").unwrap_or_default()
        };
        let clean = stats(100, 0, 100);
        for (canary, baseline) in [
            (crashed(200, 1), clean.clone()),
            (crashed(3, 2), clean.clone()),
            (crashed(200, 1), CallStats::default()),
            (crashed(0, 1), stats(100, 0, 100)),
        ] {
            let (verdict, reason) = judge(&config, &canary, &baseline);
            assert_eq!(verdict, Verdict::Failed, "{canary:?}: {reason}");
            assert!(reason.contains("canary worker processes died"), "{reason}");
            assert!(reason.contains(&format!("{} worker deaths", canary.worker_deaths)), "{reason}");
        }
        // Deaths on the baseline's side alone do not fail the canary.
        let (verdict, reason) = judge(&config, &stats(100, 0, 100), &crashed(100, 1));
        assert_eq!(verdict, Verdict::Passed, "{reason}");
        // A death counted in the bake window survives `since` and `add`.
        let before = crashed(100, 0);
        let after = {
            let meter = CallMeter::new();
            for _ in 0..100 {
                meter.record("m", Outcome::Ok, Duration::from_micros(100));
            }
            meter.record("m", Outcome::Error, Duration::from_micros(100));
            meter.worker_died("m");
            meter.snapshot("m").unwrap_or_default()
        };
        let mut window = CallStats::default();
        window.add(&after.since(&before));
        assert_eq!((window.calls, window.errors, window.worker_deaths), (1, 1, 1));
        assert_eq!(judge(&config, &window, &clean).0, Verdict::Failed);
    }
}
