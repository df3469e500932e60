//! Modules that require other modules: which current module provides each required
//! interface, the compatibility gate (missing provider, broken dependents, cycles), wiring a
//! dependent's `Requirement` handles, and dependents kept pending until a provider arrives.
//!
//! A requirement is an interface (name, id, table size) and, optionally, a semver range on
//! the provider module's version. Its provider is a current module of another name that
//! provides exactly that interface at a version in the range; when several do, the one with
//! the smallest name. A swap of a provider stores its table into every dependent's handle: one
//! atomic store per dependent, nothing reloaded.

use crate::registry::Registry;
use crate::{Cache, CacheError};
use hotpack_loader::{InterfaceInfo, Module};

/// One edge of the graph as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The required interface's name.
    pub interface: String,
    /// Its id.
    pub id: u64,
    /// The provider versions it accepts (`None`: any).
    pub range: Option<semver::VersionReq>,
    /// The current module providing it, if any.
    pub provider: Option<String>,
}

/// The provider of `want` among current modules other than `except`.
pub(crate) fn provider_for(reg: &Registry, want: &InterfaceInfo, except: &str) -> Option<Module> {
    reg.entries
        .iter()
        .filter(|(name, _)| name.as_str() != except)
        .filter_map(|(name, e)| e.current.as_ref().filter(|m| m.satisfies(want)).map(|m| (name, m)))
        .min_by(|a, b| a.0.cmp(b.0))
        .map(|(_, m)| m.clone())
}

