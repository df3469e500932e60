//! The on-disk journal: format, atomic writes, the object store, and reading it back
//! without ever trusting it.
//!
//! Format (JSON, one object, `docs/FORMAT.md` "The journal"):
//! `{"format":"hotpack-rollback-journal/2","checksum":"<blake3 hex of the modules JSON>","modules":{...}}`.
//! A file that is missing, empty, cut short, not JSON, of another format, or whose checksum
//! does not match its content is *reported* and ignored as a whole. Format 2 stores a path
//! exactly as its OS bytes (a JSON string when they are UTF-8, else an array of the bytes);
//! format 1 (paths as strings only, a non-UTF-8 one could not be written) is still read.

use crate::{Deployed, Gate, Source};
use hotpack_util::fs::{AtomicWrite, FsError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why the journal or its object store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A file-system operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done (`"read"`, `"write"`, `"fsync"`, `"rename into place"`, ...).
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file-system operation of [`hotpack_util::fs`] failed (an atomic write, a private
    /// directory or file check).
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The journal file is empty.
    #[error("the file is empty")]
    Empty,
    /// The journal file is not JSON of the journal's shape.
    #[error("not a journal ({source})")]
    NotAJournal {
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The journal is of another format.
    #[error("format `{found}`, expected `{expected}`")]
    Format {
        /// The format the file states.
        found: String,
        /// The format this build reads.
        expected: &'static str,
    },
    /// The content does not match the checksum the file states.
    #[error("checksum mismatch: the file says {stated}, the content hashes to {}", .actual.to_hex())]
    Checksum {
        /// The checksum the file states (as written: it may not even be hex).
        stated: String,
        /// The content's checksum.
        actual: blake3::Hash,
    },
    /// A hash field is not 64 hex digits.
    #[error("bad hash `{value}`: {source}")]
    BadHash {
        /// The field's text.
        value: String,
        /// The parser's error.
        #[source]
        source: blake3::HexError,
    },
    /// A version field is not semver.
    #[error("bad version `{value}`: {source}")]
    BadVersion {
        /// The field's text.
        value: String,
        /// The parser's error.
        #[source]
        source: semver::Error,
    },
    /// A path field of the form `{"hex": ...}` is not an even number of lowercase hex digits.
    #[error("bad path bytes `{value}`: expected lowercase hex, two digits per byte")]
    BadPath {
        /// The field's text.
        value: String,
    },
    /// A gate field names no gate.
    #[error("unknown gate `{value}`")]
    UnknownGate {
        /// The field's text.
        value: String,
    },
    /// A module's entry is unusable.
    #[error("module `{module}`: {source}")]
    Module {
        /// The module.
        module: String,
        /// What was wrong.
        #[source]
        source: Box<JournalError>,
    },
    /// The library a stored copy was to be made from changed.
    #[error("{} no longer holds the library {}", path.display(), .hash.to_hex())]
    SourceChanged {
        /// The library file.
        path: PathBuf,
        /// The hash it should have.
        hash: blake3::Hash,
    },
    /// The journal could not be serialised (nothing was written; the file on disk still
    /// holds the previous state).
    #[error("cannot encode the journal: {source}")]
    Encode {
        /// The serialiser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A stored library copy does not hash to its name.
    #[error("{} is corrupt: its content hashes to {}", path.display(), .actual.to_hex())]
    ObjectCorrupt {
        /// The stored copy.
        path: PathBuf,
        /// Its content's hash.
        actual: blake3::Hash,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> JournalError + 'a {
    move |source| JournalError::Io { what, path: path.to_path_buf(), source }
}

/// The format this build writes.
pub(crate) const FORMAT: &str = "hotpack-rollback-journal/2";

/// The formats this build reads: format 1 differs only in writing paths as strings, which
/// [`JPath`] reads as well.
const READABLE: [&str; 2] = [FORMAT, "hotpack-rollback-journal/1"];

/// A path exactly as its OS bytes: a JSON string when they are UTF-8 (every path format 1
/// could hold), else `{"hex": "<the bytes in lowercase hex>"}`. Names with newlines or
/// control characters are strings (JSON escapes them); nothing is lost or replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum JPath {
    /// The path's bytes are UTF-8.
    Text(String),
    /// Any other path: its bytes, in hex.
    Bytes {
        /// Two lowercase hex digits per byte.
        hex: String,
    },
}

impl JPath {
    pub(crate) fn from_path(path: &Path) -> JPath {
        match path.to_str() {
            Some(text) => JPath::Text(text.to_owned()),
            None => {
                let bytes = path.as_os_str().as_encoded_bytes();
                JPath::Bytes { hex: bytes.iter().map(|b| format!("{b:02x}")).collect() }
            }
        }
    }

    pub(crate) fn to_path(&self) -> Result<PathBuf, JournalError> {
        use std::os::unix::ffi::OsStrExt;
        match self {
            JPath::Text(text) => Ok(PathBuf::from(text)),
            JPath::Bytes { hex } => {
                let bad = || JournalError::BadPath { value: hex.clone() };
                let digit = |c: u8| (c as char).to_digit(16).filter(|_| !c.is_ascii_uppercase());
                if hex.len() % 2 != 0 {
                    return Err(bad());
                }
                let bytes = hex
                    .as_bytes()
                    .chunks(2)
                    .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(bad)?;
                Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&bytes)))
            }
        }
    }
}

