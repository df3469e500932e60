//! Example module `greeter`, version 1: greets in lower case, adds plainly.
//!
//! Built in two versions (this crate and `greeter-v2`) with the same interface and
//! different answers; the README's demo, the tests and the benchmarks load both.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

use greeter_api::GreeterImpl;
use std::sync::atomic::{AtomicU64, Ordering};

/// Greetings served so far: module-owned state, carried across a swap.
static GREETED: AtomicU64 = AtomicU64::new(0);

struct V1;

impl GreeterImpl for V1 {
    fn generation() -> u32 {
        1
    }
    fn add(a: u64, b: u64) -> u64 {
        a.wrapping_add(b)
    }
}

fn greet(input: &[u8]) -> String {
    let n = GREETED.fetch_add(1, Ordering::Relaxed) + 1;
    format!("hello, {} (v1, greeting #{n})", String::from_utf8_lossy(input))
}

fn version(_: &[u8]) -> &'static str {
    "1"
}

fn export() -> Vec<u8> {
    GREETED.load(Ordering::Relaxed).to_le_bytes().to_vec()
}

fn import(state: &[u8]) -> Result<(), String> {
    let bytes: [u8; 8] = state.try_into().map_err(|_| format!("expected 8 bytes of state, got {}", state.len()))?;
    GREETED.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
    Ok(())
}

hotpack_abi::module! {
    name: "greeter",
    version: env!("CARGO_PKG_VERSION"),
    state: { export: export, import: import },
    interfaces: [greeter_api::Greeter => V1],
    handlers: { "greet" => greet, "version" => version },
}
