//! `describe`: the descriptor read from a library's bytes (its ELF section), without mapping
//! or running it; and the loader's check that the section agrees with the live descriptor.

use hotpack_loader::{DescribeError, LoadError, StaticDescriptor, describe};
use hotpack_testkit::{fixture_packages, module, module_bytes};
use std::path::Path;

/// Fixtures whose constructors end the process that maps them: described, never loaded.
const NEVER_LOAD: &[&str] = &["fx-ctor-abort", "fx-ctor-exit", "fx-no-descriptor"];

fn described(package: &str) -> StaticDescriptor {
    describe(&module_bytes(package)).unwrap_or_else(|e| panic!("{package}: {e}"))
}

#[test]
fn every_fixture_section_reads_back_as_the_live_descriptor_says() {
    let (_dir, loader) = super::loader();
    let mut compared = 0;
    for package in fixture_packages() {
        if package == "fx-no-descriptor" || package == "greeter-api" {
            continue;
        }
        let desc = described(&package);
        assert_eq!(desc.format_version, hotpack_abi::section::SECTION_FORMAT_VERSION, "{package}");
        if NEVER_LOAD.contains(&package.as_str()) {
            continue;
        }
        match loader.load_file(&module(&package)) {
            Ok(m) => {
                assert_eq!(&desc.info, m.info(), "{package}: section and live descriptor differ");
                assert_eq!(desc.has_export && desc.has_import, m.has_state_hooks(), "{package}");
                compared += 1;
            }
            // Refused fixtures are forged on purpose: their sections say what they forge.
            Err(LoadError::AbiMismatch { found, .. }) => assert_eq!(desc.info.abi_version, found, "{package}"),
            Err(LoadError::RustcMismatch { found, .. }) => assert_eq!(desc.info.rustc, found, "{package}"),
            Err(LoadError::TargetMismatch { found, .. }) => assert_eq!(desc.info.target, found, "{package}"),
            Err(LoadError::LayoutMismatch { found, .. }) => assert_eq!(desc.layout_version, found, "{package}"),
            Err(LoadError::BadMagic { .. }) => assert_eq!(desc.info.name, "forged", "{package}"),
            Err(LoadError::DescriptorDisagrees { field: "name", .. }) => {
                assert_eq!(package, "fx-forged-section");
                assert_eq!(desc.info.name, "someone-else");
            }
            Err(e) => panic!("{package}: unexpected refusal {e}"),
        }
    }
    assert!(compared >= 10, "only {compared} fixtures compared");
}