/// How a source is written in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JSource {
    pub kind: String,
    pub path: JPath,
    #[serde(default)]
    pub dir: String,
}

impl JSource {
    pub(crate) fn from_source(s: &Source) -> JSource {
        match s {
            Source::Bundle { bundle, dir } => {
                JSource { kind: "bundle".into(), path: JPath::from_path(bundle), dir: dir.clone() }
            }
            Source::File(p) => JSource { kind: "file".into(), path: JPath::from_path(p), dir: String::new() },
            other => JSource { kind: "memory".into(), path: JPath::from_path(&other.path()), dir: String::new() },
        }
    }

    pub(crate) fn to_source(&self) -> Result<Source, JournalError> {
        let path = self.path.to_path()?;
        Ok(match self.kind.as_str() {
            "bundle" => Source::Bundle { bundle: path, dir: self.dir.clone() },
            "file" => Source::File(path),
            _ => Source::Memory(path.display().to_string()),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JVersion {
    pub version: String,
    pub hash: String,
    pub source: JSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JFailed {
    pub version: String,
    pub hash: String,
    /// The gate, or `null` for a demotion.
    pub gate: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JModule {
    pub active: Option<JVersion>,
    pub last_good: Option<JVersion>,
    /// Good versions, oldest first (the last is `last_good`): restore falls back along it.
    pub good: Vec<JVersion>,
    pub highest_seen: Option<String>,
    pub pinned: Option<String>,
    pub failed: Vec<JFailed>,
    /// Format 1 only: hash hex -> fingerprint of the key that signed it. Read (it is part of
    /// the checksummed content) and never believed: a restore under trusted keys checks the
    /// signature record stored with the object (`objects/<hash>.sig`) instead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub signed: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JFile {
    format: String,
    checksum: String,
    modules: BTreeMap<String, JModule>,
}

/// The journal file's bytes for `modules`.
///
/// # Errors
///
/// [`JournalError::Encode`]: not expected (every value is a string, a number or bytes), but
/// never a panic.
pub(crate) fn encode(modules: &BTreeMap<String, JModule>) -> Result<Vec<u8>, JournalError> {
    let encode = |source| JournalError::Encode { source };
    let body = serde_json::to_vec(modules).map_err(encode)?;
    let file = JFile {
        format: FORMAT.to_owned(),
        checksum: blake3::hash(&body).to_hex().to_string(),
        modules: modules.clone(),
    };
    serde_json::to_vec_pretty(&file).map_err(encode)
}

/// Parses journal bytes, refusing anything that is not exactly what was written.
pub(crate) fn decode(bytes: &[u8]) -> Result<BTreeMap<String, JModule>, JournalError> {
    if bytes.is_empty() {
        return Err(JournalError::Empty);
    }
    let file: JFile = serde_json::from_slice(bytes).map_err(|source| JournalError::NotAJournal { source })?;
    if !READABLE.contains(&file.format.as_str()) {
        return Err(JournalError::Format { found: file.format, expected: FORMAT });
    }
    let body = serde_json::to_vec(&file.modules).map_err(|source| JournalError::Encode { source })?;
    let actual = blake3::hash(&body);
    if actual.to_hex().as_str() != file.checksum {
        return Err(JournalError::Checksum { stated: file.checksum, actual });
    }
    Ok(file.modules)
}

pub(crate) fn parse_hash(s: &str) -> Result<blake3::Hash, JournalError> {
    blake3::Hash::from_hex(s).map_err(|source| JournalError::BadHash { value: s.to_owned(), source })
}

pub(crate) fn parse_version(s: &str) -> Result<semver::Version, JournalError> {
    semver::Version::parse(s).map_err(|source| JournalError::BadVersion { value: s.to_owned(), source })
}

pub(crate) fn parse_gate(s: &Option<String>) -> Result<Option<Gate>, JournalError> {
    match s {
        None => Ok(None),
        Some(g) => Gate::parse(g).map(Some).ok_or_else(|| JournalError::UnknownGate { value: g.clone() }),
    }
}

/// Writes `bytes` to `path` atomically with mode 0600 (the journal and stored objects are
/// private to this user): [`hotpack_util::fs::AtomicWrite`].
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), JournalError> {
    Ok(AtomicWrite::new(path).mode(0o600).write(bytes)?)
}

/// `<dir>/objects/<hash>.so`.
pub(crate) fn object_path(dir: &Path, hash: &blake3::Hash) -> PathBuf {
    dir.join("objects").join(format!("{}.so", hash.to_hex()))
}

/// Stores a copy of the library `from` (e.g. a memfd's `/proc/self/fd/N`) as the object of
/// `hash`, unless a copy with the right content is already there. `Ok(true)` when it wrote
/// one.
pub(crate) fn store_object(dir: &Path, hash: &blake3::Hash, from: &Path) -> Result<bool, JournalError> {
    let to = object_path(dir, hash);
    if let Ok(existing) = std::fs::read(&to)
        && blake3::hash(&existing) == *hash
    {
        return Ok(false);
    }
    let bytes = std::fs::read(from).map_err(io("read", from))?;
    if blake3::hash(&bytes) != *hash {
        return Err(JournalError::SourceChanged { path: from.to_path_buf(), hash: *hash });
    }
    hotpack_util::fs::ensure_private_dir(&dir.join("objects"))?;
    write_atomic(&to, &bytes).map(|()| true)
}

/// `<dir>/objects/<hash>.sig`: the signature proof of the bundle the object came from.
pub(crate) fn proof_path(dir: &Path, hash: &blake3::Hash) -> PathBuf {
    dir.join("objects").join(format!("{}.sig", hash.to_hex()))
}

/// Stores the signature proof of `hash`'s bundle beside its object (mode 0600).
pub(crate) fn store_proof(dir: &Path, hash: &blake3::Hash, proof: &[u8]) -> Result<(), JournalError> {
    let to = proof_path(dir, hash);
    if std::fs::read(&to).is_ok_and(|existing| existing == proof) {
        return Ok(());
    }
    hotpack_util::fs::ensure_private_dir(&dir.join("objects"))?;
    write_atomic(&to, proof)
}

/// Reads the stored signature proof of `hash` (a private file), `None` when there is none.
pub(crate) fn read_proof(dir: &Path, hash: &blake3::Hash) -> Result<Option<Vec<u8>>, JournalError> {
    let path = proof_path(dir, hash);
    if !path.exists() {
        return Ok(None);
    }
    hotpack_util::fs::check_private_file(&path)?;
    std::fs::read(&path).map(Some).map_err(io("read", &path))
}

/// As [`store_object`], from bytes the host already holds and checked (a version that runs in
/// a worker has no file of its own in this process).
pub(crate) fn store_object_bytes(dir: &Path, hash: &blake3::Hash, bytes: &[u8]) -> Result<bool, JournalError> {
    let to = object_path(dir, hash);
    if let Ok(existing) = std::fs::read(&to)
        && blake3::hash(&existing) == *hash
    {
        return Ok(false);
    }
    hotpack_util::fs::ensure_private_dir(&dir.join("objects"))?;
    write_atomic(&to, bytes).map(|()| true)
}

/// Reads the stored object of `hash`, checking that it is private (this user's, writable by
/// nobody else) and that its content hashes to `hash`. The bytes returned are the ones
/// checked: the caller loads them, never the path again.
pub(crate) fn read_object(dir: &Path, hash: &blake3::Hash) -> Result<Vec<u8>, JournalError> {
    let path = object_path(dir, hash);
    hotpack_util::fs::check_private_file(&path)?;
    let bytes = std::fs::read(&path).map_err(io("read", &path))?;
    let actual = blake3::hash(&bytes);
    if actual != *hash {
        return Err(JournalError::ObjectCorrupt { path, actual });
    }
    Ok(bytes)
}

/// Removes the temporary files of this crate's old atomic write (`.hotpack-journal-*.tmp`)
/// a crash left in `dir`; a failure only leaves them behind.
pub(crate) fn remove_old_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(".hotpack-journal-")
            && name.ends_with(".tmp")
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Removes stored objects no module of the journal refers to.
pub(crate) fn collect_garbage(dir: &Path, keep: &std::collections::HashSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir.join("objects")) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".so").or_else(|| name.strip_suffix(".sig")) else { continue };
        if stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit()) && !keep.contains(stem) {
            // A failure only leaves a stale copy behind.
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The library hashes the journal file at `path` refers to (every module's active, last
/// good and good versions): what a cache pruner (`hotpack gc`) must keep. Read with the
/// same checks as [`Supervisor::open`](crate::Supervisor::open): a journal that is cut
/// short, of another format or fails its checksum is an error, never a partial answer.
///
/// # Errors
///
/// [`JournalError::Io`] when the file cannot be read; the parse errors otherwise.
pub fn referenced_hashes(path: &Path) -> Result<std::collections::HashSet<blake3::Hash>, JournalError> {
    let bytes = std::fs::read(path).map_err(io("read", path))?;
    let mut keep = std::collections::HashSet::new();
    for module in decode(&bytes)?.values() {
        for v in module.good.iter().chain(&module.active).chain(&module.last_good) {
            keep.insert(parse_hash(&v.hash)?);
        }
    }
    Ok(keep)
}

/// What [`Supervisor::open`](crate::Supervisor::open) found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalReport {
    /// The journal file.
    pub path: PathBuf,
    /// What was wrong with it, if anything.
    pub status: JournalStatus,
    /// Modules it remembered (empty unless [`JournalStatus::Loaded`]).
    pub modules: Vec<String>,
}

impl JournalReport {
    /// Whether the journal was read and used.
    pub fn is_loaded(&self) -> bool {
        self.status == JournalStatus::Loaded
    }
}

impl fmt::Display for JournalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            JournalStatus::Loaded => write!(f, "{}: {} module(s) remembered", self.path.display(), self.modules.len()),
            JournalStatus::Missing => write!(f, "{}: no journal yet, starting fresh", self.path.display()),
            JournalStatus::Corrupt { problem, kept_at } => {
                write!(f, "{}: unusable ({problem}); starting with nothing from it", self.path.display())?;
                if let Some(k) = kept_at {
                    write!(f, "; the damaged file was kept at {}", k.display())?;
                }
                Ok(())
            }
        }
    }
}

/// The state of the journal file at start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum JournalStatus {
    /// Read, checksum verified, used.
    Loaded,
    /// No file (a first start).
    Missing,
    /// Present but unusable (empty, cut short, garbage, wrong format, bad checksum, bad
    /// field). Nothing of it was used.
    Corrupt {
        /// What was wrong.
        problem: std::sync::Arc<JournalError>,
        /// Where the damaged file was copied for inspection, if that worked.
        kept_at: Option<PathBuf>,
    },
}

