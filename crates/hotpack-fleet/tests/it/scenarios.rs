//! The fleet scenarios of issue 17, each against its own etcd and registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hotpack_fleet::{AutoOutcome, HostState, ReleaseRecord, in_wave};

use crate::support::{all_serve, cluster, eventually, split_wave};

/// Publishing the same bytes twice writes nothing new; rollout v1 -> v2 moves exactly the hosts
/// of each wave; promote refuses nothing once the wave is ok; the last promote makes v2 stable;
/// a stopped host's report disappears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_in_waves_moves_exactly_the_hosts_of_each_wave() {
    let c = cluster().await;
    let v1 = c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    assert!(v1.created);
    assert_eq!((v1.record.module.as_str(), v1.record.version.as_str()), ("greeter", "1.0.0"));
    assert!(!c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1 again").created);
    let v2 = c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2").record;
    let mut hosts = c.hosts(5);

    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("first rollout makes v1 stable");
    all_serve(&hosts, "1").await;

    let first = split_wave(&hosts);
    c.fleet.rollout("greeter", "2.0.0", &[first, 100], false).await.expect("rollout v2");
    eventually("the first wave serves v2, the others v1", async || {
        for h in &hosts {
            let want = if in_wave(&h.id, "greeter", first) { "2" } else { "1" };
            let report = h.report();
            if h.serving() != want || report.as_ref().map(|r| r.state) != Some(HostState::Ok) {
                return Err(format!("{} serves {} (want {want}), reports {report:?}", h.id, h.serving()));
            }
        }
        Ok(())
    })
    .await;
    let moved = hosts.iter().filter(|h| h.serving() == "2").count();
    assert!(moved > 0 && moved < hosts.len(), "the first wave holds some hosts, not all ({moved})");

    // Every host's report reaches etcd: promote reads them.
    eventually("promote to the 100% wave", async || {
        c.fleet.promote("greeter").await.map(drop).map_err(|e| e.to_string())
    })
    .await;
    all_serve(&hosts, "2").await;
    eventually("the last promote completes", async || {
        c.fleet.promote("greeter").await.map(drop).map_err(|e| e.to_string())
    })
    .await;
    let status = c.fleet.status().await.expect("status");
    let rollout = &status.rollouts[0];
    assert_eq!(rollout.rollout.stable.as_deref(), Some(v2.blake3.as_str()));
    assert_eq!(rollout.rollout.canary, None);
    assert_eq!(status.hosts_of("greeter").count(), 5);
    assert!(
        status
            .hosts_of("greeter")
            .all(|h| h.active.as_ref().and_then(|a| a.blake3.as_deref()) == Some(v2.blake3.as_str()))
    );

    // A host that leaves takes its report with it.
    let gone = hosts.pop().expect("five hosts");
    gone.agent.expect("agent").stop().await;
    eventually("the stopped host's report is gone", async || {
        let n = c.fleet.hosts().await.map_err(|e| e.to_string())?.len();
        if n == 4 { Ok(()) } else { Err(format!("{n} reports")) }
    })
    .await;
}

