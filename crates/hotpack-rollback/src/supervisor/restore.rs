//! Restore after a restart: the journaled good versions back through the restore plan of the gate pipeline.

use super::*;

impl Supervisor {
    // ----- restore -----------------------------------------------------------------------

    /// After a restart: brings every journaled module back on its pinned or last good
    /// version, from the library copy in the object store (a private file, its blake3
    /// checked), through the gates Load, Abi, Init and Probe. When that version cannot come
    /// back, older good versions are tried; a version that failed or was demoted is never
    /// started. Modules already serving that version are left alone.
    ///
    /// Every other retained good version whose stored copy verifies is loaded too (not
    /// started: no init hook runs until it serves again), so [`rollback`](Self::rollback)
    /// and [`rollback_to`](Self::rollback_to) reach them in the order they ran.
    ///
    /// # Errors
    ///
    /// None today beyond what the report carries; the `Result` leaves room for a journal
    /// that cannot be written.
    pub fn restore(&self) -> Result<RestoreReport, RollbackError> {
        Ok(self.with_ops(|| self.restore_locked()))
    }

    pub(super) fn restore_locked(&self) -> RestoreReport {
        let mut report = RestoreReport::default();
        let Some(path) = self.inner.journal.clone() else { return report };
        let dir = journal_dir(&path);
        let plan: Vec<(String, Vec<VersionSummary>)> = {
            let st = lock(&self.inner.state);
            st.modules
                .iter()
                .map(|(name, m)| {
                    let mut order: Vec<VersionSummary> = Vec::new();
                    order.extend(m.pinned.clone());
                    order.extend(m.good.iter().rev().cloned());
                    order.retain(|v| !m.is_failed(&v.hash));
                    (name.clone(), order)
                })
                .filter(|(_, order)| !order.is_empty())
                .collect()
        };
        let cache = &self.inner.cache;
        // Providers before dependents, whatever the journal's order: a module whose provider
        // is not back yet waits for a later pass (passes repeat while one makes progress; the
        // last one reports what still fails).
        let mut plan = plan;
        let mut last_pass = false;
        let serving = |cache: &Cache| cache.modules().iter().filter(|m| m.current.is_some()).count();
        loop {
            let before = serving(cache);
            let mut deferred = Vec::new();
            for (name, order) in std::mem::take(&mut plan) {
                if self.restore_one(&name, &order, &dir, &mut report, !last_pass) {
                    deferred.push((name, order));
                }
            }
            if deferred.is_empty() || last_pass {
                break;
            }
            plan = deferred;
            // No pass restored anything: the next one is the last and reports what waits.
            last_pass = serving(cache) == before;
        }
        report
    }

    /// Restores `name` from its first version in `order` that comes back. `defer`: a version
    /// refused only for a missing provider is put off (returns `true`) instead of reported.
    fn restore_one(
        &self,
        name: &str,
        order: &[VersionSummary],
        dir: &Path,
        report: &mut RestoreReport,
        defer: bool,
    ) -> bool {
        let cache = &self.inner.cache;
        let name = name.to_owned();
        {
            let order = order.to_vec();
            let mut done = false;
            for v in order {
                if cache.current(&name).is_some_and(|c| *c.hash() == v.hash) {
                    report.restored.push(deployed(&name, &v, Happened::Unchanged));
                    done = true;
                    break;
                }
                let problem = |error: RestoreError| RestoreProblem {
                    name: name.clone(),
                    version: Some(v.version.clone()),
                    hash: Some(v.hash),
                    error: Arc::new(error),
                };
                if let Err(reason) = self.trusted_signer(&name, &v.hash) {
                    report.problems.push(problem(reason));
                    continue;
                }
                let bytes = match journal::read_object(dir, &v.hash) {
                    Ok(b) => b,
                    Err(e) => {
                        report.problems.push(problem(RestoreError::Object(e)));
                        continue;
                    }
                };
                if let Some(iso) = self.isolation() {
                    // Under isolation the stored copy runs in a worker; the host never maps it.
                    if let Err(error) = self.iso_restore(&iso, &name, &v, &bytes) {
                        report.problems.push(problem(error));
                        continue;
                    }
                    report.restored.push(self.promoted(&name, v, Happened::Restored));
                    self.iso_keep_retained(&name, dir, report);
                    done = true;
                    break;
                }
                let module =
                    match cache.loader().load_bytes_with(&bytes, &v.source.path(), Materialize::ContentAddressed) {
                        Ok(m) => m,
                        Err(e) => {
                            report.problems.push(problem(RestoreError::Load { gate: gates::load_gate(&e), error: e }));
                            continue;
                        }
                    };
                if module.name() != name || *module.version() != v.version {
                    report.problems.push(problem(RestoreError::Mismatch {
                        name: module.name().to_owned(),
                        version: module.version().clone(),
                    }));
                    continue;
                }
                cache.register(module.clone(), v.source.clone());
                let probe = self.probe_of(&name);
                if let Err(f) = gates::run(cache, &module, probe.as_ref(), gates::RESTORE, &[]) {
                    if defer && matches!(f.error, GateError::Cache(CacheError::MissingProvider { .. })) {
                        return true;
                    }
                    // Environmental failures (a database down at start) do not condemn a
                    // version that served well; it is skipped this time.
                    if cache.current(&name).is_none_or(|c| *c.hash() != v.hash) {
                        let _ = cache.retire(&name, &v.hash);
                    }
                    report.problems.push(problem(RestoreError::Gate { gate: f.gate, error: f.error }));
                    continue;
                }
                report.restored.push(self.promoted(&name, v, Happened::Restored));
                self.restore_retained(&name, dir, report);
                done = true;
                break;
            }
            if !done {
                report.problems.push(RestoreProblem {
                    name: name.clone(),
                    version: None,
                    hash: None,
                    error: Arc::new(RestoreError::NothingRestored),
                });
            }
        }
        false
    }

