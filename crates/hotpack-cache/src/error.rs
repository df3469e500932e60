//! The cache's error type.

use hotpack_archive::{BundleError, SearchError, SearchProblem};
use hotpack_loader::{CallError, LoadError};
use std::path::PathBuf;
use std::sync::Arc;

/// Why the cache could not do what was asked. Cheap to clone (the sources are shared), so
/// the same error is returned and sent in a [`CacheEvent::Failed`](crate::CacheEvent::Failed).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// No module of that name on the search path.
    #[error("module `{name}` not found on the search path [{}]{}", display_paths(searched), display_problems(problems))]
    NotFound {
        /// The name.
        name: String,
        /// The search path entries.
        searched: Vec<PathBuf>,
        /// Problems met (broken bundles, unreadable directories).
        problems: Arc<[SearchProblem]>,
    },
    /// The search path named a location kind the cache cannot load from.
    #[error("module `{name}`: cannot load from {location}")]
    UnsupportedLocation {
        /// The name.
        name: String,
        /// The location, as the search path shows it.
        location: String,
    },
    /// A bundle holds no module directory of that name.
    #[error("{}: no module directory `{dir}` in the bundle", path.display())]
    NoModuleDir {
        /// The bundle.
        path: PathBuf,
        /// The directory asked for.
        dir: String,
    },
    /// The search itself failed.
    #[error(transparent)]
    Search(Arc<SearchError>),
    /// The bundle was refused.
    #[error(transparent)]
    Bundle(Arc<BundleError>),
    /// The loader refused the library (or its init failed).
    #[error(transparent)]
    Load(Arc<LoadError>),
    /// A library found as `lib<name>.so` (or a bundle entry) says it is another module.
    #[error("{path}: expected module `{expected}`, the library's descriptor says `{found}`")]
    NameMismatch {
        /// The source.
        path: PathBuf,
        /// The name asked for.
        expected: String,
        /// The descriptor's name.
        found: String,
    },
    /// A bundle's manifest and the library's descriptor name different modules.
    #[error("{path}: manifest says name `{manifest}`, the library's descriptor says `{descriptor}`")]
    ManifestMismatch {
        /// The bundle.
        path: PathBuf,
        /// The manifest's module name.
        manifest: String,
        /// The descriptor's module name.
        descriptor: String,
    },
    /// A bundle's manifest and the library's descriptor give different versions.
    #[error("{path}: manifest says version `{manifest}`, the library's descriptor says `{descriptor}`")]
    VersionMismatch {
        /// The bundle.
        path: PathBuf,
        /// The manifest's version.
        manifest: semver::Version,
        /// The descriptor's version.
        descriptor: semver::Version,
    },
    /// The bundle holds no library for this host's target.
    #[error("{path}: module `{module}` has no library for target `{target}`")]
    NoLibraryForTarget {
        /// The bundle.
        path: PathBuf,
        /// The module.
        module: String,
        /// This host's target triple.
        target: String,
    },
    /// Exporting state from the serving version failed.
    #[error("module `{name}` {version}: state export failed: {error}")]
    StateExport {
        /// Module name.
        name: String,
        /// The serving version.
        version: semver::Version,
        /// What the hook said.
        #[source]
        error: CallError,
    },
    /// The candidate refused the serving version's state.
    #[error("module `{name}` {version}: state import failed: {error}")]
    StateImport {
        /// Module name.
        name: String,
        /// The candidate version.
        version: semver::Version,
        /// What the hook said.
        #[source]
        error: CallError,
    },
    /// No module of that name is in the cache.
    #[error("module `{name}` is not loaded")]
    NotLoaded {
        /// The name.
        name: String,
    },
    /// No version with that hash is registered.
    #[error("module `{name}` has no registered version with hash {hash}")]
    NoSuchVersion {
        /// The name.
        name: String,
        /// The hash asked for.
        hash: blake3::Hash,
    },
    /// The current version cannot be retired.
    #[error("module `{name}` {version} is the current version; activate another before retiring it")]
    RetireCurrent {
        /// The name.
        name: String,
        /// Its version.
        version: semver::Version,
    },
    /// A required interface has no provider among the current modules (at a version in the
    /// requirement's range): the module is not made current (it is kept, and made current by
    /// itself once a provider arrives).
    #[error(
        "module `{name}` {version} requires `{interface}` ({id:#018x}){} and no current module provides it; it becomes current once one does",
        in_range(range)
    )]
    MissingProvider {
        /// The dependent.
        name: String,
        /// Its version.
        version: semver::Version,
        /// The required interface.
        interface: String,
        /// Its id.
        id: u64,
        /// The provider versions the requirement accepts (`None`: any).
        range: Option<Arc<semver::VersionReq>>,
    },
    /// The candidate no longer provides, with the same id, an interface current modules
    /// take from its name.
    #[error(
        "module `{name}` {version} does not provide `{interface}` ({id:#018x}) as its dependents require: it would break {}",
        dependents.join(", ")
    )]
    BreaksDependents {
        /// The provider's name.
        name: String,
        /// The candidate version.
        version: semver::Version,
        /// The interface they require.
        interface: String,
        /// The id they require.
        id: u64,
        /// The dependents it would break.
        dependents: Arc<[String]>,
    },
    /// The candidate provides the interface current modules take from its name, but its
    /// version is outside the range they require of their provider.
    #[error(
        "module `{name}` {version} is outside the range `{range}` that {} require of `{interface}`'s provider: it would break them",
        dependents.join(", ")
    )]
    OutsideRange {
        /// The provider's name.
        name: String,
        /// The candidate version.
        version: semver::Version,
        /// The interface they require.
        interface: Arc<str>,
        /// The range the candidate's version is outside.
        range: Arc<semver::VersionReq>,
        /// The dependents requiring that range.
        dependents: Arc<[String]>,
    },
    /// Making the candidate current would close a cycle of requirements.
    #[error("module `{name}` would close a cycle of requirements: {}", cycle.join(" -> "))]
    Cycle {
        /// The candidate.
        name: String,
        /// The modules of the cycle, the candidate first and last.
        cycle: Arc<[String]>,
    },
    /// A module other current modules require cannot be taken away from under them.
    #[error("module `{name}` provides what {} require; remove or change them first", dependents.join(", "))]
    HasDependents {
        /// The provider.
        name: String,
        /// Its current dependents.
        dependents: Arc<[String]>,
    },
}

fn in_range(range: &Option<Arc<semver::VersionReq>>) -> String {
    range.as_ref().map(|r| format!(" at a version in `{r}`")).unwrap_or_default()
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

fn display_problems(problems: &[SearchProblem]) -> String {
    if problems.is_empty() {
        String::new()
    } else {
        format!("; problems: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
    }
}

impl From<LoadError> for CacheError {
    fn from(e: LoadError) -> Self {
        CacheError::Load(Arc::new(e))
    }
}

impl From<BundleError> for CacheError {
    fn from(e: BundleError) -> Self {
        CacheError::Bundle(Arc::new(e))
    }
}

impl From<SearchError> for CacheError {
    fn from(e: SearchError) -> Self {
        CacheError::Search(Arc::new(e))
    }
}
