//! `hotpack dev`: the resident-data loop for a module crate under edit.
//!
//! Loads the data file once and keeps it in memory; builds the crate with cargo, loads the
//! library, runs the handler on the resident data and prints the result with timings; then
//! watches the crate's `src/` and `Cargo.toml` and, on every confirmed content change,
//! rebuilds, deploys and reruns. A build error or a failing handler is shown and the last good
//! version stays loaded: the loop never dies.
//!
//! Every progress line on stdout starts with `hotpack-dev: ` and is flushed at once:
//! `data loaded: ...` (once), `building...`, `build failed ...`, `deployed v<ver> (<hash>) in X ms`,
//! `ran in Y ms`, `result: <output>`, `handler failed: ...`, `rolled back to v<ver>`,
//! `waiting for changes`. Cargo's own output goes to stderr.
//!
//! By default each version runs in a worker process that maps the resident data read-only
//! (kept once, in a sealed memfd, by this process): a stack overflow, `exit`, `abort`, null
//! write, runaway allocation or fork ends only the worker, the data stays loaded, and the loop
//! goes on. A run has no deadline by default (`--call-deadline`); a new save ends a run still
//! going (`run stopped: ...`), and Ctrl-C ends the loop and its workers, with every process
//! they started (`interrupted: ...`; a second Ctrl-C exits at once).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use hotpack::Runtime;
use hotpack::detect::{Event, WatchConfig, Watcher};
use hotpack::rollback::Policy;

/// Arguments of `hotpack dev`.
#[derive(Debug, clap::Args)]
pub(crate) struct DevArgs {
    /// The module crate to build (a directory holding Cargo.toml, with crate-type cdylib)
    #[arg(value_name = "MODULE_CRATE_DIR")]
    dir: PathBuf,
    /// The data file, read once and kept in memory; passed to the handler on every run
    /// [default: empty input]
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// The handler to run
    #[arg(long, value_name = "NAME", default_value = "run")]
    handler: String,
    /// Cargo target directory (default: <MODULE_CRATE_DIR>/target/hotpack-dev)
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// How long the sources must stay quiet before a rebuild, in ms
    #[arg(long, value_name = "N", default_value_t = 200)]
    quiet_ms: u64,
    /// Also ignore changes to files whose names match PATTERN (`*` any run, `?` one
    /// character but `.`; repeatable); editor swap/backup files and `sed -i` temporaries always are
    #[arg(long, value_name = "PATTERN")]
    ignore: Vec<String>,
    /// Run the module in this process instead of in a worker process (a crash then ends the
    /// loop and the data with it)
    #[arg(long)]
    in_process: bool,
    /// A run's deadline in a worker, in seconds (0: none; a new save or Ctrl-C ends a stuck run)
    #[arg(long, value_name = "SECS", default_value_t = 0, conflicts_with = "in_process")]
    call_deadline: u64,
    /// Address space a worker may map on top of the resident data and what it maps at start,
    /// in MiB
    #[arg(long, value_name = "MIB", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(16..), conflicts_with = "in_process")]
    worker_memory: u64,
}

macro_rules! say {
    ($($arg:tt)*) => {{
        println!("hotpack-dev: {}", format_args!($($arg)*));
        let _ = std::io::stdout().flush();
    }};
}

fn ms(d: Duration) -> String {
    crate::log::duration(d)
}

