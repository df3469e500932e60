//! Tidy checks that run as ordinary tests (rust-analyzer's `xtask/src/tidy.rs` habit).
//!
//! - every `.rs` file of the workspace starts with a `//!` doc comment;
//! - `unsafe` appears only in the loader's `sys` module and the abi crate's `ffi` module;
//! - every `unsafe` block in those modules carries a `// SAFETY:` comment right above it.

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
