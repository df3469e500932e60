//! Deploying: bundles, files and host-loaded modules through the gate pipeline, the refusals that run nothing, and what a failed gate leaves behind.

use super::*;

impl Supervisor {
    // ----- deploying -------------------------------------------------------------------

    /// Deploys every module of the bundle at `path`, each through every gate from
    /// [`Gate::Verify`] on. A bundle whose structure or manifests are refused is refused as
    /// a whole; then each module's library is read and verified (the Verify gate of that
    /// module); other entries are checked when they are read. Modules are handled
    /// independently: those that pass are promoted even when another fails.
    ///
    /// # Errors
    ///
    /// The first module's error ([`RollbackError::GateFailed`], `AlreadyFailed`,
    /// `Downgrade`, `Pinned`); every outcome is in the history and status of its module.
    pub fn deploy_bundle(&self, path: &Path) -> Result<Vec<Deployed>, RollbackError> {
        self.with_ops(|| self.deploy_bundle_locked(path, Select::All))
    }

    /// Deploys what `path` holds, by its kind: a bundle (`.zip`, every module), a
    /// `bundle.zip/sub/dir` prefix (the modules of that bundle whose directory is `sub/dir/`
    /// or below it, as the search path reads the same path), or a plain library file. The
    /// one place that decides how a path is deployed.
    ///
    /// # Errors
    ///
    /// As [`deploy_bundle`](Self::deploy_bundle); [`RollbackError::Cache`] with
    /// [`CacheError::NoModuleDir`] when no module of the bundle is under the prefix.
    pub fn deploy_path(&self, path: &Path) -> Result<Vec<Deployed>, RollbackError> {
        if is_bundle(path) {
            self.deploy_bundle(path)
        } else if let Some((bundle, prefix)) = hotpack_archive::split_bundle_prefix(path) {
            self.with_ops(|| self.deploy_bundle_locked(&bundle, Select::Prefix(&prefix)))
        } else {
            self.deploy_file(path).map(|d| vec![d])
        }
    }

    /// As [`deploy_path`](Self::deploy_path), from the bytes a watcher already read and
    /// hashed (`hotpack_detect::Change::content` and `hash`): the file is not read again
    /// and the bytes are not hashed again. A plain library is materialized without an
    /// fsync ([`Materialize::ContentAddressedUnsynced`]): the durable copy of a good version
    /// is the journal's.
    ///
    /// `hash` must be blake3 of `content` (the watcher's confirmed fingerprint).
    ///
    /// # Errors
    ///
    /// As [`deploy_bundle`](Self::deploy_bundle).
    pub fn deploy_confirmed(
        &self,
        path: &Path,
        content: std::sync::Arc<[u8]>,
        hash: blake3::Hash,
    ) -> Result<Vec<Deployed>, RollbackError> {
        self.with_ops(|| {
            if is_bundle(path) {
                match Bundle::from_shared(content, path, self.inner.cache.limits()) {
                    Ok(bundle) => self.deploy_opened_bundle(&bundle, Select::All),
                    Err(e) => Err(self.gate_failed_unnamed(
                        path.display().to_string(),
                        None,
                        Gate::Verify,
                        GateError::Bundle(e),
                    )),
                }
            } else {
                self.deploy_file_bytes(path, &content, Some(hash), None, Materialize::ContentAddressedUnsynced)
                    .map(|d| vec![d])
            }
        })
    }

    /// Imports `name` through the gates: resolves it on the cache's search path
    /// ([`Cache::resolve`], the cache's own resolution) and deploys exactly the version found
    /// there, refusing it unless it says it is `name` — the same path forms and the same
    /// name check as [`Cache::import`], with every gate.
    ///
    /// # Errors
    ///
    /// [`RollbackError::Cache`] when it is not found or is another module; as
    /// [`deploy_bundle`](Self::deploy_bundle) otherwise.
    pub fn import(&self, name: &str) -> Result<Deployed, RollbackError> {
        let source = self.inner.cache.resolve(name).map_err(RollbackError::Cache)?;
        self.deploy_source(name, &source)
    }

