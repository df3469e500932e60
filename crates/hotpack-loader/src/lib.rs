//! Load hotpack modules into the running process: materialize, `dlopen`, check, bind.
//!
//! A [`Loader`] turns the bytes of a module (a `cdylib` built with [`hotpack_abi::module!`])
//! into a [`Module`]: it checks the ELF header, hashes the bytes with blake3, writes them
//! once to an immutable content-addressed path (`<cache>/objects/<blake3>.so`: temp file,
//! fsync, rename) or, on Linux, a sealed memfd, `dlopen`s that path, looks up the one
//! descriptor symbol and checks every field before anything in the module is called.
//!
//! **This is the layer below the gates.** The loader checks that bytes are a well-formed
//! hotpack module for this host; it does not check who wrote them. It runs no signature
//! check, no preflight, no probe, and `dlopen` runs the library's ELF constructors in the
//! calling process: whatever bytes you hand it, you run. A host that requires signed code
//! makes code current only through `hotpack-rollback`'s `Supervisor` (or the `hotpack`
//! facade), whose first gate is the signature; the facade never hands out its loader.
//!
//! ```no_run
//! use hotpack_loader::Loader;
//! # let dir = std::env::temp_dir().join("hotpack-doc-cache");
//! let loader = Loader::new(&dir)?;
//! let v1 = loader.load_file("target/release/libgreeter_v1.so".as_ref())?;
//! v1.init()?;
//! let out = v1.call("greet", b"world")?;
//! println!("{} {} says {}", v1.name(), v1.version(), String::from_utf8_lossy(&out));
//! // Typed access: an error, not UB, when the module's interface id differs.
//! // let greeter: &greeter_api::Greeter = v1.interface()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why modules are never unloaded
//!
//! `dlclose` of a Rust cdylib is not sound on Linux: thread-local destructors registered by
//! the library's std pin it or run after its code is gone (rust-lang/rust#59629,
//! rust-lang/unsafe-code-guidelines#526), and any pointer into it (a function table a hot
//! handle holds, a `&'static str`) would dangle. The loader therefore never calls `dlclose`:
//! a version that is retired stays mapped, which is what lets a call already running finish
//! on the version it started on. The cost is reported by [`Loader::mapped`] (about the
//! file size per version; `vm.max_map_count` caps a process at tens of thousands).
//!
//! # Why every version gets its own immutable path
//!
//! glibc's `dlopen` returns an already-loaded library when the path (or inode) matches, so
//! reloading a rebuilt `target/release/libfoo.so` can silently give back the old code; and
//! overwriting a mapped `.so` in place crashes the process with SIGBUS. The loader never
//! opens the user's path: it reads the bytes, and opens a path that only ever holds those
//! bytes. Memfds are kept open for the life of the process so their `/proc/self/fd/N` path
//! is never reused for other code.
//!
//! # Trust
//!
//! Loading a module runs its code; hotpack is not a sandbox. What the loader guarantees is
//! that a module that is broken, built with another compiler, for another machine or
//! against another interface is refused with a typed [`LoadError`] *before* a single
//! function of it is called (only the ELF initializers of a complete, matching shared
//! object run), and that a panic inside a module comes back as a [`CallError`].

#![deny(missing_docs)]

pub mod baseline;
mod describe;
mod elf;
mod error;
mod provide;
#[cfg(target_os = "linux")]
mod sealed;
mod sys;

pub use describe::{DescribeError, StaticDescriptor, describe};
pub use error::{DescriptorFault, ElfFault, LoadError};
pub use hotpack_abi::{CallError, Interface};
pub use sys::AtomicRef;
#[cfg(target_os = "linux")]
pub use sys::crash;
#[cfg(target_os = "linux")]
pub use sys::{SealedMap, SharedMap};

/// Fuzzing entry point (`fuzz/fuzz_targets/elf.rs`), not a stable API: the ELF pre-check a
/// load runs on a library's bytes before they reach the dynamic loader.
///
/// # Errors
/// The [`LoadError`] the pre-check refuses the bytes with.
#[doc(hidden)]
pub fn fuzz_elf_check(bytes: &[u8]) -> Result<(), LoadError> {
    elf::check(std::path::Path::new("fuzz.so"), bytes)
}

