//! `hotpack pack`: real cdylibs into bundles that `verify`, `inspect`, `unzip -t` accept.

use std::path::Path;
use std::process::{Command, Output};

fn hotpack(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpack")).args(args).output().expect("run hotpack")
}

fn pack(lib: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["pack".as_ref(), lib.as_os_str(), "-o".as_ref(), out.as_os_str()];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    hotpack(&args)
}

#[test]
fn packs_a_real_module_from_its_own_descriptor() {
    let dir = hotpack_testkit::scratch();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "resource content\n").expect("write");
    let lib = hotpack_testkit::module("greeter-v1");
    let out = dir.path().join("greeter.zip");
    let resource = format!("docs/notes.txt={}", notes.display());
    let result = pack(&lib, &out, &["--resource", &resource]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(String::from_utf8_lossy(&result.stdout).contains("packed greeter 1.0.0"));

    let verify = hotpack(&["verify".as_ref(), out.as_os_str()]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));

    let inspect = hotpack(&["inspect".as_ref(), "--json".as_ref(), out.as_os_str()]);
    assert!(inspect.status.success());
    let text = String::from_utf8_lossy(&inspect.stdout);
    let json: serde_json::Value = serde_json::from_str(&text).expect("inspect --json prints JSON");
    let rendered = json.to_string();
    for needle in ["\"greeter\"", "\"1.0.0\"", "\"greet\"", "\"Greeter\"", "docs/notes.txt"] {
        assert!(rendered.contains(needle), "{needle} missing from {rendered}");
    }

    hotpack_testkit::tools::need("unzip", "unzip");
    let unzip = Command::new("unzip").arg("-t").arg(&out).output().expect("unzip is installed");
    assert!(unzip.status.success(), "{}", String::from_utf8_lossy(&unzip.stdout));

    // Deterministic: the same inputs give the same bytes.
    let again = dir.path().join("again.zip");
    assert!(pack(&lib, &again, &["--resource", &resource]).status.success());
    assert_eq!(std::fs::read(&out).expect("read"), std::fs::read(&again).expect("read"));
}

#[test]
fn refuses_a_library_that_is_not_a_module() {
    let dir = hotpack_testkit::scratch();
    let out = dir.path().join("bad.zip");
    let lib = hotpack_testkit::module("fx-no-descriptor");
    let result = pack(&lib, &out, &[]);
    assert!(!result.status.success());
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(err.contains("hotpack_module_descriptor"), "{err}");
    assert!(err.contains("libfx_no_descriptor.so"), "{err}");
    assert!(!out.exists(), "no bundle is written for a bad library");
    let missing = pack(&dir.path().join("nope.so"), &out, &[]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.so"));
}

#[test]
fn output_replaces_only_a_regular_file_and_dash_is_stdout() {
    let dir = hotpack_testkit::scratch();
    let lib = hotpack_testkit::module("greeter-v1");

    // A symlink (like /dev/stdout) is left alone, and so is what it points to.
    let target = dir.path().join("precious.txt");
    std::fs::write(&target, "keep me").expect("write");
    let link = dir.path().join("link.zip");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let result = pack(&lib, &link, &[]);
    assert_eq!(result.status.code(), Some(1));
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(err.starts_with("error: ") && err.contains("symbolic link") && err.contains("-o -"), "{err}");
    assert!(std::fs::symlink_metadata(&link).expect("still there").file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me");

    // A device, a directory: refused too.
    for path in [Path::new("/dev/null"), dir.path()] {
        let result = pack(&lib, path, &[]);
        assert_eq!(result.status.code(), Some(1), "{}", path.display());
        assert!(String::from_utf8_lossy(&result.stderr).contains("-o replaces only a regular file"));
    }
    use std::os::unix::fs::FileTypeExt as _;
    assert!(std::fs::metadata("/dev/null").expect("/dev/null").file_type().is_char_device(), "untouched");

    // A regular file is replaced atomically.
    let out = dir.path().join("greeter.zip");
    std::fs::write(&out, "old").expect("write");
    assert!(pack(&lib, &out, &[]).status.success());
    let file = std::fs::read(&out).expect("read");
    assert!(file.starts_with(b"PK"), "a zip replaced the old file");

    // `-o -`: the same bundle on stdout, the summary on stderr.
    let result = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .current_dir(dir.path())
        .args(["pack".as_ref(), lib.as_os_str(), "-o".as_ref(), "-".as_ref()])
        .output()
        .expect("run hotpack");
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert_eq!(result.stdout, file, "deterministic: stdout holds the same bytes");
    assert!(String::from_utf8_lossy(&result.stderr).contains("into stdout"));
    assert!(!dir.path().join("-").exists(), "no file named `-`");
}

/// Reading the descriptor loads the library, which runs its ELF constructors: `hotpack pack`
/// does that in a child process in a temporary directory, never in its own process.
#[test]
fn the_library_constructors_never_run_in_the_packing_process() {
    let dir = hotpack_testkit::scratch();
    let marker = dir.path().join("constructor-ran");
    let out = dir.path().join("ctor.zip");
    let lib = hotpack_testkit::module("fx-ctor-marker");
    let child = Command::new(env!("CARGO_BIN_EXE_hotpack"))
        .args(["pack".as_ref(), lib.as_os_str(), "-o".as_ref(), out.as_os_str()])
        .current_dir(dir.path())
        .env("HOTPACK_FX_CTOR_MARKER", &marker)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run hotpack pack");
    let pack_pid = child.id();
    let result = child.wait_with_output().expect("wait");
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    assert!(String::from_utf8_lossy(&result.stdout).contains("packed ctor-marker 0.1.0"));
    let writer: u32 = std::fs::read_to_string(&marker)
        .expect("the constructor ran (in the descriptor reader)")
        .parse()
        .expect("a pid");
    assert_ne!(writer, pack_pid, "the constructor ran inside `hotpack pack` itself");
    let verify = hotpack(&["verify".as_ref(), out.as_os_str()]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
}
