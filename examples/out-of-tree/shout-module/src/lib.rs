//! The `shout` module: one byte handler, `run`, and the typed `Shout` interface.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

use shout_api::ShoutImpl;

struct Loud;

impl ShoutImpl for Loud {
    fn volume() -> u32 {
        1
    }
    fn marks(n: u64) -> u64 {
        n
    }
}

/// `run`: the input in capitals with an exclamation mark. An `Err` reaches the host as a
/// handler error; a panic is caught at the boundary.
fn run(input: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(input).map_err(|e| format!("not UTF-8: {e}"))?;
    Ok(format!("{}!", text.to_uppercase()))
}

hotpack_abi::module! {
    name: "shout",
    version: env!("CARGO_PKG_VERSION"),
    interfaces: [shout_api::Shout => Loud],
    handlers: { "run" => run },
}
