//! [`Fleet`]: the operator's side — publish, rollout, promote, rollback, status, and the
//! `--auto` watcher that rolls a failing wave back.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hotpack_archive::{PublicKey, SigningKey};

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};
use serde::Serialize;

use crate::error::FleetError;
use crate::keys;
use crate::model::{HostReport, InterfaceRef, ReleaseRecord, RolledBack, Rollout, in_wave, short};
use crate::registry::BundleRegistry;
use crate::signed;

/// Where a fleet lives: its name, its etcd endpoints and its OCI registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// The fleet's name: the `<fleet>` in `/hotpack/<fleet>/...` and `hotpack/<fleet>/<module>`.
    pub name: String,
    /// etcd endpoints (`http://127.0.0.1:2379`).
    pub etcd: Vec<String>,
    /// The registry: `http://host:port` for plain HTTP, else HTTPS.
    pub registry: String,
}

impl FleetConfig {
    /// A configuration with one etcd endpoint.
    pub fn new(name: impl Into<String>, etcd: impl Into<String>, registry: impl Into<String>) -> Self {
        FleetConfig { name: name.into(), etcd: vec![etcd.into()], registry: registry.into() }
    }

    pub(crate) fn check(&self) -> Result<(), FleetError> {
        if !keys::is_valid_segment(&self.name) {
            return Err(FleetError::BadName { name: self.name.clone(), what: "fleet name" });
        }
        Ok(())
    }
}

pub(crate) async fn connect_etcd(endpoints: &[String]) -> Result<etcd_client::Client, FleetError> {
    let options = etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2));
    etcd_client::Client::connect(endpoints, Some(options)).await.map_err(|e| FleetError::etcd(endpoints, "connect", e))
}

/// The outcome of [`Fleet::publish`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// The release record (the one already there when the bundle was published before).
    pub record: ReleaseRecord,
    /// False when the same bytes were published before (nothing was pushed or written).
    pub created: bool,
}

/// One module's rollout as [`Fleet::status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutStatus {
    /// The module.
    pub module: String,
    /// The rollout key's value.
    pub rollout: Rollout,
    /// The key's `mod_revision` (what the next transaction compares).
    pub revision: i64,
    /// The stable release's record.
    pub stable: Option<ReleaseRecord>,
    /// The canary's record.
    pub canary: Option<ReleaseRecord>,
    /// What the `--auto --bake` watcher found, wave by wave.
    pub analysis: Option<crate::auto::AnalysisStatus>,
}

/// The whole fleet: every rollout and every live host report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetStatus {
    /// The fleet's name.
    pub fleet: String,
    /// Per module.
    pub rollouts: Vec<RolloutStatus>,
    /// Per host and module, from the hosts' own reports (under their leases).
    pub hosts: Vec<HostReport>,
    /// Records that could not be opened (not signed by a trusted key, replayed, not a
    /// record): shown with the reason and otherwise ignored, so one write to etcd without
    /// the operator's key cannot hide the rest of the fleet from `status`.
    pub unreadable: Vec<UnreadableRecord>,
}

/// A record [`Fleet::status`] could not open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreadableRecord {
    /// Its etcd key.
    pub key: String,
    /// Why it was not read.
    pub problem: String,
}

impl FleetStatus {
    /// The reports of `module`.
    pub fn hosts_of<'a>(&'a self, module: &'a str) -> impl Iterator<Item = &'a HostReport> + 'a {
        self.hosts.iter().filter(move |h| h.module == module)
    }
}

/// The operator's handle on a fleet.
#[derive(Clone)]
pub struct Fleet {
    config: FleetConfig,
    etcd: etcd_client::Client,
    registry: BundleRegistry,
    key: Option<SigningKey>,
    validity: Duration,
}