impl PartialEq for JournalStatus {
    /// Two statuses are equal when they say the same thing (a problem compares by message).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (JournalStatus::Loaded, JournalStatus::Loaded) | (JournalStatus::Missing, JournalStatus::Missing) => true,
            (
                JournalStatus::Corrupt { problem: a, kept_at: ka },
                JournalStatus::Corrupt { problem: b, kept_at: kb },
            ) => a.to_string() == b.to_string() && ka == kb,
            _ => false,
        }
    }
}

impl Eq for JournalStatus {}

/// A module [`Supervisor::restore`](crate::Supervisor::restore) could not bring back on a
/// given version.
#[derive(Debug, Clone)]
pub struct RestoreProblem {
    /// Module name.
    pub name: String,
    /// The version tried, when one was.
    pub version: Option<semver::Version>,
    /// Its hash, when one was.
    pub hash: Option<blake3::Hash>,
    /// Why it was skipped.
    pub error: std::sync::Arc<crate::RestoreError>,
}

impl PartialEq for RestoreProblem {
    /// Equal when they say the same thing (the error compares by message).
    fn eq(&self, o: &Self) -> bool {
        (&self.name, &self.version, &self.hash) == (&o.name, &o.version, &o.hash)
            && self.error.to_string() == o.error.to_string()
    }
}

