//! The out-of-tree example (examples/out-of-tree: interface crate, module, host; path
//! dependencies only, no test kit) builds on its own and its host runs the module.

use std::path::Path;
use std::process::Command;

#[test]
fn the_out_of_tree_example_builds_and_its_host_runs_the_module() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/out-of-tree");
    let target = hotpack_testkit::target_root().join("hotpack-out-of-tree");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = Command::new(&cargo)
        .current_dir(&dir)
        .args(["build", "--quiet", "--locked"])
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    assert!(build.status.success(), "cargo build in {}: {}", dir.display(), String::from_utf8_lossy(&build.stderr));
    let out = Command::new(target.join("debug/host"))
        .arg(target.join("debug/libshout_module.so"))
        .output()
        .expect("run the host");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    for line in ["deployed shout 1.0.0", "run -> HELLO!", "volume 1, marks(3) = 3"] {
        assert!(stdout.lines().any(|l| l == line), "`{line}` missing from:\n{stdout}");
    }
}
