//! The HTTP side of `serve`: hyper's HTTP/1.1 connection state machine on tokio, behind an
//! accept loop of our own (so running out of descriptors is survived, counted and logged once)
//! and with every limit set: header size and read time, body size and idle time, open
//! connections, concurrent handler calls. Handler calls run on the blocking pool, never on the
//! threads that accept and parse.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Semaphore;

use super::checks::{self, HostRefusal, Names};
use super::host::{CallOutcome, Host};
use super::metrics::{self, Gauges, Metrics};
use super::slots::CallSlots;
use crate::log::Escaped;

/// The limits a client can hit; each has a default a user never needs to touch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest request body, in bytes (413 past it; never read further).
    pub(crate) max_body: usize,
    /// Largest request head (request line + headers), in bytes (431 past it).
    pub(crate) max_header: usize,
    /// Time allowed for a request head, for an idle keep-alive connection, and between two
    /// pieces of a body (408 past it for a body; the connection is closed).
    pub(crate) read_timeout: Duration,
    /// Time allowed for a whole request body from the end of its head (408 past it): a body
    /// dribbled a byte at a time, each inside `read_timeout`, is still cut.
    pub(crate) body_timeout: Duration,
    /// Connections open at once (503 and close past it).
    pub(crate) max_connections: usize,
    /// Handler calls running at once, in all (503 past it); each module gets its share
    /// (see `slots`).
    pub(crate) max_calls: usize,
}

/// Who may do what.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    /// The bearer token admin routes (and, with `protect_calls`, handler calls) require.
    pub(crate) token: Option<Vec<u8>>,
    pub(crate) protect_calls: bool,
    /// Host names accepted besides the bound address and `localhost`.
    pub(crate) allow_hosts: Vec<String>,
}

type Body = Full<Bytes>;

/// The state shared by every connection.
pub(crate) struct Server {
    pub(crate) host: Host,
    pub(crate) limits: Limits,
    pub(crate) access: Access,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) bound: SocketAddr,
    calls: Arc<CallSlots>,
    /// When `accept` last failed for lack of descriptors.
    fd_exhausted_at: Mutex<Option<Instant>>,
}

impl Server {
    pub(crate) fn new(host: Host, limits: Limits, access: Access, metrics: Arc<Metrics>, bound: SocketAddr) -> Self {
        let calls = CallSlots::new(limits.max_calls);
        Server { host, limits, access, metrics, bound, calls, fd_exhausted_at: Mutex::new(None) }
    }
}

/// Accepts connections forever. Descriptor exhaustion (`EMFILE`/`ENFILE`) and other accept
/// errors never end the loop: it backs off, logs at most once a minute and counts each one.
pub(crate) async fn serve(listener: tokio::net::TcpListener, server: Arc<Server>) {
    let connections = Arc::new(Semaphore::new(server.limits.max_connections));
    let mut last_logged: Option<Instant> = None;
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => match Arc::clone(&connections).try_acquire_owned() {
                Ok(permit) => {
                    let server = Arc::clone(&server);
                    tokio::spawn(async move {
                        server.metrics.connections_open.fetch_add(1, Ordering::Relaxed);
                        connection(stream, &server).await;
                        server.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
                        drop(permit);
                    });
                }
                Err(_) => {
                    server.metrics.connections_refused.fetch_add(1, Ordering::Relaxed);
                    server.metrics.response(503);
                    tokio::spawn(refuse_connection(stream, server.limits.max_connections));
                }
            },
            Err(e) => {
                let exhausted =
                    matches!(e.raw_os_error(), Some(code) if code == libc_emfile() || code == libc_enfile());
                let counter = if exhausted {
                    *server.fd_exhausted_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                    &server.metrics.accept_fd_exhausted
                } else {
                    &server.metrics.accept_other_errors
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if last_logged.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    last_logged = Some(Instant::now());
                    let open = metrics::open_fds();
                    tracing::error!(
                        "cannot accept a connection: {e} ({open} descriptors open, limit {}); backing off and \
                         retrying (logged at most once a minute, counted in /-/metrics)",
                        metrics::max_fds()
                    );
                }
                tokio::time::sleep(Duration::from_millis(if exhausted { 50 } else { 10 })).await;
            }
        }
    }
}

fn libc_emfile() -> i32 {
    rustix::io::Errno::MFILE.raw_os_error()
}

fn libc_enfile() -> i32 {
    rustix::io::Errno::NFILE.raw_os_error()
}

