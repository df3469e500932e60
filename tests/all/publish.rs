//! Publishability, checked from `cargo metadata`: every library crate under `crates/` carries
//! the metadata crates.io and docs.rs show, every internal package is `publish = false`, and
//! the workspace's `rust-version` is at least the `rust-version` of every dependency a
//! library crate builds with (a false MSRV is a broken promise to every user).

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Crates under `crates/` that are tools of this repository, not libraries for others.
const INTERNAL: [&str; 2] = ["hotpack-testkit", "hotpack-cli"];

/// The triple this test runs on, from `rustc -vV` (metadata is filtered to it, so only the
/// packages a build here has downloaded are needed offline).
fn host_triple() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc -vV runs");
    let text = String::from_utf8(out.stdout).expect("utf8");
    text.lines().find_map(|l| l.strip_prefix("host: ")).expect("rustc -vV names the host").to_owned()
}

fn metadata() -> Value {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["metadata", "--offline", "--format-version", "1", "--filter-platform", &host_triple()])
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

fn workspace_packages(meta: &Value) -> Vec<&Value> {
    let members: Vec<&str> =
        meta["workspace_members"].as_array().expect("members").iter().filter_map(Value::as_str).collect();
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| members.contains(&p["id"].as_str().unwrap_or_default()))
        .collect()
}

fn is_library_crate(package: &Value) -> bool {
    let manifest = Path::new(package["manifest_path"].as_str().expect("manifest_path"));
    let in_crates = manifest.parent().and_then(Path::parent).and_then(Path::file_name) == Some("crates".as_ref());
    in_crates && !INTERNAL.contains(&package["name"].as_str().unwrap_or_default())
}

fn publishable(package: &Value) -> bool {
    // `publish = false` appears as an empty list of registries.
    package["publish"].as_array().is_none_or(|registries| !registries.is_empty())
}

/// "1.89" or "1.88.0" as a comparable (major, minor, patch).
fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().expect("numeric rust-version"));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn library_crates_carry_complete_metadata() {
    let meta = metadata();
    let mut checked = 0;
    for package in workspace_packages(&meta) {
        let name = package["name"].as_str().expect("name");
        if !is_library_crate(package) {
            assert!(!publishable(package), "{name} is internal to this repository and must be `publish = false`");
            continue;
        }
        checked += 1;
        assert!(publishable(package), "{name} is a library crate and must be publishable");
        for field in ["description", "license", "readme", "documentation", "rust_version"] {
            let value = package[field].as_str().unwrap_or_default();
            assert!(!value.is_empty(), "{name}: `{field}` is missing from its Cargo.toml");
        }
        for field in ["keywords", "categories"] {
            let n = package[field].as_array().map_or(0, Vec::len);
            assert!((1..=5).contains(&n), "{name}: `{field}` must list 1 to 5 entries, has {n}");
        }
        let dir = Path::new(package["manifest_path"].as_str().expect("path")).parent().expect("crate dir");
        for file in ["README.md", "LICENSE-MIT", "LICENSE-APACHE"] {
            assert!(dir.join(file).is_file(), "{name}: {file} is missing from {}", dir.display());
        }
    }
    assert!(checked >= 7, "expected the seven library crates at least, found {checked}");
}

#[test]
fn rust_version_is_true_for_every_dependency() {
    let meta = metadata();
    let ours = workspace_packages(&meta);
    let declared = ours
        .iter()
        .find(|p| p["name"] == "hotpack")
        .and_then(|p| p["rust_version"].as_str())
        .expect("the hotpack crate declares rust-version");
    let packages = meta["packages"].as_array().expect("packages");
    let nodes = meta["resolve"]["nodes"].as_array().expect("resolve");
    // Walk the normal (non-dev, non-build) dependency graph of every library crate.
    let mut stack: Vec<&str> = ours.iter().filter(|p| is_library_crate(p)).filter_map(|p| p["id"].as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    let mut too_new = Vec::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let package = packages.iter().find(|p| p["id"] == id).expect("resolved package is listed");
        if let Some(needs) = package["rust_version"].as_str()
            && version(needs) > version(declared)
        {
            too_new.push(format!("{} {} needs {needs}", package["name"], package["version"]));
        }
        let node = nodes.iter().find(|n| n["id"] == id).expect("resolve node");
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null());
            if normal && let Some(dep_id) = dep["pkg"].as_str() {
                stack.push(dep_id);
            }
        }
    }
    assert!(seen.len() > 10, "walked only {} packages", seen.len());
    assert!(too_new.is_empty(), "workspace rust-version {declared} is below what dependencies need: {too_new:?}");
}
