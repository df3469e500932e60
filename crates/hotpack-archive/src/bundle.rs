//! Reading bundles: open (structure + manifests), list, read a verified entry, verify all.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{BundleError, BundleErrorKind};
use crate::manifest::{EntryDigest, MANIFEST_NAME, Manifest, hex};
use crate::zipfmt::{self, METHOD_DEFLATED, METHOD_STORED, RawEntry};

/// Whether a (file) entry name is a manifest: `hotpack.json` or `<dir>/hotpack.json`.
fn is_manifest_name(name: &str) -> bool {
    name == MANIFEST_NAME || name.strip_suffix(MANIFEST_NAME).is_some_and(|dir| dir.ends_with('/'))
}

/// Caps a reader enforces before it allocates or inflates anything.
///
/// Every cap is checked against *declared* sizes at open time, and again against the
/// actual bytes while an entry is inflated, so a lying header cannot make the reader
/// allocate or decompress more than the caps allow.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest bundle file accepted (the file is read into memory). Default 4 GiB.
    pub max_bundle_size: u64,
    /// Most entries (files and directories) in one bundle. Default 65,536.
    pub max_entries: u64,
    /// Largest uncompressed size of one entry. Default 1 GiB.
    pub max_entry_size: u64,
    /// Largest sum of uncompressed sizes. Default 4 GiB.
    pub max_total_size: u64,
    /// Largest uncompressed:compressed ratio of an entry bigger than
    /// [`ratio_threshold`](Self::ratio_threshold). Default 200.
    pub max_ratio: u64,
    /// Entries up to this uncompressed size are exempt from the ratio cap. Default 1 MiB.
    pub ratio_threshold: u64,
    /// Largest manifest (`hotpack.json`). Default 16 MiB (room for 65,536 entries).
    pub max_manifest_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bundle_size: 4 << 30,
            max_entries: 65_536,
            max_entry_size: 1 << 30,
            max_total_size: 4 << 30,
            max_ratio: 200,
            ratio_threshold: 1 << 20,
            max_manifest_size: 16 << 20,
        }
    }
}

/// A zip compression method a bundle may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// Method 0, no compression (libraries).
    Stored,
    /// Method 8, deflate (resources).
    Deflated,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Stored => "stored",
            Method::Deflated => "deflated",
        })
    }
}

/// One entry of the zip, as listed by [`Bundle::entries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryInfo<'a> {
    /// Full entry name inside the zip.
    pub name: &'a str,
    /// Uncompressed size.
    pub size: u64,
    /// Compressed size.
    pub compressed_size: u64,
    /// Compression method.
    pub method: Method,
    /// Whether this is a directory entry (name ends with `/`; ignored by bundles).
    pub is_dir: bool,
}

/// One module of a bundle: its directory in the zip and its manifest.
#[derive(Debug, Clone)]
pub struct BundleModule {
    dir: String,
    manifest_entry: String,
    manifest: Manifest,
}

impl BundleModule {
    /// The module name (from the manifest).
    pub fn name(&self) -> &str {
        &self.manifest.meta.name
    }

    /// The module directory inside the zip: `""` for the root, else ending in `/`.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The manifest entry's full name (`<dir>hotpack.json`).
    pub fn manifest_entry(&self) -> &str {
        &self.manifest_entry
    }

    /// The parsed, validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

/// What [`Bundle::verify_all`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Modules in the bundle.
    pub modules: usize,
    /// Entries read and checked (manifests included).
    pub entries: usize,
    /// Uncompressed bytes read and checked.
    pub bytes: u64,
}

/// An opened, structurally validated bundle, held in memory.
///
/// Opening checks the zip structure and parses every manifest (see `docs/FORMAT.md`,
/// "Reader checks"); an entry's content is hash-checked each time it is read.
#[derive(Debug)]
pub struct Bundle {
    path: PathBuf,
    data: Vec<u8>,
    /// Offset of the end-of-central-directory record in `data`.
    eocd: usize,
    entries: Vec<RawEntry>,
    index: HashMap<std::sync::Arc<str>, usize>,
    modules: Vec<BundleModule>,
    /// Per zip entry (central-directory index): the index into `modules` of the module
    /// whose manifest claims it (`None` for manifests and directories).
    owners: Vec<Option<u32>>,
}

