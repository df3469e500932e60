//! The conventions every subcommand follows: usage errors exit 2 through clap (with "did you
//! mean"), runtime failures exit 1 with one `error: ` line that prints each cause once,
//! completions and the man page come from the same definition.

use std::process::{Command, Output};

fn hotpack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpack")).args(args).output().expect("run hotpack")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn usage_errors_exit_2_with_a_suggestion() {
    let out = hotpack(&["inspec", "x.zip"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("similar subcommand exists: 'inspect'"), "{}", stderr(&out));

    let out = hotpack(&["pack", "lib.so", "--outptu", "x.zip"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--output"), "a flag is suggested too: {}", stderr(&out));
}

#[test]
fn range_checks_are_usage_errors() {
    let dir = hotpack_testkit::scratch();
    let path = dir.path().to_str().expect("utf8");
    for args in [
        vec!["serve", path, "--threads", "0"],
        vec!["serve", path, "--max-calls", "0"],
        vec!["serve", path, "--read-timeout", "0"],
        vec!["watch", path, "--poll-ms", "0"],
        vec!["demo", "--size-mb", "0"],
    ] {
        let out = hotpack(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("error: invalid value '0'"), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn runtime_failures_exit_1_with_one_prefix_and_each_cause_once() {
    let dir = hotpack_testkit::scratch();
    let out = hotpack(&["pack", dir.path().to_str().expect("utf8"), "-o", "/nonexistent-dir/x.zip"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && !err.contains("hotpack:"), "{err}");
    let cause = std::io::Error::from_raw_os_error(21).to_string(); // "Is a directory (os error 21)"
    assert_eq!(err.matches(&cause).count(), 1, "the cause once: {err}");
}

#[test]
fn completions_and_man_page_are_generated() {
    let out = hotpack(&["completions", "bash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("_hotpack()") && script.contains("inspect") && script.contains("complete "), "{script}");
    for shell in ["zsh", "fish"] {
        let out = hotpack(&["completions", shell]);
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}: {}", stderr(&out));
    }
    assert_eq!(hotpack(&["completions", "tcsh"]).status.code(), Some(2));

    let out = hotpack(&["__man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH hotpack 1") && page.contains("inspect") && page.contains("gc"), "{page}");
    // One page per subcommand too, with its own options.
    let dir = hotpack_testkit::scratch();
    let out = hotpack(&["__man", "--dir", dir.path().to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pack = std::fs::read_to_string(dir.path().join("hotpack-pack.1")).expect("hotpack-pack.1");
    assert!(pack.contains(".TH hotpack-pack 1") && pack.contains("output"), "{pack}");
    assert!(dir.path().join("hotpack.1").is_file() && dir.path().join("hotpack-gc.1").is_file());
    // The man page generator stays out of --help.
    let help = String::from_utf8_lossy(&hotpack(&["--help"]).stdout).into_owned();
    assert!(!help.contains("__man") && help.contains("completions"), "{help}");
}
