//! The manifest (`hotpack.json`): what a module is, and the size and blake3 of every entry it owns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    pub resources: Vec<String>,
    /// Relative path -> digest, for every library and resource (not the manifest itself).
    pub entries: BTreeMap<String, EntryDigest>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: String,
    id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDigest<'a> {
    size: u64,
    #[serde(borrow)]
    blake3: std::borrow::Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest<'a> {
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
    #[serde(borrow)]
    entries: RawEntries<'a>,
    #[serde(default)]
    signature: Option<serde_json::Value>,
}

/// `entries` as written, in document order: a map visitor into a `Vec` (cheaper than a
/// `BTreeMap` built key by key, and duplicate keys stay visible instead of overwriting).
struct RawEntries<'a>(Vec<(String, RawDigest<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawEntries<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = RawEntries<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of entry path to {size, blake3}")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                // The size hint is untrusted: cap the pre-allocation.
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
                while let Some((k, v)) = map.next_entry::<String, RawDigest<'a>>()? {
                    out.push((k, v));
                }
                Ok(RawEntries(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

impl Serialize for RawEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Probe used only on the error path: a future format may have fields format 1 does not know.
#[derive(Deserialize)]
struct FormatProbe {
    format: u64,
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
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let (hi, lo) = (HEX[usize::from(pair[0])], HEX[usize::from(pair[1])]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    // Valid digits are < 16; any 0xff sets the high bits.
    (bad < 16).then_some(out)
}

/// Whether `name` is a valid module name: 1-128 characters of `[A-Za-z0-9_.-]`, not `.` or `..`.
pub fn is_valid_module_name(name: &str) -> bool {
    hotpack_util::name::is_valid_module_name(name)
}

/// Explain how the libraries + resources list differs from the keys of `entries`.
fn listing_mismatch(listed: &[&str], entries: &BTreeMap<String, EntryDigest>) -> String {
    if let Some(pair) = listed.windows(2).find(|p| p[0] == p[1]) {
        return format!("`{}` is listed twice (as a library or resource)", pair[0]);
    }
    if let Some(missing) = listed.iter().find(|p| !entries.contains_key(**p)) {
        return format!("`{missing}` has no size and blake3 in `entries`");
    }
    let extra = entries.keys().find(|k| listed.binary_search(&k.as_str()).is_err()).cloned().unwrap_or_default();
    format!("`entries` lists `{extra}`, which is neither a library nor a resource")
}

fn invalid(detail: String) -> ManifestError {
    ManifestError::Invalid { detail }
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
            return Err(invalid("an interface has an empty name".into()));
        }
        if self.handlers.iter().any(String::is_empty) {
            return Err(invalid("a handler has an empty name".into()));
        }
        Ok(())
    }
}

/// Whether `target` may name a target triple in a manifest (and a directory of a bundle):
/// `[A-Za-z0-9_.-]`, not empty. The one copy of this rule (the packer uses it too).
pub(crate) fn is_valid_target(target: &str) -> bool {
    !target.is_empty() && target.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
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
        let raw: RawManifest<'_> = match serde_json::from_slice(bytes) {
            Ok(raw) => raw,
            Err(err) => {
                // A newer format may add fields: report the format, not the field.
                if let Ok(probe) = serde_json::from_slice::<FormatProbe>(bytes)
                    && probe.format != u64::from(FORMAT_VERSION)
                {
                    return Err(ManifestError::UnknownFormat { found: probe.format, known: FORMAT_VERSION });
                }
                return Err(ManifestError::Json { source: err });
            }
        };
        if raw.format != u64::from(FORMAT_VERSION) {
            return Err(ManifestError::UnknownFormat { found: raw.format, known: FORMAT_VERSION });
        }
        match &raw.signature {
            None | Some(serde_json::Value::Null) => {}
            Some(_) => return Err(ManifestError::UnsupportedSignature),
        }
        let version = semver::Version::parse(&raw.version)
            .map_err(|source| ManifestError::BadVersion { version: raw.version.clone(), source })?;
        let mut interfaces = Vec::with_capacity(raw.interfaces.len());
        for i in raw.interfaces {
            let id = parse_lower_hex::<8>(&i.id).ok_or_else(|| {
                invalid(format!("interface `{}` has id `{}`, expected 16 lowercase hex digits", i.name, i.id))
            })?;
            interfaces.push(InterfaceMeta { name: i.name, id: u64::from_be_bytes(id) });
        }
        let meta = ModuleMeta {
            name: raw.name,
            version,
            abi_version: raw.abi_version,
            rustc: raw.rustc,
            interfaces,
            handlers: raw.handlers,
            hooks: raw.hooks,
        };
        meta.validate()?;

        let mut raw_entries = raw.entries.0;
        if !raw_entries.is_sorted_by(|a, b| a.0 < b.0) {
            raw_entries.sort_by(|a, b| a.0.cmp(&b.0));
            if let Some(pair) = raw_entries.windows(2).find(|p| p[0].0 == p[1].0) {
                return Err(invalid(format!("entry path `{}` is listed twice in `entries`", pair[0].0)));
            }
        }
        let mut checked = Vec::with_capacity(raw_entries.len());
        for (path, d) in raw_entries {
            check_relative(&path).map_err(|p| invalid(format!("entry path `{path}`: {p}")))?;
            if path == MANIFEST_NAME {
                return Err(invalid(format!("`{MANIFEST_NAME}` cannot be listed as an entry")));
            }
            let blake3 = parse_lower_hex::<32>(&d.blake3).ok_or_else(|| {
                invalid(format!("entry `{path}` has blake3 `{}`, expected 64 lowercase hex digits", d.blake3))
            })?;
            checked.push((path, EntryDigest { size: d.size, blake3 }));
        }
        // Sorted and unique: the map is bulk-built without re-comparing keys.
        let entries: BTreeMap<String, EntryDigest> = checked.into_iter().collect();
        let mut resources = raw.resources;
        if !resources.is_sorted() {
            resources.sort_unstable();
        }
        for target in raw.libraries.keys() {
            if !is_valid_target(target) {
                return Err(invalid(format!("target `{target}` is not a valid target triple")));
            }
        }
        // Libraries and resources, together, must be exactly the keys of `entries` (whose
        // paths were checked above): one merge walk over sorted lists, no lookups.
        let mut listed: Vec<&str> = Vec::with_capacity(resources.len() + raw.libraries.len());
        listed.extend(resources.iter().map(String::as_str));
        listed.extend(raw.libraries.values().map(String::as_str));
        if !raw.libraries.is_empty() {
            listed.sort_unstable();
        }
        if !listed.iter().copied().eq(entries.keys().map(String::as_str)) {
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
                let mut sorted = self.resources.clone();
                sorted.sort_unstable();
                sorted
            },
            entries: RawEntries(
                self.entries
                    .iter()
                    .map(|(k, d)| (k.clone(), RawDigest { size: d.size, blake3: d.blake3_hex().into() }))
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
            resources: vec!["data/hello.txt".into()],
            entries: [
                ("lib/x/libgreeter.so".to_owned(), EntryDigest::of(lib)),
                ("data/hello.txt".to_owned(), EntryDigest::of(res)),
            ]
            .into(),
        }
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
