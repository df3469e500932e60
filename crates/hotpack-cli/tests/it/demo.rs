//! `hotpack demo`: the main job runs end to end (real cargo builds of the example modules).

use std::process::Command;

#[test]
fn demo_loads_swaps_refuses_the_broken_version_and_keeps_serving() {
    let scratch = hotpack_testkit::scratch();
    let out = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .args(["demo", "--size-mb", "32"])
        .env("XDG_CACHE_HOME", scratch.path())
        .output()
        .expect("run hotpack demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let expect = [
        "data loaded: 2097152 records, 32 MiB",
        "deployed v1.0.0 in",
        "v1: 2097152 records, total amount",
        "promoted v2.0.0 in",
        "v2: top category",
        "panicked",
        "rolled back to v2.0.0",
        "summary:",
        "data load (once)",
    ];
    for line in expect {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    // After the rollback, v2 answered again.
    let after = stdout.split("rolled back to v2.0.0").nth(1).expect("a rollback line");
    assert!(after.contains("v2: top category"), "{stdout}");
    assert!(!after.contains("v3:"), "the broken version never answered: {stdout}");
}
