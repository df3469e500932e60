//! The watch-to-deploy policy: which changed files a watching host deploys, and the one
//! loop that deploys them (`run.rs`).

use std::path::{Path, PathBuf};

mod run;
pub use run::{WatchError, WatchReport, Watching, deployable_files};

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
    /// A filter over `roots` (those that do not exist are dropped), each in the forms a
    /// watcher reports paths under: canonical, and for a symbolic link to a directory
    /// (`current -> releases/7`) also the link itself under its canonical parent, which is
    /// how `hotpack-detect` reports paths through the link.
    pub fn new(roots: &[PathBuf]) -> DeployFilter {
        let mut forms = Vec::new();
        for root in roots {
            let Ok(canonical) = root.canonicalize() else { continue };
            let is_link = std::fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink());
            if is_link
                && canonical.is_dir()
                && let (Some(parent), Some(name)) = (root.parent(), root.file_name())
            {
                let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
                if let Ok(parent) = parent.canonicalize() {
                    forms.push(parent.join(name));
                }
            }
            forms.push(canonical);
        }
        DeployFilter { roots: forms }
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
    fn a_symlinked_root_matches_paths_through_the_link_and_its_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().canonicalize().expect("canonical");
        let release = base.join("releases/7");
        std::fs::create_dir_all(&release).expect("mkdir");
        let current = base.join("current");
        std::os::unix::fs::symlink(&release, &current).expect("symlink");
        let filter = DeployFilter::new(std::slice::from_ref(&current));
        assert!(filter.wants(&current.join("greeter.zip"), false));
        assert!(filter.wants(&release.join("greeter.zip"), false));
        assert!(!filter.wants(&current.join("greeter.zip"), true), "removals deploy nothing");
        assert!(!filter.wants(&base.join("greeter.zip"), false), "outside the roots");
    }

    #[test]
    fn deployable_kinds() {
        assert!(is_deployable(Path::new("/p/greeter.zip")));
        assert!(is_deployable(Path::new("/p/libgreeter.so")));
        assert!(!is_deployable(Path::new("/p/.greeter.zip.tmp")));
        assert!(!is_deployable(Path::new("/p/.libgreeter.so")));
        assert!(!is_deployable(Path::new("/p/notes.txt")));
    }
}
