//! Integration tests for hotpack-archive: one binary, one module per area.

mod common;
mod format_rules;
mod fuzz_corpus;
mod hostile;
mod interop;
mod lazy;
mod pack;
mod prop;
mod rawzip;
mod search;
mod sign;