/// How long a record the operator writes stays valid by default: 7 days.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet").field("config", &self.config).finish_non_exhaustive()
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, FleetError> {
    serde_json::from_slice(value)
        .map_err(|e| FleetError::BadRecord { key: String::from_utf8_lossy(key).into_owned(), problem: e.to_string() })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("fleet records are plain data and always serialize")
}

/// A record kept in a signed envelope.
pub(crate) trait Record: serde::de::DeserializeOwned + Serialize {
    const KIND: &'static str;
    fn set_signer(&mut self, _signer: Option<String>) {}
}

impl Record for ReleaseRecord {
    const KIND: &'static str = "release";
    fn set_signer(&mut self, signer: Option<String>) {
        self.signer = signer;
    }
}

impl Record for Rollout {
    const KIND: &'static str = "rollout";
}

/// Opens an envelope; with `trusted` keys, only one signed by them.
pub(crate) fn open_record<T: Record>(key: &[u8], value: &[u8], trusted: &[PublicKey]) -> Result<T, FleetError> {
    let opened = signed::open::<T>(T::KIND, value, trusted).map_err(|e| FleetError::BadRecord {
        key: String::from_utf8_lossy(key).into_owned(),
        problem: e.to_string(),
    })?;
    let mut record = opened.record;
    record.set_signer(opened.signer);
    Ok(record)
}

impl Fleet {
    /// Connects to the fleet's etcd (the registry is contacted on first use).
    ///
    /// # Errors
    ///
    /// [`FleetError::BadName`] for a fleet name that cannot be a key, [`FleetError::Etcd`].
    pub async fn connect(config: FleetConfig) -> Result<Fleet, FleetError> {
        config.check()?;
        let etcd = connect_etcd(&config.etcd).await?;
        let registry = BundleRegistry::new(&config.registry);
        Ok(Fleet { config, etcd, registry, key: None, validity: DEFAULT_VALIDITY })
    }

    /// Signs every record this handle writes with the operator's `key` (and reads back only
    /// records it signed). Hosts that trust the key's public half follow them; hosts that
    /// trust keys ignore unsigned records.
    #[must_use]
    pub fn with_key(mut self, key: SigningKey) -> Fleet {
        self.key = Some(key);
        self
    }

    /// How long the records this handle writes stay valid ([`DEFAULT_VALIDITY`]): hosts
    /// report `expired` past it until a fresh record ([`renew`](Self::renew)) arrives.
    #[must_use]
    pub fn with_validity(mut self, validity: Duration) -> Fleet {
        self.validity = validity;
        self
    }

    pub(crate) fn trusted(&self) -> Vec<PublicKey> {
        self.key.iter().map(SigningKey::public_key).collect()
    }