/// Runs the loop until killed.
pub(crate) fn run(args: DevArgs) -> anyhow::Result<ExitCode> {
    let manifest = args.dir.join("Cargo.toml");
    anyhow::ensure!(manifest.is_file(), "{} is not a crate directory (no Cargo.toml in it)", args.dir.display());
    let src = args.dir.join("src");
    anyhow::ensure!(src.is_dir(), "{} has no src/ directory", args.dir.display());
    let target_dir = args.target_dir.clone().unwrap_or_else(|| args.dir.join("target").join("hotpack-dev"));

    let started = Instant::now();
    let data = match &args.data {
        Some(file) => {
            // Kept once, in a sealed memfd workers map read-only: never reloaded, whatever a
            // worker does.
            let data = hotpack::worker::ResidentData::from_file(file)
                .with_context(|| format!("cannot read data file {}", file.display()))?;
            say!("data loaded: {} bytes from {} in {}", data.len(), file.display(), ms(started.elapsed()));
            Some(data)
        }
        None => {
            say!("data loaded: 0 bytes (no --data: the handler gets empty input)");
            None
        }
    };

    // Watch before the first build, so an edit made while it runs is not missed.
    let watcher = Watcher::new(
        [src.as_path(), manifest.as_path()],
        &args
            .ignore
            .iter()
            .fold(WatchConfig::new().quiet(Duration::from_millis(args.quiet_ms)), |c, p| c.ignore(p.clone())),
    )
    .with_context(|| format!("cannot watch {}", args.dir.display()))?;
    // A panic demotes the version at once: the last good one serves again.
    let mut builder = Runtime::builder().policy(Policy { panic_budget: 0, ..Policy::default() });
    if args.in_process {
        if let Some(data) = &data {
            builder = builder.resident_data(data.clone());
        }
    } else {
        let config = crate::serve::IsolationConfig {
            call_deadline: (args.call_deadline > 0).then(|| Duration::from_secs(args.call_deadline)),
            memory: args.worker_memory.saturating_mul(1 << 20),
        };
        builder = builder.isolate(crate::serve::isolation(config, data.clone())?);
    }
    let runtime = builder.build()?;
    let mut session = Session { runtime, manifest, target_dir, handler: args.handler, current: None };
    let interrupted = ctrl_c()?;

    let mut running = session.cycle();
    loop {
        say!("waiting for changes");
        // A run goes on beside the watch: a new save ends it.
        let event = loop {
            if interrupted.try_recv().is_ok() {
                return Ok(session.interrupt(running.take()));
            }
            if let Some(run) = running.take() {
                match run.rx.try_recv() {
                    Ok(result) => {
                        session.finish(run, result);
                        say!("waiting for changes");
                    }
                    Err(_) => running = Some(run),
                }
            }
            match watcher.recv_timeout(Duration::from_millis(50)) {
                Ok(event) => break event,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("the change-detection thread stopped unexpectedly")
                }
            }
        };
        match event {
            Event::Change(change) => say!("{change}"),
            Event::Warning(w) => {
                eprintln!("warning: {w}");
                continue;
            }
            Event::Error(e) => {
                eprintln!("error: {e}");
                continue;
            }
            other => {
                eprintln!("hotpack: {other:?}");
                continue;
            }
        }
        // Several files saved together: take them as one change.
        while let Ok(event) = watcher.try_recv() {
            if let Event::Change(change) = event {
                say!("{change}");
            }
        }
        if let Some(run) = running.take() {
            session.stop(run);
        }
        running = session.cycle();
    }
}

/// Ctrl-C (`SIGINT`) from now on: the first is sent on the channel (the loop then ends its
/// workers and their processes, which a default-action `SIGINT` would leave behind: the
/// workers die with the host, what they started would not); a second one exits at once.
fn ctrl_c() -> anyhow::Result<std::sync::mpsc::Receiver<()>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("hotpack-dev-ctrl-c".into())
        .spawn(move || {
            let listen = || -> std::io::Result<()> {
                let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
                rt.block_on(async {
                    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
                    let _ = ready_tx.send(Ok(()));
                    sigint.recv().await;
                    let _ = tx.send(());
                    sigint.recv().await;
                    std::process::exit(130)
                })
            };
            if let Err(e) = listen() {
                let _ = ready_tx.send(Err(e));
            }
        })
        .context("cannot start the Ctrl-C thread")?;
    match ready.recv() {
        Ok(Ok(())) => Ok(rx),
        Ok(Err(e)) => Err(e).context("cannot listen for Ctrl-C"),
        Err(_) => anyhow::bail!("the Ctrl-C thread ended before it listened"),
    }
}

/// A run going on in its own thread.
struct Run {
    name: String,
    version: String,
    hash: hotpack::detect::blake3::Hash,
    started: Instant,
    rx: std::sync::mpsc::Receiver<Result<Vec<u8>, hotpack::Error>>,
}

struct Session {
    runtime: Runtime,
    manifest: PathBuf,
    target_dir: PathBuf,
    handler: String,
    /// Name and version of the module serving (the last good one).
    current: Option<(String, String)>,
}

impl Session {
    fn serving(&self) -> String {
        match &self.current {
            Some((name, version)) => format!("still serving {name} v{version}"),
            None => "no version loaded yet".to_owned(),
        }
    }

