//! `hotpack fleet`: the operator's commands against a real etcd and a real registry (started
//! by the test kit's `servers`; the test fails when they cannot start).

use std::path::Path;
use std::process::{Command, Output};

use hotpack_testkit::servers::{LocalEtcd, LocalRegistry};

/// The operator's key pair in `dir`: (`op.key`, `op.key.pub`).
fn operator_key(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let secret = dir.join("op.key");
    // Tests run in parallel: whoever writes first wins, the others find it written.
    match hotpack::archive::SigningKey::from_seed(&[9; 32]).write_new(&secret) {
        Ok(_) | Err(hotpack::archive::KeyError::Exists { .. }) => {}
        Err(e) => panic!("write the operator key: {e}"),
    }
    while !dir.join("op.key.pub").exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    (secret, dir.join("op.key.pub"))
}

fn fleet(etcd: &LocalEtcd, registry: &LocalRegistry, args: &[&str]) -> Output {
    let keys = std::env::temp_dir().join(format!("hotpack-fleet-cli-key-{}", std::process::id()));
    std::fs::create_dir_all(&keys).expect("key dir");
    Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .arg("fleet")
        .args(args)
        .env("HOTPACK_FLEET_KEY", operator_key(&keys).0)
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

/// `serve --fleet` without a key refuses to start and says how to proceed.
#[test]
fn serve_fleet_without_keys_refuses_to_start() {
    let dir = hotpack_testkit::scratch();
    let out = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .arg("serve")
        .arg(dir.path())
        .args(["--addr", "127.0.0.1:0", "--fleet", "cli", "--host-id", "h", "--registry", "http://127.0.0.1:9"])
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env_remove("HOTPACK_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run hotpack serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--trusted-key") && stderr.contains("--allow-unsigned"), "{stderr}");
}

/// A `hotpack serve DIR --fleet ... --host-id ...` process, killed when dropped.
struct Host {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Host {
    fn start(etcd: &LocalEtcd, registry: &LocalRegistry, root: &Path, id: &str) -> Host {
        use std::io::BufRead;
        let dir = root.join(id);
        std::fs::create_dir_all(dir.join("plugins")).expect("plugin folder");
        let keys = std::env::temp_dir().join(format!("hotpack-fleet-cli-key-{}", std::process::id()));
        std::fs::create_dir_all(&keys).expect("key dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_hotpack"))
            .arg("serve")
            .arg(dir.join("plugins"))
            .args(["--addr", "127.0.0.1:0", "--fleet", "cli", "--host-id", id])
            .arg("--operator-key")
            .arg(operator_key(&keys).1)
            .env("HOTPACK_ETCD", etcd.endpoint())
            .env("HOTPACK_REGISTRY", registry.url())
            .env("XDG_CACHE_HOME", dir.join("cache"))
            .env_remove("HOTPACK_TOKEN")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn hotpack serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut host = Host { child, addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)) };
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.expect("read serve's stdout");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                host.addr = rest.trim().parse().expect("an address after 'listening on'");
                return host;
            }
        }
        panic!("hotpack serve --fleet exited before listening");
    }

    /// What `greeter`'s `version` handler answers over HTTP ("1", "2", or the status).
    fn version(&self) -> String {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(self.addr) else { return "no connection".into() };
        let request = format!(
            "POST /greeter/version HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.addr
        );
        let mut response = String::new();
        if stream.write_all(request.as_bytes()).is_err() || stream.read_to_string(&mut response).is_err() {
            return "no answer".into();
        }
        match response.split_once("\r\n\r\n") {
            Some((head, body)) if head.starts_with("HTTP/1.1 200") => body.to_owned(),
            _ => response.lines().next().unwrap_or_default().to_owned(),
        }
    }
}

fn all_answer(hosts: &[Host], version: &str) {
    let start = std::time::Instant::now();
    loop {
        let answers: Vec<String> = hosts.iter().map(Host::version).collect();
        if answers.iter().all(|a| a == version) {
            return;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "hosts answer {answers:?}, not {version}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Five real `hotpack serve --fleet` processes follow `hotpack fleet` commands: the first
/// rollout, a rollout to v2, and a rollback — answering over HTTP all along; a killed host's
/// report disappears with its lease.
#[test]
fn five_serve_processes_follow_rollout_and_rollback() {
    let etcd = LocalEtcd::start().expect("etcd must start (apt-get install etcd-server)");
    let registry = LocalRegistry::start().expect("the registry must start (apt-get install docker-registry)");
    let dir = hotpack_testkit::scratch();
    let (v1, v2) = (bundle(dir.path(), "greeter-v1"), bundle(dir.path(), "greeter-v2"));
    ok(fleet(&etcd, &registry, &["publish", &v1]));
    ok(fleet(&etcd, &registry, &["publish", &v2]));
    let mut hosts: Vec<Host> =
        (0..5).map(|i| Host::start(&etcd, &registry, dir.path(), &format!("host-{i}"))).collect();

    ok(fleet(&etcd, &registry, &["rollout", "greeter", "1.0.0"]));
    all_answer(&hosts, "1");
    ok(fleet(&etcd, &registry, &["rollout", "greeter", "2.0.0", "--waves", "100"]));
    all_answer(&hosts, "2");
    ok(fleet(&etcd, &registry, &["rollback", "greeter"]));
    all_answer(&hosts, "1");

    // The reports reach etcd just after the swap: look until every host's is there.
    let start = std::time::Instant::now();
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&ok(fleet(&etcd, &registry, &["status", "--json"]))).expect("status --json is JSON");
        let reports = status["hosts"].as_array().expect("host reports");
        if reports.len() == 5 && reports.iter().all(|r| r["active"]["version"] == "1.0.0" && r["state"] == "ok") {
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "{status}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // A host killed with SIGKILL revokes nothing: its reports go when its lease expires.
    drop(hosts.pop());
    let start = std::time::Instant::now();
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&ok(fleet(&etcd, &registry, &["status", "--json"]))).expect("status --json is JSON");
        let reports = status["hosts"].as_array().expect("host reports");
        if reports.len() == 4 && !reports.iter().any(|r| r["host"] == "host-4") {
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "the killed host's report stays: {status}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    all_answer(&hosts, "1");
}