impl Bundle {
    /// Open the bundle file at `path` (read into memory, then validated).
    ///
    /// # Errors
    /// [`BundleErrorKind::Io`] if the file cannot be read, [`BundleErrorKind::BundleTooLarge`] if it
    /// is over [`Limits::max_bundle_size`], else any error of [`Bundle::from_bytes`].
    pub fn open(path: impl AsRef<Path>, limits: &Limits) -> Result<Bundle, BundleError> {
        let path = path.as_ref();
        let io = |source| BundleError::new(path.to_path_buf(), BundleErrorKind::Io(source));
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > limits.max_bundle_size {
            return Err(BundleError::new(
                path.to_path_buf(),
                BundleErrorKind::BundleTooLarge { size, max: limits.max_bundle_size },
            ));
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // The file may grow between stat and read: never read more than the cap.
        file.take(limits.max_bundle_size.saturating_add(1)).read_to_end(&mut data).map_err(io)?;
        if data.len() as u64 > limits.max_bundle_size {
            return Err(BundleError::new(
                path.to_path_buf(),
                BundleErrorKind::BundleTooLarge { size: data.len() as u64, max: limits.max_bundle_size },
            ));
        }
        Bundle::from_bytes(data, path, limits)
    }

    /// Validate a bundle already in memory; `origin` names it in errors.
    ///
    /// # Errors
    /// One [`BundleError`] variant per problem: not a zip, truncated, unsafe or duplicate
    /// names, symlinks, encryption, unsupported methods, caps, overlaps, local/central header
    /// disagreement, manifest problems, unclaimed or missing entries, size mismatches.
    pub fn from_bytes(data: Vec<u8>, origin: impl Into<PathBuf>, limits: &Limits) -> Result<Bundle, BundleError> {
        let path = origin.into();
        if data.len() as u64 > limits.max_bundle_size {
            return Err(BundleError::new(
                path,
                BundleErrorKind::BundleTooLarge { size: data.len() as u64, max: limits.max_bundle_size },
            ));
        }
        let structure = zipfmt::parse(&data, &path, limits)?;
        let mut bundle = Bundle {
            path,
            data,
            eocd: structure.eocd,
            entries: structure.entries,
            index: structure.index,
            modules: Vec::new(),
            owners: Vec::new(),
        };
        bundle.load_manifests(limits)?;
        Ok(bundle)
    }

    fn load_manifests(&mut self, limits: &Limits) -> Result<(), BundleError> {
        let mut manifests: Vec<(String, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.is_dir && is_manifest_name(&e.name))
            .map(|(i, e)| (e.name[..e.name.len() - MANIFEST_NAME.len()].to_owned(), i))
            .collect();
        if manifests.is_empty() {
            return Err(BundleError::new(self.path.clone(), BundleErrorKind::NoManifest));
        }
        manifests.sort();
        let mut names: HashMap<String, usize> = HashMap::new();
        // Owner module of each zip entry (by central-directory index).
        let mut owners: Vec<Option<u32>> = vec![None; self.entries.len()];
        let mut full = String::new();
        for (dir, idx) in manifests {
            let e = &self.entries[idx];
            if e.uncompressed_size > limits.max_manifest_size {
                return Err(BundleError::at(
                    self.path.clone(),
                    e.name.to_string(),
                    BundleErrorKind::ManifestTooLarge { size: e.uncompressed_size, max: limits.max_manifest_size },
                ));
            }
            let json = self.inflate(idx)?;
            let manifest = Manifest::from_json(&json)
                .map_err(|err| BundleError::from_manifest(self.path.clone(), e.name.to_string(), err))?;
            let module_index = self.modules.len();
            if names.insert(manifest.meta.name.clone(), module_index).is_some() {
                return Err(BundleError::at(
                    self.path.clone(),
                    e.name.to_string(),
                    BundleErrorKind::DuplicateModule { name: manifest.meta.name.clone() },
                ));
            }
            let owner = u32::try_from(module_index).expect("module count is bounded by max_entries");
            // Writers usually store a module's entries in path order: try the entry after
            // the previous hit before hashing.
            let mut guess = idx + 1;
            for (rel, digest) in &manifest.entries {
                full.clear();
                full.push_str(&dir);
                full.push_str(rel);
                let hit = match self.entries.get(guess) {
                    Some(g) if *g.name == *full => Some(guess),
                    _ => self.index.get(full.as_str()).copied(),
                };
                guess = hit.map_or(guess, |zi| zi + 1);
                let zi = match hit {
                    Some(zi) if !self.entries[zi].is_dir => zi,
                    _ => {
                        return Err(BundleError::at(
                            self.path.clone(),
                            full,
                            BundleErrorKind::MissingEntry { module: manifest.meta.name.clone() },
                        ));
                    }
                };
                let ze = &self.entries[zi];
                if ze.uncompressed_size != digest.size {
                    return Err(BundleError::at(
                        self.path.clone(),
                        full,
                        BundleErrorKind::SizeMismatch { expected: digest.size, found: ze.uncompressed_size },
                    ));
                }
                if let Some(first) = owners[zi] {
                    return Err(BundleError::at(
                        self.path.clone(),
                        full,
                        BundleErrorKind::ClaimedTwice {
                            first: self.modules[first as usize].name().to_owned(),
                            second: manifest.meta.name.clone(),
                        },
                    ));
                }
                if is_manifest_name(&full) {
                    // Another module's manifest: it is claimed by that module.
                    return Err(BundleError::at(
                        self.path.clone(),
                        full.clone(),
                        BundleErrorKind::ClaimedTwice {
                            first: format!("<manifest {full}>"),
                            second: manifest.meta.name.clone(),
                        },
                    ));
                }
                owners[zi] = Some(owner);
            }
            self.modules.push(BundleModule { manifest_entry: e.name.to_string(), dir, manifest });
        }
        for (e, owner) in self.entries.iter().zip(&owners) {
            if !e.is_dir && owner.is_none() && !is_manifest_name(&e.name) {
                return Err(BundleError::at(self.path.clone(), e.name.to_string(), BundleErrorKind::NotInManifest));
            }
        }
        self.owners = owners;
        Ok(())
    }

    /// Inflate (or copy) entry `idx`, bounded by its declared size, and check the CRC-32.
    /// The returned buffer is the exact buffer whose CRC was checked.
    fn inflate(&self, idx: usize) -> Result<Vec<u8>, BundleError> {
        let e = &self.entries[idx];
        let start = usize::try_from(e.data_start).expect("data_start was bounds-checked against the in-memory file");
        let len = usize::try_from(e.compressed_size).expect("compressed size was bounds-checked");
        let raw = &self.data[start..start + len];
        let out = match e.method {
            METHOD_STORED => raw.to_vec(),
            METHOD_DEFLATED => {
                // Grow as data arrives; the initial guess is bounded by bytes really present.
                let guess = e.uncompressed_size.min((len as u64).saturating_mul(4).saturating_add(4096));
                let mut out = Vec::with_capacity(usize::try_from(guess).unwrap_or(0));
                let mut decoder = flate2::read::DeflateDecoder::new(raw).take(e.uncompressed_size.saturating_add(1));
                decoder.read_to_end(&mut out).map_err(|err| {
                    BundleError::at(
                        self.path.clone(),
                        e.name.to_string(),
                        BundleErrorKind::Corrupt { detail: err.to_string() },
                    )
                })?;
                out
            }
            other => unreachable!("method {other} was rejected at open"),
        };
        if out.len() as u64 != e.uncompressed_size {
            return Err(BundleError::at(
                self.path.clone(),
                e.name.to_string(),
                BundleErrorKind::SizeMismatch { expected: e.uncompressed_size, found: out.len() as u64 },
            ));
        }
        let crc = crc32fast::hash(&out);
        if crc != e.crc32 {
            return Err(BundleError::at(
                self.path.clone(),
                e.name.to_string(),
                BundleErrorKind::CrcMismatch { expected: e.crc32, found: crc },
            ));
        }
        Ok(out)
    }

    /// Read entry `idx` and check it against `digest` (size, CRC-32, blake3).
    fn read_checked(&self, idx: usize, digest: &EntryDigest) -> Result<Vec<u8>, BundleError> {
        let out = self.inflate(idx)?;
        let found = blake3::hash(&out);
        if found.as_bytes() != &digest.blake3 {
            return Err(BundleError::at(
                self.path.clone(),
                self.entries[idx].name.to_string(),
                BundleErrorKind::HashMismatch { expected: digest.blake3_hex(), found: hex(found.as_bytes()) },
            ));
        }
        Ok(out)
    }

    /// The zip archive comment (the bytes after the end-of-central-directory record);
    /// a signed bundle keeps its signature record here (`docs/FORMAT.md`, "Signatures").
    pub fn archive_comment(&self) -> &[u8] {
        &self.data[self.eocd + 22..]
    }

    /// The whole file up to (not including) the comment length field and the comment:
    /// what a signature rewrite keeps byte for byte.
    pub(crate) fn bytes_before_comment(&self) -> &[u8] {
        &self.data[..self.eocd + 20]
    }

    /// Every manifest's full entry name and exact bytes (inflated, CRC-checked), sorted by
    /// entry name: what a signature covers.
    pub(crate) fn manifest_bytes(&self) -> Result<Vec<(&str, Vec<u8>)>, BundleError> {
        let mut out = Vec::with_capacity(self.modules.len());
        for m in &self.modules {
            let idx = *self.index.get(m.manifest_entry.as_str()).expect("every module's manifest entry is indexed");
            out.push((m.manifest_entry.as_str(), self.inflate(idx)?));
        }
        out.sort_by(|a, b| a.0.cmp(b.0));
        Ok(out)
    }

    /// The path the bundle was opened from (or the origin given to [`Bundle::from_bytes`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The modules of the bundle, sorted by directory.
    pub fn modules(&self) -> &[BundleModule] {
        &self.modules
    }

    /// The module called `name`, if any.
    pub fn module(&self, name: &str) -> Option<&BundleModule> {
        self.modules.iter().find(|m| m.name() == name)
    }

    /// Every entry of the zip, in central-directory order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = EntryInfo<'_>> + '_ {
        self.entries.iter().map(|e| EntryInfo {
            name: &e.name,
            size: e.uncompressed_size,
            compressed_size: e.compressed_size,
            method: if e.method == METHOD_STORED { Method::Stored } else { Method::Deflated },
            is_dir: e.is_dir,
        })
    }