    /// Build, load, start the run; every failure is reported and leaves the last good version
    /// loaded.
    fn cycle(&mut self) -> Option<Run> {
        say!("building...");
        let started = Instant::now();
        let library = match build(&self.manifest, &self.target_dir) {
            Ok(library) => library,
            Err(e) => {
                say!("build failed: {e:#}; {}", self.serving());
                return None;
            }
        };
        say!("built in {}", ms(started.elapsed()));

        let started = Instant::now();
        let deployed = match self.runtime.deploy(&library) {
            Ok(mut deployed) if !deployed.is_empty() => deployed.remove(0),
            Ok(_) => {
                say!("deploy failed: {} holds no module; {}", library.display(), self.serving());
                return None;
            }
            Err(e) => {
                say!("deploy failed: {e}; {}", self.serving());
                return None;
            }
        };
        let hash = deployed.hash.to_hex();
        if deployed.outcome != hotpack::Happened::Unchanged {
            say!("deployed v{} ({}) in {}", deployed.version, &hash[..12], ms(started.elapsed()));
        } else {
            say!("unchanged: v{} ({}) is already loaded", deployed.version, &hash[..12]);
        }

        let (tx, rx) = std::sync::mpsc::channel();
        let (runtime, name, handler) = (self.runtime.clone(), deployed.name.clone(), self.handler.clone());
        std::thread::spawn(move || {
            let _ = tx.send(runtime.call_resident(&name, &handler));
        });
        Some(Run {
            name: deployed.name,
            version: deployed.version.to_string(),
            hash: deployed.hash,
            started: Instant::now(),
            rx,
        })
    }

    /// Ctrl-C: ends every worker (and everything each started) before dev exits.
    fn interrupt(&mut self, run: Option<Run>) -> ExitCode {
        let workers = self.runtime.supervisor().workers();
        for worker in &workers {
            self.runtime.stop_worker(&worker.module);
        }
        match run {
            Some(run) => say!(
                "interrupted: the run of v{} stopped after {}; workers ended",
                run.version,
                ms(run.started.elapsed())
            ),
            None => say!("interrupted: {} worker(s) ended", workers.len()),
        }
        ExitCode::from(130)
    }

    /// A new save while `run` is still going: end it (its worker is stopped; in process the
    /// run cannot be stopped and is left to finish).
    fn stop(&mut self, run: Run) {
        self.runtime.stop_worker(&run.name);
        if let Ok(result) = run.rx.recv_timeout(Duration::from_secs(10)) {
            if result.is_err() {
                say!("run stopped after {}: a new save", ms(run.started.elapsed()));
                self.after_failure(&run);
                return;
            }
            self.finish(run, result);
        }
    }

    /// Reports a finished run.
    fn finish(&mut self, run: Run, out: Result<Vec<u8>, hotpack::Error>) {
        let ran = run.started.elapsed();
        match out {
            Ok(bytes) => {
                say!("ran in {}", ms(ran));
                say!("result: {}", String::from_utf8_lossy(&bytes));
                self.current = Some((run.name, run.version));
            }
            Err(e) => {
                say!("handler failed after {}: {e}", ms(ran));
                self.after_failure(&run);
            }
        }
    }

    /// A panic (past the zero budget) or a crash demoted the version to the last good one,
    /// if there is one.
    fn after_failure(&mut self, run: &Run) {
        let now = self.runtime.status(&run.name).and_then(|s| s.hash().zip(s.version().cloned()));
        match now {
            Some((hash, version)) if hash != run.hash => say!("rolled back to v{version}"),
            _ => {}
        }
    }
}

/// `cargo build --release` of the crate; returns the cdylib it produced.
fn build(manifest: &Path, target_dir: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(&cargo)
        .args(["build", "--release", "--message-format=json-render-diagnostics", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {}", Path::new(&cargo).display()))?;
    let stdout = child.stdout.take().context("cargo's stdout was not captured")?;
    let mut library = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = message["target"]["crate_types"].as_array().is_some_and(|t| t.iter().any(|t| t == "cdylib"));
        if !is_cdylib {
            continue;
        }
        if let Some(files) = message["filenames"].as_array() {
            for file in files.iter().filter_map(|f| f.as_str()) {
                if file.ends_with(std::env::consts::DLL_SUFFIX) {
                    library = Some(PathBuf::from(file));
                }
            }
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    anyhow::ensure!(status.success(), "cargo build exited with {status} (compiler output above)");
    library.with_context(|| format!("{} built no cdylib (is crate-type = [\"cdylib\"] set?)", manifest.display()))
}
