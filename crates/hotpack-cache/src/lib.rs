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
//! The cache's own `import`, `reload`, `register`, `activate` and `promote` run no signature
//! check and no probe: like the loader, the cache is below the gates. A host that requires
//! signed code gives callers a [`CacheView`] (what the `hotpack` facade and the supervisor
//! hand out), which can look and call current versions but make nothing current.
//!
//! State: a version's module-owned state moves across a swap through the abi's
//! export/import hooks (an import failure aborts the swap; the old version keeps serving).
//! Host-owned state — the resident data set — is passed into calls by reference and never
//! copied or moved.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod deps;
mod error;
mod event;
mod hot;
mod pack;
mod registry;
mod source;
mod view;

pub use deps::{Requirement, check_links};
pub use error::CacheError;
pub use event::CacheEvent;
pub use hot::{ActiveVersion, Hot, HotModule};
pub use pack::{PackLibraryError, PackSpecError, pack_library, pack_library_with, pack_spec, pack_spec_from_library};
pub use registry::{ModuleEntry, RegistryStats, VersionInfo};
pub use source::Source;
pub use view::CacheView;

use hot::TypedSlot;
use hotpack_archive::{Bundle, Limits, SearchPath};
use hotpack_loader::{AtomicRef, Interface, Loader, Module};
use registry::{Record, Registry};
use std::any::TypeId;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};

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
    /// Candidates refused only for a missing provider (`deps.rs`).
    pending: Mutex<Vec<Module>>,
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

