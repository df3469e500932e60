//! What a hotpack module and its host share.
//!
//! A hotpack module is a `cdylib` built against this crate. It exports **one** symbol,
//! [`DESCRIPTOR_SYMBOL`], a function returning a pointer to a static [`ModuleDescriptor`]:
//! magic, descriptor layout version, hotpack ABI version, the rustc version and target
//! triple the module was built with, its name and semver, its typed interfaces (each an id
//! plus a table of `extern "C"` function pointers), its byte handlers, and optional
//! lifecycle hooks (init, state export/import). One `dlsym` gets everything; the host
//! (`hotpack-loader`) checks every field before it calls anything.
//!
//! # Writing a module
//!
//! A module author writes plain Rust functions and one [`module!`] invocation. No `unsafe`:
//! the macro generates the `extern "C"` shims, and every shim runs the author's function
//! under [`std::panic::catch_unwind`] *inside the module*, returning a panic to the host as
//! an error value that carries the panic message. A panic never unwinds into the host
//! (it could not: each cdylib has its own std, so even `extern "C-unwind"` would abort).
//!
//! ```
//! // An interface both the host and its modules depend on (usually its own small crate).
//! hotpack_abi::interface! {
//!     /// Arithmetic, the typed way.
//!     pub struct Calc / trait CalcImpl {
//!         fn add(a: u64, b: u64) -> u64;
//!     }
//! }
//!
//! // The module.
//! struct Impl;
//! impl CalcImpl for Impl {
//!     fn add(a: u64, b: u64) -> u64 { a + b }
//! }
//! fn shout(input: &[u8]) -> Result<Vec<u8>, String> {
//!     let text = std::str::from_utf8(input).map_err(|e| e.to_string())?;
//!     Ok(text.to_uppercase().into_bytes())
//! }
//! hotpack_abi::module! {
//!     name: "calc",
//!     version: "1.2.0",
//!     interfaces: [Calc => Impl],
//!     handlers: { "shout" => shout },
//! }
//!
//! // A host normally reaches the table through `hotpack-loader`; the table is plain data.
//! let table = Calc::table::<Impl>();
//! assert_eq!(table.add(2, 3)?, 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Interfaces and their ids
//!
//! [`interface!`] declares a `#[repr(C)]` table of [`Entry`]s plus the trait a module
//! implements to fill it. Its [`Interface::ID`] is a hash of the interface name, every
//! declared function name and written type, the table size and the [`Abi::LAYOUT`] of every
//! argument and return type, computed at compile time: a changed signature *or a changed
//! layout behind the same text* is a different id, and the loader refuses the table instead
//! of calling through it. Only [`Abi`] types cross: integers, floats, `bool`, `char`, raw
//! pointers, arrays, `extern "C" fn` pointers, and `#[repr(C)]` structs declared with
//! [`abi_struct!`]. Bytes cross borrowed: an argument written [`ByteSlice`] is a `&[u8]` for
//! the caller and the implementation, one written [`BytesOut`] is a `&mut` [`ByteSink`] the
//! implementation writes output bytes into (the caller's buffer, the caller's allocator);
//! both are part of the id. Anything else (`String`, `Vec`, `Box`, references, a struct
//! without a fixed layout) is a compile error that says what to use instead.
//!
//! # Modules that require other modules
//!
//! `module! { requires: [TEXTUTIL: TextUtil], .. }` declares a required interface and a
//! `static TEXTUTIL:` [`Requirement`]`<TextUtil>`: a typed hot handle the host fills with a
//! provider's table (another module providing `TextUtil` with the same id) and swaps when the
//! provider is swapped. `TEXTUTIL.get()?.transform(input, sink)` is one atomic load and the
//! provider's shim; no `unsafe` in the module. Until a provider is handed over, `get` answers
//! [`CallError::NoProvider`]. `requires: [TEXTUTIL: TextUtil = ">=2, <3"]` also restricts the
//! provider module's version to a semver range (none written: any version whose interface id
//! matches).
//!
//! Tables are built only by the macros: a table's fields are private and an [`Entry`] can
//! only hold one of this crate's panic-catching shims, so a table cannot be forged from a
//! plain `extern "C" fn`. A crate with `#![forbid(unsafe_code)]` can use every macro.
//!
//! # Panic strategy
//!
//! The descriptor records the module's panic strategy. A module built with
//! `panic = "abort"` cannot catch its panics, so hosts refuse it; keep the default
//! `panic = "unwind"` in the `[profile.release]` of the module's workspace.
//!
//! # Handlers
//!
//! A handler is a named function `fn(&[u8]) -> R` where `R` is `Vec<u8>`, `String`, `()`, or
//! a `Result` of those with any `Display` error. Hosts that know no types (the CLI, an HTTP
//! server) call handlers by name with bytes in and bytes (or an error message) out. The
//! input is borrowed, never copied: a host passes gigabytes of resident data by reference.

#![deny(missing_docs)]

mod ffi;
mod ffi_args;
mod macros;
pub mod section;

