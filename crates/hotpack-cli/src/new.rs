//! `hotpack new NAME [--path DIR] [--abi-path PATH]`: a module crate that builds on its own.
//!
//! Writes `Cargo.toml` (a `cdylib`, `panic = "unwind"` stated in the release profile, the
//! `hotpack-abi` dependency by path, an empty `[workspace]` table so the crate never joins an
//! enclosing workspace), `src/lib.rs` (one handler, `run`, and its unit test), `README.md` (how
//! to `dev`, `pack` and `serve` it) and `.gitignore`, then runs `git init` like `cargo new`
//! (when git is installed and the directory is not inside a repository). Refuses a directory
//! that exists and is not empty (exit 1), and a name that is not both a module name and a crate
//! name (a usage error, exit 2).
//!
//! Which `hotpack-abi` (it is not on crates.io yet): `--abi-path` when given; else the
//! checkout this CLI was built from (`crates/hotpack-abi` next to its recorded
//! `CARGO_MANIFEST_DIR`) when its sources are still byte-for-byte the ones this binary embeds;
//! else (an installed binary whose checkout is gone or has moved on) the embedded sources are
//! written into the new crate as `vendor/hotpack-abi`, so the module always matches the ABI of
//! the CLI that made it. `HOTPACK_NEW_EMBEDDED_ABI=1` asks for the written copy.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, bail};

/// Arguments of `hotpack new`.
#[derive(Debug, clap::Args)]
pub(crate) struct NewArgs {
    /// The module's name (also the crate's): letters, digits, `_` and `-`, starting with a letter
    #[arg(value_name = "NAME", value_parser = parse_name)]
    name: String,
    /// Where to create the crate (default: ./NAME); must not exist or be empty
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// Depend on this hotpack-abi (a checkout's crates/hotpack-abi) [default: the sources this
    /// CLI was built from]
    #[arg(long, value_name = "PATH")]
    abi_path: Option<PathBuf>,
}

/// The hotpack-abi version a new module depends on: the one this CLI was built with.
const ABI_VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
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
        None => match built_from() {
            Some(path) => {
                let text = path.to_str().with_context(|| format!("{}: not UTF-8", crate::log::path(&path)))?;
                format!("{{ version = \"{ABI_VERSION}\", path = {} }}", toml_string(text))
            }
            None => {
                write_abi_copy(&dir.join("vendor").join("hotpack-abi"))?;
                format!("{{ version = \"{ABI_VERSION}\", path = \"vendor/hotpack-abi\" }}")
            }
        },
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
    git_init(&dir);
    println!("created module crate `{}` in {}", args.name, crate::log::path(&dir));
    println!(
        "next: cd {} && cargo build --release && hotpack dev .   (README.md: pack, serve)",
        crate::log::path(&dir)
    );
    Ok(ExitCode::SUCCESS)
}

/// The module-name rule (bundles, the loader) and the crate-name rule (cargo) at once; a
/// clap value parser, so a bad name is a usage error (exit 2).
fn parse_name(name: &str) -> Result<String, String> {
    hotpack::util::name::check_module_name(name).map_err(|e| e.to_string())?;
    let first_is_letter = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_is_letter || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err("cannot name a crate: use letters, digits, `_` and `-`, starting with a letter".to_owned());
    }
    Ok(name.to_owned())
}

/// The hotpack-abi sources this binary was built with (path inside the crate, contents).
/// Every file under its `src/` is here (`every_abi_source_is_embedded` checks it).
const ABI_SOURCES: [(&str, &str); 9] = [
    ("build.rs", include_str!("../../hotpack-abi/build.rs")),
    ("src/lib.rs", include_str!("../../hotpack-abi/src/lib.rs")),
    ("src/ffi.rs", include_str!("../../hotpack-abi/src/ffi.rs")),
    ("src/ffi_args.rs", include_str!("../../hotpack-abi/src/ffi_args.rs")),
    ("src/section.rs", include_str!("../../hotpack-abi/src/section.rs")),
    ("src/macros.rs", include_str!("../../hotpack-abi/src/macros.rs")),
    ("README.md", include_str!("../../hotpack-abi/README.md")),
    ("LICENSE-MIT", include_str!("../../hotpack-abi/LICENSE-MIT")),
    ("LICENSE-APACHE", include_str!("../../hotpack-abi/LICENSE-APACHE")),
];