use hotpack_abi::{ExportStateFn, HandlerFn, ImportStateFn, InitFn};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

/// Largest library the loader reads (a sanity cap, not a limit anyone should meet).
pub const MAX_LIBRARY_BYTES: u64 = 2 << 30;

/// How module bytes are turned into a path `dlopen` can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Materialize {
    /// `<cache>/objects/<blake3>.so`, written once (temp file, fsync, rename).
    ContentAddressed,
    /// A sealed memfd (Linux): nothing touches the disk. Falls back to
    /// [`ContentAddressed`](Self::ContentAddressed) where memfds are unavailable.
    Memfd,
    /// As [`ContentAddressed`](Self::ContentAddressed) (temp file, rename), without the
    /// fsyncs: for the hot reload path, where the object is a cache and not the durable
    /// copy (the rollback journal keeps that). A crash can leave the object torn or
    /// missing; an existing object is only reused when its hash matches, so a torn one is
    /// rewritten on the next load.
    ContentAddressedUnsynced,
}

impl Default for Materialize {
    fn default() -> Self {
        if cfg!(target_os = "linux") { Materialize::Memfd } else { Materialize::ContentAddressed }
    }
}

/// A typed interface a module provides or requires, as its descriptor states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// The interface name.
    pub name: String,
    /// Its id (hash of the declared signatures).
    pub id: u64,
    /// `size_of` its function table, as the module saw it.
    pub table_size: usize,
    /// Of a requirement: the provider module versions it accepts (`None`: any). Always
    /// `None` for a provided interface.
    pub range: Option<semver::VersionReq>,
}

/// Everything the descriptor says about a module, checked and copied into host memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Module name.
    pub name: String,
    /// Module version.
    pub version: semver::Version,
    /// hotpack ABI version the module was built against.
    pub abi_version: u32,
    /// `rustc -V` of the compiler that built it.
    pub rustc: String,
    /// Target triple it was built for.
    pub target: String,
    /// Typed interfaces.
    pub interfaces: Vec<InterfaceInfo>,
    /// Interfaces the module requires from other modules (providers).
    pub requires: Vec<InterfaceInfo>,
    /// Handler names, in declaration order.
    pub handlers: Vec<String>,
    /// Whether it has an init hook.
    pub has_init: bool,
    /// Whether it has state export/import hooks.
    pub has_state: bool,
}

/// A handler of a loaded module: copyable, callable from any thread, valid forever.
#[derive(Clone, Copy)]
pub struct Handler {
    func: HandlerFn,
}

impl Handler {
    /// Calls the handler with `input` (borrowed, never copied).
    ///
    /// # Errors
    ///
    /// The handler's error, or its panic (caught inside the module) with the panic message.
    #[inline]
    pub fn call(&self, input: &[u8]) -> Result<Vec<u8>, CallError> {
        sys::call_handler(self.func, input)
    }
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handler").finish_non_exhaustive()
    }
}

struct Bound {
    info: ModuleInfo,
    handlers: Vec<(String, Handler)>,
    tables: Vec<sys::Table>,
    slots: Vec<sys::Slot>,
    typed_panics: sys::PanicCounter,
    init: Option<InitFn>,
    export: Option<ExportStateFn>,
    import: Option<ImportStateFn>,
}

struct ModuleInner {
    bound: Bound,
    hash: blake3::Hash,
    source: PathBuf,
    object: PathBuf,
    size: u64,
    loaded_at: SystemTime,
    init_result: OnceLock<Result<(), CallError>>,
}

/// A loaded, checked module. Cheap to clone; valid for the life of the process.
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

impl AsRef<ModuleInfo> for Module {
    fn as_ref(&self) -> &ModuleInfo {
        &self.inner.bound.info
    }
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Module")
            .field("name", &self.name())
            .field("version", &self.version().to_string())
            .field("hash", &self.hash().to_hex().as_str())
            .field("source", &self.source())
            .finish()
    }
}

impl Module {
    /// What the descriptor says.
    pub fn info(&self) -> &ModuleInfo {
        &self.inner.bound.info
    }

    /// The module name.
    pub fn name(&self) -> &str {
        &self.inner.bound.info.name
    }

