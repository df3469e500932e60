//! A bounds check of the ELF header before `dlopen` sees the file: is it a shared library,
//! for this architecture, and is every header and loadable segment inside the file?
//!
//! `dlopen` reports these cases too, but as one opaque string; and a truncated library whose
//! headers fit but whose segments do not would be mapped past its end (SIGBUS on first
//! touch). Checking first turns each case into its own typed error.

use crate::{ElfFault, LoadError};
use std::path::Path;

const ET_DYN: u16 = 3;

/// `e_machine` of the architecture this host runs on.
pub(crate) fn host_machine() -> (u16, &'static str) {
    if cfg!(target_arch = "x86_64") {
        (62, "x86-64")
    } else if cfg!(target_arch = "aarch64") {
        (183, "AArch64")
    } else if cfg!(target_arch = "riscv64") {
        (243, "RISC-V")
    } else if cfg!(target_arch = "x86") {
        (3, "x86")
    } else if cfg!(target_arch = "arm") {
        (40, "ARM")
    } else {
        (0, "unknown")
    }
}

fn machine_name(m: u16) -> String {
    match m {
        3 => "x86".into(),
        8 => "MIPS".into(),
        20 => "PowerPC".into(),
        21 => "PowerPC64".into(),
        40 => "ARM".into(),
        62 => "x86-64".into(),
        183 => "AArch64".into(),
        243 => "RISC-V".into(),
        other => format!("ELF machine {other}"),
    }
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// Checks `bytes` is a 64-bit little-endian ELF shared object for this machine whose
/// program headers, loadable segments and section headers all lie inside the file.
pub(crate) fn check(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let not_lib = |fault: ElfFault| LoadError::NotASharedLibrary { path: path.to_path_buf(), fault };
    if bytes.is_empty() {
        return Err(not_lib(ElfFault::Empty));
    }
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(not_lib(ElfFault::NoMagic));
    }
    let truncated =
        |expected: u64| LoadError::Truncated { path: path.to_path_buf(), expected, found: bytes.len() as u64 };
    if bytes.len() < 64 {
        return Err(truncated(64));
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        // Not ELF64 little-endian: on the hosts hotpack supports that is another architecture.
        let found = format!(
            "{}-bit {}-endian ELF",
            if bytes[4] == 1 { 32 } else { 64 },
            if bytes[5] == 2 { "big" } else { "little" }
        );
        return Err(LoadError::WrongArchitecture {
            path: path.to_path_buf(),
            expected: host_machine().1.to_owned(),
            found,
        });
    }
    let e_type = u16_at(bytes, 16);
    if e_type != ET_DYN {
        return Err(not_lib(ElfFault::NotSharedObject { e_type }));
    }
    let machine = u16_at(bytes, 18);
    let (host, host_name) = host_machine();
    if machine != host {
        return Err(LoadError::WrongArchitecture {
            path: path.to_path_buf(),
            expected: host_name.to_owned(),
            found: machine_name(machine),
        });
    }
    let len = bytes.len() as u64;
    let phoff = u64_at(bytes, 32);
    let shoff = u64_at(bytes, 40);
    let phentsize = u64::from(u16_at(bytes, 54));
    let phnum = u64::from(u16_at(bytes, 56));
    let shentsize = u64::from(u16_at(bytes, 58));
    let shnum = u64::from(u16_at(bytes, 60));
    let ph_end = phoff.saturating_add(phentsize.saturating_mul(phnum));
    if ph_end > len {
        return Err(truncated(ph_end));
    }
    if phentsize < 56 && phnum > 0 {
        return Err(not_lib(ElfFault::ProgramHeadersTooSmall));
    }
    let mut needed = ph_end;
    for i in 0..phnum {
        let at = (phoff + i * phentsize) as usize;
        let p_type = u32_at(bytes, at);
        if p_type == 1 {
            // PT_LOAD: file bytes [p_offset, p_offset + p_filesz) are mapped.
            let end = u64_at(bytes, at + 8).saturating_add(u64_at(bytes, at + 32));
            needed = needed.max(end);
        }
    }
    if shoff != 0 {
        needed = needed.max(shoff.saturating_add(shentsize.saturating_mul(shnum)));
    }
    if needed > len {
        return Err(truncated(needed));
    }
    Ok(())
}
