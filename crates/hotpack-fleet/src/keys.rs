//! The etcd key layout, in one place (docs/FLEET.md describes it).
//!
//! ```text
//! /hotpack/<fleet>/releases/<module>/<blake3>   ReleaseRecord, written once
//! /hotpack/<fleet>/rollouts/<module>            Rollout, changed by compare-revision txns
//! /hotpack/<fleet>/hosts/<host>/<module>        HostReport, under the host's lease
//! /hotpack/<fleet>/analysis/<module>            AnalysisStatus, written by the --auto watcher
//! ```

/// The prefix of everything a fleet keeps in etcd.
pub fn root(fleet: &str) -> String {
    format!("/hotpack/{fleet}/")
}

/// The release record of one bundle.
pub fn release(fleet: &str, module: &str, blake3: &str) -> String {
    format!("/hotpack/{fleet}/releases/{module}/{blake3}")
}

/// Every release of a module.
pub fn releases_of(fleet: &str, module: &str) -> String {
    format!("/hotpack/{fleet}/releases/{module}/")
}

/// The rollout key of a module.
pub fn rollout(fleet: &str, module: &str) -> String {
    format!("/hotpack/{fleet}/rollouts/{module}")
}

/// Every rollout key.
pub fn rollouts(fleet: &str) -> String {
    format!("/hotpack/{fleet}/rollouts/")
}

/// One host's report on one module.
pub fn host_report(fleet: &str, host: &str, module: &str) -> String {
    format!("/hotpack/{fleet}/hosts/{host}/{module}")
}

/// The `--auto --bake` watcher's analysis of a module's rollout (informational: hosts never
/// read it).
pub fn analysis(fleet: &str, module: &str) -> String {
    format!("/hotpack/{fleet}/analysis/{module}")
}

/// Every host report.
pub fn hosts(fleet: &str) -> String {
    format!("/hotpack/{fleet}/hosts/")
}

/// The OCI repository of a module's bundles on the fleet's registry.
pub fn repository(fleet: &str, module: &str) -> String {
    format!("hotpack/{fleet}/{}", module.to_ascii_lowercase())
}

/// The OCI tag of a bundle: its blake3.
pub fn tag(blake3: &str) -> String {
    format!("blake3-{blake3}")
}

/// Whether `name` is usable as a fleet name, host id or module name in a key (no `/`,
/// nothing empty, nothing that could climb out of the prefix).
pub fn is_valid_segment(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
