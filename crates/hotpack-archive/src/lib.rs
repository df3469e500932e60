//! hotpack bundles: zipimport for native modules.
//!
//! A bundle is a standard zip holding one or more modules. Each module lives in a
//! directory of the zip (the root for a single-module bundle) with a manifest,
//! `hotpack.json`, that records its name, version, interfaces, the library entry per target
//! triple, its resources, and the size and blake3 of every entry. The full specification
//! is `docs/FORMAT.md`.
//!
//! - [`pack`] / [`pack_modules`] write bundles deterministically (same inputs, same bytes);
//!   [`pack_to_file`] and [`write_atomic`] put them on disk atomically.
//! - [`Bundle::open`] validates the zip structure and every manifest from bounded reads of
//!   the end record, the central directory and the manifests (never the whole file), with
//!   one [`BundleError`] variant per problem and caps from [`Limits`];
//!   [`Bundle::open_entry`] streams an entry, checking its local header first and its
//!   size, CRC-32 and blake3 at the end; [`Bundle::read`] and [`Bundle::read_library`]
//!   return content whose blake3 was checked on the very buffer returned;
//!   [`Bundle::verify_all`] checks every entry.
//! - [`SigningKey`] / [`PublicKey`] are ed25519 keys with text files; [`sign_bundle`] puts a
//!   signature in the zip archive comment; [`Bundle::check_signature`] tells not signed,
//!   untrusted, mismatch or trusted ([`SignatureStatus`]) from the bytes already read.
//! - [`SearchPath`] finds modules by name across directories, bundles and
//!   `bundle.zip/sub/dir` prefixes, reporting shadowed duplicates and broken bundles.
//!
//! This crate does not load code: it never depends on the loader.
//!
//! # Features
//!
//! - `pack` (default): writing bundles with the `zip` crate. A tool that only reads,
//!   verifies or searches bundles turns default features off and pulls no zip writer.
//!
//! # Example
//!
//! ```
//! use hotpack_archive::{Bundle, Hooks, InterfaceMeta, Limits, ModuleMeta, PackSpec, pack};
//!
//! let spec = PackSpec {
//!     meta: ModuleMeta {
//!         name: "greeter".into(),
//!         version: hotpack_archive::semver::Version::new(1, 0, 0),
//!         abi_version: 1,
//!         rustc: "rustc 1.88.0".into(),
//!         interfaces: vec![InterfaceMeta { name: "Greeter".into(), id: 0x0123_4567_89ab_cdef }],
//!         handlers: vec!["greet".into()],
//!         hooks: Hooks::default(),
//!     },
//!     target: "x86_64-unknown-linux-gnu".into(),
//!     library_name: "libgreeter.so".into(),
//!     library: b"\x7fELF... (the archive does not interpret these bytes)".to_vec(),
//!     resources: vec![("data/hello.txt".into(), b"hello".to_vec())],
//! };
//! let bytes = pack(&spec)?;
//! assert_eq!(bytes, pack(&spec)?, "packing is deterministic");
//!
//! let bundle = Bundle::from_bytes(bytes, "greeter.zip", &Limits::default())?;
//! let module = bundle.module("greeter").expect("packed above");
//! assert_eq!(module.manifest().meta.version.to_string(), "1.0.0");
//! assert_eq!(bundle.read("greeter", "data/hello.txt")?, b"hello");
//! let library = bundle.read_library("greeter", "x86_64-unknown-linux-gnu")?;
//! assert_eq!(library, spec.library);
//! bundle.verify_all()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bundle;
mod entries;
mod error;
mod fault;
mod inflate;
mod json;
mod manifest;
#[cfg(feature = "pack")]
mod pack;
mod path;
mod search;
mod sign;
mod zipfmt;

pub use bundle::{Bundle, BundleModule, EntryInfo, EntryReader, Limits, Method, VerifyReport};
pub use entries::{Entries, EntriesIter, PathList, Paths};
#[cfg(feature = "pack")]
pub use error::PackError;
pub use error::{BundleError, BundleErrorKind, HeaderField, ManifestError, PathProblem, SearchError};
pub use fault::{JsonError, JsonErrorKind, JsonObject, ManifestRule, ZipFault};
/// Atomic file output ([`hotpack_util::fs::write_atomic`]), re-exported for writing bundles.
pub use hotpack_util::fs::write_atomic;
pub use manifest::{
    EntryDigest, FORMAT_VERSION, Hooks, InterfaceMeta, MANIFEST_NAME, Manifest, ModuleMeta, is_valid_module_name,
};
#[cfg(feature = "pack")]
pub use pack::{PackSpec, pack, pack_modules, pack_to_file};
pub use search::{Found, Listing, Location, SearchPath, SearchProblem, Visible, split_bundle_prefix};
pub use sign::{
    BundleSignature, Fingerprint, KeyError, KeyProblem, PROOF_HEADER, PUBLIC_KEY_PREFIX, ProofError, PublicKey,
    SECRET_KEY_PREFIX, SIGNATURE_RECORD_PREFIX, SignError, SignatureProof, SignatureStatus, SigningKey, sign_bundle,
};

/// The semver crate, re-exported so callers build the same `Version` type.
pub use semver;
