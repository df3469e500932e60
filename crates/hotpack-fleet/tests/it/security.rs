//! Issue 24: a fleet that neither its registry nor one write to etcd can subvert. Bounded
//! pulls against a hostile registry, signed intent, replay refused across restarts, and the
//! watch-compaction re-read.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hotpack_fleet::{Fleet, FleetError, HostConfig, HostState, WatchFault};

use crate::hostile::{self, Hostile, Mode};
use crate::support::{all_serve, cluster, eventually};

/// A host without operator keys (and without --allow-unsigned) refuses to join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_keys_refuses_to_join() {
    let c = cluster().await;
    let runtime = hotpack::Runtime::builder().cache_dir(c.dir.path().join("nokey-cache")).build().expect("runtime");
    let config = HostConfig::new(c.config.clone(), "nokey", c.dir.path().join("nokey-store"));
    let refused = hotpack_fleet::HostAgent::spawn(config.clone(), Arc::new(runtime.clone()));
    let err = refused.expect_err("no keys, no join");
    assert!(matches!(err, FleetError::NoOperatorKey { .. }), "{err}");
    assert!(err.to_string().contains("--allow-unsigned"), "{err}");
    // Saying so explicitly is allowed.
    let agent = hotpack_fleet::HostAgent::spawn(config.allow_unsigned(true), Arc::new(runtime)).expect("allowed");
    agent.stop().await;
}

/// Records written to etcd without the operator's key move no host: an unsigned rollout, and a
/// signed one replayed from the past (also after the host restarts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_or_replayed_rollout_records_move_no_host() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2");
    let mut hosts = c.hosts(2);
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(&hosts, "1").await;
    let mut etcd = etcd_client::Client::connect([c.etcd.endpoint()], None).await.expect("raw etcd");
    let key = "/hotpack/test/rollouts/greeter";
    let v1_record = etcd.get(key, None).await.expect("get").kvs()[0].value().to_vec();

    // Someone who can write to etcd but holds no key: an unsigned rollout of v2 to everyone.
    let intruder = Fleet::connect(c.config.clone()).await.expect("intruder");
    intruder.rollout("greeter", "2.0.0", &[100], false).await.expect("etcd takes the write");
    eventually("every host refuses the unsigned record", async || {
        for h in &hosts {
            let r = h.report();
            let refused = r.as_ref().is_some_and(|r| {
                r.state == HostState::Refused && r.reason.as_deref().is_some_and(|s| s.contains("not signed"))
            });
            if !refused {
                return Err(format!("{}: {r:?}", h.id));
            }
        }
        Ok(())
    })
    .await;
    for h in &hosts {
        assert_eq!(h.serving(), "1", "{} keeps v1", h.id);
    }

    // The operator takes it over (its own write, signed, builds on the highest sequence).
    etcd.put(key, v1_record.clone(), None).await.expect("restore");
    c.fleet.rollout("greeter", "2.0.0", &[100], false).await.expect("signed rollout of v2");
    all_serve(&hosts, "2").await;

    // Replaying the old, validly signed v1 record: refused, by running hosts and restarted ones.
    etcd.put(key, v1_record.clone(), None).await.expect("replay");
    eventually("every host refuses the replay", async || {
        for h in &hosts {
            let r = h.report();
            let refused = r.as_ref().is_some_and(|r| {
                r.state == HostState::Refused && r.reason.as_deref().is_some_and(|s| s.contains("replayed"))
            });
            if !refused {
                return Err(format!("{}: {r:?}", h.id));
            }
        }
        Ok(())
    })
    .await;
    let first = hosts.remove(0);
    first.agent.expect("agent").stop().await;
    let restarted = c.host(&first.id);
    eventually("the restarted host refuses the replay too", async || {
        let r = restarted.report();
        match &r {
            Some(r) if r.state == HostState::Refused && r.reason.as_deref().is_some_and(|s| s.contains("replayed")) => {
                Ok(())
            }
            _ => Err(format!("{r:?}")),
        }
    })
    .await;
    assert_ne!(restarted.serving(), "1", "the replayed v1 record moved nothing");
    assert_eq!(hosts[0].serving(), "2");
}

/// A record past its expiry: hosts keep what they serve and report `expired`; a renewed
/// record brings them back to `ok`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_record_is_reported_and_renewal_clears_it() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    let hosts = c.hosts(1);
    let short = c.fleet.clone().with_validity(Duration::from_secs(1));
    short.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable, valid 1 s");
    eventually("the host reports the record expired", async || {
        let r = hosts[0].report();
        if r.as_ref().is_some_and(|r| r.state == HostState::Expired) { Ok(()) } else { Err(format!("{r:?}")) }
    })
    .await;
    c.fleet.renew("greeter").await.expect("renew");
    all_serve(&hosts, "1").await;
}

