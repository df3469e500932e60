//! A hostile OCI registry on loopback: a few lines of HTTP that answer every manifest with a
//! one-layer bundle artifact and then misbehave on the layer.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hotpack_fleet::{BUNDLE_MEDIA_TYPE, CONFIG_MEDIA_TYPE};

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// The manifest declares a plausible size; the layer never ends (chunked, 64 KiB chunks).
    Endless,
    /// The manifest declares a 1 TiB layer.
    Huge,
    /// The layer comes one byte every 50 ms.
    Dribble,
}

pub struct Hostile {
    port: u16,
    /// Bytes of layer written to clients.
    pub sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    pub fn start(mode: Mode) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&sent), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (s, st) = (Arc::clone(&s), Arc::clone(&st));
                std::thread::spawn(move || serve(conn, mode, &s, &st));
            }
        });
        Hostile { port, sent, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(conn: TcpStream, mode: Mode, sent: &AtomicU64, stop: &AtomicBool) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let mut out = conn;
    if path.contains("/manifests/") {
        let size: u64 = match mode {
            Mode::Huge => 1 << 40,
            _ => 4096,
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": format!("sha256:{}", "0".repeat(64)), "size": 2},
            "layers": [{"mediaType": BUNDLE_MEDIA_TYPE, "digest": format!("sha256:{}", "a".repeat(64)), "size": size}],
        })
        .to_string();
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{manifest}",
            manifest.len()
        );
        return;
    }
    if !path.contains("/blobs/") {
        let _ = write!(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    match mode {
        Mode::Endless | Mode::Huge => {
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            let chunk = vec![0x5a; 64 * 1024];
            while !stop.load(Ordering::SeqCst) {
                let head = format!("{:x}\r\n", chunk.len());
                if out
                    .write_all(head.as_bytes())
                    .and_then(|()| out.write_all(&chunk))
                    .and_then(|()| out.write_all(b"\r\n"))
                    .is_err()
                {
                    return;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
        Mode::Dribble => {
            let _ = write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n"
            );
            while !stop.load(Ordering::SeqCst) {
                if out.write_all(b"z").and_then(|()| out.flush()).is_err() {
                    return;
                }
                sent.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A line of /proc/self/status (`VmRSS`, `VmHWM`) in bytes.
pub fn vm(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
