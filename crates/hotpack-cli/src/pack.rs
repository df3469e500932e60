//! `hotpack pack <LIB> -o <BUNDLE> [--resource <FILE>]...`: a built cdylib into a bundle.
//!
//! Name, version, interfaces, handlers and hooks are read from the module's own
//! descriptor (the author states them once, in code), as data: `module!` writes it into the
//! library's `.hotpack.descriptor` ELF section, and `hotpack_loader::describe` reads that
//! from the bytes that are packed. Nothing of the library is mapped or run, in any process.
//!
//! `-o PATH` is written atomically (a temporary file renamed over it) and only ever replaces
//! a regular file: a symlink, a directory, a device (`/dev/null`, `/dev/stdout`) or a FIFO at
//! PATH is refused. `-o -` writes the bundle to stdout (the summary line goes to stderr).

use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(crate) struct PackArgs {
    /// The built module library (e.g. target/release/libgreeter.so)
    lib: PathBuf,
    /// Where to write the bundle (atomically; replaces only a regular file); `-` for stdout
    #[arg(short, long, value_name = "BUNDLE")]
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
    let to_stdout = args.output.as_os_str() == "-";
    if !to_stdout {
        refuse_non_regular(&args.output)?;
    }
    let context = || format!("cannot pack {} into {}", args.lib.display(), args.output.display());
    let library = std::fs::read(&args.lib).with_context(|| format!("cannot read library {}", args.lib.display()))?;
    let library_name = file_name(&args.lib)?;
    let spec = hotpack::cache::pack_spec_from_library(&library_name, library, resources).with_context(context)?;
    if to_stdout {
        let bytes = hotpack::archive::pack(&spec).with_context(context)?;
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes).and_then(|()| out.flush()).context("cannot write the bundle to stdout")?;
    } else {
        hotpack::archive::pack_to_file(&spec, &args.output).with_context(context)?;
    }
    let meta = spec.meta;
    let summary = format!(
        "packed {} {} ({} handler(s), {} interface(s), {} resource(s)) into {}",
        crate::log::escape(&meta.name),
        meta.version,
        meta.handlers.len(),
        meta.interfaces.len(),
        resource_count,
        if to_stdout { "stdout".to_owned() } else { crate::log::path(&args.output) }
    );
    if to_stdout {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses an output path that holds anything but a regular file (checked without following
/// a symlink): the atomic rename would replace it with a regular file.
fn refuse_non_regular(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(meta) => {
            let what = if meta.file_type().is_symlink() {
                "a symbolic link"
            } else if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file (a device, FIFO or socket)"
            };
            bail!("{} is {what}; -o replaces only a regular file (use -o - to write to stdout)", crate::log::path(path))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot check {}", crate::log::path(path)))),
    }
}

fn file_name(path: &Path) -> Result<String> {
    match path.file_name().and_then(|n| n.to_str()) {
        Some(name) => Ok(name.to_owned()),
        None => bail!("{}: has no UTF-8 file name", path.display()),
    }
}