    /// The module version.
    pub fn version(&self) -> &semver::Version {
        &self.inner.bound.info.version
    }

    /// blake3 of the library bytes.
    pub fn hash(&self) -> &blake3::Hash {
        &self.inner.hash
    }

    /// Where the bytes came from (the file or bundle the caller named).
    pub fn source(&self) -> &Path {
        &self.inner.source
    }

    /// The immutable path that was `dlopen`ed.
    pub fn object_path(&self) -> &Path {
        &self.inner.object
    }

    /// Size of the library in bytes (what stays mapped).
    pub fn size(&self) -> u64 {
        self.inner.size
    }

    /// When the module was loaded.
    pub fn loaded_at(&self) -> SystemTime {
        self.inner.loaded_at
    }

    /// Handler names.
    pub fn handler_names(&self) -> impl Iterator<Item = &str> {
        self.inner.bound.handlers.iter().map(|(n, _)| n.as_str())
    }

    /// A handler by name.
    pub fn handler(&self, name: &str) -> Option<Handler> {
        self.inner.bound.handlers.iter().find(|(n, _)| n == name).map(|(_, h)| *h)
    }

    /// Calls the handler `name` with `input`.
    ///
    /// # Errors
    ///
    /// [`CallError::NoSuchHandler`], or the handler's error or caught panic.
    pub fn call(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, CallError> {
        match self.handler(name) {
            Some(h) => h.call(input),
            None => Err(CallError::NoSuchHandler { name: name.to_owned() }),
        }
    }

    /// The module's table for interface `I`.
    ///
    /// # Errors
    ///
    /// [`LoadError::InterfaceMissing`] when no interface has that name,
    /// [`LoadError::InterfaceMismatch`] when it has another id or size (another signature).
    pub fn interface<I: Interface>(&self) -> Result<&'static I, LoadError> {
        let want_size = std::mem::size_of::<I>();
        let bound = &self.inner.bound;
        for (info, table) in bound.info.interfaces.iter().zip(&bound.tables) {
            if info.name != I::NAME {
                continue;
            }
            if let Some(typed) = table.get::<I>() {
                return Ok(typed);
            }
            return Err(LoadError::InterfaceMismatch {
                path: self.inner.source.clone(),
                module: bound.info.name.clone(),
                interface: I::NAME,
                expected: I::ID,
                found: table.id,
                expected_size: want_size,
                found_size: table.size,
            });
        }
        Err(LoadError::InterfaceMissing {
            path: self.inner.source.clone(),
            module: bound.info.name.clone(),
            interface: I::NAME,
        })
    }

    /// Runs the module's init hook, once; later calls return the first outcome. A module
    /// without an init hook is always ready.
    ///
    /// # Errors
    ///
    /// [`LoadError::InitFailed`] or [`LoadError::InitPanicked`].
    pub fn init(&self) -> Result<(), LoadError> {
        let result = self.inner.init_result.get_or_init(|| match self.inner.bound.init {
            Some(f) => sys::call_init(f),
            None => Ok(()),
        });
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                let (path, module) = (self.inner.source.clone(), self.name().to_owned());
                Err(if e.is_panic() {
                    LoadError::InitPanicked { path, module, error: e.clone() }
                } else {
                    LoadError::InitFailed { path, module, error: e.clone() }
                })
            }
        }
    }

    /// Whether the module exports and imports state across swaps.
    pub fn has_state_hooks(&self) -> bool {
        self.inner.bound.export.is_some() && self.inner.bound.import.is_some()
    }

    /// Exports the module-owned state; `Ok(None)` when the module has no export hook.
    ///
    /// # Errors
    ///
    /// The hook's error or caught panic.
    pub fn export_state(&self) -> Result<Option<Vec<u8>>, CallError> {
        match self.inner.bound.export {
            Some(f) => sys::call_export(f).map(Some),
            None => Ok(None),
        }
    }

    /// Imports state another version exported; `Ok(false)` when the module has no import hook.
    ///
    /// # Errors
    ///
    /// The hook's error or caught panic.
    pub fn import_state(&self, state: &[u8]) -> Result<bool, CallError> {
        match self.inner.bound.import {
            Some(f) => sys::call_import(f, state).map(|()| true),
            None => Ok(false),
        }
    }
}

