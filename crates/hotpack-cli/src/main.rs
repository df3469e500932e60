//! The `hotpack` command line: one subcommand per job, each in its own module.

#![forbid(unsafe_code)]

mod demo;
mod dev;
mod fleet;
mod inspect;
mod keygen;
mod log;
mod pack;
mod serve;
mod sign;
mod verify;
mod watch;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Load, swap and roll back native Rust modules shipped in zip bundles.
#[derive(Debug, Parser)]
#[command(name = "hotpack", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    // SUBCOMMANDS (one variant per module; keep alphabetical)
    /// The main job, no input needed: resident data, a task swapped v1 -> v2, a broken v3 rolled back
    Demo(demo::DemoArgs),
    /// Build a module crate, run a handler on resident data, rebuild and rerun on every change
    Dev(dev::DevArgs),
    /// Roll bundles out to many hosts through etcd and an OCI registry: publish, rollout, promote, rollback, status
    Fleet(fleet::FleetArgs),
    /// Write a new ed25519 signing key (secret 0600) and its public key KEY.pub
    Keygen(keygen::KeygenArgs),
    /// Pack a built module library (+ resources) into a bundle, deterministically
    Pack(pack::PackArgs),
    /// Show a bundle's modules, manifests and entries (text, or JSON with --json)
    Inspect(inspect::InspectArgs),
    /// Serve every bundle of a folder over HTTP on loopback; hot-deploy changes, roll back on demand
    Serve(serve::ServeArgs),
    /// Sign a bundle's manifests with a secret key (in place, or to -o OUT)
    Sign(sign::SignArgs),
    /// Check bundles' structure, manifests, every entry's content hash and, with --trusted-key, signatures
    Verify(verify::VerifyArgs),
    /// Watch files and directories; print one line per confirmed content change
    Watch(watch::WatchArgs),
    /// (internal) Read a library's descriptor from stdin in this throwaway process; used by `pack`
    #[command(name = "__describe", hide = true)]
    Describe(pack::DescribeArgs),
}

fn main() -> ExitCode {
    // `hotpack __preflight ...`: the preflight child of `serve --preflight` (hidden).
    if let Some(code) = hotpack::preflight::child_main_if_marked() {
        return code;
    }
    let cli = Cli::parse();
    let result: anyhow::Result<ExitCode> = match cli.command {
        // DISPATCH
        Command::Demo(args) => demo::run(args),
        Command::Dev(args) => dev::run(args),
        Command::Fleet(args) => fleet::run(args),
        Command::Serve(args) => serve::run(args),
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
            eprintln!("hotpack: error: {}", log::escape(&log::error_chain(err.as_ref())));
            ExitCode::FAILURE
        }
    }
}
