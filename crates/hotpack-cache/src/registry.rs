//! The registry: every version of every name, indexed by hash, with the current one
//! referenced directly, so an import hit and a registration cost the same at 10,000
//! versions as at one.

use crate::Source;
use crate::hot::{ActiveVersion, Rebind};
use hotpack_loader::AtomicRef;
use hotpack_loader::{MappedStats, Module};
use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

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
pub struct RegistryStats {
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

pub(crate) struct Record {
    pub(crate) module: Module,
    pub(crate) source: Source,
    pub(crate) active: Option<&'static ActiveVersion>,
}

impl Record {
    pub(crate) fn info(&self, current: bool) -> VersionInfo {
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

/// Versions by hash, remembering the order they were registered in. Lookup, insert and
/// remove are one hash-map operation each; only listing (which sorts) grows with the count.
#[derive(Debug)]
pub(crate) struct VersionIndex<R> {
    by_hash: HashMap<blake3::Hash, (u64, R)>,
    next: u64,
}

impl<R> Default for VersionIndex<R> {
    fn default() -> Self {
        VersionIndex { by_hash: HashMap::new(), next: 0 }
    }
}

impl<R> VersionIndex<R> {
    /// Inserts `r` under `hash` unless a version with that hash is there; returns whether
    /// it was inserted.
    pub(crate) fn insert(&mut self, hash: blake3::Hash, r: R) -> bool {
        if self.by_hash.contains_key(&hash) {
            return false;
        }
        self.by_hash.insert(hash, (self.next, r));
        self.next += 1;
        true
    }

    pub(crate) fn get(&self, hash: &blake3::Hash) -> Option<&R> {
        self.by_hash.get(hash).map(|(_, r)| r)
    }

    pub(crate) fn get_mut(&mut self, hash: &blake3::Hash) -> Option<&mut R> {
        self.by_hash.get_mut(hash).map(|(_, r)| r)
    }

    pub(crate) fn remove(&mut self, hash: &blake3::Hash) -> Option<R> {
        self.by_hash.remove(hash).map(|(_, r)| r)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Every version, oldest registration first.
    pub(crate) fn ordered(&self) -> Vec<&R> {
        let mut all: Vec<&(u64, R)> = self.by_hash.values().collect();
        all.sort_unstable_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, r)| r).collect()
    }
}

#[derive(Default)]
pub(crate) struct Entry {
    pub(crate) versions: VersionIndex<Record>,
    /// The current version, referenced directly (an import hit reads only this).
    pub(crate) current: Option<Module>,
    pub(crate) invalidated: bool,
    pub(crate) hot: Option<Arc<AtomicRef<ActiveVersion>>>,
    pub(crate) typed: Vec<(TypeId, Box<dyn Rebind>)>,
    /// The current version's requirements and the module name providing each.
    pub(crate) wired: Vec<(hotpack_loader::InterfaceInfo, String)>,
}

impl Entry {
    pub(crate) fn record(&self, hash: &blake3::Hash) -> Option<&Record> {
        self.versions.get(hash)
    }
    pub(crate) fn is_current(&self, hash: &blake3::Hash) -> bool {
        self.current.as_ref().is_some_and(|c| c.hash() == hash)
    }
    pub(crate) fn current_record(&self) -> Option<&Record> {
        self.current.as_ref().and_then(|c| self.record(c.hash()))
    }
    pub(crate) fn current_info(&self) -> Option<VersionInfo> {
        self.current_record().map(|r| r.info(true))
    }
    /// Every version, oldest first, as the listing shows it.
    pub(crate) fn infos(&self) -> Vec<VersionInfo> {
        self.versions.ordered().into_iter().map(|r| r.info(self.is_current(r.module.hash()))).collect()
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) entries: HashMap<String, Entry>,
    pub(crate) retired: usize,
}

#[cfg(test)]
mod tests {
    use super::VersionIndex;

    fn h(i: u32) -> blake3::Hash {
        blake3::hash(&i.to_le_bytes())
    }

    /// The index finds, refuses duplicates, removes and lists in registration order at
    /// 10,000 versions exactly as at one.
    #[test]
    fn index_by_hash_keeps_registration_order() {
        let mut idx = VersionIndex::default();
        for i in 0..10_000u32 {
            assert!(idx.insert(h(i), i));
        }
        assert!(!idx.insert(h(7), 99), "the same bytes are registered once");
        assert_eq!(idx.len(), 10_000);
        assert_eq!(idx.get(&h(9_999)), Some(&9_999));
        assert_eq!(idx.remove(&h(5)), Some(5));
        assert_eq!(idx.get(&h(5)), None);
        assert!(idx.insert(h(5), 5), "a retired version can come back");
        let order: Vec<u32> = idx.ordered().into_iter().copied().collect();
        assert_eq!(order.len(), 10_000);
        assert_eq!(order[..5], [0, 1, 2, 3, 4]);
        assert_eq!(order.last(), Some(&5), "it comes back as the newest");
        if let Some(v) = idx.get_mut(&h(0)) {
            *v = 42;
        }
        assert_eq!(idx.get(&h(0)), Some(&42));
    }
}
