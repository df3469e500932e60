//! Example module `greeter`, version 2: greets in upper case, doubles its sums.
//!
//! Same interface as `greeter-v1`, different answers, so a host can tell them apart.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

use greeter_api::GreeterImpl;
use std::sync::atomic::{AtomicU64, Ordering};

/// Greetings served so far: module-owned state, carried across a swap.
static GREETED: AtomicU64 = AtomicU64::new(0);

struct V2;

impl GreeterImpl for V2 {
    fn generation() -> u32 {
        2
    }
    fn add(a: u64, b: u64) -> u64 {
        a.wrapping_add(b).wrapping_mul(2)
    }
}

fn greet(input: &[u8]) -> String {
    let n = GREETED.fetch_add(1, Ordering::Relaxed) + 1;
    format!("HELLO, {} (v2, greeting #{n})", String::from_utf8_lossy(input).to_uppercase())
}

fn version(_: &[u8]) -> &'static str {
    "2"
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
    interfaces: [greeter_api::Greeter => V2],
    handlers: { "greet" => greet, "version" => version },
}
