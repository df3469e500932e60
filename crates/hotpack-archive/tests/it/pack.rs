//! Packing: determinism, layout (order, methods, timestamps, permissions), multi-module
//! bundles, atomic file output, and packer-side validation.

use hotpack_archive::{Bundle, Limits, Method, PackError, pack, pack_modules, pack_to_file};

use crate::common::{TARGET, spec};

#[test]
fn packing_is_deterministic() {
    let s = spec("greeter", "1.2.3", 10_000);
    let a = pack(&s).expect("pack");
    let b = pack(&s).expect("pack");
    assert_eq!(a, b);
    // Resource order in the spec does not matter: entries are written sorted.
    let mut reordered = s.clone();
    reordered.resources.reverse();
    assert_eq!(pack(&reordered).expect("pack"), a);

    let dir = tempfile::tempdir().expect("tempdir");
    let p1 = dir.path().join("one.zip");
    let p2 = dir.path().join("two.zip");
    pack_to_file(&s, &p1).expect("write");
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a different wall-clock second
    pack_to_file(&s, &p2).expect("write");
    assert_eq!(std::fs::read(&p1).expect("read"), std::fs::read(&p2).expect("read"));
    assert_eq!(std::fs::read(&p1).expect("read"), a);
    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn layout_order_methods_and_manifest() {
    let s = spec("greeter", "1.2.3", 10_000);
    let bundle = Bundle::from_bytes(pack(&s).expect("pack"), "g.zip", &Limits::default()).expect("open");
    let entries: Vec<_> = bundle.entries().map(|e| (e.name.to_owned(), e.method)).collect();
    assert_eq!(
        entries,
        vec![
            ("hotpack.json".to_owned(), Method::Stored),
            (format!("lib/{TARGET}/libgreeter.so"), Method::Stored),
            ("config.toml".to_owned(), Method::Deflated),
            ("data/hello.txt".to_owned(), Method::Deflated),
        ]
    );
    let m = bundle.module("greeter").expect("module");
    assert_eq!(m.dir(), "");
    assert_eq!(m.manifest().meta, s.meta);
    assert_eq!(m.manifest().library(TARGET), Some(format!("lib/{TARGET}/libgreeter.so").as_str()));
    assert_eq!(bundle.read_library("greeter", TARGET).expect("lib"), s.library);
    assert_eq!(bundle.read("greeter", "config.toml").expect("res"), b"answer = 42\n");
    let report = bundle.verify_all().expect("verify");
    assert_eq!(report.entries, 4);
    assert!(matches!(
        bundle.read_library("greeter", "aarch64-apple-darwin"),
        Err(e) if matches!(e.kind(), hotpack_archive::BundleErrorKind::NoLibraryForTarget { .. })
    ));
    assert!(
        matches!(bundle.read("nope", "x"), Err(e) if matches!(e.kind(), hotpack_archive::BundleErrorKind::NoSuchModule { .. }))
    );
    assert!(
        matches!(bundle.read("greeter", "x"), Err(e) if matches!(e.kind(), hotpack_archive::BundleErrorKind::NoSuchEntry { .. }))
    );
}

#[test]
fn multi_module_bundles() {
    let a = spec("alpha", "1.0.0", 100);
    let b = spec("beta", "2.0.0", 200);
    let bytes = pack_modules(&[("plugins/beta", &b), ("plugins/alpha/", &a)]).expect("pack");
    let bundle = Bundle::from_bytes(bytes, "multi.zip", &Limits::default()).expect("open");
    let dirs: Vec<_> = bundle.modules().iter().map(|m| (m.name(), m.dir())).collect();
    assert_eq!(dirs, vec![("alpha", "plugins/alpha/"), ("beta", "plugins/beta/")]);
    assert_eq!(bundle.read_library("beta", TARGET).expect("lib"), b.library);
    bundle.verify_all().expect("verify");

    assert!(matches!(pack_modules(&[("x", &a), ("y", &a)]), Err(PackError::DuplicateModule { .. })));
    assert!(matches!(pack_modules(&[("x", &a), ("x", &b)]), Err(PackError::DuplicateEntry { .. })));
    assert!(matches!(pack_modules(&[("../x", &a)]), Err(PackError::InvalidPath { .. })));
}

#[test]
fn packer_validation() {
    let mut s = spec("greeter", "1.0.0", 10);
    s.meta.name = "bad name".into();
    assert!(matches!(pack(&s), Err(PackError::InvalidMeta(_))));
    let mut s = spec("greeter", "1.0.0", 10);
    s.resources.push(("../up.txt".into(), vec![]));
    assert!(matches!(pack(&s), Err(PackError::InvalidPath { .. })));
    let mut s = spec("greeter", "1.0.0", 10);
    s.resources.push(("hotpack.json".into(), vec![]));
    assert!(matches!(pack(&s), Err(PackError::DuplicateEntry { .. })));
    let mut s = spec("greeter", "1.0.0", 10);
    s.library_name = "sub/lib.so".into();
    assert!(matches!(pack(&s), Err(PackError::InvalidPath { .. })));
    let mut s = spec("greeter", "1.0.0", 10);
    s.target = String::new();
    assert!(matches!(pack(&s), Err(PackError::InvalidMeta(_))));
}
