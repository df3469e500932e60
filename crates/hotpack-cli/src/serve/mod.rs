//! `hotpack serve`: the plugin-folder host over HTTP (seeds 000, 002, 003), made to run as a
//! service: bounded, authenticated, observable, and alive when descriptors run out.
//!
//! Every bundle in DIR is loaded; DIR is watched, so a new bundle is picked up, a replaced
//! one swapped in after its gates, and a broken one refused while the old version keeps
//! serving. A call is an atomic load of the current version plus an indirect call, run on a
//! blocking thread behind a semaphore, so a swap never fails a request and a slow handler
//! never holds up the accept loop.
//!
//! - `POST /<module>/<handler>`: body in, handler output out (200); a handler error or
//!   caught panic is 422 with its message; an unknown module or handler is 404.
//! - `GET /-/modules`: `{"modules":[{"name","version","hash","state","handlers",
//!   "requires":[{"interface","id","provider"}],"dependents":[..],"history","last_error"}],
//!   "refused":[{"path","reason"}]}`.
//! - `POST /-/rollback/<module>`: 200 with `{"name","version","hash"}` now active; 409 when
//!   there is no earlier version; 404 for an unknown module. Needs the token when one is set.
//! - `GET /-/healthz`: 200 `{"status":"ok",...}`, or 503 with `problems` in words. Always open.
//! - `GET /-/metrics`: Prometheus text.
//!
//! With `--trusted-key PUB` (repeatable) only bundles signed by one of those keys are
//! deployed: the signature is the first gate, checked before a byte is written or loaded.
//! Without it, `serve` logs once at start that it accepts unsigned code.
//!
//! With a token (`--token-file`, private to the user like a secret key, or `HOTPACK_TOKEN`;
//! at least 32 characters) rollbacks need `Authorization: Bearer`; with `--protect-calls` so
//! do handler calls, `/-/modules` and `/-/metrics`. On a non-loopback address the token is
//! required and protects every route but `/-/healthz` unless `--public-calls` says otherwise.
//!
//! Limits a client can hit: 413 (body), 431 (head), 408 (a stalled or too slow body: the
//! whole body must arrive within `--body-timeout`), 503 (connections or handler calls at
//! their cap), 421 (a foreign, malformed or ambiguous `Host`, or an absolute-form target
//! naming another authority), 401 (a missing or wrong token).
//!
//! Logs go to stderr, one line per event (`--log-format json` for machines); stdout gets one
//! line, `hotpack serve: listening on http://<addr>`, once everything is loaded and watched.
//!
//! Layout: `host` is the only part that uses the `hotpack` API; `http` the server; `metrics`
//! the counters.

mod checks;
pub(crate) mod host;
mod http;
mod metrics;
mod slots;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::log::LogFormat;
use host::{Host, HostConfig, ProbeSpec};
pub(crate) use host::{IsolationConfig, isolation};

