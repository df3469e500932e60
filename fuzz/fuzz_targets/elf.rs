//! The loader's ELF pre-check on library bytes (before the dynamic loader sees them):
//! never panics, and what it accepts is an ELF64 little-endian shared object whose
//! program headers lie inside the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if hotpack_loader::fuzz_elf_check(data).is_ok() {
        assert!(data.len() >= 64 && &data[..4] == b"\x7fELF" && data[4] == 2 && data[5] == 1);
        let phoff = u64::from_le_bytes(data[32..40].try_into().expect("8 bytes"));
        let phentsize = u64::from(u16::from_le_bytes([data[54], data[55]]));
        let phnum = u64::from(u16::from_le_bytes([data[56], data[57]]));
        assert!(phoff.saturating_add(phentsize.saturating_mul(phnum)) <= data.len() as u64);
    }
});
