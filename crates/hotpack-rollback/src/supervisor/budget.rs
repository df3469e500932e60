//! Calls through the hot handle and the panic budget: counting caught panics and demoting a version past its budget.

use super::*;

impl Supervisor {
    // ----- calls and panics ------------------------------------------------------------

    /// Calls `handler` of the active version of `name` through its hot handle. A caught
    /// panic counts against the panic budget and may demote the version (the call itself
    /// still returns the panic as an error).
    ///
    /// # Errors
    ///
    /// [`SupervisorCallError::NotActive`] when no version was promoted;
    /// [`SupervisorCallError::NoSuchHandler`] (naming the handlers that exist) for an unknown
    /// handler; [`SupervisorCallError::Module`] with the module's error or caught panic.
    pub fn call(&self, name: &str, handler: &str, input: &[u8]) -> Result<Vec<u8>, SupervisorCallError> {
        if let Some(running) = self.iso_running(name) {
            return self.call_isolated(name, running, handler, Some(input));
        }
        if lock(&self.inner.iso).contains_key(name) {
            // Runs in workers, and none answers: its last version crashed with nothing good
            // to fall back to.
            return Err(SupervisorCallError::NotActive { name: name.to_owned() });
        }
        let hot = self.hot(name).ok_or_else(|| SupervisorCallError::NotActive { name: name.to_owned() })?;
        let version = hot.current();
        match version.call(handler, input) {
            Ok(out) => Ok(out),
            Err(hotpack_loader::CallError::NoSuchHandler { .. }) => Err(SupervisorCallError::NoSuchHandler {
                name: name.to_owned(),
                version: version.module().version().clone(),
                handler: handler.to_owned(),
                available: version.module().handler_names().map(str::to_owned).collect(),
            }),
            Err(error) => {
                if error.is_panic() {
                    self.panicked(name, *version.module().hash());
                }
                self.charge_providers(name);
                Err(SupervisorCallError::Module {
                    name: name.to_owned(),
                    version: version.module().version().clone(),
                    error,
                })
            }
        }
    }

    /// A dependent's call failed: a panic its providers caught in their typed shims since
    /// they were last charged counts against them (a provider's panic inside a dependent's
    /// call reaches the dependent as an error value). Only on the error path.
    fn charge_providers(&self, name: &str) {
        for requirement in self.inner.cache.requirements(name) {
            let Some(provider) = requirement.provider.and_then(|p| self.inner.cache.current(&p)) else { continue };
            let now = provider.typed_panics();
            let before = lock(&self.inner.provider_panics_seen).insert(*provider.hash(), now).unwrap_or(0);
            // Bounded: past the budget the provider is demoted anyway.
            let budget = u64::from(self.inner.policy.panic_budget) + 1;
            for _ in 0..now.saturating_sub(before).min(budget) {
                self.panicked(provider.name(), *provider.hash());
            }
        }
    }

    pub(super) fn hot(&self, name: &str) -> Option<HotModule> {
        // Never import through the search path here: only promoted versions serve.
        self.inner.cache.loaded_hot_module(name)
    }

    /// Counts one caught panic of the active version of `name`, for hosts that call through
    /// their own `Hot<I>` handles. Returns the demotion when this panic exceeded the budget
    /// and the demotion could run now (when another operation holds the supervisor, the
    /// demotion runs as soon as it finishes, and `None` is returned).
    pub fn record_panic(&self, name: &str) -> Option<Demotion> {
        let hash = lock(&self.inner.state).modules.get(name)?.active.as_ref()?.hash;
        self.panicked(name, hash)
    }

