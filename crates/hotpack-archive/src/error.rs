//! The error types: one per operation (reading a bundle, parsing a manifest, packing, searching).

use std::fmt;
use std::path::{Path, PathBuf};

/// Why an entry name (or a path inside a manifest) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathProblem {
    /// The name is empty.
    Empty,
    /// The name starts with `/` (an absolute path).
    Absolute,
    /// A component is `..`.
    ParentDir,
    /// A component is `.` or empty (`a//b`), so two spellings could name one file.
    NotNormal,
    /// The name contains a backslash (a Windows separator some extractors honour).
    Backslash,
    /// The name starts with a drive letter (`C:`).
    DriveLetter,
    /// The name contains a NUL or another control character.
    ControlCharacter,
    /// The name is not valid UTF-8.
    NotUtf8,
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathProblem::Empty => "the name is empty",
            PathProblem::Absolute => "the path is absolute",
            PathProblem::ParentDir => "the path contains a `..` component",
            PathProblem::NotNormal => "the path contains an empty or `.` component",
            PathProblem::Backslash => "the path contains a backslash",
            PathProblem::DriveLetter => "the path starts with a drive letter",
            PathProblem::ControlCharacter => "the path contains a control character",
            PathProblem::NotUtf8 => "the name is not valid UTF-8",
        })
    }
}

/// Which field of a local file header disagrees with the central directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderField {
    /// No local file header signature at the offset the central directory names.
    Signature,
    /// The file name.
    Name,
    /// The compression method.
    Method,
    /// The general-purpose flags (encryption, data descriptor).
    Flags,
    /// The CRC-32.
    Crc32,
    /// The compressed size.
    CompressedSize,
    /// The uncompressed size.
    UncompressedSize,
}

impl fmt::Display for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderField::Signature => "signature",
            HeaderField::Name => "name",
            HeaderField::Method => "compression method",
            HeaderField::Flags => "flags",
            HeaderField::Crc32 => "crc-32",
            HeaderField::CompressedSize => "compressed size",
            HeaderField::UncompressedSize => "uncompressed size",
        })
    }
}

/// A manifest (`hotpack.json`) that cannot be accepted, without bundle context.
///
/// [`Manifest::from_json`](crate::Manifest::from_json) returns it; a [`Bundle`](crate::Bundle)
/// maps each case onto its own [`BundleError`] variant that also names the bundle and entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not valid JSON, a field of the wrong type, a missing field, or an unknown field.
    #[error("invalid manifest JSON: {source}")]
    Json {
        /// What the strict reader refused, and at which byte.
        #[source]
        source: crate::JsonError,
    },
    /// The `format` field names a format this reader does not know.
    #[error("unknown manifest format {found} (this reader knows format {known})")]
    UnknownFormat {
        /// The format found.
        found: u64,
        /// The format this reader implements.
        known: u32,
    },
    /// The `version` field is not a semantic version.
    #[error("version `{version}` is not a semantic version: {source}")]
    BadVersion {
        /// The string found.
        version: String,
        /// The semver crate's error.
        #[source]
        source: semver::Error,
    },
    /// The `name` field is not a valid module name.
    #[error("module name `{name}` is invalid (expected 1-128 characters of [A-Za-z0-9_.-], not `.` or `..`)")]
    BadName {
        /// The name found.
        name: String,
    },
    /// The `signature` field is not null (signatures are reserved, not yet supported).
    #[error("the manifest carries a signature, which this reader does not support yet")]
    UnsupportedSignature,
    /// An object of the manifest names the same key twice (at any depth: a top-level
    /// field, a `libraries` target, an `entries` path, a field of `hooks`, ...).
    #[error("key `{key}` appears twice in {object}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// The object holding it (`the manifest`, `libraries`, `entries`, ...).
        object: String,
    },
    /// The manifest is well-formed JSON but its fields contradict each other or a rule.
    #[error("invalid manifest: {rule}")]
    Invalid {
        /// The rule it breaks.
        rule: crate::ManifestRule,
    },
}

