//! hotpack-loader against real cdylibs built by cargo (see hotpack-testkit).

use greeter_api::Greeter;
use hotpack_loader::{CallError, LoadError, Loader, Materialize};
use hotpack_testkit::{module, module_bytes, scratch};
use std::path::Path;

mod describe;
mod requires;

fn loader() -> (tempfile::TempDir, Loader) {
    let dir = scratch();
    let loader = Loader::new(dir.path()).expect("cache dir is creatable");
    (dir, loader)
}

#[test]
fn v1_and_v2_live_side_by_side_and_answer_differently() {
    let (_dir, loader) = loader();
    let v1 = loader.load_file(&module("greeter-v1")).expect("v1 loads");
    let v2 = loader.load_file(&module("greeter-v2")).expect("v2 loads");
    assert_eq!(v1.name(), "greeter");
    assert_eq!(v2.name(), "greeter");
    assert_eq!(v1.version().to_string(), "1.0.0");
    assert_eq!(v2.version().to_string(), "2.0.0");
    assert_ne!(v1.hash(), v2.hash());

    let g1: &Greeter = v1.interface().expect("v1 provides Greeter");
    let g2: &Greeter = v2.interface().expect("v2 provides Greeter");
    assert_eq!(g1.generation(), Ok(1));
    assert_eq!(g2.generation(), Ok(2));
    assert_eq!(g1.add(20, 1), Ok(21));
    assert_eq!(g2.add(20, 1), Ok(42));

    let out1 = v1.call("greet", b"ada").expect("v1 greets");
    let out2 = v2.call("greet", b"ada").expect("v2 greets");
    assert!(String::from_utf8_lossy(&out1).starts_with("hello, ada (v1"), "{out1:?}");
    assert!(String::from_utf8_lossy(&out2).starts_with("HELLO, ADA (v2"), "{out2:?}");
    // Both still answer after the other was loaded: nothing was unloaded or shadowed.
    assert_eq!(v1.call("version", b"").expect("v1"), b"1");
    assert_eq!(v2.call("version", b"").expect("v2"), b"2");
    assert_eq!(loader.mapped().libraries, 2);
}

#[test]
fn descriptor_is_copied_into_module_info() {
    let (_dir, loader) = loader();
    let v1 = loader.load_file(&module("greeter-v1")).expect("v1 loads");
    let info = v1.info();
    assert_eq!(info.abi_version, hotpack_abi::ABI_VERSION);
    assert_eq!(info.rustc, hotpack_abi::RUSTC_VERSION);
    assert_eq!(info.target, hotpack_abi::TARGET);
    assert_eq!(info.handlers, ["greet", "version"]);
    assert_eq!(info.interfaces.len(), 1);
    assert_eq!(info.interfaces[0].name, "Greeter");
    assert_eq!(info.interfaces[0].id, <Greeter as hotpack_abi::Interface>::ID);
    assert!(info.has_state && !info.has_init);
}

/// One check per broken fixture: the load (or bind, or init) fails with its own error kind.
#[test]
fn each_broken_fixture_gives_its_own_error() {
    let (_dir, loader) = loader();
    let good = loader.load_file(&module("greeter-v1")).expect("v1 loads");
    type Check = fn(&LoadError) -> bool;
    let cases: &[(&str, Check)] = &[
        ("fx-no-descriptor", |e| {
            matches!(e, LoadError::Describe { source: hotpack_loader::DescribeError::MissingSection { .. }, .. })
        }),
        ("fx-bad-magic", |e| matches!(e, LoadError::BadMagic { found: 0xdead_beef_dead_beef, .. })),
        ("fx-forged-layout", |e| matches!(e, LoadError::LayoutMismatch { found: 77, .. })),
        ("fx-forged-abi", |e| matches!(e, LoadError::AbiMismatch { found: 999, .. })),
        ("fx-forged-rustc", |e| matches!(e, LoadError::RustcMismatch { found, .. } if found.contains("forged"))),
        ("fx-forged-target", |e| matches!(e, LoadError::TargetMismatch { found, .. } if found.starts_with("riscv64"))),
        (
            "fx-init-error",
            |e| matches!(e, LoadError::InitFailed { error, .. } if error.message() == "database unavailable"),
        ),
        (
            "fx-init-panic",
            |e| matches!(e, LoadError::InitPanicked { error, .. } if error.message().contains("init exploded")),
        ),
    ];
    for (fixture, is_expected) in cases {
        let path = module(fixture);
        let err = match loader.load_file(&path).and_then(|m| m.init().map(|()| m)) {
            Ok(m) => panic!("{fixture} was accepted as {m:?}"),
            Err(e) => e,
        };
        assert!(is_expected(&err), "{fixture}: unexpected error {err:?}");
        let text = err.to_string();
        assert!(text.contains(&*path.to_string_lossy()), "{fixture}: message does not name the file: {text}");
        // The host lives on, and the module loaded before keeps answering.
        assert_eq!(good.call("version", b"").expect("v1 still answers"), b"1");
    }
}

