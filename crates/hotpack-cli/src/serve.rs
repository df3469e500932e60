//! `hotpack serve`: the plugin-folder host over HTTP on loopback.
//!
//! Every bundle in DIR is loaded; DIR is watched, so a new bundle is picked up, a replaced
//! one swapped in after its gates, and a broken one refused while the old version keeps
//! serving. Requests are served by a small pool of threads sharing one listener; a call is
//! an atomic load of the current version plus an indirect call, so a swap never fails a
//! request.
//!
//! - `POST /<module>/<handler>`: body in, handler output out (200); a handler error or
//!   caught panic is 422 with its message; an unknown module or handler is 404.
//! - `GET /-/modules`: `{"modules":[{"name","version","hash","handlers","history","last_error"}]}`.
//! - `POST /-/rollback/<module>`: 200 with `{"name","version"}` now active; 409 when there
//!   is no earlier version; 404 for an unknown module.
//!
//! Stdout: `hotpack serve: listening on http://<addr>` once everything is loaded and watched,
//! then one line per deploy or refusal.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hotpack::rollback::{HistoryEntry, HistoryKind, RollbackEvent};
use hotpack::{Error, Event, Runtime};
use tiny_http::{Header, Method, Request, Response, Server};

/// Arguments of `hotpack serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The plugin folder: every bundle in it is served, and it is watched for changes
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Address to listen on (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    addr: SocketAddr,
    /// Worker threads serving requests
    #[arg(long, value_name = "N", default_value_t = 4)]
    threads: usize,
    /// How long a changed bundle must stay quiet before it is deployed, in ms
    #[arg(long, value_name = "N", default_value_t = 100)]
    quiet_ms: u64,
    /// Accept a bundle older than the highest version seen (refused by default)
    #[arg(long)]
    allow_downgrade: bool,
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "hotpack serve: {line}");
    let _ = out.flush();
}

/// Runs the server until killed.
pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.dir.is_dir(), "{} does not exist or is not a directory", args.dir.display());
    anyhow::ensure!(args.threads > 0, "--threads must be at least 1");
    let server = Server::http(args.addr).map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.addr))?;
    let bound = server.server_addr().to_ip().context("the server is not listening on an IP address")?;

    // The journal lives in the cache directory, one per served folder, so a restarted
    // server comes back on the last good versions (never inside the watched folder).
    let folder = args.dir.canonicalize().with_context(|| format!("cannot resolve {}", args.dir.display()))?;
    let key = hotpack::detect::blake3::hash(folder.as_os_str().as_encoded_bytes()).to_hex();
    let journal = hotpack::default_cache_dir().join("serve").join(&key[..16]).join("journal.json");
    let (runtime, report) = Runtime::builder()
        .search_path(&folder)
        .journal(&journal)
        .allow_downgrade(args.allow_downgrade)
        .quiet(Duration::from_millis(args.quiet_ms))
        .build_with_report()?;
    if let Some(report) = report.filter(|r| matches!(r.status, hotpack::rollback::JournalStatus::Corrupt { .. })) {
        eprintln!("hotpack: journal: {report}");
    }
    let restored = runtime.restore()?;
    for problem in &restored.problems {
        eprintln!("hotpack: could not restore {}: {}", problem.name, problem.reason);
    }
    let events = runtime.subscribe();
    std::thread::spawn(move || {
        for event in events.iter() {
            match event {
                Event::Deployed { .. } | Event::DeployFailed { .. } | Event::Watch { .. } => say(&event.to_string()),
                Event::Rollback(RollbackEvent::RolledBack { name, from, to }) => {
                    let from = from.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
                    say(&format!("rolled back {name} from {from} to {to}"));
                }
                Event::Rollback(RollbackEvent::Demoted(d)) => {
                    let to = d.to.map(|v| v.to_string()).unwrap_or_else(|| "nothing older".into());
                    say(&format!("demoted {} {} after {} panics; now serving {to}", d.name, d.from, d.panics));
                }
                _ => {}
            }
        }
    });
    // Watch first, then load what is there: a bundle replaced in between is not missed.
    let _watching = runtime.watch().with_context(|| format!("cannot watch {}", args.dir.display()))?;
    for (path, outcome) in runtime.deploy_all() {
        if let Err(e) = outcome {
            eprintln!("hotpack: refused {}: {e}", path.display());
        }
    }
    say(&format!("listening on http://{bound}"));

    let server = Arc::new(server);
    let workers: Vec<_> = (0..args.threads)
        .map(|i| {
            let server = Arc::clone(&server);
            let runtime = runtime.clone();
            std::thread::Builder::new()
                .name(format!("hotpack-http-{i}"))
                .spawn(move || {
                    for request in server.incoming_requests() {
                        handle(&runtime, request);
                    }
                })
                .context("cannot start a worker thread")
        })
        .collect::<Result<_, _>>()?;
    for worker in workers {
        let _ = worker.join();
    }
    anyhow::bail!("the HTTP server stopped")
}

