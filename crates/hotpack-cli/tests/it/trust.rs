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
    assert_eq!(pid, serve.pid().to_string());
}
