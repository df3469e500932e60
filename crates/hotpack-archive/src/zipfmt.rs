//! A strict zip structure parser that reads only what it needs, with bounded reads.
//!
//! The zip crate's `ZipArchive::new` reads the central directory only: it never looks at
//! local headers, never checks that entries do not overlap, and leaves names, symlinks and
//! sizes to the caller. Bundles need all of that, with a typed error per problem. Opening
//! reads the end record(s) and the central directory (one bounded read each) and checks
//! every central record plus one O(n log n) sort-and-sweep for overlaps of the extents the
//! central directory declares. Each entry's local header (and data descriptor) is read
//! and checked by [`check_local`] when the entry is opened, before any byte of it is used:
//! the local-header comparison and the full-extent overlap check (the entry must end
//! before the next local header, or the central directory) only need that one entry and
//! the offset of its successor, which the open-time sort recorded.

use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::Limits;
use crate::error::{BundleError, BundleErrorKind, HeaderField};
use crate::fault::ZipFault;
use crate::path::check_entry_name;

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_EOCD64: u32 = 0x0606_4b50;
const SIG_EOCD64_LOCATOR: u32 = 0x0706_4b50;
const SIG_DESCRIPTOR: u32 = 0x0807_4b50;

const FLAG_ENCRYPTED: u16 = 1 << 0;
const FLAG_DESCRIPTOR: u16 = 1 << 3;
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;

/// The highest "version needed to extract" accepted: 6.3 (what python's zipfile reads).
const MAX_VERSION_NEEDED: u8 = 63;

/// Compression method 0.
pub(crate) const METHOD_STORED: u16 = 0;
/// Compression method 8.
pub(crate) const METHOD_DEFLATED: u16 = 8;

const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// One entry, checked against its local header.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    /// Where the name is in [`Names`] (`Names::get`).
    name_at: usize,
    name_len: u16,
    pub(crate) is_dir: bool,
    pub(crate) method: u16,
    pub(crate) crc32: u32,
    pub(crate) compressed_size: u64,
    pub(crate) uncompressed_size: u64,
    pub(crate) local_offset: u64,
    flags: u16,
    /// Where the next entry's local header starts (or the central directory): this entry,
    /// data descriptor included, must end there or before.
    next_start: u64,
    /// The central-directory index of that next entry (`None`: the central directory).
    next: Option<u32>,
}

impl RawEntry {
    /// `[local_offset, min_end)`: the extent known from the central directory alone.
    fn min_end(&self) -> u64 {
        self.local_offset
            .saturating_add(30)
            .saturating_add(u64::from(self.name_len))
            .saturating_add(self.compressed_size)
    }
}

/// Every entry name, back to back in one string (no allocation per entry), and an
/// open-addressing index over them (keyed SipHash, as `HashMap`'s: names come from
/// outside, so their hashes must not be predictable).
#[derive(Debug, Default)]
pub(crate) struct Names {
    text: String,
    /// Central-directory index + 1 of the entry in each slot (0: empty); a power of two.
    slots: Vec<u32>,
    hasher: std::hash::RandomState,
}

impl Names {
    fn with_capacity(entries: usize, bytes: usize) -> Names {
        let slots = (entries.max(8) * 2).next_power_of_two();
        Names { text: String::with_capacity(bytes), slots: vec![0; slots], hasher: std::hash::RandomState::new() }
    }

    /// The name of `e`.
    pub(crate) fn get(&self, e: &RawEntry) -> &str {
        self.text.get(e.name_at..e.name_at + usize::from(e.name_len)).unwrap_or("")
    }

