//! `hotpack fleet` and `serve --fleet` in a build without the `fleet` feature (the default):
//! both parse, and say how to get a build that has them (exit 2, like an unknown subcommand).
//! The real commands are in `fleet.rs`.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Args;

/// What to run for a build with the fleet.
pub const HOW_TO_GET_IT: &str = "this hotpack was built without the fleet (cargo feature `fleet`, off by default); \
     install one that has it with `cargo install --locked --path crates/hotpack-cli --features fleet` \
     (or run `cargo run --release -p hotpack-cli --features fleet -- ...`)";

/// Arguments of `hotpack fleet` in a build without it: anything, refused.
#[derive(Debug, Args)]
pub struct FleetArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<OsString>,
}

/// Says how to get a build with the fleet (exit 2).
#[allow(clippy::unnecessary_wraps)] // the same signature as the real `fleet::run`
pub fn run(_args: FleetArgs) -> anyhow::Result<ExitCode> {
    eprintln!("error: {HOW_TO_GET_IT}");
    Ok(ExitCode::from(2))
}

/// `serve --fleet NAME` in a build without the fleet: a usage error at parse time (exit 2)
/// that says how to get a build with it.
#[derive(Debug, Clone, Args)]
pub struct FleetJoinArgs {
    /// Join a fleet (not in this build: needs the `fleet` feature)
    #[arg(long = "fleet", value_name = "NAME", value_parser = not_in_this_build)]
    pub fleet: Option<String>,
}

fn not_in_this_build(_: &str) -> Result<String, String> {
    Err(HOW_TO_GET_IT.to_owned())
}

/// Nothing to run: without `--fleet` there is no agent, and `--fleet` did not parse.
#[allow(clippy::unnecessary_wraps)] // the same signature as the real `fleet::join`
pub fn join(
    _runtime: &hotpack::Runtime,
    _args: &FleetJoinArgs,
    _trusted: &[hotpack::archive::PublicKey],
) -> anyhow::Result<Option<()>> {
    Ok(None)
}

/// Never called: without the feature `join` returns no host.
pub(crate) fn call_observer(_host: &()) -> crate::serve::host::CallObserver {
    std::sync::Arc::new(|_: &str, _: crate::serve::host::CallKind, _: std::time::Duration| {})
}