#[test]
fn a_changed_interface_signature_is_refused_not_called() {
    let (_dir, loader) = loader();
    let wrong = loader.load_file(&module("fx-wrong-iface")).expect("loads: the descriptor itself is fine");
    match wrong.interface::<Greeter>() {
        Err(LoadError::InterfaceMismatch { interface: "Greeter", expected, found, .. }) => assert_ne!(expected, found),
        other => panic!("expected an interface mismatch, got {other:?}"),
    }
    let same_decl = loader.load_file(&module("fx-panicky")).expect("panicky loads");
    assert!(same_decl.interface::<Greeter>().is_ok(), "same declaration, same id");
    let plain = loader.load_file(&module("greeter-v1")).expect("v1");
    // A module that provides no interface of that name says so.
    let other = loader.load_file(&module("fx-init-error")).expect("loads before init");
    assert!(matches!(other.interface::<Greeter>(), Err(LoadError::InterfaceMissing { .. })));
    assert!(plain.interface::<Greeter>().is_ok());
}

#[test]
fn a_panicking_handler_returns_the_message_and_the_next_call_works() {
    let (_dir, loader) = loader();
    let m = loader.load_file(&module("fx-panicky")).expect("loads");
    match m.call("boom", b"abc") {
        Err(CallError::Panicked { message }) => {
            assert!(message.contains("boom: 3 bytes were too many"), "{message}");
            assert!(message.contains("src/lib.rs"), "location missing: {message}");
        }
        other => panic!("expected a caught panic, got {other:?}"),
    }
    assert_eq!(m.call("ok", b"abc").expect("ok works"), b"cba");
    assert_eq!(m.call("fail", b""), Err(CallError::Failed { message: "this handler always fails".into() }));
    assert_eq!(m.call("nope", b""), Err(CallError::NoSuchHandler { name: "nope".into() }));
    // Typed interfaces catch panics too.
    let g: &Greeter = m.interface().expect("Greeter");
    assert!(matches!(g.generation(), Err(CallError::Panicked { message }) if message.contains("typed panic")));
    assert!(matches!(g.add(u64::MAX, 1), Err(CallError::Panicked { message }) if message.contains("add overflowed")));
    assert_eq!(g.add(2, 2), Ok(4));
}

#[test]
fn the_host_survives_a_thousand_panicking_calls() {
    let (_dir, loader) = loader();
    let m = loader.load_file(&module("fx-panicky")).expect("loads");
    let boom = m.handler("boom").expect("boom exists");
    for i in 0..1000 {
        let err = boom.call(&vec![0; i % 7]).expect_err("always panics");
        assert!(err.is_panic());
    }
    assert_eq!(m.call("ok", b"xy").expect("still fine"), b"yx");
}

#[test]
fn the_same_bytes_are_mapped_once_whatever_the_path() {
    let (dir, loader) = loader();
    let copy = dir.path().join("elsewhere.so");
    std::fs::copy(module("greeter-v1"), &copy).expect("copy");
    let a = loader.load_file(&module("greeter-v1")).expect("a");
    let b = loader.load_file(&copy).expect("b");
    let c = loader.load_bytes(&module_bytes("greeter-v1"), Path::new("memory")).expect("c");
    assert_eq!(a.hash(), b.hash());
    assert_eq!(a.object_path(), c.object_path(), "same bytes, same mapping");
    let stats = loader.mapped();
    assert_eq!(stats.libraries, 1);
    assert_eq!(stats.bytes, a.size());
}

#[test]
fn rewriting_the_source_file_never_touches_the_loaded_code() {
    // The dlopen path cache and SIGBUS pitfalls: load from a path, overwrite that path with
    // other code, load again. Each load sees its own bytes; the first module keeps working.
    let (dir, loader) = loader();
    let path = dir.path().join("libgreeter.so");
    std::fs::copy(module("greeter-v1"), &path).expect("copy v1");
    let first = loader.load_file(&path).expect("v1");
    std::fs::write(&path, module_bytes("greeter-v2")).expect("overwrite in place with v2");
    let second = loader.load_file(&path).expect("v2");
    assert_eq!(first.version().major, 1);
    assert_eq!(second.version().major, 2);
    assert_eq!(first.call("version", b"").expect("v1"), b"1");
    assert_eq!(second.call("version", b"").expect("v2"), b"2");
    assert_ne!(first.object_path(), path.as_path());
}

