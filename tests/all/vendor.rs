//! The vendored etcd client (vendor/etcd-client): its checked-in gRPC code is what
//! `cargo xtask etcd-proto` generates from its `.proto` files, and nothing in the workspace
//! needs protoc to build (docs/ARCHITECTURE.md, "Dependencies").

use std::path::{Path, PathBuf};

fn vendored() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor/etcd-client")
}

fn collect(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("vendored dir readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// Every `.proto` input and generated file hashes to what GENERATED.blake3 recorded when the
/// code was last generated, and the record names exactly those files: a changed `.proto`
/// without regeneration, or a hand edit of the generated code, fails here.
#[test]
fn generated_etcd_code_matches_its_protos() {
    let root = vendored();
    let recorded = std::fs::read_to_string(root.join("GENERATED.blake3")).expect("GENERATED.blake3 exists");
    let mut recorded: Vec<(String, String)> = recorded
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (hash, path) = l.split_once("  ").expect("`<blake3>  <path>` lines");
            (path.to_owned(), hash.to_owned())
        })
        .collect();
    recorded.sort();
    let mut files = Vec::new();
    collect(&root.join("proto"), "proto", &mut files);
    collect(&root.join("src/rpc/generated"), "rs", &mut files);
    let mut actual: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&root).expect("under the vendored crate").display().to_string();
            (rel, blake3::hash(&std::fs::read(f).expect("readable")).to_hex().to_string())
        })
        .collect();
    actual.sort();
    assert_eq!(
        actual, recorded,
        "vendor/etcd-client: the .proto files or the generated code changed since `cargo xtask etcd-proto` \
         last ran; run it (needs protoc) and commit the result"
    );
}

/// No build script in the CLI's graph (fleet included) compiles protobufs: prost-build and
/// tonic-build (which call protoc) are absent from its build dependencies.
#[test]
fn nothing_in_the_cli_with_the_fleet_needs_protoc() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "--edges", "normal,build", "--prefix", "none", "--format", "{p}"])
        .args(["-p", "hotpack-cli", "--features", "hotpack-cli/fleet"])
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    let deps = String::from_utf8(out.stdout).expect("utf8");
    assert!(deps.lines().any(|l| l.starts_with("etcd-client ")), "the fleet's etcd client is in the tree:\n{deps}");
    for name in ["prost-build", "tonic-build", "tonic-prost-build", "protobuf-src", "protoc-bin-vendored"] {
        let found = deps.lines().any(|line| line.split_whitespace().next() == Some(name));
        assert!(!found, "hotpack-cli --features fleet must not build {name} (it runs protoc):\n{deps}");
    }
}
