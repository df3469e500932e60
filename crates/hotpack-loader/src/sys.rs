//! Every `unsafe` operation of hotpack's host side, in one place: `dlopen`, the descriptor
//! lookup, reads of the module's static descriptor memory, and calls through its shims; in
//! [`crash`], a worker's crash handlers.
//!
//! The invariant all of them rely on: **a library hotpack opened is never unmapped.** The
//! handle from `dlopen` is leaked on purpose (no `dlclose`, see the crate docs for why), so
//! every pointer into a module's static data or code stays valid for the life of the process.
#![allow(unsafe_code)]

#[cfg(target_os = "linux")]
pub mod crash;

use hotpack_abi::{
    CallError, ExportStateFn, HandlerFn, ImportStateFn, InitFn, Interface, ModuleDescriptor, RawHandler, RawInterface,
    RawRequirement, RawStr,
};
use std::ffi::c_void;
use std::path::Path;

/// A library opened with `RTLD_NOW | RTLD_LOCAL` and never closed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenLibrary {
    handle: *mut c_void,
}

// SAFETY: a dlopen handle is a process-wide token; glibc's dl* functions are thread-safe.
unsafe impl Send for OpenLibrary {}
// SAFETY: as above; the handle is only passed to dlsym, never mutated.
unsafe impl Sync for OpenLibrary {}

/// `dlopen`s `path`. The library is never closed.
///
/// Running the library's ELF initializers is inherent to loading it: the caller has checked
/// the file is a complete shared object for this machine (`elf::check`), and hotpack's trust
/// model (crate docs) is that modules are code the host chose to run.
pub(crate) fn open(path: &Path) -> Result<OpenLibrary, String> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading runs the library's initializers, which is what loading a module means
    // (see above). RTLD_LOCAL keeps its symbols out of the global namespace, so two versions
    // of one module never resolve each other's symbols; RTLD_NOW fails here, not mid-call,
    // on a missing symbol.
    let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| e.to_string())?;
    Ok(OpenLibrary { handle: lib.into_raw() })
}

/// Looks up the descriptor function and calls it. `Ok(None)`: the symbol is missing.
pub(crate) fn descriptor(lib: OpenLibrary) -> Result<Option<*const ModuleDescriptor>, String> {
    use libloading::os::unix::Library;
    // SAFETY: `handle` came from `Library::into_raw` and the library is never closed; the
    // rebuilt `Library` is turned back into a raw handle below, so it never runs dlclose.
    let lib = unsafe { Library::from_raw(lib.handle) };
    // Built once: this runs on every load and on every call of `baseline::DlsymPerCall`.
    static SYMBOL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let symbol = SYMBOL.get_or_init(|| format!("{}\0", hotpack_abi::DESCRIPTOR_SYMBOL));
    // SAFETY: the symbol's type is hotpack's descriptor function, which a module generates
    // with `hotpack_abi::module!`; a library that exports the name with another type is
    // caught by the magic/layout checks on the pointer it returns, before any other use.
    let found = unsafe { lib.get::<extern "C" fn() -> *const ModuleDescriptor>(symbol.as_bytes()) };
    let result = match found {
        Ok(f) => Ok(Some(f())),
        Err(libloading::Error::DlSym { .. }) => Ok(None),
        Err(e) => Err(e.to_string()),
    };
    let _ = lib.into_raw();
    result
}

