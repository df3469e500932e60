//! Reading bundles: open (structure + manifests), list, stream or read a verified entry, verify all.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::{BundleError, BundleErrorKind};
use crate::inflate::{Inflate, RangeReader};
use crate::manifest::{EntryDigest, MANIFEST_NAME, Manifest, Paths, check_path};
use crate::zipfmt::{self, Data, METHOD_DEFLATED, METHOD_STORED, Names, RawEntry};

/// Largest central-directory scratch buffer a thread keeps between opens (room for the
/// central directory of ~15,000 entries).
const SCRATCH_KEEP: usize = 1 << 20;

thread_local! {
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

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
    /// Largest bundle file accepted. Default 4 GiB.
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
    /// The manifest's bytes as parsed: what a signature is checked against (never re-read,
    /// so the manifest checked is the manifest parsed).
    raw: Vec<u8>,
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

/// An opened, structurally validated bundle.
///
/// Opening reads the end record, the central directory and the manifests (bounded reads,
/// never the whole file) and checks the zip structure and every manifest (see
/// `docs/FORMAT.md`, "Reader checks"). An entry's local header is checked, and its content
/// size-, CRC- and hash-checked, each time it is read ([`Bundle::open_entry`] streams it).
/// An opened file stays open: a rename over the path does not change what is read.
#[derive(Debug)]
pub struct Bundle {
    path: PathBuf,
    data: Data,
    /// Offset of the end-of-central-directory record.
    eocd: u64,
    comment: Vec<u8>,
    entries: Vec<RawEntry>,
    /// The entry names and the index by name.
    names: Names,
    modules: Vec<BundleModule>,
    /// Per zip entry (central-directory index): the index into `modules` of the module
    /// whose manifest claims it (`None` for manifests and directories).
    owners: Vec<Option<u32>>,
}

impl Bundle {
    /// Open the bundle file at `path`: reads its end record, central directory and
    /// manifests (bounded reads); entries are read when asked for.
    ///
    /// # Errors
    /// [`BundleErrorKind::Io`] if the file cannot be read, [`BundleErrorKind::BundleTooLarge`] if it
    /// is over [`Limits::max_bundle_size`], else any open-time error of [`Bundle::from_bytes`].
    pub fn open(path: impl AsRef<Path>, limits: &Limits) -> Result<Bundle, BundleError> {
        let path = path.as_ref();
        let io = |source| BundleError::new(path.to_path_buf(), BundleErrorKind::Io(source));
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > limits.max_bundle_size {
            return Err(BundleError::new(
                path.to_path_buf(),
                BundleErrorKind::BundleTooLarge { size: len, max: limits.max_bundle_size },
            ));
        }
        // Everything past `len` (a file growing under us) is never read.
        Bundle::with_data(Data::File { file, len }, path.to_path_buf(), limits)
    }

    /// Validate a bundle already in memory; `origin` names it in errors.
    ///
    /// # Errors
    /// One [`BundleError`] variant per problem: not a zip, truncated, unsafe or duplicate
    /// names, symlinks, encryption, unsupported methods, caps, overlaps, manifest problems,
    /// unclaimed or missing entries, size mismatches. Local/central header disagreement and
    /// overlaps that only the local headers show are reported when the entry is read
    /// (before any of its bytes is used): by [`Bundle::verify_all`] for every entry.
    pub fn from_bytes(data: Vec<u8>, origin: impl Into<PathBuf>, limits: &Limits) -> Result<Bundle, BundleError> {
        let path = origin.into();
        if data.len() as u64 > limits.max_bundle_size {
            return Err(BundleError::new(
                path,
                BundleErrorKind::BundleTooLarge { size: data.len() as u64, max: limits.max_bundle_size },
            ));
        }
        Bundle::with_data(Data::Memory(data), path, limits)
    }

    /// As [`Bundle::from_bytes`], over shared bytes (e.g. the content a watcher already read
    /// and hashed): nothing is copied.
    ///
    /// # Errors
    /// As [`Bundle::from_bytes`].
    pub fn from_shared(
        data: std::sync::Arc<[u8]>,
        origin: impl Into<PathBuf>,
        limits: &Limits,
    ) -> Result<Bundle, BundleError> {
        let path = origin.into();
        if data.len() as u64 > limits.max_bundle_size {
            return Err(BundleError::new(
                path,
                BundleErrorKind::BundleTooLarge { size: data.len() as u64, max: limits.max_bundle_size },
            ));
        }
        Bundle::with_data(Data::Shared(data), path, limits)
    }

    fn with_data(data: Data, path: PathBuf, limits: &Limits) -> Result<Bundle, BundleError> {
        // The central directory is read into a per-thread scratch buffer kept between opens
        // (up to `SCRATCH_KEEP`): a fresh one would be fresh pages, faulted in and handed
        // back to the kernel on every open of a large bundle.
        let mut buf = SCRATCH.take();
        let structure = zipfmt::parse(&data, &path, limits, &mut buf);
        if buf.capacity() <= SCRATCH_KEEP {
            buf.clear();
            SCRATCH.set(buf);
        }
        let structure = structure?;
        let mut bundle = Bundle {
            path,
            data,
            eocd: structure.eocd,
            comment: structure.comment,
            entries: structure.entries,
            names: structure.names,
            modules: Vec::new(),
            owners: Vec::new(),
        };
        bundle.load_manifests(limits)?;
        Ok(bundle)
    }

    fn load_manifests(&mut self, limits: &Limits) -> Result<(), BundleError> {
        // Each module keeps its manifest's bytes; the next one gets a fresh buffer.
        let mut json = Vec::new();
        let mut manifests: Vec<(String, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.is_dir && is_manifest_name(self.names.get(e)))
            .map(|(i, e)| {
                let name = self.names.get(e);
                (name[..name.len() - MANIFEST_NAME.len()].to_owned(), i)
            })
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
                    self.names.get(e).to_string(),
                    BundleErrorKind::ManifestTooLarge { size: e.uncompressed_size, max: limits.max_manifest_size },
                ));
            }
            self.inflate_into(idx, &mut json)?;
            // Entry paths are checked by finding them among the (checked) zip names below.
            let manifest = Manifest::from_json_with(&json, Paths::Caller)
                .map_err(|err| BundleError::from_manifest(self.path.clone(), self.names.get(e).to_string(), err))?;
            let module_index = self.modules.len();
            if names.insert(manifest.meta.name.clone(), module_index).is_some() {
                return Err(BundleError::at(
                    self.path.clone(),
                    self.names.get(e).to_string(),
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
                    Some(g) if self.names.get(g) == full => Some(guess),
                    _ => self.names.find(&self.entries, &full),
                };
                guess = hit.map_or(guess, |zi| zi + 1);
                let zi = match hit {
                    Some(zi) if !self.entries[zi].is_dir => zi,
                    _ => {
                        // Not found: a path that is not a normal relative path is the
                        // manifest's fault (as `Manifest::from_json` reports it).
                        check_path(rel).map_err(|err| {
                            BundleError::from_manifest(self.path.clone(), self.names.get(e).to_string(), err)
                        })?;
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
            self.modules.push(BundleModule {
                manifest_entry: self.names.get(e).to_string(),
                dir,
                manifest,
                raw: std::mem::take(&mut json),
            });
        }
        for (e, owner) in self.entries.iter().zip(&owners) {
            let name = self.names.get(e);
            if !e.is_dir && owner.is_none() && !is_manifest_name(name) {
                return Err(BundleError::at(self.path.clone(), name.to_string(), BundleErrorKind::NotInManifest));
            }
        }
        self.owners = owners;
        Ok(())
    }

    /// Inflate (or copy) entry `idx` into `out` (cleared first), bounded by its declared
    /// size, and check the CRC-32. `out` is exactly the buffer whose CRC was checked.
    fn inflate_into(&self, idx: usize, out: &mut Vec<u8>) -> Result<(), BundleError> {
        out.clear();
        let mut reader = self.reader(idx, None)?;
        out.reserve(initial_capacity(&self.entries[idx]));
        reader.read_to_end(out).map_err(|e| self.entry_error(idx, e))?;
        Ok(())
    }

    /// Read entry `idx` whole into `out` (cleared first; its capacity is reused) and check it
    /// (size, CRC-32, and blake3 against `digest`).
    fn read_checked_into(
        &self,
        idx: usize,
        digest: Option<&EntryDigest>,
        out: &mut Vec<u8>,
    ) -> Result<(), BundleError> {
        out.clear();
        let mut reader = self.reader(idx, digest)?;
        out.reserve_exact(initial_capacity(&self.entries[idx]));
        reader.read_to_end(out).map_err(|e| self.entry_error(idx, e))?;
        Ok(())
    }

    /// A reader error as the [`BundleError`] it carries (content checks), else a corrupt
    /// stream (inflate) or an I/O error.
    fn entry_error(&self, idx: usize, err: io::Error) -> BundleError {
        match err.downcast::<BundleError>() {
            Ok(e) => e,
            Err(err) => BundleError::at(
                self.path.clone(),
                self.names.get(&self.entries[idx]).to_string(),
                BundleErrorKind::Corrupt { source: err },
            ),
        }
    }

    /// The digest the manifest of the module owning entry `idx` records for it.
    fn digest_of(&self, idx: usize) -> Option<&EntryDigest> {
        let module = &self.modules[self.owners.get(idx).copied().flatten()? as usize];
        module.manifest.entries.get(self.names.get(&self.entries[idx]).get(module.dir.len()..)?)
    }

    /// A streaming reader of entry `idx`, after its local header was checked.
    fn reader(&self, idx: usize, digest: Option<&EntryDigest>) -> Result<EntryReader<'_>, BundleError> {
        let e = &self.entries[idx];
        let mut buf = Vec::new();
        let data_start = zipfmt::check_local(&self.data, &self.entries, &self.names, idx, &self.path, &mut buf)?;
        let raw = RangeReader { data: &self.data, pos: data_start, end: data_start + e.compressed_size };
        let inner = match e.method {
            METHOD_STORED => Inner::Stored(raw),
            METHOD_DEFLATED => Inner::Deflated(Box::new(Inflate {
                raw,
                z: flate2::Decompress::new(false),
                input: vec![0; buf_for(e)],
                pos: 0,
                len: 0,
                ended: false,
            })),
            // Refused at open already; kept as an error rather than a panic.
            method => {
                return Err(BundleError::at(
                    self.path.clone(),
                    self.names.get(e).to_string(),
                    BundleErrorKind::UnsupportedMethod { method },
                ));
            }
        };
        Ok(EntryReader {
            bundle: self,
            idx,
            inner,
            produced: 0,
            crc: crc32fast::Hasher::new(),
            blake3: digest.map(|d| (blake3::Hasher::new(), d.blake3)),
            done: false,
        })
    }

    /// A reader of the entry called `name` (its full name in the zip) that inflates and
    /// checks it as a stream: its local header before the first byte, and at the end its
    /// size, CRC-32 and (for an entry a manifest claims) blake3. A mismatch is an
    /// [`io::Error`] of kind [`io::ErrorKind::InvalidData`] carrying the [`BundleError`]
    /// (`err.downcast::<BundleError>()`); nothing is held whole. Bytes read before the end
    /// are unverified until the reader returns `Ok(0)`: keep them until then.
    ///
    /// # Errors
    /// [`BundleErrorKind::NoSuchEntry`] when there is no such (file) entry, or a local-header
    /// error ([`BundleErrorKind::HeaderMismatch`], [`BundleErrorKind::Overlap`],
    /// [`BundleErrorKind::Truncated`]).
    pub fn open_entry(&self, name: &str) -> Result<EntryReader<'_>, BundleError> {
        let idx = self.names.find(&self.entries, name).filter(|&i| !self.entries[i].is_dir).ok_or_else(|| {
            BundleError::new(
                self.path.clone(),
                BundleErrorKind::NoSuchEntry { module: String::new(), entry: name.to_owned() },
            )
        })?;
        self.reader(idx, self.digest_of(idx))
    }

    /// The zip archive comment (the bytes after the end-of-central-directory record);
    /// a signed bundle keeps its signature record here (`docs/FORMAT.md`, "Signatures").
    pub fn archive_comment(&self) -> &[u8] {
        &self.comment
    }

    /// The whole file up to (not including) the comment length field and the comment:
    /// what a signature rewrite keeps byte for byte.
    pub(crate) fn bytes_before_comment(&self) -> Result<Vec<u8>, BundleError> {
        let len = usize::try_from(self.eocd + 20).expect("a bundle is under max_bundle_size");
        let mut out = vec![0u8; len];
        let got =
            self.data.read_at(0, &mut out).map_err(|e| BundleError::new(self.path.clone(), BundleErrorKind::Io(e)))?;
        if got != len {
            return Err(BundleError::new(
                self.path.clone(),
                BundleErrorKind::Truncated { what: "the bundle (it shrank while open)".into() },
            ));
        }
        Ok(out)
    }

    /// Every manifest's full entry name and exact bytes (inflated, CRC-checked and parsed at
    /// open), sorted by entry name: what a signature covers.
    pub(crate) fn manifest_bytes(&self) -> Result<Vec<(&str, &[u8])>, BundleError> {
        let mut out: Vec<(&str, &[u8])> =
            self.modules.iter().map(|m| (m.manifest_entry.as_str(), m.raw.as_slice())).collect();
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
            name: self.names.get(e),
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
        let mut out = Vec::new();
        self.read_into(module, relpath, &mut out)?;
        Ok(out)
    }

    /// [`Bundle::read`] into `out` (cleared first): a caller that reads entry after entry
    /// reuses one buffer instead of faulting in fresh pages for each. `out` holds the
    /// checked bytes only when this returns `Ok`.
    ///
    /// # Errors
    /// As [`Bundle::read`].
    pub fn read_into(&self, module: &str, relpath: &str, out: &mut Vec<u8>) -> Result<(), BundleError> {
        let m = self.module_or_err(module)?;
        let digest = m.manifest.entries.get(relpath).ok_or_else(|| {
            BundleError::new(
                self.path.clone(),
                BundleErrorKind::NoSuchEntry { module: module.to_owned(), entry: relpath.to_owned() },
            )
        })?;
        let full = format!("{}{relpath}", m.dir);
        let idx = self.names.find(&self.entries, &full).expect("every manifest entry was found in the zip at open");
        self.read_checked_into(idx, Some(digest), out)
    }

    /// Read and verify the library of `module` for `target` (a target triple).
    ///
    /// # Errors
    /// [`BundleErrorKind::NoLibraryForTarget`] when the module has none for `target`, else as
    /// [`Bundle::read`].
    pub fn read_library(&self, module: &str, target: &str) -> Result<Vec<u8>, BundleError> {
        let mut out = Vec::new();
        self.read_library_into(module, target, &mut out)?;
        Ok(out)
    }

    /// [`Bundle::read_library`] into `out` (cleared first; see [`Bundle::read_into`]).
    ///
    /// # Errors
    /// As [`Bundle::read_library`].
    pub fn read_library_into(&self, module: &str, target: &str, out: &mut Vec<u8>) -> Result<(), BundleError> {
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
        self.read_into(module, rel, out)
    }

    /// Read and check every entry (local header; manifests by CRC-32, everything else by
    /// size, CRC-32 and blake3), in zip order, streaming (nothing is held whole).
    ///
    /// # Errors
    /// The first failing entry's error.
    pub fn verify_all(&self) -> Result<VerifyReport, BundleError> {
        let mut report = VerifyReport { modules: self.modules.len(), entries: 0, bytes: 0 };
        let mut chunk = vec![0u8; 64 << 10];
        for (idx, e) in self.entries.iter().enumerate() {
            if e.is_dir {
                continue;
            }
            let mut reader = self.reader(idx, self.digest_of(idx))?;
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => report.bytes += n as u64,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(self.entry_error(idx, err)),
                }
            }
            report.entries += 1;
        }
        Ok(report)
    }

    /// The digest the manifest of `module` records for `relpath`, if any.
    pub fn digest(&self, module: &str, relpath: &str) -> Option<&EntryDigest> {
        self.module(module)?.manifest.entries.get(relpath)
    }
}

