//! Crate boundaries, checked with `cargo tree` (gitoxide's STABILITY.md habit): the crates
//! meant to be used alone must not pull in the loader or `libloading`.

use std::process::Command;

/// The normal (non-dev) dependency tree of `package`, one crate name per line.
fn tree(package: &str) -> String {
    tree_with(package, &[])
}

/// As [`tree`], with extra `cargo tree` arguments (e.g. `--no-default-features`).
fn tree_with(package: &str, extra: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "--edges", "normal", "--prefix", "none", "--format", "{p}", "-p", package])
        .args(extra)
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
fn util_depends_on_no_hotpack_crate() {
    let deps = tree("hotpack-util");
    let ours: Vec<&str> = deps
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with("hotpack") && *name != "hotpack-util")
        .collect();
    assert!(ours.is_empty(), "hotpack-util must depend on no hotpack crate, found {ours:?}:\n{deps}");
}

/// A tool that only reads, verifies and searches bundles (default features off) pulls in
/// nothing of the writing side.
#[test]
fn archive_reader_pulls_no_writer() {
    let deps = tree_with("hotpack-archive", &["--no-default-features"]);
    for name in ["zip", "tempfile"] {
        let found = deps.lines().any(|line| line.split_whitespace().next() == Some(name));
        assert!(!found, "hotpack-archive without default features must not depend on {name}:\n{deps}");
    }
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

/// The CLI is a user of the facade: its normal dependencies among hotpack crates are exactly
/// `hotpack` (and `hotpack-fleet`, the fleet layer above it). Everything else it reaches
/// through `hotpack::archive`, `hotpack::detect`, ... re-exports.
#[test]
fn cli_depends_on_the_facade_only() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "--edges", "normal", "--depth", "1", "--prefix", "none", "--format", "{p}"])
        .args(["-p", "hotpack-cli"])
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree -p hotpack-cli: {}", String::from_utf8_lossy(&out.stderr));
    let deps = String::from_utf8(out.stdout).expect("utf8");
    let hotpack: Vec<&str> = deps
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with("hotpack"))
        .collect();
    assert!(hotpack.contains(&"hotpack"), "hotpack-cli must depend on the facade:\n{deps}");
    for name in hotpack {
        assert!(
            ["hotpack", "hotpack-fleet"].contains(&name),
            "hotpack-cli must reach {name} through `hotpack`:\n{deps}"
        );
    }
}

#[test]
fn nothing_below_the_fleet_is_async() {
    for package in [
        "hotpack",
        "hotpack-rollback",
        "hotpack-worker",
        "hotpack-cache",
        "hotpack-loader",
        "hotpack-archive",
        "hotpack-detect",
    ] {
        assert_absent(package, &["tokio", "etcd-client", "oci-client", "reqwest", "tonic", "hotpack-fleet"]);
    }
}

/// hotpack-detect may not depend on hotpack-util, so it spells the atomic-write temp names
/// itself: its default ignore list must keep matching what `hotpack_util::fs` writes, or a
/// watcher would report hotpack's own half-written temp files.
#[test]
fn detect_ignores_the_temp_names_util_writes() {
    let pattern = format!(".*{}*", hotpack_util::fs::TEMP_MARKER);
    assert!(
        hotpack_detect::DEFAULT_TEMP_PATTERNS.contains(&pattern.as_str()),
        "{pattern} missing from {:?}",
        hotpack_detect::DEFAULT_TEMP_PATTERNS
    );
}

/// The hotpack crates the supervisor stands on. `hotpack-detect` is there because the
/// supervisor runs the one watch-to-deploy loop (`Supervisor::watch`: the watcher's confirmed
/// bytes into `deploy_confirmed`), which the facade's `Runtime::watch` and `hotpack serve`
/// share instead of each keeping a copy; detect itself still depends on no hotpack crate.
#[test]
fn rollback_stands_on_the_crates_below_it() {
    let deps = tree("hotpack-rollback");
    let mut ours: Vec<&str> = deps
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with("hotpack") && *name != "hotpack-rollback")
        .collect();
    ours.sort_unstable();
    ours.dedup();
    assert_eq!(
        ours,
        [
            "hotpack-abi",
            "hotpack-archive",
            "hotpack-cache",
            "hotpack-detect",
            "hotpack-loader",
            "hotpack-util",
            "hotpack-worker"
        ],
        "a new edge from hotpack-rollback needs its reason here and in docs/ARCHITECTURE.md:\n{deps}"
    );
}
