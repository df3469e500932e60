//! The hostile corpus, generated here: every rejection a reader performs, each expected
//! as its own `BundleError` variant, through one data-driven `check` helper.

use std::io::Write;

use hotpack_archive::{Bundle, BundleError, BundleErrorKind, HeaderField, Limits, ManifestError, PathProblem};

use crate::rawzip::{E, LIB, RES, build, manifest_json, valid};

/// Open `bytes` and verify every entry; the first error must satisfy `expected`, and its
/// one-line message must name the bundle.
#[track_caller]
fn check_with(case: &str, bytes: Vec<u8>, limits: &Limits, expected: impl Fn(&BundleError) -> bool) {
    let origin = format!("{case}.zip");
    seed(case, &bytes);
    let result = Bundle::from_bytes(bytes, &origin, limits).and_then(|b| b.verify_all().map(|_| b));
    match result {
        Ok(_) => panic!("{case}: accepted, expected a rejection"),
        Err(err) => {
            let msg = err.to_string();
            assert!(expected(&err), "{case}: wrong error: {err:?} ({msg})");
            assert!(msg.contains(&origin), "{case}: message does not name the bundle: {msg}");
            assert!(!msg.contains('\n'), "{case}: message is not one line: {msg}");
            assert_eq!(err.bundle(), std::path::Path::new(&origin));
        }
    }
}

/// With `HOTPACK_FUZZ_SEEDS=DIR` set, every case is also written to `DIR/hostile-<case>.zip`:
/// the seeds of the `bundle` fuzz target (`cargo xtask fuzz --seed`, docs/FUZZING.md).
pub fn seed(case: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("HOTPACK_FUZZ_SEEDS") {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).expect("seed dir");
        std::fs::write(dir.join(format!("hostile-{case}.zip")), bytes).expect("seed written");
    }
}

#[track_caller]
fn check(case: &str, bytes: Vec<u8>, expected: impl Fn(&BundleError) -> bool) {
    check_with(case, bytes, &Limits::default(), expected);
}

fn with(f: impl FnOnce(&mut Vec<E>)) -> Vec<u8> {
    let mut entries = valid();
    f(&mut entries);
    build(&entries)
}

/// A raw deflate stream of `mib` MiB of zeros: one full-flushed block of 1 MiB of zeros
/// repeated (full flush resets the window, so the copies are independent), then an empty
/// final block. Small, and built in microseconds.
fn zeros_deflate(mib: usize) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let zeros = vec![0u8; 1 << 20];
    let mut block = Vec::with_capacity(8 << 10);
    c.compress_vec(&zeros, &mut block, flate2::FlushCompress::Full).expect("compress");
    assert_eq!(c.total_in(), 1 << 20, "the whole MiB went in");
    let mut out = Vec::with_capacity(block.len() * mib + 2);
    for _ in 0..mib {
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(&[0x03, 0x00]); // final, fixed-Huffman, end-of-block
    out
}

#[test]
fn the_valid_baseline_is_accepted() {
    seed("valid", &build(&valid()));
    let bundle = Bundle::from_bytes(build(&valid()), "ok.zip", &Limits::default()).expect("valid");
    bundle.verify_all().expect("verifies");
    assert_eq!(bundle.read("greeter", "res.txt").expect("read"), RES);
}

#[test]
fn the_zeros_stream_really_inflates_to_zeros() {
    let stream = zeros_deflate(3);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::DeflateDecoder::new(&stream[..]), &mut out).expect("inflate");
    assert_eq!(out.len(), 3 << 20);
    assert!(out.iter().all(|&b| b == 0));
}

#[test]
fn not_a_zip() {
    check("empty", Vec::new(), |e| matches!(e.kind(), BundleErrorKind::Empty));
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    check("garbage", garbage, |e| matches!(e.kind(), BundleErrorKind::NotAZip));
    check("tiny", b"PK".to_vec(), |e| matches!(e.kind(), BundleErrorKind::NotAZip));
    let ok = build(&valid());
    check("truncated-half", ok[..ok.len() / 2].to_vec(), |e| matches!(e.kind(), BundleErrorKind::Truncated { .. }));
    check("truncated-end", ok[..ok.len() - 5].to_vec(), |e| matches!(e.kind(), BundleErrorKind::Truncated { .. }));
    // The end record survives but the central directory it points at is cut off in front.
    let cut = ok.len() - 22 - 10;
    let mut front_cut = ok[..cut - 40].to_vec();
    front_cut.extend_from_slice(&ok[cut..]);
    check("truncated-cd", front_cut, |e| {
        matches!(e.kind(), BundleErrorKind::Truncated { .. } | BundleErrorKind::Malformed { .. })
    });
}

