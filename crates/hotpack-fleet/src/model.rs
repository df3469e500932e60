//! The records kept in etcd: release records, rollouts, host reports, and the pure rules
//! that tie them together (which hosts a wave holds, which release a host should serve).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The OCI media type of a bundle layer.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.hotpack.bundle.v1+zip";
/// The OCI media type of the (small JSON) config blob of a bundle artifact.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.hotpack.bundle.config.v1+json";

/// One published bundle, written once under `/hotpack/<fleet>/releases/<module>/<blake3>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// The module the bundle holds.
    pub module: String,
    /// Its semantic version.
    pub version: String,
    /// blake3 of the whole bundle file (64 hex digits): the release's identity, checked by
    /// every host before it deploys anything.
    pub blake3: String,
    /// Size of the bundle in bytes.
    pub size: u64,
    /// The OCI repository (`hotpack/<fleet>/<module>`, on the fleet's registry).
    pub repository: String,
    /// The digest of the artifact manifest (`sha256:...`): what hosts pull by.
    pub manifest_digest: String,
    /// blake3 of the library inside, per target triple (what the host's runtime reports as
    /// serving, so a host can tell which release it runs and roll back without a download).
    pub libraries: BTreeMap<String, String>,
    /// The fingerprint of the key that signed the bundle itself (`ed25519:...`), when it is
    /// signed; the host's runtime checks that signature against its trusted keys.
    #[serde(default)]
    pub bundle_signer: Option<String>,
    /// The fingerprint of the operator key that signed this record (filled in when read from
    /// a signed envelope; `None` for an unsigned one).
    #[serde(default)]
    pub signer: Option<String>,
    /// The interfaces the module provides (read from its library's descriptor section at
    /// publish, without running it); empty for a record published before they were kept.
    #[serde(default)]
    pub provides: Vec<InterfaceRef>,
    /// The interfaces the module requires from other modules: a rollout is refused unless a
    /// module the fleet runs provides each one.
    #[serde(default)]
    pub requires: Vec<InterfaceRef>,
}

/// An interface by name and layout-checked id (16 hex digits), as a release record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InterfaceRef {
    /// The interface name.
    pub name: String,
    /// Its id (16 lowercase hex digits).
    pub id: String,
    /// On a requirement: the provider versions it accepts (a semver range, `>=2, <3`), when
    /// the module restricts them; absent means any version. Record format 3 (a record
    /// without ranges is still written as format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

impl ReleaseRecord {
    /// A short label: `1.0.0 [0123456789ab]`.
    pub fn label(&self) -> String {
        format!("{} [{}]", self.version, short(&self.blake3))
    }
}

/// The first 12 hex digits of a hash, for humans.
pub fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// The rollout of one module, under `/hotpack/<fleet>/rollouts/<module>`; changed only by
/// transactions that compare its `mod_revision`. Stored inside a signed envelope
/// ([`crate::Signed`]); hosts check the signature, the fleet and module it names, that its
/// `sequence` never goes down, and its `expires`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// The fleet the record was written for (a record copied from another fleet is refused).
    #[serde(default)]
    pub fleet: String,
    /// The module the record was written for (a record copied to another module's key is refused).
    #[serde(default)]
    pub module: String,
    /// Grows by one with every write; hosts keep the highest they accepted (across their
    /// restarts) and refuse anything lower: an old record replayed into etcd moves no host.
    #[serde(default)]
    pub sequence: u64,
    /// Unix time (seconds) after which hosts stop trusting the record (0: never). A host whose
    /// newest record expired keeps what it serves and reports `expired`: a frozen fleet shows.
    #[serde(default)]
    pub expires: u64,
    /// The release every host outside the current wave serves (bundle blake3).
    pub stable: Option<String>,
    /// The release being rolled out, if any (bundle blake3).
    pub canary: Option<String>,
    /// Wave sizes in percent of the hosts, ascending, the last normally 100.
    pub waves: Vec<u8>,
    /// Index into `waves` of the wave being served the canary.
    pub wave: usize,
    /// A paused rollout moves no host; hosts keep what they serve.
    pub paused: bool,
    /// An operator process watches the wave and rolls back on the first failure.
    pub auto: bool,
    /// The stable release before the last completed rollout (what `rollback` returns to
    /// when no canary is in flight).
    pub previous: Option<String>,
    /// Why the last rollback happened, if the last change was one.
    pub rolled_back: Option<RolledBack>,
    /// With `auto` and a bake time: the analysis settings the operator's watcher applies.
    #[serde(default)]
    pub analysis: Option<crate::stats::AnalysisConfig>,
}