    /// Deploys the version of `name` at `source` (as [`Cache::resolve`] returned it): a
    /// library file, or one module directory of a bundle.
    ///
    /// # Errors
    ///
    /// As [`import`](Self::import).
    pub fn deploy_source(&self, name: &str, source: &Source) -> Result<Deployed, RollbackError> {
        self.with_ops(|| match source {
            Source::File(path) => self.deploy_file_locked(path, Some(name)),
            Source::Bundle { bundle, dir } => {
                let mut done = self.deploy_bundle_locked(bundle, Select::One { dir, name })?;
                done.pop().ok_or_else(|| {
                    RollbackError::Cache(CacheError::NoModuleDir { path: bundle.clone(), dir: dir.clone() })
                })
            }
            other => Err(RollbackError::Cache(CacheError::UnsupportedLocation {
                name: name.to_owned(),
                location: other.to_string(),
            })),
        })
    }

    /// `select`: which module directories of the bundle are deployed.
    pub(super) fn deploy_bundle_locked(&self, path: &Path, select: Select<'_>) -> Result<Vec<Deployed>, RollbackError> {
        let cache = &self.inner.cache;
        let bundle = match Bundle::open(path, cache.limits()) {
            Ok(b) => b,
            Err(e) => {
                return Err(self.gate_failed_unnamed(
                    path.display().to_string(),
                    None,
                    Gate::Verify,
                    GateError::Bundle(e),
                ));
            }
        };
        self.deploy_opened_bundle(&bundle, select)
    }