async fn hostile_case(mode: Mode, max_bundle: u64, deadline: Duration, want: &str) -> (u64, u64) {
    let c = cluster().await;
    let v1 = c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1").record;
    c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2");
    let hostile = Hostile::start(mode);
    let store = c.dir.path().join("victim").join("store");
    std::fs::create_dir_all(&store).expect("store");
    // v1 is in the host's store already (the hostile registry never serves it).
    std::fs::copy(c.bundle("greeter-v1"), store.join(format!("{}.zip", v1.blake3))).expect("seed v1");
    let before = hostile::vm("VmHWM");
    let host = c.host_with("victim", |mut h| {
        h.fleet.registry = hostile.url();
        h.max_bundle = max_bundle;
        h.pull_deadline = deadline;
        h
    });
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(std::slice::from_ref(&host), "1").await;
    c.fleet.rollout("greeter", "2.0.0", &[100], false).await.expect("rollout v2 from the hostile registry");
    let mut saw_fetching = 0u64;
    eventually(&format!("the host reports {want}"), async || {
        let r = host.report();
        if let Some(p) = r.as_ref().and_then(|r| r.progress) {
            saw_fetching = saw_fetching.max(p.bytes.max(1));
        }
        if r.as_ref().is_some_and(|r| r.reason.as_deref().is_some_and(|s| s.contains(want))) {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    assert_eq!(host.serving(), "1", "the host keeps serving v1");
    let after = hostile::vm("VmHWM");
    // Generous: the old pull grew without bound (9-12 GB) or aborted on a 1 TiB allocation.
    assert!(after.saturating_sub(before) < 512 << 20, "peak memory grew from {before} to {after} bytes");
    let status = c.fleet.status().await.expect("status");
    let report = status.hosts_of("greeter").next().expect("the report reached etcd");
    assert!(report.reason.as_deref().is_some_and(|s| s.contains(want)), "etcd has the reason: {report:?}");
    (hostile.sent.load(Ordering::SeqCst), saw_fetching)
}

/// A registry that streams the layer without end: the host reads at most the release
/// record's size, refuses, and keeps serving with flat memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_blob_is_cut_at_the_record_size_and_refused() {
    let (sent, _) = hostile_case(Mode::Endless, 256 << 20, Duration::from_secs(60), "more than the").await;
    assert!(sent < 256 << 20, "the host stopped reading early ({sent} bytes sent)");
}

/// A manifest that declares a 1 TiB layer: refused before the layer is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_declaring_a_1_tib_layer_is_refused_before_reading() {
    let (sent, _) = hostile_case(Mode::Huge, 256 << 20, Duration::from_secs(60), "1099511627776-byte layer").await;
    assert_eq!(sent, 0, "no byte of layer was read");
}

/// A registry that dribbles bytes: the host shows `fetching` with progress, gives up at its
/// pull deadline, reports why, and keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dribbling_registry_shows_progress_and_hits_the_deadline() {
    let (_, progress) = hostile_case(Mode::Dribble, 256 << 20, Duration::from_secs(3), "pull deadline").await;
    assert!(progress > 0, "a fetching report with progress was seen");
}

/// The compaction path: a watcher that fell behind (fault hook) finds its revision compacted
/// away, re-reads everything and converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_behind_a_compaction_rereads_and_converges() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2");
    let fault = WatchFault::default();
    let host = c.host_with("behind", |mut h| {
        h.watch_fault = Some(fault.clone());
        h
    });
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    all_serve(std::slice::from_ref(&host), "1").await;
    fault.stall(true);
    tokio::time::sleep(Duration::from_millis(600)).await;
    c.fleet.rollout("greeter", "2.0.0", &[100], false).await.expect("rollout v2");
    c.fleet.renew("greeter").await.expect("another write");
    let mut etcd = etcd_client::Client::connect([c.etcd.endpoint()], None).await.expect("raw etcd");
    let revision = etcd.get("/", None).await.expect("get").header().expect("header").revision();
    etcd.compact(revision, Some(etcd_client::CompactionOptions::new().with_physical())).await.expect("compact");
    assert_eq!(host.serving(), "1", "a stalled watcher saw nothing");
    fault.stall(false);
    all_serve(std::slice::from_ref(&host), "2").await;
    assert!(fault.compactions() >= 1, "the agent took the compaction path");
}

