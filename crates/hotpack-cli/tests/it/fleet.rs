//! `hotpack fleet`: the operator's commands against a real etcd and a real registry (started
//! by hotpack-fleet's `servers`; the test fails when they cannot start).

use std::path::Path;
use std::process::{Command, Output};

use hotpack_fleet::servers::{LocalEtcd, LocalRegistry};

fn fleet(etcd: &LocalEtcd, registry: &LocalRegistry, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .arg("fleet")
        .args(args)
        .env("HOTPACK_FLEET", "cli")
        .env("HOTPACK_ETCD", etcd.endpoint())
        .env("HOTPACK_REGISTRY", registry.url())
        .output()
        .expect("run hotpack")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn bundle(dir: &Path, package: &str) -> String {
    let out = dir.join(format!("{package}.zip"));
    let loader = hotpack::loader::Loader::new(dir.join("pack-cache")).expect("loader");
    hotpack::pack_library_with(&loader, &hotpack_testkit::module(package), &out, vec![]).expect("pack");
    out.display().to_string()
}

#[test]
fn publish_rollout_promote_rollback_and_status() {
    let etcd = LocalEtcd::start().expect("etcd must start (apt-get install etcd-server)");
    let registry = LocalRegistry::start().expect("the registry must start (apt-get install docker-registry)");
    let dir = hotpack_testkit::scratch();
    let (v1, v2) = (bundle(dir.path(), "greeter-v1"), bundle(dir.path(), "greeter-v2"));

    assert!(ok(fleet(&etcd, &registry, &["publish", &v1])).starts_with("published greeter 1.0.0"));
    assert!(ok(fleet(&etcd, &registry, &["publish", &v1])).starts_with("already published greeter 1.0.0"));
    ok(fleet(&etcd, &registry, &["publish", &v2]));
    assert!(ok(fleet(&etcd, &registry, &["rollout", "greeter", "1.0.0"])).contains("is stable (first rollout)"));
    assert!(ok(fleet(&etcd, &registry, &["rollout", "greeter", "2.0.0", "--waves", "50,100"])).contains("wave 0: 50%"));

    let again = fleet(&etcd, &registry, &["rollout", "greeter", "2.0.0"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("in flight"), "{}", String::from_utf8_lossy(&again.stderr));

    assert!(ok(fleet(&etcd, &registry, &["promote", "greeter"])).contains("wave 1 (100%)"));
    let status: serde_json::Value =
        serde_json::from_str(&ok(fleet(&etcd, &registry, &["status", "--json"]))).expect("status --json is JSON");
    assert_eq!(status["rollouts"][0]["canary"]["version"], "2.0.0");
    assert_eq!(status["rollouts"][0]["rollout"]["wave"], 1);

    assert!(ok(fleet(&etcd, &registry, &["rollback", "greeter", "--reason", "bad latency"])).contains("rolled back"));
    let text = ok(fleet(&etcd, &registry, &["status"]));
    assert!(text.contains("stable 1.0.0") && text.contains("bad latency"), "{text}");
}
