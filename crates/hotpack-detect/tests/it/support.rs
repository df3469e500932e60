//! Small helpers shared by the integration tests.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Set `path`'s mtime to `ago` before now (contents untouched).
pub fn age(path: &Path, ago: Duration) {
    let file = File::options().write(true).open(path).expect("test file opens for writing");
    file.set_modified(SystemTime::now() - ago).expect("set mtime");
}

/// Write `len` bytes derived from `seed` (distinct seeds give distinct bytes).
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}
