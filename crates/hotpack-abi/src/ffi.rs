//! The raw side of the ABI: byte sinks, the module-side guards the macros expand to, and the
//! host-side callers. This module and `macros.rs` are the abi crate's only `unsafe` code.
#![allow(unsafe_code)]

use crate::ffi_args::Arg;
use crate::{
    CallError, ExportStateFn, HandlerFn, HandlerOutput, HookOutput, ImportStateFn, InitFn, ModuleDescriptor,
    STATUS_ERROR, STATUS_OK, STATUS_PANIC,
};
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// A host-owned byte sink a module writes results and error messages into.
///
/// The host allocates and owns the buffer; the module only calls `write`, which is host
/// code. No memory crosses between the two allocators. The lifetime is the borrow of the
/// buffer: a sink cannot outlive it.
///
/// ```compile_fail
/// let sink = {
///     let mut buf = Vec::new();
///     hotpack_abi::Sink::for_vec(&mut buf) // `buf` does not live long enough
/// };
/// # drop(sink);
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct Sink<'a> {
    pub(crate) ctx: *mut c_void,
    pub(crate) write: unsafe extern "C" fn(ctx: *mut c_void, ptr: *const u8, len: usize),
    pub(crate) buffer: PhantomData<&'a mut Vec<u8>>,
}

pub(crate) unsafe extern "C" fn write_to_vec(ctx: *mut c_void, ptr: *const u8, len: usize) {
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

impl<'a> Sink<'a> {
    /// A sink appending to `vec`, usable while the borrow lives.
    pub fn for_vec(vec: &'a mut Vec<u8>) -> Sink<'a> {
        Sink { ctx: vec as *mut Vec<u8> as *mut c_void, write: write_to_vec, buffer: PhantomData }
    }

    /// Writes `bytes` into the sink behind `sink` (module side).
    ///
    /// # Safety
    ///
    /// `sink` must be null or point to a live `Sink` made by the host for this call.
    pub(crate) unsafe fn put(sink: *mut Sink<'_>, bytes: &[u8]) {
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

/// An array of descriptor records that can live in a `static` (the requirement array).
#[doc(hidden)]
#[repr(transparent)]
#[derive(Debug)]
pub struct StaticArray<T, const N: usize>(pub [T; N]);

// SAFETY: the records are immutable; the only thing they point at that changes is a
// `Requirement` slot, an `AtomicPtr`.
unsafe impl<T, const N: usize> Sync for StaticArray<T, N> {}

/// The message of this thread's last panic that no guard has taken yet.
struct PendingPanic(RefCell<Option<String>>);

impl Drop for PendingPanic {
    /// A panic no guard took (a thread the module spawned, in module mode) is printed when the
    /// thread exits, so it is not lost.
    fn drop(&mut self) {
        if let Some(message) = self.0.get_mut().take() {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "hotpack module: a thread panicked outside a guarded call: {message}");
        }
    }
}

thread_local! {
    static LAST_PANIC: PendingPanic = const { PendingPanic(RefCell::new(None)) };
    static GUARD_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Set once this std is a loaded module's own: the host called the descriptor function.
///
/// Then every panic of this std is module code, so the hook records every message and the
/// guards skip the per-call thread-local depth count (the largest cost of a typed call, a
/// `__tls_get_addr` in a `cdylib`). Until then (a table used in-process, sharing the host's
/// std) guards count their depth and the hook defers to the host's hook outside them.
static MODULE_MODE: AtomicBool = AtomicBool::new(false);

/// Marks this std as a loaded module's and installs the panic hook; the generated descriptor
/// function calls it before returning the descriptor. Never panics.
#[doc(hidden)]
pub fn module_loaded() {
    if MODULE_MODE.load(Ordering::Acquire) {
        return;
    }
    if panic::catch_unwind(install_hook).is_ok() {
        MODULE_MODE.store(true, Ordering::Release);
    }
}

/// Installs (once per std: each cdylib has its own) a panic hook that, inside a guarded
/// call, records the message and location for the shim to return instead of printing it.
/// Outside guarded calls it defers to the hook that was installed before, so a host that
/// links a table in-process keeps its own panic reporting.
#[inline(always)]
fn install_hook() {
    if !HOOK.is_completed() {
        install_hook_slow();
    }
}

static HOOK: Once = Once::new();

#[cold]
#[inline(never)]
fn install_hook_slow() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !MODULE_MODE.load(Ordering::Acquire) && GUARD_DEPTH.with(|d| d.get()) == 0 {
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
            LAST_PANIC.with(|slot| *slot.0.borrow_mut() = Some(full));
        }));
    });
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let recorded = LAST_PANIC.with(|slot| slot.0.borrow_mut().take());
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
/// In module mode (see [`MODULE_MODE`]) this is `catch_unwind` and nothing else: the hook
/// was installed at load. Otherwise the guard depth is one thread-local lookup per call, and
/// the hook is installed inside the guard, so even a failure to install it comes back as a
/// status.
///
/// # Safety
///
/// `err` must be null or a live host sink.
#[inline(always)]
unsafe fn guarded<T>(err: *mut Sink<'_>, f: impl FnOnce() -> Result<T, String>) -> (u32, Option<T>) {
    let outcome = if MODULE_MODE.load(Ordering::Acquire) {
        panic::catch_unwind(AssertUnwindSafe(f))
    } else {
        guarded_in_process(f)
    };
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

/// [`guarded`]'s `catch_unwind` outside module mode: counts the guard depth for the hook.
#[cold]
#[inline(never)]
fn guarded_in_process<T>(f: impl FnOnce() -> Result<T, String>) -> std::thread::Result<Result<T, String>> {
    GUARD_DEPTH.with(|depth| {
        depth.set(depth.get() + 1);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            install_hook();
            f()
        }));
        depth.set(depth.get().saturating_sub(1));
        outcome
    })
}