pub use ffi::{
    Abi, Entry, Interface, Signature, Sink, StaticDescriptor, call_handler, call_hook_export, call_hook_import,
    call_init,
};
pub use ffi_args::{Arg, ByteSink, ByteSlice, BytesOut, Requirement};

use std::ffi::c_void;
use std::fmt;

/// The first eight bytes of every descriptor: `b"HOTPACK\0"` read as a little-endian `u64`.
pub const MAGIC: u64 = u64::from_le_bytes(*b"HOTPACK\0");

/// Version of the [`ModuleDescriptor`] layout. `magic` and `layout_version` keep their
/// offsets forever, so a host can always read them and refuse a layout it does not know.
pub const LAYOUT_VERSION: u32 = 3;

/// Version of the calling conventions (shim signatures, status codes, sinks).
pub const ABI_VERSION: u32 = 2;

/// Name of the one symbol a module exports: `extern "C" fn() -> *const ModuleDescriptor`.
pub const DESCRIPTOR_SYMBOL: &str = "hotpack_module_descriptor";

/// `rustc -V` of the compiler that built this crate (and so the module or host using it).
pub const RUSTC_VERSION: &str = env!("HOTPACK_RUSTC_VERSION");

/// Target triple this crate was built for.
pub const TARGET: &str = env!("HOTPACK_TARGET");

/// [`ModuleDescriptor::panic_strategy`] of a module built with `panic = "unwind"`.
pub const PANIC_UNWIND: u32 = 1;
/// [`ModuleDescriptor::panic_strategy`] of a module built with `panic = "abort"`: the host
/// refuses it, because its first panic would abort the host process.
pub const PANIC_ABORT: u32 = 2;

/// Status a shim returns: the call returned normally.
pub const STATUS_OK: u32 = 0;
/// Status a shim returns: the function returned an error; its message is in the error sink.
pub const STATUS_ERROR: u32 = 1;
/// Status a shim returns: the function panicked; the panic message is in the error sink.
pub const STATUS_PANIC: u32 = 2;

/// A borrowed `'static` UTF-8 string in a descriptor.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RawStr {
    /// Start of the bytes.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl RawStr {
    /// Points at a static string.
    pub const fn new(s: &'static str) -> Self {
        RawStr { ptr: s.as_ptr(), len: s.len() }
    }
}

impl fmt::Debug for RawStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawStr({} bytes)", self.len)
    }
}

/// A handler shim: input bytes in, output written to `out`, an error message to `err`.
pub type HandlerFn = unsafe extern "C" fn(input: *const u8, len: usize, out: *mut Sink<'_>, err: *mut Sink<'_>) -> u32;
/// The init hook shim.
pub type InitFn = unsafe extern "C" fn(err: *mut Sink<'_>) -> u32;
/// The state-export hook shim: writes the module-owned state to `out`.
pub type ExportStateFn = unsafe extern "C" fn(out: *mut Sink<'_>, err: *mut Sink<'_>) -> u32;
/// The state-import hook shim: reads state exported by another version.
pub type ImportStateFn = unsafe extern "C" fn(state: *const u8, len: usize, err: *mut Sink<'_>) -> u32;

/// One typed interface a module provides.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawInterface {
    /// [`Interface::NAME`].
    pub name: RawStr,
    /// [`Interface::ID`].
    pub id: u64,
    /// Pointer to the interface's `#[repr(C)]` function table.
    pub table: *const c_void,
    /// `size_of` the table, checked against the host's view of the interface.
    pub table_size: usize,
}

/// One interface a module requires from another module: where the host writes the
/// provider's table.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawRequirement {
    /// [`Interface::NAME`].
    pub name: RawStr,
    /// [`Interface::ID`].
    pub id: u64,
    /// `size_of` the table the module expects.
    pub table_size: usize,
    /// The module's [`Requirement`] slot (an `AtomicPtr` to the provider's table).
    pub slot: *const std::sync::atomic::AtomicPtr<c_void>,
}

/// One named byte handler.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawHandler {
    /// The handler's name.
    pub name: RawStr,
    /// The shim.
    pub func: HandlerFn,
}

/// The static descriptor a module exports through [`DESCRIPTOR_SYMBOL`].
#[repr(C)]
#[derive(Debug)]
pub struct ModuleDescriptor {
    /// Always [`MAGIC`].
    pub magic: u64,
    /// [`LAYOUT_VERSION`] of the module's hotpack-abi.
    pub layout_version: u32,
    /// [`ABI_VERSION`] of the module's hotpack-abi.
    pub abi_version: u32,
    /// `size_of::<ModuleDescriptor>()` as the module saw it.
    pub descriptor_size: usize,
    /// [`PANIC_UNWIND`] or [`PANIC_ABORT`]: `cfg!(panic = ...)` in the module's own crate.
    pub panic_strategy: u32,
    /// Zero; room for a future build property without moving the fields after it.
    pub reserved: u32,
    /// [`RUSTC_VERSION`] of the module.
    pub rustc: RawStr,
    /// [`TARGET`] of the module.
    pub target: RawStr,
    /// The module name.
    pub name: RawStr,
    /// The module's semver version.
    pub version: RawStr,
    /// Array of typed interfaces.
    pub interfaces: *const RawInterface,
    /// Number of interfaces.
    pub interface_count: usize,
    /// Array of handlers.
    pub handlers: *const RawHandler,
    /// Number of handlers.
    pub handler_count: usize,
    /// Optional init hook, run once before the module is first used.
    pub init: Option<InitFn>,
    /// Optional hook exporting module-owned state as bytes (before a swap).
    pub export_state: Option<ExportStateFn>,
    /// Optional hook importing state exported by another version (during a swap).
    pub import_state: Option<ImportStateFn>,
    /// Array of required interfaces (layout 3).
    pub requires: *const RawRequirement,
    /// Number of required interfaces.
    pub require_count: usize,
    /// Panics caught in the module's typed shims so far (layout 3): a host charges a
    /// provider with a panic a dependent's call met.
    pub typed_panics: *const std::sync::atomic::AtomicU64,
}

