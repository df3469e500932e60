//! Deploying: bundles, files and host-loaded modules through the gate pipeline, the refusals that run nothing, and what a failed gate leaves behind.

use super::candidate::{Candidate, Run};
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
                self.deploy_file_bytes(path, Some(&content), Some(hash), None, Materialize::ContentAddressedUnsynced)
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
        let path = bundle.path();
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
        // Each module is a candidate of its own: those that pass are promoted even when
        // another fails.
        let mut done = Vec::new();
        let mut first_err = None;
        for module in bundle.modules().iter().filter(|m| select.wants(m.dir())) {
            let candidate = Candidate::BundleModule { bundle, module };
            let run = Run::choose(Plan::Bundle, Plan::IsolatedBundle, self.isolation(), candidate);
            match self.run_plan(run) {
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
        // Read by the runner's Verify step, after the signature step.
        self.deploy_file_bytes(path, None, None, expect, Materialize::ContentAddressed)
    }

    /// A plain library's bytes (`None`: read from `path`; `hash`: their blake3, when
    /// already known).
    fn deploy_file_bytes(
        &self,
        path: &Path,
        bytes: Option<&[u8]>,
        hash: Option<blake3::Hash>,
        expect: Option<&str>,
        how: Materialize,
    ) -> Result<Deployed, RollbackError> {
        let candidate = Candidate::FileBytes { path, bytes, hash, expect, how };
        let run = Run::choose(Plan::File, Plan::IsolatedFile, self.isolation(), candidate);
        self.run_plan(run)
    }

    /// Deploys a module the host loaded itself: gates from [`Gate::Abi`] on. With
    /// [`Policy::trusted_keys`] it is refused at [`Gate::Signature`]
    /// ([`GateError::HostLoaded`]): a loaded module carries no signature.
    ///
    /// # Errors
    ///
    /// As [`deploy_bundle`](Self::deploy_bundle).
    pub fn deploy(&self, module: Module, source: Source) -> Result<Deployed, RollbackError> {
        self.with_ops(|| self.run_plan(Run::new(Plan::Loaded, Candidate::Loaded { module, source })))
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
                cause: f.cause.clone(),
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
                    cause: f.cause.clone(),
                });
            }
        }
        st.orphan_failed.get(hash.as_bytes()).map(|(label, f)| RollbackError::AlreadyFailed {
            name: label.clone(),
            version: f.version.clone(),
            hash: *hash,
            gate: f.gate,
            cause: f.cause.clone(),
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

    /// Deploys again every candidate that waited for a provider, now that a version was
    /// promoted: each resumes its plan at [`Step::Bindings`](crate::Step::Bindings) (a
    /// success retries the rest again).
    pub(super) fn retry_waiting(&self) {
        let waiting = std::mem::take(&mut *lock(&self.inner.waiting));
        let mut rest = Vec::new();
        for w in waiting {
            let ready = self.inner.cache.check_requirements(&w.module).is_ok();
            if !ready {
                rest.push(w);
            } else {
                // A success retries what is left itself; a failure is recorded as any deploy's.
                let run = Run::new(w.plan, Candidate::Loaded { module: w.module, source: w.source });
                let _ = self.run_plan_from(run, Some(crate::Step::Bindings));
            }
        }
        lock(&self.inner.waiting).extend(rest);
    }

    /// Candidates waiting for a provider: `(name, version)`.
    pub fn waiting(&self) -> Vec<(String, semver::Version)> {
        lock(&self.inner.waiting).iter().map(|c| (c.module.name().to_owned(), c.module.version().clone())).collect()
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
            // A deploy stored its object before promotion (`Step::Store`).
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
                    Failure {
                        version: version.clone(),
                        gate: Some(gate),
                        cause: Arc::new(FailureCause::Gate(Arc::clone(error))),
                    },
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
        if let Some(h) = hash {
            lock(&self.inner.state).orphan_failed.insert(
                *h.as_bytes(),
                (
                    label.clone(),
                    Failure {
                        version: semver::Version::new(0, 0, 0),
                        gate: Some(gate),
                        cause: Arc::new(FailureCause::Gate(Arc::clone(&error))),
                    },
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
