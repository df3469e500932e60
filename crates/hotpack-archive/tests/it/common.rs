//! Shared fixtures: sample module specs and small helpers.

use hotpack_archive::{Hooks, InterfaceMeta, ModuleMeta, PackSpec, semver::Version};

pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Metadata for a module called `name` at `version`.
pub fn meta(name: &str, version: &str) -> ModuleMeta {
    ModuleMeta {
        name: name.into(),
        version: Version::parse(version).expect("valid test version"),
        abi_version: 1,
        rustc: "rustc 1.88.0 (6b00bc388 2025-06-23)".into(),
        interfaces: vec![InterfaceMeta { name: "Greeter".into(), id: 0x0123_4567_89ab_cdef }],
        handlers: vec!["greet".into(), "farewell".into()],
        hooks: Hooks { init: true, state: false },
    }
}

/// A spec with a pseudo-random "library" of `lib_len` bytes and two resources.
pub fn spec(name: &str, version: &str, lib_len: usize) -> PackSpec {
    let mut x: u32 = 0x9e37_79b9 ^ lib_len as u32;
    let library = (0..lib_len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    PackSpec {
        meta: meta(name, version),
        target: TARGET.into(),
        library_name: format!("lib{name}.so"),
        library,
        resources: vec![
            ("data/hello.txt".into(), format!("hello from {name} {version}\n").repeat(50).into_bytes()),
            ("config.toml".into(), b"answer = 42\n".to_vec()),
        ],
    }
}

/// A command for an outside tool the interop tests drive (`zip`, `unzip`, `python3`; each is
/// also its Debian package name), installed by the test kit when missing and allowed.
pub fn tool(name: &str) -> std::process::Command {
    hotpack_testkit::tools::need(name, name);
    std::process::Command::new(name)
}
