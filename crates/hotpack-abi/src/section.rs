//! The descriptor as data: a byte encoding of everything a host needs to know about a module
//! without running it, built at compile time by [`module!`](crate::module) and placed in the
//! library's own ELF section, [`SECTION_NAME`].
//!
//! A host (`hotpack_loader::describe`) finds the section through the ELF section headers and
//! decodes it without mapping or running anything; when it does load the library it checks
//! the section agrees with the live descriptor. The encoding (`docs/FORMAT.md`, "The
//! descriptor section"), all integers little-endian, strings as a `u32` length and UTF-8 bytes:
//!
//! ```text
//! magic            8 bytes  b"HPKDESC\0"
//! format_version   u32      SECTION_FORMAT_VERSION
//! total_len        u32      bytes of the whole encoding, header included
//! layout_version   u32      the descriptor's LAYOUT_VERSION
//! abi_version      u32
//! panic_strategy   u32      PANIC_UNWIND / PANIC_ABORT
//! hooks            u32      HOOK_INIT | HOOK_EXPORT | HOOK_IMPORT
//! name, version, rustc, target        strings
//! handler count    u32, then each handler name (string)
//! interface count  u32, then each: name (string), id u64, table size u64
//! requirement count u32, then each: name (string), id u64, table size u64,
//!                   range (string: a semver range on the provider's version, empty = any)
//! ```
//!
//! Format 1 (hotpack before requirement ranges) is the same without the range; a host still
//! reads it (no range: any provider version).

/// Name of the ELF section holding the encoded descriptor. Not a C identifier, so linkers
/// give it no `__start_`/`__stop_` symbols; the exported descriptor function references it,
/// so it survives `--gc-sections`.
pub const SECTION_NAME: &str = ".hotpack.descriptor";

/// First eight bytes of the encoding.
pub const SECTION_MAGIC: [u8; 8] = *b"HPKDESC\0";

/// Version of the section encoding; a host refuses one it does not know. Format 2 added the
/// version range of each requirement; format 1 is still read.
pub const SECTION_FORMAT_VERSION: u32 = 2;

/// Bytes before the first string: magic, format version, total length, layout and ABI
/// versions, panic strategy, hooks.
pub const SECTION_HEADER_LEN: usize = 32;

/// `hooks` bit: the module has an init hook.
pub const HOOK_INIT: u32 = 1;
/// `hooks` bit: the module has a state-export hook.
pub const HOOK_EXPORT: u32 = 2;
/// `hooks` bit: the module has a state-import hook.
pub const HOOK_IMPORT: u32 = 4;

/// An interface (provided or required) as the section records it.
#[derive(Debug, Clone, Copy)]
pub struct SectionInterface<'a> {
    /// [`Interface::NAME`](crate::Interface::NAME).
    pub name: &'a str,
    /// [`Interface::ID`](crate::Interface::ID).
    pub id: u64,
    /// `size_of` the interface's table.
    pub table_size: usize,
}

/// A required interface as the section records it: the interface, and the provider versions
/// the module accepts.
#[derive(Debug, Clone, Copy)]
pub struct SectionRequirement<'a> {
    /// [`Interface::NAME`](crate::Interface::NAME).
    pub name: &'a str,
    /// [`Interface::ID`](crate::Interface::ID).
    pub id: u64,
    /// `size_of` the interface's table.
    pub table_size: usize,
    /// A semver range (Cargo's syntax, `">=2, <3"`) the provider module's version must
    /// match; empty for any version.
    pub range: &'a str,
}

/// What [`module!`](crate::module) encodes; built in `const` context.
#[derive(Debug, Clone, Copy)]
pub struct SectionParts<'a> {
    /// The descriptor's layout version.
    pub layout_version: u32,
    /// The descriptor's ABI version.
    pub abi_version: u32,
    /// The descriptor's panic strategy.
    pub panic_strategy: u32,
    /// [`HOOK_INIT`] | [`HOOK_EXPORT`] | [`HOOK_IMPORT`] as present.
    pub hooks: u32,
    /// Module name.
    pub name: &'a str,
    /// Module version (semver text).
    pub version: &'a str,
    /// `rustc -V` of the module.
    pub rustc: &'a str,
    /// Target triple of the module.
    pub target: &'a str,
    /// Handler names in declaration order.
    pub handlers: &'a [&'a str],
    /// Interfaces the module provides.
    pub interfaces: &'a [SectionInterface<'a>],
    /// Interfaces the module requires from other modules.
    pub requires: &'a [SectionRequirement<'a>],
}

