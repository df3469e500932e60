//! Test support shared by the crates' integration tests, the CLI tests and the benches.
//!
//! Fixtures are real cdylibs built by cargo from `tests/fixtures/*` and
//! `examples/modules/*` (never committed binaries). The first call to [`module`] builds all
//! of them in one `cargo build --release` into `<target>/hotpack-fixtures`, a target directory
//! of their own so the build never waits on the `cargo test` that runs us. `<target>` is
//! [`target_root`]: `CARGO_TARGET_DIR` when set, else the workspace's `target/`.
//!
//! ```no_run
//! let v1 = hotpack_testkit::module("greeter-v1");
//! assert!(v1.ends_with("libgreeter_v1.so"));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod procs;
pub mod servers;
pub mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root: the one holding the crate under test (`CARGO_MANIFEST_DIR`, which
/// cargo sets when it runs a test, bench or example), else the one this crate was compiled
/// in. The compiled-in path alone goes stale when a target directory is copied or moved to
/// another checkout (cargo does not rebuild for that), and the fixtures would then be built
/// from the other checkout's sources.
pub fn workspace_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR")
        && let Some(root) = Path::new(&dir)
            .ancestors()
            .find(|a| a.join("Cargo.lock").is_file() && a.join("crates").join("hotpack-testkit").is_dir())
    {
        return root.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the testkit lives at crates/hotpack-testkit")
        .to_path_buf()
}

/// The cargo target directory builds and tests write under: `CARGO_TARGET_DIR` when set
/// (a relative one taken from the workspace root, as cargo does from where it runs), else
/// `<workspace root>/target`.
pub fn target_root() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Where the fixtures are built.
pub fn fixtures_target_dir() -> PathBuf {
    target_root().join("hotpack-fixtures")
}

/// Every cdylib package the fixtures build: `tests/fixtures/*` and the example modules.
pub fn fixture_packages() -> Vec<String> {
    let root = workspace_root();
    let mut packages = Vec::new();
    for dir in ["tests/fixtures", "examples/modules"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for entry in entries.flatten() {
            let manifest = entry.path().join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
            if text.contains("cdylib") {
                packages.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    packages.sort();
    packages
}

fn build_all() -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target_dir = fixtures_target_dir();
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args(["build", "--release", "--quiet", "--target-dir"]).arg(&target_dir);
    for package in fixture_packages() {
        cmd.args(["-p", &package]);
    }
    let output = cmd.output().map_err(|e| format!("could not run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the fixtures failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(target_dir.join("release"))
}

/// Builds every fixture (once per process) and returns the release directory holding them.
///
/// # Panics
///
/// If cargo cannot build the fixtures: tests cannot run without them.
pub fn release_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(build_all) {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    }
}

/// The path of the built cdylib of `package` (e.g. `"greeter-v1"` -> `.../libgreeter_v1.so`).
///
/// # Panics
///
/// If the fixtures cannot be built or the package is not a fixture.
pub fn module(package: &str) -> PathBuf {
    let file = format!("{}{}{}", std::env::consts::DLL_PREFIX, package.replace('-', "_"), std::env::consts::DLL_SUFFIX);
    let path = release_dir().join(file);
    assert!(path.is_file(), "fixture {package} was not built at {}", path.display());
    path
}

/// The standalone fixture `tests/standalone/fx-panic-abort`: a real module built with
/// `panic = "abort"`, which the loader must refuse. Built once per process.
///
/// It is its own workspace (a profile's `panic` is honoured only at a workspace root) and is
/// not a member of the root one, so `cargo test --workspace` never links it; it builds into
/// `<target>/hotpack-fixtures-abort`.
///
/// # Panics
///
/// If cargo cannot build it.
pub fn panic_abort_module() -> PathBuf {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = PATH.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let root = workspace_root();
        let target_dir = target_root().join("hotpack-fixtures-abort");
        let manifest = root.join("tests/standalone/fx-panic-abort/Cargo.toml");
        let output = Command::new(cargo)
            .current_dir(&root)
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir)
            .output()
            .map_err(|e| format!("could not run cargo: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "building {} failed ({}):\n{}",
                manifest.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let file = format!("{}fx_panic_abort{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
        Ok(target_dir.join("release").join(file))
    });
    match built {
        Ok(path) => path.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// The bytes of the built cdylib of `package`.
///
/// # Panics
///
/// As [`module`], or if the file cannot be read.
pub fn module_bytes(package: &str) -> Vec<u8> {
    let path = module(package);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A fresh temporary directory, removed when dropped.
///
/// # Panics
///
/// If the system temp directory is not writable.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("hotpack-test-").tempdir().expect("the temp directory is writable")
}