/// Code mapped into the process and never unmapped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MappedStats {
    /// Distinct libraries mapped by this loader.
    pub libraries: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Memfds held open so their paths are never reused.
    pub memfds: usize,
}

struct LoaderState {
    by_hash: HashMap<blake3::Hash, Module>,
    mapped: HashSet<blake3::Hash>,
    stats: MappedStats,
}

/// Loads modules; remembers every library it mapped (by content hash) so the same bytes
/// are never mapped twice. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Loader {
    objects: PathBuf,
    files: Materialize,
    state: Arc<Mutex<LoaderState>>,
}

impl fmt::Debug for Loader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader").field("objects", &self.objects).field("mapped", &self.mapped()).finish()
    }
}

impl Loader {
    /// A loader materializing libraries under `cache_dir/objects`.
    ///
    /// # Errors
    ///
    /// [`LoadError::Io`] when the directory cannot be created.
    pub fn new(cache_dir: impl AsRef<Path>) -> Result<Loader, LoadError> {
        let objects = cache_dir.as_ref().join("objects");
        std::fs::create_dir_all(&objects).map_err(|source| LoadError::Io {
            path: objects.clone(),
            op: "create the object cache directory",
            source,
        })?;
        Ok(Loader {
            objects,
            files: Materialize::ContentAddressed,
            state: Arc::new(Mutex::new(LoaderState {
                by_hash: HashMap::new(),
                mapped: HashSet::new(),
                stats: MappedStats::default(),
            })),
        })
    }

    /// How [`load_file`](Self::load_file) materializes libraries. The default,
    /// [`Materialize::ContentAddressed`], costs a write and two fsyncs per new version but
    /// holds no file descriptor; [`Materialize::Memfd`] skips the disk (about 1 ms less per
    /// reload here) but keeps one fd open per version for the life of the process, so a
    /// host that reloads thousands of times should keep the default.
    pub fn materialize_files(mut self, how: Materialize) -> Loader {
        self.files = how;
        self
    }

    /// The directory holding content-addressed objects.
    pub fn objects_dir(&self) -> &Path {
        &self.objects
    }

