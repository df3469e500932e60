//! `hotpack new NAME [--path DIR] [--abi-path PATH]`: a module crate that builds on its own.
//!
//! Writes `Cargo.toml` (a `cdylib`, `panic = "unwind"` stated in the release profile, the
//! `hotpack-abi` dependency by version or by path, an empty `[workspace]` table so the crate
//! never joins an enclosing workspace), `src/lib.rs` (one handler and its unit test),
//! `README.md` (how to `dev`, `pack` and `serve` it) and `.gitignore`. Refuses a directory
//! that exists and is not empty, and a name that is not both a module name and a crate name.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

/// Arguments of `hotpack new`.
#[derive(Debug, clap::Args)]
pub(crate) struct NewArgs {
    /// The module's name (also the crate's): letters, digits, `_` and `-`, starting with a letter
    #[arg(value_name = "NAME")]
    name: String,
    /// Where to create the crate (default: ./NAME); must not exist or be empty
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// Depend on hotpack-abi by path (a checkout's crates/hotpack-abi) instead of by version
    #[arg(long, value_name = "PATH")]
    abi_path: Option<PathBuf>,
}

/// The hotpack-abi version a new module depends on: the one this CLI was built with.
const ABI_VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .with_context(|| format!("{} exists and is not a readable directory", crate::log::path(&dir)))?
            .next()
            .is_none();
        if !empty {
            bail!("{} already exists and is not empty; choose another --path", crate::log::path(&dir));
        }
    }
    let abi = match &args.abi_path {
        Some(path) => {
            let path = std::path::absolute(path)
                .with_context(|| format!("cannot make {} absolute", crate::log::path(path)))?;
            if !path.join("Cargo.toml").is_file() {
                bail!(
                    "--abi-path {}: no Cargo.toml there (expected <clone>/crates/hotpack-abi)",
                    crate::log::path(&path)
                );
            }
            let text = path.to_str().with_context(|| format!("{}: not UTF-8", crate::log::path(&path)))?;
            format!("{{ version = \"{ABI_VERSION}\", path = {} }}", toml_string(text))
        }
        None => format!("\"{ABI_VERSION}\""),
    };
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("cannot create {}", crate::log::path(&dir)))?;
    let files = [
        ("Cargo.toml", cargo_toml(&args.name, &abi)),
        ("src/lib.rs", lib_rs(&args.name)),
        ("README.md", readme(&args.name)),
        (".gitignore", "/target\n*.zip\n".to_owned()),
    ];
    for (rel, content) in files {
        write_new(&dir.join(rel), &content)?;
    }
    println!("created module crate `{}` in {}", args.name, crate::log::path(&dir));
    println!("next: cd {} && cargo build --release   (then see README.md: dev, pack, serve)", crate::log::path(&dir));
    Ok(ExitCode::SUCCESS)
}

/// The module-name rule (bundles, the loader) and the crate-name rule (cargo) at once.
fn check_name(name: &str) -> anyhow::Result<()> {
    hotpack::util::name::check_module_name(name)?;
    let first_is_letter = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_is_letter || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        bail!("`{}` cannot name a crate: use letters, digits, `_` and `-`, starting with a letter", name);
    }
    Ok(())
}

fn write_new(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", crate::log::path(path)))?;
    file.write_all(content.as_bytes()).with_context(|| format!("cannot write {}", crate::log::path(path)))
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The scaffolded `Cargo.toml` (the README's "Writing a module" shows the same file).
pub(crate) fn cargo_toml(name: &str, abi: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# A hotpack module is a C-compatible dynamic library (.so) loaded by the host.
crate-type = ["cdylib"]

[dependencies]
hotpack-abi = {abi}

# Handlers catch panics at the boundary; that needs unwinding. A module built with
# panic = "abort" is refused at load time.
[profile.release]
panic = "unwind"

# A crate of its own: never joins a workspace it happens to sit in.
[workspace]
"#
    )
}

fn lib_rs(name: &str) -> String {
    format!(
        r#"//! The `{name}` hotpack module: one handler, `greet`.
//!
//! Build with `cargo build --release`; see README.md to run, pack and serve it.

/// `greet`: the input (UTF-8, lossily) in a greeting. An `Err` reaches the caller as a
/// handler error (HTTP 422 under `hotpack serve`); a panic is caught at the boundary.
fn greet(input: &[u8]) -> Result<String, String> {{
    let who = String::from_utf8_lossy(input);
    let who = who.trim();
    if who.is_empty() {{
        return Ok("hello, world".to_owned());
    }}
    Ok(format!("hello, {{who}}"))
}}

hotpack_abi::module! {{
    name: "{name}",
    version: env!("CARGO_PKG_VERSION"),
    handlers: {{ "greet" => greet }},
}}

#[cfg(test)]
mod tests {{
    use super::greet;

    #[test]
    fn greets_by_name_or_the_world() {{
        assert_eq!(greet(b"ada").as_deref(), Ok("hello, ada"));
        assert_eq!(greet(b"").as_deref(), Ok("hello, world"));
    }}
}}
"#
    )
}

fn readme(name: &str) -> String {
    let lib = format!("lib{}.so", name.replace('-', "_"));
    format!(
        r#"# {name}

A [hotpack](https://docs.rs/hotpack) module: a Rust `cdylib` the hotpack host loads, swaps
and rolls back while it keeps running.

## Build and test

```sh
cargo test
cargo build --release            # -> target/release/{lib}
```

## Develop: rebuild and rerun on every save

```sh
hotpack dev . --handler greet                  # empty input
hotpack dev . --handler greet --data input.txt # the file is read once and kept in memory
```

## Pack into a bundle

```sh
hotpack pack target/release/{lib} -o {name}.zip
hotpack inspect {name}.zip
```

## Serve over HTTP

```sh
mkdir -p plugins && cp {name}.zip plugins/
hotpack serve plugins --addr 127.0.0.1:7878
curl -d 'ada' http://127.0.0.1:7878/{name}/greet    # -> hello, ada
```

Copy a new bundle over `plugins/{name}.zip` and the server swaps it in; a broken one is
refused and the old version keeps serving. `hotpack --help` lists everything else.
"#
    )
}
