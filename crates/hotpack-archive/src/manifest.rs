//! The manifest (`hotpack.json`): what a module is, and the size and blake3 of every entry it owns.

use std::collections::BTreeMap;

use std::borrow::Cow;

use serde::Serialize;

use crate::fault::{JsonErrorKind as K, JsonObject, MANIFEST_FIELDS as FIELDS, ManifestRule};
use crate::json::{self, ReadError, Reader};

use crate::entries::{Entries, PathList};
use crate::error::ManifestError;
use crate::path::check_relative;

/// The manifest format this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The file name of a module's manifest inside its module directory.
pub const MANIFEST_NAME: &str = "hotpack.json";

/// What a module says about itself: the packer is told this (from the module's own
/// descriptor), and the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleMeta {
    /// Module name: 1-128 characters of `[A-Za-z0-9_.-]`, not `.` or `..`.
    pub name: String,
    /// The module's semantic version.
    pub version: semver::Version,
    /// The hotpack ABI version the library was built against.
    pub abi_version: u32,
    /// The rustc version string the library was built with.
    pub rustc: String,
    /// The interfaces the library exports.
    pub interfaces: Vec<InterfaceMeta>,
    /// The names of the handlers the library exports.
    pub handlers: Vec<String>,
    /// Which optional hooks the library exports.
    pub hooks: Hooks,
}

/// One interface a module exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceMeta {
    /// Interface name.
    pub name: String,
    /// Interface id (a hash of its declared signatures); written as 16 lowercase hex digits.
    pub id: u64,
}

/// Which optional hooks a module exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    /// An init hook (run before the version is promoted).
    pub init: bool,
    /// State export/import hooks (module-owned state across a swap).
    pub state: bool,
}

/// Size and blake3 hash of one entry's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryDigest {
    /// Uncompressed size in bytes.
    pub size: u64,
    /// blake3 of the uncompressed content.
    pub blake3: [u8; 32],
}

impl EntryDigest {
    /// The digest of `content`.
    pub fn of(content: &[u8]) -> Self {
        EntryDigest { size: content.len() as u64, blake3: *blake3::hash(content).as_bytes() }
    }

    /// The hash as 64 lowercase hex digits.
    pub fn blake3_hex(&self) -> String {
        hex(&self.blake3)
    }
}

/// A parsed and validated manifest (format 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The module's metadata.
    pub meta: ModuleMeta,
    /// Target triple -> library entry path (relative to the module directory).
    pub libraries: BTreeMap<String, String>,
    /// Resource entry paths (relative to the module directory), sorted.
    pub resources: PathList,
    /// Relative path -> digest, for every library and resource (not the manifest itself).
    pub entries: Entries,
}

/// The manifest as written by [`Manifest::to_json`] (serialisation only: reading is
/// [`crate::json::Reader`], which refuses duplicate keys).
#[derive(Serialize)]
struct RawInterface {
    name: String,
    id: String,
}

#[derive(Serialize)]
struct RawDigest {
    size: u64,
    blake3: String,
}

#[derive(Serialize)]
struct RawManifest {
    format: u64,
    name: String,
    version: String,
    abi_version: u32,
    rustc: String,
    interfaces: Vec<RawInterface>,
    handlers: Vec<String>,
    hooks: Hooks,
    libraries: BTreeMap<String, String>,
    resources: Vec<String>,
    entries: RawEntries,
    signature: Option<()>,
}

/// `entries` in path order.
struct RawEntries(Vec<(String, RawDigest)>);

impl Serialize for RawEntries {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Lowercase hex digit values; 0xff marks a byte that is not one.
const HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

fn parse_lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    let mut outs = out.chunks_exact_mut(4);
    let mut ins = bytes.chunks_exact(8);
    for (o, chunk) in (&mut outs).zip(&mut ins) {
        o.copy_from_slice(&hex8(chunk.try_into().ok()?)?);
    }
    // The tail (N not a multiple of 4): a digit at a time.
    let (rest_out, rest_in) = (outs.into_remainder(), ins.remainder());
    let mut bad = 0u8;
    for (o, pair) in rest_out.iter_mut().zip(rest_in.chunks_exact(2)) {
        let (hi, lo) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    // Valid digits are < 16; any 0xff sets the high bits.
    (bad < 16).then_some(out)
}

/// Eight lowercase hex digits to four bytes, eight at a time in a `u64`; `None` if any
/// byte is not one of `0-9a-f`.
fn hex8(chunk: [u8; 8]) -> Option<[u8; 4]> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let x = u64::from_le_bytes(chunk);
    if x & HIGHS != 0 {
        return None;
    }
    // For bytes under 0x80: the high bit of each byte of `ge(n)` is set where byte >= n.
    let ge = |n: u64| x.wrapping_add((0x80 - n) * ONES) & HIGHS;
    let digit = ge(0x30) & !ge(0x3a);
    let letter = ge(0x61) & !ge(0x67);
    if digit | letter != HIGHS {
        return None;
    }
    let nibbles = (x & (0x0f * ONES)) + (letter >> 7) * 9;
    const LANES: u64 = 0x00ff_00ff_00ff_00ff;
    let pairs = ((nibbles & LANES) << 4) | ((nibbles >> 8) & LANES);
    Some([pairs as u8, (pairs >> 16) as u8, (pairs >> 32) as u8, (pairs >> 48) as u8])
}