    /// Reads and loads the library at `path` (materialized content-addressed unless
    /// [`materialize_files`](Self::materialize_files) says otherwise; the user's file is
    /// never opened by `dlopen`, so rebuilding it under us is harmless).
    ///
    /// # Errors
    ///
    /// Any [`LoadError`]; nothing is half-loaded and modules loaded before are unaffected.
    pub fn load_file(&self, path: &Path) -> Result<Module, LoadError> {
        // One read buffer per thread, kept between loads: a fresh one is a library's worth of
        // fresh pages faulted in on every reload.
        thread_local!(static BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) });
        let mut bytes = BUFFER.take();
        let loaded = read_library(path, &mut bytes).and_then(|()| self.load_bytes_with(&bytes, path, self.files));
        if bytes.capacity() <= 64 << 20 {
            bytes.clear();
            BUFFER.set(bytes);
        }
        loaded
    }

    /// Loads a library from bytes already in memory (e.g. read out of a bundle), through a
    /// sealed memfd on Linux. The bytes hashed are exactly the bytes loaded.
    ///
    /// # Errors
    ///
    /// Any [`LoadError`]; `origin` names the source in errors.
    pub fn load_bytes(&self, bytes: &[u8], origin: &Path) -> Result<Module, LoadError> {
        self.load_bytes_with(bytes, origin, Materialize::default())
    }

    /// Loads a library from bytes with an explicit [`Materialize`] strategy.
    ///
    /// # Errors
    ///
    /// Any [`LoadError`].
    pub fn load_bytes_with(&self, bytes: &[u8], origin: &Path, how: Materialize) -> Result<Module, LoadError> {
        self.load_inner(bytes, None, origin, how)
    }

    /// As [`load_bytes_with`](Self::load_bytes_with), with the blake3 hash of `bytes`
    /// already computed by the caller (a watcher that confirmed a change, a bundle reader
    /// that verified the entry): it is not computed again.
    ///
    /// `hash` must be `blake3::hash(bytes)`: it becomes the module's identity (the "same
    /// bytes, one mapping" key). A wrong hash is a caller bug; it is checked in debug builds.
    ///
    /// # Errors
    ///
    /// Any [`LoadError`].
    pub fn load_bytes_hashed(
        &self,
        bytes: &[u8],
        hash: &blake3::Hash,
        origin: &Path,
        how: Materialize,
    ) -> Result<Module, LoadError> {
        debug_assert_eq!(blake3::hash(bytes), *hash, "load_bytes_hashed: the hash is not the bytes' hash");
        self.load_inner(bytes, Some(*hash), origin, how)
    }

    fn load_inner(
        &self,
        bytes: &[u8],
        hash: Option<blake3::Hash>,
        origin: &Path,
        how: Materialize,
    ) -> Result<Module, LoadError> {
        let declared = precheck(origin, bytes)?;
        let hash = hash.unwrap_or_else(|| blake3::hash(bytes));
        // One load at a time: loads are rare and this keeps "same bytes, one mapping" exact.
        // Calls never take this lock.
        let mut state = hotpack_util::sync::lock(&self.state);
        if let Some(existing) = state.by_hash.get(&hash) {
            return Ok(existing.clone());
        }
        let object = match how {
            Materialize::Memfd => match memfd::create(&hash, bytes) {
                Ok(path) => {
                    state.stats.memfds += 1;
                    path
                }
                Err(_) => self.content_addressed(&hash, bytes, origin, true)?,
            },
            Materialize::ContentAddressed => self.content_addressed(&hash, bytes, origin, true)?,
            Materialize::ContentAddressedUnsynced => self.content_addressed(&hash, bytes, origin, false)?,
        };
        let lib = sys::open(&object).map_err(|message| LoadError::Dlopen { path: origin.to_path_buf(), message })?;
        if state.mapped.insert(hash) {
            state.stats.libraries += 1;
            state.stats.bytes += bytes.len() as u64;
        }
        let mut bound = bind(origin, lib)?;
        provide::agree(origin, &declared, &mut bound)?;
        let module = Module {
            inner: Arc::new(ModuleInner {
                bound,
                hash,
                source: origin.to_path_buf(),
                object,
                size: bytes.len() as u64,
                loaded_at: SystemTime::now(),
                init_result: OnceLock::new(),
            }),
        };
        state.by_hash.insert(hash, module.clone());
        Ok(module)
    }

    /// The module already loaded with this content hash, if any.
    pub fn get(&self, hash: &blake3::Hash) -> Option<Module> {
        hotpack_util::sync::lock(&self.state).by_hash.get(hash).cloned()
    }

    /// Libraries this loader mapped and will never unmap.
    pub fn mapped(&self) -> MappedStats {
        hotpack_util::sync::lock(&self.state).stats
    }

    /// `durable`: fsync the object and its directory (see [`Materialize`]).
    fn content_addressed(
        &self,
        hash: &blake3::Hash,
        bytes: &[u8],
        origin: &Path,
        durable: bool,
    ) -> Result<PathBuf, LoadError> {
        let object = self.objects.join(format!("{}.so", hash.to_hex()));
        let fail = |source| LoadError::Materialize { path: origin.to_path_buf(), object: object.clone(), source };
        // An object already there is reused only if it still holds exactly these bytes.
        if let Ok(existing) = std::fs::read(&object)
            && blake3::hash(&existing) == *hash
        {
            return Ok(object);
        }
        // Atomic (temp file, fsync, rename, fsync the directory): a crash never leaves a
        // half-written object under its final name. Unsynced: the rename is still atomic
        // for readers; a crash may tear the object, which the hash check above catches.
        hotpack_util::fs::AtomicWrite::new(&object).mode(0o600).durable(durable).write(bytes).map_err(fail)?;
        Ok(object)
    }
}