/// What the fixed-offset header of a descriptor says.
pub(crate) enum Header {
    /// Magic is not hotpack's.
    BadMagic(u64),
    /// Magic matches; the layout version or size is not this host's.
    Layout { version: u32, size: usize },
    /// Header matches, but the descriptor is not aligned for a `ModuleDescriptor`.
    Misaligned(usize),
    /// Header matches this host's layout: the whole descriptor can be read.
    Ok(&'static ModuleDescriptor),
}

/// Checks a descriptor header field by field, each read justified by the one before:
/// magic (offset 0) and layout version (offset 8) have fixed offsets in every layout
/// version; `descriptor_size` (offset 16) exists in every layout hotpack ever wrote.
///
/// `raw` must be non-null and come from a module's descriptor function.
pub(crate) fn check_header(raw: *const ModuleDescriptor) -> Header {
    // SAFETY: `raw` is the non-null return of the module's descriptor symbol, which points
    // to static data of the mapped library; every descriptor layout starts with a u64 magic.
    // Unaligned reads, because nothing is known about it yet.
    let magic = unsafe { (raw as *const u64).read_unaligned() };
    if magic != hotpack_abi::MAGIC {
        return Header::BadMagic(magic);
    }
    // SAFETY: the magic matched, so this is a hotpack descriptor of some layout version,
    // all of which have a u32 layout version at offset 8 and a usize size at offset 16.
    let (version, size) = unsafe {
        (
            (raw as *const u8).add(8).cast::<u32>().read_unaligned(),
            (raw as *const u8).add(16).cast::<usize>().read_unaligned(),
        )
    };
    if version != hotpack_abi::LAYOUT_VERSION || size != std::mem::size_of::<ModuleDescriptor>() {
        return Header::Layout { version, size };
    }
    if !raw.is_aligned() {
        return Header::Misaligned(raw as usize);
    }
    // SAFETY: same magic, layout version and size as this host's `ModuleDescriptor`, aligned
    // for it (checked just above), a static of a library that is never unmapped: reading it
    // as one is sound.
    Header::Ok(unsafe { &*raw })
}

/// The bytes of a descriptor string.
///
/// # Safety
///
/// `s` must come from a checked descriptor of a library that stays mapped.
pub(crate) unsafe fn bytes(s: RawStr) -> &'static [u8] {
    if s.len == 0 || s.ptr.is_null() {
        return &[];
    }
    if s.len > isize::MAX as usize {
        // Not a slice any module could hold; the field check that reads it reports it.
        return b"\xff(length out of range)";
    }
    // SAFETY: the caller's contract: a static string in the mapped module.
    unsafe { std::slice::from_raw_parts(s.ptr, s.len) }
}

/// A descriptor array; `None` when the pointer is not aligned for `T` or the length
/// overflows the address space.
///
/// # Safety
///
/// `ptr..ptr+count` must be a static array in a library that stays mapped.
pub(crate) unsafe fn array<T>(ptr: *const T, count: usize) -> Option<&'static [T]> {
    if count == 0 || ptr.is_null() {
        return Some(&[]);
    }
    if !ptr.is_aligned() || count.checked_mul(std::mem::size_of::<T>()).is_none_or(|n| n > isize::MAX as usize) {
        return None;
    }
    // SAFETY: the caller's contract; aligned and in bounds of `isize`, checked above.
    Some(unsafe { std::slice::from_raw_parts(ptr, count) })
}

