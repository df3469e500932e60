//! Tidy checks that run as ordinary tests (rust-analyzer's `xtask/src/tidy.rs` habit).
//!
//! - every `.rs` file of the workspace starts with a `//!` doc comment;
//! - `unsafe` appears only in the loader's `sys` module and the abi crate's `ffi` module;
//! - every `unsafe` block in those modules carries a `// SAFETY:` comment right above it;
//! - no source file under `crates/*/src`, `xtask` or `benches` exceeds 800 lines;
//! - no `expect`/`unwrap` on a path, name or serialisation in the crates that handle paths.

use std::fs;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "target" || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "tests", "benches", "examples"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 5, "tidy found too few files under {}", root.display());
    files
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let mut missing = Vec::new();
    for file in all_rust_files() {
        let text = fs::read_to_string(&file).expect("workspace sources are readable UTF-8");
        if !text.trim_start().starts_with("//!") {
            missing.push(file);
        }
    }
    assert!(missing.is_empty(), "files without a leading `//!` doc: {missing:#?}");
}

/// The code of a line: comments cut off, string literals blanked.
fn code_of(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_str = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_str => {
                chars.next();
            }
            '"' => {
                in_str = !in_str;
                out.push('"');
            }
            '/' if !in_str && chars.peek() == Some(&'/') => break,
            _ if in_str => {}
            _ => out.push(c),
        }
    }
    out
}

/// Files allowed to contain `unsafe`: the loader's sys module and the abi crate's ffi module.
fn unsafe_allowed(path: &Path) -> bool {
    let p = path.to_string_lossy().replace('\\', "/");
    p.ends_with("crates/hotpack-loader/src/sys.rs")
        || p.contains("crates/hotpack-abi/src/ffi")
        || p.ends_with("crates/hotpack-abi/src/macros.rs")
        || p.contains("/tests/all/tidy.rs")
        || p.ends_with("tests/fixtures/fx-worker-null-write/src/lib.rs")
}

#[test]
fn unsafe_lives_only_in_the_loader_and_the_abi_shims() {
    let mut offenders = Vec::new();
    for file in all_rust_files() {
        if unsafe_allowed(&file) {
            continue;
        }
        let text = fs::read_to_string(&file).expect("readable");
        for (n, line) in text.lines().enumerate() {
            let code = code_of(line);
            let unsafe_item =
                ["unsafe {", "unsafe{", "unsafe fn", "unsafe impl", "unsafe trait", "unsafe(", "allow(unsafe_code)"]
                    .iter()
                    .any(|pat| code.contains(pat));
            if unsafe_item {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "unsafe outside the loader/abi: {offenders:#?}");
}

#[test]
fn every_unsafe_block_has_a_safety_comment() {
    let mut offenders = Vec::new();
    for file in all_rust_files() {
        if !unsafe_allowed(&file) || file.ends_with("tidy.rs") {
            continue;
        }
        let text = fs::read_to_string(&file).expect("readable");
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let code = code_of(line);
            if !code.contains("unsafe {") {
                continue;
            }
            // Look back over the contiguous comment block above (or the same line).
            let mut ok = line.contains("SAFETY:");
            let mut k = n;
            while !ok && k > 0 {
                k -= 1;
                let prev = lines[k].trim();
                if prev.starts_with("//") {
                    ok = prev.contains("SAFETY:");
                } else {
                    break;
                }
            }
            if !ok {
                offenders.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "unsafe blocks without `// SAFETY:`: {offenders:#?}");
}

/// The most lines a source file under `crates/*/src`, `xtask` or `benches` may have: past
/// it, split the file (a module per area) so that people working in parallel edit
/// different files.
const MAX_SOURCE_LINES: usize = 800;

#[test]
fn no_source_file_exceeds_800_lines() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ["xtask", "benches"] {
        rust_files(&root.join(dir), &mut files);
    }
    let crates = fs::read_dir(root.join("crates")).expect("the workspace has crates/");
    for krate in crates.flatten() {
        rust_files(&krate.path().join("src"), &mut files);
    }
    assert!(files.len() > 5, "tidy found too few source files under {}", root.display());
    let mut long = Vec::new();
    for file in files {
        let lines = fs::read_to_string(&file).expect("readable").lines().count();
        if lines > MAX_SOURCE_LINES {
            long.push(format!("{}: {lines} lines", file.display()));
        }
    }
    assert!(long.is_empty(), "source files over {MAX_SOURCE_LINES} lines (split them): {long:#?}");
}

/// The crates that handle paths from outside (folders, bundles, journals, requests).
const PATH_CRATES: [&str; 8] = [
    "hotpack-archive",
    "hotpack-cache",
    "hotpack-detect",
    "hotpack-loader",
    "hotpack-rollback",
    "hotpack-util",
    "hotpack",
    "hotpack-cli",
];

/// Conversions that fail on input from outside: a path or name that is not UTF-8, a value
/// that does not serialise.
const FALLIBLE_ON_INPUT: [&str; 6] =
    [".to_str()", "into_string()", "from_utf8(", "serde_json::to_", "to_json", "to_writer"];

/// `file:needle` pairs allowed, each with the reason no outside input reaches it.
const ALLOWED_EXPECTS: [(&str, &str); 1] = [
    // A manifest holds strings, numbers and maps with string keys only: no path, nothing
    // that can fail to serialise.
    ("hotpack-archive/src/manifest.rs", "a manifest of strings and numbers always serialises"),
];

/// No `expect`/`unwrap` on a conversion that external input reaches (a file name, a path, a
/// serialisation): a non-UTF-8 name in a served folder once panicked the watcher thread
/// (issue 21). The non-test code of every crate that handles paths is checked: a line with
/// `.expect(` or `.unwrap()` whose statement (it and the two lines above) converts a path or
/// name or serialises.
#[test]
fn no_expect_or_unwrap_on_paths_or_serialisation() {
    let root = workspace_root();
    let mut offenders = Vec::new();
    for krate in PATH_CRATES {
        let mut files = Vec::new();
        rust_files(&root.join("crates").join(krate).join("src"), &mut files);
        for file in files {
            let text = fs::read_to_string(&file).expect("readable");
            let shown = file.strip_prefix(root.join("crates")).unwrap_or(&file).display().to_string();
            let lines: Vec<&str> = text.lines().take_while(|l| !l.trim_start().starts_with("#[cfg(test)]")).collect();
            if shown.ends_with("tests.rs") {
                continue;
            }
            for (n, line) in lines.iter().enumerate() {
                let code = code_of(line);
                if !code.contains(".expect(") && !code.contains(".unwrap()") {
                    continue;
                }
                let statement: String = lines[n.saturating_sub(2)..=n].iter().map(|l| code_of(l)).collect();
                if !FALLIBLE_ON_INPUT.iter().any(|p| statement.contains(p)) {
                    continue;
                }
                if ALLOWED_EXPECTS.iter().any(|(f, needle)| shown.ends_with(f) && line.contains(needle)) {
                    continue;
                }
                offenders.push(format!("{shown}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "expect/unwrap on a path, name or serialisation outside input reaches (return a typed error): {offenders:#?}"
    );
}
