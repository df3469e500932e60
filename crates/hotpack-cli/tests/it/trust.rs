//! Trust before code runs: `hotpack serve --trusted-key` against unsigned, foreign-signed
//! and downgraded bundles holding a real library with an ELF constructor.

use std::path::{Path, PathBuf};

use hotpack_archive::{Hooks, Limits, ModuleMeta, PackSpec, SigningKey, sign_bundle};

use crate::serve::{Serve, call, good_bundle, plugin_folder};

/// A bundle claiming to be `name` `version`, holding the library of fixture `package`
/// (packed by hand: nothing of the library runs in the test process).
pub(crate) fn bundle_of(package: &str, name: &str, version: &str) -> Vec<u8> {
    let spec = PackSpec {
        meta: ModuleMeta {
            name: name.into(),
            version: hotpack_archive::semver::Version::parse(version).expect("semver"),
            abi_version: hotpack::abi::ABI_VERSION,
            rustc: hotpack::abi::RUSTC_VERSION.into(),
            interfaces: vec![],
            handlers: vec!["hello".into(), "greet".into()],
            hooks: Hooks::default(),
        },
        target: hotpack::abi::TARGET.into(),
        library_name: format!("lib{}.so", name.replace('-', "_")),
        library: std::fs::read(hotpack_testkit::module(package)).expect("read the fixture library"),
        resources: vec![],
    };
    hotpack_archive::pack(&spec).expect("pack")
}

/// Writes `bytes` to `path` atomically after signing them with `key` (when given), via a
/// scratch file outside the watched folder.
fn put(path: &Path, bytes: &[u8], key: Option<&SigningKey>) {
    let scratch = hotpack_testkit::scratch();
    let tmp = scratch.path().join("b.zip");
    std::fs::write(&tmp, bytes).expect("write");
    if let Some(key) = key {
        sign_bundle(&tmp, key, None, &Limits::default()).expect("sign");
    }
    hotpack_archive::write_atomic(path, &std::fs::read(&tmp).expect("read")).expect("write into the folder");
}

fn write_public(dir: &Path, key: &SigningKey) -> PathBuf {
    let path = dir.join("trusted.pub");
    std::fs::write(&path, key.public_key().to_text()).expect("write the public key");
    path
}