/// What a handler function is: `fn(&[u8]) -> R` ([`Bytes`]). A `fn(&str) -> R` also
/// implements it ([`Text`]) only so that `module!` can refuse it with a message that says what
/// to write instead (a const evaluation error in [`check_handler`]), rather than a bare type
/// mismatch over the whole macro.
pub trait Handler<A, R> {
    /// `()` for a byte handler; a compile-time error for a text handler.
    const CHECK: ();
    /// Calls the handler.
    fn call_handler(&self, input: &[u8]) -> R;
}

/// [`Handler`] marker: the handler takes `&[u8]`.
#[derive(Debug)]
pub enum Bytes {}

/// [`Handler`] marker: the handler takes `&str` (refused).
#[derive(Debug)]
pub enum Text {}

impl<F: Fn(&[u8]) -> R, R: HandlerOutput> Handler<Bytes, R> for F {
    const CHECK: () = ();
    fn call_handler(&self, input: &[u8]) -> R {
        self(input)
    }
}

impl<F: Fn(&str) -> R, R: HandlerOutput> Handler<Text, R> for F {
    const CHECK: () = panic!(
        "a hotpack handler takes the input bytes, `&[u8]`, not `&str`: write `fn NAME(input: &[u8]) -> ...` and \
         call `std::str::from_utf8(input)` (an error for bad UTF-8) or `String::from_utf8_lossy(input)` in it"
    );
    fn call_handler(&self, _input: &[u8]) -> R {
        let () = Self::CHECK;
        unreachable!("refused at compile time by CHECK")
    }
}

/// Checked by `interface!` for every argument type, first: a type that is not [`Arg`] fails
/// here, with [`Abi`]'s message.
#[inline(always)]
pub const fn assert_arg<T: Arg>() {}

/// Checked by `interface!` for every return type, first.
#[inline(always)]
pub const fn assert_abi<T: Abi>() {}

/// Evaluated by `module!` for every handler, in a constant: a `&str` handler fails here,
/// first, with the fix.
pub const fn check_handler<A, R, H: Handler<A, R>>(_handler: &H) {
    H::CHECK
}

