//! Writing bundles: deterministic packing of one or several modules, and atomic file output.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::error::{ManifestError, PackError};
use crate::manifest::{EntryDigest, MANIFEST_NAME, Manifest, ModuleMeta};
use crate::path::{check_relative, normalise_dir};

/// What to pack for one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSpec {
    /// The module's metadata (taken from its own descriptor).
    pub meta: ModuleMeta,
    /// The target triple the library was built for, e.g. `x86_64-unknown-linux-gnu`.
    pub target: String,
    /// The library's file name, e.g. `libgreeter.so` (a single path component).
    pub library_name: String,
    /// The library's bytes (the archive does not interpret them).
    pub library: Vec<u8>,
    /// Resources: (relative path, content).
    pub resources: Vec<(String, Vec<u8>)>,
}

impl PackSpec {
    /// The library's entry path relative to the module directory: `lib/<target>/<library_name>`.
    pub fn library_path(&self) -> String {
        format!("lib/{}/{}", self.target, self.library_name)
    }

    /// Build the manifest this spec packs to (validating names and paths).
    ///
    /// # Errors
    /// [`PackError::InvalidMeta`] or [`PackError::InvalidPath`].
    pub fn manifest(&self) -> Result<Manifest, PackError> {
        self.meta.validate().map_err(PackError::InvalidMeta)?;
        if !crate::manifest::is_valid_target(&self.target) {
            return Err(PackError::InvalidMeta(ManifestError::Invalid {
                rule: crate::ManifestRule::BadTarget { target: self.target.clone() },
            }));
        }
        let bad = |path: &str, problem| PackError::InvalidPath { path: path.to_owned(), problem };
        check_relative(&self.library_name).map_err(|p| bad(&self.library_name, p))?;
        if self.library_name.contains('/') {
            return Err(bad(&self.library_name, crate::PathProblem::NotNormal));
        }
        let lib_path = self.library_path();
        let mut entries = BTreeMap::new();
        entries.insert(lib_path.clone(), EntryDigest::of(&self.library));
        let mut resources = Vec::with_capacity(self.resources.len());
        for (path, content) in &self.resources {
            check_relative(path).map_err(|p| bad(path, p))?;
            if path == MANIFEST_NAME || entries.insert(path.clone(), EntryDigest::of(content)).is_some() {
                return Err(PackError::DuplicateEntry { entry: path.clone() });
            }
            resources.push(path.clone());
        }
        resources.sort();
        Ok(Manifest {
            meta: self.meta.clone(),
            libraries: [(self.target.clone(), lib_path)].into(),
            resources: resources.into_iter().collect(),
            entries: entries.into(),
        })
    }
}

/// Pack one module at the root of a new bundle.
///
/// Deterministic: the same spec gives byte-identical output (see `docs/FORMAT.md`).
///
/// # Errors
/// [`PackError`] on invalid metadata or paths.
pub fn pack(spec: &PackSpec) -> Result<Vec<u8>, PackError> {
    pack_modules(&[("", spec)])
}

/// Pack several modules into one bundle, each under its directory (`""` for the root,
/// `plugins/greeter` for a sub-directory).
///
/// Modules are written in directory order; each as manifest, library, then resources sorted.
///
/// # Errors
/// [`PackError`] on invalid metadata or paths, two modules with one name, or two entries
/// with one name.
pub fn pack_modules(modules: &[(&str, &PackSpec)]) -> Result<Vec<u8>, PackError> {
    let mut planned = Vec::with_capacity(modules.len());
    let mut names = BTreeSet::new();
    for (dir, spec) in modules {
        let dir = normalise_dir(dir).map_err(|problem| PackError::InvalidPath { path: (*dir).to_owned(), problem })?;
        let manifest = spec.manifest()?;
        if !names.insert(manifest.meta.name.clone()) {
            return Err(PackError::DuplicateModule { name: manifest.meta.name.clone() });
        }
        planned.push((dir, *spec, manifest));
    }
    planned.sort_by(|a, b| a.0.cmp(&b.0));

    let time = DateTime::default(); // 1980-01-01 00:00:00
    let stored = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(time)
        .unix_permissions(0o644);
    let deflated = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(6))
        .last_modified_time(time)
        .unix_permissions(0o644);

    let mut seen = BTreeSet::new();
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let mut add = |zip: &mut ZipWriter<Cursor<Vec<u8>>>, name: String, opts: SimpleFileOptions, data: &[u8]| {
        if !seen.insert(name.clone()) {
            return Err(PackError::DuplicateEntry { entry: name });
        }
        let opts = opts.large_file(data.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(name.as_str(), opts)
            .and_then(|()| zip.write_all(data).map_err(zip::result::ZipError::from))
            .map_err(|source| PackError::Zip { entry: name, source })
    };
    for (dir, spec, manifest) in &planned {
        add(&mut zip, format!("{dir}{MANIFEST_NAME}"), stored, &manifest.to_json())?;
        add(&mut zip, format!("{dir}{}", spec.library_path()), stored, &spec.library)?;
        let mut resources: Vec<&(String, Vec<u8>)> = spec.resources.iter().collect();
        resources.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, content) in resources {
            add(&mut zip, format!("{dir}{path}"), deflated, content)?;
        }
    }
    let cursor = zip.finish().map_err(|source| PackError::Zip { entry: "<central directory>".into(), source })?;
    Ok(cursor.into_inner())
}

/// Pack `spec` and write the bundle to `out` atomically.
///
/// # Errors
/// As [`pack`], plus [`PackError::Write`] (which also refuses to replace anything at `out`
/// that is not a regular file).
pub fn pack_to_file(spec: &PackSpec, out: &Path) -> Result<(), PackError> {
    let bytes = pack(spec)?;
    Ok(hotpack_util::fs::write_atomic(out, &bytes)?)
}
