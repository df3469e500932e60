//! Manual rollback and pins: `rollback`, `rollback_to`, `pin`, `unpin`, and resolving a version reference.

use super::*;

impl Supervisor {
    // ----- rollback and pins -----------------------------------------------------------

    /// Rolls `name` back to the version active before the current one (popping the current
    /// one off the activation stack; repeated calls go further back). Only retained versions
    /// this host activated and that did not fail are candidates. The version rolled back to
    /// resumes with the module-owned state it held when it last served.
    ///
    /// # Errors
    ///
    /// [`RollbackError::NoPrevious`], [`RollbackError::Pinned`], [`RollbackError::Cache`].
    pub fn rollback(&self, name: &str) -> Result<Deployed, RollbackError> {
        self.with_ops(|| {
            let (target, pinned) = {
                let mut st = lock(&self.inner.state);
                let m = st.modules.get_mut(name).ok_or_else(|| RollbackError::NoPrevious { name: name.to_owned() })?;
                let active = m.active.clone().ok_or_else(|| RollbackError::NoPrevious { name: name.to_owned() })?;
                let mut stack = m.stack.clone();
                stack.retain(|h| *h != active.hash);
                let mut target = None;
                while let Some(h) = stack.last().copied() {
                    if !m.is_failed(&h) && (self.inner.cache.version(name, &h).is_some() || self.iso_has(name, &h)) {
                        target = Some(h);
                        break;
                    }
                    stack.pop();
                }
                let target = target.ok_or_else(|| RollbackError::NoPrevious { name: name.to_owned() })?;
                if m.pinned.is_none() {
                    m.stack = stack;
                }
                (target, m.pinned.clone())
            };
            if let Some(summary) = self.iso_summary(name, &target) {
                if let Some(p) = pinned {
                    return Err(RollbackError::Pinned {
                        name: name.to_owned(),
                        pinned: p.version,
                        offered: summary.version,
                    });
                }
                return self.iso_switch(name, summary, Happened::RolledBack { from: None });
            }
            let module = self
                .inner
                .cache
                .version(name, &target)
                .ok_or_else(|| RollbackError::NoPrevious { name: name.to_owned() })?;
            if let Some(p) = pinned {
                return Err(RollbackError::Pinned {
                    name: name.to_owned(),
                    pinned: p.version,
                    offered: module.version().clone(),
                });
            }
            self.switch_to(name, &module, Happened::RolledBack { from: None })
        })
    }

    /// Rolls `name` to `to`: a retained version this host activated before and that did
    /// not fail.
    ///
    /// # Errors
    ///
    /// [`RollbackError::NeverActivated`], [`RollbackError::NotRetained`],
    /// [`RollbackError::Pinned`], [`RollbackError::Cache`].
    pub fn rollback_to(&self, name: &str, to: VersionRef) -> Result<Deployed, RollbackError> {
        self.with_ops(|| {
            if let Some(summary) = self.iso_resolve(name, &to)? {
                if let Some(p) = self.pinned_version(name).filter(|p| p.hash != summary.hash) {
                    return Err(RollbackError::Pinned {
                        name: name.to_owned(),
                        pinned: p.version,
                        offered: summary.version,
                    });
                }
                return self.iso_switch(name, summary, Happened::RolledBack { from: None });
            }
            let module = self.resolve(name, &to)?;
            if let Some(p) = self.pinned_version(name).filter(|p| p.hash != *module.hash()) {
                return Err(RollbackError::Pinned {
                    name: name.to_owned(),
                    pinned: p.version,
                    offered: module.version().clone(),
                });
            }
            self.switch_to(name, &module, Happened::RolledBack { from: None })
        })
    }

    /// Makes `to` (a retained version this host activated) serve and holds it: deploys are
    /// refused with [`RollbackError::Pinned`], and the panic budget no longer demotes it,
    /// until [`unpin`](Self::unpin). Pinning again moves the pin.
    ///
    /// # Errors
    ///
    /// As [`rollback_to`](Self::rollback_to).
    pub fn pin(&self, name: &str, to: VersionRef) -> Result<Deployed, RollbackError> {
        self.with_ops(|| {
            let d = match self.iso_resolve(name, &to)? {
                Some(summary) => self.iso_switch(name, summary, Happened::Pinned)?,
                None => {
                    let module = self.resolve(name, &to)?;
                    self.switch_to(name, &module, Happened::Pinned)?
                }
            };
            if let Some(m) = lock(&self.inner.state).modules.get_mut(name) {
                m.pinned = m.active.clone();
            }
            self.write_journal();
            Ok(d)
        })
    }