impl Eq for RestoreProblem {}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Modules serving again, on their last good (or pinned) version or an older good one.
    pub restored: Vec<Deployed>,
    /// Versions skipped, and modules left with nothing active.
    pub problems: Vec<RestoreProblem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BTreeMap<String, JModule> {
        let v = JVersion {
            version: "1.0.0".into(),
            hash: blake3::hash(b"x").to_hex().to_string(),
            source: JSource { kind: "file".into(), path: JPath::Text("/x.so".into()), dir: String::new() },
        };
        let m = JModule {
            active: Some(v.clone()),
            last_good: Some(v.clone()),
            good: vec![v],
            highest_seen: Some("1.0.0".into()),
            pinned: None,
            failed: vec![],
            signed: BTreeMap::new(),
        };
        [("greeter".to_owned(), m)].into()
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(decode(&encode(&m).expect("encodes")).expect("valid"), m);
    }

    /// Every path comes back as the same OS bytes: not UTF-8, newlines and control
    /// characters, a 255-byte name.
    #[test]
    fn paths_round_trip_as_os_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let long = format!("/plugins/{}.zip", "n".repeat(251));
        let names: [&[u8]; 4] =
            [b"/plugins/gr\xffeeter.zip", b"/plugins/a\nb\r\x1b[31m\x07.zip", long.as_bytes(), b"/plain.zip"];
        for name in names {
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(name));
            let mut m = sample();
            let module = m.get_mut("greeter").expect("sample module");
            let source = JSource::from_source(&Source::Bundle { bundle: path.clone(), dir: String::new() });
            module.good[0].source = source.clone();
            let back = decode(&encode(&m).expect("encodes")).expect("valid");
            assert_eq!(back["greeter"].good[0].source.to_source().expect("a path").path(), path);
            if path.to_str().is_none() {
                assert!(matches!(back["greeter"].good[0].source.path, JPath::Bytes { .. }));
            }
        }
    }

    #[test]
    fn bad_path_bytes_are_refused() {
        for hex in ["f", "zz", "FF"] {
            assert!(JPath::Bytes { hex: hex.into() }.to_path().is_err(), "{hex}");
        }
    }

    /// A format 1 journal (paths as strings) is still read.
    #[test]
    fn format_1_is_still_read() {
        let text = String::from_utf8(encode(&sample()).expect("encodes")).expect("utf-8");
        let old = text.replace(FORMAT, "hotpack-rollback-journal/1");
        assert_eq!(decode(old.as_bytes()).expect("format 1 reads"), sample());
    }

    #[test]
    fn every_prefix_is_refused() {
        let bytes = encode(&sample()).expect("encodes");
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "prefix of {cut} bytes accepted");
        }
    }

    #[test]
    fn an_edited_body_is_refused() {
        let text = String::from_utf8(encode(&sample()).expect("encodes")).expect("utf-8");
        let edited = text.replace("\"1.0.0\"", "\"0.9.0\"");
        assert!(matches!(decode(edited.as_bytes()), Err(JournalError::Checksum { .. })));
    }
}
