//! The search path: directories, bundle files, `bundle.zip/sub/dir` prefixes, path order,
//! shadowing reported, broken bundles reported.

use std::path::{Path, PathBuf};

use hotpack_archive::{Location, SearchError, SearchPath, SearchProblem, pack, pack_modules};

use crate::common::spec;

struct Tree {
    _dir: tempfile::TempDir,
    a: PathBuf,
    b: PathBuf,
    multi: PathBuf,
}

fn tree() -> Tree {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(&a).expect("mkdir");
    std::fs::create_dir_all(&b).expect("mkdir");
    std::fs::write(a.join("greeter.zip"), pack(&spec("greeter", "1.0.0", 100)).expect("pack")).expect("write");
    std::fs::write(a.join("libplain.so"), b"not really a library").expect("write");
    std::fs::write(a.join("broken.zip"), b"this is not a zip at all, just text").expect("write");
    std::fs::write(a.join("README.txt"), b"ignored").expect("write");
    std::fs::create_dir_all(a.join("sub.zip")).expect("a directory named like a bundle is skipped");
    std::fs::write(b.join("greeter.hpk"), pack(&spec("greeter", "2.0.0", 100)).expect("pack")).expect("write");
    let multi = dir.path().join("multi.zip");
    let bytes = pack_modules(&[
        ("plugins/alpha", &spec("alpha", "1.0.0", 10)),
        ("plugins/beta", &spec("beta", "1.0.0", 10)),
        ("other/gamma", &spec("gamma", "1.0.0", 10)),
    ])
    .expect("pack");
    std::fs::write(&multi, bytes).expect("write");
    Tree { _dir: dir, a, b, multi }
}

fn bundle_of(loc: &Location) -> (&Path, &str, String) {
    match loc {
        Location::Bundle { bundle, dir, version } => (bundle.as_path(), dir.as_str(), version.to_string()),
        other => panic!("not a bundle location: {other:?}"),
    }
}

#[test]
fn directories_in_path_order_with_shadowing_and_problems_reported() {
    let t = tree();
    let mut path = SearchPath::new();
    path.push(&t.a);
    path.push(&t.b);
    let found = path.find("greeter").expect("found");
    assert_eq!(bundle_of(&found.primary.location), (t.a.join("greeter.zip").as_path(), "", "1.0.0".to_owned()));
    assert_eq!(found.primary.path_index, 0);
    assert_eq!(found.shadowed.len(), 1);
    assert_eq!(bundle_of(&found.shadowed[0].location).0, t.b.join("greeter.hpk"));
    assert_eq!(found.shadowed[0].path_index, 1);
    assert_eq!(found.problems.len(), 1, "{:?}", found.problems);
    match &found.problems[0] {
        SearchProblem::Bundle(err) => assert_eq!(err.bundle(), t.a.join("broken.zip")),
        other => panic!("unexpected problem {other:?}"),
    }

    // Reversing the path reverses the winner.
    let mut rev = SearchPath::new();
    rev.push(&t.b);
    rev.push(&t.a);
    let found = rev.find("greeter").expect("found");
    assert_eq!(bundle_of(&found.primary.location).2, "2.0.0");
    assert_eq!(bundle_of(&found.shadowed[0].location).2, "1.0.0");

    // Plain cdylibs are found by file name.
    let plain = path.find("plain").expect("found");
    assert_eq!(plain.primary.location, Location::Library { path: t.a.join("libplain.so") });
}

#[test]
fn bundle_files_and_prefixes() {
    let t = tree();
    let mut whole = SearchPath::new();
    whole.push(&t.multi);
    for name in ["alpha", "beta", "gamma"] {
        whole.find(name).unwrap_or_else(|e| panic!("{e}"));
    }

    let mut prefixed = SearchPath::new();
    prefixed.push(t.multi.join("plugins"));
    let alpha = prefixed.find("alpha").expect("found");
    assert_eq!(bundle_of(&alpha.primary.location), (t.multi.as_path(), "plugins/alpha/", "1.0.0".to_owned()));
    assert!(alpha.problems.is_empty());
    match prefixed.find("gamma") {
        Err(SearchError::NotFound { name, searched: 1, problems }) => {
            assert_eq!(name, "gamma");
            assert!(problems.is_empty());
        }
        other => panic!("gamma is outside the prefix: {other:?}"),
    }
    let mut deep = SearchPath::new();
    deep.push(t.multi.join("plugins").join("beta"));
    assert_eq!(deep.list().modules.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), vec!["beta"]);
}

#[test]
fn listing_missing_entries_and_not_found() {
    let t = tree();
    let mut path = SearchPath::new();
    path.push(&t.a);
    path.push(t.a.join("does-not-exist"));
    path.push(t.multi.join("plugins"));
    path.insert(0, &t.b);
    let listing = path.list();
    let names: Vec<_> = listing.modules.iter().map(|v| (v.name.as_str(), v.path_index)).collect();
    assert_eq!(names, vec![("greeter", 0), ("greeter", 1), ("plain", 1), ("alpha", 3), ("beta", 3)]);
    assert_eq!(listing.problems.len(), 2, "{:?}", listing.problems);
    assert!(
        listing
            .problems
            .iter()
            .any(|p| matches!(p, SearchProblem::Missing { path } if path.ends_with("does-not-exist")))
    );
    assert_eq!(path.find_all("greeter").modules.len(), 2);

    let err = path.find("nobody").expect_err("absent");
    let msg = err.to_string();
    assert!(msg.contains("nobody") && msg.contains("problem"), "{msg}");

    assert!(path.remove(&t.b));
    assert_eq!(path.find("greeter").expect("found").shadowed.len(), 0);
}

#[test]
fn directories_are_listed_on_every_find() {
    let t = tree();
    let mut path = SearchPath::new();
    path.push(&t.b);
    assert!(path.find("late").is_err());
    std::fs::write(t.b.join("late.zip"), pack(&spec("late", "0.1.0", 10)).expect("pack")).expect("write");
    assert!(path.find("late").is_ok());
}
