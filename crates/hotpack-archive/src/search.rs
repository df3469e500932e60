//! The module search path, like Python's `sys.path`: directories, bundle files, and
//! `bundle.zip/sub/dir` prefixes, searched in order.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::Limits;
use crate::bundle::Bundle;
use crate::error::{BundleError, SearchError};

/// Where a module was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A module inside a bundle.
    Bundle {
        /// The bundle file.
        bundle: PathBuf,
        /// The module directory inside the zip (`""` or ending in `/`).
        dir: String,
        /// The module version its manifest declares.
        version: semver::Version,
    },
    /// A plain cdylib file (its real name is checked later, from its descriptor).
    Library {
        /// The library file.
        path: PathBuf,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Bundle { bundle, dir, version } => {
                write!(f, "{}/{dir} (version {version})", bundle.display())
            }
            Location::Library { path } => write!(f, "{}", path.display()),
        }
    }
}

/// A module visible on the search path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visible {
    /// The module name.
    pub name: String,
    /// Where it is.
    pub location: Location,
    /// Index of the search-path entry it was found through.
    pub path_index: usize,
}

/// Something the search met and could not use; reported, never fatal to the search.
#[derive(Debug)]
#[non_exhaustive]
pub enum SearchProblem {
    /// A bundle (on the path, or in a directory on the path) failed to open.
    Bundle(BundleError),
    /// A directory on the path could not be listed.
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A search-path entry names nothing that exists (no directory, file or bundle prefix).
    Missing {
        /// The entry.
        path: PathBuf,
    },
}

impl fmt::Display for SearchProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchProblem::Bundle(err) => write!(f, "{err}"),
            SearchProblem::ReadDir { path, source } => write!(f, "{}: cannot list directory: {source}", path.display()),
            SearchProblem::Missing { path } => {
                write!(f, "{}: no such directory, bundle or bundle prefix", path.display())
            }
        }
    }
}

/// The result of [`SearchPath::find`]: the first location in path order, every location
/// it shadows, and the problems met.
#[derive(Debug)]
pub struct Found {
    /// The name looked for.
    pub name: String,
    /// The first location in path order: the one to load.
    pub primary: Visible,
    /// Later locations holding a module of the same name (hidden by `primary`).
    pub shadowed: Vec<Visible>,
    /// Problems met on the way (bundles that failed to open, unreadable directories, ...).
    pub problems: Vec<SearchProblem>,
}

/// Every module visible on the path, in path order, and the problems met.
#[derive(Debug, Default)]
pub struct Listing {
    /// Every (name, location), in search order; a name may appear more than once.
    pub modules: Vec<Visible>,
    /// Problems met on the way.
    pub problems: Vec<SearchProblem>,
}

/// An ordered list of places to look for modules.
///
/// Each entry is one of:
/// - a directory: bundle files in it (`*.zip`, `*.hpk`, every module they hold) and plain
///   cdylibs (`lib<name>.so`, `lib<name>.dylib`, `<name>.dll`), in byte order of file name;
///   sub-directories are not searched;
/// - a bundle file: every module it holds;
/// - `bundle.zip/sub/dir`: a path whose leading part is a bundle file; the modules of that
///   bundle whose directory is `sub/dir/` or below it.
///
/// Nothing is cached: every search lists directories and opens bundles again.
#[derive(Debug, Clone, Default)]
pub struct SearchPath {
    entries: Vec<PathBuf>,
    limits: Limits,
}

enum Kind {
    Dir,
    Bundle { file: PathBuf, prefix: String },
    Missing,
}

fn classify(p: &Path) -> Kind {
    if p.is_dir() {
        return Kind::Dir;
    }
    if p.is_file() {
        return Kind::Bundle { file: p.to_path_buf(), prefix: String::new() };
    }
    match split_bundle_prefix(p) {
        Some((file, prefix)) => Kind::Bundle { file, prefix },
        None => Kind::Missing,
    }
}

/// The `bundle.zip/sub/dir` form of a search-path entry: for a path that is not itself a
/// file or directory, the bundle file among its ancestors and the module-directory prefix
/// below it (`"sub/dir/"`). `None` when no ancestor is a file, or the rest is not plain
/// UTF-8 path components. The one rule for this path form, used by the search path and by
/// deploys of such a path.
pub fn split_bundle_prefix(p: &Path) -> Option<(PathBuf, String)> {
    if p.exists() {
        return None;
    }
    for anc in p.ancestors().skip(1) {
        if anc.as_os_str().is_empty() || anc.is_dir() {
            return None;
        }
        if anc.is_file() {
            let mut parts = Vec::new();
            for c in p.strip_prefix(anc).ok()?.components() {
                match c {
                    Component::Normal(s) => parts.push(s.to_str()?),
                    Component::CurDir => {}
                    _ => return None,
                }
            }
            let prefix = if parts.is_empty() { String::new() } else { format!("{}/", parts.join("/")) };
            return Some((anc.to_path_buf(), prefix));
        }
    }
    None
}

/// The module name of a plain cdylib file name, if it is one.
fn library_name(file: &str) -> Option<&str> {
    let name = if let Some(stem) = file.strip_suffix(".so").or_else(|| file.strip_suffix(".dylib")) {
        stem.strip_prefix("lib")?
    } else {
        file.strip_suffix(".dll")?
    };
    (!name.is_empty()).then_some(name)
}