#[test]
fn with_a_trusted_key_unsigned_and_foreign_code_never_runs_in_serve() {
    let (scratch, dir) = plugin_folder();
    let ours = SigningKey::from_seed(&[7; 32]);
    let theirs = SigningKey::from_seed(&[9; 32]);
    let public = write_public(scratch.path(), &ours);
    let greeter = dir.join("greeter.zip");
    put(&greeter, &good_bundle("greeter-v1", 0), Some(&ours));
    let marker = scratch.path().join("constructor-ran");

    let serve = Serve::start_env(
        &dir,
        &["--trusted-key", public.to_str().expect("utf-8 path")],
        &[("HOTPACK_FX_CTOR_MARKER", marker.as_os_str())],
    );
    let addr = serve.addr;
    assert!(serve.startup.iter().any(|l| l.contains("deployed greeter 1.0.0")), "{:?}", serve.startup);
    assert!(!serve.startup.iter().any(|l| l.contains("accepting unsigned")), "{:?}", serve.startup);
    let v1 = call(addr, "POST", "/greeter/greet", b"ann");
    assert_eq!(v1.0, 200, "{}", v1.1);

    // Unsigned, foreign-signed, and a plain library: each refused with its reason, nothing run.
    let cases: [(&str, Vec<u8>, Option<&SigningKey>, &str); 3] = [
        ("greeter.zip", bundle_of("fx-ctor-marker", "greeter", "2.0.0"), None, "not signed"),
        ("greeter.zip", bundle_of("fx-ctor-marker", "greeter", "2.0.1"), Some(&theirs), "signed by an untrusted key"),
        ("ctor.so", std::fs::read(hotpack_testkit::module("fx-ctor-marker")).expect("read"), None, "cannot be signed"),
    ];
    for (file, bytes, key, why) in cases {
        if file.ends_with(".so") {
            hotpack_archive::write_atomic(&dir.join(file), &bytes).expect("write");
        } else {
            put(&dir.join(file), &bytes, key);
        }
        let outcome = serve.next_outcome();
        assert!(outcome.contains("refused") && outcome.contains(why), "{why}: {outcome}");
        assert!(!marker.exists(), "{why}: the library's constructor ran in serve");
        let (status, body) = call(addr, "POST", "/greeter/greet", b"ann");
        assert!(status == 200 && body.contains("(v1,"), "{why}: v1 keeps answering: {body}");
        let (_, body) = call(addr, "GET", "/-/modules", b"");
        let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON listing");
        let shown = listing["refused"].as_array().expect("refused").iter().any(|r| {
            r["path"].as_str().is_some_and(|p| p.ends_with(file))
                && r["reason"].as_str().is_some_and(|r| r.contains(why))
        });
        assert!(shown, "{why}: {listing}");
    }
    std::fs::remove_file(dir.join("ctor.so")).expect("remove");

    // Signed by the trusted key but for a lower version than the highest trusted one seen.
    put(&greeter, &bundle_of("greeter-v2", "greeter", "0.5.0"), Some(&ours));
    let outcome = serve.next_outcome();
    assert!(outcome.contains("refused") && outcome.contains("0.5.0"), "{outcome}");
    let (status, body) = call(addr, "POST", "/greeter/greet", b"ann");
    assert!(status == 200 && body.contains("(v1,"), "{body}");

    // The control: the same constructor, signed by the trusted key, does run (in serve).
    put(&dir.join("ctor-marker.zip"), &bundle_of("fx-ctor-marker", "ctor-marker", "0.1.0"), Some(&ours));
    let outcome = serve.next_outcome();
    assert!(outcome.contains("deployed ctor-marker"), "{outcome}");
    let pid = std::fs::read_to_string(&marker).expect("the trusted library's constructor ran");
    // In one of serve's workers (isolation, the default), never in serve itself.
    assert_ne!(pid, serve.pid().to_string());
    assert!(worker_pids(addr).contains(&pid), "{pid} is one of serve's workers");
}

/// The pids of serve's workers, from `/-/modules`.
fn worker_pids(addr: std::net::SocketAddr) -> Vec<String> {
    let (_, body) = call(addr, "GET", "/-/modules", b"");
    let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON listing");
    listing["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter_map(|w| w["pid"].as_u64())
        .map(|p| p.to_string())
        .collect()
}

/// Runs `hotpack serve DIR` expecting it to refuse to start: (exit code, stderr).
fn serve_refused(dir: &Path, cache: &Path, marker: &Path) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .arg("serve")
        .arg(dir)
        .args(["--addr", "127.0.0.1:0"])
        .env("XDG_CACHE_HOME", cache)
        .env("HOTPACK_FX_CTOR_MARKER", marker)
        .env_remove("HOTPACK_TOKEN")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn hotpack serve");
    // A server that started anyway would never exit: give it a bounded time, then kill it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("try_wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("wait");
    // The error lines only (a warning may precede them).
    let err = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect::<Vec<_>>()
        .join("\n");
    (out.status.code(), err)
}

/// The one journal directory `serve` keeps under `cache`.
fn journal_dir(cache: &Path) -> PathBuf {
    let serve = cache.join("hotpack").join("serve");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&serve).expect("serve kept a journal").flatten().map(|e| e.path()).collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().expect("one")
}

fn chown_all(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), None).expect("chown (the tests run as root)");
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("list").flatten() {
            chown_all(&entry.path(), uid);
        }
    }
}