/// `rollback` while every host answers calls in a loop: no call fails, every host returns to
/// v1 — with the registry stopped, so nothing can have been downloaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_under_traffic_loses_no_call_and_downloads_nothing() {
    let mut c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2");
    let hosts = c.hosts(5);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;
    c.fleet.rollout("greeter", "2.0.0", &[100], false).await.expect("rollout v2");
    all_serve(&hosts, "2").await;

    let stop = Arc::new(AtomicBool::new(false));
    let (calls, errors, ones) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let traffic: Vec<_> = hosts
        .iter()
        .map(|h| {
            let (runtime, stop) = (h.runtime.clone(), Arc::clone(&stop));
            let (calls, errors, ones) = (Arc::clone(&calls), Arc::clone(&errors), Arc::clone(&ones));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match runtime.call("greeter", "greet", b"fleet") {
                        Ok(out) if String::from_utf8_lossy(&out).contains("(v1") => {
                            ones.fetch_add(1, Ordering::Relaxed)
                        }
                        Ok(_) => 0,
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    c.registry.stop();
    c.fleet.rollback("greeter", "operator: v2 misbehaves").await.expect("rollback");
    all_serve(&hosts, "1").await;
    let before = calls.load(Ordering::Relaxed);
    eventually("traffic keeps flowing after the rollback", async || {
        if calls.load(Ordering::Relaxed) > before + 100 { Ok(()) } else { Err("no calls".into()) }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in traffic {
        t.join().expect("traffic thread");
    }
    assert_eq!(errors.load(Ordering::Relaxed), 0, "no call failed during the rollback");
    assert!(ones.load(Ordering::Relaxed) > 0, "calls were answered by v1 after the rollback");
    let (rollout, _) = c.fleet.rollout_of("greeter").await.expect("read").expect("rollout");
    assert_eq!(rollout.canary, None);
    assert_eq!(rollout.rolled_back.expect("recorded").reason, "operator: v2 misbehaves");
}

/// A canary that fails its init gate is reported failed by the hosts of the first wave, and the
/// `--auto` watcher rolls the fleet back; no host ever stops serving v1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_canary_rolls_the_fleet_back_automatically() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    let bad = c.fleet.publish(&c.bundle("fx-greeter-init-error")).await.expect("publish the bad canary").record;
    let hosts = c.hosts(5);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;

    let first = split_wave(&hosts);
    c.fleet.rollout("greeter", "3.0.0", &[first, 100], true).await.expect("rollout the bad canary");
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), c.fleet.watch_auto("greeter"))
        .await
        .expect("the auto watcher acts")
        .expect("auto watch");
    let AutoOutcome::RolledBack { host, reason } = outcome else { panic!("expected a rollback, got {outcome:?}") };
    assert!(in_wave(&host, "greeter", first), "{host} was in the first wave");
    assert!(reason.contains("init") && reason.contains("configuration missing"), "{reason}");
    let (rollout, _) = c.fleet.rollout_of("greeter").await.expect("read").expect("rollout");
    assert_eq!(rollout.canary, None);
    assert_eq!(rollout.rolled_back.expect("recorded").from, bad.blake3);
    all_serve(&hosts, "1").await;
}

/// etcd killed mid-rollout: every host keeps serving; once etcd is back the next promote
/// reaches every host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_outage_mid_rollout_stops_nobody_and_the_fleet_converges() {
    let mut c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2");
    let hosts = c.hosts(5);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;
    let first = split_wave(&hosts);
    c.fleet.rollout("greeter", "2.0.0", &[first, 100], false).await.expect("rollout v2");
    eventually("the first wave serves v2", async || {
        let done = hosts.iter().all(|h| (h.serving() == "2") == in_wave(&h.id, "greeter", first));
        if done { Ok(()) } else { Err("not yet".into()) }
    })
    .await;

    c.etcd.stop();
    for _ in 0..20 {
        for h in &hosts {
            let want = if in_wave(&h.id, "greeter", first) { "2" } else { "1" };
            assert_eq!(h.serving(), want, "{} keeps serving while etcd is down", h.id);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    c.etcd.restart().expect("etcd restarts");
    eventually("promote once etcd and every host are back", async || {
        c.fleet.promote("greeter").await.map(drop).map_err(|e| e.to_string())
    })
    .await;
    all_serve(&hosts, "2").await;
}

/// The registry killed: a new rollout cannot be fetched; every host keeps v1 and reports the
/// fetch failure; once the registry is back they converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_outage_keeps_every_host_on_its_version_and_reports_it() {
    let mut c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2");
    let hosts = c.hosts(5);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;

    c.registry.stop();
    c.fleet.rollout("greeter", "2.0.0", &[100], false).await.expect("rollout v2");
    eventually("every host reports the fetch failure", async || {
        for h in &hosts {
            let report = h.report();
            let fetch_failed = report.as_ref().is_some_and(|r| {
                r.state == HostState::FetchFailed && r.reason.as_deref().is_some_and(|s| s.contains("registry"))
            });
            if !fetch_failed {
                return Err(format!("{}: {report:?}", h.id));
            }
        }
        Ok(())
    })
    .await;
    eventually("etcd holds every host's fetch failure", async || {
        let reports = c.fleet.hosts().await.map_err(|e| e.to_string())?;
        let all = reports.len() == hosts.len() && reports.iter().all(|r| r.state == HostState::FetchFailed);
        if all { Ok(()) } else { Err(format!("{reports:?}")) }
    })
    .await;
    assert!(hosts.iter().all(|h| h.serving() == "1"), "every host keeps v1");

    c.registry.restart().expect("the registry restarts");
    all_serve(&hosts, "2").await;
}

/// A release record whose blake3 is not the pushed bundle's is refused by every host: the bytes
/// are pulled, checked, and never deployed (nor stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_record_whose_hash_differs_is_refused_by_every_host() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    let v2 = c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2").record;
    let hosts = c.hosts(5);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;

    let forged = ReleaseRecord {
        version: "2.0.1".into(),
        blake3: blake3::hash(b"not the bundle").to_hex().to_string(),
        ..v2.clone()
    };
    assert!(c.fleet.register(&forged).await.expect("register").created);
    c.fleet.rollout("greeter", "2.0.1", &[100], false).await.expect("rollout the forged record");
    eventually("every host refuses the forged release", async || {
        for h in &hosts {
            let report = h.report();
            let refused = report.as_ref().is_some_and(|r| {
                r.state == HostState::Refused && r.reason.as_deref().is_some_and(|s| s.contains("not the recorded"))
            });
            if !refused {
                return Err(format!("{}: {report:?}", h.id));
            }
        }
        Ok(())
    })
    .await;
    for h in &hosts {
        assert_eq!(h.serving(), "1", "{} keeps v1", h.id);
        let stored: Vec<_> = std::fs::read_dir(&h.store).expect("store").flatten().map(|e| e.file_name()).collect();
        assert!(!stored.iter().any(|n| n.to_string_lossy().contains(&forged.blake3)), "{}: nothing stored", h.id);
    }
}

