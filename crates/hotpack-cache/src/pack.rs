//! The bridge from a module's descriptor to the archive's `PackSpec`: from a loaded module, or
//! from a plain library's bytes read as data (its descriptor section; nothing is run); and
//! `pack_library`, a built cdylib into a bundle file.

use hotpack_archive::{ModuleMeta, PackError};
use hotpack_loader::{DescribeError, ModuleInfo};
use std::path::{Path, PathBuf};

/// The [`PackSpec`](hotpack_archive::PackSpec) for a module: name, version, interfaces,
/// handlers and hooks come from the module's own descriptor (stated once, in code: a loaded
/// [`Module`](hotpack_loader::Module) or a [`StaticDescriptor`](hotpack_loader::StaticDescriptor)),
/// the target from the descriptor too. `library_name` is the file name inside the bundle.
pub fn pack_spec(
    module: &impl AsRef<ModuleInfo>,
    library_name: &str,
    library: Vec<u8>,
    resources: Vec<(String, Vec<u8>)>,
) -> hotpack_archive::PackSpec {
    let info = module.as_ref();
    hotpack_archive::PackSpec {
        meta: hotpack_archive::ModuleMeta {
            name: info.name.clone(),
            version: info.version.clone(),
            abi_version: info.abi_version,
            rustc: info.rustc.clone(),
            interfaces: info
                .interfaces
                .iter()
                .map(|i| hotpack_archive::InterfaceMeta { name: i.name.clone(), id: i.id })
                .collect(),
            handlers: info.handlers.clone(),
            hooks: hotpack_archive::Hooks { init: info.has_init, state: info.has_state },
        },
        target: info.target.clone(),
        library_name: library_name.to_owned(),
        library,
        resources,
    }
}

/// Why [`pack_spec_from_library`] refused a library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackSpecError {
    /// The descriptor section could not be read from the bytes.
    #[error("cannot read the module's descriptor")]
    Describe(#[source] DescribeError),
    /// The module was built with `panic = "abort"`: no host loads it.
    #[error(
        "module `{module}` was built with panic = \"abort\"; no host loads it (set panic = \"unwind\" in [profile.release])"
    )]
    PanicAbort {
        /// The module name.
        module: String,
    },
    /// The module was built against another descriptor layout or ABI than this hotpack's.
    #[error("module `{module}` has {what} {found}, this hotpack has {expected}: rebuild it against this hotpack-abi")]
    Incompatible {
        /// The module name.
        module: String,
        /// `"descriptor layout"` or `"ABI version"`.
        what: &'static str,
        /// This hotpack's.
        expected: u32,
        /// The module's.
        found: u32,
    },
}

/// The [`PackSpec`](hotpack_archive::PackSpec) for a plain library, its descriptor read from
/// its bytes with [`hotpack_loader::describe`]: nothing is mapped or run, in any process.
/// Refuses what no host would load (panic = "abort", another descriptor layout or ABI); the
/// rustc and target are recorded in the manifest and checked by the host that loads it.
///
/// # Errors
///
/// [`PackSpecError`].
pub fn pack_spec_from_library(
    library_name: &str,
    library: Vec<u8>,
    resources: Vec<(String, Vec<u8>)>,
) -> Result<hotpack_archive::PackSpec, PackSpecError> {
    let desc = hotpack_loader::describe(&library).map_err(PackSpecError::Describe)?;
    let module = desc.info.name.clone();
    if desc.panic_strategy != hotpack_abi::PANIC_UNWIND {
        return Err(PackSpecError::PanicAbort { module });
    }
    for (what, expected, found) in [
        ("descriptor layout", hotpack_abi::LAYOUT_VERSION, desc.layout_version),
        ("ABI version", hotpack_abi::ABI_VERSION, desc.info.abi_version),
    ] {
        if expected != found {
            return Err(PackSpecError::Incompatible { module, what, expected, found });
        }
    }
    Ok(pack_spec(&desc, library_name, library, resources))
}

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
        source: PackSpecError,
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
    let spec = pack_spec_from_library(&library_name, bytes, resources)
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