/// Module side of a handler shim.
///
/// # Safety
///
/// `input..input+len` must be a live byte slice (or `len == 0`), `out`/`err` live host sinks.
pub unsafe fn run_handler<A, R: HandlerOutput, H: Handler<A, R>>(
    input: *const u8,
    len: usize,
    out: *mut Sink<'_>,
    err: *mut Sink<'_>,
    f: H,
) -> u32 {
    let bytes: &[u8] = if len == 0 || input.is_null() {
        &[]
    } else {
        // SAFETY: the caller's contract: the host passes a live slice for the call's duration.
        unsafe { std::slice::from_raw_parts(input, len) }
    };
    // SAFETY: the caller's contract on `err`.
    let (status, value) = unsafe { guarded(err, || f.call_handler(bytes).into_output()) };
    if let Some(v) = value {
        // SAFETY: the caller's contract on `out`.
        unsafe { Sink::put(out, &v) };
    }
    status
}

/// [`run_handler`] over a safe slice, for tests of the guard itself.
///
/// Safe: a `&mut Sink` can only be made by [`Sink::for_vec`] (its fields are private), and
/// its lifetime keeps the buffer alive for the call.
#[doc(hidden)]
pub fn run_handler_for_tests(
    input: &[u8],
    out: &mut Sink<'_>,
    err: &mut Sink<'_>,
    f: fn(&[u8]) -> Result<Vec<u8>, String>,
) -> u32 {
    // SAFETY: `input` is a live slice and both sinks are live, well-formed host sinks.
    unsafe { run_handler(input.as_ptr(), input.len(), out, err, f) }
}

/// Module side of the init shim.
///
/// # Safety
///
/// `err` must be a live host sink.
pub unsafe fn run_init<R: HookOutput>(err: *mut Sink<'_>, f: fn() -> R) -> u32 {
    // SAFETY: the caller's contract on `err`.
    unsafe { guarded(err, || f().into_result()).0 }
}

/// Module side of the state-export shim.
///
/// # Safety
///
/// `out`/`err` must be live host sinks.
pub unsafe fn run_export<R: HandlerOutput>(out: *mut Sink<'_>, err: *mut Sink<'_>, f: fn() -> R) -> u32 {
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
pub unsafe fn run_import<R: HookOutput>(state: *const u8, len: usize, err: *mut Sink<'_>, f: fn(&[u8]) -> R) -> u32 {
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
#[inline(always)]
unsafe fn guard_typed<T>(out: *mut T, err: *mut Sink<'_>, f: impl FnOnce() -> T) -> u32 {
    // SAFETY: the caller's contract on `err`.
    let (status, value) = unsafe { guarded(err, || Ok(f())) };
    if status == STATUS_PANIC {
        count_typed_panic();
    }
    if let Some(v) = value {
        // SAFETY: the caller's contract on `out`.
        unsafe { out.write(v) };
    }
    status
}

/// Panics caught in this module's typed shims (a host or a dependent module called it
/// through an interface table). The descriptor points at it, so a host can charge a
/// provider for a panic that reached a dependent as an error value.
static TYPED_PANICS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cold]
#[inline(never)]
fn count_typed_panic() {
    TYPED_PANICS.fetch_add(1, Ordering::Relaxed);
}

/// The counter behind [`ModuleDescriptor::typed_panics`].
#[doc(hidden)]
pub const fn typed_panics_counter() -> *const std::sync::atomic::AtomicU64 {
    &TYPED_PANICS
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

/// A typed interface: a `#[repr(C)]` table of [`Entry`]s declared with [`interface!`](crate::interface).
///
/// # Safety
///
/// Implemented only by [`interface!`](crate::interface): the loader casts a module's table to `Self` when the
/// ids and sizes match, so `ID` must change whenever the layout of the table or of any type crossing it
/// changes. The macro hashes the interface name, every function name, the written types and the
/// [`Abi::LAYOUT`] of every argument and return type.
pub unsafe trait Interface: Sized + Send + Sync + 'static {
    /// The interface's name.
    const NAME: &'static str;
    /// Hash of the name, every declared signature and the layout of every type in them.
    const ID: u64;
}

/// Plain data with a fixed layout: a type that may cross a module boundary by value.
///
/// Implemented for the integers, `f32`/`f64`, `bool`, `char`, `()`, raw pointers and arrays of
/// `Abi` types, `extern "C" fn` pointers of `Abi` types (up to three arguments), and for
/// `#[repr(C)]` structs declared with [`abi_struct!`](crate::abi_struct). Owned values
/// (`String`, `Vec`, `Box`) never cross: each module has its own allocator. References never
/// cross either: a typed call has no way to tie their lifetime to anything.
///
/// # Safety
///
/// `Self` is `Copy` (no drop glue, no owned memory), has a layout fixed by its declaration
/// (a primitive or `#[repr(C)]`), and `LAYOUT` changes whenever its size, alignment, field
/// offsets or field types change. [`abi_struct!`](crate::abi_struct) upholds this for structs.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a hotpack module boundary: it is not plain data with a fixed layout",
    label = "not `hotpack_abi::Abi`",
    note = "use integers, floats, `bool`, `char`, raw pointers, arrays of those, or a `#[repr(C)]` struct declared with `hotpack_abi::abi_struct!`",
    note = "owned values (`String`, `Vec`, `Box`) and references cannot cross: take bytes as a `hotpack_abi::ByteSlice` argument (a borrowed `&[u8]`), write bytes to a `hotpack_abi::BytesOut` argument, or use a byte handler (`module! {{ handlers: ... }}`)"
)]
pub unsafe trait Abi: Copy + 'static {
    /// Fingerprint of the type's layout, folded into every [`Interface::ID`] it appears in.
    const LAYOUT: u64;
}