    pub(super) fn panicked(&self, name: &str, hash: blake3::Hash) -> Option<Demotion> {
        let over = {
            let mut st = lock(&self.inner.state);
            let policy = &self.inner.policy;
            let m = st.modules.get_mut(name)?;
            if m.active.as_ref().is_none_or(|a| a.hash != hash) {
                return None; // a call still in flight on a version already swapped out
            }
            let now = Instant::now();
            m.panics.push_back(now);
            while m.panics.front().is_some_and(|t| now.duration_since(*t) > policy.panic_window) {
                m.panics.pop_front();
            }
            let over = m.panics.len() > policy.panic_budget as usize;
            if over {
                st.pending.insert(name.to_owned());
            }
            over
        };
        if !over {
            return None;
        }
        self.take_pending_now(name)
    }

    /// Runs `name`'s pending demotion now when no other operation holds the supervisor (else
    /// it runs as soon as that operation finishes, and `None` is returned).
    fn take_pending_now(&self, name: &str) -> Option<Demotion> {
        let demotion = match self.inner.ops.try_lock() {
            Ok(_ops) => self.take_pending_locked(name),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                let _ops = p.into_inner();
                self.take_pending_locked(name)
            }
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        self.kick_pending();
        demotion
    }

    pub(super) fn take_pending_locked(&self, name: &str) -> Option<Demotion> {
        let (panicked, crashed) = {
            let mut st = lock(&self.inner.state);
            (st.pending.remove(name), st.crashes.remove(name))
        };
        match crashed {
            Some((hash, crash)) => self.crash_locked(name, hash, crash),
            None if panicked => self.demote_locked(name),
            None => None,
        }
    }

    pub(super) fn drain_pending_locked(&self) {
        let (pending, crashes) = {
            let mut st = lock(&self.inner.state);
            (std::mem::take(&mut st.pending), std::mem::take(&mut st.crashes))
        };
        for (name, (hash, crash)) in crashes {
            self.crash_locked(&name, hash, crash);
        }
        for name in pending {
            self.demote_locked(&name);
        }
    }

    /// Records that the process running version `hash` of `name` crashed under a call (a
    /// worker's death, or a call killed at its deadline), and demotes that version at once:
    /// its hash is marked failed and written to the journal *before* anything else happens
    /// (so a restart never resumes it, even if the host dies next), then the last good
    /// version is promoted. Unlike a panic, a crash does not wait for a budget.
    ///
    /// Returns the demotion when it ran now; `None` when `hash` no longer serves (a call
    /// in flight on a version already swapped out, or a second call that saw the same
    /// death), or when another operation holds the supervisor (the demotion then runs as
    /// soon as it finishes; the hash is marked failed at once either way). A pinned module
    /// keeps its pin: the crash is recorded as its last error and the version keeps serving.
    pub fn record_crash(&self, name: &str, hash: blake3::Hash, crash: crate::Crash) -> Option<Demotion> {
        {
            let mut st = lock(&self.inner.state);
            let m = st.modules.get_mut(name)?;
            if m.active.as_ref().is_none_or(|a| a.hash != hash) {
                return None;
            }
            st.crashes.insert(name.to_owned(), (hash, crash));
        }
        self.take_pending_now(name)
    }

    /// Demotes version `hash` of `name` after a crash, if it still serves.
    fn crash_locked(&self, name: &str, hash: blake3::Hash, crash: crate::Crash) -> Option<Demotion> {
        let candidates = {
            let mut st = lock(&self.inner.state);
            let m = st.modules.get_mut(name)?;
            let from = m.active.clone().filter(|a| a.hash == hash)?;
            if m.pinned.is_some() {
                m.last_error = Some(format!("{}: crashed ({crash}), but the module is pinned", from.version));
                return None;
            }
            m.failed.insert(
                *from.hash.as_bytes(),
                Failure {
                    version: from.version.clone(),
                    gate: None,
                    cause: Arc::new(FailureCause::Crashed(crash.clone())),
                },
            );
            m.good.retain(|g| g.hash != from.hash);
            m.stack.retain(|h| *h != from.hash);
            m.last_error = Some(format!("{}: crashed: {crash}", from.version));
            m.panics.clear();
            (from, m.good.iter().rev().cloned().collect::<Vec<_>>())
        };
        // The failed hash reaches the journal before the fallback is promoted or a new
        // process is started: if the host dies now, a restart still skips the crashed version.
        self.write_journal();
        let (from, candidates) = candidates;
        let to = self.fall_back(name, candidates);
        let record = Record::of(name, &from, Happened::Crashed { crash: crash.clone(), to: to.clone() });
        Some(self.demoted(name, from, to, 0, Some(crash), record))
    }

