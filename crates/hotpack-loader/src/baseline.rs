//! The baselines hotpack is benchmarked against (`benches/`, `docs/BENCHMARKS.md`).
//!
//! Benchmarks may not contain `unsafe` (only this crate's `sys` module does), yet two of
//! their baselines need the dynamic linker directly: the *floor* of loading a library (hash,
//! write, `dlopen`, `dlsym`, nothing checked) and the call path of reloaders that keep the
//! library behind a lock and look the symbol up on every call (hot-lib-reloader's shape).
//! Both live here, built only from the loader's existing, already-justified operations; this
//! module adds no `unsafe` of its own. Nothing in hotpack uses them: they exist to be
//! measured against.
//!
//! ```no_run
//! use hotpack_loader::{Loader, baseline};
//! # let dir = std::env::temp_dir().join("hotpack-doc-baseline");
//! let loader = Loader::new(&dir)?;
//! let module = loader.load_file("target/release/libgreeter_v1.so".as_ref())?;
//! let per_call = baseline::DlsymPerCall::new(&module)?;
//! // Every lookup: read lock + dlsym + descriptor checks.
//! // let greeter: &greeter_api::Greeter = per_call.interface().expect("provided");
//! let bytes = std::fs::read("target/release/libgreeter_v2.so")?;
//! let found = baseline::load_floor(&bytes, &dir)?;
//! assert!(found, "the descriptor symbol is exported");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::{Interface, LoadError, Module, sys};
use std::path::Path;
use std::sync::RwLock;

/// A library reached the way hot-lib-reloader reaches it: behind an `RwLock`, with a
/// `dlsym` on every call.
///
/// [`interface`](Self::interface) takes the read lock, `dlsym`s the descriptor symbol,
/// checks the descriptor header and finds the interface table by id: the work a hotpack hot
/// handle does once per swap instead of once per call.
#[derive(Debug)]
pub struct DlsymPerCall {
    lib: RwLock<sys::OpenLibrary>,
}

impl DlsymPerCall {
    /// Opens `module`'s library again (`dlopen` of its immutable object path returns the
    /// handle already loaded; nothing is loaded twice and nothing is ever closed).
    ///
    /// # Errors
    ///
    /// [`LoadError::Dlopen`] if the dynamic linker refuses the path.
    pub fn new(module: &Module) -> Result<DlsymPerCall, LoadError> {
        let lib = sys::open(module.object_path())
            .map_err(|message| LoadError::Dlopen { path: module.source().to_path_buf(), message })?;
        Ok(DlsymPerCall { lib: RwLock::new(lib) })
    }

    /// Read lock, `dlsym`, header check, table lookup by [`Interface::ID`]; `None` when the
    /// library has no descriptor or no matching table.
    pub fn interface<I: Interface>(&self) -> Option<&'static I> {
        let lib = self.lib.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let raw = sys::descriptor(*lib).ok()??;
        if raw.is_null() {
            return None;
        }
        let sys::Header::Ok(desc) = sys::check_header(raw) else { return None };
        sys::interfaces(desc).iter().find(|table| table.id == I::ID).and_then(|table| sys::Table::new(table).get::<I>())
    }
}

/// The floor of loading `bytes`: blake3 of the bytes, one write to a fresh file
/// `<dir>/<blake3>.so` (no temp name, no fsync), `dlopen`, `dlsym` of the descriptor symbol.
/// No ELF, ABI, rustc, target or interface check, no registry. Returns whether the
/// descriptor symbol was found. The library is never closed, like every library hotpack
/// opens.
///
/// # Errors
///
/// [`LoadError::Materialize`] if the file cannot be written, [`LoadError::Dlopen`] if the
/// dynamic linker refuses it.
pub fn load_floor(bytes: &[u8], dir: &Path) -> Result<bool, LoadError> {
    let hash = blake3::hash(bytes);
    let object = dir.join(format!("{}.so", hash.to_hex()));
    std::fs::write(&object, bytes).map_err(|source| LoadError::Materialize {
        path: dir.to_path_buf(),
        object: object.clone(),
        source: hotpack_util::fs::FsError::Io { path: object.clone(), op: "write", source },
    })?;
    let lib = sys::open(&object).map_err(|message| LoadError::Dlopen { path: object.clone(), message })?;
    let found = sys::descriptor(lib).map_err(|message| LoadError::Dlopen { path: object, message })?;
    Ok(found.is_some())
}
