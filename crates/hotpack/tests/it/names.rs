//! Every file name through the library: bundles and libraries whose names are not UTF-8,
//! hold newlines or control characters, or are 255 bytes long are deployed, watched, rolled
//! back and restored from the journal by a new runtime, never a panic.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hotpack::rollback::Policy;
use hotpack::{Event, Runtime, WatchReport};

fn odd_names(ext: &str) -> Vec<Vec<u8>> {
    let long = format!("{}.{ext}", "n".repeat(254 - ext.len()));
    assert_eq!(long.len(), 255);
    vec![
        [b"gr\xffeeter.".as_slice(), ext.as_bytes()].concat(),
        [b"a\nb\r\x1b[31m\x07.".as_slice(), ext.as_bytes()].concat(),
        long.into_bytes(),
    ]
}

fn packed(package: &str) -> Vec<u8> {
    let scratch = hotpack_testkit::scratch();
    let out = scratch.path().join("b.zip");
    hotpack::pack_library(&hotpack_testkit::module(package), &out, vec![]).expect("pack a fixture");
    std::fs::read(&out).expect("read the bundle")
}

fn runtime(dir: &Path, plugins: &Path) -> Runtime {
    builder(dir, plugins).build().expect("runtime")
}

fn builder(dir: &Path, plugins: &Path) -> hotpack::RuntimeBuilder {
    Runtime::builder()
        .cache_dir(dir.join("cache"))
        .journal(dir.join("journal").join("journal.json"))
        .search_path(plugins)
        .quiet(Duration::from_millis(20))
}

fn greet(runtime: &Runtime) -> String {
    String::from_utf8(runtime.call("greeter", "greet", b"ann").expect("greeter answers")).expect("utf-8")
}

#[test]
fn deploy_rollback_and_restore_take_any_file_name() {
    for (ext, v1, v2) in [
        ("zip", packed("greeter-v1"), packed("greeter-v2")),
        ("so", hotpack_testkit::module_bytes("greeter-v1"), hotpack_testkit::module_bytes("greeter-v2")),
    ] {
        for name in odd_names(ext) {
            let label = String::from_utf8_lossy(&name).into_owned();
            let dir = hotpack_testkit::scratch();
            let plugins = dir.path().join("plugins");
            std::fs::create_dir(&plugins).expect("mkdir");
            let file: PathBuf = plugins.join(OsStr::from_bytes(&name));
            {
                let runtime = runtime(dir.path(), &plugins);
                hotpack::archive::write_atomic(&file, &v1).expect("write v1");
                runtime.deploy(&file).unwrap_or_else(|e| panic!("{label:?}: {e}"));
                hotpack::archive::write_atomic(&file, &v2).expect("write v2");
                runtime.deploy(&file).unwrap_or_else(|e| panic!("{label:?}: {e}"));
                assert!(greet(&runtime).contains("(v2,"), "{label:?}");
                runtime.rollback("greeter").unwrap_or_else(|e| panic!("{label:?}: {e}"));
                assert!(greet(&runtime).contains("(v1,"), "{label:?}");
                assert!(runtime.supervisor().journal_problem().is_none(), "{label:?}: journaled");
            }
            std::fs::remove_file(&file).expect("remove the file: only the journal remembers it");
            let runtime = runtime(dir.path(), &plugins);
            let report = runtime.restore().expect("restore");
            assert!(report.problems.is_empty(), "{label:?}: {:?}", report.problems);
            assert!(greet(&runtime).contains("(v1,"), "{label:?}: restored on the version that served");
            let status = runtime.status("greeter").expect("a status");
            assert_eq!(status.active.map(|a| a.source.path()), Some(file.clone()), "{label:?}: the exact path");
        }
    }
}

#[test]
fn watch_deploys_files_of_any_name() {
    let dir = hotpack_testkit::scratch();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    let runtime = builder(dir.path(), &plugins)
        .policy(Policy { allow_downgrade: true, ..Policy::default() })
        .build()
        .expect("runtime");
    let events = runtime.subscribe();
    let _watching = runtime.watch().expect("watch");
    for (i, name) in odd_names("zip").into_iter().enumerate() {
        let package = if i % 2 == 0 { "greeter-v1" } else { "greeter-v2" };
        hotpack::archive::write_atomic(&plugins.join(OsStr::from_bytes(&name)), &packed(package)).expect("write");
        loop {
            match events.recv_timeout(Duration::from_secs(30)).expect("a deploy outcome") {
                Event::Deploy(WatchReport::Deployed { .. }) => break,
                Event::Deploy(WatchReport::Refused { error, .. }) => {
                    panic!("{:?}: {error}", String::from_utf8_lossy(&name))
                }
                _ => {}
            }
        }
    }
    assert!(runtime.supervisor().journal_problem().is_none());
}