/// The interfaces of a checked descriptor; `None` if the array is misaligned.
pub(crate) fn interfaces(desc: &'static ModuleDescriptor) -> Option<&'static [RawInterface]> {
    // SAFETY: `desc` is a checked descriptor; the array is static data of the mapped module.
    unsafe { array(desc.interfaces, desc.interface_count) }
}

/// The handlers of a checked descriptor; `None` if the array is misaligned.
pub(crate) fn handlers(desc: &'static ModuleDescriptor) -> Option<&'static [RawHandler]> {
    // SAFETY: `desc` is a checked descriptor; the array is static data of the mapped module.
    unsafe { array(desc.handlers, desc.handler_count) }
}

/// The required interfaces of a checked descriptor; `None` if the array is misaligned.
pub(crate) fn requires(desc: &'static ModuleDescriptor) -> Option<&'static [RawRequirement]> {
    // SAFETY: `desc` is a checked descriptor; the array is static data of the mapped module.
    unsafe { array(desc.requires, desc.require_count) }
}

/// The module's counter of panics caught in its typed shims; `None` if null or misaligned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PanicCounter {
    ptr: *const std::sync::atomic::AtomicU64,
}

// SAFETY: an atomic in a module that is never unmapped.
unsafe impl Send for PanicCounter {}
// SAFETY: as above.
unsafe impl Sync for PanicCounter {}

impl PanicCounter {
    pub(crate) fn new(desc: &ModuleDescriptor) -> Option<PanicCounter> {
        let ptr = desc.typed_panics;
        (!ptr.is_null() && ptr.is_aligned()).then_some(PanicCounter { ptr })
    }

    /// The counter's address: an address inside the module's mapped object.
    pub(crate) fn addr(self) -> usize {
        self.ptr.addr()
    }

    pub(crate) fn get(self) -> u64 {
        // SAFETY: non-null and aligned (checked in `new`), an `AtomicU64` static of a checked
        // descriptor's module, which is never unmapped.
        let counter = unsafe { &*self.ptr };
        counter.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A module's requirement slot: the `AtomicPtr` inside its `hotpack_abi::Requirement` static.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    ptr: *const std::sync::atomic::AtomicPtr<c_void>,
}

// SAFETY: the slot is an atomic in a module that is never unmapped.
unsafe impl Send for Slot {}
// SAFETY: as above.
unsafe impl Sync for Slot {}

impl Slot {
    /// The slot of a checked requirement record; `None` if null or misaligned.
    pub(crate) fn new(raw: &RawRequirement) -> Option<Slot> {
        (!raw.slot.is_null() && raw.slot.is_aligned()).then_some(Slot { ptr: raw.slot })
    }

    /// Hands the module `table`: a call through its `Requirement` sees it from now on.
    /// The caller has checked the table's interface name, id and size equal the requirement's.
    pub(crate) fn store(self, table: Table) {
        // SAFETY: the slot is a non-null, aligned `AtomicPtr` (checked in `new`) in the static
        // data of a module that is never unmapped; atomics may be shared across threads.
        let slot = unsafe { &*self.ptr };
        slot.store(table.ptr as *mut c_void, std::sync::atomic::Ordering::Release);
    }

    /// Takes the table back (the module's calls answer `NoProvider` again).
    pub(crate) fn clear(self) {
        // SAFETY: as for `store`.
        let slot = unsafe { &*self.ptr };
        slot.store(std::ptr::null_mut(), std::sync::atomic::Ordering::Release);
    }
}

/// A string of a checked descriptor.
pub(crate) fn string(s: RawStr) -> &'static [u8] {
    // SAFETY: only called with strings of checked descriptors (magic, layout and size match).
    unsafe { bytes(s) }
}

/// An interface table of a checked descriptor, with the id and size it was declared with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    ptr: *const c_void,
    pub(crate) id: u64,
    pub(crate) size: usize,
}

// SAFETY: tables are immutable statics of a module that is never unmapped.
unsafe impl Send for Table {}
// SAFETY: as above.
unsafe impl Sync for Table {}

impl Table {
    pub(crate) fn new(raw: &RawInterface) -> Table {
        Table { ptr: raw.table, id: raw.id, size: raw.table_size }
    }

    /// The table as the host's view of interface `I`, if id and size match.
    pub(crate) fn get<I: Interface>(self) -> Option<&'static I> {
        let ptr = self.ptr as *const I;
        if self.id != I::ID || self.size != std::mem::size_of::<I>() || ptr.is_null() || !ptr.is_aligned() {
            return None;
        }
        // SAFETY: same id (a hash of the interface name, every signature and the layout of
        // every type crossing it, see `hotpack_abi::Interface`) and same size: the module built
        // this `#[repr(C)]` table of `Entry`s from the same declaration. Aligned (checked
        // above), static data of a module that is never unmapped.
        Some(unsafe { &*ptr })
    }
}

/// Calls a handler shim of a checked module.
pub(crate) fn call_handler(f: HandlerFn, input: &[u8]) -> Result<Vec<u8>, CallError> {
    // SAFETY: `f` comes from the handler array of a checked descriptor (a `module!` shim)
    // of a library that is never unmapped.
    unsafe { hotpack_abi::call_handler(f, input) }
}

/// Runs the init shim of a checked module.
pub(crate) fn call_init(f: InitFn) -> Result<(), CallError> {
    // SAFETY: as for `call_handler`.
    unsafe { hotpack_abi::call_init(f) }
}

/// Runs the state-export shim of a checked module.
pub(crate) fn call_export(f: ExportStateFn) -> Result<Vec<u8>, CallError> {
    // SAFETY: as for `call_handler`.
    unsafe { hotpack_abi::call_hook_export(f) }
}

