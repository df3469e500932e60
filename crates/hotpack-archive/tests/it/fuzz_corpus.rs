//! The kept fuzz corpus (`fuzz/corpus/`, docs/FUZZING.md) in the normal suite: python3's
//! `zipfile` reads every kept bundle input, and wherever hotpack accepts one (open and
//! `verify_all`), Python agrees: the same entries, in the same order, with the same bytes.
//! Also the seeds of real bundles the corpus grew from (written with `HOTPACK_FUZZ_SEEDS`).

use std::path::{Path, PathBuf};
use std::process::Command;

use hotpack_archive::{Bundle, Limits, SigningKey, pack, pack_modules};

use crate::common::spec;
use crate::hostile::seed;

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

/// Real bundles as seeds: single- and multi-module, signed, a deflated manifest.
#[test]
fn real_bundles_open_and_seed_the_corpus() {
    let single = pack(&spec("greeter", "1.0.0", 300)).expect("pack");
    let multi =
        pack_modules(&[("plugins/alpha", &spec("alpha", "1.0.0", 40)), ("beta", &spec("beta", "2.0.0-rc.1", 10))])
            .expect("pack");
    let key = SigningKey::from_seed(&[7; 32]);
    let signed = Bundle::from_bytes(single.clone(), "s.zip", &Limits::default())
        .expect("opens")
        .signed_bytes(&key)
        .expect("signs");
    for (case, bytes) in [("real-single", single), ("real-multi", multi), ("real-signed", signed)] {
        Bundle::from_bytes(bytes.clone(), case, &Limits::default()).expect("opens").verify_all().expect("verifies");
        seed(case, &bytes);
    }
}

const PY: &str = r#"
import json, os, sys, zipfile
out = {}
for name in sorted(os.listdir(sys.argv[1])):
    path = os.path.join(sys.argv[1], name)
    try:
        with zipfile.ZipFile(path) as z:
            entries = []
            for i in z.infolist():
                raw = i.filename.encode('utf-8' if i.flag_bits & 0x800 else 'cp437')
                data = b'' if i.is_dir() else z.read(i)
                entries.append([raw.hex(), i.is_dir(), data.hex()])
            out[name] = {"ok": entries}
    except Exception as e:
        out[name] = {"error": type(e).__name__ + ": " + str(e)}
print(json.dumps(out))
"#;

#[test]
fn python_zipfile_agrees_on_every_kept_bundle_input() {
    let dir = corpus("bundle");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    assert!(files.len() >= 20, "the kept corpus is in the repository ({} files)", files.len());
    let output = Command::new("python3").arg("-c").arg(PY).arg(&dir).output().expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let python: serde_json::Value = serde_json::from_slice(&output.stdout).expect("python prints JSON");
    let mut accepted = 0;
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8 file name");
        let bytes = std::fs::read(path).expect("readable");
        let Ok(bundle) = Bundle::from_bytes(bytes, path, &Limits::default()) else { continue };
        if bundle.verify_all().is_err() {
            continue;
        }
        accepted += 1;
        let theirs = python[name]["ok"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: hotpack accepts, python refuses: {}", python[name]["error"]));
        let ours: Vec<_> = bundle.entries().collect();
        assert_eq!(theirs.len(), ours.len(), "{name}: entry count");
        for (entry, t) in ours.iter().zip(theirs) {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            assert_eq!(t[0].as_str(), Some(hex(entry.name.as_bytes()).as_str()), "{name}: entry name");
            assert_eq!(t[1].as_bool(), Some(entry.is_dir), "{name}: `{}` kind", entry.name);
            if !entry.is_dir {
                let mut content = Vec::new();
                std::io::Read::read_to_end(&mut bundle.open_entry(entry.name).expect("opens"), &mut content)
                    .expect("verified");
                assert_eq!(t[2].as_str(), Some(hex(&content).as_str()), "{name}: `{}` content", entry.name);
            }
        }
    }
    assert!(accepted >= 3, "the kept corpus holds accepted bundles too ({accepted})");
}

/// Every input a fuzz target or the python check ever failed on (`fuzz/regressions/<target>/`)
/// stays refused: the first two were archive comments holding a second end record, which the zip
/// crate (`crash-9803...`: 3 entries where hotpack saw 4) and python's zipfile
/// (`python-69fa...`: "not a zip file") took as the end of the archive.
#[test]
fn every_bundle_a_fuzz_run_failed_on_stays_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/bundle");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        let bytes = std::fs::read(&path).expect("readable");
        let err = Bundle::from_bytes(bytes, &path, &Limits::default())
            .and_then(|b| b.verify_all().map(|_| b))
            .expect_err("a regression input is refused");
        assert!(
            matches!(err.kind(), hotpack_archive::BundleErrorKind::Malformed { .. }),
            "{}: {err:?}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 2, "the regression inputs are in the repository");
}