    /// The central-directory index of the entry called `name`.
    pub(crate) fn find(&self, entries: &[RawEntry], name: &str) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut at = (std::hash::BuildHasher::hash_one(&self.hasher, name) as usize) & mask;
        loop {
            let slot = self.slots[at] as usize;
            if slot == 0 {
                return None;
            }
            if self.get(&entries[slot - 1]) == name {
                return Some(slot - 1);
            }
            at = (at + 1) & mask;
        }
    }

    /// Append `name` for the entry that will be `entries[i]`: `(name_at, name_len)`, or
    /// `Err` when an earlier entry has the same name. At most half the slots fill.
    fn add(&mut self, entries: &[RawEntry], i: usize, name: &str) -> Result<(usize, u16), ()> {
        if (i + 1) * 2 > self.slots.len() {
            self.grow(entries);
        }
        let mask = self.slots.len() - 1;
        let mut at = (std::hash::BuildHasher::hash_one(&self.hasher, name) as usize) & mask;
        loop {
            let slot = self.slots[at] as usize;
            if slot == 0 {
                break;
            }
            if self.get(&entries[slot - 1]) == name {
                return Err(());
            }
            at = (at + 1) & mask;
        }
        let len = u16::try_from(name.len()).map_err(|_| ())?;
        self.slots[at] = u32::try_from(i + 1).map_err(|_| ())?;
        let name_at = self.text.len();
        self.text.push_str(name);
        Ok((name_at, len))
    }

    /// Twice the slots (only when the end record's count was wrong about the entries).
    fn grow(&mut self, entries: &[RawEntry]) {
        let mut slots = vec![0u32; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (i, e) in entries.iter().enumerate() {
            let mut at = (std::hash::BuildHasher::hash_one(&self.hasher, self.get(e)) as usize) & mask;
            while slots[at] != 0 {
                at = (at + 1) & mask;
            }
            slots[at] = (i + 1) as u32;
        }
        self.slots = slots;
    }
}

/// Where a bundle's bytes live: in memory, or in an open file read with bounded `pread`s.
#[derive(Debug)]
pub(crate) enum Data {
    Memory(Vec<u8>),
    Shared(Arc<[u8]>),
    File { file: std::fs::File, len: u64 },
}

impl Data {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Data::Memory(v) => v.len() as u64,
            Data::Shared(v) => v.len() as u64,
            Data::File { len, .. } => *len,
        }
    }

    /// Reads up to `buf.len()` bytes at `offset` (fewer only at the end of the data).
    pub(crate) fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let memory = |v: &[u8], buf: &mut [u8]| {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(v.len());
            let n = buf.len().min(v.len() - start);
            buf[..n].copy_from_slice(&v[start..start + n]);
            n
        };
        match self {
            Data::Memory(v) => Ok(memory(v, buf)),
            Data::Shared(v) => Ok(memory(v, buf)),
            Data::File { file, .. } => {
                use std::os::unix::fs::FileExt;
                let mut done = 0;
                while done < buf.len() {
                    match file.read_at(&mut buf[done..], offset + done as u64) {
                        Ok(0) => break,
                        Ok(n) => done += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(done)
            }
        }
    }

    /// Exactly `len` bytes at `offset` into `buf` (cleared first), or `None` when they run
    /// past the end of the data. `len` is bounded by the caller (never more than the data).
    fn read_exact_into(&self, offset: u64, len: u64, buf: &mut Vec<u8>) -> io::Result<Option<()>> {
        buf.clear();
        let end = match offset.checked_add(len) {
            Some(end) if end <= self.len() => end,
            _ => return Ok(None),
        };
        let n = usize::try_from(end - offset).map_err(|_| io::Error::other("range too large"))?;
        buf.resize(n, 0);
        let got = self.read_at(offset, buf)?;
        if got != n {
            return Ok(None);
        }
        Ok(Some(()))
    }
}

/// The parsed archive structure.
#[derive(Debug)]
pub(crate) struct Structure {
    /// Offset of the end-of-central-directory record.
    pub(crate) eocd: u64,
    /// The archive comment (after the end record).
    pub(crate) comment: Vec<u8>,
    pub(crate) entries: Vec<RawEntry>,
    pub(crate) names: Names,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Find the ZIP64 extended-information extra field (id 1) in `extra`.
/// `Err(())`: an extra field runs past the end of its header.
fn zip64_field(extra: &[u8]) -> Result<Option<&[u8]>, ()> {
    let mut at = 0usize;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at);
        let size = usize::from(u16_at(extra, at + 2));
        let body = extra.get(at + 4..at + 4 + size).ok_or(())?;
        if id == 1 {
            return Ok(Some(body));
        }
        at += 4 + size;
    }
    Ok(None)
}

struct Ctx<'a> {
    bundle: &'a Path,
}