/// Whether `name` is a valid module name: 1-128 characters of `[A-Za-z0-9_.-]`, not `.` or `..`.
pub fn is_valid_module_name(name: &str) -> bool {
    hotpack_util::name::is_valid_module_name(name)
}

/// Explain how the libraries + resources list differs from the keys of `entries`.
fn listing_mismatch(listed: &[&str], entries: &Entries) -> ManifestRule {
    if let Some(pair) = listed.windows(2).find(|p| p[0] == p[1]) {
        return ManifestRule::ListedTwice { path: pair[0].to_owned() };
    }
    if let Some(missing) = listed.iter().find(|p| !entries.contains_key(p)) {
        return ManifestRule::NoDigest { path: (*missing).to_owned() };
    }
    let extra = entries.keys().find(|k| listed.binary_search(k).is_err()).unwrap_or_default().to_owned();
    ManifestRule::Unlisted { path: extra }
}

/// The merge of two sorted sequences, in order.
struct Merge<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<'s, A: Iterator<Item = &'s str>, B: Iterator<Item = &'s str>> Iterator for Merge<A, B> {
    type Item = &'s str;
    fn next(&mut self) -> Option<&'s str> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if y < x => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

/// Who checks the entry paths of a manifest ([`Manifest::from_json_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paths {
    /// The parser checks every path.
    Check,
    /// The caller does (with [`check_path`]).
    Caller,
}

/// An entry path of a manifest must be a normal relative path.
pub(crate) fn check_path(path: &str) -> Result<(), ManifestError> {
    check_relative(path).map_err(|problem| invalid(ManifestRule::EntryPath { path: path.to_owned(), problem }))
}

fn invalid(rule: ManifestRule) -> ManifestError {
    ManifestError::Invalid { rule }
}

impl ModuleMeta {
    /// Check the fields a manifest constrains (name, interface and handler names).
    ///
    /// # Errors
    /// [`ManifestError::BadName`] or [`ManifestError::Invalid`].
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !is_valid_module_name(&self.name) {
            return Err(ManifestError::BadName { name: self.name.clone() });
        }
        if self.interfaces.iter().any(|i| i.name.is_empty()) {
            return Err(invalid(ManifestRule::EmptyInterfaceName));
        }
        if self.handlers.iter().any(String::is_empty) {
            return Err(invalid(ManifestRule::EmptyHandlerName));
        }
        Ok(())
    }
}

/// Whether `target` may name a target triple in a manifest (and a directory of a bundle):
/// `[A-Za-z0-9_.-]`, not empty. The one copy of this rule (the packer uses it too).
pub(crate) fn is_valid_target(target: &str) -> bool {
    !target.is_empty() && target.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The manifest's fields as read, before the checks that need more than one field.
struct Parsed<'a> {
    format: u64,
    name: Cow<'a, str>,
    version: Cow<'a, str>,
    abi_version: u32,
    rustc: Cow<'a, str>,
    interfaces: Vec<InterfaceMeta>,
    handlers: Vec<String>,
    hooks: Hooks,
    libraries: BTreeMap<String, String>,
    resources: PathList,
    /// The paths of `entries`, in document order (duplicates are found when they are
    /// sorted), and their digests.
    entry_paths: PathList,
    entry_digests: Vec<EntryDigest>,
    /// `signature` was present and not null.
    signature: bool,
}

fn dup(key: &str, object: &str) -> ReadError {
    ReadError::Duplicate { key: key.to_owned(), object: object.to_owned() }
}

