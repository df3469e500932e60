//! A candidate of the runner (`supervisor/pipeline.rs`): where its bytes come from
//! ([`Candidate`]), and what the steps of its run have learned about it so far ([`Run`]).

use super::isolate::IsoVersion;
use super::*;
use crate::gates::Plan;
use hotpack_archive::BundleModule;
use hotpack_worker::{ModuleReport, Worker};

/// Where a candidate comes from: the one input of the runner.
pub(super) enum Candidate<'a> {
    /// One module directory of an opened bundle (its library not read yet).
    BundleModule { bundle: &'a Bundle, module: &'a BundleModule },
    /// A plain library: its bytes (confirmed by a watcher; `hash` when already known), or
    /// `None` to read the file at [`Step::Verify`](crate::Step::Verify) (after the signature
    /// step, so a plain file is never read under trusted keys); it must be the module
    /// `expect` when that is set.
    FileBytes {
        path: &'a Path,
        bytes: Option<&'a [u8]>,
        hash: Option<blake3::Hash>,
        expect: Option<&'a str>,
        how: Materialize,
    },
    /// The stored copy (`objects/<blake3>.so`) of a version this host ran, as the journal
    /// names it.
    Stored { version: &'a VersionSummary, dir: &'a Path },
    /// A module already loaded: by the host (`Supervisor::deploy`), or a candidate that
    /// waited for a provider after its load (resumed at [`Step::Bindings`](crate::Step::Bindings)).
    Loaded { module: Module, source: Source },
    /// Bytes the host verified earlier, waiting for a provider under isolation (resumed at
    /// [`Step::StartWorker`](crate::Step::StartWorker)); `expect`: the manifest's name and version, `want`: the name a
    /// plain library must have.
    Verified {
        bytes: Arc<[u8]>,
        hash: blake3::Hash,
        source: Source,
        expect: Option<(String, semver::Version)>,
        want: Option<String>,
    },
}

/// The verified library bytes a run holds.
pub(super) enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl std::ops::Deref for Bytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(b) => b,
            Bytes::Owned(b) => b,
            Bytes::Shared(b) => b,
        }
    }
}

/// A candidate's worker under isolation, from [`Step::StartWorker`](crate::Step::StartWorker) until the promotion
/// (dropped, and so killed, when the run stops before).
pub(super) struct Started {
    pub(super) worker: Worker,
    pub(super) report: ModuleReport,
    pub(super) version: Arc<IsoVersion>,
}

/// A run: the candidate and what the steps learned about it so far.
pub(super) struct Run<'a> {
    pub(super) plan: Plan,
    pub(super) cand: Candidate<'a>,
    /// What a refusal is recorded under while the module's name is not known.
    pub(super) label: String,
    pub(super) name: Option<String>,
    pub(super) version: Option<semver::Version>,
    pub(super) hash: Option<blake3::Hash>,
    pub(super) source: Source,
    pub(super) bytes: Option<Bytes<'a>>,
    pub(super) module: Option<Module>,
    /// The candidate was registered by this run (retired again when it is refused).
    pub(super) fresh: bool,
    pub(super) started: Option<Started>,
    /// Restore: a refusal only for a missing provider is put off to a later pass.
    pub(super) defer: bool,
    /// Set for the isolated plans (the isolation their worker starts under).
    pub(super) iso: Option<Isolation>,
}

impl<'a> Run<'a> {
    pub(super) fn new(plan: Plan, cand: Candidate<'a>) -> Run<'a> {
        let target = hotpack_abi::TARGET;
        let (label, name, version, hash, source, bytes, module) = match &cand {
            Candidate::BundleModule { bundle, module } => {
                let claimed = module
                    .manifest()
                    .library(target)
                    .and_then(|rel| bundle.digest(module.name(), rel))
                    .map(|d| blake3::Hash::from_bytes(d.blake3));
                let source = Source::Bundle { bundle: bundle.path().to_path_buf(), dir: module.dir().to_owned() };
                let meta = &module.manifest().meta;
                (
                    module.name().to_owned(),
                    Some(module.name().to_owned()),
                    Some(meta.version.clone()),
                    claimed,
                    source,
                    None,
                    None,
                )
            }
            Candidate::FileBytes { path, bytes, hash, .. } => {
                let label = path.display().to_string();
                (label, None, None, *hash, Source::File(path.to_path_buf()), bytes.map(Bytes::Borrowed), None)
            }
            Candidate::Stored { version, .. } => (
                String::new(),
                None,
                Some(version.version.clone()),
                Some(version.hash),
                version.source.clone(),
                None,
                None,
            ),
            Candidate::Loaded { module, source } => (
                module.name().to_owned(),
                Some(module.name().to_owned()),
                Some(module.version().clone()),
                Some(*module.hash()),
                source.clone(),
                None,
                Some(module.clone()),
            ),
            Candidate::Verified { bytes, hash, source, expect, .. } => (
                source.to_string(),
                expect.as_ref().map(|(n, _)| n.clone()),
                expect.as_ref().map(|(_, v)| v.clone()),
                Some(*hash),
                source.clone(),
                Some(Bytes::Shared(Arc::clone(bytes))),
                None,
            ),
        };
        Run {
            plan,
            cand,
            label,
            name,
            version,
            hash,
            source,
            bytes,
            module,
            fresh: false,
            started: None,
            defer: false,
            iso: None,
        }
    }

    /// The plan `host` in process, or `worker` when `iso` is set: where the code will run.
    pub(super) fn choose(host: Plan, worker: Plan, iso: Option<Isolation>, cand: Candidate<'a>) -> Run<'a> {
        let plan = if iso.is_some() { worker } else { host };
        let mut run = Run::new(plan, cand);
        run.iso = iso;
        run
    }

    /// A stored version of `name` (restore: `host` and `worker` are the restore plans;
    /// retain: the retain plans).
    pub(super) fn stored(
        (host, worker): (Plan, Plan),
        iso: Option<Isolation>,
        name: &str,
        version: &'a VersionSummary,
        dir: &'a Path,
        defer: bool,
    ) -> Run<'a> {
        let mut run = Run::choose(host, worker, iso, Candidate::Stored { version, dir });
        run.name = Some(name.to_owned());
        run.label = name.to_owned();
        run.defer = defer;
        run
    }

    pub(super) fn summary(&self) -> Option<VersionSummary> {
        Some(VersionSummary { version: self.version.clone()?, hash: self.hash?, source: self.source.clone() })
    }
}