/// A first capacity for an entry read whole, bounded by bytes really present (the data was
/// found within the file), never by a declared uncompressed size alone.
fn initial_capacity(e: &RawEntry) -> usize {
    let guess = e.uncompressed_size.min(e.compressed_size.saturating_mul(4).saturating_add(4096));
    usize::try_from(guess).unwrap_or(0)
}

/// The inflate input buffer: small entries need no 32 KiB.
fn buf_for(e: &RawEntry) -> usize {
    usize::try_from(e.compressed_size.clamp(512, 32 << 10)).unwrap_or(32 << 10)
}

#[derive(Debug)]
enum Inner<'a> {
    Stored(RangeReader<'a>),
    Deflated(Box<Inflate<'a>>),
}

/// A streaming, verifying reader of one bundle entry ([`Bundle::open_entry`]).
///
/// It never yields more than the entry's declared size; at the end it checks the size, the
/// CRC-32 and (for an entry a manifest claims) the blake3 hash, and returns an
/// [`io::ErrorKind::InvalidData`] error carrying the [`BundleError`] on a mismatch.
#[derive(Debug)]
pub struct EntryReader<'a> {
    bundle: &'a Bundle,
    idx: usize,
    inner: Inner<'a>,
    produced: u64,
    crc: crc32fast::Hasher,
    blake3: Option<(blake3::Hasher, [u8; 32])>,
    done: bool,
}