macro_rules! abi_primitive {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: a primitive: `Copy`, no drop glue, layout fixed by the language.
            unsafe impl Abi for $t {
                const LAYOUT: u64 = crate::layout_of::<$t>(stringify!($t));
            }
        )*
    };
}

abi_primitive!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool, char, ());

// SAFETY: a raw pointer is a `Copy` address with the layout of a thin pointer; crossing
// carries no ownership, and dereferencing it needs `unsafe` on the side that does.
unsafe impl<T: Abi> Abi for *const T {
    const LAYOUT: u64 = crate::fnv1a64_mix(crate::layout_of::<*const T>("*const"), T::LAYOUT);
}

// SAFETY: as for `*const T`.
unsafe impl<T: Abi> Abi for *mut T {
    const LAYOUT: u64 = crate::fnv1a64_mix(crate::layout_of::<*mut T>("*mut"), T::LAYOUT);
}

macro_rules! abi_extern_fn {
    ($($A:ident),*) => {
        // SAFETY: a non-null code pointer with the layout of a pointer; calling it is safe Rust
        // (a panic inside aborts rather than unwinding), and libraries are never unmapped.
        unsafe impl<$($A: Abi,)* R: Abi> Abi for extern "C" fn($($A),*) -> R {
            const LAYOUT: u64 = {
                let hash = crate::layout_of::<extern "C" fn($($A),*) -> R>("extern \"C\" fn");
                $( let hash = crate::fnv1a64_mix(hash, <$A as Abi>::LAYOUT); )*
                crate::fnv1a64_mix(hash, R::LAYOUT)
            };
        }
    };
}

abi_extern_fn!();
abi_extern_fn!(A);
abi_extern_fn!(A, B);
abi_extern_fn!(A, B, C);

// SAFETY: an array of `Abi` values is `Copy` and laid out as `N` of them.
unsafe impl<T: Abi, const N: usize> Abi for [T; N] {
    const LAYOUT: u64 =
        crate::fnv1a64_mix(crate::fnv1a64_mix(crate::layout_of::<[T; N]>("array"), N as u64), T::LAYOUT);
}

/// The shape of a function in a table: `Self` is the tuple of its argument types, `R` its
/// return type; `Shim` is the `extern "C"` pointer type of the generated shim.
pub trait Signature<R>: sealed::Sealed<R> + 'static {
    /// `unsafe extern "C" fn(args..., *mut R, *mut Sink<'_>) -> u32`.
    type Shim: Copy + Send + Sync + 'static;
}

mod sealed {
    /// Only this crate's tuples of [`Abi`](super::Abi) types are signatures.
    pub trait Sealed<R> {}

    /// Only [`Abi`](super::Abi) types are [`Ret`](super::Ret).
    pub trait SealedRet {}

    impl<T: super::Abi> SealedRet for T {}
}

