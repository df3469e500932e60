//! `hotpack completions SHELL` (a completion script on stdout) and the hidden `hotpack __man`
//! (the man page in roff, written to a file by `cargo xtask man`): both generated from the
//! one command-line definition, so they never disagree with `--help`.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

/// Arguments of `hotpack completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for, e.g. `hotpack completions bash > /etc/bash_completion.d/hotpack`
    #[arg(value_name = "SHELL", value_enum)]
    shell: clap_complete::Shell,
}

pub(crate) fn run(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = crate::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "hotpack", &mut out);
    write_stdout(&out)
}

/// The man page of `hotpack` (roff): synopsis, options, the subcommands, exit status.
pub(crate) fn man() -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(crate::command()).render(&mut out).context("cannot render the man page")?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes).and_then(|()| stdout.flush()).context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
