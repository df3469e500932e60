//! A build without the `fleet` feature (`cargo test -p hotpack-cli`; the workspace's test build
//! has the fleet): `hotpack fleet` and `serve --fleet` say how to get a build with it, exit 2.

use std::process::Command;

#[test]
fn fleet_commands_say_how_to_get_them() {
    for args in [&["fleet", "status"][..], &["serve", "/nonexistent", "--fleet", "prod"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_hotpack")).args(args).output().expect("run hotpack");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains("--features fleet"), "{args:?} names the feature: {stderr}");
    }
}