    fn module_or_err(&self, module: &str) -> Result<&BundleModule, BundleError> {
        self.module(module).ok_or_else(|| {
            BundleError::new(self.path.clone(), BundleErrorKind::NoSuchModule { module: module.to_owned() })
        })
    }

    /// Read `relpath` of `module` and check its size, CRC-32 and blake3.
    ///
    /// The returned buffer is exactly the buffer that was hashed: hand it on, do not re-read.
    ///
    /// # Errors
    /// [`BundleErrorKind::NoSuchModule`], [`BundleErrorKind::NoSuchEntry`], or a content error
    /// ([`BundleErrorKind::HashMismatch`], [`BundleErrorKind::CrcMismatch`],
    /// [`BundleErrorKind::SizeMismatch`], [`BundleErrorKind::Corrupt`]).
    pub fn read(&self, module: &str, relpath: &str) -> Result<Vec<u8>, BundleError> {
        let m = self.module_or_err(module)?;
        let digest = m.manifest.entries.get(relpath).ok_or_else(|| {
            BundleError::new(
                self.path.clone(),
                BundleErrorKind::NoSuchEntry { module: module.to_owned(), entry: relpath.to_owned() },
            )
        })?;
        let full = format!("{}{relpath}", m.dir);
        let idx = *self.index.get(full.as_str()).expect("every manifest entry was found in the zip at open");
        self.read_checked(idx, digest)
    }

