//! `hotpack sign`: sign a bundle's manifests with a secret key (in place, to a file, or to
//! stdout).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hotpack::archive::{Bundle, Limits, SigningKey, sign_bundle};

/// Arguments of `hotpack sign`.
#[derive(Debug, clap::Args)]
pub(crate) struct SignArgs {
    /// The bundle to sign (checked entry by entry first: a damaged bundle is never signed).
    bundle: PathBuf,
    /// The secret key file (from `hotpack keygen`; must be private, mode 0600).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Write the signed bundle here instead of over BUNDLE (`-` for stdout). Only a regular
    /// file is ever replaced.
    #[arg(short = 'o', long = "output", alias = "out", value_name = "OUT")]
    out: Option<PathBuf>,
}

/// Run `hotpack sign`.
pub(crate) fn run(args: SignArgs) -> anyhow::Result<ExitCode> {
    // A public key passed by mistake: say which file to use, not how to chmod this one.
    if hotpack::archive::PublicKey::load(&args.key).is_ok() {
        let secret = args.key.with_extension("");
        anyhow::bail!(
            "{} is a public key (it verifies: `verify --trusted-key`); sign with the secret key{}",
            crate::log::path(&args.key),
            if args.key.extension().is_some_and(|e| e == "pub") && secret.is_file() {
                format!(": --key {}", crate::log::path(&secret))
            } else {
                " `hotpack keygen -o KEY` wrote beside it (KEY, not KEY.pub)".to_owned()
            }
        );
    }
    let key = SigningKey::load(&args.key)?;
    let limits = Limits::default();
    if args.out.as_deref() == Some(std::path::Path::new("-")) {
        let bytes = Bundle::open(&args.bundle, &limits)?.signed_bytes(&key)?;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&bytes).and_then(|()| stdout.flush()).context("write the signed bundle to stdout")?;
        eprintln!("signed {} with {}", crate::log::path(&args.bundle), key.public_key().fingerprint());
        return Ok(ExitCode::SUCCESS);
    }
    let fingerprint = sign_bundle(&args.bundle, &key, args.out.as_deref(), &limits)?;
    let written = args.out.as_ref().unwrap_or(&args.bundle);
    println!("signed {} with {fingerprint}", crate::log::path(written));
    Ok(ExitCode::SUCCESS)
}
