//! The module registry — `sys.modules` for native code — and hot handles that swap under
//! live calls.
//!
//! A [`Cache`] imports modules by name through a [`SearchPath`] (directories, bundles,
//! `bundle.zip/sub/dir` prefixes), keeps **every** version it loaded with its hash, semver,
//! source and load time, and makes one of them *current* per name. Hot handles follow the
//! current version:
//!
//! - [`Hot<I>`]: the current version's table of typed interface `I`. A call is one atomic
//!   load of a `&'static I` plus an indirect call: no lock, no allocation, no `dlsym`.
//! - [`HotModule`]: the current version's byte handlers, by name.
//!
//! A swap stores a new pointer. A call already running finishes on the version it started
//! on (its code stays mapped: hotpack never unloads), and no caller can see half a swap,
//! because the whole table is one pointer. Handles are cheap to clone and share.
//!
//! ```no_run
//! use hotpack_cache::Cache;
//! use hotpack_loader::Loader;
//! # let cache_dir = std::env::temp_dir().join("hotpack-doc");
//! let mut path = hotpack_archive::SearchPath::new();
//! path.push("plugins/");
//! let cache = Cache::new(Loader::new(&cache_dir)?, path);
//! let greeter = cache.import("greeter")?;          // found, loaded, initialized, current
//! assert!(cache.import("greeter")?.hash() == greeter.hash()); // a hit: no second load
//! let hot = cache.hot_module("greeter")?;
//! let answer = hot.call("greet", b"world")?;       // always the current version
//! cache.invalidate("greeter");                     // next import looks on the path again
//! cache.import("greeter")?;                        // a new file there? swapped in
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! State: a version's module-owned state moves across a swap through the abi's
//! export/import hooks (an import failure aborts the swap; the old version keeps serving).
//! Host-owned state — the resident data set — is passed into calls by reference and never
//! copied or moved.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use hotpack_archive::{Bundle, BundleError, Limits, Location, SearchError, SearchPath};
use hotpack_loader::{AtomicRef, CallError, Handler, Interface, LoadError, Loader, MappedStats, Module};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// Where a version's bytes came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// A plain library file.
    File(PathBuf),
    /// A module inside a bundle.
    Bundle {
        /// The bundle file.
        bundle: PathBuf,
        /// The module's directory inside the zip.
        dir: String,
    },
    /// Bytes handed over by the host.
    Memory(String),
}

impl Source {
    /// A path naming the source in messages.
    pub fn path(&self) -> PathBuf {
        match self {
            Source::File(p) => p.clone(),
            Source::Bundle { bundle, dir } if dir.is_empty() => bundle.clone(),
            Source::Bundle { bundle, dir } => bundle.join(dir),
            Source::Memory(name) => PathBuf::from(format!("<memory:{name}>")),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path().display())
    }
}

/// Why the cache could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// No module of that name on the search path.
    #[error("module `{name}` not found on the search path [{}]{}", display_paths(searched), display_problems(problems))]
    NotFound {
        /// The name.
        name: String,
        /// The search path entries.
        searched: Vec<PathBuf>,
        /// Problems met (broken bundles, unreadable directories).
        problems: Vec<String>,
    },
    /// The search itself failed.
    #[error(transparent)]
    Search(SearchError),
    /// The bundle was refused.
    #[error(transparent)]
    Bundle(BundleError),
    /// The loader refused the library (or its init failed).
    #[error(transparent)]
    Load(LoadError),
    /// A library found as `lib<name>.so` (or a bundle entry) says it is another module.
    #[error("{path}: expected module `{expected}`, the library's descriptor says `{found}`")]
    NameMismatch {
        /// The source.
        path: PathBuf,
        /// The name asked for.
        expected: String,
        /// The descriptor's name.
        found: String,
    },
    /// A bundle's manifest and the library's descriptor disagree.
    #[error("{path}: manifest says {field} `{manifest}`, the library's descriptor says `{descriptor}`")]
    ManifestMismatch {
        /// The bundle.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// The manifest's value.
        manifest: String,
        /// The descriptor's value.
        descriptor: String,
    },
    /// The bundle holds no library for this host's target.
    #[error("{path}: module `{module}` has no library for target `{target}`")]
    NoLibraryForTarget {
        /// The bundle.
        path: PathBuf,
        /// The module.
        module: String,
        /// This host's target triple.
        target: String,
    },
    /// Exporting state from the serving version failed.
    #[error("module `{name}` {version}: state export failed: {error}")]
    StateExport {
        /// Module name.
        name: String,
        /// The serving version.
        version: String,
        /// What the hook said.
        error: CallError,
    },
    /// The candidate refused the serving version's state.
    #[error("module `{name}` {version}: state import failed: {error}")]
    StateImport {
        /// Module name.
        name: String,
        /// The candidate version.
        version: String,
        /// What the hook said.
        error: CallError,
    },
    /// No module of that name is in the cache.
    #[error("module `{name}` is not loaded")]
    NotLoaded {
        /// The name.
        name: String,
    },
    /// No version with that hash is registered.
    #[error("module `{name}` has no registered version with hash {hash}")]
    NoSuchVersion {
        /// The name.
        name: String,
        /// The hash asked for.
        hash: String,
    },
    /// The current version cannot be retired.
    #[error("module `{name}` {version} is the current version; activate another before retiring it")]
    RetireCurrent {
        /// The name.
        name: String,
        /// Its version.
        version: String,
    },
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn display_problems(problems: &[String]) -> String {
    if problems.is_empty() { String::new() } else { format!("; problems: {}", problems.join("; ")) }
}

