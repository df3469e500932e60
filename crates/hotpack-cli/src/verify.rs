//! `hotpack verify`: check a bundle's structure, manifests and every entry's content.

use std::path::PathBuf;
use std::process::ExitCode;

use hotpack::archive::{Bundle, Limits};

use crate::log::escape;

/// Arguments of `hotpack verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The bundle file.
    bundle: PathBuf,
}

/// Run `hotpack verify`: exit 0 with one `ok` line, or exit 1 with one line naming the
/// bundle, the entry and the problem.
pub(crate) fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let result = Bundle::open(&args.bundle, &Limits::default()).and_then(|b| b.verify_all().map(|r| (b, r)));
    match result {
        Ok((bundle, report)) => {
            let names: Vec<String> =
                bundle.modules().iter().map(|m| format!("{} {}", m.name(), m.manifest().meta.version)).collect();
            // Names come from the bundle: escaped so no control character reaches the terminal.
            println!(
                "ok: {}: {} module(s) ({}), {} entries, {} bytes verified",
                crate::log::path(&args.bundle),
                report.modules,
                escape(&names.join(", ")),
                report.entries,
                report.bytes
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("hotpack: verify failed: {}", escape(&err.to_string()));
            Ok(ExitCode::FAILURE)
        }
    }
}
