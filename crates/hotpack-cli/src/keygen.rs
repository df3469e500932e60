//! `hotpack keygen`: a new ed25519 signing key (secret 0600, public beside it as `KEY.pub`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hotpack::archive::SigningKey;

/// Arguments of `hotpack keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the secret key (mode 0600; refused if anything is there). The public
    /// key goes to `<KEY>.pub`.
    #[arg(short = 'o', long = "output", alias = "out", value_name = "KEY")]
    out: PathBuf,
}

/// Run `hotpack keygen`: print the public key's path and fingerprint.
pub(crate) fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let key = SigningKey::generate().context("generate a signing key")?;
    let public = key.write_new(&args.out)?;
    println!(
        "wrote secret key {} (keep it private) and public key {}: {}",
        crate::log::path(&args.out),
        crate::log::path(&public),
        key.public_key().fingerprint()
    );
    Ok(ExitCode::SUCCESS)
}
