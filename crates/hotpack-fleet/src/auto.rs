//! [`Fleet::watch_auto`]: the `--auto` watcher. It reads the fleet once, then applies the
//! watch events of `/hotpack/<fleet>/` to what it holds in memory (no re-read per event, so
//! its cost per event does not grow with the fleet). Without an analysis it rolls back on the
//! first failing host of the wave; with one (`--bake`) it also promotes each wave by itself
//! once its hosts served the canary for the bake time no worse than the baseline, and pauses
//! when it cannot tell. What it found goes to `/hotpack/<fleet>/analysis/<module>`.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{EventType, GetOptions, WatchOptions};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::analysis::{AnalysisConfig, CallStats, Verdict, judge};
use crate::error::FleetError;
use crate::keys;
use crate::model::{HostReport, HostState, Rollout, in_wave, short};
use crate::operator::{Fleet, open_record};

/// How an automatic rollout ended ([`Fleet::watch_auto`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum AutoOutcome {
    /// The canary became stable (the last wave was promoted).
    Completed {
        /// The release now stable.
        stable: String,
    },
    /// A host of the wave failed, or the analysis found the canary worse; the fleet was
    /// rolled back by this watcher.
    RolledBack {
        /// The failing host (`analysis` when the verdict came from the numbers).
        host: String,
        /// Why.
        reason: String,
    },
    /// The analysis could not tell (too few calls); the rollout was paused.
    Paused {
        /// Why.
        reason: String,
    },
    /// Someone else rolled the canary back.
    Ended,
}

/// One wave's analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveAnalysis {
    /// Index into the waves.
    pub wave: usize,
    /// Its percentage.
    pub percent: u8,
    /// Where it stands.
    pub verdict: Verdict,
    /// Why (the numbers compared, or what it waits for).
    pub reason: String,
    /// The wave's hosts over the bake window.
    pub canary: Option<CallStats>,
    /// The hosts on the stable release over the same window (the last wave: the previous
    /// wave's baseline).
    pub baseline: Option<CallStats>,
}

/// What the watcher found for a module's rollout, kept at `/hotpack/<fleet>/analysis/<module>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisStatus {
    /// The canary analysed (bundle blake3).
    pub canary: String,
    /// The settings.
    pub config: Option<AnalysisConfig>,
    /// Each wave judged so far, and the current one.
    pub waves: Vec<WaveAnalysis>,
    /// Times the analysis restarted (a release published mid-rollout, the canary replaced).
    pub restarts: Vec<String>,
}

struct Watch {
    module: String,
    canary: String,
    rollout: Rollout,
    hosts: BTreeMap<String, HostReport>,
    /// Bake state of the current wave: when it started, and every host's counts then.
    bake: Option<(Instant, usize, BTreeMap<String, CallStats>)>,
    /// The last baseline measured on hosts still on the stable release.
    last_baseline: Option<CallStats>,
    status: AnalysisStatus,
    written: Option<AnalysisStatus>,
}

enum Step {
    Done(AutoOutcome),
    Wait(Option<Instant>),
}

