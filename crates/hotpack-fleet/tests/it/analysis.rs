//! `--auto --bake`: waves promoted by the analysis under traffic, a slow canary rolled back
//! with the numbers in `status`, and a rollout without traffic paused as inconclusive.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hotpack_fleet::{AnalysisConfig, AutoOutcome, Verdict};

use crate::support::{Host, all_serve, cluster, eventually, split_wave};

/// Calls every host in a loop (a thread) until dropped.
struct Traffic {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(hosts: &[Host]) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let targets: Vec<(hotpack::Runtime, Arc<hotpack_fleet::CallMeter>)> =
            hosts.iter().map(|h| (h.runtime.clone(), Arc::clone(&h.meter))).collect();
        let s = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                for (runtime, meter) in &targets {
                    let _ = meter.call(runtime, "greeter", "version", b"");
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