use hotpack_util::sync::lock;

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
                pending: Mutex::new(Vec::new()),
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

    fn failed(&self, name: Option<&str>, source: Option<String>, error: &CacheError) {
        self.emit(CacheEvent::Failed { name: name.map(str::to_owned), source, error: Arc::new(error.clone()) });
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
                && let Some(current) = &entry.current
            {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(current.clone());
            }
        }
        let _guard = lock(&self.inner.swap_lock);
        // Another thread may have imported it while we waited.
        {
            let reg = read(&self.inner.registry);
            if let Some(entry) = reg.entries.get(name)
                && !entry.invalidated
                && let Some(current) = &entry.current
            {
                return Ok(current.clone());
            }
        }
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
        let result = self.resolve_and_load(name).and_then(|(module, source)| {
            self.register_locked(module.clone(), source);
            self.activate_locked(&module)?;
            self.drain_pending_locked();
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

    /// Loads the module stored under `dir` of an opened bundle: its library for this host's
    /// target is read (and hash-checked) into memory and loaded from exactly those bytes.
    /// The result is registered but not made current.
    ///
    /// # Errors
    ///
    /// Bundle, load and manifest/descriptor disagreement errors.
    pub fn load_bundle_module(&self, bundle: &Bundle, dir: &str) -> Result<(Module, Source), CacheError> {
        self.load_bundle_library(bundle, dir, None)
    }

    /// As [`load_bundle_module`](Self::load_bundle_module), with the library's bytes and
    /// their blake3 hash already read out of `bundle` by the caller ([`Bundle::read_library`]
    /// verified them): they are not read or hashed again.
    ///
    /// # Errors
    ///
    /// As [`load_bundle_module`](Self::load_bundle_module).
    pub fn load_bundle_module_from(
        &self,
        bundle: &Bundle,
        dir: &str,
        library: &[u8],
        hash: &blake3::Hash,
    ) -> Result<(Module, Source), CacheError> {
        self.load_bundle_library(bundle, dir, Some((library, hash)))
    }

    fn load_bundle_library(
        &self,
        bundle: &Bundle,
        dir: &str,
        verified: Option<(&[u8], &blake3::Hash)>,
    ) -> Result<(Module, Source), CacheError> {
        let _guard = lock(&self.inner.swap_lock);
        let module = self.load_from_bundle(bundle, dir, verified)?;
        let source = Source::Bundle { bundle: bundle.path().to_path_buf(), dir: dir.to_owned() };
        self.register_locked(module.clone(), source.clone());
        Ok((module, source))
    }

    /// Loads a plain library file and registers it (not made current).
    ///
    /// # Errors
    ///
    /// [`CacheError::Load`].
    pub fn load_file(&self, path: &Path) -> Result<Module, CacheError> {
        let _guard = lock(&self.inner.swap_lock);
        let module = self.inner.loader.load_file(path).map_err(|e| {
            let e = CacheError::from(e);
            self.failed(None, Some(path.display().to_string()), &e);
            e
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
            let hash = *module.hash();
            let record = Record { module, source, active: None };
            let info = record.info(false);
            entry.versions.insert(hash, record);
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
                slot.check(module).map_err(CacheError::from)?;
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
            version: current.version().clone(),
            error,
        })?;
        let Some(state) = state else { return Ok(false) };
        module.import_state(&state).map_err(|error| CacheError::StateImport {
            name: module.name().to_owned(),
            version: module.version().clone(),
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
        if result.is_ok() {
            self.drain_pending_locked();
        }
        if let Err(e) = &result {
            self.failed(Some(module.name()), Some(module.source().display().to_string()), e);
        }
        result
    }

    fn activate_locked(&self, module: &Module) -> Result<(), CacheError> {
        // ABI before init: init runs the candidate's code.
        self.check_bindings(module)?;
        self.check_requirements_locked(module)?;
        module.init().map_err(CacheError::from)?;
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
        self.promote_registered(module, true)
    }

    /// As [`Cache::promote`], for a caller that runs its own gates and keeps its own list of
    /// candidates waiting for a provider (the rollback crate's supervisor): a version missing
    /// a provider is refused and not kept, and the promotion makes no kept version current.
    /// Only `module` becomes current, so what serves is always what the caller recorded.
    ///
    /// # Errors
    ///
    /// As [`Cache::promote`].
    pub fn promote_exact(&self, module: &Module) -> Result<(), CacheError> {
        self.promote_registered(module, false)
    }

    /// Both promotions; `keep` parks a version missing only a provider and makes the parked
    /// versions current that this promotion unblocks.
    fn promote_registered(&self, module: &Module, keep: bool) -> Result<(), CacheError> {
        let _guard = lock(&self.inner.swap_lock);
        {
            let reg = read(&self.inner.registry);
            let known = reg.entries.get(module.name()).and_then(|e| e.record(module.hash())).is_some();
            if !known {
                return Err(CacheError::NoSuchVersion { name: module.name().to_owned(), hash: *module.hash() });
            }
        }
        self.check_bindings(module)?;
        if keep {
            self.check_requirements_locked(module)?;
        } else {
            self.requirements_locked(module)?;
        }
        self.promote_locked(module);
        if keep {
            self.drain_pending_locked();
        }
        Ok(())
    }

    /// The compatibility gate (`deps.rs`): every requirement has a provider, no current
    /// dependent loses what it requires, no cycle. A candidate missing only a provider is
    /// kept and made current by itself once one arrives.
    fn check_requirements_locked(&self, module: &Module) -> Result<(), CacheError> {
        let result = self.requirements_locked(module);
        if let Err(CacheError::MissingProvider { .. }) = &result {
            self.park_locked(module);
        }
        result
    }

    /// The compatibility check and the hand-over of providers, nothing kept.
    fn requirements_locked(&self, module: &Module) -> Result<(), CacheError> {
        let reg = read(&self.inner.registry);
        let waiting = lock(&self.inner.pending).clone();
        deps::check(&reg, module, &waiting).and_then(|()| deps::provide_all(&reg, module))
    }

    /// The compatibility gate alone, nothing changed (for callers that run their own
    /// pipeline, like the rollback crate's gates).
    ///
    /// # Errors
    ///
    /// [`CacheError::MissingProvider`], [`CacheError::BreaksDependents`], [`CacheError::Cycle`].
    pub fn check_requirements(&self, module: &Module) -> Result<(), CacheError> {
        deps::check(&read(&self.inner.registry), module, &[])
    }

    /// [`check_requirements`](Self::check_requirements), then hands the candidate its
    /// providers (its `Requirement` handles answer from now on, so its init hook may call
    /// them); nothing is made current. `waiting`: candidates the caller keeps waiting for a
    /// provider; a cycle through them is refused too.
    ///
    /// # Errors
    ///
    /// As [`check_requirements`](Self::check_requirements).
    pub fn prepare_requirements(&self, module: &Module, waiting: &[Module]) -> Result<(), CacheError> {
        let _guard = lock(&self.inner.swap_lock);
        let reg = read(&self.inner.registry);
        deps::check(&reg, module, waiting)?;
        deps::provide_all(&reg, module)
    }

    fn promote_locked(&self, module: &Module) {
        hotpack_util::sync::lock(&self.inner.pending).retain(|m| m.name() != module.name());
        let (from, to) = {
            let mut reg = write(&self.inner.registry);
            // Checked by the gate: every requirement has a provider now. The dependent's
            // handles are filled before its first call can run.
            let _ = self.wire_locked(&mut reg, module);
            let entry = reg.entries.entry(module.name().to_owned()).or_default();
            let from = entry.current_info();
            let hash = *module.hash();
            if entry.record(&hash).is_none() {
                entry.versions.insert(
                    hash,
                    Record { module: module.clone(), source: Source::Memory(module.name().to_owned()), active: None },
                );
            }
            let record = entry.versions.get_mut(&hash).expect("inserted just above");
            let active: &'static ActiveVersion = match record.active {
                Some(a) => a,
                None => {
                    let leaked: &'static ActiveVersion = Box::leak(Box::new(ActiveVersion {
                        module: module.clone(),
                        handlers: module
                            .handler_names()
                            .filter_map(|n| module.handler(n).map(|h| (n.to_owned(), h)))
                            .collect(),
                    }));
                    record.active = Some(leaked);
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
            entry.current = Some(module.clone());
            entry.invalidated = false;
            let to = entry.record(&hash).expect("inserted above").info(true);
            self.rewire_dependents_locked(&reg, module);
            (from, to)
        };
        self.emit(CacheEvent::Promoted { name: to.name.clone(), from, to });
    }

    /// The current version of `name`, without importing.
    pub fn current(&self, name: &str) -> Option<Module> {
        read(&self.inner.registry).entries.get(name).and_then(|e| e.current.clone())
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
        let current = entry.current.clone().unwrap_or(module);
        let table = current.interface::<I>().map_err(CacheError::from)?;
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

    /// Whether `name` was invalidated since it was last made current.
    pub fn is_invalidated(&self, name: &str) -> bool {
        read(&self.inner.registry).entries.get(name).is_some_and(|e| e.invalidated)
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
            let record =
                entry.record(hash).ok_or_else(|| CacheError::NoSuchVersion { name: name.to_owned(), hash: *hash })?;
            if entry.is_current(hash) {
                return Err(CacheError::RetireCurrent {
                    name: name.to_owned(),
                    version: record.module.version().clone(),
                });
            }
            let info = entry.versions.remove(hash).expect("found above").info(false);
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
                versions: e.infos(),
                invalidated: e.invalidated,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Registered versions of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Vec<VersionInfo> {
        let reg = read(&self.inner.registry);
        reg.entries.get(name).map(|e| e.infos()).unwrap_or_default()
    }

    /// Mapped code and registry counters.
    pub fn stats(&self) -> RegistryStats {
        let reg = read(&self.inner.registry);
        RegistryStats {
            mapped: self.inner.loader.mapped(),
            registered: reg.entries.values().map(|e| e.versions.len()).sum(),
            retired: reg.retired,
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
        }
    }
}