/// Mark `key` (index `bit` of `fields`) as seen in `object`; a second sighting is refused.
fn see(seen: &mut u32, bit: usize, key: &str, object: &str) -> json::Result<()> {
    if *seen & (1 << bit) != 0 {
        return Err(dup(key, object));
    }
    *seen |= 1 << bit;
    Ok(())
}

/// Read the document: syntax, field names and types, a key twice in any object.
fn read_raw(bytes: &[u8]) -> json::Result<Parsed<'_>> {
    let mut r = Reader::new(bytes)?;
    let mut seen = 0u32;
    let mut p = Parsed {
        format: 0,
        name: Cow::Borrowed(""),
        version: Cow::Borrowed(""),
        abi_version: 0,
        rustc: Cow::Borrowed(""),
        interfaces: Vec::new(),
        handlers: Vec::new(),
        hooks: Hooks::default(),
        libraries: BTreeMap::new(),
        resources: PathList::default(),
        // An entry takes at least ~90 bytes of JSON (`"p":{"size":0,"blake3":"<64 hex>"}`):
        // room for every entry the document can hold, bounded by its size, so the list is
        // never copied while it grows (10,000 entries: ~400 KB copied ~14 times).
        entry_paths: PathList::with_capacity(bytes.len() / 90, 0),
        entry_digests: Vec::with_capacity(bytes.len() / 90),
        signature: false,
    };
    r.object(|r, key| {
        let Some(bit) = FIELDS.iter().position(|f| *f == key) else {
            return Err(r.error(K::UnknownField { field: key.into_owned(), object: JsonObject::Manifest }));
        };
        see(&mut seen, bit, &key, "the manifest")?;
        match bit {
            0 => p.format = r.u64()?,
            1 => p.name = r.string()?,
            2 => p.version = r.string()?,
            3 => {
                let v = r.u64()?;
                p.abi_version = u32::try_from(v).map_err(|_| r.error(K::AbiVersionTooLarge { value: v }))?;
            }
            4 => p.rustc = r.string()?,
            5 => r.array(|r| {
                let (mut name, mut id, mut seen) = (None, None, 0u32);
                r.object(|r, key| match &*key {
                    "name" => {
                        see(&mut seen, 0, &key, "an interface")?;
                        name = Some(r.string()?.into_owned());
                        Ok(())
                    }
                    "id" => {
                        see(&mut seen, 1, &key, "an interface")?;
                        id = Some(r.string()?);
                        Ok(())
                    }
                    other => Err(r.error(K::UnknownField { field: other.to_owned(), object: JsonObject::Interface })),
                })?;
                let (Some(name), Some(id)) = (name, id) else {
                    return Err(r.error(K::InterfaceIncomplete));
                };
                p.interfaces.push(match parse_lower_hex::<8>(&id) {
                    Some(b) => InterfaceMeta { name, id: u64::from_be_bytes(b) },
                    None => {
                        return Err(ReadError::Invalid(ManifestRule::BadInterfaceId {
                            interface: name,
                            id: id.into_owned(),
                        }));
                    }
                });
                Ok(())
            })?,
            6 => r.array(|r| {
                p.handlers.push(r.string()?.into_owned());
                Ok(())
            })?,
            7 => {
                let mut seen = 0u32;
                r.object(|r, key| {
                    let bit = match &*key {
                        "init" => 0,
                        "state" => 1,
                        other => {
                            return Err(r.error(K::UnknownField { field: other.to_owned(), object: JsonObject::Hooks }));
                        }
                    };
                    see(&mut seen, bit, &key, "`hooks`")?;
                    let v = r.bool()?;
                    if bit == 0 {
                        p.hooks.init = v
                    } else {
                        p.hooks.state = v
                    }
                    Ok(())
                })?;
                if seen != 0b11 {
                    return Err(r.error(K::HooksIncomplete));
                }
            }
            8 => r.object(|r, target| {
                let path = r.string()?.into_owned();
                match p.libraries.entry(target.into_owned()) {
                    std::collections::btree_map::Entry::Occupied(o) => Err(dup(o.key(), "`libraries`")),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(path);
                        Ok(())
                    }
                }
            })?,
            9 => r.array(|r| {
                p.resources.push(&r.string()?);
                Ok(())
            })?,
            10 => r.object(|r, path| {
                if let Some(digest) = canonical_digest(r) {
                    p.entry_paths.push(&path);
                    p.entry_digests.push(digest);
                    return Ok(());
                }
                let (mut size, mut blake3, mut seen) = (0u64, None, 0u32);
                r.object(|r, key| match &*key {
                    "size" => {
                        see(&mut seen, 0, &key, "an entry of `entries`")?;
                        size = r.u64()?;
                        Ok(())
                    }
                    "blake3" => {
                        see(&mut seen, 1, &key, "an entry of `entries`")?;
                        if let Some(digest) = r.quoted(64).and_then(parse_lower_hex::<32>) {
                            blake3 = Some(digest);
                            return Ok(());
                        }
                        let hex = r.string()?;
                        blake3 = Some(parse_lower_hex::<32>(&hex).ok_or_else(|| {
                            ReadError::Invalid(ManifestRule::BadBlake3 { path: path.to_string(), hex: hex.to_string() })
                        })?);
                        Ok(())
                    }
                    other => Err(r.error(K::UnknownField { field: other.to_owned(), object: JsonObject::Entry })),
                })?;
                match (seen, blake3) {
                    (0b11, Some(blake3)) => {
                        p.entry_paths.push(&path);
                        p.entry_digests.push(EntryDigest { size, blake3 });
                        Ok(())
                    }
                    _ => Err(r.error(K::EntryIncomplete { path: path.to_string() })),
                }
            })?,
            _ => {
                if !r.null() {
                    r.skip_value(1)?;
                    p.signature = true;
                }
            }
        }
        Ok(())
    })?;
    r.end()?;
    // Every field but `signature` is required.
    if let Some(missing) = FIELDS[..11].iter().enumerate().find(|(i, _)| seen & (1 << i) == 0) {
        return Err(r.error(K::MissingField { field: missing.1 }));
    }
    Ok(p)
}

