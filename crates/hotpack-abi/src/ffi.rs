//! The raw side of the ABI: byte sinks, the module-side guards the macros expand to, and the
//! host-side callers. This module and `macros.rs` are the abi crate's only `unsafe` code.
#![allow(unsafe_code)]

use crate::{
    CallError, ExportStateFn, HandlerFn, HandlerOutput, HookOutput, ImportStateFn, InitFn, ModuleDescriptor,
    STATUS_ERROR, STATUS_OK, STATUS_PANIC,
};
use std::cell::RefCell;
use std::ffi::c_void;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// A host-owned byte sink a module writes results and error messages into.
///
/// The host allocates and owns the buffer; the module only calls `write`, which is host
/// code. No memory crosses between the two allocators.
#[repr(C)]
#[derive(Debug)]
pub struct Sink {
    ctx: *mut c_void,
    write: unsafe extern "C" fn(ctx: *mut c_void, ptr: *const u8, len: usize),
}

unsafe extern "C" fn write_to_vec(ctx: *mut c_void, ptr: *const u8, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: `ctx` was made from `&mut Vec<u8>` by `Sink::for_vec`, whose borrow outlives
    // the call the sink was passed to; `ptr..ptr+len` is a live slice the module passed.
    unsafe {
        let vec = &mut *(ctx as *mut Vec<u8>);
        vec.extend_from_slice(std::slice::from_raw_parts(ptr, len));
    }
}

impl Sink {
    /// A sink appending to `vec`; valid while the borrow lives.
    pub fn for_vec(vec: &mut Vec<u8>) -> Sink {
        Sink { ctx: vec as *mut Vec<u8> as *mut c_void, write: write_to_vec }
    }

    /// Writes `bytes` into the sink behind `sink` (module side).
    ///
    /// # Safety
    ///
    /// `sink` must be null or point to a live `Sink` made by the host for this call.
    unsafe fn put(sink: *mut Sink, bytes: &[u8]) {
        if sink.is_null() {
            return;
        }
        // SAFETY: the caller's contract: a live sink whose `write` is host code.
        unsafe { ((*sink).write)((*sink).ctx, bytes.as_ptr(), bytes.len()) }
    }
}

/// A descriptor that can live in a `static` (it holds raw pointers to other statics).
#[repr(transparent)]
#[derive(Debug)]
pub struct StaticDescriptor(pub ModuleDescriptor);

// SAFETY: a descriptor is immutable and only points at `'static` immutable data (strings,
// arrays of descriptors, function tables); sharing it between threads is sound.
unsafe impl Sync for StaticDescriptor {}

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static GUARD_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Installs (once per std: each cdylib has its own) a panic hook that, inside a guarded
/// call, records the message and location for the shim to return instead of printing it.
/// Outside guarded calls it defers to the hook that was installed before, so a host that
/// links a table in-process keeps its own panic reporting.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARD_DEPTH.with(|d| d.get()) == 0 {
                previous(info);
                return;
            }
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic with a non-string payload".to_owned());
            let full = match info.location() {
                Some(loc) => format!("{msg} (at {}:{}:{})", loc.file(), loc.line(), loc.column()),
                None => msg,
            };
            LAST_PANIC.with(|slot| *slot.borrow_mut() = Some(full));
        }));
    });
}

/// Marks the current thread as inside a guarded call while alive.
struct Depth;

impl Depth {
    fn enter() -> Depth {
        GUARD_DEPTH.with(|d| d.set(d.get() + 1));
        Depth
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        GUARD_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let recorded = LAST_PANIC.with(|slot| slot.borrow_mut().take());
    recorded.unwrap_or_else(|| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".to_owned())
    })
}

/// Runs `f` with panics caught; writes the error message to `err`; returns the status.
///
/// # Safety
///
/// `err` must be null or a live host sink.
unsafe fn guarded<T>(err: *mut Sink, f: impl FnOnce() -> Result<T, String>) -> (u32, Option<T>) {
    install_hook();
    let depth = Depth::enter();
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    drop(depth);
    match outcome {
        Ok(Ok(v)) => (STATUS_OK, Some(v)),
        Ok(Err(message)) => {
            // SAFETY: the caller's contract on `err`.
            unsafe { Sink::put(err, message.as_bytes()) };
            (STATUS_ERROR, None)
        }
        Err(payload) => {
            let message = panic_message(payload);
            // SAFETY: the caller's contract on `err`.
            unsafe { Sink::put(err, message.as_bytes()) };
            (STATUS_PANIC, None)
        }
    }
}

/// Module side of a handler shim.
///
/// # Safety
///
/// `input..input+len` must be a live byte slice (or `len == 0`), `out`/`err` live host sinks.
pub unsafe fn run_handler<R: HandlerOutput>(
    input: *const u8,
    len: usize,
    out: *mut Sink,
    err: *mut Sink,
    f: fn(&[u8]) -> R,
) -> u32 {
    let bytes: &[u8] = if len == 0 || input.is_null() {
        &[]
    } else {
        // SAFETY: the caller's contract: the host passes a live slice for the call's duration.
        unsafe { std::slice::from_raw_parts(input, len) }
    };
    // SAFETY: the caller's contract on `err`.
    let (status, value) = unsafe { guarded(err, || f(bytes).into_output()) };
    if let Some(v) = value {
        // SAFETY: the caller's contract on `out`.
        unsafe { Sink::put(out, &v) };
    }
    status
}

/// [`run_handler`] over a safe slice, for tests of the guard itself.
#[doc(hidden)]
pub fn run_handler_for_tests(
    input: &[u8],
    out: &mut Sink,
    err: &mut Sink,
    f: fn(&[u8]) -> Result<Vec<u8>, String>,
) -> u32 {
    // SAFETY: `input` is a live slice and both sinks are live for the call.
    unsafe { run_handler(input.as_ptr(), input.len(), out, err, f) }
}

