//! Demo module `task`, version 2: the busiest category and its mean amount.
//!
//! Same data layout as `task-v1` (16-byte records `id: u64, amount: u32, category: u32`),
//! a different answer: what a data engineer's next edit of the analysis looks like.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

/// Bytes per record.
const RECORD: usize = 16;
/// Categories the data set uses (`category < CATEGORIES`).
const CATEGORIES: usize = 16;

fn field(record: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
}

fn run(data: &[u8]) -> Result<String, String> {
    if !data.len().is_multiple_of(RECORD) {
        return Err(format!("data is {} bytes, not a whole number of {RECORD}-byte records", data.len()));
    }
    let mut count = [0u64; CATEGORIES];
    let mut sum = [0u64; CATEGORIES];
    for record in data.chunks_exact(RECORD) {
        let category = field(record, 12) as usize % CATEGORIES;
        count[category] += 1;
        sum[category] += u64::from(field(record, 8));
    }
    let (best, _) = sum.iter().enumerate().max_by_key(|&(i, s)| (*s, std::cmp::Reverse(i))).unwrap_or((0, &0));
    let mean = sum[best].checked_div(count[best]).unwrap_or(0);
    Ok(format!("v2: top category {best} ({} records), mean amount {mean}", count[best]))
}

hotpack_abi::module! {
    name: "task",
    version: env!("CARGO_PKG_VERSION"),
    handlers: { "run" => run },
}
