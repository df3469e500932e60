//! The isolation figures of `hotpack serve`, against its `--in-process` mode:
//!
//! - `isolated_serve_rps_vs_in_process_ratio`: the `serve_rps` setup (`greeter/greet`, 16
//!   keep-alive clients) on two servers at once, one isolated (the default) and one
//!   `--in-process`, loaded in turn (interleaved windows); the ratio of the summed rates.
//! - `worker_respawn_ms`: from the 502 of a call that crashes its worker (greeter 3.1.0
//!   `abort`, over greeter 1.0.0) to the 200 of a call sent at once, answered by 1.0.0 in a
//!   fresh worker (the journal writes of the demotion included; no spare worker is kept
//!   waiting). The median of a few servers, one crash each (a crashed version's bytes are
//!   refused from then on). The fallback worker is started (spawn, load, init) and the journal
//!   written while the crashing call is answered, before its 502: this figure does not hold
//!   the respawn's cost, the next one does.
//! - `worker_crash_call_ms`: that crashing call, from sending it to its 502: the worker's
//!   death, the demotion (journal written first) and the fallback's fresh worker (spawn, load,
//!   init). The median of the same servers (each one in `isolate_detail.crash_call_ms`).

use crate::serve_bench::{Load, Server, read_response};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Builds what it needs and returns the keys.
pub(crate) fn run(quick: bool) -> Result<Value> {
    let root = crate::root();
    let target = crate::target_root(&root).join("hotpack-fixtures");
    let mut build = crate::cargo();
    build
        .args(["build", "--release", "--quiet", "-p", "hotpack-cli", "-p", "greeter-v1", "-p", "fx-greeter-crashes"])
        .arg("--target-dir")
        .arg(&target);
    crate::run(build)?;
    let release = target.join("release");
    let hotpack = release.join("hotpack");
    let work = crate::target_root(&root).join("hotpack-bench").join("isolate");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let v1 = pack(&hotpack, &release.join("libgreeter_v1.so"), &work.join("v1.zip"))?;
    let crashes = pack(&hotpack, &release.join("libfx_greeter_crashes.so"), &work.join("crashes.zip"))?;

    // Interleaved windows on two servers.
    let folder = |name: &str| -> Result<PathBuf> {
        let dir = work.join(name).join("plugins");
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(&v1, dir.join("greeter.zip"))?;
        Ok(dir)
    };
    let iso_dir = folder("isolated")?;
    let inp_dir = folder("in-process")?;
    let isolated = Server::start_with(&hotpack, &iso_dir, &work.join("isolated"), &[])?;
    let in_process = Server::start_with(&hotpack, &inp_dir, &work.join("in-process"), &["--in-process"])?;
    let (rounds, window) = if quick { (2, Duration::from_secs(1)) } else { (4, Duration::from_secs(2)) };
    let (mut iso_requests, mut iso_secs, mut inp_requests, mut inp_secs) = (0usize, 0f64, 0usize, 0f64);
    let mut pairs = Vec::new();
    for _ in 0..rounds {
        let (n, s) = window_rps(&isolated, window)?;
        let (m, t) = window_rps(&in_process, window)?;
        pairs.push(json!({"isolated_rps": n as f64 / s, "in_process_rps": m as f64 / t}));
        (iso_requests, iso_secs, inp_requests, inp_secs) =
            (iso_requests + n, iso_secs + s, inp_requests + m, inp_secs + t);
    }
    drop((isolated, in_process));
    let iso_rps = iso_requests as f64 / iso_secs;
    let inp_rps = inp_requests as f64 / inp_secs;

    // Respawn after a crash.
    let mut respawn = Vec::new();
    // The crashing call itself: the demotion (journal written first) and the fallback's
    // fresh worker happen before its 502 is sent.
    let mut crash_call = Vec::new();
    for i in 0..if quick { 3 } else { 7 } {
        let dir = work.join(format!("respawn-{i}")).join("plugins");
        std::fs::create_dir_all(&dir)?;
        std::fs::copy(&v1, dir.join("greeter.zip"))?;
        let server = Server::start_with(&hotpack, &dir, &work.join(format!("respawn-{i}")), &[])?;
        let tmp = dir.join(".greeter.zip.tmp");
        std::fs::copy(&crashes, &tmp)?;
        std::fs::rename(&tmp, dir.join("greeter.zip"))?;
        server.wait_for("deployed greeter 3.1.0")?;
        let stream = TcpStream::connect(server.addr)?;
        stream.set_nodelay(true)?;
        let mut conn = BufReader::new(stream);
        let sent = Instant::now();
        let crashed = request(&mut conn, server.addr, "/greeter/abort")?;
        let t0 = Instant::now();
        crash_call.push((t0 - sent).as_secs_f64() * 1000.0);
        // The crash closes nothing on the client's side: the next call goes on the same
        // connection, at once.
        let answered = request(&mut conn, server.addr, "/greeter/version")?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        if crashed != 502 || answered != 200 {
            bail!("expected 502 then 200, got {crashed} then {answered}");
        }
        respawn.push(ms);
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(json!({
        "isolated_serve_rps_vs_in_process_ratio": iso_rps / inp_rps,
        "worker_respawn_ms": median(&respawn),
        "worker_crash_call_ms": median(&crash_call),
        "isolate_detail": {
            "isolated_rps": iso_rps,
            "in_process_rps": inp_rps,
            "rounds": pairs,
            "respawn_ms": respawn,
            "crash_call_ms": crash_call,
            "spare_worker": false,
        },
    }))
}

fn pack(hotpack: &Path, library: &Path, out: &Path) -> Result<PathBuf> {
    let mut pack = Command::new(hotpack);
    pack.arg("pack").arg(library).arg("--output").arg(out).stdout(Stdio::null());
    crate::run(pack)?;
    Ok(out.to_path_buf())
}

/// Requests answered in one window of 16 clients, and its length in seconds.
fn window_rps(server: &Server, window: Duration) -> Result<(usize, f64)> {
    let load = Load::start(server.addr, 16);
    std::thread::sleep(Duration::from_millis(200));
    load.reset();
    std::thread::sleep(window);
    let measured = load.stop()?;
    if measured.failures > 0 {
        bail!("{} requests failed", measured.failures);
    }
    Ok((measured.latencies_us.len(), measured.elapsed.as_secs_f64()))
}

fn request(conn: &mut BufReader<TcpStream>, addr: std::net::SocketAddr, path: &str) -> Result<u16> {
    let head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
    conn.get_mut().write_all(head.as_bytes())?;
    Ok(read_response(conn)?)
}