/// Arguments of `hotpack serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The plugin folder: every bundle in it is served, and it is watched for changes
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Address to listen on (port 0 picks a free port); a non-loopback address needs a token
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    addr: SocketAddr,
    /// A file holding the bearer token for admin routes (or set HOTPACK_TOKEN): at least 32
    /// characters; the file must be this user's and not readable or writable by group or others
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Require the token for handler calls, /-/modules and /-/metrics too (/-/healthz stays open;
    /// always so on a non-loopback --addr unless --public-calls)
    #[arg(long)]
    protect_calls: bool,
    /// On a non-loopback --addr, answer handler calls, /-/modules and /-/metrics without the
    /// token (they need it there by default; rollbacks always do)
    #[arg(long, conflicts_with = "protect_calls")]
    public_calls: bool,
    /// Also answer requests whose Host header is NAME (besides the bound address and localhost;
    /// needed behind a wildcard --addr such as 0.0.0.0)
    #[arg(long, value_name = "NAME")]
    allow_host: Vec<String>,
    /// A handler every candidate must answer without error before it is promoted:
    /// `[MODULE/]HANDLER[=INPUT]` (repeatable; without MODULE, for every module)
    #[arg(long, value_name = "SPEC")]
    probe: Vec<ProbeSpec>,
    /// Largest request body in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    max_body: usize,
    /// Largest request head (request line and headers) in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 10)]
    max_header: usize,
    /// Time allowed for a request head, an idle connection, and each pause inside a body, in ms
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    read_timeout: u64,
    /// Time allowed for a whole request body, however it trickles in, in ms (408 past it)
    #[arg(long, value_name = "MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout: u64,
    /// Connections open at once [default: 512, or half the descriptor limit if lower]
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_connections: Option<usize>,
    /// Handler calls running at once, in all (503 past it). Each module may hold at most its
    /// share, max(1, N / modules serving), so one module's hung calls never starve another
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_calls: usize,
    /// Library versions kept mapped at most; a new one past it is refused (restart to reclaim)
    /// [default: 512, or a quarter of the descriptor limit if lower]
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_versions: Option<usize>,
    /// Threads parsing HTTP (handler calls run on their own pool)
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    threads: usize,
    /// How long a changed bundle must stay quiet before it is deployed, in ms
    #[arg(long, value_name = "N", default_value_t = 100)]
    quiet_ms: u64,
    /// Accept a bundle older than the highest version seen (refused by default)
    #[arg(long)]
    allow_downgrade: bool,
    /// A public key (`KEY.pub` from `hotpack keygen`) bundles must be signed by (repeatable).
    /// With one, unsigned and foreign-signed bundles and plain libraries are refused before a
    /// byte of them is written or loaded; without, unsigned code is accepted
    #[arg(long = "trusted-key", value_name = "PUB")]
    trusted_key: Vec<PathBuf>,
    /// Load every candidate in a short-lived child process first (`hotpack __preflight`): its
    /// constructors, init hook and --probe calls run there, and a candidate that crashes,
    /// exits, hangs or runs away with memory is refused without being mapped here. Only with
    /// --in-process: by default every candidate loads in its own worker first anyway
    #[arg(long, requires = "in_process")]
    preflight: bool,
    /// Time the preflight child may take before it is killed, in ms
    #[arg(long, value_name = "MS", default_value_t = 10_000, requires = "preflight")]
    preflight_timeout: u64,
    /// Address space the preflight child may use (RLIMIT_AS), in MiB
    #[arg(long, value_name = "MIB", default_value_t = 1024, requires = "preflight")]
    preflight_memory: u64,
    /// Run module code in this process instead of in worker processes. By default each
    /// module version runs in its own worker: a crash, exit, abort, stack overflow, runaway
    /// allocation or hang there ends only that worker, answers 502 naming it, and demotes the
    /// version (the last good one answers the next call in a fresh worker)
    #[arg(long)]
    in_process: bool,
    /// A handler call's deadline in a worker, in seconds (0: none); past it the worker is
    /// killed, the call answers 502 and the version is demoted
    #[arg(long, value_name = "SECS", default_value_t = 30, conflicts_with = "in_process")]
    call_deadline: u64,
    /// Address space a worker may map on top of what it maps at start, in MiB (a runaway
    /// allocation ends the worker, not the server)
    #[arg(long, value_name = "MIB", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(16..), conflicts_with = "in_process")]
    worker_memory: u64,
    /// Log lines as text or JSON
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(flatten)]
    fleet: crate::fleet::FleetJoinArgs,
}

