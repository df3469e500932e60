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
    // Hidden subcommands (`__man`, `__describe`, ...) are left out: clap_complete would offer them.
    let full = crate::command();
    let visible: Vec<clap::Command> = full.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    let mut command = clap::Command::new("hotpack")
        .version(env!("CARGO_PKG_VERSION"))
        .about(full.get_about().cloned().unwrap_or_default())
        .subcommands(visible);
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "hotpack", &mut out);
    write_stdout(&out)
}

/// Arguments of the hidden `hotpack __man`.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write hotpack.1 and hotpack-SUBCOMMAND.1 into DIR instead of hotpack.1 to stdout
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

/// The man pages of `hotpack` (roff): synopsis, options, the subcommands, exit status; and
/// one page per subcommand with its own options.
pub(crate) fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let command = crate::command();
    let render = |command: clap::Command| -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        clap_mangen::Man::new(command).render(&mut out).context("cannot render the man page")?;
        Ok(out)
    };
    let Some(dir) = args.dir else {
        return write_stdout(&render(command)?);
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", crate::log::path(&dir)))?;
    let mut pages = vec![("hotpack.1".to_owned(), render(command.clone())?)];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        // clap takes a `&'static str` name (its `string` feature is off); this process ends here.
        let name: &'static str = Box::leak(format!("hotpack-{}", sub.get_name()).into_boxed_str());
        pages.push((format!("{name}.1"), render(sub.clone().name(name).version(env!("CARGO_PKG_VERSION")))?));
    }
    for (file, page) in &pages {
        let path = dir.join(file);
        std::fs::write(&path, page).with_context(|| format!("cannot write {}", crate::log::path(&path)))?;
        println!("{}", crate::log::path(&path));
    }
    Ok(ExitCode::SUCCESS)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes).and_then(|()| stdout.flush()).context("cannot write to stdout")?;
    Ok(ExitCode::SUCCESS)
}