/// Runs the state-import shim of a checked module.
pub(crate) fn call_import(f: ImportStateFn, state: &[u8]) -> Result<(), CallError> {
    // SAFETY: as for `call_handler`.
    unsafe { hotpack_abi::call_hook_import(f, state) }
}

/// An atomically replaceable `&'static T`: the hot-handle primitive.
///
/// A load is one `Acquire` atomic load; there is no lock, no reference count and no
/// allocation. Sound because only `&'static T` values are ever stored, so whatever a reader
/// loads stays valid forever (module tables are never unmapped; other values are leaked).
pub struct AtomicRef<T: Sync + 'static> {
    ptr: std::sync::atomic::AtomicPtr<T>,
}

impl<T: Sync + 'static> AtomicRef<T> {
    /// A cell holding `value`.
    pub fn new(value: &'static T) -> Self {
        AtomicRef { ptr: std::sync::atomic::AtomicPtr::new(value as *const T as *mut T) }
    }

    /// The current value.
    #[inline(always)]
    pub fn load(&self) -> &'static T {
        let ptr = self.ptr.load(std::sync::atomic::Ordering::Acquire);
        // SAFETY: every pointer stored came from a `&'static T` (`new`, `store`, `swap`), and
        // `Acquire` pairs with the `Release` of the store, so the pointee is fully visible.
        unsafe { &*ptr }
    }

    /// Replaces the value; readers see the old or the new one, never anything else.
    pub fn store(&self, value: &'static T) {
        self.ptr.store(value as *const T as *mut T, std::sync::atomic::Ordering::Release);
    }

    /// Replaces the value and returns the previous one.
    pub fn swap(&self, value: &'static T) -> &'static T {
        let old = self.ptr.swap(value as *const T as *mut T, std::sync::atomic::Ordering::AcqRel);
        // SAFETY: as for `load`: `old` was stored from a `&'static T`.
        unsafe { &*old }
    }
}

impl<T: Sync + 'static> std::fmt::Debug for AtomicRef<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtomicRef").finish_non_exhaustive()
    }
}

/// A read-only map of a whole memfd sealed against writes, growing and shrinking: its bytes
/// can never change, so handing them out as `&[u8]` is sound whoever else holds the fd.
///
/// Used for resident data (mapped once by the host and once by each worker, no copy) and to
/// read a library image a worker was sent.
#[cfg(target_os = "linux")]
pub struct SealedMap {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is immutable (sealed memfd, PROT_READ) and lives until drop.
#[cfg(target_os = "linux")]
unsafe impl Send for SealedMap {}
// SAFETY: as above: only shared reads of bytes that cannot change.
#[cfg(target_os = "linux")]
unsafe impl Sync for SealedMap {}

#[cfg(target_os = "linux")]
impl SealedMap {
    /// Maps `fd` read-only.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the fd is not sealed against writes, growing and shrinking (so its
    /// bytes could change under the map, or a shrink could turn a read into SIGBUS); the OS
    /// error of `fstat` or `mmap`.
    pub fn new(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<SealedMap> {
        use rustix::fs::SealFlags;
        let seals = rustix::fs::fcntl_get_seals(fd)?;
        let need = SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW;
        if !seals.contains(need) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the memfd is not sealed against writes and resizing",
            ));
        }
        let len = usize::try_from(rustix::fs::fstat(fd)?.st_size)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "negative memfd size"))?;
        if len == 0 {
            return Ok(SealedMap { ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(), len: 0 });
        }
        use rustix::mm::{MapFlags, ProtFlags};
        // SAFETY: a fresh mapping chosen by the kernel (null hint), of the whole file: it
        // aliases no Rust object. The file is sealed against writes and resizing (checked
        // above; seals can only be added), so the mapped bytes never change and never vanish.
        let ptr = unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, ProtFlags::READ, MapFlags::SHARED, fd, 0) }?;
        Ok(SealedMap { ptr: ptr.cast::<u8>().cast_const(), len })
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is a live read-only mapping (or a dangling pointer with len
        // 0) of bytes that cannot change (see `new`), unmapped only in `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(target_os = "linux")]
impl Drop for SealedMap {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: the mapping made in `new`, unmapped once; no `&[u8]` from `bytes` can
            // outlive `self` (borrowed from it).
            let _ = unsafe { rustix::mm::munmap(self.ptr.cast_mut().cast(), self.len) };
        }
    }
}