/// The checkout's `crates/hotpack-abi` this CLI was built from, when it still exists and its
/// sources are the ones embedded in this binary.
fn built_from() -> Option<PathBuf> {
    // The fallback of an installed binary whose checkout is gone, on demand (tests, or a
    // module meant to be moved to another machine with its ABI sources).
    if std::env::var_os("HOTPACK_NEW_EMBEDDED_ABI").is_some() {
        return None;
    }
    let abi = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.join("hotpack-abi");
    let same = ABI_SOURCES.iter().all(|(rel, text)| std::fs::read(abi.join(rel)).is_ok_and(|b| b == text.as_bytes()));
    (same && abi.join("Cargo.toml").is_file()).then_some(abi)
}

/// Writes the embedded hotpack-abi sources as a standalone crate at `dir`.
fn write_abi_copy(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("cannot create {}", crate::log::path(dir)))?;
    let manifest = format!(
        "# hotpack-abi {ABI_VERSION}, the sources the `hotpack` CLI that created this crate was built from\n\
         # (written by `hotpack new`: hotpack-abi is not on crates.io yet).\n\
         [package]\nname = \"hotpack-abi\"\nversion = \"{ABI_VERSION}\"\nedition = \"2024\"\n\
         rust-version = \"{}\"\nlicense = \"MIT OR Apache-2.0\"\nbuild = \"build.rs\"\npublish = false\n",
        env!("CARGO_PKG_RUST_VERSION")
    );
    write_new(&dir.join("Cargo.toml"), &manifest)?;
    for (rel, text) in ABI_SOURCES {
        write_new(&dir.join(rel), text)?;
    }
    Ok(())
}

/// `git init`, as `cargo new` does: only when git is installed and `dir` is not already
/// inside a work tree. Quietly nothing otherwise.
fn git_init(dir: &Path) {
    let quiet = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !quiet(&["rev-parse", "--is-inside-work-tree"]) {
        let _ = quiet(&["init", "--quiet"]);
    }
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
        r#"//! The `{name}` hotpack module: one handler, `run` (what `hotpack dev` runs).
//!
//! Build with `cargo build --release`; see README.md to run, pack and serve it.

/// `run`: the input (UTF-8, lossily) in a greeting. An `Err` reaches the caller as a
/// handler error (HTTP 422 under `hotpack serve`); a panic is caught at the boundary.
fn run(input: &[u8]) -> Result<String, String> {{
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
    handlers: {{ "run" => run }},
}}

#[cfg(test)]
mod tests {{
    use super::run;

    #[test]
    fn greets_by_name_or_the_world() {{
        assert_eq!(run(b"ada").as_deref(), Ok("hello, ada"));
        assert_eq!(run(b"").as_deref(), Ok("hello, world"));
    }}
}}
"#
    )
}

fn readme(name: &str) -> String {
    let lib = format!("lib{}.so", name.replace('-', "_"));
    format!(
        r#"# {name}

A hotpack module: a Rust `cdylib` the hotpack host loads, swaps and rolls back while it keeps
running. `hotpack --help` and `hotpack COMMAND --help` describe every command used below.

## Build and test

```sh
cargo test
cargo build --release            # -> target/release/{lib}
```

## Develop: rebuild and rerun on every save

```sh
hotpack dev .                    # runs the `run` handler on empty input
hotpack dev . --data input.txt   # the file is read once and kept in memory
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
curl -d 'ada' http://127.0.0.1:7878/{name}/run    # -> hello, ada
```

Copy a new bundle over `plugins/{name}.zip` and the server swaps it in; a broken one is
refused and the old version keeps serving. `hotpack --help` lists everything else.
"#
    )
}

#[cfg(test)]
mod embedded {
    /// The scaffold's fallback copy of hotpack-abi holds every source file of the crate, so a
    /// module split in hotpack-abi cannot leave `hotpack new` writing a crate that fails to build.
    #[test]
    fn every_abi_source_is_embedded() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../hotpack-abi/src");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(&src).expect("hotpack-abi/src is readable") {
            let name = format!("src/{}", entry.expect("a directory entry").file_name().to_string_lossy());
            if !super::ABI_SOURCES.iter().any(|(path, _)| *path == name) {
                missing.push(name);
            }
        }
        assert!(missing.is_empty(), "add to ABI_SOURCES in new.rs: {missing:?}");
    }
}