/// Runs the server until killed.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.dir.is_dir(), "{} does not exist or is not a directory", crate::log::path(&args.dir));
    let token = token(&args)?;
    anyhow::ensure!(
        token.is_some() || args.addr.ip().is_loopback(),
        "refusing to listen on {} without a token: a non-loopback address needs --token-file FILE or HOTPACK_TOKEN",
        args.addr
    );
    let trusted = trusted_keys(&args.trusted_key)?;
    crate::log::init(args.log_format);
    raise_descriptor_limit();
    let max_fds = usize::try_from(metrics::max_fds()).unwrap_or(usize::MAX);
    let limits = http::Limits {
        max_body: args.max_body,
        max_header: args.max_header,
        read_timeout: Duration::from_millis(args.read_timeout.max(1)),
        body_timeout: Duration::from_millis(args.body_timeout.max(1)),
        max_connections: args.max_connections.unwrap_or((max_fds / 2).clamp(8, 512)).max(1),
        max_calls: args.max_calls,
    };
    let config = HostConfig {
        quiet: Duration::from_millis(args.quiet_ms),
        allow_downgrade: args.allow_downgrade,
        preflight: args.preflight.then(|| host::PreflightConfig {
            timeout: Duration::from_millis(args.preflight_timeout.max(1)),
            memory: args.preflight_memory.saturating_mul(1 << 20),
        }),
        max_versions: args.max_versions.unwrap_or((max_fds / 4).clamp(4, 512)).max(1),
        isolation: (!args.in_process).then(|| host::IsolationConfig {
            call_deadline: (args.call_deadline > 0).then(|| Duration::from_secs(args.call_deadline)),
            memory: args.worker_memory.saturating_mul(1 << 20),
        }),
    };

    let listener = std::net::TcpListener::bind(args.addr).with_context(|| format!("cannot listen on {}", args.addr))?;
    listener.set_nonblocking(true).context("cannot make the listener non-blocking")?;
    let bound = listener.local_addr().context("the listener has no local address")?;

    let folder = args.dir.canonicalize().with_context(|| format!("cannot resolve {}", crate::log::path(&args.dir)))?;
    let metrics = Arc::new(metrics::Metrics::default());
    if trusted.is_empty() {
        tracing::warn!(
            "no --trusted-key: accepting unsigned bundles and plain libraries; anyone who can write to {} runs code \
             as this user",
            crate::log::path(&args.dir)
        );
    } else {
        let names: Vec<String> = trusted.iter().map(|k| k.fingerprint().to_string()).collect();
        tracing::info!("deploying only bundles signed by {}", names.join(", "));
    }
    let fleet_trusted = trusted.clone();
    let host = Host::start(&folder, config, args.probe.clone(), Arc::clone(&metrics), trusted)?;
    // Watch first, then load what is there: a bundle replaced in between is not missed.
    let _watching = host.watch()?;
    host.deploy_all();
    // With --fleet: a host agent deploys what the fleet's rollouts say into the same runtime.
    let fleet_host = crate::fleet::join(host.runtime(), &args.fleet, &fleet_trusted)?;
    // The fleet's analysis judges the calls this host answers.
    if let Some(observer) = fleet_host.as_ref().map(crate::fleet::call_observer) {
        host.observe_calls(observer);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .max_blocking_threads(args.max_calls + 4)
        .thread_name("hotpack-http")
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start the HTTP runtime")?;
    // On a network address every route but /-/healthz needs the token unless the user
    // opted out by name.
    let protect_calls = args.protect_calls || (!args.addr.ip().is_loopback() && !args.public_calls);
    let access = http::Access { token, protect_calls, allow_hosts: args.allow_host.clone() };
    let supervisor = host.runtime().supervisor().clone();
    let in_flight = Arc::clone(&metrics);
    let server = Arc::new(http::Server::new(host, limits, access, metrics, bound));
    let signal = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).context("cannot register the listener")?;
        tracing::info!(
            "listening on http://{bound} (max body {} bytes, read timeout {} ms, {} connections, {} calls, {} versions)",
            limits.max_body,
            limits.read_timeout.as_millis(),
            limits.max_connections,
            limits.max_calls,
            config.max_versions
        );
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "hotpack serve: listening on http://{bound}");
        let _ = out.flush();
        drop(out);
        // Whichever comes first: a stop signal, or the accept loop ending (it never should).
        use tokio::signal::unix::{SignalKind, signal};
        let (tx, mut first) = tokio::sync::mpsc::channel::<Option<&'static str>>(3);
        for (kind, name) in [(SignalKind::terminate(), "SIGTERM"), (SignalKind::interrupt(), "SIGINT")] {
            let mut stream = signal(kind).with_context(|| format!("cannot listen for {name}"))?;
            let tx = tx.clone();
            tokio::spawn(async move {
                stream.recv().await;
                let _ = tx.send(Some(name)).await;
            });
        }
        tokio::spawn(async move {
            http::serve(listener, server).await;
            let _ = tx.send(None).await;
        });
        first.recv().await.flatten().context("the HTTP server stopped")
    })?;
    // SIGTERM or Ctrl-C: end the workers and whatever each started (a default-action signal
    // would leave those to init: the workers die with their host, their children do not).
    // Nothing is demoted or journaled, so a restart comes back on what served. The calls the
    // stop cut are answered (503) before the runtime goes; a call still running in process
    // (`--in-process`) is waited for at most `SHUTDOWN_GRACE`.
    let ended = supervisor.stop_workers();
    runtime.block_on(async {
        let until = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while in_flight.calls_in_flight.load(std::sync::atomic::Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The last answers' writes.
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
    runtime.shutdown_background();
    tracing::info!("{signal}: stopped, {ended} worker(s) ended");
    Ok(ExitCode::SUCCESS)
}

/// How long a stopping serve waits for the calls in flight to be answered.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The public keys of `--trusted-key`, each read and checked.
fn trusted_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<hotpack::archive::PublicKey>> {
    paths
        .iter()
        .map(|p| hotpack::archive::PublicKey::load(p).with_context(|| format!("trusted key {}", crate::log::path(p))))
        .collect()
}

/// The shortest token accepted, in bytes: 32 characters of a random alphabet are far past
/// guessing over HTTP (`openssl rand -hex 32` gives 64).
const MIN_TOKEN_LEN: usize = 32;

/// The token from `--token-file` (trimmed; the file private to this user, like a secret key)
/// or `HOTPACK_TOKEN`; an empty or short one is an error.
fn token(args: &ServeArgs) -> anyhow::Result<Option<Vec<u8>>> {
    let (token, from) = match &args.token_file {
        Some(file) => {
            check_private_token_file(file)?;
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the token file {}", crate::log::path(file)))?;
            anyhow::ensure!(!text.trim().is_empty(), "the token file {} is empty", crate::log::path(file));
            (Some(text.trim().as_bytes().to_vec()), format!("the token in {}", crate::log::path(file)))
        }
        None => match std::env::var("HOTPACK_TOKEN") {
            Ok(text) if !text.trim().is_empty() => (Some(text.trim().as_bytes().to_vec()), "HOTPACK_TOKEN".to_owned()),
            Ok(_) => anyhow::bail!("HOTPACK_TOKEN is set but empty"),
            Err(_) => (None, String::new()),
        },
    };
    if let Some(t) = &token {
        anyhow::ensure!(
            t.len() >= MIN_TOKEN_LEN,
            "{from} is {} characters; a token needs at least {MIN_TOKEN_LEN} (e.g. `openssl rand -hex 32`)",
            t.len()
        );
    }
    anyhow::ensure!(
        !args.protect_calls || token.is_some(),
        "--protect-calls needs a token: pass --token-file FILE or set HOTPACK_TOKEN"
    );
    Ok(token)
}

/// A token file is a secret: this user's, a regular file, and no permission for group or
/// others (the rule `SigningKey::load` applies to a secret key).
fn check_private_token_file(file: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    hotpack::util::fs::check_private_file(file)
        .with_context(|| format!("the token file {} is not private", crate::log::path(file)))?;
    let mode = std::fs::metadata(file)
        .with_context(|| format!("cannot inspect the token file {}", crate::log::path(file)))?
        .mode()
        & 0o7777;
    anyhow::ensure!(
        mode & 0o077 == 0,
        "the token file {} has mode {mode:04o}: group or others may read it; run `chmod 600` on it",
        crate::log::path(file)
    );
    Ok(())
}

/// Raises the soft descriptor limit to the hard one: every retained version holds one
/// descriptor, every connection another.
fn raise_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!("cannot raise the descriptor limit from {:?} to {:?}: {e}", limit.current, limit.maximum);
        }
    }
}