impl Ctx<'_> {
    fn truncated(&self, what: impl Into<String>) -> BundleError {
        BundleError::new(self.bundle.to_path_buf(), BundleErrorKind::Truncated { what: what.into() })
    }
    fn malformed(&self, fault: ZipFault) -> BundleError {
        BundleError::new(self.bundle.to_path_buf(), BundleErrorKind::Malformed { fault })
    }
    fn mismatch(&self, entry: &str, field: HeaderField, central: impl ToString, local: impl ToString) -> BundleError {
        BundleError::at(
            self.bundle.to_path_buf(),
            entry.to_owned(),
            BundleErrorKind::HeaderMismatch { field, central: central.to_string(), local: local.to_string() },
        )
    }
}

struct End {
    /// Offset of the end-of-central-directory record (its comment runs to the end of the file).
    eocd: u64,
    comment: Vec<u8>,
    entries: u64,
    cd_offset: u64,
    cd_size: u64,
    /// Where the central directory must end: the ZIP64 end record, or the end record.
    cd_end: u64,
}

fn io_err(ctx: &Ctx<'_>, source: io::Error) -> BundleError {
    BundleError::new(ctx.bundle.to_path_buf(), BundleErrorKind::Io(source))
}

/// Reads the end record (and the ZIP64 end record and locator): one bounded read of the
/// last 64 KiB + 42 bytes at most, one of 56 bytes for ZIP64.
fn find_end(data: &Data, ctx: &Ctx<'_>) -> Result<End, BundleError> {
    let len = data.len();
    if len == 0 {
        return Err(BundleError::new(ctx.bundle.to_path_buf(), BundleErrorKind::Empty));
    }
    let mut sig = [0u8; 4];
    let looks_like_zip = data.read_at(0, &mut sig).map_err(|e| io_err(ctx, e))? == 4 && sig == SIG_LOCAL.to_le_bytes();
    let mut found = None;
    let mut tail = Vec::new();
    let mut base = 0u64;
    if len >= 22 {
        let lowest = (len - 22).saturating_sub(u64::from(u16::MAX));
        // 20 more bytes below the lowest candidate: the ZIP64 locator sits right before it.
        base = lowest.saturating_sub(20);
        data.read_exact_into(base, len - base, &mut tail)
            .map_err(|e| io_err(ctx, e))?
            .ok_or_else(|| ctx.truncated("the end-of-central-directory record"))?;
        let mut pos = len - 22;
        loop {
            let at = (pos - base) as usize;
            if u32_at(&tail, at) == SIG_EOCD && pos + 22 + u64::from(u16_at(&tail, at + 20)) == len {
                found = Some(pos);
                break;
            }
            if pos == lowest {
                break;
            }
            pos -= 1;
        }
    }
    let Some(pos) = found else {
        return Err(if looks_like_zip {
            ctx.truncated("the end-of-central-directory record")
        } else {
            BundleError::new(ctx.bundle.to_path_buf(), BundleErrorKind::NotAZip)
        });
    };
    let at = (pos - base) as usize;
    let comment = tail[at + 22..].to_vec();
    // A reader that takes the last end-record signature in the file (python's zipfile
    // does) must find this one: a comment holding another would be read as a different
    // archive (or as none) by such readers.
    if comment.windows(4).any(|w| w == SIG_EOCD.to_le_bytes()) {
        return Err(ctx.malformed(ZipFault::SignatureInComment));
    }
    let disk = u16_at(&tail, at + 4);
    let cd_disk = u16_at(&tail, at + 6);
    let on_disk = u16_at(&tail, at + 8);
    let total = u16_at(&tail, at + 10);
    let cd_size = u32_at(&tail, at + 12);
    let cd_offset = u32_at(&tail, at + 16);

    // A ZIP64 locator sits right before the end record when the archive uses ZIP64.
    if pos >= 20 && u32_at(&tail, at - 20) == SIG_EOCD64_LOCATOR {
        let loc = at - 20;
        let rec_off = u64_at(&tail, loc + 8);
        if u32_at(&tail, loc + 4) != 0 || u32_at(&tail, loc + 16) > 1 {
            return Err(ctx.malformed(ZipFault::MultiDisk));
        }
        let mut rec = Vec::new();
        data.read_exact_into(rec_off, 56, &mut rec)
            .map_err(|e| io_err(ctx, e))?
            .ok_or_else(|| ctx.truncated("the ZIP64 end record"))?;
        if u32_at(&rec, 0) != SIG_EOCD64 {
            return Err(ctx.malformed(ZipFault::Zip64LocatorTarget));
        }
        if rec_off + 56 > pos - 20 {
            return Err(ctx.malformed(ZipFault::Zip64EndOverlap));
        }
        if u32_at(&rec, 16) != 0 || u32_at(&rec, 20) != 0 || u64_at(&rec, 24) != u64_at(&rec, 32) {
            return Err(ctx.malformed(ZipFault::MultiDisk));
        }
        return Ok(End {
            eocd: pos,
            comment,
            entries: u64_at(&rec, 32),
            cd_size: u64_at(&rec, 40),
            cd_offset: u64_at(&rec, 48),
            cd_end: rec_off,
        });
    }
    if disk != 0 || cd_disk != 0 || on_disk != total {
        return Err(ctx.malformed(ZipFault::MultiDisk));
    }
    Ok(End {
        eocd: pos,
        comment,
        entries: u64::from(total),
        cd_size: u64::from(cd_size),
        cd_offset: u64::from(cd_offset),
        cd_end: pos,
    })
}