    /// The configuration.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    pub(crate) fn etcd_err(&self, operation: impl Into<String>) -> impl FnOnce(etcd_client::Error) -> FleetError + '_ {
        let operation = operation.into();
        move |e| FleetError::etcd(&self.config.etcd, operation, e)
    }

    /// Publishes a single-module bundle: pushes it to the registry as an OCI artifact tagged by
    /// its blake3 (once), then writes its release record (once: a transaction that only
    /// creates). Publishing the same bytes again changes nothing.
    ///
    /// # Errors
    ///
    /// [`FleetError::Io`] / [`FleetError::Bundle`] / [`FleetError::NotOneModule`] for the
    /// file, [`FleetError::Registry`] and [`FleetError::Etcd`] for the servers.
    pub async fn publish(&self, path: &Path) -> Result<Published, FleetError> {
        let bytes = std::fs::read(path).map_err(|source| FleetError::Io { path: path.to_path_buf(), source })?;
        let blake3 = blake3::hash(&bytes).to_hex().to_string();
        let bundle = hotpack_archive::Bundle::from_bytes(bytes.clone(), path, &hotpack_archive::Limits::default())
            .map_err(|e| FleetError::Bundle { path: path.to_path_buf(), source: Box::new(e) })?;
        let [module] = bundle.modules() else {
            return Err(FleetError::NotOneModule { path: path.to_path_buf(), count: bundle.modules().len() });
        };
        let manifest = module.manifest();
        let name = manifest.meta.name.clone();
        if !keys::is_valid_segment(&name) {
            return Err(FleetError::BadName { name, what: "module name" });
        }
        let key = keys::release(&self.config.name, &name, &blake3);
        if let Some(existing) = self.get_record::<ReleaseRecord>(&key).await? {
            return Ok(Published { record: existing.0, created: false });
        }
        let libraries = manifest
            .libraries
            .iter()
            .filter_map(|(target, entry)| manifest.entries.get(entry).map(|d| (target.clone(), d.blake3_hex())))
            .collect();
        let repository = keys::repository(&self.config.name, &name);
        let config_json = encode(&serde_json::json!({
            "module": name,
            "version": manifest.meta.version.to_string(),
            "blake3": blake3,
        }));
        let annotations = BTreeMap::from([
            ("org.opencontainers.image.title".to_owned(), format!("{name}-{}.zip", manifest.meta.version)),
            ("org.opencontainers.image.version".to_owned(), manifest.meta.version.to_string()),
            ("dev.hotpack.blake3".to_owned(), blake3.clone()),
        ]);
        let (provides, requires) = interfaces_of(&bundle, &name, &manifest.libraries);
        let size = bytes.len() as u64;
        let bundle_signer = bundle.signature().ok().flatten().map(|s| s.key.fingerprint().to_string());
        let manifest_digest =
            self.registry.push(&repository, &keys::tag(&blake3), bytes, config_json, annotations).await?;
        let record = ReleaseRecord {
            module: name,
            version: manifest.meta.version.to_string(),
            blake3,
            size,
            repository,
            manifest_digest,
            libraries,
            bundle_signer,
            signer: self.key.as_ref().map(|k| k.public_key().fingerprint().to_string()),
            provides,
            requires,
        };
        self.register(&record).await
    }

    /// Writes a release record for a bundle already in the registry (create-if-absent: a
    /// record is never overwritten). Returns the record that stands.
    ///
    /// # Errors
    ///
    /// [`FleetError::Etcd`], [`FleetError::BadName`].
    pub async fn register(&self, record: &ReleaseRecord) -> Result<Published, FleetError> {
        if !keys::is_valid_segment(&record.module) {
            return Err(FleetError::BadName { name: record.module.clone(), what: "module name" });
        }
        let key = keys::release(&self.config.name, &record.module, &record.blake3);
        // Format 3 only when a requirement carries a range: hosts that read only format 2
        // still read every other record.
        let format = if record.requires.iter().any(|r| r.range.is_some()) { signed::RECORD_FORMAT } else { 2 };
        let value = signed::seal_as(format, ReleaseRecord::KIND, record, self.key.as_ref());
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key.clone(), value, None)])
            .or_else([TxnOp::get(key.clone(), None)]);
        let response = self.etcd.clone().txn(txn).await.map_err(self.etcd_err(format!("create {key}")))?;
        if response.succeeded() {
            return Ok(Published { record: record.clone(), created: true });
        }
        match self.get_record::<ReleaseRecord>(&key).await? {
            Some((existing, _)) => Ok(Published { record: existing, created: false }),
            None => Err(FleetError::BadRecord { key, problem: "exists and vanished".into() }),
        }
    }

    pub(crate) async fn get_plain<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, FleetError> {
        let response = self.etcd.clone().get(key, None).await.map_err(self.etcd_err(format!("get {key}")))?;
        response.kvs().first().map(|kv| decode(kv.key(), kv.value())).transpose()
    }

    pub(crate) fn etcd(&self) -> etcd_client::Client {
        self.etcd.clone()
    }

    async fn get_record<T: Record>(&self, key: &str) -> Result<Option<(T, i64)>, FleetError> {
        let response = self.etcd.clone().get(key, None).await.map_err(self.etcd_err(format!("get {key}")))?;
        match response.kvs().first() {
            Some(kv) => Ok(Some((open_record(kv.key(), kv.value(), &self.trusted())?, kv.mod_revision()))),
            None => Ok(None),
        }
    }

    async fn list_records<T: Record>(&self, prefix: &str) -> Result<Vec<(String, T, i64)>, FleetError> {
        let (good, bad) = self.list_records_lenient(prefix).await?;
        match bad.into_iter().next() {
            Some(UnreadableRecord { key, problem }) => Err(FleetError::BadRecord { key, problem }),
            None => Ok(good),
        }
    }

    /// Every record under `prefix`, going on past one that cannot be opened: the good ones,
    /// and each bad one with its problem ([`Fleet::list_records`] fails on the first bad one).
    async fn list_records_lenient<T: Record>(
        &self,
        prefix: &str,
    ) -> Result<(Vec<(String, T, i64)>, Vec<UnreadableRecord>), FleetError> {
        let response = self
            .etcd
            .clone()
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(self.etcd_err(format!("list {prefix}")))?;
        let trusted = self.trusted();
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for kv in response.kvs() {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            match open_record(kv.key(), kv.value(), &trusted) {
                Ok(record) => good.push((key, record, kv.mod_revision())),
                Err(FleetError::BadRecord { key, problem }) => bad.push(UnreadableRecord { key, problem }),
                Err(other) => return Err(other),
            }
        }
        Ok((good, bad))
    }

    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<(Vec<(String, T, i64)>, i64), FleetError> {
        let response = self
            .etcd
            .clone()
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(self.etcd_err(format!("list {prefix}")))?;
        let revision = response.header().map_or(0, |h| h.revision());
        let mut out = Vec::new();
        for kv in response.kvs() {
            out.push((
                String::from_utf8_lossy(kv.key()).into_owned(),
                decode(kv.key(), kv.value())?,
                kv.mod_revision(),
            ));
        }
        Ok((out, revision))
    }

    /// Every published release of `module`, oldest version first.
    ///
    /// # Errors
    ///
    /// [`FleetError::Etcd`], [`FleetError::BadRecord`].
    pub async fn releases(&self, module: &str) -> Result<Vec<ReleaseRecord>, FleetError> {
        let list = self.list_records::<ReleaseRecord>(&keys::releases_of(&self.config.name, module)).await?;
        let mut records: Vec<ReleaseRecord> = list.into_iter().map(|(_, r, _)| r).collect();
        records.sort_by(|a, b| {
            let parse = |v: &str| hotpack_archive::semver::Version::parse(v).ok();
            parse(&a.version).cmp(&parse(&b.version)).then_with(|| a.version.cmp(&b.version))
        });
        Ok(records)
    }

    /// The release of `module` matching `wanted`: a version (`2.0.0`) or a blake3 (or a
    /// prefix of at least 8 hex digits).
    ///
    /// # Errors
    ///
    /// [`FleetError::NoRelease`] when none or several match.
    pub async fn release(&self, module: &str, wanted: &str) -> Result<ReleaseRecord, FleetError> {
        let matches: Vec<ReleaseRecord> = self
            .releases(module)
            .await?
            .into_iter()
            .filter(|r| r.version == wanted || (wanted.len() >= 8 && r.blake3.starts_with(wanted)))
            .collect();
        match <[ReleaseRecord; 1]>::try_from(matches) {
            Ok([one]) => Ok(one),
            Err(many) => Err(FleetError::NoRelease {
                module: module.to_owned(),
                wanted: if many.is_empty() {
                    wanted.to_owned()
                } else {
                    format!(
                        "{wanted} (ambiguous: {})",
                        many.iter().map(ReleaseRecord::label).collect::<Vec<_>>().join(", ")
                    )
                },
            }),
        }
    }

    /// The rollout of `module` and its key's `mod_revision`.
    ///
    /// # Errors
    ///
    /// [`FleetError::Etcd`], [`FleetError::BadRecord`].
    pub async fn rollout_of(&self, module: &str) -> Result<Option<(Rollout, i64)>, FleetError> {
        self.get_record(&keys::rollout(&self.config.name, module)).await
    }

    /// Reads the rollout, applies `change`, and writes it back in one transaction that compares
    /// the key's `mod_revision` with the one read: two operators never overwrite each other.
    async fn update_rollout(
        &self,
        module: &str,
        change: impl FnOnce(Option<Rollout>) -> Result<Rollout, FleetError>,
    ) -> Result<Rollout, FleetError> {
        let key = keys::rollout(&self.config.name, module);
        let current = self.get_record::<Rollout>(&key).await?;
        let compare = match &current {
            Some((_, revision)) => Compare::mod_revision(key.clone(), CompareOp::Equal, *revision),
            None => Compare::create_revision(key.clone(), CompareOp::Equal, 0),
        };
        let sequence = current.as_ref().map_or(0, |(r, _)| r.sequence);
        let mut next = change(current.map(|(r, _)| r))?;
        next.fleet = self.config.name.clone();
        next.module = module.to_owned();
        // Unix milliseconds when that is higher: a record rewritten after its key was deleted
        // (to remove a forged one) still outranks every record hosts accepted before.
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        next.sequence = (sequence + 1).max(now_ms);
        next.expires = unix_now().saturating_add(self.validity.as_secs().max(1));
        let value = signed::seal(Rollout::KIND, &next, self.key.as_ref());
        let txn = Txn::new().when([compare]).and_then([TxnOp::put(key.clone(), value, None)]);
        let response = self.etcd.clone().txn(txn).await.map_err(self.etcd_err(format!("update {key}")))?;
        if response.succeeded() { Ok(next) } else { Err(FleetError::Conflict { module: module.to_owned() }) }
    }

    /// Starts rolling `wanted` (a version or blake3 of a published release) out to `module`'s
    /// hosts in waves (percentages, ascending; `[100]` for all at once). The first rollout of
    /// a module has nothing to roll out against: it makes the release stable on every host.
    /// With `auto`, run [`watch_auto`](Self::watch_auto) to roll a failing wave back.
    ///
    /// # Errors
    ///
    /// [`FleetError::NoRelease`], [`FleetError::Rollout`] (a rollout in flight, bad waves),
    /// [`FleetError::Conflict`], [`FleetError::Etcd`].
    pub async fn rollout(&self, module: &str, wanted: &str, waves: &[u8], auto: bool) -> Result<Rollout, FleetError> {
        self.rollout_with(module, wanted, waves, auto, None).await
    }

    /// [`rollout`](Self::rollout) with the analysis `--auto --bake` applies: with `analysis`,
    /// [`watch_auto`](Self::watch_auto) promotes each wave by itself once it baked and its
    /// canary is no worse than the baseline, rolls back when it is, and pauses when it cannot
    /// tell.
    ///
    /// # Errors
    ///
    /// As [`rollout`](Self::rollout).
    pub async fn rollout_with(
        &self,
        module: &str,
        wanted: &str,
        waves: &[u8],
        auto: bool,
        analysis: Option<crate::analysis::AnalysisConfig>,
    ) -> Result<Rollout, FleetError> {
        let release = self.release(module, wanted).await?;
        self.check_providers(&release).await?;
        let bad = |problem: String| FleetError::Rollout { module: module.to_owned(), problem };
        if waves.is_empty() || waves.windows(2).any(|w| w[0] >= w[1]) || waves.iter().any(|&w| w == 0 || w > 100) {
            return Err(bad(format!("waves must ascend within 1..=100, got {waves:?}")));
        }
        self.update_rollout(module, |current| match current {
            None | Some(Rollout { stable: None, .. }) => {
                Ok(Rollout { stable: Some(release.blake3.clone()), auto, ..Rollout::default() })
            }
            Some(mut r) => {
                if let Some(canary) = &r.canary {
                    return Err(bad(format!(
                        "a rollout of {} is in flight (wave {}); promote or roll it back first",
                        short(canary),
                        r.wave
                    )));
                }
                if r.stable.as_deref() == Some(release.blake3.as_str()) {
                    return Err(bad(format!("{} is already stable", release.label())));
                }
                r.canary = Some(release.blake3.clone());
                r.waves = waves.to_vec();
                r.wave = 0;
                r.paused = false;
                r.auto = auto;
                r.analysis = analysis.clone();
                r.rolled_back = None;
                Ok(r)
            }
        })
        .await
    }

    /// Refuses a release whose required interfaces no other module of the fleet provides in
    /// its stable or canary release (same name and id, at a version in the requirement's
    /// range when it has one), naming each missing one, the modules that provide that
    /// interface under another id, and those whose version is outside the range.
    async fn check_providers(&self, release: &ReleaseRecord) -> Result<(), FleetError> {
        if release.requires.is_empty() {
            return Ok(());
        }
        // (module, its release's version, what it provides)
        let mut offered: Vec<(String, String, InterfaceRef)> = Vec::new();
        // A rollout record that cannot be opened provides nothing (nobody vouches for it).
        let (rollouts, _) = self.list_records_lenient::<Rollout>(&keys::rollouts(&self.config.name)).await?;
        for (key, rollout, _) in rollouts {
            let other = key.rsplit('/').next().unwrap_or_default().to_owned();
            if other == release.module {
                continue;
            }
            for blake3 in [rollout.stable.as_ref(), rollout.canary.as_ref()].into_iter().flatten() {
                let key = keys::release(&self.config.name, &other, blake3);
                if let Some((r, _)) = self.get_record::<ReleaseRecord>(&key).await? {
                    offered.extend(r.provides.into_iter().map(|i| (other.clone(), r.version.clone(), i)));
                }
            }
        }
        // A range that does not parse (a record not written by `publish`) accepts nothing.
        let in_range = |want: &InterfaceRef, version: &str| {
            want.range.as_deref().is_none_or(|range| {
                let (Ok(range), Ok(version)) = (
                    hotpack::archive::semver::VersionReq::parse(range),
                    hotpack::archive::semver::Version::parse(version),
                ) else {
                    return false;
                };
                range.matches(&version)
            })
        };
        let same = |want: &InterfaceRef, have: &InterfaceRef| have.name == want.name && have.id == want.id;
        let missing: Vec<String> = release
            .requires
            .iter()
            .filter(|want| !offered.iter().any(|(_, version, have)| same(want, have) && in_range(want, version)))
            .map(|want| {
                let label = match &want.range {
                    Some(range) => format!("`{}` (id {}, versions {range})", want.name, want.id),
                    None => format!("`{}` (id {})", want.name, want.id),
                };
                let outside: Vec<String> = offered
                    .iter()
                    .filter(|(_, _, have)| same(want, have))
                    .map(|(m, version, _)| format!("{m} {version}"))
                    .collect();
                let near: Vec<&str> = offered
                    .iter()
                    .filter(|(_, _, have)| have.name == want.name && have.id != want.id)
                    .map(|(m, _, _)| m.as_str())
                    .collect();
                if !outside.is_empty() {
                    format!("{label}: the fleet runs it only outside that range ({})", outside.join(", "))
                } else if near.is_empty() {
                    format!("{label}: no module of the fleet provides it")
                } else {
                    format!("{label}: {} provide(s) it with another id", near.join(", "))
                }
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(FleetError::Rollout {
            module: release.module.clone(),
            problem: format!(
                "{} requires what the fleet does not run; roll its provider out first: {}",
                release.label(),
                missing.join("; ")
            ),
        })
    }

    /// Every live host report of `module` in the current wave that is not serving the canary.
    fn pending(rollout: &Rollout, module: &str, hosts: &[HostReport]) -> Vec<String> {
        let Some(canary) = &rollout.canary else { return Vec::new() };
        hosts
            .iter()
            .filter(|h| h.module == module && in_wave(&h.host, module, rollout.percent()))
            .filter(|h| {
                h.state != crate::model::HostState::Ok
                    || h.active.as_ref().and_then(|a| a.blake3.as_deref()) != Some(canary.as_str())
            })
            .map(|h| {
                format!("{}: {:?}{}", h.host, h.state, h.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())
            })
            .collect()
    }

    /// Moves `module`'s rollout to its next wave, only when every live host of the current wave
    /// reports ok on the canary; after the last wave the canary becomes stable.
    ///
    /// # Errors
    ///
    /// [`FleetError::WaveNotDone`] naming the hosts not ready, [`FleetError::Rollout`] when no
    /// rollout is in flight, [`FleetError::Conflict`], [`FleetError::Etcd`].
    pub async fn promote(&self, module: &str) -> Result<Rollout, FleetError> {
        let hosts = self.hosts().await?;
        self.update_rollout(module, |current| {
            let mut r = current.filter(|r| r.canary.is_some()).ok_or_else(|| FleetError::Rollout {
                module: module.to_owned(),
                problem: "no rollout in flight".into(),
            })?;
            let pending = Self::pending(&r, module, &hosts);
            if !pending.is_empty() {
                return Err(FleetError::WaveNotDone {
                    module: module.to_owned(),
                    wave: r.wave,
                    percent: r.percent(),
                    pending,
                });
            }
            if r.wave + 1 < r.waves.len() {
                r.wave += 1;
            } else {
                r.previous = r.stable.take();
                r.stable = r.canary.take();
                r.waves.clear();
                r.wave = 0;
                r.auto = false;
            }
            Ok(r)
        })
        .await
    }

    /// Rolls `module` back in one transaction: the canary in flight is dropped (or, with none,
    /// the previous stable release becomes stable again). Hosts return to the stable release
    /// they still hold; nothing is downloaded. Retries a few times when another writer raced.
    ///
    /// # Errors
    ///
    /// [`FleetError::Rollout`] when there is nothing to roll back to, [`FleetError::Etcd`].
    pub async fn rollback(&self, module: &str, reason: &str) -> Result<Rollout, FleetError> {
        let mut attempt = 0;
        loop {
            let result = self
                .update_rollout(module, |current| {
                    let nothing =
                        || FleetError::Rollout { module: module.to_owned(), problem: "nothing to roll back to".into() };
                    let mut r = current.ok_or_else(nothing)?;
                    if let Some(canary) = r.canary.take() {
                        r.rolled_back = Some(RolledBack { from: canary, reason: reason.to_owned() });
                    } else if let Some(previous) = r.previous.take() {
                        let from = r.stable.replace(previous).unwrap_or_default();
                        r.rolled_back = Some(RolledBack { from, reason: reason.to_owned() });
                    } else {
                        return Err(nothing());
                    }
                    r.waves.clear();
                    r.wave = 0;
                    r.auto = false;
                    r.paused = false;
                    Ok(r)
                })
                .await;
            match result {
                Err(FleetError::Conflict { .. }) if attempt < 5 => attempt += 1,
                other => return other,
            }
        }
    }

    /// Pauses (or resumes) `module`'s rollout: a paused rollout moves no host.
    ///
    /// # Errors
    ///
    /// [`FleetError::Rollout`] when the module has no rollout, [`FleetError::Conflict`],
    /// [`FleetError::Etcd`].
    pub async fn pause(&self, module: &str, paused: bool) -> Result<Rollout, FleetError> {
        self.update_rollout(module, |current| {
            let mut r = current
                .ok_or_else(|| FleetError::Rollout { module: module.to_owned(), problem: "no rollout".into() })?;
            r.paused = paused;
            Ok(r)
        })
        .await
    }

    /// Re-signs `module`'s rollout unchanged but for a new sequence number and expiry: run it
    /// (from a timer) more often than the validity, or hosts report `expired`.
    ///
    /// # Errors
    ///
    /// [`FleetError::Rollout`] when the module has no rollout, [`FleetError::Conflict`],
    /// [`FleetError::Etcd`].
    pub async fn renew(&self, module: &str) -> Result<Rollout, FleetError> {
        self.update_rollout(module, |current| {
            current.ok_or_else(|| FleetError::Rollout { module: module.to_owned(), problem: "no rollout".into() })
        })
        .await
    }

    /// Every live host report (hosts whose lease expired are gone).
    ///
    /// # Errors
    ///
    /// [`FleetError::Etcd`], [`FleetError::BadRecord`].
    pub async fn hosts(&self) -> Result<Vec<HostReport>, FleetError> {
        let (list, _) = self.list::<HostReport>(&keys::hosts(&self.config.name)).await?;
        Ok(list.into_iter().map(|(_, r, _)| r).collect())
    }

    /// Every rollout with its releases, and every live host report. A rollout or release
    /// record that cannot be opened is listed in [`FleetStatus::unreadable`], not an error.
    ///
    /// # Errors
    ///
    /// [`FleetError::Etcd`], [`FleetError::BadRecord`] for a host report that is not one.
    pub async fn status(&self) -> Result<FleetStatus, FleetError> {
        let (list, mut unreadable) = self.list_records_lenient::<Rollout>(&keys::rollouts(&self.config.name)).await?;
        let mut rollouts = Vec::new();
        for (key, rollout, revision) in list {
            let module = key.rsplit('/').next().unwrap_or_default().to_owned();
            let mut release = async |blake3: Option<&String>| -> Result<Option<ReleaseRecord>, FleetError> {
                let Some(b) = blake3 else { return Ok(None) };
                match self.get_record::<ReleaseRecord>(&keys::release(&self.config.name, &module, b)).await {
                    Ok(found) => Ok(found.map(|(r, _)| r)),
                    Err(FleetError::BadRecord { key, problem }) => {
                        unreadable.push(UnreadableRecord { key, problem });
                        Ok(None)
                    }
                    Err(other) => Err(other),
                }
            };
            let stable = release(rollout.stable.as_ref()).await?;
            let canary = release(rollout.canary.as_ref()).await?;
            let analysis = self.get_plain(&keys::analysis(&self.config.name, &module)).await?;
            rollouts.push(RolloutStatus { module, rollout, revision, stable, canary, analysis });
        }
        Ok(FleetStatus { fleet: self.config.name.clone(), rollouts, hosts: self.hosts().await?, unreadable })
    }
}

/// What the bundle's library for `module` provides and requires, read from its descriptor
/// section (nothing of it runs). A library without one (an older build) yields nothing,
/// and then no requirement can be checked at rollout.
fn interfaces_of(
    bundle: &hotpack_archive::Bundle,
    module: &str,
    libraries: &BTreeMap<String, String>,
) -> (Vec<InterfaceRef>, Vec<InterfaceRef>) {
    let refs = |list: &[hotpack::loader::InterfaceInfo]| {
        let mut v: Vec<InterfaceRef> = list
            .iter()
            .map(|i| InterfaceRef {
                name: i.name.clone(),
                id: format!("{:016x}", i.id),
                range: i.range.as_ref().map(ToString::to_string),
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    for target in libraries.keys() {
        let Ok(bytes) = bundle.read_library(module, target) else { continue };
        if let Ok(descriptor) = hotpack::loader::describe(&bytes) {
            return (refs(&descriptor.info.interfaces), refs(&descriptor.info.requires));
        }
    }
    (Vec::new(), Vec::new())
}
