//! Every file name: bundles whose names are not UTF-8, hold newlines or control characters,
//! or are 255 bytes long, dropped into a served folder: deployed (or refused with a reason),
//! rolled back, restored after `kill -9`, never a panic.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::serve::{Serve, call, good_bundle};

/// The names tried: not UTF-8, a newline and terminal escapes, and a 255-byte name.
fn odd_names() -> Vec<Vec<u8>> {
    let long = format!("{}.zip", "n".repeat(251));
    assert_eq!(long.len(), 255);
    vec![b"gr\xffeeter.zip".to_vec(), b"a\nb\r\x1b[31m\x07.zip".to_vec(), long.into_bytes()]
}

fn put(path: &Path, bytes: &[u8]) {
    hotpack_archive::write_atomic(path, bytes).expect("write the bundle into the folder");
}

fn greet(serve: &Serve) -> String {
    let (status, body) = call(serve.addr, "POST", "/greeter/greet", b"ann");
    assert_eq!(status, 200, "{body}");
    body
}

/// Kills the server the hard way (no destructor, no flush: what a crash leaves).
fn kill_9(serve: Serve) {
    let status = std::process::Command::new("kill").arg("-9").arg(serve.pid().to_string()).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -9");
    drop(serve);
}

#[test]
fn serve_deploys_rolls_back_and_restarts_with_bundles_of_any_file_name() {
    for name in odd_names() {
        let scratch = hotpack_testkit::scratch();
        let dir = scratch.path().join("plugins");
        std::fs::create_dir(&dir).expect("create the plugin folder");
        let bundle: PathBuf = dir.join(OsStr::from_bytes(&name));
        let label = String::from_utf8_lossy(&name).into_owned();
        put(&bundle, &good_bundle("greeter-v1", 0));

        // A folder holding such a file starts and serves.
        let serve = Serve::start(&dir, &[]);
        assert!(greet(&serve).contains("(v1,"), "{label:?}");
        put(&bundle, &good_bundle("greeter-v2", 1));
        let outcome = serve.next_outcome();
        assert!(outcome.contains("deployed greeter 2.0.0"), "{label:?}: {outcome}");
        assert!(greet(&serve).contains("(v2,"), "{label:?}");
        let (status, body) = call(serve.addr, "POST", "/-/rollback/greeter", b"");
        assert_eq!(status, 200, "{label:?}: {body}");
        assert!(greet(&serve).contains("(v1,"), "{label:?}");
        let (status, body) = call(serve.addr, "GET", "/-/healthz", b"");
        assert_eq!(status, 200, "{label:?}: durable and healthy: {body}");
        kill_9(serve);

        // Restarted with the file gone: only the journal (which holds the name's exact
        // bytes) can bring back the version that served.
        let aside = scratch.path().join("aside.zip");
        std::fs::rename(&bundle, &aside).expect("move the bundle out");
        let serve = Serve::start(&dir, &[]);
        assert!(greet(&serve).contains("(v1,"), "{label:?}: restarted on the version that served");
        let (_, body) = call(serve.addr, "GET", "/-/modules", b"");
        let listing: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(listing["journal"]["durable"], true, "{label:?}: {listing}");
        // Back into the folder: deployed again, still no panic.
        std::fs::rename(&aside, &bundle).expect("move the bundle back");
        let outcome = serve.next_outcome();
        assert!(outcome.contains("deployed greeter 2.0.0"), "{label:?}: {outcome}");
        let (status, body) = call(serve.addr, "POST", "/-/rollback/greeter", b"");
        assert_eq!(status, 200, "{label:?}: {body}");
    }
}

/// The log escapes what the name holds: a newline or an escape sequence never reaches the
/// terminal raw.
#[test]
fn odd_file_names_are_logged_escaped() {
    let scratch = hotpack_testkit::scratch();
    let dir = scratch.path().join("plugins");
    std::fs::create_dir(&dir).expect("create the plugin folder");
    put(&dir.join(OsStr::from_bytes(b"a\nb\x1b[31m.zip")), &good_bundle("greeter-v1", 0));
    let serve = Serve::start(&dir, &[]);
    let deployed = serve.startup.iter().find(|l| l.contains("deployed greeter")).expect("a deploy line");
    assert!(!deployed.contains('\x1b'), "{deployed:?}");
    assert!(deployed.contains("a\\nb"), "{deployed:?}");
}