/// One history entry: `{"at","version","hash","event","gate","reason"}`.
fn history_json(entry: &HistoryEntry) -> serde_json::Value {
    let at = entry.at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (event, gate, reason) = match &entry.kind {
        HistoryKind::Promoted => ("promoted", None, None),
        HistoryKind::GateFailed { gate, reason } => ("gate_failed", Some(gate.as_str()), Some(reason.clone())),
        HistoryKind::Demoted { panics } => ("demoted", None, Some(format!("{panics} panics"))),
        HistoryKind::RolledBack { from } => ("rolled_back", None, Some(format!("from {from}"))),
        HistoryKind::Pinned => ("pinned", None, None),
        HistoryKind::Unpinned => ("unpinned", None, None),
        HistoryKind::Refused { reason } => ("refused", None, Some(reason.clone())),
        HistoryKind::Restored => ("restored", None, None),
        _ => ("other", None, Some(entry.to_string())),
    };
    serde_json::json!({
        "at": at,
        "version": entry.version.to_string(),
        "hash": entry.hash.map(|h| h.to_hex().to_string()),
        "event": event,
        "gate": gate,
        "reason": reason,
    })
}

fn json_header() -> Header {
    Header::from_bytes("Content-Type", "application/json").expect("a valid static header")
}

fn respond(request: Request, status: u16, body: Vec<u8>, json: bool) {
    let mut response = Response::from_data(body).with_status_code(status);
    if json {
        response.add_header(json_header());
    }
    // The client may have gone away; nothing to do then.
    let _ = request.respond(response);
}

fn text(request: Request, status: u16, message: impl Into<String>) {
    respond(request, status, message.into().into_bytes(), false);
}

fn handle(runtime: &Runtime, mut request: Request) {
    let url = request.url().split('?').next().unwrap_or("").to_owned();
    let parts: Vec<&str> = url.trim_start_matches('/').split('/').collect();
    match (request.method(), parts.as_slice()) {
        (Method::Get, ["-", "modules"]) => {
            let modules: Vec<serde_json::Value> = runtime
                .modules()
                .into_iter()
                .map(|m| {
                    serde_json::json!({
                        "name": m.name,
                        "version": m.version().map(|v| v.to_string()),
                        "hash": m.hash().map(|h| h.to_hex().to_string()),
                        "handlers": m.handlers,
                        "history": m.history.iter().map(history_json).collect::<Vec<_>>(),
                        "last_error": m.last_error,
                    })
                })
                .collect();
            let body = serde_json::json!({ "modules": modules }).to_string();
            respond(request, 200, body.into_bytes(), true);
        }
        (Method::Post, ["-", "rollback", module]) if runtime.status(module).is_none() => {
            text(request, 404, format!("module `{module}` is not loaded"))
        }
        (Method::Post, ["-", "rollback", module]) => match runtime.rollback(module) {
            Ok(d) => {
                let body = serde_json::json!({
                    "name": d.name,
                    "version": d.version.to_string(),
                    "hash": d.hash.to_hex().to_string(),
                })
                .to_string();
                respond(request, 200, body.into_bytes(), true);
            }
            Err(e) => text(request, 409, e.to_string()),
        },
        (Method::Post, [module, handler]) if !module.is_empty() && *module != "-" => {
            let (module, handler) = (module.to_string(), handler.to_string());
            let mut input = Vec::new();
            if let Err(e) = request.as_reader().read_to_end(&mut input) {
                return text(request, 400, format!("cannot read the request body: {e}"));
            }
            match runtime.call(&module, &handler, &input) {
                Ok(out) => respond(request, 200, out, false),
                Err(e @ Error::NotLoaded { .. }) => text(request, 404, e.to_string()),
                Err(Error::Call { error: hotpack::loader::CallError::NoSuchHandler { .. }, .. }) => {
                    text(request, 404, format!("module `{module}` has no handler `{handler}`"))
                }
                Err(e @ Error::Call { .. }) => text(request, 422, e.to_string()),
                Err(e) => text(request, 404, e.to_string()),
            }
        }
        (_, [_, _]) | (_, ["-", ..]) => {
            text(request, 405, "use POST /<module>/<handler>, GET /-/modules, POST /-/rollback/<module>")
        }
        _ => text(request, 404, "not found: use POST /<module>/<handler>, GET /-/modules, POST /-/rollback/<module>"),
    }
}
