//! `hotpack inspect BUNDLE...`: show what bundles hold (modules, manifests, entries), as text
//! or, with `--json`, one JSON array with an object per module of every bundle.
//!
//! A plain library (a built `.so`, recognised by its ELF magic) is shown too: its
//! descriptor is read as data from its `.hotpack.descriptor` section, nothing of it is run.
//!
//! Every bundle is shown that can be; one that cannot be opened is reported (`error: ...`)
//! and the exit status is 1.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use hotpack::archive::{Bundle, BundleModule, Limits};
use hotpack::loader::StaticDescriptor;
use serde_json::{Value, json};

use crate::log::escape;

/// Arguments of `hotpack inspect`.
#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// Print one JSON array holding an object per module of every bundle (shape: FORMAT.md,
    /// "inspect --json").
    #[arg(long)]
    json: bool,
    /// The bundle files (or plain module libraries).
    #[arg(required = true, value_name = "BUNDLE")]
    bundles: Vec<PathBuf>,
}

/// Run `hotpack inspect`. Opening validates structure and manifests; content hashes are
/// shown as declared (use `hotpack verify` to check them).
pub(crate) fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let mut code = ExitCode::SUCCESS;
    let mut json = Vec::new();
    for path in &args.bundles {
        if crate::library::is_library(path) {
            match crate::library::describe(path) {
                Ok(desc) if args.json => json.push(library_json(path, &desc)),
                Ok(desc) => print!(
                    "{}",
                    library_human(path, &desc).lines().map(|l| format!("{}\n", escape(l))).collect::<String>()
                ),
                Err(err) => {
                    eprintln!("error: {}", escape(&crate::log::chain(&err)));
                    code = ExitCode::FAILURE;
                }
            }
            continue;
        }
        let bundle = match Bundle::open(path, &Limits::default()) {
            Ok(bundle) => bundle,
            Err(err) => {
                // The bundle error names the path already.
                eprintln!("error: {}", escape(&crate::log::error_chain(&err)));
                code = ExitCode::FAILURE;
                continue;
            }
        };
        let mut out = String::new();
        for module in bundle.modules() {
            if args.json {
                json.push(module_json(&bundle, module));
            } else {
                human(&bundle, module, &mut out);
            }
        }
        // Names come from the bundle: no control character reaches the terminal (JSON output
        // escapes them itself).
        let out: String = out.lines().map(|line| format!("{}\n", escape(line))).collect();
        print!("{out}");
    }
    if args.json {
        println!("{}", serde_json::to_string(&Value::Array(json)).context("serialising JSON")?);
    }
    Ok(code)
}

/// The interfaces the module's library requires, read from its descriptor section (the
/// manifest does not list them; nothing is run). `None` when no library could be read.
fn bundle_requires(bundle: &Bundle, module: &BundleModule) -> Option<Vec<hotpack::loader::InterfaceInfo>> {
    let libraries = &module.manifest().libraries;
    let target = if libraries.contains_key(hotpack::abi::TARGET) {
        hotpack::abi::TARGET
    } else {
        libraries.keys().next()?.as_str()
    };
    let bytes = bundle.read_library(module.name(), target).ok()?;
    hotpack::loader::describe(&bytes).ok().map(|d| d.info.requires)
}

fn module_json(bundle: &Bundle, module: &BundleModule) -> Value {
    let m = module.manifest();
    let sizes: std::collections::HashMap<&str, (u64, String)> =
        bundle.entries().map(|e| (e.name, (e.compressed_size, e.method.to_string()))).collect();
    let kind = |rel: &str| if m.libraries.values().any(|p| p == rel) { "library" } else { "resource" };
    let entries: Vec<Value> = m
        .entries
        .iter()
        .map(|(rel, digest)| {
            let path = format!("{}{rel}", module.dir());
            let (compressed, method) = sizes.get(path.as_str()).cloned().unwrap_or_default();
            json!({
                "name": rel,
                "path": path,
                "kind": kind(rel),
                "size": digest.size,
                "compressed_size": compressed,
                "method": method,
                "blake3": digest.blake3_hex(),
            })
        })
        .collect();
    json!({
        "bundle": bundle.path().display().to_string(),
        "dir": module.dir(),
        "name": m.meta.name,
        "version": m.meta.version.to_string(),
        "abi_version": m.meta.abi_version,
        "rustc": m.meta.rustc,
        "interfaces": m.meta.interfaces.iter().map(|i| json!({"name": i.name, "id": format!("{:016x}", i.id)})).collect::<Vec<_>>(),
        "handlers": m.meta.handlers,
        "requires": bundle_requires(bundle, module).map(|r| requires_json(&r)),
        "hooks": {"init": m.meta.hooks.init, "state": m.meta.hooks.state},
        "libraries": m.libraries,
        "resources": m.resources,
        "entries": entries,
    })
}