/// A journal and `objects/<hash>.so` planted in a directory another user owns, or one
/// anyone may write to, are refused with one line, and none of their code runs; the same
/// files, private again, are restored (the control: the plant would have run).
#[test]
fn a_planted_cache_is_refused_and_none_of_its_code_runs() {
    use std::os::unix::fs::PermissionsExt;
    let (scratch, dir) = plugin_folder();
    let cache = scratch.path().join("cache");
    let marker = scratch.path().join("constructor-ran");
    // A real journal remembering the constructor library, made by a real serve (no marker
    // variable then, so its constructor writes nothing).
    hotpack_archive::write_atomic(&dir.join("ctor-marker.zip"), &bundle_of("fx-ctor-marker", "ctor-marker", "0.1.0"))
        .expect("write");
    {
        let serve = Serve::start(&dir, &[]);
        assert!(serve.startup.iter().any(|l| l.contains("deployed ctor-marker")), "{:?}", serve.startup);
    }
    std::fs::remove_file(dir.join("ctor-marker.zip")).expect("only a restore could bring it back now");
    let planted = journal_dir(&cache);
    assert!(planted.join("journal.json").is_file() && planted.join("objects").is_dir());

    // Owned by another user (nobody, 65534): the directory, the journal and the objects.
    chown_all(&planted, 65534);
    let (code, err) = serve_refused(&dir, &cache, &marker);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("owned by uid 65534") && err.contains(&planted.display().to_string()), "{err}");
    assert!(!marker.exists(), "the planted library ran");

    // Ours again, but the journal alone is foreign.
    chown_all(&planted, 0);
    std::os::unix::fs::chown(planted.join("journal.json"), Some(65534), None).expect("chown");
    let (code, err) = serve_refused(&dir, &cache, &marker);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("journal.json") && err.contains("owned by uid 65534"), "{err}");
    assert!(!marker.exists(), "the planted library ran");

    // Ours, but anyone may write to the directory.
    chown_all(&planted, 0);
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let (code, err) = serve_refused(&dir, &cache, &marker);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("writable by group or others"), "{err}");
    assert!(!marker.exists(), "the planted library ran");

    // A stored object anyone may write to is not loaded either (the restore reports it).
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let objects: Vec<PathBuf> =
        std::fs::read_dir(planted.join("objects")).expect("objects").flatten().map(|e| e.path()).collect();
    for o in &objects {
        std::fs::set_permissions(o, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    }
    {
        let serve = Serve::start_env(&dir, &[], &[("HOTPACK_FX_CTOR_MARKER", marker.as_os_str())]);
        assert!(
            serve.startup.iter().any(|l| l.contains("could not restore") && l.contains("writable by group or others")),
            "{:?}",
            serve.startup
        );
        assert!(!marker.exists(), "the planted library ran");
    }

    // The control: private again, the same journal restores the library, and it runs.
    for o in &objects {
        std::fs::set_permissions(o, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let serve = Serve::start_env(&dir, &[], &[("HOTPACK_FX_CTOR_MARKER", marker.as_os_str())]);
    let (status, body) = crate::serve::call(serve.addr, "POST", "/ctor-marker/hello", b"");
    assert_eq!((status, body.as_str()), (200, "constructed"));
    let pid = std::fs::read_to_string(&marker).expect("restored and ran");
    assert!(worker_pids(serve.addr).contains(&pid), "{pid} is one of serve's workers");
}

/// The cache directory itself (`$XDG_CACHE_HOME/hotpack`) is refused when anyone may write
/// to it; a fresh one is created private (0700).
#[test]
fn the_cache_directory_is_created_private_and_refused_when_shared() {
    use std::os::unix::fs::PermissionsExt;
    let (scratch, dir) = plugin_folder();
    let cache = scratch.path().join("cache");
    {
        let _serve = Serve::start(&dir, &[]);
    }
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&cache.join("hotpack")), 0o700);
    assert_eq!(mode(&journal_dir(&cache)), 0o700);
    assert_eq!(mode(&journal_dir(&cache).join("journal.json")), 0o600);
    std::fs::set_permissions(cache.join("hotpack"), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let (code, err) = serve_refused(&dir, &cache, &scratch.path().join("unused"));
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("hotpack") && err.contains("writable by group or others"), "{err}");
}

