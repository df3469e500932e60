//! Demo module `task`, version 3: a broken edit. It compiles, loads and initializes, but
//! panics on real data (a per-category table one slot too small), as a hurried change
//! might. The host catches the panic inside the module, counts it against the panic budget
//! and rolls back to the last good version; the resident data is untouched.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

/// Bytes per record.
const RECORD: usize = 16;

fn field(record: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
}

fn run(data: &[u8]) -> Result<String, String> {
    // The bug: the data uses 16 categories; this table has 15.
    let mut sum = vec![0u64; 15];
    for record in data.chunks_exact(RECORD) {
        sum[field(record, 12) as usize] += u64::from(field(record, 8));
    }
    Ok(format!("v3: sums per category {sum:?}"))
}

hotpack_abi::module! {
    name: "task",
    version: env!("CARGO_PKG_VERSION"),
    handlers: { "run" => run },
}
