//! `hotpack verify`: check bundles' structure, manifests, every entry's content and, with
//! trusted keys, their signatures.
//!
//! A plain library (a built `.so`, recognised by its ELF magic) is checked as `pack` would
//! read it: its descriptor section decodes and names a module some host can load. Nothing
//! of it is run. It carries no signature, so it fails under `--trusted-key`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use hotpack::archive::{Bundle, Limits, PublicKey, SignatureStatus};

use crate::log::escape;

/// Arguments of `hotpack verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The bundle files (or plain module libraries).
    #[arg(required = true)]
    bundles: Vec<PathBuf>,
    /// A public key (`KEY.pub` from `hotpack keygen`) a bundle may be signed by; repeatable.
    /// With at least one, every bundle must be signed by one of them.
    #[arg(long = "trusted-key", value_name = "PUB")]
    trusted_keys: Vec<PathBuf>,
    /// One JSON document on stdout instead of lines.
    #[arg(long)]
    json: bool,
}

/// What verifying one bundle found.
struct Outcome {
    ok: bool,
    /// `name version` of each module (bundle text, unescaped).
    modules: Vec<String>,
    entries: usize,
    bytes: u64,
    signature: Option<SignatureStatus>,
    /// The one-line reason it failed.
    problem: Option<String>,
}

fn check_library(path: &Path, trusted: &[PublicKey], mut out: Outcome) -> Outcome {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            out.problem = Some(format!("{}: cannot read: {e}", crate::log::path(path)));
            return out;
        }
    };
    out.bytes = bytes.len() as u64;
    match hotpack::cache::pack_spec_from_library("lib", bytes, Vec::new()) {
        Ok(spec) => out.modules = vec![format!("{} {}", spec.meta.name, spec.meta.version)],
        Err(e) => {
            let e = anyhow::Error::new(e);
            out.problem = Some(format!("{}: {}", crate::log::path(path), crate::log::chain(&e)));
            return out;
        }
    }
    out.signature = Some(SignatureStatus::Unsigned);
    if !trusted.is_empty() {
        out.problem = Some(format!("{}: a plain library carries no signature (sign a bundle)", crate::log::path(path)));
    }
    out.ok = out.problem.is_none();
    out
}

fn check(path: &Path, trusted: &[PublicKey]) -> Outcome {
    let mut out = Outcome { ok: false, modules: Vec::new(), entries: 0, bytes: 0, signature: None, problem: None };
    if crate::library::is_library(path) {
        return check_library(path, trusted, out);
    }
    let bundle = match Bundle::open(path, &Limits::default()) {
        Ok(b) => b,
        Err(e) => {
            out.problem = Some(crate::log::error_chain(&e));
            return out;
        }
    };
    out.modules = bundle.modules().iter().map(|m| format!("{} {}", m.name(), m.manifest().meta.version)).collect();
    match bundle.check_signature(trusted) {
        Ok(status) => out.signature = Some(status),
        Err(e) => {
            out.problem = Some(crate::log::error_chain(&e));
            return out;
        }
    }
    match bundle.verify_all() {
        Ok(report) => {
            out.entries = report.entries;
            out.bytes = report.bytes;
        }
        Err(e) => {
            out.problem = Some(crate::log::error_chain(&e));
            return out;
        }
    }
    out.problem = match out.signature {
        Some(s @ SignatureStatus::Mismatch(_)) => Some(format!("{}: {s}", crate::log::path(path))),
        Some(s @ (SignatureStatus::Unsigned | SignatureStatus::Untrusted(_))) if !trusted.is_empty() => {
            Some(format!("{}: {s}", crate::log::path(path)))
        }
        _ => None,
    };
    out.ok = out.problem.is_none();
    out
}

/// Run `hotpack verify`: one `ok` line per good bundle on stdout, one line per failure on
/// stderr naming the bundle and the problem; exit 0 only when every bundle passed.
pub(crate) fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let trusted = args
        .trusted_keys
        .iter()
        .map(|p| PublicKey::load(p).with_context(|| format!("trusted key {}", crate::log::path(p))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut all_ok = true;
    let mut json = Vec::new();
    for path in &args.bundles {
        let o = check(path, &trusted);
        all_ok &= o.ok;
        if args.json {
            json.push(serde_json::json!({
                "bundle": path.display().to_string(),
                "ok": o.ok,
                "modules": o.modules,
                "entries": o.entries,
                "bytes": o.bytes,
                "signature": o.signature.map(|s| s.to_string()),
                "problem": o.problem,
            }));
        } else if let Some(problem) = &o.problem {
            // Bundle names and reasons quote bundle text: escaped for the terminal.
            eprintln!("error: {}", escape(problem));
        } else {
            let signed = match o.signature {
                Some(SignatureStatus::Trusted(fp)) => format!(", signed by trusted key {fp}"),
                Some(SignatureStatus::Untrusted(fp)) => format!(", signed by key {fp}"),
                _ => ", not signed".to_owned(),
            };
            println!(
                "ok: {}: {} module(s) ({}), {} entries, {} bytes verified{signed}",
                crate::log::path(path),
                o.modules.len(),
                escape(&o.modules.join(", ")),
                o.entries,
                o.bytes
            );
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&json).context("encode the report")?);
    }
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