#[test]
fn greeter_section_holds_every_field() {
    let desc = described("greeter-v1");
    let info = &desc.info;
    assert_eq!((info.name.as_str(), info.version.to_string().as_str()), ("greeter", "1.0.0"));
    assert_eq!(info.abi_version, hotpack_abi::ABI_VERSION);
    assert_eq!(desc.layout_version, hotpack_abi::LAYOUT_VERSION);
    assert_eq!(desc.panic_strategy, hotpack_abi::PANIC_UNWIND);
    assert_eq!(info.rustc, hotpack_abi::RUSTC_VERSION);
    assert_eq!(info.target, hotpack_abi::TARGET);
    assert_eq!(info.handlers, ["greet", "version"]);
    assert_eq!(info.interfaces.len(), 1);
    assert_eq!(info.interfaces[0].name, "Greeter");
    assert_eq!(info.interfaces[0].id, <greeter_api::Greeter as hotpack_abi::Interface>::ID);
    assert_eq!(info.interfaces[0].table_size, std::mem::size_of::<greeter_api::Greeter>());
    assert!(info.requires.is_empty());
    assert!(info.has_state && !info.has_init && desc.has_export && desc.has_import);
    // A constructor that would end the process is never run by describing it.
    assert_eq!(described("fx-ctor-exit").info.name, "ctor-exit");
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Offset of the descriptor section's header entry and its file offset, found by hand.
fn section_header(bytes: &[u8]) -> (usize, usize) {
    let shoff = u64_at(bytes, 40) as usize;
    let shnum = u16::from_le_bytes([bytes[60], bytes[61]]) as usize;
    let strndx = u16::from_le_bytes([bytes[62], bytes[63]]) as usize;
    let names = u64_at(bytes, shoff + strndx * 64 + 24) as usize;
    for i in 0..shnum {
        let sh = shoff + i * 64;
        let name = u32::from_le_bytes(bytes[sh..sh + 4].try_into().expect("4 bytes")) as usize;
        if bytes[names + name..].starts_with(b".hotpack.descriptor\0") {
            return (sh, u64_at(bytes, sh + 24) as usize);
        }
    }
    panic!("no descriptor section");
}

#[test]
fn hostile_bytes_are_refused_with_their_own_error() {
    let good = module_bytes("greeter-v1");
    let (sh, section) = section_header(&good);
    let shoff = u64_at(&good, 40) as usize;
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        describe(&b)
    };
    assert!(matches!(describe(b""), Err(DescribeError::NotElf { .. })));
    assert!(matches!(describe(&good[..40]), Err(DescribeError::NotElf { .. })));
    // Truncated: the section headers are at the end of the file.
    let half = &good[..good.len() / 2];
    assert!(matches!(describe(half), Err(DescribeError::SectionTableOutOfBounds { .. })), "{:?}", describe(half));
    // The section table's offset, or its count, points past the end.
    let r = mutate(&|b| put_u64(b, 40, u64::MAX - 10));
    assert!(matches!(r, Err(DescribeError::SectionTableOutOfBounds { .. })), "{r:?}");
    let r = mutate(&|b| b[60..62].copy_from_slice(&u16::MAX.to_le_bytes()));
    assert!(matches!(r, Err(DescribeError::SectionTableOutOfBounds { .. })), "{r:?}");
    let r = mutate(&|b| put_u64(b, 40, 0));
    assert!(matches!(r, Err(DescribeError::NoSectionTable)), "{r:?}");
    // The section-name table index is out of range.
    let r = mutate(&|b| b[62..64].copy_from_slice(&0xfff0u16.to_le_bytes()));
    assert!(matches!(r, Err(DescribeError::BadNameTable { .. })), "{r:?}");
    // The section is renamed: missing.
    let r = mutate(&|b| {
        let at = b.windows(20).position(|w| w == b".hotpack.descriptor\0").expect("name in shstrtab");
        b[at + 1] = b'X';
    });
    assert!(matches!(r, Err(DescribeError::MissingSection { .. })), "{r:?}");
    // The section's bytes lie outside the file.
    let r = mutate(&|b| put_u64(b, sh + 32, u64::MAX));
    assert!(matches!(r, Err(DescribeError::SectionOutOfBounds { .. })), "{r:?}");
    let r = mutate(&|b| put_u64(b, sh + 24, (good.len() - 4) as u64));
    assert!(matches!(r, Err(DescribeError::SectionOutOfBounds { .. } | DescribeError::BadMagic { .. })), "{r:?}");
    // Its contents are wrong: magic, format version, a count larger than the section.
    let r = mutate(&|b| b[section] = b'X');
    assert!(matches!(r, Err(DescribeError::BadMagic { .. })), "{r:?}");
    let r = mutate(&|b| b[section + 8] = 9);
    assert!(matches!(r, Err(DescribeError::UnknownFormat { found: 9, .. })), "{r:?}");
    let r = mutate(&|b| b[section + 12..section + 16].copy_from_slice(&u32::MAX.to_le_bytes()));
    assert!(matches!(r, Err(DescribeError::Truncated { field: "total_len", .. })), "{r:?}");
    let r = mutate(&|b| b[section + 32..section + 36].copy_from_slice(&u32::MAX.to_le_bytes()));
    assert!(matches!(r, Err(DescribeError::Truncated { field: "name", .. })), "{r:?}");
    assert!(shoff > section);
}

#[test]
fn no_single_byte_change_in_the_headers_or_section_panics() {
    let good = module_bytes("greeter-v1");
    let (sh, section) = section_header(&good);
    let total = u32::from_le_bytes(good[section + 12..section + 16].try_into().expect("4 bytes")) as usize;
    let mut offsets: Vec<usize> = (0..64).collect();
    offsets.extend(sh..sh + 64);
    offsets.extend(section..section + total);
    for at in offsets {
        for value in [0u8, 0x7f, 0xff] {
            let mut b = good.clone();
            b[at] = value;
            // Any answer but a panic; a change may also leave it valid.
            let _ = describe(&b);
        }
    }
}

#[test]
fn the_loader_refuses_a_section_that_disagrees_or_is_missing() {
    let (_dir, loader) = super::loader();
    let path = module("fx-forged-section");
    match loader.load_file(&path) {
        Err(LoadError::DescriptorDisagrees { field: "name", module, .. }) => assert_eq!(module, "forged-section"),
        other => panic!("expected a disagreement, got {other:?}"),
    }
    match loader.load_file(&module("fx-no-descriptor")) {
        Err(LoadError::Describe { source: DescribeError::MissingSection { .. }, .. }) => {}
        other => panic!("expected a missing section, got {other:?}"),
    }
    // A real module whose section was renamed is refused before it is mapped.
    let mut bytes = module_bytes("greeter-v1");
    let at = bytes.windows(20).position(|w| w == b".hotpack.descriptor\0").expect("name in shstrtab");
    bytes[at + 1] = b'X';
    match loader.load_bytes(&bytes, Path::new("renamed.so")) {
        Err(LoadError::Describe { source: DescribeError::MissingSection { .. }, .. }) => {}
        other => panic!("expected a missing section, got {other:?}"),
    }
    assert_eq!(loader.mapped().libraries, 1, "only the forged-section fixture was mapped");
}