    /// With trusted keys: whether one of them signed the bundle `hash` came from, checked on
    /// the signature proof stored beside the object (`objects/<hash>.sig`): the signature,
    /// the key, and that a signed manifest lists this module with this library. A claim in
    /// the journal is never believed (its checksum is plain blake3: anyone who can write the
    /// file can forge it).
    fn trusted_signer(&self, name: &str, hash: &blake3::Hash) -> Result<(), RestoreError> {
        let trusted = &self.inner.policy.trusted_keys;
        if trusted.is_empty() {
            return Ok(());
        }
        let Some(path) = &self.inner.journal else { return Err(RestoreError::Unsigned) };
        let bytes = journal::read_proof(&journal_dir(path), hash).map_err(RestoreError::Object)?;
        let proof = bytes.ok_or(RestoreError::Unsigned)?;
        let proof = hotpack_archive::SignatureProof::from_bytes(&proof).map_err(RestoreError::Signature)?;
        match proof.check(trusted, name, hotpack_abi::TARGET, hash) {
            Ok(_) => Ok(()),
            Err(hotpack_archive::ProofError::Untrusted { fingerprint }) => {
                Err(RestoreError::NoLongerTrusted { fingerprint: fingerprint.to_string() })
            }
            Err(e) => Err(RestoreError::Signature(e)),
        }
    }

    /// Under isolation: keeps the checked stored bytes of the retained good versions of
    /// `name` other than the one serving (not started), and rebuilds the activation stack.
    fn iso_keep_retained(&self, name: &str, dir: &Path, report: &mut RestoreReport) {
        let (good, active) = {
            let st = lock(&self.inner.state);
            let Some(m) = st.modules.get(name) else { return };
            let good: Vec<VersionSummary> = m.good.iter().filter(|g| !m.is_failed(&g.hash)).cloned().collect();
            (good, m.active.as_ref().map(|a| a.hash))
        };
        let mut ran = Vec::new();
        for v in good {
            if Some(v.hash) != active {
                let kept = self
                    .trusted_signer(name, &v.hash)
                    .and_then(|()| journal::read_object(dir, &v.hash).map_err(RestoreError::Object))
                    .and_then(|bytes| self.iso_keep(name, &v, &bytes));
                if let Err(error) = kept {
                    report.problems.push(RestoreProblem {
                        name: name.to_owned(),
                        version: Some(v.version.clone()),
                        hash: Some(v.hash),
                        error: Arc::new(RestoreError::NotRetained(Box::new(error))),
                    });
                    continue;
                }
            }
            ran.push(v.hash);
        }
        let mut st = lock(&self.inner.state);
        if let Some(m) = st.modules.get_mut(name) {
            let top = std::mem::take(&mut m.stack);
            m.stack = ran;
            m.stack.extend(top.into_iter().filter(|h| Some(*h) == active));
        }
    }

    /// Loads the retained good versions of `name` other than the one serving (each from its
    /// checked stored copy) and rebuilds the activation stack in the order they ran.
    fn restore_retained(&self, name: &str, dir: &Path, report: &mut RestoreReport) {
        let cache = &self.inner.cache;
        let (good, active) = {
            let st = lock(&self.inner.state);
            let Some(m) = st.modules.get(name) else { return };
            let good: Vec<VersionSummary> = m.good.iter().filter(|g| !m.is_failed(&g.hash)).cloned().collect();
            (good, m.active.as_ref().map(|a| a.hash))
        };
        let mut ran = Vec::new();
        for v in good {
            if Some(v.hash) == active {
                continue;
            }
            if cache.version(name, &v.hash).is_none() {
                let problem = |error: RestoreError| RestoreProblem {
                    name: name.to_owned(),
                    version: Some(v.version.clone()),
                    hash: Some(v.hash),
                    error: Arc::new(RestoreError::NotRetained(Box::new(error))),
                };
                let module = match self
                    .trusted_signer(name, &v.hash)
                    .and_then(|()| journal::read_object(dir, &v.hash).map_err(RestoreError::Object))
                    .and_then(|bytes| {
                        cache
                            .loader()
                            .load_bytes_with(&bytes, &v.source.path(), Materialize::ContentAddressed)
                            .map_err(|e| RestoreError::Load { gate: gates::load_gate(&e), error: e })
                    }) {
                    Ok(m) => m,
                    Err(error) => {
                        report.problems.push(problem(error));
                        continue;
                    }
                };
                if module.name() != name || *module.version() != v.version {
                    report.problems.push(problem(RestoreError::Mismatch {
                        name: module.name().to_owned(),
                        version: module.version().clone(),
                    }));
                    continue;
                }
                cache.register(module, v.source.clone());
            }
            ran.push(v.hash);
        }
        let mut st = lock(&self.inner.state);
        if let Some(m) = st.modules.get_mut(name) {
            let top = std::mem::take(&mut m.stack);
            m.stack = ran;
            m.stack.extend(top.into_iter().filter(|h| Some(*h) == active));
        }
    }
}
