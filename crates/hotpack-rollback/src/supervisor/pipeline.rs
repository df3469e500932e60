//! The one runner of the gate pipeline: a [`Candidate`] (a bundle's module, a plain
//! library's bytes, a module the host loaded, a stored object) goes through the steps of the
//! [`Plan`] its caller chose, in order, each reported to the step observer; the first refusal
//! ends the run and is recorded as the plan says (see `gates.rs`). Deploy, import, reload,
//! the watcher's confirmed bytes, restore and the retained versions after a restart all run
//! here, in process and in workers; nothing else makes a new version current.

use super::candidate::{Bytes, Candidate, Run, Started};
use super::isolate::{IsoVersion, ProbeFor, WorkerProxy};
use super::*;
use crate::gates::{Step, StepEnd, StepSeen};
use hotpack_worker::{LibraryImage, Worker};

/// How a step ended.
enum Flow {
    Next,
    /// The run ends here without a refusal (a promotion, or bytes already serving).
    Done(Option<Box<Deployed>>),
}

/// Why a step refused.
enum Fail {
    /// A gate refused: recorded as the plan says (`mark`: the candidate's bytes are to blame).
    Gate { gate: Gate, error: Box<GateError>, mark: bool },
    /// Refused outside a gate, and recorded already (or nothing to record).
    Refused(Box<RollbackError>),
    /// A restore step's own problem.
    Restore(Box<RestoreError>),
    /// Restore: only a provider is missing; try in a later pass.
    Defer,
}

impl Fail {
    fn gate(gate: Gate, error: GateError, mark: bool) -> Fail {
        Fail::Gate { gate, error: Box::new(error), mark }
    }

    fn refused(error: RollbackError) -> Fail {
        Fail::Refused(Box::new(error))
    }

    fn restore(error: RestoreError) -> Fail {
        Fail::Restore(Box::new(error))
    }
}

/// How a restore or retain run stopped short.
pub(super) enum Stop {
    /// Its problem (not recorded, never marked).
    Restore(Box<RestoreError>),
    /// Restore: refused only for a missing provider.
    Defer,
}

impl Supervisor {
    /// Sets (or with `None` clears) the step observer: it sees every step the runner runs,
    /// for every plan, as the step ends ([`StepSeen`]). For tests and tracing; it decides
    /// nothing.
    pub fn observe_steps(&self, observer: Option<crate::StepObserver>) {
        *lock(&self.inner.observer) = observer;
    }

    /// Runs a deploy plan from its first step: the version promoted (or already serving),
    /// or the refusal, recorded.
    pub(super) fn run_plan(&self, run: Run<'_>) -> Result<Deployed, RollbackError> {
        self.run_plan_from(run, None)
    }

    /// As [`run_plan`](Self::run_plan), from step `from` (a candidate that waited resumes
    /// where it stopped).
    pub(super) fn run_plan_from(&self, run: Run<'_>, from: Option<Step>) -> Result<Deployed, RollbackError> {
        match self.run_steps(run, from) {
            Ok((Some(done), _)) => Ok(*done),
            // Every deploy plan ends in a promotion or an unchanged version.
            Ok((None, mut run)) => {
                let fail = not_loaded(&run);
                Err(self.refuse(&mut run, fail))
            }
            Err(stopped) => {
                let (mut run, fail) = *stopped;
                Err(self.refuse(&mut run, fail))
            }
        }
    }

    /// Runs a restore or retain plan: `Ok(Some)` the version restored, `Ok(None)` a retained
    /// version loaded (or kept), `Err` the problem (never recorded as a deploy's, never
    /// marked).
    pub(super) fn run_restore(&self, run: Run<'_>) -> Result<Option<Deployed>, Stop> {
        match self.run_steps(run, None) {
            Ok((done, _)) => Ok(done.map(|d| *d)),
            Err(stopped) => {
                let (mut run, fail) = *stopped;
                Err(self.problem(&mut run, fail))
            }
        }
    }

