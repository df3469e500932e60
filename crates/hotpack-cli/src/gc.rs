//! `hotpack gc [--cache-dir DIR] [--dry-run]`: prune cached library objects no journal refers to.
//!
//! The cache only grows: every library ever loaded is materialized once as
//! `<cache>/objects/<blake3>.so`, and every journal keeps its own copies of the versions it
//! can roll back to in `<journal dir>/objects/`. This command reads every journal under the
//! cache directory (`**/journal.json`, through `hotpack::rollback::referenced_hashes`, with
//! the journal's own checks) and removes each object no journal refers to. A journal that
//! cannot be read stops it before anything is removed. A process running a removed object
//! keeps it mapped; the next load writes it again.
//!
//! Output: one line per object, `removed <path> (<bytes> bytes)` (`would remove` with
//! `--dry-run`), then a summary with the count and the bytes freed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

/// Arguments of `hotpack gc`.
#[derive(Debug, clap::Args)]
pub(crate) struct GcArgs {
    /// The cache directory [default: $XDG_CACHE_HOME/hotpack, else ~/.cache/hotpack]
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// List what would be removed, remove nothing
    #[arg(long)]
    dry_run: bool,
}

pub(crate) fn run(args: GcArgs) -> anyhow::Result<ExitCode> {
    let cache = match args.cache_dir {
        Some(dir) => dir,
        None => hotpack::default_cache_dir()?,
    };
    if !cache.is_dir() {
        println!("nothing to do: {} does not exist", crate::log::path(&cache));
        return Ok(ExitCode::SUCCESS);
    }
    let mut journals = Vec::new();
    find_journals(&cache, 0, &mut journals)?;
    let mut keep = BTreeSet::new();
    for journal in &journals {
        let hashes = hotpack::rollback::referenced_hashes(journal)
            .with_context(|| format!("journal {} cannot be read, so nothing was removed", crate::log::path(journal)))?;
        keep.extend(hashes.iter().map(|h| h.to_hex().to_string()));
    }
    // The loader's objects, then each journal's own store.
    let mut stores = vec![cache.join("objects")];
    stores.extend(journals.iter().filter_map(|j| j.parent()).map(|d| d.join("objects")));
    let (mut count, mut bytes, mut kept) = (0u64, 0u64, 0u64);
    let verb = if args.dry_run { "would remove" } else { "removed" };
    for store in stores {
        let Ok(entries) = std::fs::read_dir(&store) else { continue };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            // A library copy, or the signature proof stored beside it (`<hash>.sig`).
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".so").or_else(|| n.strip_suffix(".sig")))
            else {
                continue;
            };
            if stem.len() != 64 || !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            if keep.contains(stem) {
                kept += 1;
                continue;
            }
            let path = entry.path();
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if !args.dry_run {
                std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", crate::log::path(&path)))?;
            }
            println!("{verb} {} ({size} bytes)", crate::log::path(&path));
            count += 1;
            bytes += size;
        }
    }
    println!(
        "{verb} {count} object(s), {bytes} bytes; kept {kept} referenced by {} journal(s) in {}",
        journals.len(),
        crate::log::path(&cache)
    );
    Ok(ExitCode::SUCCESS)
}

/// Every `journal.json` under `dir` (a few levels deep; `objects/` directories skipped).
fn find_journals(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", crate::log::path(dir)))?;
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Ok(kind) = entry.file_type() else { continue };
        let path = entry.path();
        if kind.is_file() && entry.file_name() == "journal.json" {
            out.push(path);
        } else if kind.is_dir() && depth < 4 && entry.file_name() != "objects" {
            find_journals(&path, depth + 1, out)?;
        }
    }
    Ok(())
}
