//! Packing a built cdylib into a bundle, reading its metadata from its own descriptor.

use std::path::{Path, PathBuf};

use hotpack_archive::{ModuleMeta, PackError};

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
    /// The library's descriptor could not be read (or says no host would load it).
    #[error("{path}: cannot pack this library")]
    Describe {
        /// The library.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: hotpack_cache::PackSpecError,
    },
    /// The archive refused the metadata or could not write the bundle.
    #[error(transparent)]
    Pack(PackError),
}

/// Packs the cdylib at `library` into a single-module bundle at `out` (written atomically),
/// with `resources` as (relative path, content) entries. The manifest is filled from the
/// library's own descriptor, read as data from its descriptor section
/// ([`hotpack_loader::describe`]): nothing of the library is mapped or run. Returns the
/// metadata packed.
///
/// # Errors
///
/// [`PackLibraryError`] naming the file and the problem.
pub fn pack_library(
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
    let spec = hotpack_cache::pack_spec_from_library(&library_name, bytes, resources)
        .map_err(|source| PackLibraryError::Describe { path: library.to_path_buf(), source })?;
    hotpack_archive::pack_to_file(&spec, out).map_err(PackLibraryError::Pack)?;
    Ok(spec.meta)
}

/// [`pack_library`], for callers written when reading the descriptor meant loading the
/// library through a [`Loader`](hotpack_loader::Loader): the loader is no longer used
/// (the descriptor is read as data, nothing is mapped), so prefer [`pack_library`].
///
/// # Errors
///
/// As [`pack_library`].
pub fn pack_library_with(
    _loader: &hotpack_loader::Loader,
    library: &Path,
    out: &Path,
    resources: Vec<(String, Vec<u8>)>,
) -> Result<ModuleMeta, PackLibraryError> {
    pack_library(library, out, resources)
}