/// What every load checks on the bytes before `dlopen`, whichever way they arrive (a path,
/// bytes in memory, a sealed memfd from another process): the size cap, the ELF header, and
/// the descriptor section read as data (a library without one never runs a constructor).
/// Returns the declared descriptor, which the live one must agree with after binding.
fn precheck(origin: &Path, bytes: &[u8]) -> Result<describe::StaticDescriptor, LoadError> {
    if bytes.len() as u64 > MAX_LIBRARY_BYTES {
        return Err(LoadError::TooLarge {
            path: origin.to_path_buf(),
            size: bytes.len() as u64,
            max: MAX_LIBRARY_BYTES,
        });
    }
    elf::check(origin, bytes)?;
    describe::describe(bytes).map_err(|source| LoadError::Describe { path: origin.to_path_buf(), source })
}

/// Reads the library at `path` into `out` (cleared first).
fn read_library(path: &Path, out: &mut Vec<u8>) -> Result<(), LoadError> {
    let meta = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            LoadError::NotFound { path: path.to_path_buf() }
        } else {
            LoadError::Io { path: path.to_path_buf(), op: "stat the library", source }
        }
    })?;
    if !meta.is_file() {
        return Err(LoadError::NotASharedLibrary { path: path.to_path_buf(), fault: ElfFault::NotRegularFile });
    }
    if meta.len() > MAX_LIBRARY_BYTES {
        return Err(LoadError::TooLarge { path: path.to_path_buf(), size: meta.len(), max: MAX_LIBRARY_BYTES });
    }
    out.clear();
    out.reserve(usize::try_from(meta.len()).unwrap_or(0));
    // Never more than one byte past the limit, whatever the file grew to since the stat
    // (`load_inner` refuses a library over the limit).
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_LIBRARY_BYTES + 1), out))
        .map(drop)
        .map_err(|source| LoadError::Io { path: path.to_path_buf(), op: "read the library", source })
}

fn utf8(path: &Path, field: &'static str, bytes: &[u8]) -> Result<String, LoadError> {
    std::str::from_utf8(bytes).map(str::to_owned).map_err(|e| LoadError::BadDescriptor {
        path: path.to_path_buf(),
        field,
        fault: DescriptorFault::NotUtf8(e),
    })
}