/// Why a bundle was refused, or why reading one of its entries failed.
///
/// The context (the bundle: the path it was opened from, or the origin path given to
/// [`Bundle::from_bytes`](crate::Bundle::from_bytes); the entry, where one is involved) is
/// held once here; what went wrong is the [`BundleErrorKind`]. The `Display` output is one
/// line: `BUNDLE: entry `NAME`: PROBLEM`. An underlying error (I/O, a corrupt deflate
/// stream) is the [`source`](std::error::Error::source), not repeated in the message.
#[derive(Debug)]
pub struct BundleError {
    bundle: PathBuf,
    entry: Option<String>,
    kind: BundleErrorKind,
}

impl BundleError {
    /// An error about the bundle as a whole.
    pub(crate) fn new(bundle: impl Into<PathBuf>, kind: BundleErrorKind) -> Self {
        BundleError { bundle: bundle.into(), entry: None, kind }
    }

    /// An error about one entry of the bundle.
    pub(crate) fn at(bundle: impl Into<PathBuf>, entry: impl Into<String>, kind: BundleErrorKind) -> Self {
        BundleError { bundle: bundle.into(), entry: Some(entry.into()), kind }
    }

    /// The bundle this error is about.
    pub fn bundle(&self) -> &Path {
        &self.bundle
    }

    /// The entry (its full name in the zip) this error is about, if one is involved.
    pub fn entry(&self) -> Option<&str> {
        self.entry.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> &BundleErrorKind {
        &self.kind
    }

    /// Consume the error, returning what went wrong.
    pub fn into_kind(self) -> BundleErrorKind {
        self.kind
    }

    /// Attach bundle and manifest-entry context to a [`ManifestError`].
    pub(crate) fn from_manifest(bundle: PathBuf, entry: String, err: ManifestError) -> Self {
        BundleError::at(bundle, entry, BundleErrorKind::Manifest(err))
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.bundle.display())?;
        if let Some(entry) = &self.entry {
            write!(f, "entry `{entry}`: ")?;
        }
        fmt::Display::fmt(&self.kind, f)
    }
}

