//! `hotpack watch`: print one line per confirmed content change of the given
//! files and directories (blake3-confirmed, debounced; see hotpack-detect).
//!
//! Output (stdout, flushed after every line, for pipes):
//! - human: `changed <path> <old8>.. -> <new8>..`, `created <path> -> <new8>..`,
//!   `removed <path> <old8>.. -> -`;
//! - `--json`: one object per line,
//!   `{"kind":"changed","path":"/abs/a.so","hash":"<64 hex>","old_hash":"<64 hex>","size":123}`
//!   (`hash` and `size` are null for removals, `old_hash` for creations).
//!
//! Stderr: `hotpack: watching N path(s) (<backend>)` once every watch is in
//! place and every file fingerprinted (wait for it before changing files),
//! then warnings and per-file errors. Runs until killed.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use hotpack::detect::{Change, Detector, Event, WatchConfig};

/// Arguments of `hotpack watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct WatchArgs {
    /// Files and directories to watch (directories recursively; each must exist)
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Print one JSON object per line (kind, path, hash, old_hash, size)
    #[arg(long)]
    json: bool,
    /// How long a file must stay quiet before it is hashed and compared, in ms
    #[arg(long, value_name = "N", default_value_t = 100)]
    quiet_ms: u64,
    /// Poll every N ms instead of using OS change notifications
    /// (network file systems, some containers)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    poll_ms: Option<u64>,
}

/// Run `hotpack watch` until killed (or until stdout is closed).
pub(crate) fn run(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let mut config = WatchConfig::new().quiet(Duration::from_millis(args.quiet_ms));
    if let Some(ms) = args.poll_ms {
        config = config.poll_every(Duration::from_millis(ms));
    }
    let detector = Detector::new(&args.paths, &config)?;
    let backend = match args.poll_ms {
        Some(ms) => format!("polling every {ms} ms"),
        None => detector.backend().to_string(),
    };
    eprintln!("hotpack: watching {} path(s) ({backend}, quiet {} ms)", args.paths.len(), args.quiet_ms);

    let stdout = io::stdout();
    let mut out = stdout.lock();
    for event in detector.iter() {
        match event {
            Event::Change(change) => {
                let line =
                    if args.json { json_line(&change) } else { crate::log::escape(&change.to_string()).into_owned() };
                match writeln!(out, "{line}").and_then(|()| out.flush()) {
                    Ok(()) => {}
                    // The reader went away: nothing left to do.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        return Ok(ExitCode::SUCCESS);
                    }
                    Err(e) => return Err(anyhow::Error::new(e).context("cannot write to stdout")),
                }
            }
            Event::Warning(warning) => eprintln!("warning: {}", crate::log::escape(&warning.to_string())),
            Event::Error(error) => eprintln!("error: {}", crate::log::escape(&error.to_string())),
            other => eprintln!("hotpack: {other:?}"),
        }
    }
    anyhow::bail!("the change-detection thread stopped unexpectedly")
}

/// The `--json` form of one change.
fn json_line(change: &Change) -> String {
    let new = change.new_fingerprint();
    let old = change.old_fingerprint();
    serde_json::json!({
        "kind": change.kind.name(),
        "path": change.path.to_string_lossy(),
        "hash": new.map(|f| f.hex()),
        "old_hash": old.map(|f| f.hex()),
        "size": new.map(|f| f.size),
    })
    .to_string()
}
