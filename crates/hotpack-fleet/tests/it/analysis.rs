//! `--auto --bake`: waves promoted by the analysis under traffic, a slow canary rolled back
//! with the numbers in `status`, and a rollout without traffic paused as inconclusive.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hotpack_fleet::{AnalysisConfig, AutoOutcome, Outcome, Verdict, in_wave};

use crate::support::{Host, all_serve, cluster, eventually, split_wave};

/// Calls every host in a loop (a thread) until dropped.
struct Traffic {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(hosts: &[Host]) -> Traffic {
        Traffic::start_with(hosts, None)
    }

    /// Calls every host in a loop; with `dies_on = Some(v)`, every tenth call answered by
    /// version `v` is also counted the way `hotpack serve --fleet` counts a call whose worker
    /// process died (an error and a worker death: `fleet::call_observer`'s `CallKind::Crash`).
    fn start_with(hosts: &[Host], dies_on: Option<&'static str>) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let targets: Vec<(hotpack::Runtime, Arc<hotpack_fleet::CallMeter>)> =
            hosts.iter().map(|h| (h.runtime.clone(), Arc::clone(&h.meter))).collect();
        let s = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut round = 0u64;
            while !s.load(Ordering::SeqCst) {
                round += 1;
                for (runtime, meter) in &targets {
                    let answer = meter.call(runtime, "greeter", "version", b"");
                    if let (Some(v), Ok(out)) = (dies_on, &answer)
                        && out == v.as_bytes()
                        && round.is_multiple_of(10)
                    {
                        meter.record("greeter", Outcome::Error, Duration::from_micros(100));
                        meter.worker_died("greeter");
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Traffic { stop, thread: Some(thread) }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn analysis() -> AnalysisConfig {
    AnalysisConfig { bake_ms: 1500, min_calls: 30, ..AnalysisConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_bake_promotes_every_wave_under_traffic() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    let v2 = c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2").record;
    let hosts = c.hosts(5);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;
    let _traffic = Traffic::start(&hosts);
    let first = split_wave(&hosts);
    let later = c.bundle("fx-greeter-slow"); // packed now: publishing it mid-bake is quick
    c.fleet.rollout_with("greeter", "2.0.0", &[first, 100], true, Some(analysis())).await.expect("rollout");
    let watcher = {
        let fleet = c.fleet.clone();
        tokio::spawn(async move { fleet.watch_auto("greeter").await })
    };
    // A release published while the first wave bakes restarts its analysis.
    eventually("the first wave bakes", async || {
        let status = c.fleet.status().await.map_err(|e| e.to_string())?;
        let baking = status.rollouts[0]
            .analysis
            .as_ref()
            .and_then(|a| a.waves.first())
            .is_some_and(|w| w.verdict == Verdict::Pending && w.reason.starts_with("baking"));
        if baking { Ok(()) } else { Err(format!("{:?}", status.rollouts[0].analysis)) }
    })
    .await;
    c.fleet.publish(&later).await.expect("publish mid-rollout");
    let outcome = watcher.await.expect("the watcher task").expect("watch");
    assert_eq!(outcome, AutoOutcome::Completed { stable: v2.blake3.clone() });
    all_serve(&hosts, "2").await;
    let status = c.fleet.status().await.expect("status");
    let analysis = status.rollouts[0].analysis.as_ref().expect("the analysis is in status");
    let judged: Vec<_> = analysis.waves.iter().map(|w| (w.wave, w.verdict)).collect();
    assert_eq!(judged, [(0, Verdict::Passed), (1, Verdict::Passed)], "{analysis:#?}");
    assert!(analysis.restarts.iter().any(|r| r.contains("published mid-rollout")), "{analysis:#?}");
    assert!(analysis.waves.iter().all(|w| w.canary.as_ref().is_some_and(|s| s.calls >= 30)), "{analysis:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_bake_rolls_a_slow_canary_back_with_the_reason_in_status() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    c.fleet.publish(&c.bundle("fx-greeter-slow")).await.expect("publish the slow v4");
    let hosts = c.hosts(5);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;
    let _traffic = Traffic::start(&hosts);
    let first = split_wave(&hosts);
    c.fleet.rollout_with("greeter", "4.0.4", &[first, 100], true, Some(analysis())).await.expect("rollout");
    let outcome = c.fleet.watch_auto("greeter").await.expect("watch");
    let AutoOutcome::RolledBack { host, reason } = outcome else { panic!("rolled back, not {outcome:?}") };
    assert_eq!(host, "analysis");
    assert!(reason.contains("p99"), "{reason}");
    all_serve(&hosts, "1").await;
    let status = c.fleet.status().await.expect("status");
    let r = &status.rollouts[0];
    assert!(r.rollout.rolled_back.as_ref().is_some_and(|b| b.reason.contains("p99")), "{:?}", r.rollout.rolled_back);
    let last = r.analysis.as_ref().and_then(|a| a.waves.last()).expect("a wave analysis");
    assert_eq!((last.wave, last.verdict), (0, Verdict::Failed), "{last:#?}");
    let json = serde_json::to_string(&status).expect("json");
    assert!(json.contains("\"verdict\":\"failed\""), "status --json shows the verdict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_bake_without_traffic_pauses_as_inconclusive() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2");
    let hosts = c.hosts(3);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;
    let config = AnalysisConfig { bake_ms: 300, ..analysis() };
    c.fleet.rollout_with("greeter", "2.0.0", &[50, 100], true, Some(config)).await.expect("rollout");
    let outcome = c.fleet.watch_auto("greeter").await.expect("watch");
    let AutoOutcome::Paused { reason } = outcome else { panic!("paused, not {outcome:?}") };
    assert!(reason.contains("too few calls"), "{reason}");
    let (rollout, _) = c.fleet.rollout_of("greeter").await.expect("read").expect("rollout");
    assert!(rollout.paused);
}

/// `--auto --bake` with a canary whose worker processes die under traffic: the fleet is rolled
/// back with the deaths as the reason, in the rollout record and in the analysis `status`
/// shows. These hosts run modules in process (a test binary cannot be the worker executable),
/// so a worker cannot really die here: the traffic feeds each canary host's meter what
/// `hotpack serve --fleet` records for a call whose worker died (an error and
/// `CallMeter::worker_died`); the real crash under `serve` is
/// `hotpack-cli`'s `fleet::auto_bake_rolls_a_crashing_canary_back`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_bake_rolls_back_a_canary_whose_workers_die_with_the_reason_in_status() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    let v2 = c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2").record;
    let hosts = c.hosts(5);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;
    let _traffic = Traffic::start_with(&hosts, Some("2"));
    let first = split_wave(&hosts);
    c.fleet.rollout_with("greeter", "2.0.0", &[first, 100], true, Some(analysis())).await.expect("rollout");
    let outcome = c.fleet.watch_auto("greeter").await.expect("watch");
    let AutoOutcome::RolledBack { host, reason } = outcome else { panic!("rolled back, not {outcome:?}") };
    assert_eq!(host, "analysis");
    assert!(reason.contains("wave 1") && reason.contains("canary worker processes died"), "{reason}");
    all_serve(&hosts, "1").await;
    let status = c.fleet.status().await.expect("status");
    let r = &status.rollouts[0];
    let back = r.rollout.rolled_back.as_ref().expect("the rollback is recorded");
    assert_eq!(back.from, v2.blake3);
    assert!(back.reason.contains("canary worker processes died"), "{back:?}");
    let analysis = r.analysis.as_ref().expect("the analysis is in status");
    let last = analysis.waves.last().expect("a wave analysis");
    assert_eq!((last.wave, last.verdict), (0, Verdict::Failed), "{analysis:#?}");
    assert!(last.reason.contains("worker deaths"), "{last:#?}");
    let canary = last.canary.as_ref().expect("the canary's numbers");
    assert!(canary.worker_deaths > 0 && canary.errors >= canary.worker_deaths, "{canary:?}");
    let baseline = last.baseline.as_ref().expect("the baseline's numbers");
    assert_eq!(baseline.worker_deaths, 0, "{baseline:?}");
    // No later wave was judged.
    assert!(analysis.waves.iter().all(|w| w.wave == 0), "{analysis:#?}");
}

/// `--auto --bake` with a canary that panics on every call: the runtime's panic budget demotes
/// it on the hosts of the first wave, they report `demoted` with the runtime's cause, and the
/// watcher rolls the fleet back at once (before the bake ends) naming the host, the demotion
/// and its cause, in the rollout record and in the analysis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_bake_rolls_back_when_a_canary_host_demotes() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    let bad = c.fleet.publish(&c.bundle("fx-greeter-v3-panics")).await.expect("publish v3").record;
    let hosts = c.hosts(5);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;
    let _traffic = Traffic::start(&hosts);
    let first = split_wave(&hosts);
    // A bake far longer than the test: only a host's failure can end this rollout.
    let config = AnalysisConfig { bake_ms: 3_600_000, ..analysis() };
    c.fleet.rollout_with("greeter", "3.0.3", &[first, 100], true, Some(config)).await.expect("rollout");
    let outcome = tokio::time::timeout(Duration::from_secs(120), c.fleet.watch_auto("greeter"))
        .await
        .expect("the watcher acts on the demotion (a liveness bound)")
        .expect("watch");
    let AutoOutcome::RolledBack { host, reason } = outcome else { panic!("rolled back, not {outcome:?}") };
    assert!(in_wave(&host, "greeter", first), "{host} is in the first wave");
    assert!(reason.contains(&format!("host {host} reported Demoted")), "{reason}");
    assert!(reason.contains("3.0.3") && reason.contains("was demoted on this host"), "{reason}");
    assert!(reason.contains("panics within"), "the reason says why (the runtime's panic budget): {reason}");
    all_serve(&hosts, "1").await;
    let status = c.fleet.status().await.expect("status");
    let r = &status.rollouts[0];
    let back = r.rollout.rolled_back.as_ref().expect("the rollback is recorded");
    assert_eq!((back.from.as_str(), back.reason.as_str()), (bad.blake3.as_str(), reason.as_str()));
    let last = r.analysis.as_ref().and_then(|a| a.waves.last()).expect("a wave analysis");
    assert_eq!((last.wave, last.verdict), (0, Verdict::Failed), "{last:#?}");
    assert_eq!(last.reason, reason);
}

/// `--auto --bake` while a host of the baking wave dies (its agent dropped without a goodbye,
/// as a killed process: its lease expires and its reports vanish): the watcher takes the
/// vanished report for a crash of the canary and rolls the fleet back, naming the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_bake_rolls_back_when_a_canary_host_dies_mid_bake() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    let v2 = c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2").record;
    let mut hosts = c.hosts(5);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;
    let _traffic = Traffic::start(&hosts);
    let first = split_wave(&hosts);
    let config = AnalysisConfig { bake_ms: 3_600_000, ..analysis() };
    c.fleet.rollout_with("greeter", "2.0.0", &[first, 100], true, Some(config)).await.expect("rollout");
    let watcher = {
        let fleet = c.fleet.clone();
        tokio::spawn(async move { fleet.watch_auto("greeter").await })
    };
    eventually("the first wave bakes", async || {
        let status = c.fleet.status().await.map_err(|e| e.to_string())?;
        let baking = status.rollouts[0]
            .analysis
            .as_ref()
            .and_then(|a| a.waves.first())
            .is_some_and(|w| w.verdict == Verdict::Pending && w.reason.starts_with("baking"));
        if baking { Ok(()) } else { Err(format!("{:?}", status.rollouts[0].analysis)) }
    })
    .await;
    let dead = hosts.iter_mut().find(|h| in_wave(&h.id, "greeter", first)).expect("a first-wave host");
    let dead_id = dead.id.clone();
    drop(dead.agent.take());
    let outcome = tokio::time::timeout(Duration::from_secs(120), watcher)
        .await
        .expect("the watcher acts on the vanished report (a liveness bound)")
        .expect("the watcher task")
        .expect("watch");
    let AutoOutcome::RolledBack { host, reason } = outcome else { panic!("rolled back, not {outcome:?}") };
    assert_eq!(host, dead_id);
    assert!(reason.contains("vanished") && reason.contains("serving the canary"), "{reason}");
    let living: Vec<_> = hosts.into_iter().filter(|h| h.id != dead_id).collect();
    all_serve(&living, "1").await;
    let status = c.fleet.status().await.expect("status");
    let r = &status.rollouts[0];
    let back = r.rollout.rolled_back.as_ref().expect("the rollback is recorded");
    assert_eq!((back.from.as_str(), back.reason.as_str()), (v2.blake3.as_str(), reason.as_str()));
    let last = r.analysis.as_ref().and_then(|a| a.waves.last()).expect("a wave analysis");
    assert_eq!((last.wave, last.verdict), (0, Verdict::Failed), "{last:#?}");
}
