//! The watch-to-deploy policy: which changed files a watching host deploys.

use std::path::{Path, PathBuf};

/// Whether `path` is deployed as a bundle (`.zip`) rather than as a plain library.
pub fn is_bundle(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "zip")
}

/// A bundle or a library, not a hidden (temporary) file.
pub fn is_deployable(path: &Path) -> bool {
    let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
    !hidden && (is_bundle(path) || path.extension().is_some_and(|e| e == std::env::consts::DLL_EXTENSION))
}

/// Which changes a watch over search-path directories deploys: a bundle or library created
/// or replaced directly inside one of the roots (or a root that is such a file). Removals
/// deploy nothing: the version serving keeps serving.
#[derive(Debug, Clone)]
pub struct DeployFilter {
    roots: Vec<PathBuf>,
}

impl DeployFilter {
    /// A filter over `roots` (canonicalized where they exist; others are dropped).
    pub fn new(roots: &[PathBuf]) -> DeployFilter {
        DeployFilter { roots: roots.iter().filter_map(|p| p.canonicalize().ok()).collect() }
    }

    /// Whether a change of `path` (`removed` when the file went away) is deployed.
    pub fn wants(&self, path: &Path, removed: bool) -> bool {
        let on_path = self.roots.iter().any(|root| path == root || path.parent() == Some(root.as_path()));
        !removed && on_path && is_deployable(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployable_kinds() {
        assert!(is_deployable(Path::new("/p/greeter.zip")));
        assert!(is_deployable(Path::new("/p/libgreeter.so")));
        assert!(!is_deployable(Path::new("/p/.greeter.zip.tmp")));
        assert!(!is_deployable(Path::new("/p/.libgreeter.so")));
        assert!(!is_deployable(Path::new("/p/notes.txt")));
    }
}
