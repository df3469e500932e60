//! What the cache reports to subscribers.

use crate::{CacheError, VersionInfo};
use hotpack_archive::SearchProblem;
use std::sync::Arc;

/// What the cache did, for logs, the CLI and the rollback crate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CacheEvent {
    /// A version was loaded and registered.
    Loaded {
        /// The version.
        version: VersionInfo,
    },
    /// A version was promoted: the current version of a module changed.
    Promoted {
        /// Module name.
        name: String,
        /// The previous current version, if any.
        from: Option<VersionInfo>,
        /// The new current version.
        to: VersionInfo,
    },
    /// A version was retired: the registry forgot it; its code stays mapped.
    Retired {
        /// The version.
        version: VersionInfo,
    },
    /// Something failed; whatever was serving keeps serving.
    Failed {
        /// Module name, when known.
        name: Option<String>,
        /// Where the failing bytes came from, when known.
        source: Option<String>,
        /// What went wrong (the error the call returned, shared).
        error: Arc<CacheError>,
    },
    /// The search path met a problem while looking for a module (a broken bundle, an
    /// unreadable directory); the search went on.
    SearchProblem {
        /// The module searched for.
        name: String,
        /// What was met.
        problem: Arc<SearchProblem>,
    },
    /// A name was found in more than one place on the search path; the first one is used.
    Shadowed {
        /// Module name.
        name: String,
        /// The location used.
        used: String,
        /// The locations hidden behind it.
        hidden: Vec<String>,
    },
    /// A name was invalidated: the next import resolves it on the search path again.
    Invalidated {
        /// Module name.
        name: String,
    },
}