/// Checks every descriptor field, in an order where each read is justified by the last.
fn bind(path: &Path, lib: sys::OpenLibrary) -> Result<Bound, LoadError> {
    let p = || path.to_path_buf();
    let raw = sys::descriptor(lib)
        .map_err(|message| LoadError::Dlopen { path: p(), message })?
        .ok_or(LoadError::NoDescriptor { path: p(), symbol: hotpack_abi::DESCRIPTOR_SYMBOL })?;
    if raw.is_null() {
        return Err(LoadError::NullDescriptor { path: p() });
    }
    let expected_size = std::mem::size_of::<hotpack_abi::ModuleDescriptor>();
    let desc = match sys::check_header(raw) {
        sys::Header::BadMagic(found) => {
            return Err(LoadError::BadMagic { path: p(), expected: hotpack_abi::MAGIC, found });
        }
        sys::Header::Layout { version, size } => {
            return Err(LoadError::LayoutMismatch {
                path: p(),
                expected: hotpack_abi::LAYOUT_VERSION,
                found: version,
                expected_size,
                found_size: size,
            });
        }
        sys::Header::Misaligned(address) => {
            return Err(LoadError::BadDescriptor {
                path: p(),
                field: "descriptor",
                fault: DescriptorFault::Misaligned { address },
            });
        }
        sys::Header::Ok(desc) => desc,
    };
    let name = utf8(path, "name", sys::string(desc.name))?;
    if let Err(e) = hotpack_util::name::check_module_name(&name) {
        return Err(LoadError::BadDescriptor { path: p(), field: "name", fault: DescriptorFault::Name(e) });
    }
    if desc.abi_version != hotpack_abi::ABI_VERSION {
        return Err(LoadError::AbiMismatch {
            path: p(),
            module: name,
            expected: hotpack_abi::ABI_VERSION,
            found: desc.abi_version,
        });
    }
    let rustc = utf8(path, "rustc", sys::string(desc.rustc))?;
    if rustc != hotpack_abi::RUSTC_VERSION {
        return Err(LoadError::RustcMismatch {
            path: p(),
            module: name,
            expected: hotpack_abi::RUSTC_VERSION.into(),
            found: rustc,
        });
    }
    let target = utf8(path, "target", sys::string(desc.target))?;
    if target != hotpack_abi::TARGET {
        return Err(LoadError::TargetMismatch {
            path: p(),
            module: name,
            expected: hotpack_abi::TARGET.into(),
            found: target,
        });
    }
    match desc.panic_strategy {
        hotpack_abi::PANIC_UNWIND => {}
        hotpack_abi::PANIC_ABORT => return Err(LoadError::PanicAbort { path: p(), module: name }),
        other => {
            return Err(LoadError::BadDescriptor {
                path: p(),
                field: "panic_strategy",
                fault: DescriptorFault::UnknownPanicStrategy { value: other },
            });
        }
    }
    let version_text = utf8(path, "version", sys::string(desc.version))?;
    let version = semver::Version::parse(&version_text).map_err(|source| LoadError::BadDescriptor {
        path: p(),
        field: "version",
        fault: DescriptorFault::NotSemver { version: version_text.clone(), source },
    })?;
    let mut interfaces = Vec::new();
    let mut tables = Vec::new();
    let misaligned =
        |field: &'static str| LoadError::BadDescriptor { path: p(), field, fault: DescriptorFault::BadArray };
    for raw_iface in sys::interfaces(desc).ok_or_else(|| misaligned("interfaces"))? {
        let iname = utf8(path, "interfaces.name", sys::string(raw_iface.name))?;
        if raw_iface.table.is_null() {
            return Err(LoadError::BadDescriptor {
                path: p(),
                field: "interfaces.table",
                fault: DescriptorFault::NullTable { interface: iname },
            });
        }
        if interfaces.iter().any(|i: &InterfaceInfo| i.name == iname) {
            return Err(LoadError::BadDescriptor {
                path: p(),
                field: "interfaces",
                fault: DescriptorFault::ListedTwice { name: iname },
            });
        }
        tables.push(sys::Table::new(raw_iface));
        interfaces.push(InterfaceInfo { name: iname, id: raw_iface.id, table_size: raw_iface.table_size, range: None });
    }
    let mut requires = Vec::new();
    let mut slots = Vec::new();
    for raw_req in sys::requires(desc).ok_or_else(|| misaligned("requires"))? {
        let rname = utf8(path, "requires.name", sys::string(raw_req.name))?;
        let slot = sys::Slot::new(raw_req).ok_or_else(|| LoadError::BadDescriptor {
            path: p(),
            field: "requires.slot",
            fault: DescriptorFault::BadSlot { interface: rname.clone() },
        })?;
        if requires.iter().any(|i: &InterfaceInfo| i.name == rname) {
            return Err(LoadError::BadDescriptor {
                path: p(),
                field: "requires",
                fault: DescriptorFault::ListedTwice { name: rname },
            });
        }
        slots.push(slot);
        requires.push(InterfaceInfo { name: rname, id: raw_req.id, table_size: raw_req.table_size, range: None });
    }
    let typed_panics = sys::PanicCounter::new(desc).ok_or_else(|| LoadError::BadDescriptor {
        path: p(),
        field: "typed_panics",
        fault: DescriptorFault::BadPanicCounter,
    })?;
    let mut handlers: Vec<(String, Handler)> = Vec::new();
    for raw_handler in sys::handlers(desc).ok_or_else(|| misaligned("handlers"))? {
        let hname = utf8(path, "handlers.name", sys::string(raw_handler.name))?;
        if hname.is_empty() || handlers.iter().any(|(n, _)| *n == hname) {
            return Err(LoadError::BadDescriptor {
                path: p(),
                field: "handlers",
                fault: DescriptorFault::BadHandlerName { name: hname },
            });
        }
        handlers.push((hname, Handler { func: raw_handler.func }));
    }
    let has_state = desc.export_state.is_some() && desc.import_state.is_some();
    Ok(Bound {
        info: ModuleInfo {
            name,
            version,
            abi_version: desc.abi_version,
            rustc,
            target,
            interfaces,
            requires,
            handlers: handlers.iter().map(|(n, _)| n.clone()).collect(),
            has_init: desc.init.is_some(),
            has_state,
        },
        handlers,
        tables,
        slots,
        typed_panics,
        init: desc.init,
        export: desc.export_state,
        import: desc.import_state,
    })
}

mod memfd;