/// Current modules (other than `name`) whose handles are wired to `name`, with the
/// interface each takes from it.
pub(crate) fn dependents_of(reg: &Registry, name: &str) -> Vec<(String, InterfaceInfo)> {
    let mut out = Vec::new();
    for (dname, e) in &reg.entries {
        if dname == name || e.current.is_none() {
            continue;
        }
        for (want, provider) in &e.wired {
            if provider == name {
                out.push((dname.clone(), want.clone()));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The compatibility gate for making `module` the current version of its name.
pub(crate) fn check(reg: &Registry, module: &Module, waiting: &[Module]) -> Result<(), CacheError> {
    let name = module.name();
    // A cycle first: through current modules, or through candidates still waiting for a
    // provider (two new modules that require each other would otherwise wait forever).
    if let Some(cycle) = cycle_through(reg, module, waiting) {
        return Err(CacheError::Cycle { name: name.to_owned(), cycle: cycle.into() });
    }
    // Dependents now wired to this name must still find what they require.
    check_links(
        name,
        module.version(),
        module.requires(),
        &module.info().interfaces,
        |want| provider_for(reg, want, name).is_some(),
        dependents_of(reg, name),
    )
}

/// The part of the compatibility gate every registry of current versions shares (the
/// [`Cache`](crate::Cache) in process, the supervisor's for versions in workers): each
/// interface the candidate `requires` has a provider (`has_provider`, which never counts the
/// candidate's own name), and no current dependent of `name` loses an interface it takes
/// from it (the candidate `provides` it, same name and id).
///
/// # Errors
///
/// [`CacheError::MissingProvider`] naming the first requirement nobody provides (at a version
/// in its range); [`CacheError::BreaksDependents`] naming the first interface lost and every
/// dependent that takes it; else [`CacheError::OutsideRange`] naming the first range of a
/// dependent `version` is outside and every dependent with that range.
pub fn check_links(
    name: &str,
    version: &semver::Version,
    requires: &[InterfaceInfo],
    provides: &[InterfaceInfo],
    has_provider: impl Fn(&InterfaceInfo) -> bool,
    dependents: Vec<(String, InterfaceInfo)>,
) -> Result<(), CacheError> {
    if let Some(want) = requires.iter().find(|want| !has_provider(want)) {
        return Err(missing(name, version, want));
    }
    // Lost interfaces first, then ranges the version is outside.
    type Refusal = (InterfaceInfo, Vec<String>);
    let (mut broken, mut outside): (Vec<Refusal>, Vec<Refusal>) = (Vec::new(), Vec::new());
    for (dependent, want) in dependents {
        // A lost interface breaks every dependent taking it; a range only those requiring it.
        let (list, by_range) = if !provides.iter().any(|p| p.same(&want)) {
            (&mut broken, false)
        } else if !want.accepts(version) {
            (&mut outside, true)
        } else {
            continue;
        };
        match list.iter_mut().find(|(w, _)| w.same(&want) && (!by_range || w.range == want.range)) {
            Some((_, names)) => names.push(dependent),
            None => list.push((want, vec![dependent])),
        }
    }
    if let Some((want, dependents)) = broken.into_iter().next() {
        return Err(CacheError::BreaksDependents {
            name: name.to_owned(),
            version: version.clone(),
            interface: want.name,
            id: want.id,
            dependents: dependents.into(),
        });
    }
    if let Some((want, dependents)) = outside.into_iter().next() {
        return Err(CacheError::OutsideRange {
            name: name.to_owned(),
            version: version.clone(),
            interface: want.name.into(),
            range: std::sync::Arc::new(want.range.unwrap_or_default()),
            dependents: dependents.into(),
        });
    }
    Ok(())
}

/// The refusal of `name` `version` for the requirement `want` nobody provides.
fn missing(name: &str, version: &semver::Version, want: &InterfaceInfo) -> CacheError {
    CacheError::MissingProvider {
        name: name.to_owned(),
        version: version.clone(),
        interface: want.name.clone(),
        id: want.id,
        range: want.range.clone().map(std::sync::Arc::new),
    }
}

/// A cycle of requirements through `module` (as if it were current), if one exists; modules
/// in `waiting` count as providers too (a waiting candidate of a name with no current version).
fn cycle_through(reg: &Registry, module: &Module, waiting: &[Module]) -> Option<Vec<String>> {
    let start = module.name();
    let waiting_of = |name: &str| waiting.iter().find(|w| w.name() == name && w.name() != start);
    let requires_of = |name: &str| -> Vec<InterfaceInfo> {
        if name == start {
            return module.requires().to_vec();
        }
        reg.entries
            .get(name)
            .and_then(|e| e.current.as_ref())
            .or_else(|| waiting_of(name))
            .map(|m| m.requires().to_vec())
            .unwrap_or_default()
    };
    // Providers as they would be with `module` current: a provider of the candidate's name
    // is the candidate itself when it satisfies the requirement.
    let provider_name = |want: &InterfaceInfo, except: &str| -> Option<String> {
        let mut best: Option<String> = None;
        for (name, e) in &reg.entries {
            if name == except || name == start {
                continue;
            }
            if e.current.as_ref().is_some_and(|m| m.satisfies(want)) && best.as_ref().is_none_or(|b| name < b) {
                best = Some(name.clone());
            }
        }
        if best.is_none() {
            // Nobody current provides it: a waiting candidate would.
            best = waiting
                .iter()
                .filter(|w| w.name() != except && w.name() != start && w.satisfies(want))
                .filter(|w| reg.entries.get(w.name()).is_none_or(|e| e.current.is_none()))
                .map(|w| w.name().to_owned())
                .min();
        }
        if except != start && module.satisfies(want) && best.as_ref().is_none_or(|b| start < b.as_str()) {
            best = Some(start.to_owned());
        }
        best
    };
    let mut path = vec![start.to_owned()];
    let mut seen = std::collections::HashSet::new();
    fn walk(
        path: &mut Vec<String>,
        seen: &mut std::collections::HashSet<String>,
        requires_of: &dyn Fn(&str) -> Vec<InterfaceInfo>,
        provider_name: &dyn Fn(&InterfaceInfo, &str) -> Option<String>,
        start: &str,
    ) -> bool {
        let Some(at) = path.last().cloned() else { return false };
        for want in requires_of(&at) {
            let Some(next) = provider_name(&want, &at) else { continue };
            if next == start {
                path.push(next);
                return true;
            }
            if !seen.insert(next.clone()) {
                continue;
            }
            path.push(next);
            if walk(path, seen, requires_of, provider_name, start) {
                return true;
            }
            path.pop();
        }
        false
    }
    walk(&mut path, &mut seen, &requires_of, &provider_name, start).then_some(path)
}

/// Hands the candidate `module` its providers, before its init hook runs.
pub(crate) fn provide_all(reg: &Registry, module: &Module) -> Result<(), CacheError> {
    for want in module.requires() {
        let provider =
            provider_for(reg, want, module.name()).ok_or_else(|| missing(module.name(), module.version(), want))?;
        module.provide(&want.name, &provider).map_err(CacheError::from)?;
    }
    Ok(())
}

impl Cache {
    /// Hands `module` its providers (called before it is made current).
    pub(crate) fn wire_locked(&self, reg: &mut Registry, module: &Module) -> Result<(), CacheError> {
        let mut wired = Vec::new();
        for want in module.requires() {
            let provider =
                provider_for(reg, want, module.name()).ok_or_else(|| missing(module.name(), module.version(), want))?;
            module.provide(&want.name, &provider).map_err(CacheError::from)?;
            wired.push((want.clone(), provider.name().to_owned()));
        }
        reg.entries.entry(module.name().to_owned()).or_default().wired = wired;
        Ok(())
    }

    /// Hands every dependent wired to `module`'s name the new provider `module`.
    pub(crate) fn rewire_dependents_locked(&self, reg: &Registry, module: &Module) {
        for (dependent, want) in dependents_of(reg, module.name()) {
            if let Some(d) = reg.entries.get(&dependent).and_then(|e| e.current.as_ref()) {
                // Checked by `check` before the swap: the new provider satisfies `want`.
                let _ = d.provide(&want.name, module);
            }
        }
    }

    /// The requirements of the current version of `name`, with their providers.
    pub fn requirements(&self, name: &str) -> Vec<Requirement> {
        let reg = crate::read(&self.inner.registry);
        let Some(e) = reg.entries.get(name) else { return Vec::new() };
        let Some(current) = &e.current else { return Vec::new() };
        current
            .requires()
            .iter()
            .map(|want| Requirement {
                interface: want.name.clone(),
                id: want.id,
                range: want.range.clone(),
                provider: e.wired.iter().find(|(w, _)| w == want).map(|(_, p)| p.clone()),
            })
            .collect()
    }

    /// Current modules that take an interface from the current version of `name`.
    pub fn dependents(&self, name: &str) -> Vec<String> {
        let reg = crate::read(&self.inner.registry);
        let mut out: Vec<String> = dependents_of(&reg, name).into_iter().map(|(d, _)| d).collect();
        out.dedup();
        out
    }

    /// Refuses while current modules depend on `name` (for whatever would take it away).
    ///
    /// # Errors
    ///
    /// [`CacheError::HasDependents`] naming them.
    pub fn check_removable(&self, name: &str) -> Result<(), CacheError> {
        let dependents = self.dependents(name);
        if dependents.is_empty() {
            Ok(())
        } else {
            Err(CacheError::HasDependents { name: name.to_owned(), dependents: dependents.into() })
        }
    }

    /// Versions refused only because a provider was missing, waiting to be made current.
    pub fn pending(&self) -> Vec<Module> {
        hotpack_util::sync::lock(&self.inner.pending).clone()
    }

    /// Remembers a candidate refused for a missing provider.
    pub(crate) fn park_locked(&self, module: &Module) {
        let mut pending = hotpack_util::sync::lock(&self.inner.pending);
        // One waiting version per name: the newest candidate.
        pending.retain(|m| m.name() != module.name());
        pending.push(module.clone());
    }

    /// Makes current every pending version whose providers are now all there (repeating,
    /// since one promoted may be what another waits for).
    pub(crate) fn drain_pending_locked(&self) {
        loop {
            let waiting = std::mem::take(&mut *hotpack_util::sync::lock(&self.inner.pending));
            if waiting.is_empty() {
                return;
            }
            let mut progressed = false;
            let mut still = Vec::new();
            for module in waiting {
                let ready = check(&crate::read(&self.inner.registry), &module, &[]).is_ok();
                if ready && self.activate_locked(&module).is_ok() {
                    progressed = true;
                } else {
                    still.push(module);
                }
            }
            let mut pending = hotpack_util::sync::lock(&self.inner.pending);
            still.append(&mut pending);
            *pending = still;
            if !progressed {
                return;
            }
        }
    }
}