#[test]
fn manifest_membership() {
    check(
        "unclaimed",
        with(|v| v.push(E::stored("extra.txt", b"x"))),
        |e| matches!(e.kind(), BundleErrorKind::NotInManifest if e.entry() == Some("extra.txt")),
    );
    check(
        "missing",
        with(|v| {
            v.pop();
        }),
        |e| matches!(e.kind(), BundleErrorKind::MissingEntry { module, .. } if e.entry() == Some("res.txt") && module == "greeter"),
    );
    check("no-manifest", build(&[E::stored("lib/libg.so", LIB)]), |e| matches!(e.kind(), BundleErrorKind::NoManifest));
    let sub_manifest = manifest_json("other", &[("lib.so", LIB)]);
    check(
        "claimed-twice",
        build(&[
            E::stored("hotpack.json", &manifest_json("greeter", &[("sub/lib.so", LIB)])),
            E::stored("sub/hotpack.json", &sub_manifest),
            E::stored("sub/lib.so", LIB),
        ]),
        |e| matches!(e.kind(), BundleErrorKind::ClaimedTwice { .. } if e.entry() == Some("sub/lib.so")),
    );
    check(
        "duplicate-module",
        build(&[
            E::stored("a/hotpack.json", &manifest_json("greeter", &[("lib.so", LIB)])),
            E::stored("a/lib.so", LIB),
            E::stored("b/hotpack.json", &manifest_json("greeter", &[("lib.so", LIB)])),
            E::stored("b/lib.so", LIB),
        ]),
        |e| matches!(e.kind(), BundleErrorKind::DuplicateModule { name, .. } if name == "greeter"),
    );
}

#[test]
fn content_checks() {
    // Same length, CRC recomputed: only the blake3 in the manifest catches it.
    let mut evil = RES.to_vec();
    evil[0] ^= 1;
    check(
        "hash",
        with(|v| v[2] = E::deflated("res.txt", &evil)),
        |e| matches!(e.kind(), BundleErrorKind::HashMismatch { .. } if e.entry() == Some("res.txt")),
    );
    check(
        "size",
        with(|v| v[2] = E::deflated("res.txt", b"short")),
        |e| matches!(e.kind(), BundleErrorKind::SizeMismatch { expected, found: 5, .. } if e.entry() == Some("res.txt") && *expected == RES.len() as u64),
    );
    check(
        "crc",
        with(|v| {
            v[1].crc ^= 0xdead;
        }),
        |e| matches!(e.kind(), BundleErrorKind::CrcMismatch { .. } if e.entry() == Some("lib/libg.so")),
    );
    check(
        "corrupt-deflate",
        with(|v| {
            let n = v[2].data.len();
            v[2].data = vec![0xff; n];
        }),
        |e| matches!(e.kind(), BundleErrorKind::Corrupt { .. } if e.entry() == Some("res.txt")),
    );
}

#[test]
fn names() {
    let cases: &[(&str, &[u8], PathProblem)] = &[
        ("absolute", b"/etc/passwd", PathProblem::Absolute),
        ("dotdot", b"../escape.txt", PathProblem::ParentDir),
        ("dotdot-inner", b"a/../../escape.txt", PathProblem::ParentDir),
        ("backslash", b"a\\b.txt", PathProblem::Backslash),
        ("drive", b"C:/windows/x.dll", PathProblem::DriveLetter),
        ("empty-component", b"a//b", PathProblem::NotNormal),
        ("not-utf8", b"caf\xe9.txt", PathProblem::NotUtf8),
    ];
    for &(case, name, problem) in cases {
        let mut e = E::stored("x", b"x");
        e.name = name.to_vec();
        check(
            case,
            with(|v| v.push(e)),
            |err| matches!(err.kind(), BundleErrorKind::UnsafePath { problem: p, .. } if *p == problem),
        );
    }
    check(
        "duplicate",
        with(|v| v.push(E::stored("res.txt", RES))),
        |e| matches!(e.kind(), BundleErrorKind::DuplicateEntry if e.entry() == Some("res.txt")),
    );
}

#[test]
fn entry_kinds() {
    check(
        "symlink",
        with(|v| v[2].external = 0o120_777 << 16),
        |e| matches!(e.kind(), BundleErrorKind::Symlink { .. } if e.entry() == Some("res.txt")),
    );
    check(
        "encrypted",
        with(|v| v[2].flags |= 1),
        |e| matches!(e.kind(), BundleErrorKind::Encrypted if e.entry() == Some("res.txt")),
    );
    check(
        "bzip2",
        with(|v| {
            v[2].method = 12;
            v[2].local_method = Some(12);
        }),
        |e| matches!(e.kind(), BundleErrorKind::UnsupportedMethod { method: 12, .. }),
    );
    check("directory-with-data", with(|v| v.push(E::stored("dir/", b"data"))), |e| {
        matches!(e.kind(), BundleErrorKind::Malformed { .. })
    });
    // Directory entries without data are allowed and ignored.
    let ok = with(|v| v.push(E::stored("lib/", b"")));
    Bundle::from_bytes(ok, "dirs.zip", &Limits::default())
        .expect("directory entries are ignored")
        .verify_all()
        .expect("verifies");
}

