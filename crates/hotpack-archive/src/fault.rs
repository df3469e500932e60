//! The typed causes inside the archive's errors: what the strict JSON reader refused
//! ([`JsonError`]), which manifest rule a well-formed manifest breaks ([`ManifestRule`]), and
//! which zip structure is damaged or not allowed ([`ZipFault`]). Each `Display` is the
//! phrase the error message quotes.

use std::fmt;

/// The manifest's top-level fields, in spec order (the phrase of an unknown top-level field).
pub(crate) const MANIFEST_FIELDS: [&str; 12] = [
    "format",
    "name",
    "version",
    "abi_version",
    "rustc",
    "interfaces",
    "handlers",
    "hooks",
    "libraries",
    "resources",
    "entries",
    "signature",
];

/// What the strict JSON reader refused in a manifest, and at which byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct JsonError {
    /// The byte offset into the manifest where the reader stopped.
    pub offset: usize,
    /// What it found there.
    pub kind: JsonErrorKind,
}

/// An object of the manifest whose fields are fixed (where an unknown field was found).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonObject {
    /// The manifest itself (its top-level fields).
    Manifest,
    /// An element of `interfaces`.
    Interface,
    /// The `hooks` object.
    Hooks,
    /// A value of `entries`.
    Entry,
}

/// What is wrong at a [`JsonError`]'s offset: a syntax error, a value of the wrong type, a
/// field unknown or missing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// The document is not UTF-8 (the offset is the end of its valid prefix).
    NotUtf8,
    /// A particular character was expected (`{`, `:`, `"`, ...).
    Expected {
        /// The character.
        character: char,
    },
    /// `,` or `}` was expected inside an object.
    ExpectedCommaOrBrace,
    /// `,` or `]` was expected inside an array.
    ExpectedCommaOrBracket,
    /// Something other than whitespace follows the document.
    TrailingCharacters,
    /// A raw control character inside a string.
    ControlCharacter,
    /// A string with no closing quote.
    UnterminatedString,
    /// A backslash at the end of the document.
    UnterminatedEscape,
    /// A `\u` escape of a leading surrogate not followed by another `\u` escape.
    LoneLeadingSurrogate,
    /// A leading surrogate followed by an escape that is not a trailing surrogate.
    InvalidTrailingSurrogate,
    /// A `\u` escape of a trailing surrogate with no leading one.
    LoneTrailingSurrogate,
    /// A backslash followed by a character that is not an escape.
    InvalidEscape,
    /// A `\u` escape with fewer than four characters left.
    ShortUnicodeEscape,
    /// A `\u` escape whose four characters are not all hex digits.
    InvalidUnicodeEscape,
    /// An integer above `u64::MAX`.
    IntegerOutOfRange,
    /// A non-negative integer was expected.
    ExpectedInteger,
    /// A number with a leading zero (`01`).
    LeadingZero,
    /// An integer was expected, a fraction or exponent was found.
    FractionOrExponent,
    /// `true` or `false` was expected.
    ExpectedBoolean,
    /// A value was expected.
    ExpectedValue,
    /// A number that is not valid JSON.
    InvalidNumber,
    /// Arrays and objects nested deeper than the reader follows (128).
    TooDeep,
    /// A field this object does not have.
    UnknownField {
        /// The field's name.
        field: String,
        /// The object it was found in.
        object: JsonObject,
    },
    /// A required top-level field is absent.
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// `abi_version` does not fit in 32 bits.
    AbiVersionTooLarge {
        /// The value found.
        value: u64,
    },
    /// An element of `interfaces` lacks `name` or `id`.
    InterfaceIncomplete,
    /// `hooks` lacks `init` or `state`.
    HooksIncomplete,
    /// A value of `entries` lacks `size` or `blake3`.
    EntryIncomplete {
        /// The entry's path.
        path: String,
    },
}

