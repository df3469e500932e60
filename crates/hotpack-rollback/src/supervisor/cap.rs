//! The version cap ([`Policy::max_versions`]): a refusal that runs nothing, checked before a
//! candidate is loaded.

use super::*;

impl Supervisor {
    /// Refuses `hash` when mapping it would pass [`Policy::max_versions`]: recorded in the
    /// module's history and status (when `version` is known, so `name` is a module's),
    /// emitted, and not marked failed (a restarted host, with nothing mapped, takes it).
    /// Versions already mapped in this process never count.
    pub(super) fn check_version_cap(
        &self,
        name: &str,
        version: Option<&semver::Version>,
        hash: &blake3::Hash,
    ) -> Result<(), RollbackError> {
        let Some(cap) = self.inner.policy.max_versions else { return Ok(()) };
        let view = self.inner.cache.view();
        let mapped = view.mapped().libraries;
        if mapped < cap || view.is_mapped(hash) {
            return Ok(());
        }
        let err = || RollbackError::OverVersionCap {
            name: name.to_owned(),
            version: version.cloned(),
            hash: *hash,
            mapped,
            cap,
        };
        let record = Record::now(name, version.cloned(), Some(*hash), Happened::Refused { error: Arc::new(err()) });
        if version.is_some() {
            let mut st = lock(&self.inner.state);
            let m = st.modules.entry(name.to_owned()).or_default();
            m.push_history(record.clone());
            m.last_error = Some(err().to_string());
        }
        self.emit(RollbackEvent::Record(record));
        Err(err())
    }
}