/// What an interface function may return: exactly the [`Abi`] types (sealed).
///
/// A trait of its own, not `Abi`, so that the bounds `interface!` assumes on return types
/// (`for<'_> R: Ret`, see there) never make a type that is not `Abi` look like one: assuming
/// `ByteSlice: Abi` would make `ByteSlice: Arg` ambiguous (two impls) and add errors.
#[doc(hidden)]
pub trait Ret: sealed::SealedRet + 'static {
    /// [`Abi::LAYOUT`].
    const LAYOUT: u64;
}

impl<T: Abi> Ret for T {
    const LAYOUT: u64 = T::LAYOUT;
}

/// A function of an interface as the generated code implements it: one safe Rust call.
#[doc(hidden)]
pub trait Func<Args: Tuple, R> {
    /// Calls the implementation with the arguments as the implementation sees them.
    fn call(args: Args::Rust<'_>) -> R;
}

/// A tuple of [`Arg`]s: the arguments of one interface function.
#[doc(hidden)]
pub trait Tuple {
    /// The tuple as the implementation and the caller see it.
    type Rust<'a>;
}

/// One entry of an interface table: a pointer to a panic-catching `extern "C"` shim that
/// hotpack-abi generated around a safe Rust function.
///
/// There is no way to put any other function pointer in an `Entry`: its field is private and
/// its only constructor instantiates this crate's shim, so [`Entry::call`] is safe. A table's
/// fields are `Entry`s, so a table cannot be forged from a plain `extern "C" fn` either.
///
/// The type itself has no bounds (the shim is stored with its signature erased, and put back
/// by [`Entry::call`]): a table of a type that is not [`Abi`] is refused once, where
/// [`interface!`](crate::interface) checks its types, not again by every item that names it.
#[repr(transparent)]
pub struct Entry<Args, R> {
    /// `<Args as Signature<R>>::Shim`, erased: `__new` is the only writer and `call` the
    /// only reader, both for the same `Args` and `R`.
    shim: ErasedShim,
    signature: PhantomData<fn(Args) -> R>,
}

/// A shim pointer with its signature erased (every function pointer has the same layout).
type ErasedShim = unsafe extern "C" fn();

impl<Args, R> Clone for Entry<Args, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Args, R> Copy for Entry<Args, R> {}

impl<Args, R> std::fmt::Debug for Entry<Args, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entry")
    }
}