fn interfaces_json(list: &[hotpack::loader::InterfaceInfo]) -> Vec<Value> {
    list.iter().map(|i| json!({"name": i.name, "id": format!("{:016x}", i.id)})).collect()
}

/// Requirements as interfaces plus `range`: the provider versions accepted (`null`: any).
fn requires_json(list: &[hotpack::loader::InterfaceInfo]) -> Vec<Value> {
    list.iter()
        .map(|i| json!({"name": i.name, "id": format!("{:016x}", i.id), "range": i.range.as_ref().map(ToString::to_string)}))
        .collect()
}

/// A requirement's line: name, id, and its range when it has one.
fn requires_line(i: &hotpack::loader::InterfaceInfo) -> String {
    match &i.range {
        Some(range) => format!("  requires:    {} {:016x} (provider version {range})", i.name, i.id),
        None => format!("  requires:    {} {:016x}", i.name, i.id),
    }
}

fn library_json(path: &std::path::Path, desc: &StaticDescriptor) -> Value {
    let i = &desc.info;
    json!({
        "library": path.display().to_string(),
        "name": i.name,
        "version": i.version.to_string(),
        "abi_version": i.abi_version,
        "layout_version": desc.layout_version,
        "rustc": i.rustc,
        "target": i.target,
        "panic": if desc.panic_strategy == hotpack::abi::PANIC_UNWIND { "unwind" } else { "abort" },
        "interfaces": interfaces_json(&i.interfaces),
        "requires": requires_json(&i.requires),
        "handlers": i.handlers,
        "hooks": {"init": i.has_init, "state": i.has_state},
    })
}

fn library_human(path: &std::path::Path, desc: &StaticDescriptor) -> String {
    use std::fmt::Write as _;
    let i = &desc.info;
    let mut out = String::new();
    let _ = writeln!(out, "{}: library, module {} {} (descriptor section; not run)", path.display(), i.name, i.version);
    let _ = writeln!(out, "  abi version: {} (descriptor layout {})", i.abi_version, desc.layout_version);
    let _ = writeln!(out, "  rustc:       {}", i.rustc);
    let _ = writeln!(out, "  target:      {}", i.target);
    let panic = if desc.panic_strategy == hotpack::abi::PANIC_UNWIND { "unwind" } else { "abort (no host loads it)" };
    let _ = writeln!(out, "  panic:       {panic}");
    for f in &i.interfaces {
        let _ = writeln!(out, "  interface:   {} {:016x}", f.name, f.id);
    }
    for f in &i.requires {
        let _ = writeln!(out, "{}", requires_line(f));
    }
    let _ = writeln!(out, "  handlers:    {}", i.handlers.join(", "));
    let _ = writeln!(out, "  hooks:       init={} state={}", i.has_init, i.has_state);
    out
}

fn human(bundle: &Bundle, module: &BundleModule, out: &mut String) {
    use std::fmt::Write as _;
    let m = module.manifest();
    let dir = if module.dir().is_empty() { "/" } else { module.dir() };
    let _ = writeln!(out, "{}: module {} {} (directory {dir})", bundle.path().display(), m.meta.name, m.meta.version);
    let _ = writeln!(out, "  abi version: {}", m.meta.abi_version);
    let _ = writeln!(out, "  rustc:       {}", m.meta.rustc);
    for i in &m.meta.interfaces {
        let _ = writeln!(out, "  interface:   {} {:016x}", i.name, i.id);
    }
    let _ = writeln!(out, "  handlers:    {}", m.meta.handlers.join(", "));
    for r in bundle_requires(bundle, module).unwrap_or_default() {
        let _ = writeln!(out, "{}", requires_line(&r));
    }
    let _ = writeln!(out, "  hooks:       init={} state={}", m.meta.hooks.init, m.meta.hooks.state);
    for (target, path) in &m.libraries {
        let _ = writeln!(out, "  library:     {target} -> {path}");
    }
    let _ = writeln!(out, "  entries:");
    for (rel, digest) in &m.entries {
        let _ = writeln!(out, "    {:>12}  {}  {rel}", digest.size, digest.blake3_hex());
    }
}
