//! Crate boundaries, checked with `cargo tree` (gitoxide's STABILITY.md habit): the crates
//! meant to be used alone must not pull in the loader or `libloading`.

use std::process::Command;

/// The normal (non-dev) dependency tree of `package`, one crate name per line.
fn tree(package: &str) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "--edges", "normal", "--prefix", "none", "--format", "{p}", "-p", package])
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

fn assert_absent(package: &str, forbidden: &[&str]) {
    let deps = tree(package);
    assert!(deps.lines().count() > 1, "cargo tree printed no dependencies for {package}: {deps}");
    for name in forbidden {
        let found = deps.lines().any(|line| line.split_whitespace().next() == Some(*name));
        assert!(!found, "{package} must not depend on {name}:\n{deps}");
    }
}

#[test]
fn detect_never_loads_code() {
    assert_absent(
        "hotpack-detect",
        &["libloading", "hotpack-loader", "hotpack-abi", "hotpack-archive", "hotpack-cache"],
    );
}

#[test]
fn archive_stands_alone() {
    assert_absent(
        "hotpack-archive",
        &["libloading", "hotpack-loader", "hotpack-abi", "hotpack-detect", "hotpack-cache"],
    );
}

#[test]
fn abi_has_no_dependencies() {
    let deps = tree("hotpack-abi");
    assert_eq!(deps.lines().count(), 1, "hotpack-abi is linked into every module; keep it dependency-free:\n{deps}");
}

#[test]
fn loader_knows_nothing_of_bundles_or_watching() {
    assert_absent("hotpack-loader", &["zip", "notify", "hotpack-archive", "hotpack-detect", "hotpack-cache"]);
}

#[test]
fn nothing_below_the_fleet_is_async() {
    for package in ["hotpack", "hotpack-rollback", "hotpack-cache", "hotpack-loader", "hotpack-archive", "hotpack-detect"] {
        assert_absent(package, &["tokio", "etcd-client", "oci-client", "reqwest", "tonic", "hotpack-fleet"]);
    }
}
