//! The error types: one per operation (reading a bundle, parsing a manifest, packing, searching).

use std::fmt;
use std::path::PathBuf;

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
    #[error("invalid manifest JSON: {detail}")]
    Json {
        /// serde_json's message (with line and column).
        detail: String,
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
    #[error("version `{version}` is not a semantic version: {detail}")]
    BadVersion {
        /// The string found.
        version: String,
        /// The semver crate's message.
        detail: String,
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
    /// The manifest is well-formed JSON but its fields contradict each other or a rule.
    #[error("invalid manifest: {detail}")]
    Invalid {
        /// What is wrong.
        detail: String,
    },
}

/// Why a bundle was refused, or why reading one of its entries failed.
///
/// Every variant names the bundle (`bundle`: the path it was opened from, or the origin path
/// given to [`Bundle::from_bytes`](crate::Bundle::from_bytes)) and, where one is involved,
/// the entry. The `Display` output is one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Reading the bundle file failed.
    #[error("{}: cannot read the bundle: {source}", .bundle.display())]
    Io {
        /// The bundle.
        bundle: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("{}: the file is empty, not a zip bundle", .bundle.display())]
    Empty {
        /// The bundle.
        bundle: PathBuf,
    },
    /// The file is not a zip archive at all (no end-of-central-directory record, no zip signature).
    #[error("{}: not a zip archive", .bundle.display())]
    NotAZip {
        /// The bundle.
        bundle: PathBuf,
    },
    /// The archive ends before a structure it declares (the end record, the central
    /// directory, a local header, an entry's data).
    #[error("{}: truncated: {what} extends past the end of the file", .bundle.display())]
    Truncated {
        /// The bundle.
        bundle: PathBuf,
        /// What is cut off: `central directory`, or `entry `NAME``.
        what: String,
    },
    /// A zip structure is damaged or uses a feature bundles do not allow (multi-disk,
    /// prepended data, a directory entry with data).
    #[error("{}: malformed zip: {detail}", .bundle.display())]
    Malformed {
        /// The bundle.
        bundle: PathBuf,
        /// What is wrong, naming the entry where one is involved.
        detail: String,
    },
    /// The bundle file is bigger than [`Limits::max_bundle_size`](crate::Limits::max_bundle_size).
    #[error("{}: the file is {size} bytes, over the limit of {max}", .bundle.display())]
    BundleTooLarge {
        /// The bundle.
        bundle: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// More entries than [`Limits::max_entries`](crate::Limits::max_entries).
    #[error("{}: {count} entries, over the limit of {max}", .bundle.display())]
    TooManyEntries {
        /// The bundle.
        bundle: PathBuf,
        /// The entry count the archive declares.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// One entry's declared uncompressed size is over [`Limits::max_entry_size`](crate::Limits::max_entry_size).
    #[error("{}: entry `{entry}`: declared size {size} bytes, over the limit of {max}", .bundle.display())]
    EntryTooLarge {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
        /// Its declared uncompressed size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The sum of the declared uncompressed sizes is over [`Limits::max_total_size`](crate::Limits::max_total_size).
    #[error("{}: entry `{entry}`: total uncompressed size reaches {total} bytes, over the limit of {max}", .bundle.display())]
    TotalTooLarge {
        /// The bundle.
        bundle: PathBuf,
        /// The entry at which the running total passed the limit.
        entry: String,
        /// The running total at that entry.
        total: u64,
        /// The limit.
        max: u64,
    },
    /// An entry expands more than [`Limits::max_ratio`](crate::Limits::max_ratio) times (a compression bomb).
    #[error("{}: entry `{entry}`: {compressed} bytes expand to {uncompressed}, a ratio over the limit of {max_ratio}:1", .bundle.display())]
    CompressionRatio {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
        /// Compressed size.
        compressed: u64,
        /// Declared uncompressed size.
        uncompressed: u64,
        /// The limit.
        max_ratio: u64,
    },
    /// A manifest entry is bigger than [`Limits::max_manifest_size`](crate::Limits::max_manifest_size).
    #[error("{}: entry `{entry}`: manifest of {size} bytes, over the limit of {max}", .bundle.display())]
    ManifestTooLarge {
        /// The bundle.
        bundle: PathBuf,
        /// The manifest entry.
        entry: String,
        /// Its declared size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Two central-directory entries have the same name.
    #[error("{}: entry `{entry}`: the name appears twice in the archive", .bundle.display())]
    DuplicateEntry {
        /// The bundle.
        bundle: PathBuf,
        /// The duplicated name.
        entry: String,
    },
    /// An entry name is absolute, contains `..`, a backslash, a drive letter, ...
    #[error("{}: entry `{entry}`: refused path: {problem}", .bundle.display())]
    UnsafePath {
        /// The bundle.
        bundle: PathBuf,
        /// The entry name (lossily decoded if it is not UTF-8).
        entry: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// An entry is a symbolic link (by the unix mode in its external attributes).
    #[error("{}: entry `{entry}`: is a symbolic link (mode {mode:o})", .bundle.display())]
    Symlink {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
        /// The unix mode found.
        mode: u32,
    },
    /// An entry is encrypted.
    #[error("{}: entry `{entry}`: is encrypted", .bundle.display())]
    Encrypted {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
    },
    /// An entry uses a compression method other than stored (0) or deflated (8).
    #[error("{}: entry `{entry}`: unsupported compression method {method} (only stored and deflated)", .bundle.display())]
    UnsupportedMethod {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
        /// The method number found.
        method: u16,
    },
    /// Two entries' byte ranges (local header, data, data descriptor) overlap, or an
    /// entry overlaps the central directory.
    #[error("{}: entry `{entry}`: overlaps `{other}`", .bundle.display())]
    Overlap {
        /// The bundle.
        bundle: PathBuf,
        /// The entry that starts later.
        entry: String,
        /// The entry (or `<central directory>`) it overlaps.
        other: String,
    },
    /// The local file header disagrees with the central directory.
    #[error("{}: entry `{entry}`: local header {field} `{local}` disagrees with the central directory's `{central}`", .bundle.display())]
    HeaderMismatch {
        /// The bundle.
        bundle: PathBuf,
        /// The entry (its central-directory name).
        entry: String,
        /// Which field.
        field: HeaderField,
        /// The central directory's value.
        central: String,
        /// The local header's value.
        local: String,
    },
    /// The bundle contains no manifest (`hotpack.json`) at all.
    #[error("{}: no `hotpack.json` manifest in the bundle", .bundle.display())]
    NoManifest {
        /// The bundle.
        bundle: PathBuf,
    },
    /// A file entry is not claimed by any manifest.
    #[error("{}: entry `{entry}`: not listed in any manifest", .bundle.display())]
    NotInManifest {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
    },
    /// A file entry is claimed by two manifests.
    #[error("{}: entry `{entry}`: claimed by both module `{first}` and module `{second}`", .bundle.display())]
    ClaimedTwice {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
        /// The first module claiming it.
        first: String,
        /// The second module claiming it.
        second: String,
    },
    /// A manifest lists an entry that is not in the zip.
    #[error("{}: entry `{entry}`: listed in the manifest of module `{module}` but missing from the zip", .bundle.display())]
    MissingEntry {
        /// The bundle.
        bundle: PathBuf,
        /// The module whose manifest lists it.
        module: String,
        /// The full entry name that is missing.
        entry: String,
    },
    /// An entry's size differs from what the manifest (or the zip headers) declare.
    #[error("{}: entry `{entry}`: size {found} bytes, expected {expected}", .bundle.display())]
    SizeMismatch {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
        /// The size declared (by the manifest, or the central directory).
        expected: u64,
        /// The size found (for a stream that runs long: the bytes read before stopping).
        found: u64,
    },
    /// An entry's content does not have the blake3 hash its manifest declares.
    #[error("{}: entry `{entry}`: blake3 {found}, expected {expected}", .bundle.display())]
    HashMismatch {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
        /// The hash the manifest declares (hex).
        expected: String,
        /// The hash of the content read (hex).
        found: String,
    },
    /// An entry's content does not have the CRC-32 its zip headers declare.
    #[error("{}: entry `{entry}`: crc-32 {found:08x}, expected {expected:08x}", .bundle.display())]
    CrcMismatch {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
        /// Declared CRC-32.
        expected: u32,
        /// CRC-32 of the content read.
        found: u32,
    },
    /// An entry's deflate stream is corrupt.
    #[error("{}: entry `{entry}`: corrupt deflate data: {detail}", .bundle.display())]
    Corrupt {
        /// The bundle.
        bundle: PathBuf,
        /// The entry.
        entry: String,
        /// The decoder's message.
        detail: String,
    },
    /// A manifest is not valid JSON, has a missing/unknown/mistyped field.
    #[error("{}: entry `{entry}`: {detail}", .bundle.display())]
    ManifestJson {
        /// The bundle.
        bundle: PathBuf,
        /// The manifest entry.
        entry: String,
        /// serde_json's message.
        detail: String,
    },
    /// A manifest declares a format this reader does not know.
    #[error("{}: entry `{entry}`: unknown manifest format {found} (this reader knows format {known})", .bundle.display())]
    UnknownFormat {
        /// The bundle.
        bundle: PathBuf,
        /// The manifest entry.
        entry: String,
        /// The format found.
        found: u64,
        /// The format this reader implements.
        known: u32,
    },
    /// A manifest's `version` is not a semantic version.
    #[error("{}: entry `{entry}`: version `{version}` is not a semantic version: {detail}", .bundle.display())]
    BadVersion {
        /// The bundle.
        bundle: PathBuf,
        /// The manifest entry.
        entry: String,
        /// The version string.
        version: String,
        /// The semver crate's message.
        detail: String,
    },
    /// A manifest's `name` is not a valid module name.
    #[error("{}: entry `{entry}`: module name `{name}` is invalid (expected [A-Za-z0-9_.-]+)", .bundle.display())]
    BadName {
        /// The bundle.
        bundle: PathBuf,
        /// The manifest entry.
        entry: String,
        /// The name found.
        name: String,
    },
    /// A manifest carries a non-null signature (reserved; not supported yet).
    #[error("{}: entry `{entry}`: the manifest carries a signature, which this reader does not support yet", .bundle.display())]
    UnsupportedSignature {
        /// The bundle.
        bundle: PathBuf,
        /// The manifest entry.
        entry: String,
    },
    /// A manifest's fields contradict each other or a rule of the format.
    #[error("{}: entry `{entry}`: invalid manifest: {detail}", .bundle.display())]
    ManifestInvalid {
        /// The bundle.
        bundle: PathBuf,
        /// The manifest entry.
        entry: String,
        /// What is wrong.
        detail: String,
    },
    /// Two manifests in one bundle declare the same module name.
    #[error("{}: entry `{entry}`: module `{name}` is declared twice in the bundle", .bundle.display())]
    DuplicateModule {
        /// The bundle.
        bundle: PathBuf,
        /// The second manifest entry declaring it.
        entry: String,
        /// The module name.
        name: String,
    },
    /// No module of that name in the bundle.
    #[error("{}: no module named `{module}` in the bundle", .bundle.display())]
    NoSuchModule {
        /// The bundle.
        bundle: PathBuf,
        /// The name asked for.
        module: String,
    },
    /// The module's manifest lists no such entry.
    #[error("{}: module `{module}` has no entry `{entry}`", .bundle.display())]
    NoSuchEntry {
        /// The bundle.
        bundle: PathBuf,
        /// The module.
        module: String,
        /// The relative path asked for.
        entry: String,
    },
    /// The module has no library for that target triple.
    #[error("{}: module `{module}` has no library for target `{target}` (it has: {available})", .bundle.display())]
    NoLibraryForTarget {
        /// The bundle.
        bundle: PathBuf,
        /// The module.
        module: String,
        /// The target asked for.
        target: String,
        /// The targets it has, comma separated.
        available: String,
    },
}

impl BundleError {
    /// The bundle this error is about.
    pub fn bundle(&self) -> &std::path::Path {
        match self {
            BundleError::Io { bundle, .. }
            | BundleError::Empty { bundle }
            | BundleError::NotAZip { bundle }
            | BundleError::Truncated { bundle, .. }
            | BundleError::Malformed { bundle, .. }
            | BundleError::BundleTooLarge { bundle, .. }
            | BundleError::TooManyEntries { bundle, .. }
            | BundleError::EntryTooLarge { bundle, .. }
            | BundleError::TotalTooLarge { bundle, .. }
            | BundleError::CompressionRatio { bundle, .. }
            | BundleError::ManifestTooLarge { bundle, .. }
            | BundleError::DuplicateEntry { bundle, .. }
            | BundleError::UnsafePath { bundle, .. }
            | BundleError::Symlink { bundle, .. }
            | BundleError::Encrypted { bundle, .. }
            | BundleError::UnsupportedMethod { bundle, .. }
            | BundleError::Overlap { bundle, .. }
            | BundleError::HeaderMismatch { bundle, .. }
            | BundleError::NoManifest { bundle }
            | BundleError::NotInManifest { bundle, .. }
            | BundleError::ClaimedTwice { bundle, .. }
            | BundleError::MissingEntry { bundle, .. }
            | BundleError::SizeMismatch { bundle, .. }
            | BundleError::HashMismatch { bundle, .. }
            | BundleError::CrcMismatch { bundle, .. }
            | BundleError::Corrupt { bundle, .. }
            | BundleError::ManifestJson { bundle, .. }
            | BundleError::UnknownFormat { bundle, .. }
            | BundleError::BadVersion { bundle, .. }
            | BundleError::BadName { bundle, .. }
            | BundleError::UnsupportedSignature { bundle, .. }
            | BundleError::ManifestInvalid { bundle, .. }
            | BundleError::DuplicateModule { bundle, .. }
            | BundleError::NoSuchModule { bundle, .. }
            | BundleError::NoSuchEntry { bundle, .. }
            | BundleError::NoLibraryForTarget { bundle, .. } => bundle,
        }
    }

    /// Attach bundle and manifest-entry context to a [`ManifestError`].
    pub(crate) fn from_manifest(bundle: PathBuf, entry: String, err: ManifestError) -> Self {
        match err {
            ManifestError::Json { detail } => BundleError::ManifestJson { bundle, entry, detail },
            ManifestError::UnknownFormat { found, known } => BundleError::UnknownFormat { bundle, entry, found, known },
            ManifestError::BadVersion { version, detail } => BundleError::BadVersion { bundle, entry, version, detail },
            ManifestError::BadName { name } => BundleError::BadName { bundle, entry, name },
            ManifestError::UnsupportedSignature => BundleError::UnsupportedSignature { bundle, entry },
            ManifestError::Invalid { detail } => BundleError::ManifestInvalid { bundle, entry, detail },
        }
    }
}

/// Why packing failed.
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