/// A record of the last rollback of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    /// The release that was taken away.
    pub from: String,
    /// Why (operator's words, or the failing host's report).
    pub reason: String,
}

impl Rollout {
    /// The current wave's percentage (0 when no canary is in flight).
    pub fn percent(&self) -> u8 {
        if self.canary.is_none() {
            return 0;
        }
        self.waves.get(self.wave).copied().unwrap_or(100).min(100)
    }

    /// The release `host` should serve for `module`: the canary when the host's bucket falls
    /// in the current wave, else the stable release.
    pub fn target_for(&self, host: &str, module: &str) -> Option<&str> {
        match &self.canary {
            Some(canary) if in_wave(host, module, self.percent()) => Some(canary),
            _ => self.stable.as_deref(),
        }
    }
}

/// A host's stable bucket for a module, 0..100: the first 8 bytes of
/// blake3(host id, NUL, module) modulo 100. The same host stays in the same waves for a
/// module across rollouts and restarts; different modules spread differently.
pub fn bucket(host: &str, module: &str) -> u8 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(host.as_bytes());
    hasher.update(&[0]);
    hasher.update(module.as_bytes());
    let hash = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    (u64::from_le_bytes(first) % 100) as u8
}

/// Whether `host` is in a wave of `percent` percent for `module`.
pub fn in_wave(host: &str, module: &str, percent: u8) -> bool {
    bucket(host, module) < percent
}

/// What a host says about one module, under `/hotpack/<fleet>/hosts/<host>/<module>`,
/// attached to the host's lease (a dead host's reports disappear on their own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReport {
    /// The host id.
    pub host: String,
    /// The module.
    pub module: String,
    /// What serves now, if anything.
    pub active: Option<ActiveRelease>,
    /// The release the host computed as its target (bundle blake3).
    pub target: Option<String>,
    /// Where the host stands.
    pub state: HostState,
    /// Why, for every state but `ok`.
    pub reason: Option<String>,
    /// While `fetching`: bytes received so far and the most that will be read.
    #[serde(default)]
    pub progress: Option<Progress>,
    /// What the host's runtime counted for the module (the analysis reads it).
    #[serde(default)]
    pub stats: Option<crate::stats::CallStats>,
}

/// How far a pull has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Bytes received and hashed.
    pub bytes: u64,
    /// The most that will be read: min(release record's size, the host's `--max-bundle`).
    pub limit: u64,
}

/// The version a host serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveRelease {
    /// Its semantic version.
    pub version: String,
    /// blake3 of the serving library.
    pub library: String,
    /// blake3 of the bundle it came from, when the host knows the release.
    pub blake3: Option<String>,
}

/// Where a host stands for one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum HostState {
    /// Serving its target.
    Ok,
    /// Fetching or deploying its target.
    Deploying,
    /// Pulling its target from the registry (a report with progress every half second).
    Fetching,
    /// The newest rollout record this host accepted has expired: it keeps what it serves and
    /// waits for a fresh record (the fleet's intent may be frozen).
    Expired,
    /// The target failed a promotion gate here; the previous version keeps serving.
    Failed,
    /// The target was promoted here, then demoted (panic budget); the previous version serves.
    Demoted,
    /// The target's bytes (or record) did not check out; nothing was deployed.
    Refused,
    /// The registry or etcd could not be reached for the target; retried with backoff.
    FetchFailed,
    /// The rollout is paused: the host keeps what it serves.
    Paused,
    /// No release is set for the module.
    Idle,
}

impl HostState {
    /// A state an automatic rollout treats as the canary failing.
    pub fn is_failure(self) -> bool {
        matches!(self, HostState::Failed | HostState::Demoted | HostState::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket("host-1", "greeter"), bucket("host-1", "greeter"));
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            seen.insert(bucket(&format!("host-{i}"), "greeter") / 10);
        }
        assert_eq!(seen.len(), 10, "200 hosts cover every decile");
    }

    #[test]
    fn target_follows_the_wave() {
        let mut r = Rollout { stable: Some("s".into()), ..Rollout::default() };
        assert_eq!(r.target_for("h", "m"), Some("s"));
        r.canary = Some("c".into());
        r.waves = vec![0, 100];
        assert_eq!(r.target_for("h", "m"), Some("s"), "a 0% wave holds no host");
        r.wave = 1;
        assert_eq!(r.target_for("h", "m"), Some("c"), "a 100% wave holds every host");
    }
}