impl fmt::Display for JsonErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use JsonErrorKind as K;
        match self {
            K::NotUtf8 => f.write_str("not UTF-8"),
            K::Expected { character } => write!(f, "expected `{character}`"),
            K::ExpectedCommaOrBrace => f.write_str("expected `,` or `}`"),
            K::ExpectedCommaOrBracket => f.write_str("expected `,` or `]`"),
            K::TrailingCharacters => f.write_str("trailing characters after the document"),
            K::ControlCharacter => f.write_str("control character in a string"),
            K::UnterminatedString => f.write_str("unterminated string"),
            K::UnterminatedEscape => f.write_str("unterminated escape"),
            K::LoneLeadingSurrogate => f.write_str("lone leading surrogate"),
            K::InvalidTrailingSurrogate => f.write_str("invalid trailing surrogate"),
            K::LoneTrailingSurrogate => f.write_str("lone trailing surrogate"),
            K::InvalidEscape => f.write_str("invalid escape"),
            K::ShortUnicodeEscape => f.write_str("short \\u escape"),
            K::InvalidUnicodeEscape => f.write_str("invalid \\u escape"),
            K::IntegerOutOfRange => f.write_str("integer out of range"),
            K::ExpectedInteger => f.write_str("expected a non-negative integer"),
            K::LeadingZero => f.write_str("leading zero in a number"),
            K::FractionOrExponent => f.write_str("expected an integer, found a fraction or exponent"),
            K::ExpectedBoolean => f.write_str("expected a boolean"),
            K::ExpectedValue => f.write_str("expected a value"),
            K::InvalidNumber => f.write_str("invalid number"),
            K::TooDeep => f.write_str("nested too deeply"),
            K::UnknownField { field, object } => match object {
                JsonObject::Manifest => {
                    write!(f, "unknown field `{field}`, expected one of {}", MANIFEST_FIELDS.join(", "))
                }
                JsonObject::Interface => write!(f, "unknown field `{field}` in an interface, expected name, id"),
                JsonObject::Hooks => write!(f, "unknown field `{field}` in `hooks`, expected init, state"),
                JsonObject::Entry => write!(f, "unknown field `{field}` in an entry, expected size, blake3"),
            },
            K::MissingField { field } => write!(f, "missing field `{field}`"),
            K::AbiVersionTooLarge { value } => write!(f, "abi_version {value} is over u32"),
            K::InterfaceIncomplete => f.write_str("an interface lacks `name` or `id`"),
            K::HooksIncomplete => f.write_str("`hooks` needs both `init` and `state`"),
            K::EntryIncomplete { path } => write!(f, "entry `{path}` lacks `size` or `blake3`"),
        }
    }
}

/// A rule of `docs/FORMAT.md` that a well-formed manifest breaks (its fields contradict each
/// other, or a value has the wrong form).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestRule {
    /// An entry path is not a normal relative path.
    #[error("entry path `{path}`: {problem}")]
    EntryPath {
        /// The path.
        path: String,
        /// What is wrong with it.
        problem: crate::PathProblem,
    },
    /// An interface has an empty name.
    #[error("an interface has an empty name")]
    EmptyInterfaceName,
    /// A handler has an empty name.
    #[error("a handler has an empty name")]
    EmptyHandlerName,
    /// `entries` lists the manifest itself.
    #[error("`{}` cannot be listed as an entry", crate::MANIFEST_NAME)]
    ManifestListed,
    /// A key of `libraries` is not a target triple.
    #[error("target `{target}` is not a valid target triple")]
    BadTarget {
        /// The key.
        target: String,
    },
    /// A path is both a library and a resource, or two libraries.
    #[error("`{path}` is listed twice (as a library or resource)")]
    ListedTwice {
        /// The path.
        path: String,
    },
    /// A library or resource has no value in `entries`.
    #[error("`{path}` has no size and blake3 in `entries`")]
    NoDigest {
        /// The path.
        path: String,
    },
    /// `entries` holds a path that is neither a library nor a resource.
    #[error("`entries` lists `{path}`, which is neither a library nor a resource")]
    Unlisted {
        /// The path.
        path: String,
    },
    /// An interface id is not 16 lowercase hex digits.
    #[error("interface `{interface}` has id `{id}`, expected 16 lowercase hex digits")]
    BadInterfaceId {
        /// The interface.
        interface: String,
        /// The id found.
        id: String,
    },
    /// An entry's blake3 is not 64 lowercase hex digits.
    #[error("entry `{path}` has blake3 `{hex}`, expected 64 lowercase hex digits")]
    BadBlake3 {
        /// The entry's path.
        path: String,
        /// The value found.
        hex: String,
    },
}