/// A connection past `--max-connections`: a short 503 and close, without reading anything.
async fn refuse_connection(mut stream: tokio::net::TcpStream, max: usize) {
    let body = format!("busy: {max} connections are open (--max-connections)\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: \
         close\r\nRetry-After: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(response.as_bytes())).await;
    let _ = stream.shutdown().await;
}

async fn connection(stream: tokio::net::TcpStream, server: &Arc<Server>) {
    let _ = stream.set_nodelay(true);
    let service = {
        let server = Arc::clone(server);
        hyper::service::service_fn(move |request| {
            let server = Arc::clone(&server);
            async move {
                let response = handle(&server, request).await;
                server.metrics.response(response.status().as_u16());
                Ok::<_, Infallible>(response)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(server.limits.read_timeout)
        .max_buf_size(server.limits.max_header.max(8192))
        .keep_alive(true);
    // Errors here are the client's (reset, timeout, bad request): hyper already answered
    // what could be answered.
    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn text(status: u16, message: impl Into<String>) -> Response<Body> {
    let mut message = message.into();
    message.push('\n');
    respond(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        "text/plain; charset=utf-8",
        message,
    )
}

fn json(status: u16, value: &serde_json::Value) -> Response<Body> {
    respond(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), "application/json", value.to_string())
}

/// The response, and the connection closed after it (the body was not read to its end).
fn closing(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

const USAGE: &str =
    "use POST /<module>/<handler>, GET /-/modules, GET /-/healthz, GET /-/metrics, POST /-/rollback/<module>";

async fn handle(server: &Arc<Server>, request: Request<Incoming>) -> Response<Body> {
    if let Err(refusal) = host_allowed(server, &request) {
        return closing(text(421, refusal));
    }
    let path = request.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method().clone();
    // With --protect-calls only /-/healthz is open: the listing and the metrics name files.
    if server.access.protect_calls
        && matches!(parts.as_slice(), ["-", "modules" | "metrics"])
        && let Some(denied) = authorize(server, &request)
    {
        return denied;
    }
    match (&method, parts.as_slice()) {
        (&Method::GET, ["-", "healthz"]) => health(server),
        (&Method::GET, ["-", "metrics"]) => {
            let (mapped_versions, mapped_bytes) = server.host.mapped();
            let gauges = Gauges {
                mapped_versions: mapped_versions as u64,
                max_versions: server.host.max_versions() as u64,
                mapped_bytes,
                modules_serving: server.host.modules_serving() as u64,
                open_fds: metrics::open_fds(),
                max_fds: metrics::max_fds(),
            };
            let mut text = server.metrics.render(&gauges);
            text.push_str(&metrics::render_workers(&server.host.workers()));
            respond(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", text)
        }
        (&Method::GET, ["-", "modules"]) => json(200, &server.host.listing()),
        (&Method::POST, ["-", "rollback", module]) => {
            if let Some(denied) = authorize(server, &request) {
                return denied;
            }
            let host = server.host.clone();
            let module = (*module).to_owned();
            match tokio::task::spawn_blocking(move || host.rollback(&module)).await {
                Ok(Ok(now)) => json(200, &now),
                Ok(Err((status, message))) => text(status, message),
                Err(_) => text(500, "the rollback task failed"),
            }
        }
        (&Method::POST, [module, handler]) if !module.is_empty() && *module != "-" => {
            if server.access.protect_calls
                && let Some(denied) = authorize(server, &request)
            {
                return denied;
            }
            let (module, handler) = ((*module).to_owned(), (*handler).to_owned());
            call(server, request, module, handler).await
        }
        (_, [_, _]) | (_, ["-", ..]) => text(405, USAGE),
        _ => text(404, format!("not found: {USAGE}")),
    }
}

async fn call(server: &Arc<Server>, request: Request<Incoming>, module: String, handler: String) -> Response<Body> {
    let limits = &server.limits;
    let input = match read_body(request, limits.max_body, limits.read_timeout, limits.body_timeout).await {
        Ok(input) => input,
        Err(response) => return closing(response),
    };
    if server.calls.needs_count() {
        server.calls.set_modules(server.host.modules_serving());
    }
    let permit = match server.calls.acquire(&module) {
        Ok(permit) => permit,
        Err(busy) => {
            let mut response = text(503, busy.to_string());
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
    };
    let host = server.host.clone();
    let metrics = Arc::clone(&server.metrics);
    metrics.calls_in_flight.fetch_add(1, Ordering::Relaxed);
    let outcome = tokio::task::spawn_blocking(move || {
        let outcome = host.call(&module, &handler, &input);
        drop(permit);
        outcome
    })
    .await;
    metrics.calls_in_flight.fetch_sub(1, Ordering::Relaxed);
    match outcome {
        Ok(CallOutcome::Ok(out)) => respond(StatusCode::OK, "application/octet-stream", out),
        Ok(CallOutcome::NotFound(message)) => text(404, message),
        Ok(CallOutcome::Failed(message)) => text(422, message),
        Ok(CallOutcome::Crashed(message)) => text(502, message),
        Ok(CallOutcome::Unavailable(message)) => text(503, message),
        Err(_) => text(500, "the handler task failed"),
    }
}

/// Reads a body of at most `max` bytes, with at most `idle` between two pieces of it and at
/// most `total` for all of it. Stops reading at the first byte past `max`: a 1 GB body costs
/// no more memory than `max`, and a body dribbled a byte at a time holds its connection for
/// at most `total`.
async fn read_body(
    request: Request<Incoming>,
    max: usize,
    idle: Duration,
    total: Duration,
) -> Result<Vec<u8>, Response<Body>> {
    let deadline = tokio::time::Instant::now() + total;
    let too_large = || text(413, format!("the request body is larger than {max} bytes (--max-body)"));
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = request.into_body();
    let mut input = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(text(
                408,
                format!("the request body did not arrive within {} ms (--body-timeout)", total.as_millis()),
            ));
        }
        let wait = idle.min(deadline - now);
        match tokio::time::timeout(wait, body.frame()).await {
            Err(_) if tokio::time::Instant::now() >= deadline => {
                return Err(text(
                    408,
                    format!("the request body did not arrive within {} ms (--body-timeout)", total.as_millis()),
                ));
            }
            Err(_) => {
                return Err(text(
                    408,
                    format!("the request body stalled: nothing arrived for {} ms (--read-timeout)", idle.as_millis()),
                ));
            }
            Ok(None) => return Ok(input),
            Ok(Some(Err(e))) => return Err(text(400, format!("cannot read the request body: {e}"))),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    if input.len() + data.len() > max {
                        return Err(too_large());
                    }
                    input.extend_from_slice(&data);
                }
            }
        }
    }
}

/// The `Host` check of [`checks::check_host`] on this request. `Err` holds the words of the
/// 421.
fn host_allowed(server: &Server, request: &Request<Incoming>) -> Result<(), String> {
    let answers =
        format!("this server answers to {} and localhost (add --allow-host NAME to accept another name)", server.bound);
    let hosts: Vec<&[u8]> = request.headers().get_all(header::HOST).iter().map(HeaderValue::as_bytes).collect();
    let target = request.uri().authority().map(|a| a.as_str());
    let names = Names { bound: server.bound.ip(), allow_hosts: &server.access.allow_hosts };
    let shown = || hosts.first().map(|h| Escaped(&String::from_utf8_lossy(h)).to_string()).unwrap_or_default();
    checks::check_host(&hosts, target, names).map_err(|refusal| match refusal {
        HostRefusal::Count(count) => {
            format!("{answers}; a request needs exactly one Host header, this one has {count}")
        }
        HostRefusal::Malformed => format!("{answers}; Host {} is not a host name with an optional port", shown()),
        HostRefusal::TargetDisagrees => format!(
            "{answers}; the request target names {} but Host is {}",
            Escaped(target.unwrap_or_default()),
            shown()
        ),
        HostRefusal::NotAllowed => format!("{answers}, not to Host {}", shown()),
    })
}

/// `None` when the request may go on; otherwise the 401 to send.
fn authorize(server: &Server, request: &Request<Incoming>) -> Option<Response<Body>> {
    let expected = server.access.token.as_deref()?;
    let given = request.headers().get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    if checks::bearer_matches(given, expected) {
        return None;
    }
    let mut response = text(401, "this route needs `Authorization: Bearer <token>` (the server's --token-file)");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(response)
}

/// 200 when serving with room to spare; 503 with every reason otherwise.
fn health(server: &Server) -> Response<Body> {
    let mut problems = Vec::new();
    let (mapped, _) = server.host.mapped();
    let max_versions = server.host.max_versions();
    if mapped * 10 >= max_versions * 9 {
        problems.push(format!(
            "{mapped} of at most {max_versions} versions are mapped (--max-versions); restart the server to reclaim them"
        ));
    }
    let (open, max_fds) = (metrics::open_fds(), metrics::max_fds());
    if open * 10 >= max_fds * 9 {
        problems.push(format!("{open} of {max_fds} descriptors are open"));
    }
    if let Some(at) = *server.fd_exhausted_at.lock().unwrap_or_else(|p| p.into_inner())
        && at.elapsed() < Duration::from_secs(30)
    {
        problems.push(format!(
            "ran out of descriptors {} s ago (accept failed); {open} of {max_fds} open now",
            at.elapsed().as_secs()
        ));
    }
    let connections = server.metrics.connections_open.load(Ordering::Relaxed) as usize;
    if connections * 10 >= server.limits.max_connections * 9 {
        problems.push(format!("{connections} of {} connections are open", server.limits.max_connections));
    }
    server.calls.set_modules(server.host.modules_serving());
    let (in_use, _) = server.calls.in_use();
    if in_use >= server.calls.total() {
        problems.push(format!("all {} handler call slots are busy", server.calls.total()));
    }
    for (module, held) in server.calls.full_modules() {
        problems.push(format!(
            "module `{}` holds all {held} of its call slots (its share of --max-calls); its next call gets a 503",
            Escaped(&module)
        ));
    }
    if let Some(journal) = server.host.journal_problem() {
        problems.push(journal);
    }
    let body = serde_json::json!({
        "status": if problems.is_empty() { "ok" } else { "unhealthy" },
        "problems": problems,
        "modules": server.host.modules_serving(),
        "mapped_versions": mapped,
        "max_versions": max_versions,
        "open_fds": open,
        "max_fds": max_fds,
    });
    json(if problems.is_empty() { 200 } else { 503 }, &body)
}
