//! Small helpers every hotpack crate needs exactly once: one atomic-write routine, one
//! check for private directories and files, one poison-ignoring lock, one module-name rule.
//!
//! This crate depends on no other hotpack crate.
//!
//! - [`fs::write_atomic`] / [`fs::AtomicWrite`]: a temporary file in the target's directory
//!   (created with `O_EXCL`, named `.<name>.hotpack-tmp-*`), written, fsynced, renamed over the
//!   target, then the directory fsynced. [`fs::remove_stale_temps`] sweeps what a crash left.
//! - [`fs::ensure_private_dir`] and [`fs::check_private_file`]: refuse (as ssh does for its
//!   keys) a directory or file owned by another user or writable by group or others;
//!   [`fs::user_cache_dir`], the per-user cache directory (XDG) they guard.
//! - [`sync::lock`]: lock a `Mutex`, ignoring poisoning.
//! - [`name::check_module_name`]: the module-name rule used by bundles and the loader alike.
//! - [`duration::format_duration`]: the one way durations are printed (`1.23 ms`, `3.08 s`).
//!
//! # Example
//!
//! ```
//! use hotpack_util::{fs, name};
//!
//! let dir = tempfile::tempdir()?;
//! let cache = dir.path().join("cache");
//! fs::ensure_private_dir(&cache)?;
//! fs::write_atomic(&cache.join("journal"), b"{}")?;
//! assert_eq!(std::fs::read(cache.join("journal"))?, b"{}");
//! assert!(name::check_module_name("greeter").is_ok());
//! assert!(name::check_module_name("..").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod duration;
pub mod error;
pub mod fs;
pub mod name;
pub mod sync;
