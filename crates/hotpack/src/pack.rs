//! Packing a built cdylib into a bundle, reading its metadata from its own descriptor.

use std::path::{Path, PathBuf};

use hotpack_archive::{ModuleMeta, PackError};
use hotpack_loader::{LoadError, Loader};

/// Why [`pack_library`] could not pack a library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackLibraryError {
    /// The library file could not be read.
    #[error("cannot read library {path}: {source}")]
    Read {
        /// The library.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The library's name has no file-name component.
    #[error("{path}: not a library file name")]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// No cache directory to load the library from (see [`default_cache_dir`](crate::default_cache_dir)).
    #[error(transparent)]
    CacheDir(Box<crate::Error>),
    /// The loader refused the library, so its descriptor could not be read.
    #[error(transparent)]
    Load(LoadError),
    /// The archive refused the metadata or could not write the bundle.
    #[error(transparent)]
    Pack(PackError),
}

/// Packs the cdylib at `library` into a single-module bundle at `out` (written atomically),
/// with `resources` as (relative path, content) entries. The manifest is filled from the
/// library's own descriptor, which is read by loading it through `loader` (so the library
/// must be a valid hotpack module for this host). Returns the metadata packed.
///
/// # Errors
///
/// [`PackLibraryError`] naming the file and the problem.
pub fn pack_library_with(
    loader: &Loader,
    library: &Path,
    out: &Path,
    resources: Vec<(String, Vec<u8>)>,
) -> Result<ModuleMeta, PackLibraryError> {
    let bytes =
        std::fs::read(library).map_err(|source| PackLibraryError::Read { path: library.to_path_buf(), source })?;
    let library_name = library
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| PackLibraryError::NotAFile { path: library.to_path_buf() })?;
    let module = loader.load_bytes(&bytes, library).map_err(PackLibraryError::Load)?;
    let spec = hotpack_cache::pack_spec(&module, &library_name, bytes, resources);
    hotpack_archive::pack_to_file(&spec, out).map_err(PackLibraryError::Pack)?;
    Ok(spec.meta)
}

/// [`pack_library_with`] through a loader on [`default_cache_dir`](crate::default_cache_dir).
///
/// # Errors
///
/// As [`pack_library_with`], plus [`PackLibraryError::Load`] when the cache directory cannot
/// be created.
pub fn pack_library(
    library: &Path,
    out: &Path,
    resources: Vec<(String, Vec<u8>)>,
) -> Result<ModuleMeta, PackLibraryError> {
    let dir = crate::default_cache_dir().map_err(|e| PackLibraryError::CacheDir(Box::new(e)))?;
    let loader = Loader::new(dir).map_err(PackLibraryError::Load)?;
    pack_library_with(&loader, library, out, resources)
}