    /// Read and verify the library of `module` for `target` (a target triple).
    ///
    /// # Errors
    /// [`BundleErrorKind::NoLibraryForTarget`] when the module has none for `target`, else as
    /// [`Bundle::read`].
    pub fn read_library(&self, module: &str, target: &str) -> Result<Vec<u8>, BundleError> {
        let m = self.module_or_err(module)?;
        let Some(rel) = m.manifest.library(target) else {
            return Err(BundleError::new(
                self.path.clone(),
                BundleErrorKind::NoLibraryForTarget {
                    module: module.to_owned(),
                    target: target.to_owned(),
                    available: m.manifest.libraries.keys().cloned().collect::<Vec<_>>().join(", "),
                },
            ));
        };
        self.read(module, rel)
    }

    /// Read and check every entry (manifests by CRC-32, everything else by size, CRC-32 and
    /// blake3), in zip order.
    ///
    /// # Errors
    /// The first failing entry's error.
    pub fn verify_all(&self) -> Result<VerifyReport, BundleError> {
        let mut report = VerifyReport { modules: self.modules.len(), entries: 0, bytes: 0 };
        for (idx, e) in self.entries.iter().enumerate() {
            if e.is_dir {
                continue;
            }
            let len = match self.owners[idx] {
                Some(m) => {
                    let module = &self.modules[m as usize];
                    let rel = &e.name[module.dir.len()..];
                    let digest = module.manifest.entries.get(rel).expect("owners only holds manifest entries");
                    self.read_checked(idx, digest)?.len()
                }
                None => self.inflate(idx)?.len(),
            };
            report.entries += 1;
            report.bytes += len as u64;
        }
        Ok(report)
    }

    /// The digest the manifest of `module` records for `relpath`, if any.
    pub fn digest(&self, module: &str, relpath: &str) -> Option<&EntryDigest> {
        self.module(module)?.manifest.entries.get(relpath)
    }
}