    /// The runner: the steps of the plan of `run` from `from` (or the first), in order, each
    /// reported to the observer, with the operation lock held.
    #[allow(clippy::type_complexity)] // the run comes back with its refusal, to be recorded
    fn run_steps<'a>(
        &self,
        mut run: Run<'a>,
        from: Option<Step>,
    ) -> Result<(Option<Box<Deployed>>, Run<'a>), Box<(Run<'a>, Fail)>> {
        let steps = run.plan.steps();
        let start = from.and_then(|f| steps.iter().position(|s| *s == f)).unwrap_or(0);
        // A candidate resumed past its Admit step (it waited for a provider) is admitted
        // again first: a pin, a failure mark, a newer version or the version cap may have
        // come meanwhile.
        let admit_again = steps[..start].contains(&Step::Admit).then_some(Step::Admit);
        let observer = lock(&self.inner.observer).clone();
        let seen = |run: &Run<'_>, step: Step, end: StepEnd| {
            if let Some(o) = &observer {
                let module = run.name.clone().unwrap_or_else(|| run.label.clone());
                o(&StepSeen { plan: run.plan, step, module, end });
            }
        };
        for step in admit_again.into_iter().chain(steps[start..].iter().copied()) {
            match self.step(step, &mut run) {
                Ok(Flow::Next) => seen(&run, step, StepEnd::Passed),
                Ok(Flow::Done(done)) => {
                    let end = if step == Step::Promote { StepEnd::Passed } else { StepEnd::Stopped };
                    seen(&run, step, end);
                    return Ok((done, run));
                }
                Err(fail) => {
                    seen(&run, step, StepEnd::Refused);
                    if let Some(s) = run.started.take() {
                        s.worker.kill();
                    }
                    return Err(Box::new((run, fail)));
                }
            }
        }
        Ok((None, run))
    }

    /// Records a deploy's refusal (history, status, event; the bytes marked when they are to
    /// blame) and retires a candidate this run registered.
    fn refuse(&self, run: &mut Run<'_>, fail: Fail) -> RollbackError {
        match fail {
            Fail::Refused(e) => {
                self.retire_fresh(run);
                *e
            }
            Fail::Gate { gate, error, mark } => match (&run.name, &run.version) {
                (Some(name), Some(version)) => {
                    self.gate_failed_named(name, version.clone(), run.hash, gate, *error, mark)
                }
                _ => self.gate_failed_unnamed(run.label.clone(), run.hash, gate, *error),
            },
            // Only the restore plans (a stored candidate) report these.
            Fail::Restore(_) | Fail::Defer => {
                let fail = not_loaded(run);
                self.refuse(run, fail)
            }
        }
    }

    /// A restore's or retain's problem: never recorded as a deploy's, never marked.
    fn problem(&self, run: &mut Run<'_>, fail: Fail) -> Stop {
        match fail {
            Fail::Defer => Stop::Defer,
            Fail::Restore(e) => Stop::Restore(e),
            Fail::Gate { gate, error, .. } => {
                // Environmental failures (a database down at start) do not condemn a
                // version that served well; it is skipped this time.
                run.fresh = true;
                self.retire_fresh(run);
                Stop::Restore(Box::new(RestoreError::Gate { gate, error: *error }))
            }
            // Only the deploy plans refuse outside a gate.
            Fail::Refused(_) => {
                Stop::Restore(Box::new(RestoreError::Gate { gate: Gate::Load, error: not_loaded_error(run) }))
            }
        }
    }

    fn retire_fresh(&self, run: &Run<'_>) {
        if let (true, Some(name), Some(hash)) = (run.fresh, &run.name, &run.hash)
            && self.inner.cache.current(name).is_none_or(|c| c.hash() != hash)
        {
            let _ = self.inner.cache.retire(name, hash);
        }
    }

    fn step(&self, step: Step, run: &mut Run<'_>) -> Result<Flow, Fail> {
        match step {
            Step::Signature => self.step_signature(run),
            Step::Verify => self.step_verify(run),
            Step::Admit => self.step_admit(run),
            Step::Preflight => self.step_preflight(run),
            Step::Load => self.step_load(run),
            Step::StartWorker => self.step_start_worker(run),
            Step::Keep => self.step_keep(run),
            Step::Bindings => {
                let module = loaded(run)?;
                self.inner
                    .cache
                    .check_bindings(module)
                    .map_err(|e| Fail::gate(Gate::Abi, GateError::Cache(e), true))?;
                Ok(Flow::Next)
            }
            Step::Requires => self.step_requires(run),
            Step::Init => match &run.started {
                Some(s) => {
                    let name = &s.report.name;
                    s.worker.init(name).map_err(|e| Fail::gate(Gate::Init, GateError::WorkerCall(e), true))?;
                    Ok(Flow::Next)
                }
                None => {
                    loaded(run)?.init().map_err(|e| Fail::gate(gates::load_gate(&e), GateError::Load(e), true))?;
                    Ok(Flow::Next)
                }
            },
            Step::State => self.step_state(run),
            Step::Probe => self.step_probe(run),
            Step::Store => self.step_store(run),
            Step::Promote => self.step_promote(run),
        }
    }

    fn step_signature(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        let trusted = &self.inner.policy.trusted_keys;
        match &run.cand {
            Candidate::BundleModule { bundle, module } => {
                let signer = gates::check_trust(bundle, trusted).map_err(|e| Fail::gate(Gate::Signature, e, false))?;
                // Stored beside the module's object (`objects/<hash>.sig`), so a restart under
                // trusted keys checks the signature itself instead of believing the journal.
                if signer.is_some()
                    && let (Ok(Some(proof)), Some(hash)) = (bundle.signature_proof(), run.hash)
                {
                    let proof: Arc<[u8]> = proof.to_bytes().into();
                    let mut st = lock(&self.inner.state);
                    st.modules.entry(module.name().to_owned()).or_default().proofs.insert(hash, proof);
                }
                Ok(Flow::Next)
            }
            // A plain library carries no signature: with trusted keys it is refused before a
            // byte of it is written or loaded, on every path that deploys a file (by path,
            // by import, or from a watcher's confirmed bytes).
            Candidate::FileBytes { path, expect, .. } if !trusted.is_empty() => {
                let label = expect.map_or_else(|| run.label.clone(), str::to_owned);
                let error = GateError::UnsignedFile { path: path.to_path_buf() };
                Err(Fail::refused(self.gate_failed_unnamed(label, None, Gate::Signature, error)))
            }
            Candidate::Loaded { module, .. } if !trusted.is_empty() => {
                let error = GateError::HostLoaded { name: module.name().to_owned(), version: module.version().clone() };
                Err(Fail::gate(Gate::Signature, error, false))
            }
            Candidate::Stored { version, .. } => {
                let name = run.name.clone().unwrap_or_default();
                self.trusted_signer(&name, &version.hash).map_err(Fail::restore)?;
                Ok(Flow::Next)
            }
            _ => Ok(Flow::Next),
        }
    }

    fn step_verify(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        match &run.cand {
            Candidate::BundleModule { bundle, module } => {
                // The library is the one entry a deploy needs: read and verified (size, CRC,
                // blake3 against the manifest) once, and handed to the loader with that hash.
                // Other entries are verified when they are read.
                match bundle.read_library(module.name(), hotpack_abi::TARGET) {
                    Err(e) if matches!(e.kind(), BundleErrorKind::NoLibraryForTarget { .. }) => {
                        Err(Fail::gate(Gate::Load, GateError::Bundle(e), false))
                    }
                    Err(e) => Err(Fail::gate(Gate::Verify, GateError::Bundle(e), false)),
                    Ok(bytes) => {
                        // The manifest's digest was just checked against these bytes.
                        run.hash = Some(run.hash.unwrap_or_else(|| blake3::hash(&bytes)));
                        run.bytes = Some(Bytes::Owned(bytes));
                        Ok(Flow::Next)
                    }
                }
            }
            Candidate::FileBytes { path, hash, .. } => {
                if run.bytes.is_none() {
                    let read = read_library(path, self.inner.cache.limits().max_entry_size).map_err(|source| {
                        Fail::gate(Gate::Load, GateError::Read { path: path.to_path_buf(), source }, false)
                    })?;
                    run.bytes = Some(Bytes::Owned(read));
                }
                let bytes = run.bytes.as_deref().unwrap_or_default();
                let hash = hash.unwrap_or_else(|| blake3::hash(bytes));
                run.hash = Some(hash);
                match self.failed_anywhere(&hash) {
                    Some(err) => Err(Fail::refused(err)),
                    None => {
                        self.check_version_cap(&path.display().to_string(), None, &hash).map_err(Fail::refused)?;
                        Ok(Flow::Next)
                    }
                }
            }
            Candidate::Stored { version, dir } => {
                let bytes =
                    journal::read_object(dir, &version.hash).map_err(|e| Fail::restore(RestoreError::Object(e)))?;
                run.bytes = Some(Bytes::Owned(bytes));
                Ok(Flow::Next)
            }
            _ => Ok(Flow::Next),
        }
    }

    fn step_admit(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        let (Some(name), Some(version), Some(hash)) = (run.name.clone(), run.version.clone(), run.hash) else {
            return Ok(Flow::Next);
        };
        match self.precheck(&name, &version, &hash).map_err(Fail::refused)? {
            Some(unchanged) => {
                if let Some(s) = run.started.take() {
                    s.worker.kill();
                }
                Ok(Flow::Done(Some(Box::new(unchanged))))
            }
            None => Ok(Flow::Next),
        }
    }

    fn step_preflight(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        let Some(hash) = run.hash else { return Ok(Flow::Next) };
        let candidate = match &run.cand {
            Candidate::BundleModule { bundle, module } => PreflightCandidate {
                path: bundle.path(),
                module_dir: Some(module.dir()),
                name: run.name.as_deref(),
                version: run.version.as_ref(),
                hash: &hash,
            },
            Candidate::FileBytes { path, expect, .. } => {
                PreflightCandidate { path, module_dir: None, name: *expect, version: None, hash: &hash }
            }
            _ => return Ok(Flow::Next),
        };
        self.preflight(&candidate).map_err(|e| {
            // The child read other bytes than the host checked (the file was replaced after
            // the host read it): not these bytes' fault, so they are not marked.
            let replaced = matches!(&e, GateError::Preflight { error }
            if error.downcast_ref::<hotpack_worker::preflight::PreflightError>().is_some_and(
                |p| matches!(p, hotpack_worker::preflight::PreflightError::Refused { gate, .. } if gate == "verify")
            ));
            Fail::gate(Gate::Preflight, e, !replaced)
        })?;
        Ok(Flow::Next)
    }

    fn step_load(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        let cache = &self.inner.cache;
        let (Some(hash), Some(bytes)) = (run.hash, run.bytes.as_deref()) else {
            // A module already loaded: registered (not current).
            if let Some(module) = &run.module {
                run.fresh = cache.version(module.name(), module.hash()).is_none();
                cache.register(module.clone(), run.source.clone());
            }
            return Ok(Flow::Next);
        };
        let module = match &run.cand {
            Candidate::BundleModule { bundle, module } => {
                let (m, source) = cache
                    .load_bundle_module_from(bundle, module.dir(), bytes, &hash)
                    .map_err(|e| Fail::gate(gates::cache_gate(&e), GateError::Cache(e), true))?;
                run.source = source;
                m
            }
            Candidate::FileBytes { path, expect, how, .. } => {
                let m = cache
                    .loader()
                    .load_bytes_hashed(bytes, &hash, path, *how)
                    .map_err(|e| Fail::gate(gates::load_gate(&e), GateError::Load(e), true))?;
                if let Some(name) = expect {
                    Cache::check_name(name, &run.source, &m).map_err(|e| Fail::refused(RollbackError::Cache(e)))?;
                }
                run.name = Some(m.name().to_owned());
                run.version = Some(m.version().clone());
                run.fresh = cache.version(m.name(), &hash).is_none();
                cache.register(m.clone(), run.source.clone());
                m
            }
            Candidate::Stored { version, .. } => {
                let m = cache
                    .loader()
                    .load_bytes_with(bytes, &version.source.path(), Materialize::ContentAddressed)
                    .map_err(|e| Fail::restore(RestoreError::Load { gate: gates::load_gate(&e), error: e }))?;
                if run.name.as_deref() != Some(m.name()) || *m.version() != version.version {
                    return Err(Fail::restore(RestoreError::Mismatch {
                        name: m.name().to_owned(),
                        version: m.version().clone(),
                    }));
                }
                run.fresh = cache.version(m.name(), &hash).is_none();
                cache.register(m.clone(), run.source.clone());
                m
            }
            _ => return Ok(Flow::Next),
        };
        run.module = Some(module);
        Ok(Flow::Next)
    }

    fn step_start_worker(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        let (Some(iso), Some(hash), Some(bytes)) = (run.iso.clone(), run.hash, run.bytes.as_deref()) else {
            // Only the isolated plans start a worker, and only with an isolation (`Run::choose`).
            return Err(not_loaded(run));
        };
        let image = LibraryImage::new(bytes, hash, run.source.to_string())
            .map_err(|e| Fail::gate(Gate::Load, GateError::Worker(e), false))?;
        let worker = Worker::spawn(&iso.command, &iso.limits, iso.data.as_ref())
            .map_err(|e| Fail::gate(Gate::Load, GateError::Worker(e), false))?;
        let report = worker.load(&image).map_err(|e| Fail::gate(Gate::Load, GateError::Worker(e), true))?;
        // A worker's claim is never trusted beyond what the host can check: a plain library's
        // name and version are what its worker reports, a bundle's what its manifest says.
        let name = run.name.get_or_insert_with(|| report.name.clone()).clone();
        let version = run.version.get_or_insert_with(|| report.version.clone()).clone();
        if report.name != name || report.version != version || report.hash != hash {
            let error = GateError::ReportMismatch { name, version, found: Box::new(report) };
            return Err(Fail::gate(Gate::Abi, error, true));
        }
        let want = match &run.cand {
            Candidate::FileBytes { expect, .. } => expect.map(str::to_owned),
            Candidate::Verified { want, .. } => want.clone(),
            _ => None,
        };
        if let Some(wanted) = want.filter(|w| *w != name) {
            return Err(Fail::refused(RollbackError::Cache(CacheError::NameMismatch {
                path: run.source.file().map_or_else(|| run.source.path(), Path::to_path_buf),
                expected: wanted,
                found: name,
            })));
        }
        let summary = VersionSummary { version, hash, source: run.source.clone() };
        let version = Arc::new(IsoVersion::new(summary, image, bytes));
        run.started = Some(Started { worker, report, version });
        Ok(Flow::Next)
    }

    fn step_keep(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        let (Some(name), Some(v), Some(bytes)) = (run.name.clone(), run.summary(), run.bytes.as_deref()) else {
            return Ok(Flow::Next);
        };
        self.iso_keep(&name, &v, bytes).map_err(Fail::restore)?;
        Ok(Flow::Next)
    }

    fn step_requires(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        let missing = |e: &CacheError| matches!(e, CacheError::MissingProvider { .. });
        if let Some(s) = &run.started {
            let name = s.report.name.clone();
            if run.plan.is_deploy() {
                // The compatibility gate, on the host from the static descriptors.
                if let Err(error) = self.iso_check(&name, &s.version) {
                    if missing(&error)
                        && let Some(bytes) = run.bytes.as_deref()
                    {
                        // Deployed by itself once a provider is promoted (`iso_retry_waiting`).
                        let (expect, want) = match &run.cand {
                            Candidate::BundleModule { .. } => (run.name.clone().zip(run.version.clone()), None),
                            Candidate::FileBytes { expect, .. } => (None, expect.map(str::to_owned)),
                            Candidate::Verified { expect, want, .. } => (expect.clone(), want.clone()),
                            _ => (None, None),
                        };
                        let mut waiting = lock(&self.inner.iso_waiting);
                        waiting.retain(|w| w.name != name);
                        waiting.push(super::iso_deps::IsoWaiting {
                            expect,
                            want,
                            bytes: Arc::from(bytes),
                            hash: s.version.summary.hash,
                            source: run.source.clone(),
                            name: name.clone(),
                            requires: s.version.requires.clone(),
                            provides: s.version.provides.clone(),
                        });
                    }
                    return Err(Fail::gate(Gate::Requires, GateError::Cache(error), false));
                }
            }
            // The providers it requires are hosted in its worker (`supervisor/iso_deps.rs`);
            // not the candidate's fault when one does not start there.
            self.iso_host_providers(&s.worker, &name, &s.version.requires).map_err(|r| Fail::gate(r.0, r.1, false))?;
            return Ok(Flow::Next);
        }
        let module = loaded(run)?;
        let waiting: Vec<Module> = if run.plan.is_deploy() {
            lock(&self.inner.waiting).iter().map(|w| w.module.clone()).collect()
        } else {
            Vec::new()
        };
        // Another module is missing or depends on this name: not the candidate's bytes'
        // fault, so they are not marked (it may pass once the other side changes).
        match self.inner.cache.prepare_requirements(module, &waiting) {
            Ok(()) => Ok(Flow::Next),
            Err(e) if missing(&e) && run.defer => Err(Fail::Defer),
            Err(e) => {
                if missing(&e) && run.plan.is_deploy() {
                    // Deployed by itself once a provider is promoted (`retry_waiting`).
                    let mut waiting = lock(&self.inner.waiting);
                    waiting.retain(|w| w.module.name() != module.name());
                    waiting.push(Waiting { plan: run.plan, module: module.clone(), source: run.source.clone() });
                }
                Err(Fail::gate(Gate::Requires, GateError::Cache(e), false))
            }
        }
    }

    fn step_state(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        if let Some(s) = &run.started {
            let name = &s.report.name;
            if s.report.has_state
                && let Some(old) = self.iso_running(name)
                && old.report.has_state
            {
                // State moves as bytes through the host: exported by the old worker,
                // imported by the new one. An export that fails is not the candidate's fault.
                let state = old
                    .worker
                    .export_state(name)
                    .map_err(|e| Fail::gate(Gate::State, GateError::WorkerCall(e), false))?;
                if let Some(state) = state {
                    s.worker
                        .import_state(name, &state)
                        .map_err(|e| Fail::gate(Gate::State, GateError::WorkerCall(e), true))?;
                }
            }
            return Ok(Flow::Next);
        }
        match self.inner.cache.transfer_state(loaded(run)?) {
            Ok(_) => Ok(Flow::Next),
            // The serving version could not export: not the candidate's fault.
            Err(e @ CacheError::StateExport { .. }) => Err(Fail::gate(Gate::State, GateError::Cache(e), false)),
            Err(e) => Err(Fail::gate(Gate::State, GateError::Cache(e), true)),
        }
    }

    /// The probe that applies ([`Supervisor::probe_for`]: the module's own before the
    /// defaults); one that cannot run where the candidate runs refuses it, never skipped.
    fn step_probe(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        let name = match &run.started {
            Some(s) => s.report.name.clone(),
            None => loaded(run)?.name().to_owned(),
        };
        match (self.probe_for(&name, run.started.is_some()), &run.started) {
            (ProbeFor::Worker(probe), Some(s)) => {
                let proxy = WorkerProxy::new(&s.worker, &s.report);
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| probe(&proxy))) {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => return Err(Fail::gate(Gate::Probe, GateError::Probe { error }, true)),
                    Err(payload) => {
                        let message = gates::panic_message(payload.as_ref());
                        return Err(Fail::gate(Gate::Probe, GateError::ProbePanicked { message }, true));
                    }
                }
            }
            (ProbeFor::InProcess(probe), None) => {
                gates::run_probe(Some(&probe), loaded(run)?).map_err(|e| Fail::gate(Gate::Probe, e, true))?;
            }
            // The host's configuration, not the candidate's bytes: not marked.
            (ProbeFor::Unrunnable(error), _) => return Err(Fail::gate(Gate::Probe, error, false)),
            _ => {}
        }
        Ok(Flow::Next)
    }

    /// The copy a restart loads is stored before anything is promoted: when it cannot be (a
    /// full disk), the candidate is refused and the version serving keeps serving, so a
    /// restart never comes back older than what served.
    fn step_store(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        let (Some(name), Some(version), Some(hash)) = (run.name.clone(), run.version.clone(), run.hash) else {
            return Ok(Flow::Next);
        };
        let stored = match (&run.started, &run.module, run.bytes.as_deref()) {
            (Some(_), _, Some(bytes)) => self.store_version(&name, &hash, super::state::ObjectFrom::Bytes(bytes)),
            (_, Some(module), _) => self.store_module(module),
            _ => Ok(()),
        };
        match stored {
            Ok(()) => Ok(Flow::Next),
            Err(error) => {
                run.fresh = true;
                Err(Fail::refused(self.not_stored(&name, version, hash, error)))
            }
        }
    }

    fn step_promote(&self, run: &mut Run<'_>) -> Result<Flow, Fail> {
        let (Some(name), Some(summary)) = (run.name.clone(), run.summary()) else { return Ok(Flow::Next) };
        let restore = !run.plan.is_deploy();
        let outcome = if restore { Happened::Restored } else { Happened::Promoted { from: None } };
        if let Some(s) = run.started.take() {
            self.iso_swap(&name, s.version, s.worker, s.report);
            let done = self.promoted(&name, summary, outcome);
            if !restore {
                lock(&self.inner.iso_waiting).retain(|w| w.name != done.name);
                if let Some(iso) = &run.iso {
                    self.iso_retry_waiting(iso);
                }
            }
            return Ok(Flow::Done(Some(Box::new(done))));
        }
        let module = loaded(run)?;
        self.inner
            .cache
            .promote_exact(module)
            .map_err(|e| Fail::gate(gates::cache_gate(&e), GateError::Cache(e), true))?;
        if restore {
            return Ok(Flow::Done(Some(Box::new(self.promoted(&name, summary, outcome)))));
        }
        let before = lock(&self.inner.state).modules.get(&name).and_then(|m| m.active.clone());
        let done = self.promoted(&name, summary, outcome);
        if self.inner.policy.journal == JournalPolicy::Revert
            && let Some(error) = self.journal_problem()
            && let Some(previous) = before.and_then(|b| self.inner.cache.version(&done.name, &b.hash))
        {
            // The journal still says the previous version: serve it again.
            run.fresh = false;
            self.switch_to(&done.name, &previous, Happened::RolledBack { from: None }).map_err(Fail::refused)?;
            return Err(Fail::refused(RollbackError::NotDurable { name: done.name, version: done.version, error }));
        }
        lock(&self.inner.waiting).retain(|w| w.module.name() != done.name);
        self.retry_waiting();
        Ok(Flow::Done(Some(Box::new(done))))
    }
}

/// The module a step after [`Step::Load`] works on.
fn loaded<'r>(run: &'r Run<'_>) -> Result<&'r Module, Fail> {
    run.module.as_ref().ok_or_else(|| not_loaded(run))
}

/// A step that needs the loaded module (or the started worker) met a run without one: every
/// plan loads (or starts) before such a step, so this is a plan that skipped it, refused at
/// the load gate rather than run.
fn not_loaded(run: &Run<'_>) -> Fail {
    Fail::gate(Gate::Load, not_loaded_error(run), false)
}

fn not_loaded_error(run: &Run<'_>) -> GateError {
    GateError::Load(hotpack_loader::LoadError::NotFound { path: run.source.path() })
}

/// A plain library's bytes: a regular file (a FIFO, a device or a directory named `x.so`
/// is refused before anything blocks or grows; links are followed), at most `max` bytes
/// (the cache's largest entry, as for a bundle's library).
fn read_library(path: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read};
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(Error::new(ErrorKind::InvalidInput, format!("larger than the limit of {max} bytes")));
    }
    Ok(bytes)
}
