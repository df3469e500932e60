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
//! - [`Bundle::open`] validates the zip structure and every manifest, with one
//!   [`BundleError`] variant per problem and caps from [`Limits`]; [`Bundle::read`] and
//!   [`Bundle::read_library`] return content whose blake3 was checked on the very buffer
//!   returned; [`Bundle::verify_all`] checks every entry.
//! - [`SearchPath`] finds modules by name across directories, bundles and
//!   `bundle.zip/sub/dir` prefixes, reporting shadowed duplicates and broken bundles.
//!
//! This crate does not load code: it never depends on the loader.
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
mod error;
mod manifest;
mod pack;
mod path;
mod search;
mod zipfmt;

pub use bundle::{Bundle, BundleModule, EntryInfo, Limits, Method, VerifyReport};
pub use error::{BundleError, HeaderField, ManifestError, PackError, PathProblem, SearchError};
pub use manifest::{
    EntryDigest, FORMAT_VERSION, Hooks, InterfaceMeta, MANIFEST_NAME, Manifest, ModuleMeta, is_valid_module_name,
};
pub use pack::{PackSpec, pack, pack_modules, pack_to_file, write_atomic};
pub use search::{Found, Listing, Location, SearchPath, SearchProblem, Visible};

/// The semver crate, re-exported so callers build the same `Version` type.
pub use semver;