    /// Promotes the newest good version of `candidates` that is still retained (under
    /// isolation: starts a fresh worker for it).
    fn fall_back(&self, name: &str, candidates: Vec<VersionSummary>) -> Option<VersionSummary> {
        if lock(&self.inner.iso).contains_key(name) {
            for c in candidates {
                if self.iso_start_retained(name, &c.hash, true) {
                    return Some(c);
                }
            }
            self.iso_stop(name);
            return None;
        }
        for c in candidates {
            // A version retained after a restart runs its init hook before it serves (once
            // per process), as under isolation its fresh worker does.
            if let Some(module) = self.inner.cache.version(name, &c.hash)
                && module.init().is_ok()
                && self.inner.cache.promote_exact(&module).is_ok()
            {
                return Some(c);
            }
        }
        None
    }

    /// Records a demotion and what serves after it.
    fn demoted(
        &self,
        name: &str,
        from: VersionSummary,
        to: Option<VersionSummary>,
        panics: u32,
        crash: Option<crate::Crash>,
        record: Record,
    ) -> Demotion {
        let demotion = Demotion { name: name.to_owned(), from, to: to.clone(), panics, crash };
        if let Some(m) = lock(&self.inner.state).modules.get_mut(name) {
            m.push_history(record.clone());
        }
        self.emit(RollbackEvent::Record(record));
        match to {
            Some(v) => {
                self.promoted(name, v, Happened::RolledBack { from: None });
            }
            None => {
                if let Some(m) = lock(&self.inner.state).modules.get_mut(name) {
                    m.promoted_at = Some(Instant::now());
                }
                self.write_journal();
            }
        }
        demotion
    }

    /// Demotes the active version of `name` if it is (still) over its panic budget.
    pub(super) fn demote_locked(&self, name: &str) -> Option<Demotion> {
        let policy = &self.inner.policy;
        let (from, panics, candidates) = {
            let mut st = lock(&self.inner.state);
            let m = st.modules.get_mut(name)?;
            let now = Instant::now();
            while m.panics.front().is_some_and(|t| now.duration_since(*t) > policy.panic_window) {
                m.panics.pop_front();
            }
            let panics = u32::try_from(m.panics.len()).unwrap_or(u32::MAX);
            if panics <= policy.panic_budget {
                return None;
            }
            let from = m.active.clone()?;
            if m.pinned.is_some() {
                // An operator's pin wins over the automatic demotion; say so once per window.
                m.last_error =
                    Some(format!("{}: {panics} panics past the budget, but the module is pinned", from.version));
                m.panics.clear();
                return None;
            }
            let cause = Arc::new(FailureCause::Panics { panics, window: policy.panic_window });
            let reason = cause.to_string();
            m.failed.insert(*from.hash.as_bytes(), Failure { version: from.version.clone(), gate: None, cause });
            m.good.retain(|g| g.hash != from.hash);
            m.stack.retain(|h| *h != from.hash);
            m.last_error = Some(format!("{}: {reason}", from.version));
            m.panics.clear();
            let candidates: Vec<VersionSummary> = m.good.iter().rev().cloned().collect();
            (from, panics, candidates)
        };
        let to = self.fall_back(name, candidates);
        let record = Record::of(name, &from, Happened::Demoted { panics, to: to.clone() });
        Some(self.demoted(name, from, to, panics, None, record))
    }
}