#[cfg(target_os = "linux")]
impl std::fmt::Debug for SealedMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedMap").field("len", &self.len).finish()
    }
}

/// A read-write map of a memfd shared with another process that may write it at any time
/// (a worker's call slot). Nothing in it is handed out as a reference to plain bytes: the
/// other side is not trusted, so bytes are copied in and out, and the words two processes
/// synchronise on are atomics.
#[cfg(target_os = "linux")]
pub struct SharedMap {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: all access goes through atomics or copies into/out of the mapping.
#[cfg(target_os = "linux")]
unsafe impl Send for SharedMap {}
// SAFETY: as above.
#[cfg(target_os = "linux")]
unsafe impl Sync for SharedMap {}

#[cfg(target_os = "linux")]
impl SharedMap {
    /// Maps the whole of `fd` read-write, shared.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the fd is not sealed against shrinking (the other side could
    /// truncate it and turn every access into SIGBUS) or is empty; the OS error otherwise.
    pub fn new(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<SharedMap> {
        use rustix::fs::SealFlags;
        let seals = rustix::fs::fcntl_get_seals(fd)?;
        if !seals.contains(SealFlags::SHRINK) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the memfd is not sealed against shrinking",
            ));
        }
        let len = usize::try_from(rustix::fs::fstat(fd)?.st_size)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "negative memfd size"))?;
        if len < 8 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "shared memfd too small"));
        }
        use rustix::mm::{MapFlags, ProtFlags};
        // SAFETY: a fresh mapping chosen by the kernel, aliasing no Rust object; the file
        // cannot shrink (checked above), so every byte of it stays backed.
        let ptr = unsafe {
            rustix::mm::mmap(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, fd, 0)
        }?;
        Ok(SharedMap { ptr: ptr.cast::<u8>(), len })
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map is empty (never: `new` refuses that).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 32-bit word at `offset` as an atomic (for futexes); `None` when out of bounds or
    /// not 4-byte aligned.
    pub fn atomic_u32(&self, offset: usize) -> Option<&std::sync::atomic::AtomicU32> {
        if !offset.is_multiple_of(4) || offset.checked_add(4).is_none_or(|end| end > self.len) {
            return None;
        }
        // SAFETY: in bounds and aligned (the map is page-aligned, offset checked above);
        // AtomicU32 has the layout of u32 and any bit pattern is valid; every process touching
        // the word does so atomically (the protocol's rule), and the mapping lives as long as
        // the returned borrow of `self`.
        Some(unsafe { std::sync::atomic::AtomicU32::from_ptr(self.ptr.add(offset).cast::<u32>()) })
    }

    /// Copies `out.len()` bytes at `offset` out of the map; `false` when out of bounds.
    pub fn read(&self, offset: usize, out: &mut [u8]) -> bool {
        if offset.checked_add(out.len()).is_none_or(|end| end > self.len) {
            return false;
        }
        // SAFETY: in bounds (checked). The other process may write these bytes concurrently;
        // `u8` has no invalid values and the copy lands in our own buffer, so the worst a
        // racing writer can do is give us garbage bytes, which callers treat as untrusted.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(offset).cast_const(), out.as_mut_ptr(), out.len()) };
        true
    }

    /// Copies `data` into the map at `offset`; `false` when out of bounds.
    pub fn write(&self, offset: usize, data: &[u8]) -> bool {
        if offset.checked_add(data.len()).is_none_or(|end| end > self.len) {
            return false;
        }
        // SAFETY: in bounds (checked); the destination is shared memory no Rust reference
        // points into (only atomics and these copies touch it), `data` is our own buffer.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(offset), data.len()) };
        true
    }
}

#[cfg(target_os = "linux")]
impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; the atomics borrowed from it
        // cannot outlive `self`.
        let _ = unsafe { rustix::mm::munmap(self.ptr.cast(), self.len) };
    }
}

#[cfg(target_os = "linux")]
impl std::fmt::Debug for SharedMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedMap").field("len", &self.len).finish()
    }
}