/// Parse and check the structure from the end record and the central directory (local
/// headers are checked per entry by [`check_local`]). See `docs/FORMAT.md`, "Reader
/// checks", for the order. `buf` is a scratch buffer (reused by the caller).
pub(crate) fn parse(data: &Data, bundle: &Path, limits: &Limits, buf: &mut Vec<u8>) -> Result<Structure, BundleError> {
    let ctx = Ctx { bundle };
    let end = find_end(data, &ctx)?;
    if end.entries > limits.max_entries {
        return Err(BundleError::new(
            bundle.to_path_buf(),
            BundleErrorKind::TooManyEntries { count: end.entries, max: limits.max_entries },
        ));
    }
    let cd_stop = end.cd_offset.checked_add(end.cd_size).ok_or_else(|| ctx.truncated("the central directory"))?;
    if cd_stop > data.len() {
        return Err(ctx.truncated("the central directory"));
    }
    if cd_stop != end.cd_end {
        return Err(ctx.malformed(ZipFault::CentralDirectoryEnd));
    }
    data.read_exact_into(end.cd_offset, end.cd_size, buf)
        .map_err(|e| io_err(&ctx, e))?
        .ok_or_else(|| ctx.truncated("the central directory"))?;
    let cd: &[u8] = buf;

    // Bounded by max_entries, which was checked above; never by anything larger.
    let count = usize::try_from(end.entries).map_err(|_| ctx.malformed(ZipFault::EntryCount))?;
    let mut entries: Vec<RawEntry> = Vec::with_capacity(count.min(cd.len() / 46 + 1));
    let mut names = Names::with_capacity(count.min(cd.len() / 46 + 1), cd.len() / 3);
    let mut total: u64 = 0;
    let mut at = 0usize;
    for i in 0..count {
        let head = cd.get(at..at + 46).ok_or_else(|| ctx.malformed(ZipFault::FewerRecords { read: i, count }))?;
        if u32_at(head, 0) != SIG_CENTRAL {
            return Err(ctx.malformed(ZipFault::RecordSignature { record: i }));
        }
        // "Version needed to extract" (low byte: major * 10 + minor). Over 6.3, the last
        // version of the specification python's zipfile reads, other readers refuse the
        // entry where this one would read it (found by fuzzing against python).
        let needed = head[6];
        let flags = u16_at(head, 8);
        let method = u16_at(head, 10);
        let crc32 = u32_at(head, 16);
        let mut compressed_size = u64::from(u32_at(head, 20));
        let mut uncompressed_size = u64::from(u32_at(head, 24));
        let name_len = usize::from(u16_at(head, 28));
        let extra_len = usize::from(u16_at(head, 30));
        let comment_len = usize::from(u16_at(head, 32));
        let disk_start = u16_at(head, 34);
        let external = u32_at(head, 38);
        let mut local_offset = u64::from(u32_at(head, 42));
        let var = cd
            .get(at + 46..at + 46 + name_len + extra_len + comment_len)
            .ok_or_else(|| ctx.malformed(ZipFault::RecordOverrun { record: i }))?;
        let raw_name = &var[..name_len];
        let extra = &var[name_len..name_len + extra_len];
        at += 46 + name_len + extra_len + comment_len;

        let (name, is_dir) = check_entry_name(raw_name).map_err(|(entry, problem)| {
            BundleError::at(bundle.to_path_buf(), entry, BundleErrorKind::UnsafePath { problem })
        })?;
        if needed > MAX_VERSION_NEEDED {
            return Err(ctx.malformed(ZipFault::VersionNeeded { entry: name.to_string(), needed }));
        }

        // ZIP64: the 32-bit fields that are all-ones live in the extra field, in order.
        if uncompressed_size == 0xFFFF_FFFF
            || compressed_size == 0xFFFF_FFFF
            || local_offset == 0xFFFF_FFFF
            || disk_start == 0xFFFF
        {
            let body = zip64_field(extra)
                .map_err(|()| ctx.malformed(ZipFault::ExtraFieldOverrun { entry: name.to_string(), local: false }))?
                .ok_or_else(|| ctx.malformed(ZipFault::Zip64Missing { entry: name.to_string() }))?;
            let mut p = 0usize;
            let mut next = |field: &'static str| -> Result<u64, BundleError> {
                let v = body
                    .get(p..p + 8)
                    .map(|b| u64_at(b, 0))
                    .ok_or_else(|| ctx.malformed(ZipFault::Zip64Short { entry: name.to_string(), field }))?;
                p += 8;
                Ok(v)
            };
            if uncompressed_size == 0xFFFF_FFFF {
                uncompressed_size = next("uncompressed size")?;
            }
            if compressed_size == 0xFFFF_FFFF {
                compressed_size = next("compressed size")?;
            }
            if local_offset == 0xFFFF_FFFF {
                local_offset = next("local header offset")?;
            }
        } else if disk_start != 0 {
            return Err(ctx.malformed(ZipFault::EntryOnOtherDisk { entry: name.to_string() }));
        }

        let Ok((name_at, name_len)) = names.add(&entries, i, name) else {
            return Err(BundleError::at(bundle.to_path_buf(), name.to_string(), BundleErrorKind::DuplicateEntry));
        };
        let mode = external >> 16;
        if mode & S_IFMT == S_IFLNK {
            return Err(BundleError::at(bundle.to_path_buf(), name.to_string(), BundleErrorKind::Symlink { mode }));
        }
        if flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 {
            return Err(BundleError::at(bundle.to_path_buf(), name.to_string(), BundleErrorKind::Encrypted));
        }
        if method != METHOD_STORED && method != METHOD_DEFLATED {
            return Err(BundleError::at(
                bundle.to_path_buf(),
                name.to_string(),
                BundleErrorKind::UnsupportedMethod { method },
            ));
        }
        if is_dir && uncompressed_size != 0 {
            return Err(ctx.malformed(ZipFault::DirectoryWithData { entry: name.to_string(), size: uncompressed_size }));
        }
        if uncompressed_size > limits.max_entry_size {
            return Err(BundleError::at(
                bundle.to_path_buf(),
                name.to_string(),
                BundleErrorKind::EntryTooLarge { size: uncompressed_size, max: limits.max_entry_size },
            ));
        }
        if method == METHOD_STORED && compressed_size != uncompressed_size {
            return Err(BundleError::at(
                bundle.to_path_buf(),
                name.to_string(),
                BundleErrorKind::SizeMismatch { expected: uncompressed_size, found: compressed_size },
            ));
        }
        if uncompressed_size > limits.ratio_threshold
            && uncompressed_size > compressed_size.saturating_mul(limits.max_ratio)
        {
            return Err(BundleError::at(
                bundle.to_path_buf(),
                name.to_string(),
                BundleErrorKind::CompressionRatio {
                    compressed: compressed_size,
                    uncompressed: uncompressed_size,
                    max_ratio: limits.max_ratio,
                },
            ));
        }
        total = total.saturating_add(uncompressed_size);
        if total > limits.max_total_size {
            return Err(BundleError::at(
                bundle.to_path_buf(),
                name.to_string(),
                BundleErrorKind::TotalTooLarge { total, max: limits.max_total_size },
            ));
        }
        entries.push(RawEntry {
            name_at,
            name_len,
            is_dir,
            method,
            crc32,
            compressed_size,
            uncompressed_size,
            local_offset,
            flags,
            next_start: end.cd_offset,
            next: None,
        });
    }
    if at != cd.len() {
        return Err(ctx.malformed(ZipFault::RecordsTrailing { bytes: cd.len() - at, count }));
    }

    // Overlaps, from the central directory alone (catches entries sharing one local header
    // before the header comparison would report it as a name mismatch).
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_unstable_by_key(|&i| entries[i].local_offset);
    // No prefix: the first local header (or, with no entries, the central directory) is at
    // offset 0, so nothing unsigned and unchecked rides in front of the entries.
    let first = order.first().map_or(end.cd_offset, |&i| entries[i].local_offset);
    if first != 0 {
        return Err(BundleError::new(bundle.to_path_buf(), BundleErrorKind::PrefixData { bytes: first }));
    }
    sweep(&entries, &names, &order, end.cd_offset, &ctx)?;
    for pair in order.windows(2) {
        let next_start = entries[pair[1]].local_offset;
        entries[pair[0]].next_start = next_start;
        entries[pair[0]].next = u32::try_from(pair[1]).ok();
    }
    Ok(Structure { eocd: end.eocd, comment: end.comment, entries, names })
}