/// What the cache did, for logs, the CLI and the rollback crate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CacheEvent {
    /// A version was loaded and registered.
    Loaded {
        /// The version.
        version: VersionInfo,
    },
    /// The current version of a module changed.
    Swapped {
        /// Module name.
        name: String,
        /// The previous current version, if any.
        from: Option<VersionInfo>,
        /// The new current version.
        to: VersionInfo,
    },
    /// A version was retired: the registry forgot it; its code stays mapped.
    Retired {
        /// The version.
        version: VersionInfo,
    },
    /// Something failed; whatever was serving keeps serving.
    Failed {
        /// Module name, when known.
        name: Option<String>,
        /// Where the failing bytes came from, when known.
        source: Option<String>,
        /// What went wrong.
        error: String,
    },
    /// A name was found in more than one place on the search path; the first one is used.
    Shadowed {
        /// Module name.
        name: String,
        /// The location used.
        used: String,
        /// The locations hidden behind it.
        hidden: Vec<String>,
    },
    /// A name was invalidated: the next import resolves it on the search path again.
    Invalidated {
        /// Module name.
        name: String,
    },
}

/// One registered version, as the `sys.modules`-style listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// Module name.
    pub name: String,
    /// Semver version.
    pub version: semver::Version,
    /// blake3 of the library bytes.
    pub hash: blake3::Hash,
    /// Where it came from.
    pub source: Source,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// Library size (what stays mapped).
    pub size: u64,
    /// Whether it is the current version.
    pub current: bool,
}

/// A module name and its registered versions.
#[derive(Debug, Clone)]
pub struct ModuleEntry {
    /// Module name.
    pub name: String,
    /// The current version, if one is active.
    pub current: Option<VersionInfo>,
    /// Every registered version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// Whether the next import will resolve the name on the search path again.
    pub invalidated: bool,
}

/// Code the cache keeps mapped, for a long-running host to watch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Everything the loader mapped (never unmapped).
    pub mapped: MappedStats,
    /// Versions registered now.
    pub registered: usize,
    /// Versions retired so far (still mapped, forgotten by the registry).
    pub retired: usize,
    /// Imports answered from the registry without loading.
    pub hits: u64,
    /// Imports that resolved on the search path.
    pub misses: u64,
}

/// A version as hot handles see it: the module and its handlers. Leaked once per version
/// when first activated (a few hundred bytes, like the code that stays mapped).
#[derive(Debug)]
pub struct ActiveVersion {
    module: Module,
    handlers: Vec<(String, Handler)>,
}

impl ActiveVersion {
    /// The module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// A handler by name.
    #[inline]
    pub fn handler(&self, name: &str) -> Option<Handler> {
        self.handlers.iter().find(|(n, _)| n == name).map(|(_, h)| *h)
    }

