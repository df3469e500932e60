//! Reading a module's descriptor without running it: the ELF section
//! [`SECTION_NAME`](hotpack_abi::section::SECTION_NAME) that `module!` fills at compile time,
//! found through the section headers and the section-name string table of the file's bytes.
//!
//! Nothing is mapped, nothing is executed: every offset and length comes from the file and
//! is checked against the bytes before it is used, and every way the bytes can be wrong is
//! its own [`DescribeError`]. `Loader` calls this before `dlopen` (a library without the
//! section never runs a constructor) and, after binding, checks the section agrees with the
//! live descriptor.

use crate::{InterfaceInfo, ModuleInfo};
use hotpack_abi::section::{
    HOOK_EXPORT, HOOK_IMPORT, HOOK_INIT, SECTION_FORMAT_VERSION, SECTION_HEADER_LEN, SECTION_MAGIC, SECTION_NAME,
};

/// What a module's descriptor section says, decoded from the library's bytes alone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaticDescriptor {
    /// Version of the section encoding.
    pub format_version: u32,
    /// The descriptor layout version the module was built with.
    pub layout_version: u32,
    /// [`PANIC_UNWIND`](hotpack_abi::PANIC_UNWIND) or [`PANIC_ABORT`](hotpack_abi::PANIC_ABORT)
    /// (or an unknown value, which the loader refuses).
    pub panic_strategy: u32,
    /// Name, version, ABI version, rustc, target, interfaces, requirements, handlers, hooks.
    pub info: ModuleInfo,
    /// Whether the module has a state-export hook.
    pub has_export: bool,
    /// Whether the module has a state-import hook.
    pub has_import: bool,
}

impl AsRef<ModuleInfo> for StaticDescriptor {
    fn as_ref(&self) -> &ModuleInfo {
        &self.info
    }
}

/// Why [`describe`] could not read a descriptor section.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DescribeError {
    /// The bytes are not a 64-bit little-endian ELF file.
    #[error("not a 64-bit little-endian ELF file: {reason}")]
    NotElf {
        /// What is wrong.
        reason: &'static str,
    },
    /// The ELF header names no section header table.
    #[error("the ELF file has no section header table")]
    NoSectionTable,
    /// The section header table or one of its entries lies outside the file.
    #[error(
        "the section header table ({count} entries of {entry_size} bytes at offset {offset}) is outside the {file_len}-byte file"
    )]
    SectionTableOutOfBounds {
        /// `e_shoff`.
        offset: u64,
        /// `e_shentsize`.
        entry_size: u64,
        /// `e_shnum`.
        count: u64,
        /// Length of the file.
        file_len: u64,
    },
    /// The section-name string table index or its contents are out of range.
    #[error("the section-name string table (section {index}) is missing or outside the file")]
    BadNameTable {
        /// `e_shstrndx`.
        index: u64,
    },
    /// No section has the descriptor section's name.
    #[error(
        "no `{section}` section: not built with hotpack_abi::module! (or built with a hotpack older than the section)"
    )]
    MissingSection {
        /// [`SECTION_NAME`].
        section: &'static str,
    },
    /// The descriptor section's bytes lie outside the file (or it occupies no file bytes).
    #[error("the `{section}` section ({size} bytes at offset {offset}) is outside the {file_len}-byte file")]
    SectionOutOfBounds {
        /// [`SECTION_NAME`].
        section: &'static str,
        /// `sh_offset`.
        offset: u64,
        /// `sh_size`.
        size: u64,
        /// Length of the file.
        file_len: u64,
    },
    /// The section does not start with the descriptor magic.
    #[error("the `{section}` section does not start with the descriptor magic")]
    BadMagic {
        /// [`SECTION_NAME`].
        section: &'static str,
    },
    /// The section's encoding version is not one this host reads.
    #[error("descriptor section format {found}, this host reads formats 1 to {expected}")]
    UnknownFormat {
        /// [`SECTION_FORMAT_VERSION`].
        expected: u32,
        /// What the section says.
        found: u32,
    },
    /// The encoding ends before a field it announces (or says it is longer than the section).
    #[error("the descriptor section is truncated: {field} at byte {at} needs {needed} bytes, the section has {len}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Its offset in the section.
        at: usize,
        /// Bytes it needs from there.
        needed: u64,
        /// Bytes in the (declared) section.
        len: usize,
    },
    /// A string field is not UTF-8.
    #[error("descriptor field `{field}` is not UTF-8")]
    NotUtf8 {
        /// The field.
        field: &'static str,
        /// The decoding error.
        #[source]
        source: std::str::Utf8Error,
    },
    /// The version field is not semver.
    #[error("descriptor version `{text}` is not semver")]
    BadVersion {
        /// The text.
        text: String,
        /// The parse error.
        #[source]
        source: semver::Error,
    },
    /// A requirement's range on its provider's version is not a semver range.
    #[error("the range `{text}` the module requires of `{interface}`'s provider is not a semver range")]
    BadRange {
        /// The required interface.
        interface: String,
        /// The text.
        text: String,
        /// The parse error.
        #[source]
        source: semver::Error,
    },
    /// Bytes follow the last field inside the declared length.
    #[error("the descriptor section has {extra} unexpected bytes after its last field")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

