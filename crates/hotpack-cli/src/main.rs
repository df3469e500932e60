//! The `hotpack` command line: one subcommand per job, each in its own module.

#![forbid(unsafe_code)]

mod completions;
mod demo;
mod dev;
mod fleet;
mod gc;
mod inspect;
mod keygen;
mod log;
mod new;
mod pack;
mod serve;
mod sign;
mod verify;
mod watch;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Load, swap and roll back native Rust modules shipped in zip bundles.
///
/// Exit status: 0 on success, 1 when the work failed (a bad bundle, a file that cannot be
/// read, a port in use), 2 for a usage error (an unknown flag, a value out of range).
#[derive(Debug, Parser)]
#[command(name = "hotpack", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    // SUBCOMMANDS (one variant per module; keep alphabetical)
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout
    Completions(completions::CompletionsArgs),
    /// The main job, no input needed: resident data, a task swapped v1 -> v2, a broken v3 rolled back
    Demo(demo::DemoArgs),
    /// Build a module crate, run a handler on resident data, rebuild and rerun on every change
    Dev(dev::DevArgs),
    /// Roll bundles out to many hosts through etcd and an OCI registry: publish, rollout, promote, rollback, status
    Fleet(fleet::FleetArgs),
    /// Remove cached library objects no journal refers to (say what and how many bytes)
    Gc(gc::GcArgs),
    /// Create a module crate that builds outside this repository (Cargo.toml, handler, test, README)
    New(new::NewArgs),
    /// Write a new ed25519 signing key (secret 0600) and its public key KEY.pub
    Keygen(keygen::KeygenArgs),
    /// Pack a built module library (+ resources) into a bundle, deterministically
    Pack(pack::PackArgs),
    /// Show a bundle's modules, manifests and entries (text, or JSON with --json)
    Inspect(inspect::InspectArgs),
    /// Serve every bundle of a folder over HTTP on loopback; hot-deploy changes, roll back on demand
    Serve(Box<serve::ServeArgs>),
    /// Sign a bundle's manifests with a secret key (in place, or to -o OUT)
    Sign(sign::SignArgs),
    /// Check bundles' structure, manifests, every entry's content hash and, with --trusted-key, signatures
    Verify(verify::VerifyArgs),
    /// Watch files and directories; print one line per confirmed content change
    Watch(watch::WatchArgs),
    /// Print the man page (roff) to stdout, or with `--dir DIR` write hotpack.1 and one
    /// hotpack-SUBCOMMAND.1 per subcommand there (`cargo xtask man` does)
    #[command(name = "__man", hide = true)]
    Man(completions::ManArgs),
    /// (internal) Read a library's descriptor from stdin in this throwaway process; used by `pack`
    #[command(name = "__describe", hide = true)]
    Describe(pack::DescribeArgs),
}

fn main() -> ExitCode {
    // `hotpack __worker ...` (a module's worker process) and `hotpack __preflight ...` (the
    // preflight child of `serve --preflight`): hidden, checked before clap.
    if let Some(code) = hotpack::worker::worker_main_if_marked() {
        return code;
    }
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        // DISPATCH
        Command::Completions(args) => completions::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Gc(args) => gc::run(args),
        Command::Man(args) => completions::man(args),
        Command::New(args) => new::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Fleet(args) => fleet::run(args),
        Command::Serve(args) => serve::run(*args),
        Command::Inspect(args) => inspect::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Pack(args) => pack::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Describe(args) => pack::describe(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // Errors quote file names and bundle text: escaped like every foreign text.
            eprintln!("error: {}", log::escape(&log::chain(&err)));
            ExitCode::FAILURE
        }
    }
}

/// The command line definition (for completions and the man page).
pub(crate) fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
