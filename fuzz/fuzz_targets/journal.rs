//! Rollback journal decode (what a restart reads back): never panics; what decodes
//! re-encodes to bytes that decode to the same modules (checked inside the entry point).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hotpack_rollback::fuzz_journal_decode(data);
});