impl SectionParts<'_> {
    /// Length of the encoding in bytes.
    pub const fn encoded_len(&self) -> usize {
        let mut len = SECTION_HEADER_LEN;
        len += 4 + self.name.len();
        len += 4 + self.version.len();
        len += 4 + self.rustc.len();
        len += 4 + self.target.len();
        len += 4;
        let mut i = 0;
        while i < self.handlers.len() {
            len += 4 + self.handlers[i].len();
            i += 1;
        }
        len += 4;
        let mut i = 0;
        while i < self.interfaces.len() {
            len += 4 + self.interfaces[i].name.len() + 16;
            i += 1;
        }
        len += 4;
        let mut i = 0;
        while i < self.requires.len() {
            len += 4 + self.requires[i].name.len() + 16 + 4 + self.requires[i].range.len();
            i += 1;
        }
        len
    }

    /// The encoding; `N` must be [`encoded_len`](Self::encoded_len) (a mismatch is a
    /// compile-time error where this runs in `const` context, as the macro runs it).
    pub const fn encode<const N: usize>(&self) -> [u8; N] {
        assert!(N == self.encoded_len(), "hotpack: descriptor section length mismatch");
        assert!(N <= u32::MAX as usize, "hotpack: descriptor section too large");
        let mut buf = [0u8; N];
        let mut at = put(&mut buf, 0, &SECTION_MAGIC);
        at = put_u32(&mut buf, at, SECTION_FORMAT_VERSION);
        at = put_u32(&mut buf, at, N as u32);
        at = put_u32(&mut buf, at, self.layout_version);
        at = put_u32(&mut buf, at, self.abi_version);
        at = put_u32(&mut buf, at, self.panic_strategy);
        at = put_u32(&mut buf, at, self.hooks);
        at = put_str(&mut buf, at, self.name);
        at = put_str(&mut buf, at, self.version);
        at = put_str(&mut buf, at, self.rustc);
        at = put_str(&mut buf, at, self.target);
        at = put_u32(&mut buf, at, self.handlers.len() as u32);
        let mut i = 0;
        while i < self.handlers.len() {
            at = put_str(&mut buf, at, self.handlers[i]);
            i += 1;
        }
        at = put_interfaces(&mut buf, at, self.interfaces);
        at = put_u32(&mut buf, at, self.requires.len() as u32);
        let mut i = 0;
        while i < self.requires.len() {
            let r = &self.requires[i];
            at = put_str(&mut buf, at, r.name);
            at = put_u64(&mut buf, at, r.id);
            at = put_u64(&mut buf, at, r.table_size as u64);
            at = put_str(&mut buf, at, r.range);
            i += 1;
        }
        assert!(at == N, "hotpack: descriptor section length mismatch");
        buf
    }
}

const fn put(buf: &mut [u8], at: usize, bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        buf[at + i] = bytes[i];
        i += 1;
    }
    at + bytes.len()
}

const fn put_u32(buf: &mut [u8], at: usize, v: u32) -> usize {
    put(buf, at, &v.to_le_bytes())
}

const fn put_u64(buf: &mut [u8], at: usize, v: u64) -> usize {
    put(buf, at, &v.to_le_bytes())
}

const fn put_str(buf: &mut [u8], at: usize, s: &str) -> usize {
    assert!(s.len() <= u32::MAX as usize, "hotpack: descriptor string too long");
    let at = put_u32(buf, at, s.len() as u32);
    put(buf, at, s.as_bytes())
}

const fn put_interfaces(buf: &mut [u8], at: usize, list: &[SectionInterface<'_>]) -> usize {
    let mut at = put_u32(buf, at, list.len() as u32);
    let mut i = 0;
    while i < list.len() {
        at = put_str(buf, at, list[i].name);
        at = put_u64(buf, at, list[i].id);
        at = put_u64(buf, at, list[i].table_size as u64);
        i += 1;
    }
    at
}
