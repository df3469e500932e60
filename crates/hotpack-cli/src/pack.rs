//! `hotpack pack <LIB> -o <BUNDLE> [--resource <FILE>]...`: a built cdylib into a bundle.
//!
//! Name, version, interfaces, handlers and hooks are read from the module's own
//! descriptor (the author states them once, in code). Reading it means loading the
//! library, and loading runs its ELF constructors: so the descriptor is read in a child
//! process (this binary's hidden `__describe` subcommand, in an empty temporary working
//! directory), never in the packing process. The child gets the very bytes that are packed
//! (on stdin) and prints the descriptor as JSON.
//!
//! `-o PATH` is written atomically (a temporary file renamed over it) and only ever replaces
//! a regular file: a symlink, a directory, a device (`/dev/null`, `/dev/stdout`) or a FIFO at
//! PATH is refused. `-o -` writes the bundle to stdout (the summary line goes to stderr).

use anyhow::{Context, Result, bail};
use clap::Args;
use hotpack::archive::{Hooks, InterfaceMeta, ModuleMeta, PackSpec};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

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

/// Arguments of the hidden `hotpack __describe LIB`: the library's bytes come on stdin, LIB
/// only names them in messages.
#[derive(Debug, Args)]
pub(crate) struct DescribeArgs {
    lib: PathBuf,
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
    let (meta, target) = describe_in_child(&args.lib, &library).with_context(context)?;
    let spec = PackSpec { meta, target, library_name, library, resources };
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

/// Reads the descriptor of `library` (the bytes of `lib`) in a child process: whatever the
/// library's constructors do, they do there.
fn describe_in_child(lib: &Path, library: &[u8]) -> Result<(ModuleMeta, String)> {
    let cwd = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut child = Command::new("/proc/self/exe")
        .arg("__describe")
        .arg(lib)
        .current_dir(cwd.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the descriptor reader (hotpack __describe)")?;
    let mut stdin = child.stdin.take().context("the descriptor reader has no stdin")?;
    // The child reads all of stdin before it writes anything, so this cannot deadlock.
    let written = stdin.write_all(library);
    drop(stdin);
    let out = child.wait_with_output().context("the descriptor reader did not finish")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reason = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let reason = reason.strip_prefix("error: ").unwrap_or(reason);
        match (out.status.code(), reason.is_empty()) {
            (Some(_), false) => bail!("{reason}"),
            (Some(code), true) => bail!("the descriptor reader exited with code {code}"),
            (None, _) => {
                use std::os::unix::process::ExitStatusExt;
                let signal = out.status.signal().unwrap_or(0);
                bail!(
                    "loading the library killed the descriptor reader (signal {signal}) before its descriptor was read"
                )
            }
        }
    }
    written.context("cannot hand the library to the descriptor reader")?;
    parse_description(&out.stdout).context("the descriptor reader answered something unexpected")
}

fn parse_description(stdout: &[u8]) -> Result<(ModuleMeta, String)> {
    let v: serde_json::Value = serde_json::from_slice(stdout)?;
    let text = |key: &str| v[key].as_str().map(str::to_owned).with_context(|| format!("no `{key}`"));
    let flag = |key: &str| v["hooks"][key].as_bool().with_context(|| format!("no `hooks.{key}`"));
    let interfaces = v["interfaces"]
        .as_array()
        .context("no `interfaces`")?
        .iter()
        .map(|i| {
            Ok(InterfaceMeta {
                name: i["name"].as_str().context("an interface without a name")?.to_owned(),
                id: i["id"].as_u64().context("an interface without an id")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let handlers = v["handlers"]
        .as_array()
        .context("no `handlers`")?
        .iter()
        .map(|h| h.as_str().map(str::to_owned).context("a handler name that is not text"))
        .collect::<Result<Vec<_>>>()?;
    let meta = ModuleMeta {
        name: text("name")?,
        version: hotpack::archive::semver::Version::parse(&text("version")?)?,
        abi_version: v["abi_version"].as_u64().and_then(|n| u32::try_from(n).ok()).context("no `abi_version`")?,
        rustc: text("rustc")?,
        interfaces,
        handlers,
        hooks: Hooks { init: flag("init")?, state: flag("state")? },
    };
    Ok((meta, text("target")?))
}

/// `hotpack __describe LIB`: load the library given on stdin (checked by the loader, from
/// memory, in a temporary cache) and print its descriptor as one JSON object.
pub(crate) fn describe(args: DescribeArgs) -> Result<ExitCode> {
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes).context("cannot read the library from stdin")?;
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let loader = hotpack::loader::Loader::new(scratch.path())?;
    let module = loader.load_bytes(&bytes, &args.lib)?;
    let info = module.info();
    let json = serde_json::json!({
        "name": info.name,
        "version": info.version.to_string(),
        "abi_version": info.abi_version,
        "rustc": info.rustc,
        "target": info.target,
        "interfaces": info.interfaces.iter().map(|i| serde_json::json!({"name": i.name, "id": i.id})).collect::<Vec<_>>(),
        "handlers": info.handlers,
        "hooks": {"init": info.has_init, "state": info.has_state},
    });
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

fn file_name(path: &Path) -> Result<String> {
    match path.file_name().and_then(|n| n.to_str()) {
        Some(name) => Ok(name.to_owned()),
        None => bail!("{}: has no UTF-8 file name", path.display()),
    }
}
