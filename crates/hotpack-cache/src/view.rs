//! [`CacheView`]: the registry read-only, for callers that must look but never make code
//! current (what a supervisor with trusted keys hands out).

use crate::{Cache, CacheError, CacheEvent, Hot, HotModule, ModuleEntry, RegistryStats, Source, VersionInfo};
use hotpack_archive::Limits;
use hotpack_loader::{Interface, MappedStats, Module};
use std::path::PathBuf;
use std::sync::mpsc;

/// A read-only view of a [`Cache`]: what is registered and current, handles on versions
/// already current, events and counters. It has no method that loads, registers, imports,
/// activates or promotes anything, and no way back to the `Cache` or its `Loader`: a holder
/// can call only versions that something with the cache itself (the supervisor's gates)
/// made current or registered. Cheap to clone.
#[derive(Clone)]
pub struct CacheView {
    cache: Cache,
}

impl std::fmt::Debug for CacheView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.cache.fmt(f)
    }
}

impl Cache {
    /// A read-only view of this cache.
    pub fn view(&self) -> CacheView {
        CacheView { cache: self.clone() }
    }
}

impl CacheView {
    /// The current version of `name`, if one is current (never imports).
    pub fn current(&self, name: &str) -> Option<Module> {
        self.cache.current(name)
    }

    /// A registered version of `name` by hash.
    pub fn version(&self, name: &str, hash: &blake3::Hash) -> Option<Module> {
        self.cache.version(name, hash)
    }

    /// Registered versions of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Vec<VersionInfo> {
        self.cache.versions(name)
    }

    /// Every name with its current and registered versions.
    pub fn modules(&self) -> Vec<ModuleEntry> {
        self.cache.modules()
    }

    /// Mapped code and registry counters.
    pub fn stats(&self) -> RegistryStats {
        self.cache.stats()
    }

    /// Code mapped by the cache's loader (it stays mapped until the process exits).
    pub fn mapped(&self) -> MappedStats {
        self.cache.loader().mapped()
    }

    /// Whether a library with this content hash is mapped in this process.
    pub fn is_mapped(&self, hash: &blake3::Hash) -> bool {
        self.cache.loader().get(hash).is_some()
    }

    /// The bundle limits.
    pub fn limits(&self) -> &Limits {
        self.cache.limits()
    }

    /// The search path entries.
    pub fn search_entries(&self) -> Vec<PathBuf> {
        self.cache.search_entries()
    }

    /// Where `name` would be found on the search path now (nothing is loaded).
    ///
    /// # Errors
    ///
    /// As [`Cache::resolve`].
    pub fn resolve(&self, name: &str) -> Result<Source, CacheError> {
        self.cache.resolve(name)
    }

    /// Whether `name` was invalidated since it was last made current.
    pub fn is_invalidated(&self, name: &str) -> bool {
        self.cache.is_invalidated(name)
    }

    /// The requirements of the current version of `name`, with their providers.
    pub fn requirements(&self, name: &str) -> Vec<crate::Requirement> {
        self.cache.requirements(name)
    }

    /// Current modules that take an interface from the current version of `name`.
    pub fn dependents(&self, name: &str) -> Vec<String> {
        self.cache.dependents(name)
    }

    /// Events from now on.
    pub fn subscribe(&self) -> mpsc::Receiver<CacheEvent> {
        self.cache.subscribe()
    }

    /// A handle on the handlers of `name`, if a version of it was ever made current.
    pub fn hot_module(&self, name: &str) -> Option<HotModule> {
        self.cache.loaded_hot_module(name)
    }

    /// A handle on interface `I` of the current version of `name`; never imports.
    ///
    /// # Errors
    ///
    /// [`CacheError::NotLoaded`] when no version of `name` is current; as [`Cache::hot`]
    /// when it does not provide `I`.
    pub fn hot<I: Interface>(&self, name: &str) -> Result<Hot<I>, CacheError> {
        if self.cache.current(name).is_none() {
            return Err(CacheError::NotLoaded { name: name.to_owned() });
        }
        self.cache.hot::<I>(name)
    }
}