#[test]
fn memfd_and_content_addressed_loads_answer_the_same() {
    let (_dir, a) = loader();
    let (_dir2, b) = loader();
    let bytes = module_bytes("greeter-v2");
    let m1 = a.load_bytes_with(&bytes, Path::new("bundle.zip"), Materialize::Memfd).expect("memfd");
    let m2 = b.load_bytes_with(&bytes, Path::new("lib.so"), Materialize::ContentAddressed).expect("ca");
    assert_eq!(m1.call("greet", b"x").expect("1")[..14], m2.call("greet", b"x").expect("2")[..14]);
    if cfg!(target_os = "linux") {
        assert!(m1.object_path().starts_with("/proc/self/fd"), "{}", m1.object_path().display());
        assert_eq!(a.mapped().memfds, 1);
    }
    assert!(m2.object_path().starts_with(b.objects_dir()));
    assert!(m2.object_path().to_string_lossy().contains(&*m2.hash().to_hex()));
}

/// The hot reload path: bytes and hash a watcher confirmed, materialized without fsync. The
/// object is content-addressed like a durable one; a torn object left by a crash (here: a
/// truncated file under the object's name) is not reused but rewritten.
#[test]
fn unsynced_loads_with_a_known_hash_rewrite_a_torn_object() {
    let (_dir, a) = loader();
    let bytes = module_bytes("greeter-v2");
    let hash = blake3::hash(&bytes);
    let torn = a.objects_dir().join(format!("{}.so", hash.to_hex()));
    std::fs::write(&torn, &bytes[..bytes.len() / 2]).expect("write a torn object");
    let m = a
        .load_bytes_hashed(&bytes, &hash, Path::new("libgreeter.so"), Materialize::ContentAddressedUnsynced)
        .expect("loads");
    assert_eq!(m.hash(), &hash);
    assert_eq!(m.object_path(), torn.as_path());
    assert_eq!(std::fs::read(&torn).expect("object"), bytes, "the torn object was rewritten");
    assert_eq!(m.call("version", b"").expect("v2 answers"), b"2");
}

/// Bad files, each with its own error kind; the host keeps serving the module loaded before.
#[test]
fn bad_files_are_refused_with_typed_errors() {
    let (dir, loader) = loader();
    let good = loader.load_file(&module("greeter-v1")).expect("v1");
    let real = module_bytes("greeter-v2");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };
    let mut other_arch = real.clone();
    other_arch[18..20].copy_from_slice(&183u16.to_le_bytes()); // e_machine = AArch64
    let mut big_endian = real.clone();
    big_endian[5] = 2;
    let mut executable = real.clone();
    executable[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    type Check = fn(&LoadError) -> bool;
    let cases: Vec<(std::path::PathBuf, Check)> = vec![
        (dir.path().join("missing.so"), |e| matches!(e, LoadError::NotFound { .. })),
        (write("empty.so", b""), |e| matches!(e, LoadError::NotASharedLibrary { .. })),
        (write("text.so", b"#!/bin/sh\necho not a library\n"), |e| matches!(e, LoadError::NotASharedLibrary { .. })),
        (write("half.so", &real[..real.len() / 2]), |e| matches!(e, LoadError::Truncated { .. })),
        (write("header-only.so", &real[..40]), |e| matches!(e, LoadError::Truncated { expected: 64, .. })),
        (write("tail-cut.so", &real[..real.len() - 1]), |e| matches!(e, LoadError::Truncated { .. })),
        (
            write("arm.so", &other_arch),
            |e| matches!(e, LoadError::WrongArchitecture { found, .. } if found == "AArch64"),
        ),
        (write("be.so", &big_endian), |e| matches!(e, LoadError::WrongArchitecture { .. })),
        (write("exec.so", &executable), |e| matches!(e, LoadError::NotASharedLibrary { .. })),
        (dir.path().to_path_buf(), |e| matches!(e, LoadError::NotASharedLibrary { .. })),
    ];
    for (path, is_expected) in &cases {
        let err = loader.load_file(path).expect_err("must be refused");
        assert!(is_expected(&err), "{}: unexpected {err:?}", path.display());
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
        assert_eq!(good.call("version", b"").expect("v1 still answers"), b"1");
    }
    assert_eq!(loader.mapped().libraries, 1, "nothing bad was mapped");
}