    /// Calls a handler by name.
    ///
    /// # Errors
    ///
    /// [`CallError::NoSuchHandler`], or the handler's error or caught panic.
    #[inline]
    pub fn call(&self, handler: &str, input: &[u8]) -> Result<Vec<u8>, CallError> {
        match self.handler(handler) {
            Some(h) => h.call(input),
            None => Err(CallError::NoSuchHandler { name: handler.to_owned() }),
        }
    }
}

/// A handle on "the current version of module M": its handlers, by name.
#[derive(Debug, Clone)]
pub struct HotModule {
    slot: Arc<AtomicRef<ActiveVersion>>,
}

impl HotModule {
    /// The version serving now. Hold the returned reference to make several calls on one
    /// version; it stays valid forever.
    #[inline]
    pub fn current(&self) -> &'static ActiveVersion {
        self.slot.load()
    }

    /// Calls `handler` on the current version.
    ///
    /// # Errors
    ///
    /// As [`ActiveVersion::call`].
    #[inline]
    pub fn call(&self, handler: &str, input: &[u8]) -> Result<Vec<u8>, CallError> {
        self.slot.load().call(handler, input)
    }
}

/// A handle on "the current version of module M, interface I".
pub struct Hot<I: Interface> {
    slot: Arc<TypedSlot<I>>,
}

impl<I: Interface> Clone for Hot<I> {
    fn clone(&self) -> Self {
        Hot { slot: Arc::clone(&self.slot) }
    }
}

impl<I: Interface> fmt::Debug for Hot<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hot").field("interface", &I::NAME).finish_non_exhaustive()
    }
}

impl<I: Interface> Hot<I> {
    /// The current version's table: one atomic load. Calls through the returned reference
    /// all go to the same version, even if a swap happens meanwhile.
    #[inline(always)]
    pub fn get(&self) -> &'static I {
        self.slot.table.load()
    }
}

struct TypedSlot<I: Interface> {
    table: AtomicRef<I>,
}

/// Type-erased typed slot, so a swap can rebind every `Hot<I>` of a module.
trait Rebind: Send + Sync {
    fn check(&self, module: &Module) -> Result<(), LoadError>;
    fn bind(&self, module: &Module);
    fn as_any(&self) -> &dyn Any;
}