const SHT_NOBITS: u32 = 8;

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: u64, field: &'static str) -> Result<&'a [u8], DescribeError> {
        let truncated = || DescribeError::Truncated { field, at: self.at, needed: n, len: self.bytes.len() };
        let n = usize::try_from(n).map_err(|_| truncated())?;
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or_else(truncated)?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DescribeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DescribeError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn string(&mut self, field: &'static str) -> Result<String, DescribeError> {
        let len = self.u32(field)?;
        let b = self.take(u64::from(len), field)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|source| DescribeError::NotUtf8 { field, source })
    }

    fn interfaces(&mut self, field: &'static str) -> Result<Vec<InterfaceInfo>, DescribeError> {
        let count = self.u32(field)?;
        // Each entry is at least 20 bytes: refuse a count the rest cannot hold before allocating.
        let rest = self.bytes.len() - self.at;
        if u64::from(count) * 20 > rest as u64 {
            return Err(DescribeError::Truncated { field, at: self.at, needed: u64::from(count) * 20, len: rest });
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let name = self.string(field)?;
            let id = self.u64(field)?;
            let table_size = self.u64(field)?;
            let table_size = usize::try_from(table_size).unwrap_or(usize::MAX);
            out.push(InterfaceInfo { name, id, table_size, range: None });
        }
        Ok(out)
    }

    /// Requirements: interfaces, each followed (from format 2) by its range on the provider's
    /// version (a string, empty for any).
    fn requirements(&mut self, format: u32) -> Result<Vec<InterfaceInfo>, DescribeError> {
        if format < 2 {
            return self.interfaces("requires");
        }
        let count = self.u32("requires")?;
        // Each entry is at least 24 bytes: refuse a count the rest cannot hold before allocating.
        let rest = self.bytes.len() - self.at;
        if u64::from(count) * 24 > rest as u64 {
            let needed = u64::from(count) * 24;
            return Err(DescribeError::Truncated { field: "requires", at: self.at, needed, len: rest });
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let name = self.string("requires")?;
            let id = self.u64("requires")?;
            let table_size = usize::try_from(self.u64("requires")?).unwrap_or(usize::MAX);
            let text = self.string("requires.range")?;
            let range = if text.is_empty() {
                None
            } else {
                let parsed = semver::VersionReq::parse(&text);
                Some(parsed.map_err(|source| DescribeError::BadRange { interface: name.clone(), text, source })?)
            };
            out.push(InterfaceInfo { name, id, table_size, range });
        }
        Ok(out)
    }
}

/// Fixed-width read from the ELF file; `None` when out of bounds.
fn read_at<const N: usize>(bytes: &[u8], off: u64) -> Option<[u8; N]> {
    let off = usize::try_from(off).ok()?;
    let slice = bytes.get(off..off.checked_add(N)?)?;
    let mut a = [0u8; N];
    a.copy_from_slice(slice);
    Some(a)
}

fn u16_at(bytes: &[u8], off: u64) -> Option<u64> {
    read_at::<2>(bytes, off).map(|b| u64::from(u16::from_le_bytes(b)))
}
fn u32_at(bytes: &[u8], off: u64) -> Option<u32> {
    read_at::<4>(bytes, off).map(u32::from_le_bytes)
}
fn u64_at(bytes: &[u8], off: u64) -> Option<u64> {
    read_at::<8>(bytes, off).map(u64::from_le_bytes)
}

