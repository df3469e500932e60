//! hotpack: Python's zipimport + importlib + a hot-reload supervisor, for native Rust.
//!
//! Modules are `cdylib`s built against [`abi`] (one [`abi::module!`] invocation), shipped
//! in zip bundles ([`archive`]), found on a search path, loaded once per content hash
//! ([`loader`]), kept in a registry with hot handles that swap under live calls ([`cache`]),
//! promoted through gates with a panic budget, rollback and a journal ([`rollback`]), and
//! redeployed when a file changes on disk ([`detect`]). This crate composes them into
//! one [`Runtime`] and re-exports each of them; the logic lives in those crates.
//!
//! # The guide
//!
//! ## 1. Write a module
//!
//! A module is a plain Rust crate with `crate-type = ["cdylib"]` that depends on
//! `hotpack-abi` and declares its handlers. A handler takes bytes and returns bytes (or text,
//! or a `Result`); panics are caught inside the module and come back as errors.
//!
//! ```
//! // examples/modules/task-v1/src/lib.rs, abridged. A module crate depends on
//! // `hotpack-abi` and writes `hotpack_abi::module!`; here it is reached through the facade.
//! fn run(data: &[u8]) -> Result<String, String> {
//!     Ok(format!("v1: {} records", data.len() / 16))
//! }
//! hotpack::abi::module! {
//!     name: "task",
//!     version: "1.0.0",
//!     handlers: { "run" => run },
//! }
//! assert_eq!(run(&[0; 32])?, "v1: 2 records");
//! # Ok::<(), String>(())
//! ```
//!
//! ## 2. Pack it into a bundle
//!
//! `cargo build --release` gives `libtask_v1.so`; [`pack_library`] (or `hotpack pack`) reads
//! the module's own descriptor and writes a verified, deterministic zip bundle:
//!
//! ```no_run
//! let meta = hotpack::pack_library(
//!     "target/release/libtask_v1.so".as_ref(),
//!     "plugins/task.zip".as_ref(),
//!     vec![("README.txt".into(), b"what this task does".to_vec())],
//! )?;
//! println!("packed {} {}", meta.name, meta.version);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## 3. Import, call, swap, roll back
//!
//! A [`Runtime`] holds the registry. [`Runtime::import`] finds a module by name on the search
//! path (directories, bundles, `bundle.zip/sub/dir`), like `importlib.import_module`;
//! [`Runtime::deploy`] loads a given bundle or library and swaps it in; [`Runtime::call`]
//! calls a handler of whatever version is current. Host-owned data is passed by reference
//! and never moves, so a swap costs milliseconds however large the data is.
//!
//! ```no_run
//! use hotpack::Runtime;
//!
//! let runtime = Runtime::builder().search_path("plugins/").build()?;
//! let data = vec![0u8; 16 << 20];                 // the resident data, loaded once
//! runtime.import("task")?;                        // found on the path, loaded, current
//! let out = runtime.call("task", "run", &data)?;  // v1 answers
//! runtime.deploy("incoming/task-v2.zip".as_ref())?; // gates pass: v2 is current
//! let out2 = runtime.call("task", "run", &data)?; // v2 answers, same data
//! runtime.rollback("task")?;                      // back to v1
//! # let _ = (out, out2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## 4. Let it watch
//!
//! [`Runtime::watch`] starts a thread that watches the search path (the `detect` crate: a
//! debounced notify watcher that reports only blake3-confirmed content changes) and deploys
//! every library or bundle whose content changed. A change that fails to load, or fails a
//! gate, is reported as an [`Event::Deploy`] ([`WatchReport::Refused`]) and the old version
//! keeps serving.
//!
//! ```no_run
//! let runtime = hotpack::Runtime::builder().search_path("plugins/").build()?;
//! let events = runtime.subscribe();
//! let _watching = runtime.watch()?;               // stops when dropped
//! for event in events.iter() {
//!     println!("{event}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## A runnable example
//!
//! Everything above needs a built module; this one needs nothing but the crates: it packs
//! a bundle and reads it back.
//!
//! ```
//! use hotpack::archive::{Bundle, Hooks, Limits, ModuleMeta, PackSpec, pack, semver::Version};
//!
//! let spec = PackSpec {
//!     meta: ModuleMeta {
//!         name: "task".into(),
//!         version: Version::new(1, 0, 0),
//!         abi_version: hotpack::abi::ABI_VERSION,
//!         rustc: hotpack::abi::RUSTC_VERSION.into(),
//!         interfaces: vec![],
//!         handlers: vec!["run".into()],
//!         hooks: Hooks::default(),
//!     },
//!     target: hotpack::abi::TARGET.into(),
//!     library_name: "libtask.so".into(),
//!     library: b"(library bytes)".to_vec(),
//!     resources: vec![],
//! };
//! let bundle = Bundle::from_bytes(pack(&spec)?, "task.zip", &Limits::default())?;
//! assert_eq!(bundle.module("task").map(|m| m.manifest().meta.version.major), Some(1));
//!
//! let runtime = hotpack::Runtime::builder()
//!     .cache_dir(std::env::temp_dir().join("hotpack-doctest"))
//!     .build()?;
//! assert!(runtime.modules().is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The three stories of this package's `examples/` (resident data, a plugin folder, a
//! hot-deployed service; `cargo run -p hotpack --example NAME`) and the `hotpack` CLI (`dev`,
//! `serve`, `demo`) are built on this crate.
//!
//! # A whole application to copy
//!
//! The hotpack repository's `examples/out-of-tree` folder is an application laid out as a user
//! writes one, outside the repository, with path dependencies only: `shout-api` (an
//! interface crate: `hotpack_abi::interface!`), `shout-module` (the `cdylib` implementing it,
//! with a byte handler `run`) and `host` (packs the module, deploys it in a [`Runtime`], calls
//! `run` by name and the interface through [`Runtime::hot`]). Copy the folder, point its two
//! paths at your checkout, then `cargo build` and
//! `cargo run -p host -- target/debug/libshout_module.so`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod runtime;

pub use hotpack_abi as abi;
pub use hotpack_archive as archive;
pub use hotpack_cache as cache;
pub use hotpack_detect as detect;
pub use hotpack_loader as loader;
pub use hotpack_rollback as rollback;
pub use hotpack_util as util;
pub use hotpack_worker as worker;

pub use hotpack_rollback::{Deployed, Happened, IsolatedProbe, ModuleStatus, Probe, Record};
pub mod preflight;

pub use hotpack_cache::{PackLibraryError, pack_library, pack_library_with};
pub use hotpack_rollback::{WatchReport, Watching};
pub use runtime::{Error, Event, Runtime, RuntimeBuilder};

/// The default cache directory, private to this user: `$XDG_CACHE_HOME/hotpack` when that
/// variable holds an absolute path, else `$HOME/.cache/hotpack`
/// ([`util::fs::user_cache_dir`]). Never a shared temporary folder: a path anyone can predict
/// and create first is how another local user plants code. [`RuntimeBuilder::build`] creates
/// it with mode 0700 and refuses it when another user owns it or group/others may write to it.
///
/// # Errors
///
/// [`Error::NoCacheDir`] when neither variable holds an absolute path; name a directory
/// with [`RuntimeBuilder::cache_dir`] then.
pub fn default_cache_dir() -> Result<std::path::PathBuf, Error> {
    hotpack_util::fs::user_cache_dir("hotpack").ok_or(Error::NoCacheDir)
}
