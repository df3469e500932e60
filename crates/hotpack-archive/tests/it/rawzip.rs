//! A raw zip writer for the hostile corpus: every header field is under the test's
//! control, so it can write what the zip crate refuses to (duplicate names, overlapping
//! entries, local/central disagreement, symlinks, `..` paths, lying sizes).

use std::collections::BTreeMap;
use std::io::Write;

use hotpack_archive::{EntryDigest, Manifest};

/// One entry, with optional local-header overrides.
#[derive(Debug, Clone)]
pub struct E {
    pub name: Vec<u8>,
    /// The bytes written as data (already compressed for method 8).
    pub data: Vec<u8>,
    pub method: u16,
    pub crc: u32,
    pub csize: u32,
    pub usize: u32,
    pub flags: u16,
    pub external: u32,
    pub local_name: Option<Vec<u8>>,
    pub local_method: Option<u16>,
    pub local_crc: Option<u32>,
    pub local_csize: Option<u32>,
    pub local_usize: Option<u32>,
    /// Make the central record point at entry `k`'s local header offset plus `delta`.
    pub offset_of: Option<(usize, u32)>,
}

impl E {
    pub fn stored(name: &str, content: &[u8]) -> E {
        E {
            name: name.as_bytes().to_vec(),
            data: content.to_vec(),
            method: 0,
            crc: crc32fast::hash(content),
            csize: content.len() as u32,
            usize: content.len() as u32,
            flags: 0,
            external: 0o100_644 << 16,
            local_name: None,
            local_method: None,
            local_crc: None,
            local_csize: None,
            local_usize: None,
            offset_of: None,
        }
    }

    pub fn deflated(name: &str, content: &[u8]) -> E {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(content).expect("in-memory write");
        let data = enc.finish().expect("in-memory write");
        E { method: 8, csize: data.len() as u32, data, ..E::stored(name, content) }
    }
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Write the entries as a zip: local headers and data in order, then the central
/// directory, then the end record.
pub fn build(entries: &[E]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push(out.len() as u32);
        let name = e.local_name.as_ref().unwrap_or(&e.name);
        put32(&mut out, 0x0403_4b50);
        put16(&mut out, 20);
        put16(&mut out, e.flags);
        put16(&mut out, e.local_method.unwrap_or(e.method));
        put16(&mut out, 0);
        put16(&mut out, 0x21);
        put32(&mut out, e.local_crc.unwrap_or(e.crc));
        put32(&mut out, e.local_csize.unwrap_or(e.csize));
        put32(&mut out, e.local_usize.unwrap_or(e.usize));
        put16(&mut out, name.len() as u16);
        put16(&mut out, 0);
        out.extend_from_slice(name);
        out.extend_from_slice(&e.data);
    }
    let cd_start = out.len() as u32;
    for (i, e) in entries.iter().enumerate() {
        let offset = match e.offset_of {
            Some((k, delta)) => offsets[k] + delta,
            None => offsets[i],
        };
        put32(&mut out, 0x0201_4b50);
        put16(&mut out, (3 << 8) | 20);
        put16(&mut out, 20);
        put16(&mut out, e.flags);
        put16(&mut out, e.method);
        put16(&mut out, 0);
        put16(&mut out, 0x21);
        put32(&mut out, e.crc);
        put32(&mut out, e.csize);
        put32(&mut out, e.usize);
        put16(&mut out, e.name.len() as u16);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put16(&mut out, 0);
        put32(&mut out, e.external);
        put32(&mut out, offset);
        out.extend_from_slice(&e.name);
    }
    let cd_size = out.len() as u32 - cd_start;
    put32(&mut out, 0x0605_4b50);
    put16(&mut out, 0);
    put16(&mut out, 0);
    put16(&mut out, entries.len() as u16);
    put16(&mut out, entries.len() as u16);
    put32(&mut out, cd_size);
    put32(&mut out, cd_start);
    put16(&mut out, 0);
    out
}

/// A manifest for module `name` at `dir` claiming `files` (relative path, content); the
/// first file is the library.
pub fn manifest_json(name: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut entries = BTreeMap::new();
    for (path, content) in files {
        entries.insert((*path).to_owned(), EntryDigest::of(content));
    }
    let manifest = Manifest {
        meta: crate::common::meta(name, "1.0.0"),
        libraries: files
            .first()
            .map(|(p, _)| [(crate::common::TARGET.to_owned(), (*p).to_owned())].into())
            .unwrap_or_default(),
        resources: files.iter().skip(1).map(|(p, _)| (*p).to_owned()).collect(),
        entries: entries.into(),
    };
    manifest.to_json()
}

pub const LIB: &[u8] = b"\x7fELF pretend library bytes, never interpreted by the archive";
pub const RES: &[u8] = b"resource text resource text resource text resource text";

/// The entries of a valid single-module bundle: manifest, library (stored), resource (deflated).
pub fn valid() -> Vec<E> {
    vec![
        E::stored("hotpack.json", &manifest_json("greeter", &[("lib/libg.so", LIB), ("res.txt", RES)])),
        E::stored("lib/libg.so", LIB),
        E::deflated("res.txt", RES),
    ]
}