/// Why a call into a module did not return a value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// The function returned an error.
    Failed {
        /// The error's message.
        message: String,
    },
    /// The function panicked; the panic was caught inside the module.
    Panicked {
        /// The panic message and location.
        message: String,
    },
    /// A required interface has no provider (yet).
    NoProvider {
        /// The interface name.
        interface: String,
    },
    /// The module has no handler of that name.
    NoSuchHandler {
        /// The name asked for.
        name: String,
    },
    /// The shim returned a status this host does not know.
    BadStatus {
        /// The status code.
        status: u32,
    },
}

impl CallError {
    /// The message carried by the error.
    pub fn message(&self) -> String {
        match self {
            CallError::Failed { message } | CallError::Panicked { message } => message.clone(),
            CallError::NoSuchHandler { name } => format!("no handler named `{name}`"),
            CallError::NoProvider { interface } => format!("no module provides `{interface}`"),
            CallError::BadStatus { status } => format!("unknown status {status}"),
        }
    }

    /// Whether the call panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, CallError::Panicked { .. })
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Failed { message } => write!(f, "module returned an error: {message}"),
            CallError::Panicked { message } => write!(f, "module panicked: {message}"),
            CallError::NoSuchHandler { name } => write!(f, "module has no handler named `{name}`"),
            CallError::BadStatus { status } => write!(f, "module returned unknown status {status}"),
            CallError::NoProvider { interface } => write!(f, "no module provides the required interface `{interface}`"),
        }
    }
}

impl std::error::Error for CallError {}

/// What a handler may return: bytes, text, nothing, or a `Result` of those.
pub trait HandlerOutput {
    /// Converts into output bytes or an error message.
    fn into_output(self) -> Result<Vec<u8>, String>;
}

impl HandlerOutput for Vec<u8> {
    fn into_output(self) -> Result<Vec<u8>, String> {
        Ok(self)
    }
}

impl HandlerOutput for String {
    fn into_output(self) -> Result<Vec<u8>, String> {
        Ok(self.into_bytes())
    }
}

impl HandlerOutput for &'static str {
    fn into_output(self) -> Result<Vec<u8>, String> {
        Ok(self.as_bytes().to_vec())
    }
}

impl HandlerOutput for () {
    fn into_output(self) -> Result<Vec<u8>, String> {
        Ok(Vec::new())
    }
}

impl<T: HandlerOutput, E: fmt::Display> HandlerOutput for Result<T, E> {
    fn into_output(self) -> Result<Vec<u8>, String> {
        match self {
            Ok(v) => v.into_output(),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// What an init or state-import hook may return: `()` or `Result<(), E: Display>`.
pub trait HookOutput {
    /// Converts into success or an error message.
    fn into_result(self) -> Result<(), String>;
}

impl HookOutput for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display> HookOutput for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// 64-bit FNV-1a, usable in `const` context; [`interface!`] derives ids with it.
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// Folds `value` into a running [`fnv1a64`] hash (its eight little-endian bytes).
pub const fn fnv1a64_mix(hash: u64, value: u64) -> u64 {
    let bytes = value.to_le_bytes();
    let mut hash = hash;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The layout fingerprint of a type: its name, size and alignment (what [`Abi::LAYOUT`] of a
/// primitive is, and where a struct's starts).
pub const fn layout_of<T>(name: &str) -> u64 {
    let hash = fnv1a64(name.as_bytes());
    let hash = fnv1a64_mix(hash, std::mem::size_of::<T>() as u64);
    fnv1a64_mix(hash, std::mem::align_of::<T>() as u64)
}

/// Items the macros expand to; not part of the public API. Every item here is sound to call
/// from safe code (the `unsafe fn`s state what their caller must promise).
#[doc(hidden)]
pub mod __private {
    pub use crate::ffi::{
        Bytes, Func, Handler, Ret, StaticArray, Text, Tuple, assert_abi, assert_arg, check_handler, module_loaded,
        run_export, run_handler, run_handler_for_tests, run_import, run_init, typed_panics_counter,
    };
    pub use core::mem::offset_of;
}