/// Sorted sweep: each entry must end at or before the next one starts, and the last one
/// before the central directory.
fn sweep(
    entries: &[RawEntry],
    names: &Names,
    order: &[usize],
    cd_offset: u64,
    ctx: &Ctx<'_>,
) -> Result<(), BundleError> {
    for pair in order.windows(2) {
        let (a, b) = (&entries[pair[0]], &entries[pair[1]]);
        if a.min_end() > b.local_offset {
            return Err(BundleError::at(
                ctx.bundle.to_path_buf(),
                names.get(b).to_string(),
                BundleErrorKind::Overlap { other: names.get(a).to_string() },
            ));
        }
    }
    if let Some(&last) = order.last() {
        let e = &entries[last];
        if e.min_end() > cd_offset {
            // Past the end of the file is truncation, not overlap.
            return Err(BundleError::at(
                ctx.bundle.to_path_buf(),
                names.get(e).to_string(),
                BundleErrorKind::Overlap { other: "<central directory>".into() },
            ));
        }
    }
    Ok(())
}

/// Reads and checks the local header (and data descriptor) of entry `idx` against its
/// central record, and checks that the entry, descriptor included, ends before the next
/// entry's local header (or the central directory). Returns the offset of its first data
/// byte. Bounded: one read of the header (30 bytes, the name and up to 256 bytes of extra
/// field; a second read only for a longer extra field) and one of the descriptor.
pub(crate) fn check_local(
    data: &Data,
    entries: &[RawEntry],
    names: &Names,
    idx: usize,
    bundle: &Path,
    buf: &mut Vec<u8>,
) -> Result<u64, BundleError> {
    let ctx = Ctx { bundle };
    let ctx = &ctx;
    let e = &entries[idx];
    let e_name = names.get(e);
    let what = || format!("the local header of entry `{}`", e_name);
    let avail = data.len().saturating_sub(e.local_offset);
    let want = (30 + e_name.len() as u64 + 256).min(avail);
    if want < 30 {
        return Err(ctx.truncated(what()));
    }
    data.read_exact_into(e.local_offset, want, buf)
        .map_err(|err| io_err(ctx, err))?
        .ok_or_else(|| ctx.truncated(what()))?;
    let head = &buf[..30];
    if u32_at(head, 0) != SIG_LOCAL {
        return Err(ctx.mismatch(
            e_name,
            HeaderField::Signature,
            format!("{SIG_LOCAL:#010x}"),
            format!("{:#010x}", u32_at(head, 0)),
        ));
    }
    let flags = u16_at(head, 6);
    let method = u16_at(head, 8);
    let crc = u32_at(head, 14);
    let mut csize = u64::from(u32_at(head, 18));
    let mut usize_ = u64::from(u32_at(head, 22));
    let name_len = u64::from(u16_at(head, 26));
    let extra_len = u64::from(u16_at(head, 28));
    if 30 + name_len + extra_len > buf.len() as u64 {
        data.read_exact_into(e.local_offset, 30 + name_len + extra_len, buf)
            .map_err(|err| io_err(ctx, err))?
            .ok_or_else(|| ctx.truncated(what()))?;
    }
    let var = &buf[30..(30 + name_len + extra_len) as usize];
    let name = &var[..name_len as usize];
    let extra = &var[name_len as usize..];
    if name != e_name.as_bytes() {
        return Err(ctx.mismatch(e_name, HeaderField::Name, e_name, String::from_utf8_lossy(name)));
    }
    if method != e.method {
        return Err(ctx.mismatch(e_name, HeaderField::Method, e.method, method));
    }
    let relevant = FLAG_ENCRYPTED | FLAG_DESCRIPTOR | FLAG_STRONG_ENCRYPTION;
    if flags & relevant != e.flags & relevant {
        return Err(ctx.mismatch(e_name, HeaderField::Flags, format!("{:#06x}", e.flags), format!("{flags:#06x}")));
    }
    let mut zip64 = false;
    if (csize == 0xFFFF_FFFF || usize_ == 0xFFFF_FFFF)
        && let Some(body) = zip64_field(extra)
            .map_err(|()| ctx.malformed(ZipFault::ExtraFieldOverrun { entry: e_name.to_owned(), local: true }))?
        && body.len() >= 16
    {
        zip64 = true;
        usize_ = u64_at(body, 0);
        csize = u64_at(body, 8);
    }
    let data_start = e.local_offset + 30 + name_len + extra_len;
    let data_end = data_start
        .checked_add(e.compressed_size)
        .filter(|&end| end <= data.len())
        .ok_or_else(|| ctx.truncated(format!("the data of entry `{}`", e_name)))?;
    let mut extent_end = data_end;
    if flags & FLAG_DESCRIPTOR == 0 {
        if crc != e.crc32 {
            return Err(ctx.mismatch(e_name, HeaderField::Crc32, format!("{:08x}", e.crc32), format!("{crc:08x}")));
        }
        if csize != e.compressed_size {
            return Err(ctx.mismatch(e_name, HeaderField::CompressedSize, e.compressed_size, csize));
        }
        if usize_ != e.uncompressed_size {
            return Err(ctx.mismatch(e_name, HeaderField::UncompressedSize, e.uncompressed_size, usize_));
        }
    } else {
        // Data descriptor: optional signature, crc, then 4- or 8-byte sizes.
        let wide = zip64 || e.compressed_size > u64::from(u32::MAX) || e.uncompressed_size > u64::from(u32::MAX);
        let sized: u64 = if wide { 20 } else { 12 };
        let truncated = || ctx.truncated(format!("the data descriptor of entry `{}`", e_name));
        let mut probe = [0u8; 4];
        if data_end + 4 > data.len() || data.read_at(data_end, &mut probe).map_err(|err| io_err(ctx, err))? != 4 {
            return Err(truncated());
        }
        let (skip, len) = if u32::from_le_bytes(probe) == SIG_DESCRIPTOR { (4, sized + 4) } else { (0, sized) };
        data.read_exact_into(data_end, len, buf).map_err(|err| io_err(ctx, err))?.ok_or_else(truncated)?;
        let d = &buf[skip as usize..];
        let (dcrc, dcsize, dusize) = if wide {
            (u32_at(d, 0), u64_at(d, 4), u64_at(d, 12))
        } else {
            (u32_at(d, 0), u64::from(u32_at(d, 4)), u64::from(u32_at(d, 8)))
        };
        if dcrc != e.crc32 {
            return Err(ctx.mismatch(e_name, HeaderField::Crc32, format!("{:08x}", e.crc32), format!("{dcrc:08x}")));
        }
        if dcsize != e.compressed_size {
            return Err(ctx.mismatch(e_name, HeaderField::CompressedSize, e.compressed_size, dcsize));
        }
        if dusize != e.uncompressed_size {
            return Err(ctx.mismatch(e_name, HeaderField::UncompressedSize, e.uncompressed_size, dusize));
        }
        extent_end = data_end + len;
    }
    if extent_end > e.next_start {
        // The same refusal the open-time sweep gives for the extents the central directory
        // declares: named at the later entry.
        return Err(match e.next {
            Some(next) => BundleError::at(
                bundle.to_path_buf(),
                names.get(&entries[next as usize]).to_string(),
                BundleErrorKind::Overlap { other: e_name.to_string() },
            ),
            None => BundleError::at(
                bundle.to_path_buf(),
                e_name.to_string(),
                BundleErrorKind::Overlap { other: "<central directory>".into() },
            ),
        });
    }
    Ok(data_start)
}