/// After a real restart every retained good version is back for rollback, in the order it
/// ran; stale temporary files of a killed writer are swept at start.
#[test]
fn after_a_restart_rollback_returns_to_the_version_before() {
    let (scratch, dir) = plugin_folder();
    let cache = scratch.path().join("cache");
    {
        let serve = Serve::start(&dir, &[]);
        hotpack_archive::write_atomic(&dir.join("greeter.zip"), &good_bundle("greeter-v2", 1)).expect("write v2");
        assert!(serve.next_outcome().contains("deployed greeter 2.0.0"));
    }
    let journal = journal_dir(&cache);
    let stale = [journal.join(".hotpack-journal-AbC123.tmp"), journal.join(".journal.json.hotpack-tmp-99-1")];
    for s in &stale {
        std::fs::write(s, b"half a journal").expect("plant a stale temp");
    }
    let serve = Serve::start(&dir, &[]);
    for s in &stale {
        assert!(!s.exists(), "{} was not swept", s.display());
    }
    let (status, body) = call(serve.addr, "POST", "/greeter/greet", b"ann");
    assert!(status == 200 && body.contains("v2"), "{body}");
    let (status, body) = call(serve.addr, "POST", "/-/rollback/greeter", b"");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("1.0.0"), "{body}");
    let (_, body) = call(serve.addr, "POST", "/greeter/greet", b"ann");
    assert!(body.contains("(v1,"), "{body}");
}

/// A journal that cannot be written (a directory where its file goes; the object store still
/// works) is reported: a log line naming the cause, `/-/healthz` 503 and `/-/modules` "not
/// durable"; the promotion stands (the default policy); the next successful write makes the
/// host durable again. (A store that fails refuses the deploy instead: `doors.rs`.)
#[test]
fn a_journal_write_that_fails_is_reported_and_the_promotion_stands() {
    let (scratch, dir) = plugin_folder();
    let cache = scratch.path().join("cache");
    let serve = Serve::start(&dir, &[]);
    let journal = journal_dir(&cache).join("journal.json");
    let aside = scratch.path().join("journal-aside");
    std::fs::rename(&journal, &aside).expect("move the journal away");
    std::fs::create_dir(&journal).expect("a directory where the journal goes");

    hotpack_archive::write_atomic(&dir.join("greeter.zip"), &good_bundle("greeter-v2", 1)).expect("write v2");
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !lines.iter().any(|l: &String| l.contains("not durable")) {
        assert!(std::time::Instant::now() < deadline, "no journal failure was logged: {lines:?}");
        if let Ok(l) = serve.log.recv_timeout(std::time::Duration::from_millis(200)) {
            lines.push(l);
        }
    }
    let logged = lines.iter().find(|l| l.contains("not durable")).expect("a line");
    assert!(logged.contains("journal") && logged.contains(&journal.display().to_string()), "{logged}");
    assert!(logged.contains("not a regular file"), "the cause is named: {logged}");
    let (_, body) = call(serve.addr, "POST", "/greeter/greet", b"ann");
    assert!(body.contains("v2"), "the promotion stands: {body}");
    let (status, body) = call(serve.addr, "GET", "/-/healthz", b"");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not durable"), "{body}");
    let (_, body) = call(serve.addr, "GET", "/-/modules", b"");
    let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(listing["journal"]["durable"], false, "{listing}");
    assert!(listing["journal"]["problem"].as_str().is_some_and(|p| p.contains("not a regular file")), "{listing}");

    // The journal back: the next change is recorded and the host is durable again.
    std::fs::remove_dir(&journal).expect("remove the directory");
    std::fs::rename(&aside, &journal).expect("put the journal back");
    assert_eq!(call(serve.addr, "POST", "/-/rollback/greeter", b"").0, 200);
    let (status, body) = call(serve.addr, "GET", "/-/healthz", b"");
    assert_eq!(status, 200, "{body}");
    let (_, body) = call(serve.addr, "GET", "/-/modules", b"");
    let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(listing["journal"]["durable"], true, "{listing}");
}