/// The fast path for one value of `entries` in the writer's own layout,
/// `{"size":N,"blake3":"<64 digits>"}` with no whitespace: consumed and returned, or `None`
/// with nothing consumed (the general walk then reads it, whatever its layout).
fn canonical_digest(r: &mut Reader<'_>) -> Option<EntryDigest> {
    const HEAD: &[u8] = b"{\"size\":";
    const MID: &[u8] = b",\"blake3\":\"";
    let rest = r.rest();
    let after_head = rest.strip_prefix(HEAD)?;
    let digits = after_head.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || (digits > 1 && after_head[0] == b'0') {
        return None;
    }
    let size = std::str::from_utf8(&after_head[..digits]).ok()?.parse::<u64>().ok()?;
    let after_mid = after_head[digits..].strip_prefix(MID)?;
    let hex = std::str::from_utf8(after_mid.get(..64)?).ok()?;
    if after_mid.get(64..66)? != b"\"}" {
        return None;
    }
    let blake3 = parse_lower_hex::<32>(hex)?;
    r.advance(HEAD.len() + digits + MID.len() + 66);
    Some(EntryDigest { size, blake3 })
}

/// The `format` field of a syntactically valid document, whatever its other fields.
fn probe_format(bytes: &[u8]) -> Option<u64> {
    let mut r = Reader::new(bytes).ok()?;
    let mut format = None;
    r.object(|r, key| {
        if key == "format" && format.is_none() {
            format = r.u64().ok();
            if format.is_some() {
                return Ok(());
            }
        }
        r.skip_value(1)
    })
    .ok()?;
    r.end().ok()?;
    format
}

