//! Probation and retention: when an active version becomes good, and which retained versions the cache forgets.

use super::*;

impl Supervisor {
    // ----- probation, retention, journal -----------------------------------------------

    /// Makes the active versions that served their probation the last good ones (and
    /// journals them). Every supervisor operation does this first; hosts with a non-zero
    /// [`Policy::probation`] may also call it from a timer.
    pub fn settle(&self) {
        self.with_ops(|| {});
    }

    pub(super) fn settle_locked(&self) {
        let probation = self.inner.policy.probation;
        if probation.is_zero() {
            return;
        }
        let changed = {
            let mut st = lock(&self.inner.state);
            let mut changed = false;
            for m in st.modules.values_mut() {
                if let (Some(a), Some(at)) = (m.active.clone(), m.promoted_at)
                    && !m.is_good(&a.hash)
                    && !m.is_failed(&a.hash)
                    && at.elapsed() >= probation
                {
                    m.make_good(a);
                    changed = true;
                }
            }
            changed
        };
        if changed {
            self.write_journal();
        }
    }

    pub(super) fn retain(&self, name: &str) {
        let cache = &self.inner.cache;
        let keep = self.inner.policy.retain;
        let (protected, retired) = {
            let st = lock(&self.inner.state);
            let Some(m) = st.modules.get(name) else { return };
            let mut protected: HashSet<blake3::Hash> = HashSet::new();
            protected.extend(m.active.as_ref().map(|a| a.hash));
            protected.extend(m.pinned.as_ref().map(|p| p.hash));
            protected.extend(m.good.iter().rev().take(2).map(|g| g.hash));
            (protected, Vec::<VersionSummary>::new())
        };
        let mut retired = retired;
        let versions = cache.versions(name);
        let mut excess = versions.len().saturating_sub(keep);
        for v in versions {
            if excess == 0 {
                break;
            }
            if protected.contains(&v.hash) || v.current {
                continue;
            }
            if cache.retire(name, &v.hash).is_ok() {
                excess -= 1;
                retired.push(VersionSummary { version: v.version, hash: v.hash, source: v.source });
            }
        }
        if retired.is_empty() {
            return;
        }
        {
            let mut st = lock(&self.inner.state);
            if let Some(m) = st.modules.get_mut(name) {
                m.good.retain(|g| !retired.iter().any(|r| r.hash == g.hash));
                m.stack.retain(|h| !retired.iter().any(|r| r.hash == *h));
            }
        }
        for v in retired {
            self.emit(RollbackEvent::Record(Record::of(name, &v, Happened::Retired)));
        }
    }
}
