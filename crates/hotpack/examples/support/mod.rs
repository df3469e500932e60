//! What the three stories share: finding the module libraries they run.

use std::path::{Path, PathBuf};

/// The module libraries the story runs: the paths given as arguments, else (run from a
/// checkout of hotpack) the workspace's `examples/modules/NAME` crates, built with cargo.
pub fn libraries(names: &[&str]) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let given: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if !given.is_empty() {
        if given.len() != names.len() {
            return Err(format!("pass {} built module libraries ({})", names.len(), names.join(", ")).into());
        }
        return Ok(given);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !root.join("examples/modules").is_dir() {
        return Err(
            format!("pass the built libraries of {} (cdylibs built against hotpack-abi)", names.join(", ")).into()
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let target = target.join("hotpack-fixtures");
    let mut cargo = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(&root).args(["build", "--release", "--quiet", "--target-dir"]).arg(&target);
    for name in names {
        cargo.args(["-p", name]);
    }
    if !cargo.status()?.success() {
        return Err("building the example modules failed".into());
    }
    Ok(names.iter().map(|n| target.join("release").join(format!("lib{}.so", n.replace('-', "_")))).collect())
}