/// Two operators starting different rollouts at once: exactly one wins, the other is told
/// (a conflict or a rollout already in flight) and nothing of it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_never_overwrite_each_other() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    let v2 = c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2").record;
    let bad = c.fleet.publish(&c.bundle("fx-greeter-init-error")).await.expect("publish v3").record;
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    let other =
        hotpack_fleet::Fleet::connect(c.config.clone()).await.expect("a second operator").with_key(c.key.clone());
    let (a, b) = tokio::join!(
        c.fleet.rollout("greeter", "2.0.0", &[50, 100], false),
        other.rollout("greeter", "3.0.0", &[50, 100], false)
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one rollout wins: {a:?} / {b:?}");
    let loser = a.as_ref().err().or(b.as_ref().err()).expect("one failed");
    assert!(
        matches!(loser, hotpack_fleet::FleetError::Conflict { .. } | hotpack_fleet::FleetError::Rollout { .. }),
        "{loser}"
    );
    let (rollout, _) = c.fleet.rollout_of("greeter").await.expect("read").expect("rollout");
    let winner = if a.is_ok() { &v2.blake3 } else { &bad.blake3 };
    assert_eq!(rollout.canary.as_ref(), Some(winner));
}

/// A dependent whose provider the fleet does not run is refused at rollout, naming the
/// interface it needs; once the provider is rolled out the same rollout is accepted, and a
/// provider whose interface changed (textutil v3) does not satisfy it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_without_its_provider_is_refused_at_rollout() {
    let c = cluster().await;
    let svc = c.fleet.publish(&c.bundle("svc-a")).await.expect("publish svc-a").record;
    assert_eq!(svc.requires.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["TextUtil"], "{svc:?}");

    let refused = c.fleet.rollout("svc-a", "1.0.0", &[100], false).await.expect_err("no provider");
    let text = refused.to_string();
    assert!(text.contains("TextUtil") && text.contains("no module of the fleet provides it"), "{text}");
    assert!(c.fleet.rollout_of("svc-a").await.expect("read").is_none(), "nothing written");

    // A provider whose interface changed (another id) does not satisfy it, and is named.
    c.fleet.publish(&c.bundle("textutil-v3")).await.expect("publish textutil v3");
    c.fleet.rollout("textutil", "3.0.0", &[100], false).await.expect("textutil v3 stable");
    let text = c.fleet.rollout("svc-a", "1.0.0", &[100], false).await.expect_err("wrong id").to_string();
    assert!(text.contains("textutil provide(s) it with another id"), "{text}");

    c.fleet.publish(&c.bundle("textutil-v1")).await.expect("publish textutil v1");
    c.fleet.rollout("textutil", "1.0.0", &[100], false).await.expect("textutil v1 canary");
    c.fleet.rollout("svc-a", "1.0.0", &[100], false).await.expect("svc-a, its provider rolling out");
}

/// A dependent's version range on its provider is checked at rollout too: with only
/// textutil 1.0.0 in the fleet, `svc-ranged` (`>=2, <3`) is refused naming the range and the
/// version the fleet runs; with textutil 2.0.0 it is accepted. Its release record keeps the
/// range and is stored as format 3; a record without a range stays format 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_whose_provider_runs_outside_its_range_is_refused_at_rollout() {
    let c = cluster().await;
    let svc = c.fleet.publish(&c.bundle("fx-svc-ranged")).await.expect("publish svc-ranged").record;
    assert_eq!(svc.requires.iter().map(|i| i.range.as_deref()).collect::<Vec<_>>(), [Some(">=2, <3")], "{svc:?}");
    let v1 = c.fleet.publish(&c.bundle("textutil-v1")).await.expect("publish textutil v1").record;
    assert!(v1.requires.is_empty() && v1.provides.iter().all(|i| i.range.is_none()), "{v1:?}");
    c.fleet.rollout("textutil", "1.0.0", &[100], false).await.expect("textutil v1 stable");
    let text = c.fleet.rollout("svc-ranged", "1.0.0", &[100], false).await.expect_err("outside").to_string();
    assert!(text.contains("versions >=2, <3") && text.contains("only outside that range (textutil 1.0.0)"), "{text}");
    assert!(c.fleet.rollout_of("svc-ranged").await.expect("read").is_none(), "nothing written");

    c.fleet.publish(&c.bundle("textutil-v2")).await.expect("publish textutil v2");
    c.fleet.rollout("textutil", "2.0.0", &[100], false).await.expect("textutil v2 canary");
    c.fleet.rollout("svc-ranged", "1.0.0", &[100], false).await.expect("svc-ranged, a provider in its range");

    // The stored envelopes: format 3 for the record with a range, 2 for the others.
    let mut etcd = etcd_client::Client::connect([c.etcd.endpoint()], None).await.expect("raw etcd");
    for (module, blake3, format) in [("svc-ranged", &svc.blake3, 3), ("textutil", &v1.blake3, 2)] {
        let key = format!("/hotpack/test/releases/{module}/{blake3}");
        let raw = etcd.get(key.as_str(), None).await.expect("get").kvs()[0].value().to_vec();
        let envelope: hotpack_fleet::Signed = serde_json::from_slice(&raw).expect("an envelope");
        assert_eq!(envelope.format, format, "{module}");
    }
}
