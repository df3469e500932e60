//! `cargo xtask etcd-proto`: regenerates the vendored etcd client's gRPC code
//! (`vendor/etcd-client/src/rpc/generated/`) from its `.proto` files, and records the blake3 of
//! the inputs and outputs in `vendor/etcd-client/GENERATED.blake3`, which a test
//! (tests/all/vendor.rs) checks so the checked-in code cannot go stale silently.
//! `cargo xtask no-protoc`: builds the CLI with the fleet in a place where protoc cannot be found.
//!
//! This is the only place in the workspace that needs `protoc` (PROTOC or on PATH).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The generated modules the vendored client includes (`src/rpc/pb.rs`).
const MODULES: [&str; 5] = ["authpb", "etcdserverpb", "mvccpb", "v3electionpb", "v3lockpb"];

/// Where the vendored client lives, relative to the workspace root.
const VENDORED: &str = "vendor/etcd-client";

/// Runs the generator crate (`vendor/etcd-client/codegen`, a workspace of its own) and copies
/// its output in.
pub fn regenerate() -> Result<()> {
    let root = crate::root();
    let vendored = root.join(VENDORED);
    let has_protoc = std::env::var_os("PROTOC").is_some_and(|p| Path::new(&p).is_file()) || on_path("protoc");
    if !has_protoc {
        bail!(
            "protoc not found (PROTOC or PATH): on Debian/Ubuntu `sudo apt-get install protobuf-compiler`; \
             only this task needs it"
        );
    }
    let target = crate::target_root(&root);
    let out = target.join("etcd-proto-out");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot clear {}", out.display()))?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut cmd = crate::cargo();
    cmd.args(["run", "--quiet", "--locked", "--manifest-path"])
        .arg(vendored.join("codegen/Cargo.toml"))
        .arg("--target-dir")
        .arg(target.join("etcd-codegen"))
        .arg("--")
        .arg(vendored.join("proto"))
        .arg(&out);
    crate::run(cmd)?;
    for module in MODULES {
        let from = out.join(format!("{module}.rs"));
        let to = vendored.join("src/rpc/generated").join(format!("{module}.rs"));
        std::fs::copy(&from, &to).with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    let record = record(&vendored)?;
    let path = vendored.join("GENERATED.blake3");
    std::fs::write(&path, record).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("xtask: {} regenerated; {} updated", vendored.join("src/rpc/generated").display(), path.display());
    Ok(())
}

/// `GENERATED.blake3`: one `<blake3>  <path>` line per `.proto` input and generated file,
/// paths relative to `vendored`, sorted (the same text tests/all/vendor.rs computes).
fn record(vendored: &Path) -> Result<String> {
    let mut files = Vec::new();
    collect(&vendored.join("proto"), "proto", &mut files)?;
    collect(&vendored.join("src/rpc/generated"), "rs", &mut files)?;
    let mut lines: Vec<String> = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let rel = file.strip_prefix(vendored).context("a collected file is under the vendored crate")?;
        lines.push(format!("{}  {}", blake3::hash(&bytes).to_hex(), rel.display()));
    }
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    let mut text = String::from(
        "# blake3 of etcd-client's .proto inputs and of the code generated from them; written by\n\
         # `cargo xtask etcd-proto`, checked by tests/all/vendor.rs. Do not edit by hand.\n",
    );
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

fn collect(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, ext, out)?;
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// `cargo xtask no-protoc`: `cargo build --release -p hotpack-cli --features fleet` with
/// `PROTOC=/nonexistent` and no `protoc` on PATH, in `<target>/no-protoc` (its own target dir:
/// a build script that wanted protoc would run and fail there even when the main target dir
/// already holds its output). A PATH directory holding `protoc` (often `/usr/bin`, with the C
/// compiler the build needs) is replaced by a mirror of symlinks to everything else in it.
pub fn no_protoc() -> Result<()> {
    let root = crate::root();
    let target = crate::target_root(&root).join("no-protoc");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut kept: Vec<PathBuf> = Vec::new();
    for (i, dir) in std::env::split_paths(&path).enumerate() {
        if !dir.join("protoc").exists() {
            kept.push(dir);
            continue;
        }
        let mirror = target.join("path").join(i.to_string());
        if mirror.exists() {
            std::fs::remove_dir_all(&mirror).with_context(|| format!("cannot clear {}", mirror.display()))?;
        }
        std::fs::create_dir_all(&mirror).with_context(|| format!("cannot create {}", mirror.display()))?;
        for entry in std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("protoc") {
                continue;
            }
            std::os::unix::fs::symlink(entry.path(), mirror.join(&name))
                .with_context(|| format!("cannot link {} into {}", entry.path().display(), mirror.display()))?;
        }
        kept.push(mirror);
    }
    let mut cmd = crate::cargo();
    cmd.args(["build", "--locked", "-p", "hotpack-cli", "--features", "fleet"])
        .env("PROTOC", "/nonexistent")
        .env("PATH", std::env::join_paths(kept).context("PATH without protoc")?)
        .env("CARGO_TARGET_DIR", &target);
    crate::run(cmd)?;
    eprintln!("xtask: the CLI with the fleet builds with PROTOC=/nonexistent and no protoc on PATH");
    Ok(())
}