/// The bytes of the section named [`SECTION_NAME`], found through the section headers.
pub(crate) fn find_section(bytes: &[u8]) -> Result<&[u8], DescribeError> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(DescribeError::NotElf { reason: "no ELF magic at the start" });
    }
    if bytes.len() < 64 {
        return Err(DescribeError::NotElf { reason: "shorter than an ELF64 header" });
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err(DescribeError::NotElf { reason: "not ELF64 little-endian" });
    }
    let file_len = bytes.len() as u64;
    let header = |off| u16_at(bytes, off).ok_or(DescribeError::NotElf { reason: "shorter than an ELF64 header" });
    let shoff = u64_at(bytes, 40).ok_or(DescribeError::NotElf { reason: "shorter than an ELF64 header" })?;
    let (entry_size, count, strndx) = (header(58)?, header(60)?, header(62)?);
    if shoff == 0 || count == 0 {
        return Err(DescribeError::NoSectionTable);
    }
    let out_of_bounds = DescribeError::SectionTableOutOfBounds { offset: shoff, entry_size, count, file_len };
    if entry_size < 64 || shoff.checked_add(entry_size * count).is_none_or(|end| end > file_len) {
        return Err(out_of_bounds);
    }
    // Section header `i`: sh_name u32 @0, sh_type u32 @4, sh_offset u64 @24, sh_size u64 @32.
    let sh = |i: u64| shoff + i * entry_size;
    let bad_names = DescribeError::BadNameTable { index: strndx };
    if strndx >= count {
        return Err(bad_names);
    }
    let (names_off, names_size) = (
        u64_at(bytes, sh(strndx) + 24).ok_or(DescribeError::BadNameTable { index: strndx })?,
        u64_at(bytes, sh(strndx) + 32).ok_or(DescribeError::BadNameTable { index: strndx })?,
    );
    let names = usize::try_from(names_off)
        .ok()
        .zip(usize::try_from(names_size).ok())
        .and_then(|(off, size)| bytes.get(off..off.checked_add(size)?))
        .ok_or(bad_names)?;
    for i in 0..count {
        let Some(name_off) = u32_at(bytes, sh(i)) else { continue };
        let Some(name) = names.get(name_off as usize..) else { continue };
        let name = name.split(|&b| b == 0).next().unwrap_or(&[]);
        if name != SECTION_NAME.as_bytes() {
            continue;
        }
        let kind = u32_at(bytes, sh(i) + 4).unwrap_or(0);
        let offset = u64_at(bytes, sh(i) + 24).unwrap_or(u64::MAX);
        let size = u64_at(bytes, sh(i) + 32).unwrap_or(u64::MAX);
        let out = DescribeError::SectionOutOfBounds { section: SECTION_NAME, offset, size, file_len };
        if kind == SHT_NOBITS {
            return Err(out);
        }
        return usize::try_from(offset)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(off, size)| bytes.get(off..off.checked_add(size)?))
            .ok_or(out);
    }
    Err(DescribeError::MissingSection { section: SECTION_NAME })
}

/// Decodes the bytes of a descriptor section (`hotpack_abi::section`).
pub(crate) fn decode(section: &[u8]) -> Result<StaticDescriptor, DescribeError> {
    let mut r = Reader { bytes: section, at: 0 };
    if r.take(8, "magic").ok() != Some(&SECTION_MAGIC[..]) {
        return Err(DescribeError::BadMagic { section: SECTION_NAME });
    }
    let format_version = r.u32("format_version")?;
    // Format 1 is format 2 without requirement ranges: still read.
    if !(1..=SECTION_FORMAT_VERSION).contains(&format_version) {
        return Err(DescribeError::UnknownFormat { expected: SECTION_FORMAT_VERSION, found: format_version });
    }
    let total = r.u32("total_len")? as usize;
    if total < SECTION_HEADER_LEN || total > section.len() {
        return Err(DescribeError::Truncated { field: "total_len", at: 12, needed: total as u64, len: section.len() });
    }
    // The linker may pad the section; the encoding is exactly `total` bytes.
    r.bytes = &section[..total];
    let layout_version = r.u32("layout_version")?;
    let abi_version = r.u32("abi_version")?;
    let panic_strategy = r.u32("panic_strategy")?;
    let hooks = r.u32("hooks")?;
    let name = r.string("name")?;
    let version_text = r.string("version")?;
    let version = semver::Version::parse(&version_text)
        .map_err(|source| DescribeError::BadVersion { text: version_text.clone(), source })?;
    let rustc = r.string("rustc")?;
    let target = r.string("target")?;
    let handler_count = r.u32("handlers")?;
    let rest = total - r.at;
    if handler_count as usize > rest / 4 {
        return Err(DescribeError::Truncated {
            field: "handlers",
            at: r.at,
            needed: u64::from(handler_count) * 4,
            len: total,
        });
    }
    let mut handlers = Vec::with_capacity(handler_count as usize);
    for _ in 0..handler_count {
        handlers.push(r.string("handlers")?);
    }
    let interfaces = r.interfaces("interfaces")?;
    let requires = r.requirements(format_version)?;
    if r.at != total {
        return Err(DescribeError::TrailingBytes { extra: total - r.at });
    }
    let (has_export, has_import) = (hooks & HOOK_EXPORT != 0, hooks & HOOK_IMPORT != 0);
    Ok(StaticDescriptor {
        format_version,
        layout_version,
        panic_strategy,
        info: ModuleInfo {
            name,
            version,
            abi_version,
            rustc,
            target,
            interfaces,
            requires,
            handlers,
            has_init: hooks & HOOK_INIT != 0,
            has_state: has_export && has_import,
        },
        has_export,
        has_import,
    })
}