thread_local! {
    /// The error message of the typed call that just failed on this (host) thread.
    static TYPED_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The error sink of every typed call: appends to this thread's [`TYPED_ERROR`]. A shim writes
/// to it only just before it returns a failure status, and [`typed_error`] takes the bytes
/// right after, so nothing else runs on the thread in between.
unsafe extern "C" fn write_typed_error(_ctx: *mut c_void, ptr: *const u8, len: usize) {
    if len == 0 || ptr.is_null() {
        return;
    }
    // SAFETY: `ptr..ptr+len` is the live message slice the module passed for this call.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    // `try_*`: never panic in an `extern "C"` function (that would abort); a message that
    // cannot be stored (the thread is exiting) is dropped and the status still says why.
    let _ = TYPED_ERROR.try_with(|buf| {
        if let Ok(mut buf) = buf.try_borrow_mut() {
            buf.extend_from_slice(bytes);
        }
    });
}

/// A sink that can live in a `static`: built once, only ever read.
struct StaticSink(Sink<'static>);

// SAFETY: the sink is immutable (a null context and a function pointer); modules only read
// its two fields (`Sink::put`), and the function it points to uses only thread-locals.
unsafe impl Sync for StaticSink {}

/// Passed to every typed shim: no per-call setup on the host's fast path.
static TYPED_ERROR_SINK: StaticSink =
    StaticSink(Sink { ctx: std::ptr::null_mut(), write: write_typed_error, buffer: PhantomData });

/// The error sink pointer a typed shim gets. `*mut` only because that is the shim signature:
/// nothing ever writes through it.
#[inline(always)]
fn typed_error_sink() -> *mut Sink<'static> {
    &TYPED_ERROR_SINK.0 as *const Sink<'static> as *mut Sink<'static>
}

/// Host side of a typed call once the shim returned: the value, or the error it wrote.
#[inline(always)]
fn typed_outcome<R>(status: u32, out: MaybeUninit<R>) -> Result<R, CallError> {
    if status == STATUS_OK {
        // SAFETY: a typed shim returns STATUS_OK only after writing its value to `out`
        // (`guard_typed`), and only this crate's shims can be in an `Entry`.
        return Ok(unsafe { out.assume_init() });
    }
    Err(typed_error(status))
}

#[cold]
#[inline(never)]
fn typed_error(status: u32) -> CallError {
    let err = TYPED_ERROR.try_with(|buf| buf.try_borrow_mut().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default());
    status_to_result(status, err.unwrap_or_default()).err().unwrap_or(CallError::BadStatus { status })
}

macro_rules! arity {
    ($shim:ident; $($a:ident: $A:ident),*) => {
        impl<$($A: Arg,)*> Tuple for ($($A,)*) {
            type Rust<'a> = ($(<$A as Arg>::Rust<'a>,)*);
        }

        impl<$($A: Arg,)* R: Ret> sealed::Sealed<R> for ($($A,)*) {}

        impl<$($A: Arg,)* R: Ret> Signature<R> for ($($A,)*) {
            type Shim = unsafe extern "C" fn($(<$A as Arg>::Raw,)* *mut R, *mut Sink<'_>) -> u32;
        }

        /// The panic-catching shim of one interface function.
        ///
        /// # Safety
        ///
        /// The caller passes raw arguments made by `Arg::into_raw` of values live for the
        /// call, a writable `out` and a live error sink.
        unsafe extern "C" fn $shim<$($A: Arg,)* R: Ret, F: Func<($($A,)*), R>>(
            $($a: <$A as Arg>::Raw,)*
            out: *mut R,
            err: *mut Sink<'_>,
        ) -> u32 {
            // SAFETY: the caller's contract: raw arguments of live values, for this call.
            unsafe { guard_typed(out, err, move || F::call(($(<$A as Arg>::from_raw($a),)*))) }
        }

        impl<$($A: Arg,)* R: Ret> Entry<($($A,)*), R> {
            #[doc(hidden)]
            pub const fn __new<F: Func<($($A,)*), R>>() -> Self {
                let shim: <($($A,)*) as Signature<R>>::Shim = $shim::<$($A,)* R, F>;
                // SAFETY: a function pointer to a function pointer of another signature (the
                // same size); `call` turns it back into this type before calling it.
                let shim = unsafe { std::mem::transmute::<<($($A,)*) as Signature<R>>::Shim, ErasedShim>(shim) };
                Entry { shim, signature: PhantomData }
            }

            /// Calls the function through its shim.
            ///
            /// # Errors
            ///
            /// [`CallError::Panicked`] if the implementation panicked (caught inside it).
            #[inline(always)]
            #[allow(clippy::too_many_arguments)] // one per argument of the interface function
            pub fn call(&self, $($a: <$A as Arg>::Rust<'_>),*) -> Result<R, CallError> {
                let mut out = MaybeUninit::<R>::uninit();
                // SAFETY: an `Entry<Args, R>` only ever holds `$shim` instantiated by `__new`
                // for the same `Args` and `R`, erased: the transmute gives back its own type.
                // The raw arguments come from values borrowed for this call, `out` is writable
                // and the error sink is static.
                let status = unsafe {
                    let shim = std::mem::transmute::<ErasedShim, <($($A,)*) as Signature<R>>::Shim>(self.shim);
                    shim($(<$A as Arg>::into_raw($a),)* out.as_mut_ptr(), typed_error_sink())
                };
                typed_outcome(status, out)
            }
        }
    };
}

arity!(shim0;);
arity!(shim1; a: A);
arity!(shim2; a: A, b: B);
arity!(shim3; a: A, b: B, c: C);
arity!(shim4; a: A, b: B, c: C, d: D);
arity!(shim5; a: A, b: B, c: C, d: D, e: E);
arity!(shim6; a: A, b: B, c: C, d: D, e: E, f: G);
arity!(shim7; a: A, b: B, c: C, d: D, e: E, f: G, g: H);
arity!(shim8; a: A, b: B, c: C, d: D, e: E, f: G, g: H, h: I);
