//! `hotpack gc`: objects a journal refers to stay; the rest is listed (`--dry-run`) and then
//! removed, with the bytes freed.

use crate::new::{Served, hotpack};

#[test]
fn dry_run_lists_then_gc_removes_only_unreferenced_objects() {
    let dir = hotpack_testkit::scratch();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).expect("mkdir");
    let lib = hotpack_testkit::module("greeter-v1");
    let bundle = plugins.join("greeter.zip");
    let packed = hotpack(&["pack".as_ref(), lib.as_os_str(), "-o".as_ref(), bundle.as_os_str()]);
    assert!(packed.status.success(), "{}", String::from_utf8_lossy(&packed.stderr));

    // A real serve writes the journal (and its objects) into the cache.
    let xdg = dir.path().join("xdg");
    {
        let served = Served::start(&plugins, &xdg);
        assert_eq!(served.post("/greeter/version", b"").0, 200);
    }
    let cache = xdg.join("hotpack");
    let journal_dir = std::fs::read_dir(cache.join("serve")).expect("serve").flatten().next().expect("one").path();
    let referenced: Vec<_> =
        std::fs::read_dir(journal_dir.join("objects")).expect("objects").flatten().map(|e| e.path()).collect();
    assert_eq!(referenced.len(), 1, "the journal keeps a copy of the version it serves: {referenced:?}");
    // A library no journal refers to (from an earlier run), in the loader's store.
    let objects = cache.join("objects");
    std::fs::create_dir_all(&objects).expect("mkdir");
    let stale = objects.join(format!("{}.so", "ab".repeat(32)));
    std::fs::write(&stale, vec![7u8; 1000]).expect("write");
    // A signature proof no journal refers to, in the journal's store.
    let stale_proof = journal_dir.join("objects").join(format!("{}.sig", "cd".repeat(32)));
    std::fs::write(&stale_proof, vec![1u8; 10]).expect("write");

    let dry = hotpack(&["gc".as_ref(), "--cache-dir".as_ref(), cache.as_os_str(), "--dry-run".as_ref()]);
    assert!(dry.status.success(), "{}", String::from_utf8_lossy(&dry.stderr));
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(text.contains(&format!("would remove {} (1000 bytes)", stale.display())), "{text}");
    assert!(text.contains(&format!("would remove {} (10 bytes)", stale_proof.display())), "{text}");
    assert!(text.contains("would remove 2 object(s), 1010 bytes; kept"), "{text}");
    assert!(stale.exists(), "--dry-run removes nothing");

    let gc = hotpack(&["gc".as_ref(), "--cache-dir".as_ref(), cache.as_os_str()]);
    assert!(gc.status.success(), "{}", String::from_utf8_lossy(&gc.stderr));
    let text = String::from_utf8_lossy(&gc.stdout);
    assert!(text.contains("removed 2 object(s), 1010 bytes") && text.contains("1 journal(s)"), "{text}");
    assert!(!stale.exists() && !stale_proof.exists());
    assert!(referenced.iter().all(|p| p.exists()), "what the journal refers to stays");

    // A damaged journal stops gc before anything is removed.
    std::fs::write(&stale, b"again").expect("write");
    std::fs::write(journal_dir.join("journal.json"), b"{ cut").expect("damage");
    let gc = hotpack(&["gc".as_ref(), "--cache-dir".as_ref(), cache.as_os_str()]);
    assert_eq!(gc.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&gc.stderr).contains("nothing was removed"));
    assert!(stale.exists());
}