impl<I: Interface> Rebind for Arc<TypedSlot<I>> {
    fn check(&self, module: &Module) -> Result<(), LoadError> {
        module.interface::<I>().map(|_| ())
    }
    fn bind(&self, module: &Module) {
        if let Ok(table) = module.interface::<I>() {
            self.table.store(table);
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct Record {
    module: Module,
    source: Source,
    active: Option<&'static ActiveVersion>,
}

impl Record {
    fn info(&self, current: bool) -> VersionInfo {
        VersionInfo {
            name: self.module.name().to_owned(),
            version: self.module.version().clone(),
            hash: *self.module.hash(),
            source: self.source.clone(),
            loaded_at: self.module.loaded_at(),
            size: self.module.size(),
            current,
        }
    }
}

#[derive(Default)]
struct Entry {
    versions: Vec<Record>,
    current: Option<blake3::Hash>,
    invalidated: bool,
    hot: Option<Arc<AtomicRef<ActiveVersion>>>,
    typed: Vec<(TypeId, Box<dyn Rebind>)>,
}

impl Entry {
    fn record(&self, hash: &blake3::Hash) -> Option<&Record> {
        self.versions.iter().find(|r| r.module.hash() == hash)
    }
    fn current_record(&self) -> Option<&Record> {
        self.current.as_ref().and_then(|h| self.record(h))
    }
    fn current_info(&self) -> Option<VersionInfo> {
        self.current_record().map(|r| r.info(true))
    }
}

#[derive(Default)]
struct Registry {
    entries: HashMap<String, Entry>,
    retired: usize,
}

struct Inner {
    loader: Loader,
    search: RwLock<SearchPath>,
    limits: Limits,
    registry: RwLock<Registry>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Serializes loads and swaps (never taken by calls).
    swap_lock: Mutex<()>,
    subscribers: Mutex<Vec<mpsc::Sender<CacheEvent>>>,
}

/// The module registry. Cheap to clone; all clones share one registry.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cache {
    /// A cache loading through `loader` and resolving names on `search`.
    pub fn new(loader: Loader, search: SearchPath) -> Cache {
        Cache::with_limits(loader, search, Limits::default())
    }

    /// As [`Cache::new`], with explicit limits for the bundles it opens.
    pub fn with_limits(loader: Loader, search: SearchPath, limits: Limits) -> Cache {
        Cache {
            inner: Arc::new(Inner {
                loader,
                search: RwLock::new(search),
                limits,
                registry: RwLock::new(Registry::default()),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                swap_lock: Mutex::new(()),
                subscribers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The loader.
    pub fn loader(&self) -> &Loader {
        &self.inner.loader
    }

    /// The bundle limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Appends an entry to the search path while the program runs (`sys.path.append`).
    pub fn add_search_entry(&self, entry: impl Into<PathBuf>) {
        write(&self.inner.search).push(entry);
    }

    /// The search path entries.
    pub fn search_entries(&self) -> Vec<PathBuf> {
        read(&self.inner.search).entries().to_vec()
    }

    /// Events from now on. Every subscriber gets every event.
    pub fn subscribe(&self) -> mpsc::Receiver<CacheEvent> {
        let (tx, rx) = mpsc::channel();
        lock(&self.inner.subscribers).push(tx);
        rx
    }

    fn emit(&self, event: CacheEvent) {
        lock(&self.inner.subscribers).retain(|tx| tx.send(event.clone()).is_ok());
    }

    fn failed(&self, name: Option<&str>, source: Option<String>, error: &dyn fmt::Display) {
        self.emit(CacheEvent::Failed { name: name.map(str::to_owned), source, error: error.to_string() });
    }

    /// The current version of `name`, importing it through the search path on a miss (or
    /// after [`invalidate`](Self::invalidate)). A hit is a hash-map lookup.
    ///
    /// # Errors
    ///
    /// Any error finding, verifying, loading, checking or initializing the module; the
    /// version that was current (if any) stays current.
    pub fn import(&self, name: &str) -> Result<Module, CacheError> {
        {
            let reg = read(&self.inner.registry);
            if let Some(entry) = reg.entries.get(name)
                && !entry.invalidated
                && let Some(record) = entry.current_record()
            {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(record.module.clone());
            }
        }
        let _guard = lock(&self.inner.swap_lock);
        // Another thread may have imported it while we waited.
        {
            let reg = read(&self.inner.registry);
            if let Some(entry) = reg.entries.get(name)
                && !entry.invalidated
                && let Some(record) = entry.current_record()
            {
                return Ok(record.module.clone());
            }
        }
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
        let result = self.resolve_and_load(name).and_then(|(module, source)| {
            self.register_locked(module.clone(), source);
            self.activate_locked(&module)?;
            Ok(module)
        });
        match &result {
            Ok(_) => {
                if let Some(entry) = write(&self.inner.registry).entries.get_mut(name) {
                    entry.invalidated = false;
                }
            }
            Err(e) => self.failed(Some(name), None, e),
        }
        result
    }

    /// Imports every name, returning each outcome (preloading common modules at start).
    pub fn preload<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<(String, Result<Module, CacheError>)> {
        names.into_iter().map(|n| (n.to_owned(), self.import(n))).collect()
    }

    fn resolve_and_load(&self, name: &str) -> Result<(Module, Source), CacheError> {
        let found = {
            let search = read(&self.inner.search);
            match search.find(name) {
                Ok(found) => found,
                Err(e) => return Err(self.not_found(name, &search, e)),
            }
        };
        for problem in &found.problems {
            self.failed(Some(name), None, problem);
        }
        if !found.shadowed.is_empty() {
            self.emit(CacheEvent::Shadowed {
                name: name.to_owned(),
                used: found.primary.location.to_string(),
                hidden: found.shadowed.iter().map(|v| v.location.to_string()).collect(),
            });
        }
        self.load_location(name, &found.primary.location)
    }

    fn not_found(&self, name: &str, search: &SearchPath, e: SearchError) -> CacheError {
        match e {
            SearchError::NotFound { problems, .. } => CacheError::NotFound {
                name: name.to_owned(),
                searched: search.entries().to_vec(),
                problems: problems.iter().map(ToString::to_string).collect(),
            },
            other => CacheError::Search(other),
        }
    }

    fn load_location(&self, name: &str, location: &Location) -> Result<(Module, Source), CacheError> {
        match location {
            Location::Library { path } => {
                let module = self.inner.loader.load_file(path).map_err(CacheError::Load)?;
                if module.name() != name {
                    return Err(CacheError::NameMismatch {
                        path: path.clone(),
                        expected: name.to_owned(),
                        found: module.name().to_owned(),
                    });
                }
                Ok((module, Source::File(path.clone())))
            }
            Location::Bundle { bundle, dir, .. } => {
                let opened = Bundle::open(bundle, &self.inner.limits).map_err(CacheError::Bundle)?;
                let module = self.load_from_bundle(&opened, dir)?;
                if module.name() != name {
                    return Err(CacheError::NameMismatch {
                        path: bundle.clone(),
                        expected: name.to_owned(),
                        found: module.name().to_owned(),
                    });
                }
                Ok((module, Source::Bundle { bundle: bundle.clone(), dir: dir.clone() }))
            }
            other => Err(CacheError::NotFound {
                name: name.to_owned(),
                searched: Vec::new(),
                problems: vec![format!("unsupported location {other}")],
            }),
        }
    }

    /// Loads the module stored under `dir` of an opened bundle: its library for this host's
    /// target is read (and hash-checked) into memory and loaded from exactly those bytes.
    /// The result is registered but not made current.
    ///
    /// # Errors
    ///
    /// Bundle, load and manifest/descriptor disagreement errors.
    pub fn load_bundle_module(&self, bundle: &Bundle, dir: &str) -> Result<(Module, Source), CacheError> {
        let _guard = lock(&self.inner.swap_lock);
        let module = self.load_from_bundle(bundle, dir)?;
        let source = Source::Bundle { bundle: bundle.path().to_path_buf(), dir: dir.to_owned() };
        self.register_locked(module.clone(), source.clone());
        Ok((module, source))
    }

    fn load_from_bundle(&self, bundle: &Bundle, dir: &str) -> Result<Module, CacheError> {
        let path = bundle.path().to_path_buf();
        let entry = bundle.modules().iter().find(|m| m.dir() == dir).ok_or_else(|| CacheError::NotFound {
            name: dir.to_owned(),
            searched: vec![path.clone()],
            problems: vec![format!("no module directory `{dir}` in the bundle")],
        })?;
        let manifest = entry.manifest();
        let target = hotpack_abi::TARGET;
        if manifest.library(target).is_none() {
            return Err(CacheError::NoLibraryForTarget {
                path,
                module: entry.name().to_owned(),
                target: target.to_owned(),
            });
        }
        let bytes = bundle.read_library(entry.name(), target).map_err(CacheError::Bundle)?;
        let module = self.inner.loader.load_bytes(&bytes, &path).map_err(CacheError::Load)?;
        let mismatch = |field, manifest: String, descriptor: String| {
            Err(CacheError::ManifestMismatch { path: path.clone(), field, manifest, descriptor })
        };
        if module.name() != entry.name() {
            return mismatch("name", entry.name().to_owned(), module.name().to_owned());
        }
        if *module.version() != manifest.meta.version {
            return mismatch("version", manifest.meta.version.to_string(), module.version().to_string());
        }
        Ok(module)
    }

    /// Loads a plain library file and registers it (not made current).
    ///
    /// # Errors
    ///
    /// [`CacheError::Load`].
    pub fn load_file(&self, path: &Path) -> Result<Module, CacheError> {
        let _guard = lock(&self.inner.swap_lock);
        let module = self.inner.loader.load_file(path).map_err(|e| {
            self.failed(None, Some(path.display().to_string()), &e);
            CacheError::Load(e)
        })?;
        self.register_locked(module.clone(), Source::File(path.to_path_buf()));
        Ok(module)
    }

    /// Registers an already loaded module as a version of its name (not made current).
    /// Registering the same bytes twice keeps one record.
    pub fn register(&self, module: Module, source: Source) {
        let _guard = lock(&self.inner.swap_lock);
        self.register_locked(module, source);
    }

    fn register_locked(&self, module: Module, source: Source) {
        let info = {
            let mut reg = write(&self.inner.registry);
            let entry = reg.entries.entry(module.name().to_owned()).or_default();
            if entry.record(module.hash()).is_some() {
                return;
            }
            let record = Record { module, source, active: None };
            let info = record.info(false);
            entry.versions.push(record);
            info
        };
        self.emit(CacheEvent::Loaded { version: info });
    }

    /// Checks `module` could serve every hot handle already taken on its name (same
    /// interfaces, same ids): the "ABI checked" gate. Nothing changes.
    ///
    /// # Errors
    ///
    /// [`CacheError::Load`] with the interface error.
    pub fn check_bindings(&self, module: &Module) -> Result<(), CacheError> {
        let reg = read(&self.inner.registry);
        if let Some(entry) = reg.entries.get(module.name()) {
            for (_, slot) in &entry.typed {
                slot.check(module).map_err(CacheError::Load)?;
            }
        }
        Ok(())
    }

    /// Moves module-owned state from the current version into `module` when both have
    /// state hooks. Returns whether state moved. Nothing is swapped.
    ///
    /// # Errors
    ///
    /// [`CacheError::StateExport`] or [`CacheError::StateImport`].
    pub fn transfer_state(&self, module: &Module) -> Result<bool, CacheError> {
        let current = self.current(module.name());
        let Some(current) = current else { return Ok(false) };
        if current.hash() == module.hash() || !module.has_state_hooks() {
            return Ok(false);
        }
        let state = current.export_state().map_err(|error| CacheError::StateExport {
            name: current.name().to_owned(),
            version: current.version().to_string(),
            error,
        })?;
        let Some(state) = state else { return Ok(false) };
        module.import_state(&state).map_err(|error| CacheError::StateImport {
            name: module.name().to_owned(),
            version: module.version().to_string(),
            error,
        })
    }

    /// Makes `module` (registering it if needed) the current version of its name: checks it
    /// can serve every hot handle, runs its init hook, moves state from the current version,
    /// then swaps every hot handle — the gate order of the rollback crate's pipeline, without
    /// a probe. Any failure leaves the current version serving.
    ///
    /// # Errors
    ///
    /// Init, interface and state errors.
    pub fn activate(&self, module: &Module, source: Source) -> Result<(), CacheError> {
        let _guard = lock(&self.inner.swap_lock);
        self.register_locked(module.clone(), source);
        let result = self.activate_locked(module);
        if let Err(e) = &result {
            self.failed(Some(module.name()), Some(module.source().display().to_string()), e);
        }
        result
    }

    fn activate_locked(&self, module: &Module) -> Result<(), CacheError> {
        // ABI before init: init runs the candidate's code.
        self.check_bindings(module)?;
        module.init().map_err(CacheError::Load)?;
        self.transfer_state(module)?;
        self.promote_locked(module);
        Ok(())
    }

    /// Swaps every hot handle of `module`'s name to `module`, with no gates: for callers
    /// (the rollback crate) that ran the gates themselves, or that roll back to a version
    /// that already served. `module` must be registered.
    ///
    /// # Errors
    ///
    /// [`CacheError::NoSuchVersion`] when `module` is not registered; [`CacheError::Load`]
    /// when it cannot serve a hot handle already taken.
    pub fn promote(&self, module: &Module) -> Result<(), CacheError> {
        let _guard = lock(&self.inner.swap_lock);
        {
            let reg = read(&self.inner.registry);
            let known = reg.entries.get(module.name()).and_then(|e| e.record(module.hash())).is_some();
            if !known {
                return Err(CacheError::NoSuchVersion {
                    name: module.name().to_owned(),
                    hash: module.hash().to_hex().to_string(),
                });
            }
        }
        self.check_bindings(module)?;
        self.promote_locked(module);
        Ok(())
    }

    fn promote_locked(&self, module: &Module) {
        let (from, to) = {
            let mut reg = write(&self.inner.registry);
            let entry = reg.entries.entry(module.name().to_owned()).or_default();
            let from = entry.current_info();
            let idx = match entry.versions.iter().position(|r| r.module.hash() == module.hash()) {
                Some(i) => i,
                None => {
                    entry.versions.push(Record {
                        module: module.clone(),
                        source: Source::Memory(module.name().to_owned()),
                        active: None,
                    });
                    entry.versions.len() - 1
                }
            };
            let active: &'static ActiveVersion = match entry.versions[idx].active {
                Some(a) => a,
                None => {
                    let leaked: &'static ActiveVersion = Box::leak(Box::new(ActiveVersion {
                        module: module.clone(),
                        handlers: module
                            .handler_names()
                            .filter_map(|n| module.handler(n).map(|h| (n.to_owned(), h)))
                            .collect(),
                    }));
                    entry.versions[idx].active = Some(leaked);
                    leaked
                }
            };
            for (_, slot) in &entry.typed {
                slot.bind(module);
            }
            match &entry.hot {
                Some(slot) => slot.store(active),
                None => entry.hot = Some(Arc::new(AtomicRef::new(active))),
            }
            entry.current = Some(*module.hash());
            entry.invalidated = false;
            (from, entry.versions[idx].info(true))
        };
        self.emit(CacheEvent::Swapped { name: to.name.clone(), from, to });
    }

    /// The current version of `name`, without importing.
    pub fn current(&self, name: &str) -> Option<Module> {
        read(&self.inner.registry).entries.get(name).and_then(|e| e.current_record()).map(|r| r.module.clone())
    }

    /// A registered version of `name` by hash.
    pub fn version(&self, name: &str, hash: &blake3::Hash) -> Option<Module> {
        read(&self.inner.registry).entries.get(name).and_then(|e| e.record(hash)).map(|r| r.module.clone())
    }

    /// A handle on the current version's handlers of `name` (imported if needed).
    ///
    /// # Errors
    ///
    /// As [`import`](Self::import).
    pub fn hot_module(&self, name: &str) -> Result<HotModule, CacheError> {
        if let Some(hot) = self.loaded_hot_module(name) {
            return Ok(hot);
        }
        self.import(name)?;
        self.loaded_hot_module(name).ok_or_else(|| CacheError::NotLoaded { name: name.to_owned() })
    }

    /// A handle on the current version's handlers of `name` if one was ever made current;
    /// never imports (for callers that must only serve versions they promoted).
    pub fn loaded_hot_module(&self, name: &str) -> Option<HotModule> {
        read(&self.inner.registry).entries.get(name).and_then(|e| e.hot.clone()).map(|slot| HotModule { slot })
    }

    /// A handle on interface `I` of the current version of `name` (imported if needed).
    /// Every later swap of `name` must provide `I` with the same id, or it is refused.
    ///
    /// # Errors
    ///
    /// As [`import`](Self::import), or [`CacheError::Load`] when the current version does
    /// not provide `I`.
    pub fn hot<I: Interface>(&self, name: &str) -> Result<Hot<I>, CacheError> {
        let module = match self.current(name) {
            Some(m) => m,
            None => self.import(name)?,
        };
        let _guard = lock(&self.inner.swap_lock);
        let mut reg = write(&self.inner.registry);
        let entry = reg.entries.get_mut(name).ok_or_else(|| CacheError::NotLoaded { name: name.to_owned() })?;
        for (id, slot) in &entry.typed {
            if *id == TypeId::of::<I>()
                && let Some(typed) = slot.as_any().downcast_ref::<Arc<TypedSlot<I>>>()
            {
                return Ok(Hot { slot: Arc::clone(typed) });
            }
        }
        // Bind to the version current now (it may have changed since `import` returned).
        let current = entry.current_record().map(|r| r.module.clone()).unwrap_or(module);
        let table = current.interface::<I>().map_err(CacheError::Load)?;
        let slot = Arc::new(TypedSlot { table: AtomicRef::new(table) });
        entry.typed.push((TypeId::of::<I>(), Box::new(Arc::clone(&slot))));
        Ok(Hot { slot })
    }

    /// Marks `name` so its next import resolves on the search path again (like
    /// `importlib.invalidate_caches` plus `del sys.modules[name]`, except that the current
    /// version keeps serving until a new one is activated).
    pub fn invalidate(&self, name: &str) {
        let hit = match write(&self.inner.registry).entries.get_mut(name) {
            Some(entry) => {
                entry.invalidated = true;
                true
            }
            None => false,
        };
        if hit {
            self.emit(CacheEvent::Invalidated { name: name.to_owned() });
        }
    }

    /// [`invalidate`](Self::invalidate) every name.
    pub fn invalidate_all(&self) {
        let names: Vec<String> = read(&self.inner.registry).entries.keys().cloned().collect();
        for name in names {
            self.invalidate(&name);
        }
    }

    /// Re-resolves `name` on the search path and activates what is found there; returns the
    /// now-current module (unchanged when the bytes are the same).
    ///
    /// # Errors
    ///
    /// As [`import`](Self::import); the current version keeps serving.
    pub fn reload(&self, name: &str) -> Result<Module, CacheError> {
        self.invalidate(name);
        self.import(name)
    }

    /// Forgets a non-current version. Its code stays mapped (unloading is unsound), so
    /// handles and references that still hold it keep working.
    ///
    /// # Errors
    ///
    /// [`CacheError::NoSuchVersion`], [`CacheError::RetireCurrent`].
    pub fn retire(&self, name: &str, hash: &blake3::Hash) -> Result<VersionInfo, CacheError> {
        let _guard = lock(&self.inner.swap_lock);
        let info = {
            let mut reg = write(&self.inner.registry);
            let entry = reg.entries.get_mut(name).ok_or_else(|| CacheError::NotLoaded { name: name.to_owned() })?;
            let idx =
                entry.versions.iter().position(|r| r.module.hash() == hash).ok_or_else(|| {
                    CacheError::NoSuchVersion { name: name.to_owned(), hash: hash.to_hex().to_string() }
                })?;
            if entry.current.as_ref() == Some(hash) {
                return Err(CacheError::RetireCurrent {
                    name: name.to_owned(),
                    version: entry.versions[idx].module.version().to_string(),
                });
            }
            let info = entry.versions.remove(idx).info(false);
            reg.retired += 1;
            info
        };
        self.emit(CacheEvent::Retired { version: info.clone() });
        Ok(info)
    }

    /// The `sys.modules` view: every name with its current and registered versions.
    pub fn modules(&self) -> Vec<ModuleEntry> {
        let reg = read(&self.inner.registry);
        let mut out: Vec<ModuleEntry> = reg
            .entries
            .iter()
            .map(|(name, e)| ModuleEntry {
                name: name.clone(),
                current: e.current_info(),
                versions: e.versions.iter().map(|r| r.info(e.current.as_ref() == Some(r.module.hash()))).collect(),
                invalidated: e.invalidated,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Registered versions of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Vec<VersionInfo> {
        let reg = read(&self.inner.registry);
        reg.entries
            .get(name)
            .map(|e| e.versions.iter().map(|r| r.info(e.current.as_ref() == Some(r.module.hash()))).collect())
            .unwrap_or_default()
    }

    /// Mapped code and registry counters.
    pub fn stats(&self) -> CacheStats {
        let reg = read(&self.inner.registry);
        CacheStats {
            mapped: self.inner.loader.mapped(),
            registered: reg.entries.values().map(|e| e.versions.len()).sum(),
            retired: reg.retired,
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
        }
    }
}

/// The [`PackSpec`](hotpack_archive::PackSpec) for a loaded module: name, version,
/// interfaces, handlers and hooks come from the module's own descriptor (stated once, in
/// code), the target from the host. `library_name` is the file name inside the bundle.
pub fn pack_spec(
    module: &Module,
    library_name: &str,
    library: Vec<u8>,
    resources: Vec<(String, Vec<u8>)>,
) -> hotpack_archive::PackSpec {
    let info = module.info();
    hotpack_archive::PackSpec {
        meta: hotpack_archive::ModuleMeta {
            name: info.name.clone(),
            version: info.version.clone(),
            abi_version: info.abi_version,
            rustc: info.rustc.clone(),
            interfaces: info
                .interfaces
                .iter()
                .map(|i| hotpack_archive::InterfaceMeta { name: i.name.clone(), id: i.id })
                .collect(),
            handlers: info.handlers.clone(),
            hooks: hotpack_archive::Hooks { init: info.has_init, state: info.has_state },
        },
        target: info.target.clone(),
        library_name: library_name.to_owned(),
        library,
        resources,
    }
}