impl Manifest {
    /// Parse and validate a manifest.
    ///
    /// # Errors
    /// - [`ManifestError::Json`]: not JSON, a missing, unknown or mistyped field;
    /// - [`ManifestError::UnknownFormat`]: `format` is not [`FORMAT_VERSION`];
    /// - [`ManifestError::BadVersion`], [`ManifestError::BadName`];
    /// - [`ManifestError::UnsupportedSignature`]: `signature` is not null;
    /// - [`ManifestError::Invalid`]: bad hex, unsafe paths, `entries` not exactly the
    ///   libraries plus the resources, ...
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        Manifest::from_json_with(bytes, Paths::Check)
    }

    /// [`Manifest::from_json`], for a caller that checks every entry path itself
    /// ([`Paths::Caller`]): a bundle finds each one among the zip names, which were
    /// checked already, and checks a path only when it is not found.
    pub(crate) fn from_json_with(bytes: &[u8], paths: Paths) -> Result<Manifest, ManifestError> {
        let raw = match read_raw(bytes) {
            Ok(raw) => raw,
            Err(err) => {
                // A newer format may add fields: report the format, not the field.
                if let Some(found) = probe_format(bytes)
                    && found != u64::from(FORMAT_VERSION)
                {
                    return Err(ManifestError::UnknownFormat { found, known: FORMAT_VERSION });
                }
                return Err(match err {
                    ReadError::Syntax(source) => ManifestError::Json { source },
                    ReadError::Duplicate { key, object } => ManifestError::DuplicateKey { key, object },
                    ReadError::Invalid(rule) => ManifestError::Invalid { rule },
                });
            }
        };
        if raw.format != u64::from(FORMAT_VERSION) {
            return Err(ManifestError::UnknownFormat { found: raw.format, known: FORMAT_VERSION });
        }
        if raw.signature {
            return Err(ManifestError::UnsupportedSignature);
        }
        let version = semver::Version::parse(&raw.version)
            .map_err(|source| ManifestError::BadVersion { version: raw.version.to_string(), source })?;
        let meta = ModuleMeta {
            name: raw.name.into_owned(),
            version,
            abi_version: raw.abi_version,
            rustc: raw.rustc.into_owned(),
            interfaces: raw.interfaces,
            handlers: raw.handlers,
            hooks: raw.hooks,
        };
        meta.validate()?;

        let entries = Entries::new(raw.entry_paths, raw.entry_digests)
            .map_err(|key| ManifestError::DuplicateKey { key, object: "`entries`".into() })?;
        for path in entries.keys() {
            if paths == Paths::Check {
                check_path(path)?;
            }
            if path == MANIFEST_NAME {
                return Err(invalid(ManifestRule::ManifestListed));
            }
        }
        let mut resources = raw.resources;
        if !resources.iter().is_sorted() {
            resources = resources.permuted(&resources.sorting_order());
        }
        for target in raw.libraries.keys() {
            if !is_valid_target(target) {
                return Err(invalid(ManifestRule::BadTarget { target: target.clone() }));
            }
        }
        // Libraries and resources, together, must be exactly the keys of `entries` (whose
        // paths were checked above): one merge walk over sorted lists, no lookups.
        let mut libs: Vec<&str> = raw.libraries.values().map(String::as_str).collect();
        libs.sort_unstable();
        let merged = Merge { a: resources.iter().peekable(), b: libs.iter().copied().peekable() };
        if entries.len() != resources.len() + libs.len() || !merged.eq(entries.keys()) {
            let mut listed: Vec<&str> = resources.iter().chain(libs).collect();
            listed.sort_unstable();
            return Err(invalid(listing_mismatch(&listed, &entries)));
        }
        Ok(Manifest { meta, libraries: raw.libraries, resources, entries })
    }

    /// Serialise as the canonical manifest JSON (compact, fields in spec order, maps and
    /// resources sorted, `signature: null`, a trailing newline). Deterministic.
    pub fn to_json(&self) -> Vec<u8> {
        let raw = RawManifest {
            format: u64::from(FORMAT_VERSION),
            name: self.meta.name.clone(),
            version: self.meta.version.to_string(),
            abi_version: self.meta.abi_version,
            rustc: self.meta.rustc.clone(),
            interfaces: self
                .meta
                .interfaces
                .iter()
                .map(|i| RawInterface { name: i.name.clone(), id: format!("{:016x}", i.id) })
                .collect(),
            handlers: self.meta.handlers.clone(),
            hooks: self.meta.hooks,
            libraries: self.libraries.clone(),
            resources: {
                let mut sorted: Vec<String> = self.resources.iter().map(str::to_owned).collect();
                sorted.sort_unstable();
                sorted
            },
            entries: RawEntries(
                self.entries
                    .iter()
                    .map(|(k, d)| (k.to_owned(), RawDigest { size: d.size, blake3: d.blake3_hex() }))
                    .collect(),
            ),
            signature: None,
        };
        let mut out = serde_json::to_vec(&raw).expect("a manifest of strings and numbers always serialises");
        out.push(b'\n');
        out
    }

    /// The library entry path for `target`, if the module has one.
    pub fn library(&self, target: &str) -> Option<&str> {
        self.libraries.get(target).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let lib = b"library bytes";
        let res = b"resource";
        Manifest {
            meta: ModuleMeta {
                name: "greeter".into(),
                version: semver::Version::parse("1.2.3-beta.1").expect("valid"),
                abi_version: 1,
                rustc: "1.88.0".into(),
                interfaces: vec![InterfaceMeta { name: "Greeter".into(), id: 0x0123_4567_89ab_cdef }],
                handlers: vec!["greet".into()],
                hooks: Hooks { init: true, state: false },
            },
            libraries: [("x86_64-unknown-linux-gnu".to_owned(), "lib/x/libgreeter.so".to_owned())].into(),
            resources: ["data/hello.txt"].into_iter().collect(),
            entries: [
                ("lib/x/libgreeter.so".to_owned(), EntryDigest::of(lib)),
                ("data/hello.txt".to_owned(), EntryDigest::of(res)),
            ]
            .into(),
        }
    }

    #[test]
    fn hex_eight_at_a_time_agrees_with_a_digit_at_a_time() {
        let slow = |s: &[u8]| -> Option<Vec<u8>> {
            s.chunks(2)
                .map(|p| {
                    let d = |c: u8| (c as char).to_digit(16).filter(|_| !c.is_ascii_uppercase());
                    Some((d(p[0])? * 16 + d(p[1])?) as u8)
                })
                .collect()
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"0123456789abcdefABCDEF/:`g@\x80\xff";
        for round in 0..20_000 {
            let mut text = [0u8; 16];
            for c in &mut text {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly valid digits, sometimes anything from the alphabet.
                *c = if round % 3 == 0 {
                    alphabet[(x % alphabet.len() as u64) as usize]
                } else {
                    b"0123456789abcdef"[(x % 16) as usize]
                };
            }
            let fast = std::str::from_utf8(&text).ok().and_then(parse_lower_hex::<8>).map(|a| a.to_vec());
            let expected = std::str::from_utf8(&text).ok().and_then(|_| slow(&text));
            assert_eq!(fast, expected, "{:?}", String::from_utf8_lossy(&text));
        }
        assert_eq!(parse_lower_hex::<2>("0aff"), Some([0x0a, 0xff]));
        assert_eq!(parse_lower_hex::<2>("0aFf"), None);
    }

    #[test]
    fn round_trip() {
        let m = sample();
        let json = m.to_json();
        let text = String::from_utf8(json.clone()).expect("utf8");
        assert!(text.contains("\"id\":\"0123456789abcdef\""), "{text}");
        assert!(text.contains("\"signature\":null"), "{text}");
        assert_eq!(Manifest::from_json(&json).expect("parses"), m);
    }

    fn edit(f: impl FnOnce(&mut serde_json::Value)) -> Result<Manifest, ManifestError> {
        let mut v: serde_json::Value = serde_json::from_slice(&sample().to_json()).expect("json");
        f(&mut v);
        Manifest::from_json(&serde_json::to_vec(&v).expect("json"))
    }

    #[test]
    fn rejections() {
        assert!(matches!(Manifest::from_json(b"{not json"), Err(ManifestError::Json { .. })));
        assert!(matches!(edit(|v| v["format"] = 2.into()), Err(ManifestError::UnknownFormat { found: 2, .. })));
        assert!(matches!(
            edit(|v| {
                v["format"] = 7.into();
                v["new_field"] = true.into();
            }),
            Err(ManifestError::UnknownFormat { found: 7, .. })
        ));
        assert!(matches!(edit(|v| v["typo"] = 1.into()), Err(ManifestError::Json { .. })));
        assert!(matches!(edit(|v| v["version"] = "1.2".into()), Err(ManifestError::BadVersion { .. })));
        assert!(matches!(edit(|v| v["name"] = "a/b".into()), Err(ManifestError::BadName { .. })));
        assert!(matches!(edit(|v| v["name"] = "..".into()), Err(ManifestError::BadName { .. })));
        assert!(matches!(edit(|v| v["signature"] = "abc".into()), Err(ManifestError::UnsupportedSignature)));
        assert!(
            edit(|v| {
                v.as_object_mut().expect("object").remove("signature");
            })
            .is_ok()
        );
        assert!(matches!(edit(|v| v["interfaces"][0]["id"] = "123".into()), Err(ManifestError::Invalid { .. })));
        assert!(matches!(
            edit(|v| v["entries"]["data/hello.txt"]["blake3"] = "zz".into()),
            Err(ManifestError::Invalid { .. })
        ));
        assert!(matches!(edit(|v| v["resources"] = serde_json::json!([])), Err(ManifestError::Invalid { .. })));
        assert!(matches!(
            edit(|v| v["resources"] = serde_json::json!(["data/hello.txt", "../x"])),
            Err(ManifestError::Invalid { .. })
        ));
        assert!(matches!(
            edit(|v| v["resources"] = serde_json::json!(["data/hello.txt", "lib/x/libgreeter.so"])),
            Err(ManifestError::Invalid { .. })
        ));
    }
}