/// A zip structure that is damaged or uses a feature bundles do not allow
/// (`docs/FORMAT.md`, "Zip features").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZipFault {
    /// The archive comment holds an end-of-central-directory signature (readers that take
    /// the last one would see another archive).
    #[error("the archive comment contains an end-of-central-directory signature (PK\\x05\\x06)")]
    SignatureInComment,
    /// The archive spans several disks.
    #[error("multi-disk archives are not supported")]
    MultiDisk,
    /// The ZIP64 locator points at something other than a ZIP64 end record.
    #[error("the ZIP64 locator does not point at a ZIP64 end record")]
    Zip64LocatorTarget,
    /// The ZIP64 end record overlaps its locator.
    #[error("the ZIP64 end record overlaps its locator")]
    Zip64EndOverlap,
    /// Data sits between the central directory and the end record.
    #[error("the central directory does not end where the end record begins (prepended or inserted data)")]
    CentralDirectoryEnd,
    /// The declared entry count does not fit this machine's address space.
    #[error("entry count")]
    EntryCount,
    /// The central directory holds fewer records than the end record declares.
    #[error("the central directory ends after {read} of {count} entries")]
    FewerRecords {
        /// Records read.
        read: usize,
        /// Records declared.
        count: usize,
    },
    /// A central directory record lacks its signature.
    #[error("central directory record {record} has no signature")]
    RecordSignature {
        /// The record's index.
        record: usize,
    },
    /// A central directory record's name, extra field or comment runs past the directory.
    #[error("central directory record {record} runs past the central directory")]
    RecordOverrun {
        /// The record's index.
        record: usize,
    },
    /// The central directory holds bytes after its declared records.
    #[error("the central directory holds {bytes} bytes after its {count} declared entries")]
    RecordsTrailing {
        /// The bytes left over.
        bytes: usize,
        /// Records declared.
        count: usize,
    },
    /// An entry needs a zip version over 6.3 to extract.
    #[error("entry `{entry}` needs zip version {}.{} to extract (at most 6.3)", needed / 10, needed % 10)]
    VersionNeeded {
        /// The entry.
        entry: String,
        /// The "version needed to extract" byte (major * 10 + minor).
        needed: u8,
    },
    /// An extra field runs past the end of its header (`local`: in the local header).
    #[error("entry `{entry}`: {}an extra field runs past the end of its header", if *local { "local " } else { "" })]
    ExtraFieldOverrun {
        /// The entry.
        entry: String,
        /// Whether it is the local header's extra field (else the central directory's).
        local: bool,
    },
    /// All-ones sizes with no ZIP64 extra field to hold the real ones.
    #[error("entry `{entry}`: ZIP64 sizes without a ZIP64 extra field")]
    Zip64Missing {
        /// The entry.
        entry: String,
    },
    /// The ZIP64 extra field is too short for a value it must hold.
    #[error("entry `{entry}`: ZIP64 extra field lacks the {field}")]
    Zip64Short {
        /// The entry.
        entry: String,
        /// The value (`uncompressed size`, `compressed size`, `local header offset`).
        field: &'static str,
    },
    /// An entry starts on another disk.
    #[error("entry `{entry}`: multi-disk archives are not supported")]
    EntryOnOtherDisk {
        /// The entry.
        entry: String,
    },
    /// A directory entry holds data.
    #[error("directory entry `{entry}` has {size} bytes of data")]
    DirectoryWithData {
        /// The entry.
        entry: String,
        /// Its declared uncompressed size.
        size: u64,
    },
}