#[test]
fn overlapping_entries() {
    // Two central records share one local header (the classic overlap bomb).
    check("same-offset", with(|v| v[2].offset_of = Some((1, 0))), |e| {
        matches!(e.kind(), BundleErrorKind::Overlap { .. })
    });
    // A record starts inside another entry's data.
    check("inside-data", with(|v| v[2].offset_of = Some((1, 40))), |e| {
        matches!(e.kind(), BundleErrorKind::Overlap { .. })
    });
    // An entry's data runs into the central directory.
    check(
        "into-cd",
        with(|v| {
            v[2].csize += 20;
            v[2].usize += 20;
            v[2].local_csize = Some(v[2].csize);
            v[2].local_usize = Some(v[2].usize);
        }),
        |e| matches!(e.kind(), BundleErrorKind::Overlap { other, .. } if other == "<central directory>"),
    );
}

#[test]
fn header_disagreement() {
    type Edit = Box<dyn Fn(&mut E)>;
    let cases: Vec<(&str, Edit, HeaderField)> = vec![
        ("name", Box::new(|e: &mut E| e.local_name = Some(b"lib/libh.so".to_vec())), HeaderField::Name),
        ("method", Box::new(|e: &mut E| e.local_method = Some(8)), HeaderField::Method),
        ("crc", Box::new(|e: &mut E| e.local_crc = Some(e.crc ^ 1)), HeaderField::Crc32),
        ("csize", Box::new(|e: &mut E| e.local_csize = Some(e.csize - 1)), HeaderField::CompressedSize),
        ("usize", Box::new(|e: &mut E| e.local_usize = Some(e.usize + 1)), HeaderField::UncompressedSize),
    ];
    for (case, edit, field) in cases {
        check(
            &format!("header-{case}"),
            with(|v| edit(&mut v[1])),
            |e| matches!(e.kind(), BundleErrorKind::HeaderMismatch { field: f, .. } if *f == field && e.entry() == Some("lib/libg.so")),
        );
    }
}

#[test]
fn caps() {
    let mut few = Limits::default();
    few.max_entries = 2;
    check_with("too-many", build(&valid()), &few, |e| {
        matches!(e.kind(), BundleErrorKind::TooManyEntries { count: 3, max: 2, .. })
    });

    // A declared 4 GB entry: refused from the central directory, nothing allocated.
    check(
        "declared-4gb",
        with(|v| {
            v[2].usize = 4_000_000_000;
            v[2].local_usize = Some(4_000_000_000);
        }),
        |e| matches!(e.kind(), BundleErrorKind::EntryTooLarge { size: 4_000_000_000, .. }),
    );

    let mut small_total = Limits::default();
    small_total.max_total_size = 100;
    check_with("total", build(&valid()), &small_total, |e| {
        matches!(e.kind(), BundleErrorKind::TotalTooLarge { max: 100, .. })
    });

    let mut small_manifest = Limits::default();
    small_manifest.max_manifest_size = 64;
    check_with(
        "manifest-size",
        build(&valid()),
        &small_manifest,
        |e| matches!(e.kind(), BundleErrorKind::ManifestTooLarge { .. } if e.entry() == Some("hotpack.json")),
    );

    let mut small_file = Limits::default();
    small_file.max_bundle_size = 100;
    check_with("file-size", build(&valid()), &small_file, |e| {
        matches!(e.kind(), BundleErrorKind::BundleTooLarge { max: 100, .. })
    });
}