#[test]
fn init_runs_once_and_state_moves_between_versions() {
    let (_dir, loader) = loader();
    let v1 = loader.load_file(&module("greeter-v1")).expect("v1");
    let v2 = loader.load_file(&module("greeter-v2")).expect("v2");
    v1.init().expect("no init hook: ready");
    for _ in 0..3 {
        v1.call("greet", b"x").expect("greet");
    }
    let state = v1.export_state().expect("export").expect("v1 has state hooks");
    assert!(v2.import_state(&state).expect("v2 imports"));
    let out = String::from_utf8(v2.call("greet", b"x").expect("greet")).expect("utf8");
    assert!(out.contains("greeting #4"), "state did not move: {out}");
    assert!(matches!(v2.import_state(b"short"), Err(CallError::Failed { .. })));
    let failing = loader.load_file(&module("fx-init-error")).expect("loads");
    assert!(failing.init().is_err());
    assert!(failing.init().is_err(), "the first outcome is remembered");
}

/// What the host thinks `Shapes` is: the same text as the fixture's, in two layouts.
mod host_shapes {
    pub mod small {
        hotpack_abi::abi_struct! {
            /// 8 bytes: what an older host was built with.
            pub struct Rect { pub w: u32, pub h: u32 }
        }
        hotpack_abi::interface! {
            /// Geometry.
            pub struct Shapes / trait ShapesImpl {
                fn area(r: Rect) -> u64;
            }
        }
    }
    pub mod big {
        hotpack_abi::abi_struct! {
            /// 24 bytes: exactly the fixture's declaration.
            pub struct Rect { pub w: u64, pub h: u64, pub d: u64 }
        }
        hotpack_abi::interface! {
            /// Geometry.
            pub struct Shapes / trait ShapesImpl {
                fn area(r: Rect) -> u64;
            }
        }
    }
}

#[test]
fn a_changed_struct_layout_behind_the_same_signature_text_is_refused() {
    let (_dir, loader) = loader();
    let m = loader.load_file(&module("fx-layout-changed")).expect("the descriptor itself is fine");
    match m.interface::<host_shapes::small::Shapes>() {
        Err(LoadError::InterfaceMismatch { interface: "Shapes", expected, found, .. }) => assert_ne!(expected, found),
        other => panic!("an 8-byte Rect against a 24-byte one must be refused, got {other:?}"),
    }
    let shapes = m.interface::<host_shapes::big::Shapes>().expect("the same declaration matches");
    assert_eq!(shapes.area(host_shapes::big::Rect { w: 2, h: 3, d: 4 }), Ok(24));
}

#[test]
fn a_module_built_with_panic_abort_is_refused_with_the_fix_in_one_line() {
    let (_dir, loader) = loader();
    let good = loader.load_file(&module("greeter-v1")).expect("v1 loads");
    let path = hotpack_testkit::panic_abort_module();
    let err = loader.load_file(&path).expect_err("a panic = \"abort\" module must be refused");
    assert!(matches!(&err, LoadError::PanicAbort { module, .. } if module == "panic-abort"), "{err:?}");
    let text = err.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(text.contains(&*path.to_string_lossy()), "names the file: {text}");
    assert!(text.contains("[profile.release] panic = \"unwind\""), "says how to fix the profile: {text}");
    // The same bytes from memory are refused the same way, and the host lives on.
    let bytes = std::fs::read(&path).expect("the fixture is readable");
    assert!(matches!(loader.load_bytes(&bytes, &path), Err(LoadError::PanicAbort { .. })));
    assert_eq!(good.call("version", b"").expect("v1 still answers"), b"1");
}

/// Out of descriptors while a library is materialized (found in serve: the refusal said only
/// "could not materialize the library"): the error names the cause. Tried for real, in a
/// child of this test binary limited to 64 descriptors (`prlimit`), which opens `/dev/null`
/// until `EMFILE` and then loads.
#[test]
fn a_load_out_of_descriptors_names_emfile() {
    if std::env::var_os("HOTPACK_EMFILE_CHILD").is_some() {
        let (_dir, loader) = loader();
        let bytes = module_bytes("greeter-v1");
        let mut held = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            held.push(f);
        }
        let result = loader.load_bytes_with(&bytes, Path::new("/plugins/libgreeter.so"), Materialize::ContentAddressed);
        drop(held);
        match result {
            Err(e) => println!("LOAD-ERROR: {e}"),
            Ok(_) => println!("LOAD-OK"),
        }
        return;
    }
    // Build the fixture first: the child has no descriptors to spare for cargo.
    let _ = module_bytes("greeter-v1");
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new("prlimit")
        .arg("--nofile=64:64")
        .arg(exe)
        .args(["--exact", "a_load_out_of_descriptors_names_emfile", "--nocapture", "--test-threads=1"])
        .env("HOTPACK_EMFILE_CHILD", "1")
        .output()
        .expect("run the test binary under prlimit");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.find("LOAD-").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no outcome: {stdout}"));
    assert!(line.contains("could not materialize") && line.contains("Too many open files"), "{line}");
}