    fn deploy_opened_bundle(&self, bundle: &Bundle, select: Select<'_>) -> Result<Vec<Deployed>, RollbackError> {
        let cache = &self.inner.cache;
        let path = bundle.path();
        let target = hotpack_abi::TARGET;
        let signer = match gates::check_trust(bundle, &self.inner.policy.trusted_keys) {
            Ok(signer) => signer,
            Err(e) => return Err(self.refuse_bundle(bundle, path, Gate::Signature, e)),
        };
        // Each module's library is read and verified against its manifest digest below (the
        // Verify gate); other entries are verified when they are read.
        if signer.is_some()
            && let Ok(Some(proof)) = bundle.signature_proof()
        {
            // Stored beside each module's object (`objects/<hash>.sig`), so a restart under
            // trusted keys checks the signature itself instead of believing the journal.
            let proof: Arc<[u8]> = proof.to_bytes().into();
            let mut st = lock(&self.inner.state);
            for m in bundle.modules() {
                if let Some(d) = m.manifest().library(target).and_then(|rel| bundle.digest(m.name(), rel)) {
                    let entry = st.modules.entry(m.name().to_owned()).or_default();
                    entry.proofs.insert(blake3::Hash::from_bytes(d.blake3), Arc::clone(&proof));
                }
            }
        }
        let mut done = Vec::new();
        let mut first_err = None;
        if let Select::Prefix(prefix) = select
            && !bundle.modules().iter().any(|m| select.wants(m.dir()))
        {
            return Err(RollbackError::Cache(CacheError::NoModuleDir {
                path: path.to_path_buf(),
                dir: prefix.to_owned(),
            }));
        }
        if let Select::One { dir, name: expected } = select {
            match bundle.modules().iter().find(|m| m.dir() == dir) {
                None => {
                    return Err(RollbackError::Cache(CacheError::NoModuleDir {
                        path: path.to_path_buf(),
                        dir: dir.to_owned(),
                    }));
                }
                Some(m) if m.name() != expected => {
                    return Err(RollbackError::Cache(CacheError::NameMismatch {
                        path: path.to_path_buf(),
                        expected: expected.to_owned(),
                        found: m.name().to_owned(),
                    }));
                }
                Some(_) => {}
            }
        }
        for m in bundle.modules().iter().filter(|m| select.wants(m.dir())) {
            let name = m.name().to_owned();
            let version = m.manifest().meta.version.clone();
            // The library is the one entry a deploy needs: read and verified (size, CRC,
            // blake3 against the manifest) once, and handed to the loader with that hash.
            let claimed = m
                .manifest()
                .library(target)
                .and_then(|rel| bundle.digest(m.name(), rel))
                .map(|d| blake3::Hash::from_bytes(d.blake3));
            let result = match (bundle.read_library(&name, target), claimed) {
                (Err(e), _) if matches!(e.kind(), BundleErrorKind::NoLibraryForTarget { .. }) => {
                    Err(self.gate_failed_named(&name, version.clone(), None, Gate::Load, GateError::Bundle(e), false))
                }
                (Err(e), claimed) => Err(self.gate_failed_named(
                    &name,
                    version.clone(),
                    claimed,
                    Gate::Verify,
                    GateError::Bundle(e),
                    false,
                )),
                (Ok(bytes), claimed) => {
                    // The manifest's digest was just checked against these bytes by the read.
                    let hash = claimed.unwrap_or_else(|| blake3::hash(&bytes));
                    match self.precheck(&name, &version, &hash) {
                        Err(e) => Err(e),
                        Ok(Some(unchanged)) => Ok(unchanged),
                        Ok(None) if let Some(iso) = self.isolation() => {
                            // The candidate's first worker is its preflight: the host never
                            // maps it.
                            let source = Source::Bundle { bundle: path.to_path_buf(), dir: m.dir().to_owned() };
                            self.deploy_isolated(&iso, Some((&name, &version)), None, &bytes, hash, source)
                        }
                        Ok(None) => match self
                            .preflight(&PreflightCandidate {
                                path,
                                module_dir: Some(m.dir()),
                                name: Some(&name),
                                version: Some(&version),
                                hash: &hash,
                            })
                            .map_err(|e| {
                                self.gate_failed_named(&name, version.clone(), Some(hash), Gate::Preflight, e, true)
                            })
                            .and_then(|()| {
                                cache.load_bundle_module_from(bundle, m.dir(), &bytes, &hash).map_err(|e| {
                                    self.gate_failed_named(
                                        &name,
                                        version.clone(),
                                        Some(hash),
                                        gates::cache_gate(&e),
                                        GateError::Cache(e),
                                        true,
                                    )
                                })
                            }) {
                            Err(e) => Err(e),
                            Ok((module, source)) => self.run_gates(Candidate { module, source }),
                        },
                    }
                }
            };
            match result {
                Ok(d) => done.push(d),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// A whole bundle refused at `gate` (signature, verification): the failure is recorded
    /// for each of its modules (their hashes are not marked), nothing was written or loaded.
    fn refuse_bundle(&self, bundle: &Bundle, path: &Path, gate: Gate, error: GateError) -> RollbackError {
        let error = Arc::new(error);
        let mut first = None;
        for m in bundle.modules() {
            let meta = &m.manifest().meta;
            let claimed = m
                .manifest()
                .library(hotpack_abi::TARGET)
                .and_then(|rel| bundle.digest(m.name(), rel))
                .map(|d| blake3::Hash::from_bytes(d.blake3));
            self.record_gate_failure(m.name(), &meta.version, claimed, gate, &error, false);
            first.get_or_insert((m.name().to_owned(), meta.version.clone(), claimed));
        }
        match first {
            Some((name, version, hash)) => {
                RollbackError::GateFailed { name, version: Some(version), hash, gate, error }
            }
            None => self.gate_failed_unnamed(path.display().to_string(), None, gate, error),
        }
    }

    /// Deploys a plain library file: gates from [`Gate::Load`] on.
    ///
    /// # Errors
    ///
    /// As [`deploy_bundle`](Self::deploy_bundle).
    pub fn deploy_file(&self, path: &Path) -> Result<Deployed, RollbackError> {
        self.with_ops(|| self.deploy_file_locked(path, None))
    }

    /// `expect`: the name the library must have (nothing runs when it has another).
    pub(super) fn deploy_file_locked(&self, path: &Path, expect: Option<&str>) -> Result<Deployed, RollbackError> {
        let bytes = std::fs::read(path).map_err(|source| {
            self.gate_failed_unnamed(
                path.display().to_string(),
                None,
                Gate::Load,
                GateError::Read { path: path.to_path_buf(), source },
            )
        })?;
        self.deploy_file_bytes(path, &bytes, None, expect, Materialize::ContentAddressed)
    }

    /// A plain library's bytes (`hash`: their blake3, when already known).
    fn deploy_file_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        hash: Option<blake3::Hash>,
        expect: Option<&str>,
        how: Materialize,
    ) -> Result<Deployed, RollbackError> {
        // A plain library carries no signature: with trusted keys it is refused before a
        // byte of it is written or loaded, on every path that deploys a file (by path, by
        // import, or from a watcher's confirmed bytes).
        if !self.inner.policy.trusted_keys.is_empty() {
            let label = path.display().to_string();
            let error = GateError::UnsignedFile { path: path.to_path_buf() };
            return Err(self.gate_failed_unnamed(expect.map_or(label, str::to_owned), None, Gate::Signature, error));
        }
        let hash = hash.unwrap_or_else(|| blake3::hash(bytes));
        if let Some(err) = self.failed_anywhere(&hash) {
            return Err(err);
        }
        self.check_version_cap(&path.display().to_string(), None, &hash)?;
        if let Some(iso) = self.isolation() {
            return self.deploy_isolated(&iso, None, expect, bytes, hash, Source::File(path.to_path_buf()));
        }
        let candidate = PreflightCandidate { path, module_dir: None, name: expect, version: None, hash: &hash };
        if let Err(e) = self.preflight(&candidate) {
            return Err(self.gate_failed_unnamed(path.display().to_string(), Some(hash), Gate::Preflight, e));
        }
        let module = match self.inner.cache.loader().load_bytes_hashed(bytes, &hash, path, how) {
            Ok(m) => m,
            Err(e) => {
                let label = path.display().to_string();
                return Err(self.gate_failed_unnamed(label, Some(hash), gates::load_gate(&e), GateError::Load(e)));
            }
        };
        let source = Source::File(path.to_path_buf());
        if let Some(name) = expect {
            Cache::check_name(name, &source, &module).map_err(RollbackError::Cache)?;
        }
        self.deploy_locked(module, source)
    }

    /// Deploys a module the host loaded itself: gates from [`Gate::Abi`] on. With
    /// [`Policy::trusted_keys`] it is refused at [`Gate::Signature`]
    /// ([`GateError::HostLoaded`]): a loaded module carries no signature.
    ///
    /// # Errors
    ///
    /// As [`deploy_bundle`](Self::deploy_bundle).
    pub fn deploy(&self, module: Module, source: Source) -> Result<Deployed, RollbackError> {
        if !self.inner.policy.trusted_keys.is_empty() {
            let error = GateError::HostLoaded { name: module.name().to_owned(), version: module.version().clone() };
            let (name, version, hash) = (module.name().to_owned(), module.version().clone(), *module.hash());
            return Err(
                self.with_ops(|| self.gate_failed_named(&name, version, Some(hash), Gate::Signature, error, false))
            );
        }
        self.with_ops(|| self.deploy_locked(module, source))
    }

    pub(super) fn deploy_locked(&self, module: Module, source: Source) -> Result<Deployed, RollbackError> {
        match self.precheck(module.name(), module.version(), module.hash())? {
            Some(unchanged) => Ok(unchanged),
            None => {
                self.inner.cache.register(module.clone(), source.clone());
                self.run_gates(Candidate { module, source })
            }
        }
    }

    /// Refusals that run nothing. `Ok(Some)` when the bytes already serve.
    pub(super) fn precheck(
        &self,
        name: &str,
        version: &semver::Version,
        hash: &blake3::Hash,
    ) -> Result<Option<Deployed>, RollbackError> {
        let mut st = lock(&self.inner.state);
        let m = st.modules.entry(name.to_owned()).or_default();
        let refuse = |m: &mut ModState, err: &dyn Fn() -> RollbackError| {
            let record =
                Record::now(name, Some(version.clone()), Some(*hash), Happened::Refused { error: Arc::new(err()) });
            m.push_history(record.clone());
            let err = err();
            m.last_error = Some(err.to_string());
            (err, RollbackEvent::Record(record))
        };
        let refused = if let Some(p) = &m.pinned {
            if p.hash == *hash {
                return Ok(Some(deployed(name, p, Happened::Unchanged)));
            }
            let pinned = p.version.clone();
            let err =
                || RollbackError::Pinned { name: name.to_owned(), pinned: pinned.clone(), offered: version.clone() };
            Some(refuse(m, &err))
        } else if let Some(a) = m.active.as_ref().filter(|a| a.hash == *hash) {
            return Ok(Some(deployed(name, a, Happened::Unchanged)));
        } else if let Some(f) = m.failed.get(hash.as_bytes()) {
            let f = f.clone();
            let err = || RollbackError::AlreadyFailed {
                name: name.to_owned(),
                version: version.clone(),
                hash: *hash,
                gate: f.gate,
                reason: f.reason.clone(),
            };
            Some(refuse(m, &err))
        } else if let Some(highest) =
            m.highest_seen.as_ref().filter(|h| version < *h && !self.inner.policy.allow_downgrade)
        {
            let highest = highest.clone();
            let err = || RollbackError::Downgrade {
                name: name.to_owned(),
                offered: version.clone(),
                highest: highest.clone(),
            };
            Some(refuse(m, &err))
        } else {
            None
        };
        drop(st);
        match refused {
            Some((err, event)) => {
                self.emit(event);
                Err(err)
            }
            None => self.check_version_cap(name, Some(version), hash).map(|()| None),
        }
    }

    pub(super) fn failed_anywhere(&self, hash: &blake3::Hash) -> Option<RollbackError> {
        let st = lock(&self.inner.state);
        for (name, m) in &st.modules {
            if let Some(f) = m.failed.get(hash.as_bytes()) {
                return Some(RollbackError::AlreadyFailed {
                    name: name.clone(),
                    version: f.version.clone(),
                    hash: *hash,
                    gate: f.gate,
                    reason: f.reason.clone(),
                });
            }
        }
        st.orphan_failed.get(hash.as_bytes()).map(|(label, f)| RollbackError::AlreadyFailed {
            name: label.clone(),
            version: f.version.clone(),
            hash: *hash,
            gate: f.gate,
            reason: f.reason.clone(),
        })
    }

    /// Records and returns the refusal of a version whose object could not be stored
    /// ([`RollbackError::NotStored`]): the version serving keeps serving, so a restart never
    /// comes back older than what served.
    pub(super) fn not_stored(
        &self,
        name: &str,
        version: semver::Version,
        hash: blake3::Hash,
        error: Arc<JournalError>,
    ) -> RollbackError {
        let err = || RollbackError::NotStored {
            name: name.to_owned(),
            version: version.clone(),
            hash,
            error: Arc::clone(&error),
        };
        let record = Record::now(name, Some(version.clone()), Some(hash), Happened::Refused { error: Arc::new(err()) });
        {
            let mut st = lock(&self.inner.state);
            let m = st.modules.entry(name.to_owned()).or_default();
            m.push_history(record.clone());
            m.last_error = Some(err().to_string());
        }
        self.emit(RollbackEvent::Record(record));
        err()
    }

    /// The deploy plan of [`gates`]: Abi, Init, State, Probe, then the promotion.
    pub(super) fn run_gates(&self, c: Candidate) -> Result<Deployed, RollbackError> {
        let module = &c.module;
        // The copy a restart loads is stored before anything is promoted: when it cannot
        // be (a full disk), the candidate is refused and the version serving keeps serving,
        // so a restart never comes back older than what served.
        if let Err(error) = self.store_module(module) {
            let (name, version, hash) = (module.name().to_owned(), module.version().clone(), *module.hash());
            if self.inner.cache.current(&name).is_none_or(|c| *c.hash() != hash) {
                let _ = self.inner.cache.retire(&name, &hash);
            }
            return Err(self.not_stored(&name, version, hash, error));
        }
        let probe = self.probe_of(module.name());
        let waiting: Vec<Module> = lock(&self.inner.waiting).iter().map(|w| w.module.clone()).collect();
        if let Err(f) = gates::run(&self.inner.cache, module, probe.as_ref(), gates::DEPLOY, &waiting) {
            if matches!(f.error, GateError::Cache(CacheError::MissingProvider { .. })) {
                // Deployed by itself once a provider is promoted (`retry_waiting`).
                let mut waiting = lock(&self.inner.waiting);
                waiting.retain(|w| w.module.name() != module.name());
                waiting.push(c.clone());
            }
            let mark = f.blame == Blame::Candidate;
            return Err(self.gate_failed_named(
                module.name(),
                module.version().clone(),
                Some(*module.hash()),
                f.gate,
                f.error,
                mark,
            ));
        }
        let before = lock(&self.inner.state).modules.get(module.name()).and_then(|m| m.active.clone());
        let done = self.promoted(module.name(), c.summary(), Happened::Promoted { from: None });
        if self.inner.policy.journal == JournalPolicy::Revert
            && let Some(error) = self.journal_problem()
            && let Some(previous) = before.and_then(|b| self.inner.cache.version(&done.name, &b.hash))
        {
            // The journal still says the previous version: serve it again.
            self.switch_to(&done.name, &previous, Happened::RolledBack { from: None })?;
            return Err(RollbackError::NotDurable { name: done.name, version: done.version, error });
        }
        lock(&self.inner.waiting).retain(|w| w.module.name() != done.name);
        self.retry_waiting();
        Ok(done)
    }

    /// Deploys again every candidate that waited for a provider, now that a version was
    /// promoted (each success retries the rest again, through `run_gates`).
    pub(super) fn retry_waiting(&self) {
        let waiting = std::mem::take(&mut *lock(&self.inner.waiting));
        let mut rest = Vec::new();
        for c in waiting {
            let ready = self.inner.cache.check_requirements(&c.module).is_ok();
            if !ready {
                rest.push(c);
            } else {
                // A success retries what is left itself; a failure is recorded as any deploy's.
                let _ = self.run_gates(c);
            }
        }
        lock(&self.inner.waiting).extend(rest);
    }

    /// Candidates waiting for a provider: `(name, version)`.
    pub fn waiting(&self) -> Vec<(String, semver::Version)> {
        lock(&self.inner.waiting).iter().map(|c| (c.module.name().to_owned(), c.module.version().clone())).collect()
    }

    pub(super) fn probe_of(&self, name: &str) -> Option<Probe> {
        lock(&self.inner.probes).get(name).cloned().or_else(|| lock(&self.inner.default_probe).clone())
    }

    /// Bookkeeping after `cache.promote` succeeded. `outcome` says why the version serves
    /// (its `from` is filled in here).
    pub(super) fn promoted(&self, name: &str, v: VersionSummary, outcome: Happened) -> Deployed {
        let name = name.to_owned();
        let record = {
            let mut st = lock(&self.inner.state);
            let probation = self.inner.policy.probation;
            let m = st.modules.entry(name.clone()).or_default();
            let from = m.active.replace(v.clone()).map(|f| f.version);
            m.promoted_at = Some(Instant::now());
            m.panics.clear();
            m.activated.insert(v.hash, v.version.clone());
            m.stack.retain(|h| *h != v.hash);
            m.stack.push(v.hash);
            if m.highest_seen.as_ref().is_none_or(|h| v.version > *h) {
                m.highest_seen = Some(v.version.clone());
            }
            // A version rolled back to (or restored) already proved itself.
            let fresh = matches!(outcome, Happened::Promoted { .. });
            if probation.is_zero() || !fresh || m.is_good(&v.hash) {
                m.make_good(v.clone());
            }
            let happened = match outcome {
                Happened::Promoted { .. } => Happened::Promoted { from },
                Happened::RolledBack { .. } => Happened::RolledBack { from },
                other => other,
            };
            let record = Record::of(&name, &v, happened);
            m.push_history(record.clone());
            record
        };
        if !matches!(record.happened, Happened::Promoted { .. }) {
            // A deploy stored its object before promotion (`run_gates`).
            self.store_object(&name, &v);
        }
        let outcome = record.happened.clone();
        self.emit(RollbackEvent::Record(record));
        self.retain(&name);
        self.write_journal();
        deployed(&name, &v, outcome)
    }

    /// Records a gate failure of a module whose name is known.
    pub(super) fn gate_failed_named(
        &self,
        name: &str,
        version: semver::Version,
        hash: Option<blake3::Hash>,
        gate: Gate,
        error: GateError,
        mark: bool,
    ) -> RollbackError {
        let error = Arc::new(error);
        self.record_gate_failure(name, &version, hash, gate, &error, mark);
        RollbackError::GateFailed { name: name.to_owned(), version: Some(version), hash, gate, error }
    }

    /// What a failed gate leaves behind (see [`gates`]): history, status, event; when
    /// `mark`, the hash marked failed and the candidate retired from the registry.
    pub(super) fn record_gate_failure(
        &self,
        name: &str,
        version: &semver::Version,
        hash: Option<blake3::Hash>,
        gate: Gate,
        error: &Arc<GateError>,
        mark: bool,
    ) {
        let reason = error.to_string();
        let record =
            Record::now(name, Some(version.clone()), hash, Happened::GateFailed { gate, error: Arc::clone(error) });
        {
            let mut st = lock(&self.inner.state);
            let m = st.modules.entry(name.to_owned()).or_default();
            m.push_history(record.clone());
            m.last_error = Some(format!("{version}: {gate} gate failed: {reason}"));
            if let (true, Some(h)) = (mark, hash) {
                m.failed.insert(
                    *h.as_bytes(),
                    Failure { version: version.clone(), gate: Some(gate), reason: reason.clone() },
                );
                m.good.retain(|g| g.hash != h);
            }
        }
        if let (true, Some(h)) = (mark, hash) {
            // The failed candidate leaves the registry (never the serving version).
            let serving = self.inner.cache.current(name).is_some_and(|c| *c.hash() == h);
            if !serving && self.inner.cache.version(name, &h).is_some() {
                let _ = self.inner.cache.retire(name, &h);
            }
            self.write_journal();
        }
        self.emit(RollbackEvent::Record(record));
    }

    /// Records a failure of bytes whose module name is unknown.
    pub(super) fn gate_failed_unnamed(
        &self,
        label: String,
        hash: Option<blake3::Hash>,
        gate: Gate,
        error: impl Into<Arc<GateError>>,
    ) -> RollbackError {
        let error: Arc<GateError> = error.into();
        let reason = error.to_string();
        if let Some(h) = hash {
            lock(&self.inner.state).orphan_failed.insert(
                *h.as_bytes(),
                (
                    label.clone(),
                    Failure { version: semver::Version::new(0, 0, 0), gate: Some(gate), reason: reason.clone() },
                ),
            );
        }
        let happened = Happened::GateFailed { gate, error: Arc::clone(&error) };
        self.emit(RollbackEvent::Record(Record::now(&label, None, hash, happened)));
        RollbackError::GateFailed { name: label, version: None, hash, gate, error }
    }
}

/// Which module directories of a bundle a deploy takes.
#[derive(Clone, Copy)]
pub(super) enum Select<'a> {
    /// Every module.
    All,
    /// The modules whose directory is the prefix (`""` or ending in `/`) or below it.
    Prefix(&'a str),
    /// Exactly one module directory, which must hold the module `name`.
    One { dir: &'a str, name: &'a str },
}

impl Select<'_> {
    fn wants(&self, dir: &str) -> bool {
        match self {
            Select::All => true,
            Select::Prefix(prefix) => dir.starts_with(prefix),
            Select::One { dir: only, .. } => dir == *only,
        }
    }
}