/// Module side of the init shim.
///
/// # Safety
///
/// `err` must be a live host sink.
pub unsafe fn run_init<R: HookOutput>(err: *mut Sink, f: fn() -> R) -> u32 {
    // SAFETY: the caller's contract on `err`.
    unsafe { guarded(err, || f().into_result()).0 }
}

/// Module side of the state-export shim.
///
/// # Safety
///
/// `out`/`err` must be live host sinks.
pub unsafe fn run_export<R: HandlerOutput>(out: *mut Sink, err: *mut Sink, f: fn() -> R) -> u32 {
    // SAFETY: the caller's contract on `err`.
    let (status, value) = unsafe { guarded(err, || f().into_output()) };
    if let Some(v) = value {
        // SAFETY: the caller's contract on `out`.
        unsafe { Sink::put(out, &v) };
    }
    status
}

/// Module side of the state-import shim.
///
/// # Safety
///
/// `state..state+len` must be a live byte slice (or `len == 0`), `err` a live host sink.
pub unsafe fn run_import<R: HookOutput>(state: *const u8, len: usize, err: *mut Sink, f: fn(&[u8]) -> R) -> u32 {
    let bytes: &[u8] = if len == 0 || state.is_null() {
        &[]
    } else {
        // SAFETY: the caller's contract: a live slice for the call's duration.
        unsafe { std::slice::from_raw_parts(state, len) }
    };
    // SAFETY: the caller's contract on `err`.
    unsafe { guarded(err, || f(bytes).into_result()).0 }
}

/// Module side of a typed-interface shim: runs `f`, writes its value to `out`.
///
/// # Safety
///
/// `out` must be valid for a write of `T`; `err` a live host sink.
pub unsafe fn guard_typed<T>(out: *mut T, err: *mut Sink, f: impl FnOnce() -> T) -> u32 {
    // SAFETY: the caller's contract on `err`.
    let (status, value) = unsafe { guarded(err, || Ok(f())) };
    if let Some(v) = value {
        // SAFETY: the caller's contract on `out`.
        unsafe { out.write(v) };
    }
    status
}

fn status_to_result(status: u32, err: Vec<u8>) -> Result<(), CallError> {
    let message = || String::from_utf8_lossy(&err).into_owned();
    match status {
        STATUS_OK => Ok(()),
        STATUS_ERROR => Err(CallError::Failed { message: message() }),
        STATUS_PANIC => Err(CallError::Panicked { message: message() }),
        other => Err(CallError::BadStatus { status: other }),
    }
}

/// Host side: calls a handler shim with `input` and collects its output.
///
/// # Safety
///
/// `f` must be a handler shim generated by [`module!`](crate::module) in a library that is
/// still mapped (hotpack never unmaps one).
pub unsafe fn call_handler(f: HandlerFn, input: &[u8]) -> Result<Vec<u8>, CallError> {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut out_sink = Sink::for_vec(&mut out);
    let mut err_sink = Sink::for_vec(&mut err);
    // SAFETY: the caller's contract on `f`; the slice and both sinks outlive the call.
    let status = unsafe { f(input.as_ptr(), input.len(), &mut out_sink, &mut err_sink) };
    status_to_result(status, err).map(|()| out)
}

/// Host side: runs an init hook.
///
/// # Safety
///
/// As for [`call_handler`].
pub unsafe fn call_init(f: InitFn) -> Result<(), CallError> {
    let mut err = Vec::new();
    let mut err_sink = Sink::for_vec(&mut err);
    // SAFETY: the caller's contract on `f`; the sink outlives the call.
    let status = unsafe { f(&mut err_sink) };
    status_to_result(status, err)
}

/// Host side: runs a state-export hook.
///
/// # Safety
///
/// As for [`call_handler`].
pub unsafe fn call_hook_export(f: ExportStateFn) -> Result<Vec<u8>, CallError> {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut out_sink = Sink::for_vec(&mut out);
    let mut err_sink = Sink::for_vec(&mut err);
    // SAFETY: the caller's contract on `f`; both sinks outlive the call.
    let status = unsafe { f(&mut out_sink, &mut err_sink) };
    status_to_result(status, err).map(|()| out)
}

/// Host side: runs a state-import hook.
///
/// # Safety
///
/// As for [`call_handler`].
pub unsafe fn call_hook_import(f: ImportStateFn, state: &[u8]) -> Result<(), CallError> {
    let mut err = Vec::new();
    let mut err_sink = Sink::for_vec(&mut err);
    // SAFETY: the caller's contract on `f`; the slice and the sink outlive the call.
    let status = unsafe { f(state.as_ptr(), state.len(), &mut err_sink) };
    status_to_result(status, err)
}

/// A typed interface: a `#[repr(C)]` table of `extern "C"` shims declared with [`interface!`](crate::interface).
///
/// # Safety
///
/// Implemented only by [`interface!`](crate::interface): the loader casts a module's table to `Self` when the
/// ids match, so `ID` must change whenever the layout or any signature changes.
pub unsafe trait Interface: Sized + Send + Sync + 'static {
    /// The interface's name.
    const NAME: &'static str;
    /// Hash of the name and every declared signature.
    const ID: u64;
}

/// Host side of a typed call: interprets the status of a typed shim.
#[doc(hidden)]
pub fn typed_result<T>(status: u32, out: std::mem::MaybeUninit<T>, err: Vec<u8>) -> Result<T, CallError> {
    status_to_result(status, err).map(|()| {
        // SAFETY: a typed shim returns STATUS_OK only after writing its value to `out`
        // (`guard_typed`); every other status maps to `Err` above.
        unsafe { out.assume_init() }
    })
}
