//! Demo module `task`, version 1: counts the records and sums their amounts.
//!
//! The resident data set (built by the host, see `hotpack demo`) is a flat array of
//! 16-byte little-endian records: `id: u64, amount: u32, category: u32`. The host passes it
//! by reference on every call; the module never copies it.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

/// Bytes per record.
const RECORD: usize = 16;

fn field(record: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
}

fn run(data: &[u8]) -> Result<String, String> {
    if !data.len().is_multiple_of(RECORD) {
        return Err(format!("data is {} bytes, not a whole number of {RECORD}-byte records", data.len()));
    }
    let mut total: u64 = 0;
    for record in data.chunks_exact(RECORD) {
        total += u64::from(field(record, 8));
    }
    Ok(format!("v1: {} records, total amount {total}", data.len() / RECORD))
}

hotpack_abi::module! {
    name: "task",
    version: env!("CARGO_PKG_VERSION"),
    handlers: { "run" => run },
}