    /// Lifts the pin of `name`, if any.
    pub fn unpin(&self, name: &str) {
        self.with_ops(|| {
            let lifted = {
                let mut st = lock(&self.inner.state);
                match st.modules.get_mut(name) {
                    Some(m) => match m.pinned.take() {
                        Some(p) => {
                            let record = Record::of(name, &p, Happened::Unpinned);
                            m.push_history(record.clone());
                            Some(record)
                        }
                        None => None,
                    },
                    None => None,
                }
            };
            if let Some(record) = lifted {
                self.emit(RollbackEvent::Record(record));
                self.write_journal();
            }
        });
    }

    pub(super) fn pinned_version(&self, name: &str) -> Option<VersionSummary> {
        lock(&self.inner.state).modules.get(name).and_then(|m| m.pinned.clone())
    }

    /// The retained, activated, not failed module `to` names.
    pub(super) fn resolve(&self, name: &str, to: &VersionRef) -> Result<Module, RollbackError> {
        let retained: Vec<(blake3::Hash, semver::Version)> =
            self.inner.cache.versions(name).into_iter().map(|v| (v.hash, v.version)).collect();
        let hash = self.resolve_hash(name, to, &retained)?;
        let not_retained = || RollbackError::NotRetained { name: name.to_owned(), wanted: to.clone() };
        self.inner.cache.version(name, &hash).ok_or_else(not_retained)
    }

    /// Under isolation: the retained version `to` names (`None` when `name` does not run in
    /// workers).
    pub(super) fn iso_resolve(&self, name: &str, to: &VersionRef) -> Result<Option<VersionSummary>, RollbackError> {
        let Some(retained) = self.iso_retained(name) else { return Ok(None) };
        let pairs: Vec<(blake3::Hash, semver::Version)> =
            retained.iter().map(|v| (v.hash, v.version.clone())).collect();
        let hash = self.resolve_hash(name, to, &pairs)?;
        let not_retained = || RollbackError::NotRetained { name: name.to_owned(), wanted: to.clone() };
        retained.into_iter().find(|v| v.hash == hash).map(Some).ok_or_else(not_retained)
    }

    /// The hash of the activated, not failed version `to` names among `retained`.
    fn resolve_hash(
        &self,
        name: &str,
        to: &VersionRef,
        retained: &[(blake3::Hash, semver::Version)],
    ) -> Result<blake3::Hash, RollbackError> {
        let st = lock(&self.inner.state);
        let never = || RollbackError::NeverActivated { name: name.to_owned(), wanted: to.clone() };
        let m = st.modules.get(name).ok_or_else(never)?;
        let not_retained = || RollbackError::NotRetained { name: name.to_owned(), wanted: to.clone() };
        let hash = match to {
            VersionRef::Hash(h) => {
                if !m.activated.contains_key(h) {
                    return Err(never());
                }
                *h
            }
            VersionRef::Version(v) => {
                // Most recently activated first: the stack, then the good list.
                let mut order: Vec<blake3::Hash> = m.stack.iter().rev().copied().collect();
                order.extend(m.good.iter().rev().map(|g| g.hash));
                order.extend(m.activated.keys().copied());
                let activated: Vec<blake3::Hash> = order
                    .into_iter()
                    .filter(|h| m.activated.contains_key(h) && retained.iter().any(|(rh, rv)| rh == h && rv == v))
                    .collect();
                if activated.is_empty() {
                    let ever = m.activated.values().any(|a| a == v);
                    return Err(if ever { not_retained() } else { never() });
                }
                match activated.iter().find(|h| !m.is_failed(h)) {
                    Some(h) => *h,
                    None => return Err(not_retained()),
                }
            }
        };
        if m.is_failed(&hash) {
            return Err(not_retained());
        }
        Ok(hash)
    }

    pub(super) fn switch_to(&self, name: &str, module: &Module, outcome: Happened) -> Result<Deployed, RollbackError> {
        let source = self
            .inner
            .cache
            .versions(name)
            .into_iter()
            .find(|v| v.hash == *module.hash())
            .map(|v| v.source)
            .unwrap_or_else(|| Source::File(module.source().to_path_buf()));
        let summary = VersionSummary { version: module.version().clone(), hash: *module.hash(), source };
        let is_active = lock(&self.inner.state)
            .modules
            .get(name)
            .and_then(|m| m.active.as_ref())
            .is_some_and(|a| a.hash == summary.hash);
        if is_active && matches!(outcome, Happened::RolledBack { .. }) {
            return Ok(deployed(name, &summary, Happened::Unchanged));
        }
        if !is_active {
            // A version retained after a restart was loaded, not initialised: its init hook
            // runs before it serves (once per process; a version that served here already
            // returns its first outcome). A failure refuses the switch, unmarked.
            module.init().map_err(|e| {
                self.gate_failed_named(
                    name,
                    summary.version.clone(),
                    Some(summary.hash),
                    Gate::Init,
                    GateError::Load(e),
                    false,
                )
            })?;
            self.inner.cache.promote_exact(module).map_err(RollbackError::Cache)?;
        }
        Ok(self.promoted(name, summary, outcome))
    }
}