impl Fleet {
    /// The `--auto` watcher: follows `module`'s rollout and the hosts' reports until the canary
    /// is gone. The first report of a failed gate, a demotion or a refused bundle on the
    /// canary rolls the fleet back (one transaction). With an analysis in the rollout record
    /// ([`Fleet::rollout_with`]) it also judges each wave after its bake time: promotes, rolls
    /// back with the reason, or pauses. etcd outages are waited out.
    ///
    /// # Errors
    ///
    /// [`FleetError::Rollout`] when no rollout is in flight when it starts.
    pub async fn watch_auto(&self, module: &str) -> Result<AutoOutcome, FleetError> {
        let canary = match self.rollout_of(module).await? {
            Some((Rollout { canary: Some(c), .. }, _)) => c,
            _ => return Err(FleetError::Rollout { module: module.to_owned(), problem: "no rollout in flight".into() }),
        };
        let mut w = Watch {
            module: module.to_owned(),
            canary: canary.clone(),
            rollout: Rollout::default(),
            hosts: BTreeMap::new(),
            bake: None,
            last_baseline: None,
            status: AnalysisStatus { canary, ..AnalysisStatus::default() },
            written: None,
        };
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.auto_session(&mut w).await {
                Ok(outcome) => return Ok(outcome),
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// One read of the fleet, then its watch events until an outcome (or an etcd error).
    async fn auto_session(&self, w: &mut Watch) -> Result<AutoOutcome, FleetError> {
        let fleet = self.config().name.clone();
        let root = keys::root(&fleet);
        let mut etcd = self.etcd();
        let response = etcd
            .get(root.clone(), Some(GetOptions::new().with_prefix()))
            .await
            .map_err(self.etcd_err(format!("read {root}")))?;
        let revision = response.header().map_or(0, |h| h.revision());
        w.hosts.clear();
        for kv in response.kvs() {
            self.apply(w, &String::from_utf8_lossy(kv.key()), Some(kv.value()));
        }
        let mut stream = etcd
            .watch(root.clone(), Some(WatchOptions::new().with_prefix().with_start_revision(revision + 1)))
            .await
            .map_err(self.etcd_err("watch"))?;
        loop {
            let until = match self.step(w).await? {
                Step::Done(outcome) => return Ok(outcome),
                Step::Wait(until) => until,
            };
            let sleep = until.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            tokio::select! {
                message = stream.message() => {
                    let Some(response) = message.map_err(self.etcd_err("watch"))? else {
                        return Err(FleetError::Rollout { module: w.module.clone(), problem: "the watch ended".into() });
                    };
                    if response.canceled() || response.compact_revision() > 0 {
                        return Err(FleetError::Rollout { module: w.module.clone(), problem: "watch compacted".into() });
                    }
                    for event in response.events() {
                        let Some(kv) = event.kv() else { continue };
                        let key = String::from_utf8_lossy(kv.key()).into_owned();
                        let value = (event.event_type() == EventType::Put).then(|| kv.value());
                        self.apply(w, &key, value);
                    }
                }
                _ = tokio::time::sleep_until(sleep) => {}
            }
        }
    }

    /// Applies one key's new value (or its deletion) to what the watcher holds.
    fn apply(&self, w: &mut Watch, key: &str, value: Option<&[u8]>) {
        let fleet = &self.config().name;
        if key == keys::rollout(fleet, &w.module) {
            if let Some(v) = value {
                // A record this operator's key did not sign is not followed here either: the
                // watcher keeps the last good one and says so.
                match open_record(key.as_bytes(), v, &self.trusted()) {
                    Ok(rollout) => w.rollout = rollout,
                    Err(e) => w.status.restarts.push(format!("ignored a rollout record: {e}")),
                }
            }
        } else if let Some(rest) = key.strip_prefix(&keys::hosts(fleet)) {
            let Some((host, module)) = rest.split_once('/') else { return };
            if module != w.module {
                return;
            }
            match value.and_then(|v| serde_json::from_slice::<HostReport>(v).ok()) {
                Some(report) => {
                    w.hosts.insert(host.to_owned(), report);
                }
                None => {
                    let gone = w.hosts.remove(host);
                    // A host of the baking wave whose lease expired crashed (or was stopped).
                    if let (Some(gone), Some((_, wave, _))) = (gone, &w.bake)
                        && *wave == w.rollout.wave
                        && gone.target.as_deref() == Some(w.canary.as_str())
                    {
                        w.hosts.insert(
                            host.to_owned(),
                            HostReport {
                                state: HostState::Failed,
                                reason: Some("its report vanished (lease expired) while serving the canary".into()),
                                ..gone
                            },
                        );
                    }
                }
            }
        } else if key.starts_with(&keys::releases_of(fleet, &w.module)) && value.is_some() && w.bake.is_some() {
            // A release published mid-rollout: judge the wave afresh.
            w.bake = None;
            w.status.restarts.push(format!("a release of {} was published mid-rollout; the bake restarted", w.module));
        }
    }

    async fn step(&self, w: &mut Watch) -> Result<Step, FleetError> {
        let module = w.module.clone();
        match w.rollout.canary.clone() {
            None => {
                return Ok(Step::Done(match &w.rollout.stable {
                    Some(stable) if *stable == w.canary => AutoOutcome::Completed { stable: stable.clone() },
                    _ => AutoOutcome::Ended,
                }));
            }
            Some(c) if c != w.canary => {
                w.status.restarts.push(format!("the canary changed from {} to {}", short(&w.canary), short(&c)));
                w.status.canary = c.clone();
                w.status.waves.clear();
                w.canary = c;
                w.bake = None;
                w.last_baseline = None;
            }
            Some(_) => {}
        }
        let canary = w.canary.clone();
        if let Some((host, bad)) =
            w.hosts.iter().find(|(_, h)| h.target.as_deref() == Some(canary.as_str()) && h.state.is_failure())
        {
            let reason = format!(
                "auto: host {host} reported {:?}: {}",
                bad.state,
                bad.reason.as_deref().unwrap_or("no reason given")
            );
            let host = host.clone();
            self.record_verdict(w, Verdict::Failed, reason.clone(), None, None).await;
            self.rollback(&module, &reason).await?;
            return Ok(Step::Done(AutoOutcome::RolledBack { host, reason }));
        }
        let Some(config) = w.rollout.analysis.clone() else { return Ok(Step::Wait(None)) };
        if w.rollout.paused {
            return Ok(Step::Wait(None));
        }
        w.status.config = Some(config.clone());
        let (wave, percent) = (w.rollout.wave, w.rollout.percent());
        if w.bake.as_ref().is_some_and(|(_, b, _)| *b != wave) {
            w.bake = None;
        }
        let in_canary = |h: &HostReport| in_wave(&h.host, &module, percent);
        let Some((started, _, snap)) = &w.bake else {
            let waiting: Vec<String> = w
                .hosts
                .values()
                .filter(|h| in_canary(h))
                .filter(|h| {
                    h.state != HostState::Ok || h.active.as_ref().and_then(|a| a.blake3.as_deref()) != Some(&canary)
                })
                .map(|h| format!("{} ({:?})", h.host, h.state))
                .collect();
            if waiting.is_empty() {
                let snap = w.hosts.iter().filter_map(|(k, h)| Some((k.clone(), h.stats.clone()?))).collect();
                w.bake = Some((Instant::now(), wave, snap));
                let reason = format!("baking for {} ms", config.bake_ms);
                self.record_verdict(w, Verdict::Pending, reason, None, None).await;
                return Ok(Step::Wait(Some(Instant::now() + Duration::from_millis(config.bake_ms))));
            }
            let reason = format!("waiting for the wave's hosts to serve the canary: {}", waiting.join(", "));
            self.record_verdict(w, Verdict::Pending, reason, None, None).await;
            return Ok(Step::Wait(None));
        };
        let done = *started + Duration::from_millis(config.bake_ms);
        if Instant::now() < done {
            return Ok(Step::Wait(Some(done)));
        }
        let window = |h: &HostReport| {
            let now = h.stats.clone().unwrap_or_default();
            snap.get(&h.host).map_or(now.clone(), |s| now.since(s))
        };
        let mut canary_stats = CallStats::default();
        let mut baseline = CallStats::default();
        let mut stable_hosts = 0;
        for h in w.hosts.values() {
            if in_canary(h) {
                canary_stats.add(&window(h));
            } else if h.state == HostState::Ok {
                baseline.add(&window(h));
                stable_hosts += 1;
            }
        }
        let baseline = if stable_hosts > 0 {
            w.last_baseline = Some(baseline.clone());
            baseline
        } else {
            w.last_baseline.clone().unwrap_or_default()
        };
        let (verdict, reason) = judge(&config, &canary_stats, &baseline);
        self.record_verdict(w, verdict, reason.clone(), Some(canary_stats), Some(baseline)).await;
        match verdict {
            Verdict::Passed => {
                let r = self.promote(&module).await?;
                w.bake = None;
                if r.canary.is_none() {
                    return Ok(Step::Done(AutoOutcome::Completed { stable: canary }));
                }
                w.rollout = r;
                Ok(Step::Wait(None))
            }
            Verdict::Failed => {
                let reason = format!("auto: wave {} ({percent}%): {reason}", wave + 1);
                self.rollback(&module, &reason).await?;
                Ok(Step::Done(AutoOutcome::RolledBack { host: "analysis".into(), reason }))
            }
            Verdict::Inconclusive | Verdict::Pending => {
                self.pause(&module, true).await?;
                Ok(Step::Done(AutoOutcome::Paused { reason: format!("wave {} ({percent}%): {reason}", wave + 1) }))
            }
        }
    }

    /// Sets the current wave's entry and writes the analysis when it changed (best effort:
    /// the analysis key is informational).
    async fn record_verdict(
        &self,
        w: &mut Watch,
        verdict: Verdict,
        reason: String,
        canary: Option<CallStats>,
        baseline: Option<CallStats>,
    ) {
        let entry =
            WaveAnalysis { wave: w.rollout.wave, percent: w.rollout.percent(), verdict, reason, canary, baseline };
        match w.status.waves.last_mut() {
            Some(last) if last.wave == entry.wave && last.verdict == Verdict::Pending => *last = entry,
            _ => w.status.waves.push(entry),
        }
        if w.written.as_ref() == Some(&w.status) {
            return;
        }
        let key = keys::analysis(&self.config().name, &w.module);
        let value = serde_json::to_vec(&w.status).expect("plain data");
        if self.etcd().put(key, value, None).await.is_ok() {
            w.written = Some(w.status.clone());
        }
    }
}