impl EntryReader<'_> {
    /// The entry's declared (uncompressed) size.
    pub fn size(&self) -> u64 {
        self.bundle.entries[self.idx].uncompressed_size
    }

    fn fail(&self, kind: BundleErrorKind) -> io::Error {
        let e = &self.bundle.entries[self.idx];
        let name = self.bundle.names.get(e).to_string();
        io::Error::new(io::ErrorKind::InvalidData, BundleError::at(self.bundle.path.clone(), name, kind))
    }

    fn finish(&mut self) -> io::Result<()> {
        self.done = true;
        let e = &self.bundle.entries[self.idx];
        if self.produced != e.uncompressed_size {
            return Err(
                self.fail(BundleErrorKind::SizeMismatch { expected: e.uncompressed_size, found: self.produced })
            );
        }
        if let Inner::Deflated(z) = &self.inner
            && z.trailing() > 0
        {
            return Err(self.fail(BundleErrorKind::TrailingData { bytes: z.trailing() }));
        }
        let crc = std::mem::take(&mut self.crc).finalize();
        if crc != e.crc32 {
            return Err(self.fail(BundleErrorKind::CrcMismatch { expected: e.crc32, found: crc }));
        }
        if let Some((hasher, expected)) = self.blake3.take() {
            let found = hasher.finalize();
            if found.as_bytes() != &expected {
                return Err(
                    self.fail(BundleErrorKind::HashMismatch { expected: blake3::Hash::from_bytes(expected), found })
                );
            }
        }
        Ok(())
    }
}

impl Read for EntryReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let declared = self.bundle.entries[self.idx].uncompressed_size;
        // One byte past the declared size is enough to know the header lied.
        let room = usize::try_from((declared + 1).saturating_sub(self.produced)).unwrap_or(usize::MAX);
        let want = buf.len().min(room);
        let n = match &mut self.inner {
            Inner::Stored(r) => r.read(&mut buf[..want])?,
            Inner::Deflated(d) => d.read(&mut buf[..want])?,
        };
        self.produced += n as u64;
        if n == 0 || self.produced > declared {
            self.finish()?;
            return Ok(0);
        }
        self.crc.update(&buf[..n]);
        if let Some((hasher, _)) = &mut self.blake3 {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}