#[test]
fn compression_bomb_of_512_mib_of_zeros() {
    let stream = zeros_deflate(512);
    assert!(stream.len() < 4 << 20, "the bomb is small on disk: {} bytes", stream.len());
    let zeros_crc = {
        let mut h = crc32fast::Hasher::new();
        let mib = vec![0u8; 1 << 20];
        for _ in 0..512 {
            h.update(&mib);
        }
        h.finalize()
    };
    let bomb = |declared: u32| {
        let mut e = E::stored("bomb.bin", b"");
        e.method = 8;
        e.data = stream.clone();
        e.csize = stream.len() as u32;
        e.usize = declared;
        e.crc = zeros_crc;
        e
    };
    // Honest header: refused at open by the ratio cap, before inflating a byte.
    check(
        "bomb",
        with(|v| v.push(bomb(512 << 20))),
        |e| matches!(e.kind(), BundleErrorKind::CompressionRatio { uncompressed, .. } if e.entry() == Some("bomb.bin") && *uncompressed == 512 << 20),
    );
    // Lying header (declares 1,000 bytes, claimed by the manifest): inflation stops one
    // byte past the declared size.
    let files: [(&str, &[u8]); 2] = [("lib/libg.so", LIB), ("bomb.bin", &[0u8; 1000])];
    let entries =
        vec![E::stored("hotpack.json", &manifest_json("greeter", &files)), E::stored("lib/libg.so", LIB), bomb(1000)];
    check(
        "lying-bomb",
        build(&entries),
        |e| matches!(e.kind(), BundleErrorKind::SizeMismatch { expected: 1000, found: 1001, .. } if e.entry() == Some("bomb.bin")),
    );
}

#[test]
fn manifests() {
    let manifest_with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&manifest_json("greeter", &[("lib/libg.so", LIB), ("res.txt", RES)])).expect("json");
        f(&mut v);
        with(|entries| entries[0] = E::stored("hotpack.json", &serde_json::to_vec(&v).expect("json")))
    };
    check(
        "json",
        with(|v| v[0] = E::stored("hotpack.json", b"{\"format\": 1,")),
        |e| matches!(e.kind(), BundleErrorKind::Manifest(ManifestError::Json { .. }) if e.entry() == Some("hotpack.json")),
    );
    check(
        "unknown-field",
        manifest_with(&|v| v["handler"] = serde_json::json!([])),
        |e| matches!(e.kind(), BundleErrorKind::Manifest(ManifestError::Json { source }) if source.to_string().contains("handler")),
    );
    check("format", manifest_with(&|v| v["format"] = 2.into()), |e| {
        matches!(e.kind(), BundleErrorKind::Manifest(ManifestError::UnknownFormat { found: 2, .. }))
    });
    check("semver", manifest_with(&|v| v["version"] = "one".into()), |e| {
        matches!(e.kind(), BundleErrorKind::Manifest(ManifestError::BadVersion { .. }))
    });
    check("name", manifest_with(&|v| v["name"] = "greet er".into()), |e| {
        matches!(e.kind(), BundleErrorKind::Manifest(ManifestError::BadName { .. }))
    });
    check("signature", manifest_with(&|v| v["signature"] = "c2ln".into()), |e| {
        matches!(e.kind(), BundleErrorKind::Manifest(ManifestError::UnsupportedSignature))
    });
    check("manifest-invalid", manifest_with(&|v| v["resources"] = serde_json::json!([])), |e| {
        matches!(e.kind(), BundleErrorKind::Manifest(ManifestError::Invalid { .. }))
    });
}

#[test]
fn deflated_manifests_are_read_too() {
    let bytes = with(|v| {
        let json = v[0].data.clone();
        v[0] = E::deflated("hotpack.json", &json);
    });
    Bundle::from_bytes(bytes, "deflated-manifest.zip", &Limits::default())
        .expect("valid")
        .verify_all()
        .expect("verifies");
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.zip");
    let err = Bundle::open(&missing, &Limits::default()).expect_err("missing file");
    assert!(matches!(err.kind(), BundleErrorKind::Io(_)), "{err:?}");
    assert!(err.to_string().contains("nope.zip"));
    let empty = dir.path().join("empty.zip");
    std::fs::File::create(&empty).and_then(|mut f| f.write_all(b"")).expect("write");
    assert!(matches!(Bundle::open(&empty, &Limits::default()), Err(e) if matches!(e.kind(), BundleErrorKind::Empty)));
}

/// The message is one line naming bundle, entry and problem, each once; the I/O cause is
/// the error's source, not repeated in the message.
#[test]
fn messages_name_bundle_entry_and_problem_once() {
    let mut entries = valid();
    let last = entries.len() - 1;
    entries[last].data[0] ^= 1;
    let bundle = Bundle::from_bytes(build(&entries), "b.zip", &Limits::default()).expect("structure is fine");
    let err = bundle.verify_all().expect_err("content was changed");
    let msg = err.to_string();
    let entry = err.entry().expect("names the entry").to_owned();
    assert!(msg.starts_with(&format!("b.zip: entry `{entry}`: ")), "{msg}");
    assert_eq!(msg.matches(&entry).count(), 1, "{msg}");

    let dir = tempfile::tempdir().expect("tempdir");
    let err = Bundle::open(dir.path().join("nope.zip"), &Limits::default()).expect_err("missing");
    let source = std::error::Error::source(&err).expect("the I/O error is the source");
    assert!(!err.to_string().contains(&source.to_string()), "cause printed twice: {err}");
}
