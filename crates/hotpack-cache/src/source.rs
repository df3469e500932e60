//! Where a version's bytes come from, and resolving a name on the search path to them.

use crate::{Cache, CacheError, CacheEvent, read};
use hotpack_archive::{Bundle, Location, SearchError, SearchPath};
use hotpack_loader::{Materialize, Module};
use std::fmt;
use std::path::PathBuf;

/// Largest library buffer a thread keeps between loads from bundles.
const LIBRARY_KEEP: usize = 64 << 20;

thread_local! {
    /// The buffer a bundle's library is read into before it is loaded: one per thread, kept
    /// between loads (up to [`LIBRARY_KEEP`]). A fresh buffer per load is a library's worth
    /// of fresh pages faulted in each time, and whether malloc hands back warm or fresh
    /// pages depends on what the process allocated before: the load bench took 1.17x or 1.5x
    /// its floor with the same code, by that alone.
    static LIBRARY: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Where a version's bytes came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// A plain library file.
    File(PathBuf),
    /// A module inside a bundle.
    Bundle {
        /// The bundle file.
        bundle: PathBuf,
        /// The module's directory inside the zip.
        dir: String,
    },
    /// Bytes handed over by the host.
    Memory(String),
}

impl Source {
    /// The file that holds the bytes: the library, or the bundle (`None` for memory).
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            Source::File(p) => Some(p),
            Source::Bundle { bundle, .. } => Some(bundle),
            Source::Memory(_) => None,
        }
    }

    /// A path naming the source in messages.
    pub fn path(&self) -> PathBuf {
        match self {
            Source::File(p) => p.clone(),
            Source::Bundle { bundle, dir } if dir.is_empty() => bundle.clone(),
            Source::Bundle { bundle, dir } => bundle.join(dir),
            Source::Memory(name) => PathBuf::from(format!("<memory:{name}>")),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path().display())
    }
}

impl Cache {
    /// Where `name` resolves on the search path now: a library file or a module directory
    /// inside a bundle (`bundle.zip/sub` entries included). This is the one resolution every
    /// import uses, the cache's own and the supervisor's. Problems met on the way and
    /// shadowed copies are emitted as events; nothing is loaded.
    ///
    /// # Errors
    ///
    /// [`CacheError::NotFound`] (with the problems met), [`CacheError::Search`],
    /// [`CacheError::UnsupportedLocation`].
    pub fn resolve(&self, name: &str) -> Result<Source, CacheError> {
        let found = {
            let search = read(&self.inner.search);
            match search.find(name) {
                Ok(found) => found,
                Err(e) => return Err(self.not_found(name, &search, e)),
            }
        };
        for problem in found.problems {
            self.emit(CacheEvent::SearchProblem { name: name.to_owned(), problem: std::sync::Arc::new(problem) });
        }
        if !found.shadowed.is_empty() {
            self.emit(CacheEvent::Shadowed {
                name: name.to_owned(),
                used: found.primary.location.to_string(),
                hidden: found.shadowed.iter().map(|v| v.location.to_string()).collect(),
            });
        }
        match found.primary.location {
            Location::Library { path } => Ok(Source::File(path)),
            Location::Bundle { bundle, dir, .. } => Ok(Source::Bundle { bundle, dir }),
            other => Err(CacheError::UnsupportedLocation { name: name.to_owned(), location: other.to_string() }),
        }
    }

    /// Checks that a version loaded for `name` from `source` says it is `name`.
    ///
    /// # Errors
    ///
    /// [`CacheError::NameMismatch`].
    pub fn check_name(name: &str, source: &Source, module: &Module) -> Result<(), CacheError> {
        if module.name() == name {
            return Ok(());
        }
        Err(CacheError::NameMismatch {
            path: source.file().map_or_else(|| source.path(), std::path::Path::to_path_buf),
            expected: name.to_owned(),
            found: module.name().to_owned(),
        })
    }

    pub(crate) fn resolve_and_load(&self, name: &str) -> Result<(Module, Source), CacheError> {
        let source = self.resolve(name)?;
        let module = match &source {
            Source::File(path) => self.inner.loader.load_file(path).map_err(CacheError::from)?,
            Source::Bundle { bundle, dir } => {
                let opened = Bundle::open(bundle, &self.inner.limits).map_err(CacheError::from)?;
                self.load_from_bundle(&opened, dir, None)?
            }
            Source::Memory(_) => {
                return Err(CacheError::UnsupportedLocation { name: name.to_owned(), location: source.to_string() });
            }
        };
        Cache::check_name(name, &source, &module)?;
        Ok((module, source))
    }

    pub(crate) fn not_found(&self, name: &str, search: &SearchPath, e: SearchError) -> CacheError {
        match e {
            SearchError::NotFound { problems, .. } => CacheError::NotFound {
                name: name.to_owned(),
                searched: search.entries().to_vec(),
                problems: problems.into(),
            },
            other => CacheError::from(other),
        }
    }

    /// `verified`: the library's bytes, already read (and so verified) from `bundle`.
    pub(crate) fn load_from_bundle(
        &self,
        bundle: &Bundle,
        dir: &str,
        verified: Option<(&[u8], &blake3::Hash)>,
    ) -> Result<Module, CacheError> {
        let path = bundle.path().to_path_buf();
        let entry = bundle
            .modules()
            .iter()
            .find(|m| m.dir() == dir)
            .ok_or_else(|| CacheError::NoModuleDir { path: path.clone(), dir: dir.to_owned() })?;
        let manifest = entry.manifest();
        let target = hotpack_abi::TARGET;
        if manifest.library(target).is_none() {
            return Err(CacheError::NoLibraryForTarget {
                path,
                module: entry.name().to_owned(),
                target: target.to_owned(),
            });
        }
        let module = match verified {
            Some((bytes, hash)) => self
                .inner
                .loader
                .load_bytes_hashed(bytes, hash, &path, Materialize::default())
                .map_err(CacheError::from),
            None => {
                let mut bytes = LIBRARY.take();
                let loaded = bundle.read_library_into(entry.name(), target, &mut bytes).map_err(CacheError::from);
                // `read_library_into` checked these bytes against the manifest's blake3: that
                // is their hash, no need to compute it a second time.
                let loaded = loaded.and_then(|()| {
                    match manifest.library(target).and_then(|rel| manifest.entries.get(rel)) {
                        Some(digest) => self.inner.loader.load_bytes_hashed(
                            &bytes,
                            &blake3::Hash::from_bytes(digest.blake3),
                            &path,
                            Materialize::default(),
                        ),
                        None => self.inner.loader.load_bytes(&bytes, &path),
                    }
                    .map_err(CacheError::from)
                });
                if bytes.capacity() <= LIBRARY_KEEP {
                    bytes.clear();
                    LIBRARY.set(bytes);
                }
                loaded
            }
        }?;
        if module.name() != entry.name() {
            return Err(CacheError::ManifestMismatch {
                path,
                manifest: entry.name().to_owned(),
                descriptor: module.name().to_owned(),
            });
        }
        if *module.version() != manifest.meta.version {
            return Err(CacheError::VersionMismatch {
                path,
                manifest: manifest.meta.version.clone(),
                descriptor: module.version().clone(),
            });
        }
        Ok(module)
    }
}
