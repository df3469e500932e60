//! `hotpack inspect` against bundles packed by hotpack-archive.

use std::path::Path;
use std::process::{Command, Output};

use hotpack_archive::{Hooks, InterfaceMeta, ModuleMeta, PackSpec, pack, pack_modules, semver::Version};

pub(crate) fn spec(name: &str, version: &str) -> PackSpec {
    PackSpec {
        meta: ModuleMeta {
            name: name.into(),
            version: Version::parse(version).expect("valid"),
            abi_version: 1,
            rustc: "rustc 1.88.0".into(),
            interfaces: vec![InterfaceMeta { name: "Greeter".into(), id: 0xfeed_beef_0000_0001 }],
            handlers: vec!["greet".into()],
            hooks: Hooks { init: true, state: true },
        },
        target: "x86_64-unknown-linux-gnu".into(),
        library_name: format!("lib{name}.so"),
        library: (0..5000u32).map(|i| (i * 7 % 251) as u8).collect(),
        resources: vec![("data/hello.txt".into(), b"hello hello hello".to_vec())],
    }
}

pub(crate) fn hotpack(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpack")).args(args).output().expect("the hotpack binary runs")
}

fn inspect(json: bool, path: &Path) -> Output {
    let mut args = vec![std::ffi::OsStr::new("inspect")];
    if json {
        args.push("--json".as_ref());
    }
    args.push(path.as_os_str());
    hotpack(&args)
}

#[test]
fn json_for_a_single_module_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("greeter.zip");
    let s = spec("greeter", "1.2.3");
    std::fs::write(&path, pack(&s).expect("pack")).expect("write");
    let out = inspect(true, &path);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("utf8");
    let all: serde_json::Value = serde_json::from_str(&text).expect("one JSON array");
    assert_eq!(all.as_array().map(Vec::len), Some(1), "one object per module: {text}");
    let v = &all[0];
    assert_eq!(v["name"], "greeter");
    assert_eq!(v["version"], "1.2.3");
    assert_eq!(v["dir"], "");
    assert_eq!(v["interfaces"][0]["name"], "Greeter");
    assert_eq!(v["interfaces"][0]["id"], "feedbeef00000001");
    assert_eq!(v["handlers"], serde_json::json!(["greet"]));
    let entries = v["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    let lib = entries.iter().find(|e| e["kind"] == "library").expect("library entry");
    assert_eq!(lib["name"], "lib/x86_64-unknown-linux-gnu/libgreeter.so");
    assert_eq!(lib["size"], 5000);
    assert_eq!(lib["method"], "stored");
    assert_eq!(lib["blake3"], blake3_hex(&s.library));
    let res = entries.iter().find(|e| e["name"] == "data/hello.txt").expect("resource entry");
    assert_eq!(res["method"], "deflated");
    assert_eq!(res["blake3"], blake3_hex(b"hello hello hello"));
}

fn blake3_hex(data: &[u8]) -> String {
    hotpack_archive::EntryDigest::of(data).blake3_hex()
}

#[test]
fn one_json_array_for_several_bundles_and_human_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("multi.zip");
    let bytes =
        pack_modules(&[("plugins/a", &spec("alpha", "0.1.0")), ("plugins/b", &spec("beta", "0.2.0"))]).expect("pack");
    std::fs::write(&path, bytes).expect("write");
    let single = dir.path().join("greeter.zip");
    std::fs::write(&single, pack(&spec("greeter", "1.2.3")).expect("pack")).expect("write");
    let out = hotpack(&["inspect".as_ref(), "--json".as_ref(), path.as_os_str(), single.as_os_str()]);
    assert!(out.status.success());
    let objects: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("one JSON array over every bundle");
    assert_eq!(objects.len(), 3);
    assert_eq!((objects[0]["name"].as_str(), objects[0]["dir"].as_str()), (Some("alpha"), Some("plugins/a/")));
    assert_eq!(objects[1]["entries"][0]["path"], "plugins/b/data/hello.txt");
    assert_eq!(objects[2]["name"], "greeter");

    let out = inspect(false, &path);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf8");
    assert!(text.contains("module alpha 0.1.0") && text.contains("module beta 0.2.0"), "{text}");
    assert!(text.contains("feedbeef00000001"), "{text}");
}

#[test]
fn a_broken_bundle_is_one_error_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("junk.zip");
    std::fs::write(&path, b"junk").expect("write");
    let out = inspect(true, &path);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    let err = String::from_utf8(out.stderr).expect("utf8");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains("junk.zip") && err.contains("not a zip"), "{err}");
}
