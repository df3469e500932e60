//! Restore after a restart: the journaled good versions back through the restore plan of the gate pipeline.

use super::candidate::Run;
use super::pipeline::Stop;
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

    /// Restores `name` from its first version in `order` that comes back, each through the
    /// restore plan. `defer`: a version refused only for a missing provider is put off
    /// (returns `true`) instead of reported.
    fn restore_one(
        &self,
        name: &str,
        order: &[VersionSummary],
        dir: &Path,
        report: &mut RestoreReport,
        defer: bool,
    ) -> bool {
        let cache = &self.inner.cache;
        for v in order {
            if cache.current(name).is_some_and(|c| *c.hash() == v.hash) {
                report.restored.push(deployed(name, v, Happened::Unchanged));
                return false;
            }
            let plans = (Plan::Restore, Plan::IsolatedRestore);
            let isolated = self.isolation();
            let run = Run::stored(plans, isolated.clone(), name, v, dir, defer);
            match self.run_restore(run) {
                Ok(done) => {
                    report.restored.extend(done);
                    match isolated {
                        Some(_) => self.iso_keep_retained(name, dir, report),
                        None => self.restore_retained(name, dir, report),
                    }
                    return false;
                }
                Err(Stop::Defer) => return true,
                Err(Stop::Restore(error)) => report.problems.push(RestoreProblem {
                    name: name.to_owned(),
                    version: Some(v.version.clone()),
                    hash: Some(v.hash),
                    error: Arc::new(*error),
                }),
            }
        }
        report.problems.push(RestoreProblem {
            name: name.to_owned(),
            version: None,
            hash: None,
            error: Arc::new(RestoreError::NothingRestored),
        });
        false
    }

    /// With trusted keys: whether one of them signed the bundle `hash` came from, checked on
    /// the signature proof stored beside the object (`objects/<hash>.sig`): the signature,
    /// the key, and that a signed manifest lists this module with this library. A claim in
    /// the journal is never believed (its checksum is plain blake3: anyone who can write the
    /// file can forge it).
    pub(super) fn trusted_signer(&self, name: &str, hash: &blake3::Hash) -> Result<(), RestoreError> {
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

    /// Loads (in process) or keeps (under isolation) the retained good versions of `name`
    /// other than the one serving, each through the retain plan from its checked stored
    /// copy, and rebuilds the activation stack in the order they ran.
    fn restore_retained(&self, name: &str, dir: &Path, report: &mut RestoreReport) {
        self.retain_stored(name, dir, report, None);
    }

    /// As [`restore_retained`](Self::restore_retained), under isolation.
    fn iso_keep_retained(&self, name: &str, dir: &Path, report: &mut RestoreReport) {
        self.retain_stored(name, dir, report, self.isolation());
    }

    fn retain_stored(&self, name: &str, dir: &Path, report: &mut RestoreReport, iso: Option<Isolation>) {
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
                // (Under isolation the serving version keeps its place among them too.)
                if iso.is_some() {
                    ran.push(v.hash);
                }
                continue;
            }
            // In process, a version still registered needs nothing.
            if iso.is_some() || cache.version(name, &v.hash).is_none() {
                let run = Run::stored((Plan::Retain, Plan::IsolatedRetain), iso.clone(), name, &v, dir, false);
                if let Err(Stop::Restore(error)) = self.run_restore(run) {
                    report.problems.push(RestoreProblem {
                        name: name.to_owned(),
                        version: Some(v.version.clone()),
                        hash: Some(v.hash),
                        error: Arc::new(RestoreError::NotRetained(error)),
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
}
