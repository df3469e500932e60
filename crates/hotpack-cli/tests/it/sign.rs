//! `hotpack keygen`, `hotpack sign` and `hotpack verify --trusted-key`: real keys, real
//! bundles, the real binary.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use hotpack_archive::pack;

use crate::inspect::{hotpack, spec};

fn run(args: &[&OsStr]) -> (Option<i32>, String, String) {
    let out: Output = hotpack(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(name);
    let (code, out, err) = run(&["keygen".as_ref(), "-o".as_ref(), key.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("ed25519:"), "prints the fingerprint: {out}");
    let mut public = key.clone().into_os_string();
    public.push(".pub");
    (key, PathBuf::from(public))
}

fn bundle(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pack(&spec("greeter", "1.0.0")).expect("pack")).expect("write");
    path
}

#[test]
fn keygen_writes_a_private_key_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "release.key");
    assert_eq!(std::fs::metadata(&key).expect("key").permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&public).expect("pub").starts_with("hotpack-ed25519 "));
    let before = std::fs::read(&key).expect("key");
    let (code, _, err) = run(&["keygen".as_ref(), "-o".as_ref(), key.as_os_str()]);
    assert_eq!(code, Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("release.key"), "{err}");
    assert_eq!(std::fs::read(&key).expect("key"), before, "the old key is untouched");
}

#[test]
fn sign_in_place_then_verify_with_the_trusted_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k");
    let b = bundle(dir.path(), "greeter.zip");
    let (code, out, err) = run(&["sign".as_ref(), b.as_os_str(), "--key".as_ref(), key.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("ed25519:"), "{out}");
    let (code, out, err) = run(&["verify".as_ref(), b.as_os_str(), "--trusted-key".as_ref(), public.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("ok: ") && out.contains("signed by trusted key ed25519:"), "{out}");
    // Standard zip tools still read it.
    let zip = zip::ZipArchive::new(std::fs::File::open(&b).expect("open")).expect("a zip");
    assert!(!zip.is_empty());
}

#[test]
fn verify_names_each_failure_on_its_own_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "ours");
    let (foreign, foreign_pub) = keygen(dir.path(), "theirs");
    let good = bundle(dir.path(), "good.zip");
    let unsigned = bundle(dir.path(), "unsigned.zip");
    let other = bundle(dir.path(), "foreign.zip");
    let broken = dir.path().join("broken.zip");
    for (b, k) in [(&good, &key), (&other, &foreign)] {
        let (code, _, err) = run(&["sign".as_ref(), b.as_os_str(), "--key".as_ref(), k.as_os_str()]);
        assert_eq!(code, Some(0), "{err}");
    }
    // A signed bundle whose signature bytes were changed (the record ends with the base64
    // signature and its `==` padding): it no longer matches.
    let tampered = dir.path().join("tampered.zip");
    let mut bytes = std::fs::read(&good).expect("read");
    let at = bytes.len() - 10;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&tampered, &bytes).expect("write");
    std::fs::write(&broken, b"not a zip at all").expect("write");
    let fp = std::fs::read_to_string(&foreign_pub).expect("pub");
    let foreign_fp = hotpack_archive::PublicKey::from_text(&fp).expect("key").fingerprint().to_string();

    let args: Vec<&OsStr> = vec![
        "verify".as_ref(),
        good.as_os_str(),
        unsigned.as_os_str(),
        other.as_os_str(),
        tampered.as_os_str(),
        broken.as_os_str(),
        "--trusted-key".as_ref(),
        public.as_os_str(),
    ];
    let (code, out, err) = run(&args);
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(out.lines().count(), 1, "only good.zip passes: {out}");
    assert!(out.contains("good.zip"), "{out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(lines[0].contains("unsigned.zip") && lines[0].contains("not signed"), "{err}");
    assert!(
        lines[1].contains("foreign.zip") && lines[1].contains(&format!("signed by an untrusted key {foreign_fp}")),
        "{err}"
    );
    assert!(lines[2].contains("tampered.zip") && lines[2].contains("signature does not match"), "{err}");
    assert!(lines[3].contains("broken.zip"), "{err}");

    // Without trusted keys: intact bundles pass, signed or not; a broken signature never does.
    let (code, out, err) = run(&["verify".as_ref(), good.as_os_str(), unsigned.as_os_str(), other.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");

    // Both keys trusted: the foreign bundle passes too; --json gives one document.
    let (code, out, err) = run(&[
        "verify".as_ref(),
        good.as_os_str(),
        other.as_os_str(),
        unsigned.as_os_str(),
        "--trusted-key".as_ref(),
        public.as_os_str(),
        "--trusted-key".as_ref(),
        foreign_pub.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let oks: Vec<bool> = v.as_array().expect("array").iter().map(|b| b["ok"].as_bool().expect("ok")).collect();
    assert_eq!(oks, [true, true, false]);
    assert!(v[2]["problem"].as_str().expect("problem").contains("not signed"));
}

#[test]
fn sign_to_a_file_to_stdout_and_never_over_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, public) = keygen(dir.path(), "k");
    let b = bundle(dir.path(), "greeter.zip");
    let original = std::fs::read(&b).expect("read");
    let out_path = dir.path().join("signed.zip");
    let (code, _, err) =
        run(&["sign".as_ref(), b.as_os_str(), "--key".as_ref(), key.as_os_str(), "-o".as_ref(), out_path.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(std::fs::read(&b).expect("read"), original, "-o leaves the input alone");
    let (code, _, err) = run(&["verify".as_ref(), out_path.as_os_str(), "--trusted-key".as_ref(), public.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");

    let out =
        hotpack(&["sign".as_ref(), b.as_os_str(), "--key".as_ref(), key.as_os_str(), "-o".as_ref(), "-".as_ref()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, std::fs::read(&out_path).expect("read"), "stdout carries the same signed bytes");

    let target = dir.path().join("a-dir");
    std::fs::create_dir(&target).expect("mkdir");
    let (code, _, err) =
        run(&["sign".as_ref(), b.as_os_str(), "--key".as_ref(), key.as_os_str(), "-o".as_ref(), target.as_os_str()]);
    assert_eq!(code, Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(target.is_dir(), "the directory is not replaced");

    // A secret key readable by others is refused.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, _, err) = run(&["sign".as_ref(), b.as_os_str(), "--key".as_ref(), key.as_os_str()]);
    assert_eq!(code, Some(1));
    assert!(err.contains('k'), "{err}");
}