/// Release records carry the signer: `signer` is the operator key that signed the record and
/// `bundle_signer` the key that signed the bundle inside, as `publish` returns them and as a
/// reader holding the operator key reads them back from etcd. `signer` comes from the
/// envelope's checked signature, never from the payload: a reader without keys (which checks
/// nothing) sees none, and an unsigned record claiming the operator's fingerprint shows none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_records_carry_the_signer() {
    let c = cluster().await;
    let operator = c.key.public_key().fingerprint().to_string();
    let author = hotpack::archive::SigningKey::from_seed(&[7; 32]);
    let signed_bundle = c.dir.path().join("greeter-v1-signed.zip");
    let fingerprint = hotpack::archive::sign_bundle(
        &c.bundle("greeter-v1"),
        &author,
        Some(&signed_bundle),
        &hotpack::archive::Limits::default(),
    )
    .expect("sign the bundle")
    .to_string();
    assert_ne!(fingerprint, operator);

    let published = c.fleet.publish(&signed_bundle).await.expect("publish the signed bundle").record;
    assert_eq!(published.signer.as_deref(), Some(operator.as_str()));
    assert_eq!(published.bundle_signer.as_deref(), Some(fingerprint.as_str()));
    let unsigned_bundle = c.fleet.publish(&c.bundle("greeter-v2")).await.expect("publish v2").record;
    assert_eq!(unsigned_bundle.signer.as_deref(), Some(operator.as_str()));
    assert_eq!(unsigned_bundle.bundle_signer, None, "greeter-v2's bundle is not signed");

    // Read back from etcd by the operator (who checks its own signature).
    let read = c.fleet.releases("greeter").await.expect("releases");
    let signers: Vec<_> =
        read.iter().map(|r| (r.version.as_str(), r.signer.clone(), r.bundle_signer.clone())).collect();
    assert_eq!(
        signers,
        [("1.0.0", Some(operator.clone()), Some(fingerprint.clone())), ("2.0.0", Some(operator.clone()), None)]
    );
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    let status = c.fleet.status().await.expect("status");
    let stable = status.rollouts[0].stable.as_ref().expect("the stable record");
    assert_eq!(
        (stable.signer.as_deref(), stable.bundle_signer.as_deref()),
        (Some(operator.as_str()), Some(fingerprint.as_str()))
    );
    let json = serde_json::to_value(&status).expect("json");
    assert_eq!(json["rollouts"][0]["stable"]["signer"], operator.as_str());
    assert_eq!(json["rollouts"][0]["stable"]["bundle_signer"], fingerprint.as_str());

    // In etcd: the envelope names the operator's key and carries a signature.
    let mut etcd = etcd_client::Client::connect([c.etcd.endpoint()], None).await.expect("raw etcd");
    let key = format!("/hotpack/test/releases/greeter/{}", published.blake3);
    let raw = etcd.get(key.as_str(), None).await.expect("get").kvs()[0].value().to_vec();
    let envelope: hotpack_fleet::Signed = serde_json::from_slice(&raw).expect("an envelope");
    assert_eq!(envelope.key.as_deref(), Some(c.key.public_key().to_text().trim_end()));
    assert!(envelope.signature.is_some());

    // A reader without keys checks no signature, so it reports no signer (the bundle's own
    // signer is checked by each host's runtime, so it is shown).
    let keyless = Fleet::connect(c.config.clone()).await.expect("a reader without keys");
    let read = keyless.releases("greeter").await.expect("releases");
    assert!(read.iter().all(|r| r.signer.is_none()), "{read:?}");
    assert_eq!(read[0].bundle_signer.as_deref(), Some(fingerprint.as_str()));

    // An unsigned record whose payload claims the operator as its signer: no signer shown.
    let forged = hotpack_fleet::ReleaseRecord {
        version: "9.9.9".into(),
        blake3: blake3::hash(b"forged").to_hex().to_string(),
        signer: Some(operator.clone()),
        ..published.clone()
    };
    let created = keyless.register(&forged).await.expect("etcd takes the write");
    assert!(created.created);
    assert_eq!(created.record.signer.as_deref(), Some(operator.as_str()), "register returns what it was given");
    let claimed = keyless.release("greeter", "9.9.9").await.expect("the forged record");
    assert_eq!(claimed.signer, None, "the payload's claim is not a signature");
    // The operator, who trusts only its key, does not take it for one of its own: its command
    // fails naming the bad record (FLEET.md, "What can fail": delete the key).
    let refused = c.fleet.release("greeter", "9.9.9").await.expect_err("an unsigned record");
    let text = refused.to_string();
    assert!(text.contains(&forged.blake3) && text.contains("not signed"), "{text}");
}

/// A write to etcd without the operator's key cannot hide the fleet from the operator:
/// `status` shows every other rollout and names the record it could not open (before, the
/// first such record made `status` fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_written_without_the_key_does_not_break_status() {
    let c = cluster().await;
    c.fleet.publish(&c.bundle("greeter-v1")).await.expect("publish v1");
    c.fleet.rollout("greeter", "1.0.0", &[100], false).await.expect("v1 stable");
    let mut etcd = etcd_client::Client::connect([c.etcd.endpoint()], None).await.expect("raw etcd");
    etcd.put("/hotpack/test/rollouts/intruder", b"{\"not\": \"a record\"}".to_vec(), None).await.expect("put");

    let status = c.fleet.status().await.expect("status despite the bad record");
    assert_eq!(status.rollouts.len(), 1, "{status:?}");
    assert_eq!(status.rollouts[0].module, "greeter");
    assert_eq!(status.rollouts[0].stable.as_ref().map(|r| r.version.as_str()), Some("1.0.0"));
    let keys: Vec<&str> = status.unreadable.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, ["/hotpack/test/rollouts/intruder"], "{status:?}");
    assert!(!status.unreadable[0].problem.is_empty());
}
