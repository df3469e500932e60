//! The ABI's refusals seen from the facade: a module built with `panic = "abort"` is refused
//! by `pack_library` (what `hotpack pack` runs) and by `Runtime::deploy`, with one line
//! naming the profile fix, and the version that was serving keeps serving.

use hotpack::archive::{Hooks, ModuleMeta, PackSpec};
use hotpack::{Happened, Runtime};

/// A bundle of the real `panic = "abort"` cdylib, packed without the loader's check (as a
/// bundle made by an older hotpack, or by hand, would be).
fn panic_abort_bundle() -> Vec<u8> {
    let library = hotpack_testkit::panic_abort_module();
    let spec = PackSpec {
        meta: ModuleMeta {
            name: "panic-abort".into(),
            version: hotpack::archive::semver::Version::new(2, 0, 0),
            abi_version: hotpack::abi::ABI_VERSION,
            rustc: hotpack::abi::RUSTC_VERSION.into(),
            interfaces: vec![],
            handlers: vec!["boom".into()],
            hooks: Hooks::default(),
        },
        target: hotpack::abi::TARGET.into(),
        library_name: "libfx_panic_abort.so".into(),
        library: std::fs::read(&library).expect("read the fixture"),
        resources: vec![],
    };
    hotpack::archive::pack(&spec).expect("pack the bundle")
}

#[test]
fn pack_refuses_a_panic_abort_module_with_the_fix() {
    let dir = hotpack_testkit::scratch();
    let err = hotpack::pack_library(&hotpack_testkit::panic_abort_module(), &dir.path().join("m.zip"), vec![])
        .expect_err("a panic = \"abort\" module must not be packed");
    let text = format!("{err}: {}", std::error::Error::source(&err).map(|s| s.to_string()).unwrap_or_default());
    assert!(text.contains("panic = \"unwind\""), "{text}");
    assert!(!dir.path().join("m.zip").exists(), "nothing written");
}

#[test]
fn deploy_refuses_a_panic_abort_module_and_the_serving_version_keeps_serving() {
    let dir = hotpack_testkit::scratch();
    let runtime = Runtime::builder().cache_dir(dir.path().join("cache")).build().expect("runtime");
    let good = dir.path().join("good.zip");
    // Something serving before the bad deploy.
    hotpack::pack_library(&hotpack_testkit::module("greeter-v1"), &good, vec![]).expect("pack greeter");
    assert!(matches!(runtime.deploy(&good).expect("deploy greeter")[0].outcome, Happened::Promoted { .. }));

    let bad = dir.path().join("panic-abort.zip");
    std::fs::write(&bad, panic_abort_bundle()).expect("write the bundle");
    let err = runtime.deploy(&bad).expect_err("refused before promotion");
    let text = err.to_string();
    assert!(text.contains("panic = \"unwind\"") || format!("{err:?}").contains("PanicAbort"), "{text} / {err:?}");
    assert!(runtime.modules().iter().all(|m| m.name != "panic-abort" || m.version().is_none()), "never promoted");
    assert_eq!(runtime.call("greeter", "version", b"").expect("greeter still answers"), b"1");
}
