//! Interop with other zip tools: Info-ZIP `unzip`/`zip` and python3's `zipfile` accept what
//! hotpack writes, and hotpack accepts their rewrites of it.

use std::path::Path;
use std::process::Command;

use hotpack_archive::{Bundle, Limits, PackSpec, pack_modules, pack_to_file};

use crate::common::{TARGET, spec, tool};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The bundle at `path` opens, verifies, and holds exactly `spec`'s content.
fn assert_same_content(path: &Path, spec: &PackSpec) {
    let bundle = Bundle::open(path, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    bundle.verify_all().unwrap_or_else(|e| panic!("{e}"));
    let name = &spec.meta.name;
    assert_eq!(bundle.read_library(name, TARGET).expect("library"), spec.library);
    for (rel, data) in &spec.resources {
        assert_eq!(&bundle.read(name, rel).expect("resource"), data);
    }
}

/// Whether the first local header of the zip at `path` has the data-descriptor flag.
fn first_entry_uses_descriptor(path: &Path) -> bool {
    let bytes = std::fs::read(path).expect("read");
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    u16::from_le_bytes([bytes[6], bytes[7]]) & 8 != 0
}

fn big_spec() -> PackSpec {
    let mut s = spec("greeter", "1.4.0", 200_000);
    s.resources.push(("data/zeros.bin".into(), vec![0; 300_000]));
    s.resources.push(("data/deep/nested/file.txt".into(), b"nested".to_vec()));
    s
}

#[test]
fn unzip_and_python_accept_what_hotpack_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("greeter.zip");
    pack_to_file(&big_spec(), &path).expect("pack");
    let out = run(tool("unzip").arg("-t").arg(&path));
    assert!(out.contains("No errors detected"), "{out}");
    let py = run(tool("python3").arg("-c").arg(
        "import sys, zipfile\n\
         z = zipfile.ZipFile(sys.argv[1])\n\
         assert z.testzip() is None\n\
         for i in z.infolist():\n\
         \x20   assert i.date_time == (1980, 1, 1, 0, 0, 0), i\n\
         \x20   assert (i.external_attr >> 16) & 0o777 == 0o644, oct(i.external_attr)\n\
         \x20   assert i.extra == b'' and i.flag_bits & 8 == 0 and i.comment == b'', i\n\
         \x20   want = zipfile.ZIP_STORED if i.filename == 'hotpack.json' or i.filename.startswith('lib/') else zipfile.ZIP_DEFLATED\n\
         \x20   assert i.compress_type == want, i\n\
         print(len(z.infolist()))\n",
    ).arg(&path));
    assert_eq!(py.trim(), "6");

    let multi = dir.path().join("multi.zip");
    let a = spec("alpha", "1.0.0", 1000);
    std::fs::write(&multi, pack_modules(&[("plugins/alpha", &a), ("beta", &spec("beta", "1.0.0", 10))]).expect("pack"))
        .expect("write");
    let out = run(tool("unzip").arg("-t").arg(&multi));
    assert!(out.contains("No errors detected"), "{out}");
}

#[test]
fn python_rewrites_are_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = big_spec();
    let path = dir.path().join("greeter.zip");
    pack_to_file(&s, &path).expect("pack");
    for (method, name, seekable) in [
        ("ZIP_STORED", "stored.zip", true),
        ("ZIP_DEFLATED", "deflated.zip", true),
        // Written to a pipe: not seekable, so python uses data descriptors.
        ("ZIP_DEFLATED", "streamed.zip", false),
    ] {
        let out = dir.path().join(name);
        let script = "import sys, zipfile, io\n\
             src = zipfile.ZipFile(sys.argv[1])\n\
             method = getattr(zipfile, sys.argv[2])\n\
             class Unseekable(io.RawIOBase):\n\
             \x20   def __init__(self, f): self.f = f\n\
             \x20   def writable(self): return True\n\
             \x20   def write(self, b): return self.f.write(b)\n\
             f = open(sys.argv[3], 'wb')\n\
             target = f if sys.argv[4] == 'seek' else Unseekable(f)\n\
             with zipfile.ZipFile(target, 'w', compression=method) as dst:\n\
             \x20   for info in src.infolist():\n\
             \x20       dst.writestr(info.filename, src.read(info.filename))\n\
             f.close()\n";
        run(tool("python3").arg("-c").arg(script).arg(&path).arg(method).arg(&out).arg(if seekable {
            "seek"
        } else {
            "stream"
        }));
        assert_same_content(&out, &s);
        assert_eq!(first_entry_uses_descriptor(&out), !seekable, "{name}");
        assert_ne!(
            std::fs::read(&out).expect("read"),
            std::fs::read(&path).expect("read"),
            "{name} really is a rewrite"
        );
    }
}

#[test]
fn info_zip_rewrites_are_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = big_spec();
    let path = dir.path().join("greeter.zip");
    pack_to_file(&s, &path).expect("pack");
    let tree = dir.path().join("tree");
    run(tool("unzip").arg("-q").arg(&path).arg("-d").arg(&tree));
    // With directory entries (allowed, ignored), without them, stored only (-0).
    for (name, flags) in [
        ("rezip.zip", vec!["-r", "-q"]),
        ("rezip-nodirs.zip", vec!["-r", "-q", "-D"]),
        ("rezip-stored.zip", vec!["-r", "-q", "-0"]),
    ] {
        let out = dir.path().join(name);
        run(tool("zip").current_dir(&tree).args(&flags).arg(&out).arg("."));
        assert_same_content(&out, &s);
    }
    // Streamed to stdout: Info-ZIP writes data descriptors.
    let streamed = dir.path().join("streamed.zip");
    let out = tool("zip").current_dir(&tree).args(["-r", "-q", "-", "."]).output().expect("zip runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(&streamed, &out.stdout).expect("write");
    assert!(first_entry_uses_descriptor(&streamed), "a pipe is not seekable");
    assert_same_content(&streamed, &s);
}
