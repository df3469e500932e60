//! `hotpack pack <LIB> -o <BUNDLE> [--resource <FILE>]...`: a built cdylib into a bundle.
//!
//! Name, version, interfaces, handlers and hooks are read from the module's own
//! descriptor (the author states them once, in code): the library is loaded (and checked)
//! through the loader, from memory, without running any of its functions.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct PackArgs {
    /// The built module library (e.g. target/release/libgreeter.so)
    lib: PathBuf,
    /// Where to write the bundle (written atomically)
    #[arg(short, long)]
    output: PathBuf,
    /// A resource file to include: `PATH` (stored under its file name) or `NAME=PATH`
    #[arg(long = "resource", value_name = "FILE")]
    resources: Vec<String>,
}

pub(crate) fn run(args: PackArgs) -> Result<ExitCode> {
    let mut resources = Vec::new();
    for spec in &args.resources {
        let (name, path) = match spec.split_once('=') {
            Some((name, path)) => (name.to_owned(), PathBuf::from(path)),
            None => {
                let path = PathBuf::from(spec);
                let name = file_name(&path)?;
                (name, path)
            }
        };
        let content = std::fs::read(&path).with_context(|| format!("{}: cannot read resource", path.display()))?;
        resources.push((name, content));
    }
    let resource_count = resources.len();
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let loader = hotpack::loader::Loader::new(scratch.path())?;
    let meta = hotpack::pack_library_with(&loader, &args.lib, &args.output, resources)
        .with_context(|| format!("cannot pack {} into {}", args.lib.display(), args.output.display()))?;
    println!(
        "packed {} {} ({} handler(s), {} interface(s), {} resource(s)) into {}",
        crate::log::escape(&meta.name),
        meta.version,
        meta.handlers.len(),
        meta.interfaces.len(),
        resource_count,
        crate::log::path(&args.output)
    );
    Ok(ExitCode::SUCCESS)
}

fn file_name(path: &Path) -> Result<String> {
    match path.file_name().and_then(|n| n.to_str()) {
        Some(name) => Ok(name.to_owned()),
        None => bail!("{}: has no UTF-8 file name", path.display()),
    }
}
