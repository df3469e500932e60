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
        post(self.addr, "/greeter/version")
    }
}

/// POSTs an empty body to `path`: the body of a 200, else the status line.
fn post(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return "no connection".into() };
    let request = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    if stream.write_all(request.as_bytes()).is_err() || stream.read_to_string(&mut response).is_err() {
        return "no answer".into();
    }
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => body.to_owned(),
        _ => response.lines().next().unwrap_or_default().to_owned(),
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

/// Posts to `paths` on every host in a loop (a thread) until dropped.
struct Traffic {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(hosts: &[Host], paths: &'static [&'static str]) -> Traffic {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let addrs: Vec<std::net::SocketAddr> = hosts.iter().map(|h| h.addr).collect();
        let s = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                for addr in &addrs {
                    for path in paths {
                        post(*addr, path);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        Traffic { stop, thread: Some(thread) }
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A first-wave percentage holding the first host of `ids` (by bucket) and not the others.
fn first_wave(ids: &[String], module: &str) -> u8 {
    let mut buckets: Vec<u8> = ids.iter().map(|id| hotpack_fleet::bucket(id, module)).collect();
    buckets.sort();
    assert!(buckets[0] < buckets[1], "hosts' buckets must differ: {buckets:?}");
    buckets[0] + 1
}

/// `hotpack fleet status --json`, parsed.
fn status(etcd: &LocalEtcd, registry: &LocalRegistry) -> serde_json::Value {
    serde_json::from_str(&ok(fleet(etcd, registry, &["status", "--json"]))).expect("status --json is JSON")
}

/// Polls `status --json` until `check` passes (a liveness bound, not a timing assert: 60 s).
fn status_until(
    etcd: &LocalEtcd,
    registry: &LocalRegistry,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let status = status(etcd, registry);
        if check(&status) {
            return status;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "{what}: {status:#}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `hotpack fleet rollout ... --auto --bake` with every threshold flag, against three real
/// `serve --fleet` processes under HTTP traffic: it promotes both waves by itself and exits
/// 0, and `status --json` shows the settings the flags gave, each wave's verdict, the numbers
/// compared (canary and baseline calls counted by the hosts' serve call paths) and why.
#[test]
fn rollout_auto_bake_promotes_each_wave_and_status_json_shows_why() {
    let etcd = LocalEtcd::start().expect("etcd must start (apt-get install etcd-server)");
    let registry = LocalRegistry::start().expect("the registry must start (apt-get install docker-registry)");
    let dir = hotpack_testkit::scratch();
    let (v1, v2) = (bundle(dir.path(), "greeter-v1"), bundle(dir.path(), "greeter-v2"));
    ok(fleet(&etcd, &registry, &["publish", &v1]));
    ok(fleet(&etcd, &registry, &["publish", &v2]));
    let ids: Vec<String> = (0..3).map(|i| format!("host-{i}")).collect();
    let hosts: Vec<Host> = ids.iter().map(|id| Host::start(&etcd, &registry, dir.path(), id)).collect();
    ok(fleet(&etcd, &registry, &["rollout", "greeter", "1.0.0"]));
    all_answer(&hosts, "1");
    let _traffic = Traffic::start(&hosts, &["/greeter/version"]);

    let first = first_wave(&ids, "greeter");
    let waves = format!("{first},100");
    let out = ok(fleet(
        &etcd,
        &registry,
        &[
            "rollout",
            "greeter",
            "2.0.0",
            "--waves",
            &waves,
            "--auto",
            "--bake",
            "1500ms",
            "--min-calls",
            "25",
            "--max-error-increase",
            "0.5",
            "--max-p99-ratio",
            "400",
            "--p99-slack",
            "50ms",
        ],
    ));
    assert!(out.contains("completed") && out.contains("is stable"), "{out}");
    all_answer(&hosts, "2");

    let status = status(&etcd, &registry);
    let rollout = &status["rollouts"][0];
    assert_eq!(rollout["stable"]["version"], "2.0.0", "{rollout:#}");
    let analysis = &rollout["analysis"];
    assert_eq!(
        analysis["config"],
        serde_json::json!({
            "bake_ms": 1500, "min_calls": 25, "max_error_increase_bp": 50, "max_p99_ratio_pct": 400,
            "p99_slack_us": 50_000,
        }),
        "{analysis:#}"
    );
    let waves = analysis["waves"].as_array().expect("waves");
    let judged: Vec<(u64, u64, &str)> = waves
        .iter()
        .map(|w| {
            (w["wave"].as_u64().unwrap_or(99), w["percent"].as_u64().unwrap_or(0), w["verdict"].as_str().unwrap_or(""))
        })
        .collect();
    assert_eq!(judged, [(0, u64::from(first), "passed"), (1, 100, "passed")], "{analysis:#}");
    for w in waves {
        let (canary, baseline) = (&w["canary"], &w["baseline"]);
        assert!(canary["calls"].as_u64().is_some_and(|n| n >= 25), "{w:#}");
        assert!(baseline["calls"].as_u64().is_some_and(|n| n >= 25), "{w:#}");
        assert_eq!((canary["errors"].as_u64(), canary["worker_deaths"].as_u64()), (Some(0), Some(0)), "{w:#}");
        let reason = w["reason"].as_str().unwrap_or_default();
        assert!(reason.starts_with("canary ") && reason.contains(" vs baseline "), "{reason}");
    }
    assert!(analysis["restarts"].as_array().is_some_and(Vec::is_empty), "{analysis:#}");
}

/// `--auto --bake` with a canary whose worker process crashes (fx-greeter-crashes: its `abort`
/// handler aborts the worker) under HTTP traffic to real `serve --fleet` processes, which run
/// modules in workers: the crash demotes the canary on the first wave's host at once, and the
/// watcher rolls the fleet back before the bake ends; `rollout` exits non-zero saying so, and
/// `status --json` has the reason in the rollout record and in the wave's analysis.
#[test]
fn rollout_auto_bake_rolls_a_crashing_canary_back() {
    let etcd = LocalEtcd::start().expect("etcd must start (apt-get install etcd-server)");
    let registry = LocalRegistry::start().expect("the registry must start (apt-get install docker-registry)");
    let dir = hotpack_testkit::scratch();
    let (v1, bad) = (bundle(dir.path(), "greeter-v1"), bundle(dir.path(), "fx-greeter-crashes"));
    ok(fleet(&etcd, &registry, &["publish", &v1]));
    ok(fleet(&etcd, &registry, &["publish", &bad]));
    let ids: Vec<String> = (0..3).map(|i| format!("host-{i}")).collect();
    let hosts: Vec<Host> = ids.iter().map(|id| Host::start(&etcd, &registry, dir.path(), id)).collect();
    ok(fleet(&etcd, &registry, &["rollout", "greeter", "1.0.0"]));
    all_answer(&hosts, "1");
    // v1 has no `abort` (404, not counted); the canary's takes its worker down.
    let _traffic = Traffic::start(&hosts, &["/greeter/version", "/greeter/abort"]);

    let first = first_wave(&ids, "greeter");
    let waves = format!("{first},100");
    let out = fleet(
        &etcd,
        &registry,
        &["rollout", "greeter", "3.1.0", "--waves", &waves, "--auto", "--bake", "1h", "--min-calls", "10"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a rollback exits non-zero: {stdout}");
    let crashed =
        &ids[ids.iter().position(|id| hotpack_fleet::in_wave(id, "greeter", first)).expect("a first-wave host")];
    assert!(stdout.contains(&format!("rolled back ({crashed}: auto: host {crashed} reported Demoted")), "{stdout}");
    all_answer(&hosts, "1");

    let status = status(&etcd, &registry);
    let rollout = &status["rollouts"][0];
    let reason = rollout["rollout"]["rolled_back"]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("3.1.0") && reason.contains("demoted on this host"), "{rollout:#}");
    assert!(reason.contains("crashed") && reason.contains("SIGABRT"), "the reason says the worker crashed: {reason}");
    assert_eq!(rollout["stable"]["version"], "1.0.0");
    assert!(rollout["rollout"]["canary"].is_null(), "{rollout:#}");
    let last = rollout["analysis"]["waves"].as_array().and_then(|w| w.last()).cloned().expect("a wave analysis");
    assert_eq!((last["wave"].as_u64(), last["verdict"].as_str()), (Some(0), Some("failed")), "{last:#}");
    assert_eq!(last["reason"].as_str(), Some(reason.as_str()), "{last:#}");
    assert_eq!(rollout["analysis"]["config"]["min_calls"], 10);
    assert_eq!(rollout["analysis"]["config"]["bake_ms"], 3_600_000);
}

/// `serve --fleet` counts every call that reaches a module into the fleet's call meter: after
/// 20 answered calls, 5 that returned an error and 2 that panicked (under the panic budget),
/// the host's report in etcd (`status --json`) counts exactly those, for the library it serves.
#[test]
fn serve_fleet_reports_its_calls_and_errors_in_status() {
    let etcd = LocalEtcd::start().expect("etcd must start (apt-get install etcd-server)");
    let registry = LocalRegistry::start().expect("the registry must start (apt-get install docker-registry)");
    let dir = hotpack_testkit::scratch();
    ok(fleet(&etcd, &registry, &["publish", &bundle(dir.path(), "fx-panicky")]));
    let host = Host::start(&etcd, &registry, dir.path(), "meter-host");
    ok(fleet(&etcd, &registry, &["rollout", "panicky", "0.1.0"]));
    let start = std::time::Instant::now();
    while !post(host.addr, "/panicky/ok").is_empty() {
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "{}", post(host.addr, "/panicky/ok"));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The call that answered above counts too.
    for _ in 0..19 {
        assert_eq!(post(host.addr, "/panicky/ok"), "");
    }
    for _ in 0..5 {
        assert!(!post(host.addr, "/panicky/fail").is_empty());
    }
    for _ in 0..2 {
        assert!(!post(host.addr, "/panicky/boom").is_empty());
    }
    assert_eq!(post(host.addr, "/panicky/nope").split_whitespace().nth(1), Some("404"), "not counted");
    let status = status_until(&etcd, &registry, "the host reports 27 calls", |s| {
        s["hosts"].as_array().is_some_and(|h| h.iter().any(|r| r["stats"]["calls"] == 27))
    });
    let report = status["hosts"].as_array().and_then(|h| h.iter().find(|r| r["host"] == "meter-host")).expect("report");
    assert_eq!(report["module"], "panicky");
    assert_eq!(report["state"], "ok", "{report:#}");
    let stats = &report["stats"];
    assert_eq!(
        (&stats["calls"], &stats["errors"], &stats["panics"], &stats["worker_deaths"]),
        (&serde_json::json!(27), &serde_json::json!(7), &serde_json::json!(2), &serde_json::json!(0)),
        "{report:#}"
    );
    assert_eq!(stats["library"], report["active"]["library"], "{report:#}");
    let latency: u64 =
        stats["latency"].as_array().expect("a histogram").iter().filter_map(serde_json::Value::as_u64).sum();
    assert_eq!(latency, 27, "{report:#}");
}
