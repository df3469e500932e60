//! `hotpack verify` against bundles packed by hotpack-archive, and damaged copies of them.

use std::path::Path;

use hotpack_archive::pack;

use crate::inspect::{hotpack, spec};

fn verify(path: &Path) -> (Option<i32>, String, String) {
    let out = hotpack(&["verify".as_ref(), path.as_os_str()]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_good_bundle_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("greeter.zip");
    std::fs::write(&path, pack(&spec("greeter", "1.0.0")).expect("pack")).expect("write");
    let (code, out, err) = verify(&path);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 1);
    assert!(out.starts_with("ok: ") && out.contains("greeter 1.0.0"), "{out}");
}

#[test]
fn a_changed_library_byte_names_the_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("greeter.zip");
    let s = spec("greeter", "1.0.0");
    let mut bytes = pack(&s).expect("pack");
    // Flip a byte inside the stored library's data (found by content).
    let at = bytes.windows(s.library.len()).position(|w| w == s.library.as_slice()).expect("stored verbatim");
    bytes[at + 100] ^= 0xff;
    std::fs::write(&path, &bytes).expect("write");
    let (code, out, err) = verify(&path);
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("greeter.zip") && err.contains("lib/x86_64-unknown-linux-gnu/libgreeter.so"), "{err}");
    assert!(err.contains("crc-32"), "{err}");
}

#[test]
fn hostile_inputs_give_one_line_and_never_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = pack(&spec("greeter", "1.0.0")).expect("pack");
    let mut inputs: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("garbage".into(), b"\x00\x01 garbage".repeat(100)),
        ("truncated".into(), good[..good.len() / 3].to_vec()),
    ];
    // Deterministic pseudo-random mutations across the whole file.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for n in 0..40 {
        let mut bytes = good.clone();
        for _ in 0..(1 + n % 4) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % bytes.len() as u64) as usize;
            bytes[i] = (x >> 32) as u8;
        }
        inputs.push((format!("mutant{n}"), bytes));
    }
    for (name, bytes) in inputs {
        let path = dir.path().join(format!("{name}.zip"));
        std::fs::write(&path, &bytes).expect("write");
        let (code, out, err) = verify(&path);
        assert!(matches!(code, Some(0 | 1)), "{name}: exit {code:?}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        if code == Some(1) {
            assert_eq!(err.lines().count(), 1, "{name}: {err}");
            assert!(err.contains(&format!("{name}.zip")), "{name}: {err}");
        } else {
            assert!(out.starts_with("ok: "), "{name}: {out}");
        }
    }
    let (code, _, err) = verify(&dir.path().join("missing.zip"));
    assert_eq!(code, Some(1));
    assert!(err.contains("missing.zip"), "{err}");
    let (code, _, err) = verify(dir.path());
    assert_eq!(code, Some(1), "a directory is not a bundle: {err}");
}
