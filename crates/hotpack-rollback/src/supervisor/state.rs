//! Journal state: a module's supervised state to and from its journal form, and writing the journal and its object store.

use super::*;

impl ModState {
    pub(super) fn to_journal(&self) -> JModule {
        let jv = |v: &VersionSummary| JVersion {
            version: v.version.to_string(),
            hash: v.hash.to_hex().to_string(),
            source: JSource::from_source(&v.source),
        };
        JModule {
            active: self.active.as_ref().map(jv),
            last_good: self.last_good().map(jv),
            good: self.good.iter().map(jv).collect(),
            highest_seen: self.highest_seen.as_ref().map(ToString::to_string),
            pinned: self.pinned.as_ref().map(|p| p.hash.to_hex().to_string()),
            failed: self
                .failed
                .iter()
                .map(|(h, f)| JFailed {
                    version: f.version.to_string(),
                    hash: blake3::Hash::from_bytes(*h).to_hex().to_string(),
                    gate: f.gate.map(|g| g.as_str().to_owned()),
                    reason: f.cause.to_string(),
                })
                .collect(),
            // Format 2 writes no signature claims: the proofs are stored with the objects.
            signed: BTreeMap::new(),
        }
    }

    pub(super) fn from_journal(j: &JModule) -> Result<ModState, JournalError> {
        let version = |v: &JVersion| -> Result<VersionSummary, JournalError> {
            Ok(VersionSummary {
                version: journal::parse_version(&v.version)?,
                hash: journal::parse_hash(&v.hash)?,
                source: v.source.to_source()?,
            })
        };
        let mut m = ModState::default();
        for f in &j.failed {
            let failure = Failure {
                version: journal::parse_version(&f.version)?,
                gate: journal::parse_gate(&f.gate)?,
                cause: Arc::new(FailureCause::Journaled(ReportedError::new(f.reason.clone()))),
            };
            m.failed.insert(*journal::parse_hash(&f.hash)?.as_bytes(), failure);
        }
        for g in &j.good {
            let v = version(g)?;
            if !m.is_failed(&v.hash) {
                m.activated.insert(v.hash, v.version.clone());
                m.make_good(v);
            }
        }
        if let Some(lg) = &j.last_good {
            let v = version(lg)?;
            if !m.is_failed(&v.hash) {
                m.activated.insert(v.hash, v.version.clone());
                m.make_good(v);
            }
        }
        if let Some(a) = &j.active {
            // Only to know it ran here; it is resumed only if it is also good.
            let v = version(a)?;
            if !m.is_failed(&v.hash) && m.is_good(&v.hash) {
                m.activated.insert(v.hash, v.version.clone());
            }
        }
        // `j.signed` (format 1) is never believed: a restart checks the stored proofs.
        m.highest_seen = j.highest_seen.as_deref().map(journal::parse_version).transpose()?;
        if let Some(p) = &j.pinned {
            let h = journal::parse_hash(p)?;
            m.pinned = m.good.iter().find(|g| g.hash == h).cloned();
        }
        Ok(m)
    }
}

impl Supervisor {
    pub(super) fn store_object(&self, name: &str, v: &VersionSummary) {
        let Some(module) = self.inner.cache.version(name, &v.hash) else { return };
        // A failure is recorded (not durable) by `store_module`.
        let _ = self.store_module(&module);
    }

    /// Stores the library of `module` beside the journal (nothing without a journal), so a
    /// restart can load it. Until a store succeeds after a failure the host is *not
    /// durable* ([`journal_problem`](Self::journal_problem)).
    pub(super) fn store_module(&self, module: &Module) -> Result<(), Arc<JournalError>> {
        self.store_version(module.name(), module.hash(), ObjectFrom::Path(module.object_path()))
    }

    /// Stores the object (and the signature proof, when a trusted key signed it) a restart
    /// loads for version `hash` of `name`: the one store both deploy plans (in process and
    /// in a worker) run before anything is promoted.
    pub(super) fn store_version(
        &self,
        name: &str,
        hash: &blake3::Hash,
        from: ObjectFrom<'_>,
    ) -> Result<(), Arc<JournalError>> {
        let Some(path) = &self.inner.journal else { return Ok(()) };
        let dir = journal_dir(path);
        let proof = lock(&self.inner.state).modules.get(name).and_then(|m| m.proofs.get(hash).cloned());
        let object = match from {
            ObjectFrom::Path(from) => journal::store_object(&dir, hash, from),
            ObjectFrom::Bytes(bytes) => journal::store_object_bytes(&dir, hash, bytes),
        };
        let stored = object.and_then(|wrote| match &proof {
            Some(proof) => journal::store_proof(&dir, hash, proof).map(|()| wrote),
            None => Ok(wrote),
        });
        match stored {
            Ok(wrote) => {
                let mut problem = lock(&self.inner.store_problem);
                let cleared = problem.as_ref().is_some_and(|(failed, _)| wrote || failed == hash);
                if cleared {
                    *problem = None;
                }
                drop(problem);
                if cleared && lock(&self.inner.journal_problem).is_none() {
                    self.emit(RollbackEvent::JournalRecovered { path: path.clone() });
                }
                Ok(())
            }
            Err(problem) => {
                let error = Arc::new(problem);
                *lock(&self.inner.store_problem) = Some((*hash, Arc::clone(&error)));
                self.emit(RollbackEvent::JournalFailed { path: path.clone(), error: Arc::clone(&error) });
                Err(error)
            }
        }
    }

    pub(super) fn journal_failed(&self, path: &Path, error: JournalError) {
        let error = Arc::new(error);
        *lock(&self.inner.journal_problem) = Some(Arc::clone(&error));
        self.emit(RollbackEvent::JournalFailed { path: path.to_path_buf(), error });
    }

    /// Why the journal could not record the latest change, if it could not: until a write
    /// succeeds the host is *not durable* (a restart may resume an older version). `None`
    /// without a journal.
    pub fn journal_problem(&self) -> Option<Arc<JournalError>> {
        lock(&self.inner.journal_problem)
            .clone()
            .or_else(|| lock(&self.inner.store_problem).as_ref().map(|(_, e)| Arc::clone(e)))
    }

    pub(super) fn write_journal(&self) {
        let Some(path) = &self.inner.journal else { return };
        let (bytes, keep) = {
            let st = lock(&self.inner.state);
            let modules: BTreeMap<String, JModule> =
                st.modules.iter().map(|(n, m)| (n.clone(), m.to_journal())).collect();
            let keep: HashSet<String> = st
                .modules
                .values()
                .flat_map(|m| m.good.iter().chain(m.active.iter()).map(|g| g.hash.to_hex().to_string()))
                .collect();
            (journal::encode(&modules), keep)
        };
        match bytes.and_then(|bytes| journal::write_atomic(path, &bytes)) {
            Ok(()) => {
                journal::collect_garbage(&journal_dir(path), &keep);
                if lock(&self.inner.journal_problem).take().is_some() && lock(&self.inner.store_problem).is_none() {
                    self.emit(RollbackEvent::JournalRecovered { path: path.clone() });
                }
            }
            Err(problem) => self.journal_failed(path, problem),
        }
    }
}

/// Where the bytes of an object to store come from: a library's immutable path (in process),
/// or the verified bytes a worker was given.
pub(super) enum ObjectFrom<'a> {
    Path(&'a Path),
    Bytes(&'a [u8]),
}