impl std::error::Error for BundleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// What is wrong with a bundle or one of its entries; [`BundleError`] adds which bundle and
/// which entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleErrorKind {
    /// Reading the bundle file failed.
    #[error("cannot read the bundle")]
    Io(#[source] std::io::Error),
    /// The file is empty.
    #[error("the file is empty, not a zip bundle")]
    Empty,
    /// The file is not a zip archive at all (no end-of-central-directory record, no zip signature).
    #[error("not a zip archive")]
    NotAZip,
    /// The archive ends before a structure it declares (the end record, the central
    /// directory, a local header, an entry's data).
    #[error("truncated: {what} extends past the end of the file")]
    Truncated {
        /// What is cut off: `central directory`, or `entry `NAME``.
        what: String,
    },
    /// A zip structure is damaged or uses a feature bundles do not allow (multi-disk,
    /// prepended data, a directory entry with data).
    #[error("malformed zip: {fault}")]
    Malformed {
        /// What is wrong, naming the entry where one is involved.
        fault: crate::ZipFault,
    },
    /// The bundle file is bigger than [`Limits::max_bundle_size`](crate::Limits::max_bundle_size).
    #[error("the file is {size} bytes, over the limit of {max}")]
    BundleTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// More entries than [`Limits::max_entries`](crate::Limits::max_entries).
    #[error("{count} entries, over the limit of {max}")]
    TooManyEntries {
        /// The entry count the archive declares.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// The entry's declared uncompressed size is over [`Limits::max_entry_size`](crate::Limits::max_entry_size).
    #[error("declared size {size} bytes, over the limit of {max}")]
    EntryTooLarge {
        /// Its declared uncompressed size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The sum of the declared uncompressed sizes is over
    /// [`Limits::max_total_size`](crate::Limits::max_total_size); the entry is the one at
    /// which the running total passed the limit.
    #[error("total uncompressed size reaches {total} bytes, over the limit of {max}")]
    TotalTooLarge {
        /// The running total at that entry.
        total: u64,
        /// The limit.
        max: u64,
    },
    /// The entry expands more than [`Limits::max_ratio`](crate::Limits::max_ratio) times (a compression bomb).
    #[error("{compressed} bytes expand to {uncompressed}, a ratio over the limit of {max_ratio}:1")]
    CompressionRatio {
        /// Compressed size.
        compressed: u64,
        /// Declared uncompressed size.
        uncompressed: u64,
        /// The limit.
        max_ratio: u64,
    },
    /// A manifest entry is bigger than [`Limits::max_manifest_size`](crate::Limits::max_manifest_size).
    #[error("manifest of {size} bytes, over the limit of {max}")]
    ManifestTooLarge {
        /// Its declared size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Two central-directory entries have the entry's name.
    #[error("the name appears twice in the archive")]
    DuplicateEntry,
    /// The entry name is absolute, contains `..`, a backslash, a drive letter, ... (the
    /// entry is lossily decoded if it is not UTF-8).
    #[error("refused path: {problem}")]
    UnsafePath {
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// The entry is a symbolic link (by the unix mode in its external attributes).
    #[error("is a symbolic link (mode {mode:o})")]
    Symlink {
        /// The unix mode found.
        mode: u32,
    },
    /// The entry is encrypted.
    #[error("is encrypted")]
    Encrypted,
    /// The entry uses a compression method other than stored (0) or deflated (8).
    #[error("unsupported compression method {method} (only stored and deflated)")]
    UnsupportedMethod {
        /// The method number found.
        method: u16,
    },
    /// The entry's byte range (local header, data, data descriptor) overlaps another entry
    /// that starts earlier, or the central directory.
    #[error("overlaps `{other}`")]
    Overlap {
        /// The entry (or `<central directory>`) it overlaps.
        other: String,
    },
    /// The local file header disagrees with the central directory.
    #[error("local header {field} `{local}` disagrees with the central directory's `{central}`")]
    HeaderMismatch {
        /// Which field.
        field: HeaderField,
        /// The central directory's value.
        central: String,
        /// The local header's value.
        local: String,
    },
    /// The bundle contains no manifest (`hotpack.json`) at all.
    #[error("no `hotpack.json` manifest in the bundle")]
    NoManifest,
    /// The file entry is not claimed by any manifest.
    #[error("not listed in any manifest")]
    NotInManifest,
    /// The file entry is claimed by two manifests.
    #[error("claimed by both module `{first}` and module `{second}`")]
    ClaimedTwice {
        /// The first module claiming it.
        first: String,
        /// The second module claiming it.
        second: String,
    },
    /// A manifest lists the entry, but it is not in the zip.
    #[error("listed in the manifest of module `{module}` but missing from the zip")]
    MissingEntry {
        /// The module whose manifest lists it.
        module: String,
    },
    /// The entry's size differs from what the manifest (or the zip headers) declare.
    #[error("size {found} bytes, expected {expected}")]
    SizeMismatch {
        /// The size declared (by the manifest, or the central directory).
        expected: u64,
        /// The size found (for a stream that runs long: the bytes read before stopping).
        found: u64,
    },
    /// The entry's content does not have the blake3 hash its manifest declares.
    #[error("blake3 {}, expected {}", .found.to_hex(), .expected.to_hex())]
    HashMismatch {
        /// The hash the manifest declares.
        expected: blake3::Hash,
        /// The hash of the content read.
        found: blake3::Hash,
    },
    /// The entry's content does not have the CRC-32 its zip headers declare.
    #[error("crc-32 {found:08x}, expected {expected:08x}")]
    CrcMismatch {
        /// Declared CRC-32.
        expected: u32,
        /// CRC-32 of the content read.
        found: u32,
    },
    /// The entry's deflate stream is corrupt.
    #[error("corrupt deflate data: {source}")]
    Corrupt {
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes before the first local header (a prefix: a self-extractor stub, or data
    /// smuggled in front of a signed bundle). `docs/FORMAT.md`, "Zip features".
    #[error("{bytes} bytes of data before the first local header")]
    PrefixData {
        /// How many bytes precede the first local header.
        bytes: u64,
    },
    /// A deflate stream ends before the entry's compressed data does: the remaining bytes
    /// belong to no stream.
    #[error("{bytes} bytes after the end of the deflate stream")]
    TrailingData {
        /// How many compressed bytes follow the end of the stream.
        bytes: u64,
    },
    /// The manifest entry cannot be accepted (bad JSON, unknown format, bad version or
    /// name, a reserved field set, fields that contradict each other).
    #[error(transparent)]
    Manifest(ManifestError),
    /// Two manifests in one bundle declare the same module name; the entry is the second
    /// manifest declaring it.
    #[error("module `{name}` is declared twice in the bundle")]
    DuplicateModule {
        /// The module name.
        name: String,
    },
    /// The archive comment starts like a signature record but is not one.
    #[error("malformed signature record in the archive comment: {detail}")]
    BadSignatureRecord {
        /// What is wrong (one of a fixed set of phrases).
        detail: &'static str,
    },
    /// No module of that name in the bundle.
    #[error("no module named `{module}` in the bundle")]
    NoSuchModule {
        /// The name asked for.
        module: String,
    },
    /// The module's manifest lists no such entry.
    #[error("module `{module}` has no entry `{entry}`")]
    NoSuchEntry {
        /// The module.
        module: String,
        /// The relative path asked for.
        entry: String,
    },
    /// The module has no library for that target triple.
    #[error("module `{module}` has no library for target `{target}` (it has: {available})")]
    NoLibraryForTarget {
        /// The module.
        module: String,
        /// The target asked for.
        target: String,
        /// The targets it has, comma separated.
        available: String,
    },
}

/// Why packing failed.
#[cfg(feature = "pack")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// The module metadata is not valid (bad name, empty target, ...).
    #[error("invalid module metadata: {0}")]
    InvalidMeta(ManifestError),
    /// A path (module directory, library name, resource name) is not a safe relative path.
    #[error("`{path}` cannot be used as an entry path: {problem}")]
    InvalidPath {
        /// The path.
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// Two entries of the bundle would have the same name.
    #[error("entry `{entry}` would appear twice in the bundle")]
    DuplicateEntry {
        /// The entry name.
        entry: String,
    },
    /// Two modules of the bundle have the same name.
    #[error("module `{name}` would appear twice in the bundle")]
    DuplicateModule {
        /// The module name.
        name: String,
    },
    /// The zip writer failed.
    #[error("writing the zip failed at entry `{entry}`: {source}")]
    Zip {
        /// The entry being written.
        entry: String,
        /// The zip crate's error.
        source: zip::result::ZipError,
    },
    /// Writing the output file failed (the error names the file).
    #[error(transparent)]
    Write(#[from] hotpack_util::fs::FsError),
}

/// Why a search of the [`SearchPath`](crate::SearchPath) found nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// No entry of the search path holds a module of that name.
    #[error("module `{name}` not found on the search path ({searched} entries searched{})",
        if .problems.is_empty() { String::new() } else { format!("; {} problem(s), first: {}", .problems.len(), .problems[0]) })]
    NotFound {
        /// The name looked for.
        name: String,
        /// How many search-path entries were searched.
        searched: usize,
        /// Problems met on the way (bundles that failed to open, unreadable directories).
        problems: Vec<crate::SearchProblem>,
    },
}
