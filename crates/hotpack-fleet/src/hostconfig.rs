//! [`HostConfig`]: how a host joins a fleet (keys, pull limits, the watch fault hook), and
//! what it keeps across restarts.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hotpack_archive::PublicKey;

use crate::operator::FleetConfig;

/// How a host joins a fleet.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The fleet.
    pub fleet: FleetConfig,
    /// This host's id (stable across restarts: it decides the host's waves).
    pub host: String,
    /// Where pulled bundles are kept (`<store>/<blake3>.zip`).
    pub store: PathBuf,
    /// Lease time-to-live in seconds: a host silent that long disappears from the reports.
    pub lease_ttl: i64,
    /// The operator keys whose signed release and rollout records this host follows. Empty
    /// only with `allow_unsigned`.
    pub operator_keys: Vec<PublicKey>,
    /// Follow unsigned records (anyone who can write to etcd then decides what this host runs).
    pub allow_unsigned: bool,
    /// The most bytes this host pulls for one bundle, whatever the release record says.
    pub max_bundle: u64,
    /// How long one pull (manifest and layer) may take before it is given up and retried.
    pub pull_deadline: Duration,
    /// Where the host's call path counts calls (the analysis reads them from the reports).
    pub meter: Option<Arc<crate::analysis::CallMeter>>,
    /// How often a report whose only change is its call counts is written (etcd load).
    pub stats_interval: Duration,
    /// A fault hook for tests: while stalled, the agent stops reading its watch (it falls
    /// behind); released, it re-opens the watch from the last revision it read.
    pub watch_fault: Option<WatchFault>,
}

/// Default `max_bundle`: 256 MiB.
pub const DEFAULT_MAX_BUNDLE: u64 = 256 << 20;
/// Default `pull_deadline`: 5 minutes.
pub const DEFAULT_PULL_DEADLINE: Duration = Duration::from_secs(300);

impl HostConfig {
    /// A host config with a 5 s lease, following records signed by `operator_keys`.
    pub fn new(fleet: FleetConfig, host: impl Into<String>, store: impl Into<PathBuf>) -> Self {
        HostConfig {
            fleet,
            host: host.into(),
            store: store.into(),
            lease_ttl: 5,
            operator_keys: Vec::new(),
            allow_unsigned: false,
            max_bundle: DEFAULT_MAX_BUNDLE,
            pull_deadline: DEFAULT_PULL_DEADLINE,
            watch_fault: None,
            meter: None,
            stats_interval: Duration::from_secs(1),
        }
    }

    /// Follows records signed by these operator keys.
    #[must_use]
    pub fn operator_keys(mut self, keys: impl IntoIterator<Item = PublicKey>) -> Self {
        self.operator_keys = keys.into_iter().collect();
        self
    }

    /// Follows unsigned records too (`serve --allow-unsigned`).
    #[must_use]
    pub fn allow_unsigned(mut self, allow: bool) -> Self {
        self.allow_unsigned = allow;
        self
    }
}

/// A test hook that makes an agent's watcher fall behind ([`HostConfig::watch_fault`]).
#[derive(Debug, Clone, Default)]
pub struct WatchFault {
    stalled: Arc<AtomicBool>,
    pub(crate) compactions: Arc<AtomicU64>,
}

impl WatchFault {
    /// Stops (true) or resumes (false) reading the watch.
    pub fn stall(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }

    pub(crate) fn stalled(&self) -> bool {
        self.stalled.load(Ordering::SeqCst)
    }

    /// How many times the agent found its watch compacted away and re-read everything.
    pub fn compactions(&self) -> u64 {
        self.compactions.load(Ordering::SeqCst)
    }
}

/// The highest rollout record accepted per module, kept in `<store>/intent.json` so a
/// restarted host refuses a replayed older record too.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Accepted {
    pub(crate) sequence: u64,
    pub(crate) digest: String,
}
