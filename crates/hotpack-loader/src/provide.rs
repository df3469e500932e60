//! Shared code on the host side: handing a dependent module its provider's table (checked
//! by interface name, id and size), and the check that a library's descriptor section agrees
//! with its live descriptor.

use crate::{Bound, InterfaceInfo, LoadError, Module, StaticDescriptor, sys};
use std::path::Path;

impl Module {
    /// Panics caught so far in this module's typed shims (a host or a dependent called it
    /// through an interface table): how a host charges a provider with a panic that reached
    /// a dependent as an error value.
    pub fn typed_panics(&self) -> u64 {
        self.inner.bound.typed_panics.get()
    }

    /// Interfaces this module requires from other modules (its providers).
    pub fn requires(&self) -> &[InterfaceInfo] {
        &self.inner.bound.info.requires
    }

    /// Hands this module `provider`'s table for the required interface `interface`: every
    /// call through the module's `Requirement` handle sees `provider` from now on (one atomic
    /// store; nothing is reloaded). Call again with another version to swap it.
    ///
    /// # Errors
    ///
    /// [`LoadError::NotRequired`] when this module requires no such interface;
    /// [`LoadError::ProviderMissing`] when `provider` does not provide it;
    /// [`LoadError::ProviderMismatch`] when it provides it with another id or table size.
    pub fn provide(&self, interface: &str, provider: &Module) -> Result<(), LoadError> {
        let bound = &self.inner.bound;
        let Some(index) = bound.info.requires.iter().position(|r| r.name == interface) else {
            return Err(LoadError::NotRequired {
                path: self.inner.source.clone(),
                module: bound.info.name.clone(),
                interface: interface.to_owned(),
            });
        };
        let want = &bound.info.requires[index];
        let table = provider.table_for(want)?;
        bound.slots[index].store(table);
        Ok(())
    }

    /// Takes back the provider of `interface` (calls through the handle answer
    /// [`CallError::NoProvider`](crate::CallError::NoProvider)); `false` when this module requires no
    /// such interface.
    pub fn unprovide(&self, interface: &str) -> bool {
        let bound = &self.inner.bound;
        match bound.info.requires.iter().position(|r| r.name == interface) {
            Some(index) => {
                bound.slots[index].clear();
                true
            }
            None => false,
        }
    }

    /// Whether this module provides `want` exactly (name, id and table size) and its version
    /// is in `want`'s range.
    pub fn satisfies(&self, want: &InterfaceInfo) -> bool {
        want.met_by(&self.inner.bound.info.version, &self.inner.bound.info.interfaces)
    }

    fn table_for(&self, want: &InterfaceInfo) -> Result<sys::Table, LoadError> {
        let bound = &self.inner.bound;
        for (info, table) in bound.info.interfaces.iter().zip(&bound.tables) {
            if info.name != want.name {
                continue;
            }
            if info.id == want.id && info.table_size == want.table_size {
                return Ok(*table);
            }
            return Err(LoadError::ProviderMismatch {
                path: self.inner.source.clone(),
                module: bound.info.name.clone(),
                interface: want.name.clone(),
                expected: want.id,
                found: info.id,
            });
        }
        Err(LoadError::ProviderMissing {
            path: self.inner.source.clone(),
            module: bound.info.name.clone(),
            interface: want.name.clone(),
        })
    }
}

impl InterfaceInfo {
    /// Whether `other` is the same interface: name, id and table size (a requirement's range
    /// is not part of it).
    pub fn same(&self, other: &InterfaceInfo) -> bool {
        self.name == other.name && self.id == other.id && self.table_size == other.table_size
    }

    /// Whether a provider module of `version` is in this requirement's range (always, without
    /// one).
    pub fn accepts(&self, version: &semver::Version) -> bool {
        self.range.as_ref().is_none_or(|range| range.matches(version))
    }

    /// Whether a module of `version` providing `provides` meets this requirement: the same
    /// interface, at a version in the range ([`Module::satisfies`], from a descriptor alone).
    pub fn met_by(&self, version: &semver::Version, provides: &[InterfaceInfo]) -> bool {
        self.accepts(version) && provides.iter().any(|p| p.same(self))
    }
}

/// Checks the descriptor section read from the bytes says what the live descriptor says, and
/// copies in what only the section carries (the ranges of the requirements).
pub(crate) fn agree(path: &Path, declared: &StaticDescriptor, bound: &mut Bound) -> Result<(), LoadError> {
    for (live, declared) in bound.info.requires.iter_mut().zip(&declared.info.requires) {
        if live.same(declared) {
            live.range.clone_from(&declared.range);
        }
    }
    let live = &bound.info;
    let fields: [(&'static str, bool); 12] = [
        ("name", declared.info.name == live.name),
        ("version", declared.info.version == live.version),
        ("abi_version", declared.info.abi_version == live.abi_version),
        ("layout_version", declared.layout_version == hotpack_abi::LAYOUT_VERSION),
        ("panic_strategy", declared.panic_strategy == hotpack_abi::PANIC_UNWIND),
        ("rustc", declared.info.rustc == live.rustc),
        ("target", declared.info.target == live.target),
        ("interfaces", declared.info.interfaces == live.interfaces),
        ("requires", declared.info.requires == live.requires),
        ("handlers", declared.info.handlers == live.handlers),
        ("init", declared.info.has_init == live.has_init),
        ("state", declared.has_export == bound.export.is_some() && declared.has_import == bound.import.is_some()),
    ];
    match fields.iter().find(|(_, same)| !same) {
        None => Ok(()),
        Some((field, _)) => {
            Err(LoadError::DescriptorDisagrees { path: path.to_path_buf(), module: live.name.clone(), field })
        }
    }
}