/// Reads a module's descriptor from the bytes of its library, without mapping or running
/// anything: the ELF section headers locate [`SECTION_NAME`], whose bytes `module!` encoded at
/// compile time. Every offset is bounds-checked.
///
/// This only reads what the module says; it checks nothing against this host (rustc,
/// target, ABI): loading does that.
///
/// # Errors
///
/// A [`DescribeError`] for bytes that are not ELF64, a section table outside the file, no
/// descriptor section, or a section that does not decode.
pub fn describe(bytes: &[u8]) -> Result<StaticDescriptor, DescribeError> {
    decode(find_section(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::decode;
    use hotpack_abi::section::{SectionInterface, SectionParts, SectionRequirement};

    const PARTS: SectionParts<'static> = SectionParts {
        layout_version: 3,
        abi_version: 2,
        panic_strategy: hotpack_abi::PANIC_UNWIND,
        hooks: 0,
        name: "svc",
        version: "1.0.0",
        rustc: "rustc 1.0.0",
        target: "x86_64-unknown-linux-gnu",
        handlers: &["run"],
        interfaces: &[SectionInterface { name: "Own", id: 7, table_size: 8 }],
        requires: &[
            SectionRequirement { name: "TextUtil", id: 1, table_size: 16, range: ">=2, <3" },
            SectionRequirement { name: "Other", id: 2, table_size: 8, range: "" },
        ],
    };
    const LEN: usize = PARTS.encoded_len();

    #[test]
    fn format_2_carries_each_requirement_range_and_format_1_reads_as_any_version() {
        let v2 = PARTS.encode::<LEN>();
        let d = decode(&v2).expect("format 2");
        assert_eq!(d.format_version, 2);
        let ranges: Vec<_> = d.info.requires.iter().map(|r| r.range.as_ref().map(ToString::to_string)).collect();
        assert_eq!(ranges, [Some(">=2, <3".to_owned()), None]);
        assert_eq!((d.info.requires[0].id, d.info.requires[1].name.as_str()), (1, "Other"));

        // The same descriptor in format 1: no range strings after each requirement.
        let mut v1 = v2.to_vec();
        let last = v1.len() - 4; // "Other"'s empty range
        v1.drain(last..);
        let range_at = v1.len() - (4 + 5 + 16) - (4 + ">=2, <3".len());
        v1.drain(range_at..range_at + 4 + ">=2, <3".len());
        v1[8..12].copy_from_slice(&1u32.to_le_bytes());
        let total = v1.len() as u32;
        v1[12..16].copy_from_slice(&total.to_le_bytes());
        let d1 = decode(&v1).expect("format 1 is still read");
        assert_eq!(d1.format_version, 1);
        assert!(d1.info.requires.iter().all(|r| r.range.is_none()), "{:?}", d1.info.requires);
        assert_eq!(d1.info.requires.len(), 2);
        assert!(d1.info.requires.iter().zip(&d.info.requires).all(|(a, b)| a.same(b)));

        // A range that is not semver is refused naming the interface.
        const BAD: SectionParts<'static> =
            SectionParts { requires: &[SectionRequirement { name: "T", id: 1, table_size: 8, range: "two" }], ..PARTS };
        let bytes = BAD.encode::<{ BAD.encoded_len() }>();
        match decode(&bytes) {
            Err(super::DescribeError::BadRange { interface, text, .. }) => {
                assert_eq!((&*interface, &*text), ("T", "two"))
            }
            other => panic!("expected a bad range, got {other:?}"),
        }
        // Format 3 is not read.
        let mut v3 = v2.to_vec();
        v3[8..12].copy_from_slice(&3u32.to_le_bytes());
        assert!(matches!(decode(&v3), Err(super::DescribeError::UnknownFormat { found: 3, .. })));
    }
}