impl SearchPath {
    /// An empty search path with default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty search path whose bundles are opened with `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        SearchPath { entries: Vec::new(), limits }
    }

    /// Append an entry (searched last).
    pub fn push(&mut self, entry: impl Into<PathBuf>) {
        self.entries.push(entry.into());
    }

    /// Insert an entry at `index` (0 = searched first).
    ///
    /// # Panics
    /// If `index > len`.
    pub fn insert(&mut self, index: usize, entry: impl Into<PathBuf>) {
        self.entries.insert(index, entry.into());
    }

    /// Remove the first entry equal to `entry`; returns whether one was removed.
    pub fn remove(&mut self, entry: &Path) -> bool {
        match self.entries.iter().position(|e| e == entry) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }

    /// The entries, in search order.
    pub fn entries(&self) -> &[PathBuf] {
        &self.entries
    }

    /// Visit every module visible on the path, in order; `want` filters by name early
    /// (plain libraries are matched by file name without touching them).
    fn scan(&self, want: Option<&str>) -> Listing {
        let mut out = Listing::default();
        let matches = |name: &str| want.is_none_or(|w| w == name);
        for (path_index, entry) in self.entries.iter().enumerate() {
            match classify(entry) {
                Kind::Missing => out.problems.push(SearchProblem::Missing { path: entry.clone() }),
                Kind::Bundle { file, prefix } => {
                    self.scan_bundle(&file, &prefix, path_index, &matches, &mut out);
                }
                Kind::Dir => {
                    let listing = match std::fs::read_dir(entry) {
                        Ok(rd) => rd,
                        Err(source) => {
                            out.problems.push(SearchProblem::ReadDir { path: entry.clone(), source });
                            continue;
                        }
                    };
                    let mut files: Vec<(String, PathBuf)> = Vec::new();
                    for item in listing {
                        match item {
                            Ok(item) => {
                                if let Some(name) = item.file_name().to_str() {
                                    files.push((name.to_owned(), item.path()));
                                }
                            }
                            Err(source) => {
                                out.problems.push(SearchProblem::ReadDir { path: entry.clone(), source });
                            }
                        }
                    }
                    files.sort();
                    for (file_name, path) in files {
                        if !path.is_file() {
                            continue;
                        }
                        if file_name.ends_with(".zip") || file_name.ends_with(".hpk") {
                            self.scan_bundle(&path, "", path_index, &matches, &mut out);
                        } else if let Some(name) = library_name(&file_name)
                            && matches(name)
                        {
                            out.modules.push(Visible {
                                name: name.to_owned(),
                                location: Location::Library { path },
                                path_index,
                            });
                        }
                    }
                }
            }
        }
        out
    }

    fn scan_bundle(
        &self,
        file: &Path,
        prefix: &str,
        path_index: usize,
        matches: &dyn Fn(&str) -> bool,
        out: &mut Listing,
    ) {
        match Bundle::open(file, &self.limits) {
            Ok(bundle) => {
                for m in bundle.modules() {
                    if m.dir().starts_with(prefix) && matches(m.name()) {
                        out.modules.push(Visible {
                            name: m.name().to_owned(),
                            location: Location::Bundle {
                                bundle: file.to_path_buf(),
                                dir: m.dir().to_owned(),
                                version: m.manifest().meta.version.clone(),
                            },
                            path_index,
                        });
                    }
                }
            }
            Err(err) => out.problems.push(SearchProblem::Bundle(err)),
        }
    }

    /// Find `name`: the first location in path order, plus every location it shadows and
    /// every problem met (a bundle that fails to open does not stop the search).
    ///
    /// # Errors
    /// [`SearchError::NotFound`] (carrying the problems met) when no entry holds it.
    pub fn find(&self, name: &str) -> Result<Found, SearchError> {
        let listing = self.scan(Some(name));
        let mut modules = listing.modules.into_iter();
        match modules.next() {
            Some(primary) => {
                Ok(Found { name: name.to_owned(), primary, shadowed: modules.collect(), problems: listing.problems })
            }
            None => Err(SearchError::NotFound {
                name: name.to_owned(),
                searched: self.entries.len(),
                problems: listing.problems,
            }),
        }
    }

    /// Every location of `name`, in path order (the first is what [`find`](Self::find)
    /// returns), and the problems met.
    pub fn find_all(&self, name: &str) -> Listing {
        self.scan(Some(name))
    }

    /// Every module visible on the path, in path order, and the problems met.
    pub fn list(&self) -> Listing {
        self.scan(None)
    }
}

#[cfg(test)]
mod tests {
    use super::library_name;

    #[test]
    fn library_names() {
        assert_eq!(library_name("libgreeter.so"), Some("greeter"));
        assert_eq!(library_name("libgreeter.dylib"), Some("greeter"));
        assert_eq!(library_name("greeter.dll"), Some("greeter"));
        assert_eq!(library_name("greeter.so"), None);
        assert_eq!(library_name("lib.so"), None);
        assert_eq!(library_name("libx.so.1"), None);
        assert_eq!(library_name("notes.txt"), None);
    }
}
