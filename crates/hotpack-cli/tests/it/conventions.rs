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

/// The subcommands `hotpack --help` lists (hidden ones and `help` left out).
fn visible_subcommands() -> Vec<String> {
    let help = String::from_utf8_lossy(&hotpack(&["--help"]).stdout).into_owned();
    let commands = help.split("Commands:").nth(1).expect("a Commands: section");
    commands
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The README's command table: (subcommand, the flags its row names).
fn readme_table() -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(hotpack_testkit::workspace_root().join("README.md")).expect("README.md");
    let section = readme.split("## The `hotpack` command").nth(1).expect("the command section");
    section
        .lines()
        .skip_while(|l| !l.starts_with("| `hotpack"))
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cell = row.split('`').nth(1).expect("a command cell");
            let mut words = cell.split_whitespace().skip(1);
            let sub = words.next().expect("a subcommand").to_owned();
            let flags = cell
                .split(|c: char| c.is_whitespace() || "[]<>|".contains(c))
                .filter(|w| w.starts_with('-') && w.len() > 1 && *w != "-")
                .map(|w| w.trim_end_matches("...").split('=').next().unwrap_or(w).to_owned())
                .collect();
            (sub, flags)
        })
        .collect()
}

/// Every subcommand's `--help` works and exits 0; the README's table has one row per
/// visible subcommand, and every flag a row names is in that subcommand's `--help`.
#[test]
fn every_help_works_and_the_readme_table_matches_it() {
    let subs = visible_subcommands();
    assert!(subs.len() >= 12, "{subs:?}");
    let table = readme_table();
    let listed: Vec<&str> = table.iter().map(|(sub, _)| sub.as_str()).collect();
    for sub in &subs {
        let out = hotpack(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{sub} --help: {}", stderr(&out));
        assert!(!out.stdout.is_empty(), "{sub} --help prints help");
        assert!(listed.contains(&sub.as_str()), "the README's command table has no row for `hotpack {sub}`");
    }
    for (sub, flags) in &table {
        assert!(subs.contains(sub), "the README lists `hotpack {sub}`, which `hotpack --help` does not");
        if sub == "fleet" && !cfg!(feature = "fleet") {
            continue; // this build's `fleet` only says how to get it
        }
        let help = String::from_utf8_lossy(&hotpack(&[sub, "--help"]).stdout).into_owned();
        for flag in flags {
            assert!(
                help.contains(flag.as_str()),
                "README names `{flag}` for `hotpack {sub}`; its --help does not:\n{help}"
            );
        }
    }
    // `-h` and `--help` open with the same summary.
    let short = String::from_utf8_lossy(&hotpack(&["-h"]).stdout).into_owned();
    let long = String::from_utf8_lossy(&hotpack(&["--help"]).stdout).into_owned();
    let first = |text: &str| text.lines().next().map(|l| l.trim_end_matches('.').to_owned());
    assert_eq!(first(&short), first(&long), "-h and --help summaries differ");
}

/// Hidden subcommands stay out of completion scripts; a file the CLI writes is `-o/--output`
/// everywhere (the old `--out` still parses).
#[test]
fn hidden_commands_are_not_completed_and_output_is_one_spelling() {
    for shell in ["bash", "zsh", "fish"] {
        let script = String::from_utf8_lossy(&hotpack(&["completions", shell]).stdout).into_owned();
        assert!(!script.contains("__man") && !script.contains("__describe"), "{shell} completes a hidden command");
    }
    for sub in ["pack", "keygen", "sign"] {
        let help = String::from_utf8_lossy(&hotpack(&[sub, "--help"]).stdout).into_owned();
        assert!(help.contains("-o, --output"), "{sub}: {help}");
    }
    let dir = hotpack_testkit::scratch();
    let key = dir.path().join("k");
    let out = hotpack(&["keygen", "--out", key.to_str().expect("utf8")]);
    assert!(out.status.success(), "the old spelling still works: {}", stderr(&out));
}

/// A missing bundle: `inspect` and `verify` say it the same way, the path once and the OS
/// cause once; a public key passed to `sign --key` is named as such, with the file to use.
#[test]
fn errors_name_each_thing_once_and_say_what_to_do() {
    let dir = hotpack_testkit::scratch();
    let missing = dir.path().join("missing.zip");
    let missing = missing.to_str().expect("utf8");
    let cause = std::io::Error::from_raw_os_error(2).to_string();
    for sub in ["inspect", "verify"] {
        let out = hotpack(&[sub, missing]);
        assert_eq!(out.status.code(), Some(1), "{sub}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.matches(missing).count(), 1, "{sub} names the path once: {err}");
        assert_eq!(err.matches(&cause).count(), 1, "{sub} keeps the OS cause: {err}");
    }
    let key = dir.path().join("release.key");
    assert!(hotpack(&["keygen", "-o", key.to_str().expect("utf8")]).status.success());
    let public = format!("{}.pub", key.display());
    let out = hotpack(&["sign", missing, "--key", &public]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("is a public key") && err.contains(&format!("--key {}", key.display())), "{err}");
    assert!(!err.contains("chmod"), "no chmod advice for a public key: {err}");
}
