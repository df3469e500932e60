//! Interface arguments beyond plain data (borrowed bytes in, a byte sink out) and the
//! requirement handle a dependent module calls its provider through. Part of the abi crate's
//! raw side, like `ffi.rs`.
#![allow(unsafe_code)]

use crate::ffi::{Sink, write_to_vec};
use crate::{Abi, CallError, Interface};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;

/// A type that may be an interface function's argument: every [`Abi`] type (passed as is),
/// [`ByteSlice`] (a borrowed `&[u8]`) and [`BytesOut`] (a `&mut ByteSink` for output bytes).
///
/// # Safety
///
/// `LAYOUT` must change whenever `Raw` changes; `from_raw` must be the inverse of `into_raw`
/// for a value that lives for the call.
// The same words as `Abi`'s: `interface!` checks arguments against `Arg`, and a type that is
// not `Arg` is one that is not `Abi` (or was meant to be `ByteSlice` / `BytesOut`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a hotpack module boundary: it is not plain data with a fixed layout",
    label = "not `hotpack_abi::Abi`",
    note = "use integers, floats, `bool`, `char`, raw pointers, arrays of those, or a `#[repr(C)]` struct declared with `hotpack_abi::abi_struct!`",
    note = "owned values (`String`, `Vec`, `Box`) and references cannot cross: take bytes as a `hotpack_abi::ByteSlice` argument (a borrowed `&[u8]`), write bytes to a `hotpack_abi::BytesOut` argument, or use a byte handler (`module! {{ handlers: ... }}`)"
)]
pub unsafe trait Arg: 'static {
    /// What crosses the boundary.
    type Raw: Copy;
    /// What the implementation receives and the caller passes.
    type Rust<'a>;
    /// Layout fingerprint, part of the interface id.
    const LAYOUT: u64;
    /// The value as it crosses.
    fn into_raw(value: Self::Rust<'_>) -> Self::Raw;
    /// The value back, valid for the call.
    ///
    /// # Safety
    ///
    /// `raw` must come from [`into_raw`](Self::into_raw) of a value that outlives `'a`.
    unsafe fn from_raw<'a>(raw: Self::Raw) -> Self::Rust<'a>
    where
        Self: 'a;
}

// SAFETY: an `Abi` value crosses as itself.
unsafe impl<T: Abi> Arg for T {
    type Raw = T;
    type Rust<'a> = T;
    const LAYOUT: u64 = T::LAYOUT;
    #[inline(always)]
    fn into_raw(value: T) -> T {
        value
    }
    #[inline(always)]
    unsafe fn from_raw<'a>(raw: T) -> T
    where
        T: 'a,
    {
        raw
    }
}

/// An interface argument that is a borrowed byte slice: write `input: ByteSlice` in
/// [`interface!`](crate::interface); the implementation receives `&[u8]` and the caller
/// passes one. Nothing is copied; the borrow lasts for the call.
#[derive(Debug)]
pub enum ByteSlice {}

/// A borrowed byte slice as it crosses: pointer and length.
#[doc(hidden)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawBytes {
    ptr: *const u8,
    len: usize,
}

// SAFETY: `from_raw` rebuilds the slice `into_raw` took apart; the shim only calls it for the
// duration of the call whose caller holds the borrow.
unsafe impl Arg for ByteSlice {
    type Raw = RawBytes;
    type Rust<'a> = &'a [u8];
    const LAYOUT: u64 = crate::layout_of::<RawBytes>("&[u8]");
    #[inline(always)]
    fn into_raw(value: &[u8]) -> RawBytes {
        RawBytes { ptr: value.as_ptr(), len: value.len() }
    }
    #[inline(always)]
    unsafe fn from_raw<'a>(raw: RawBytes) -> &'a [u8]
    where
        Self: 'a,
    {
        if raw.len == 0 || raw.ptr.is_null() {
            return &[];
        }
        // SAFETY: the trait's contract: a live slice of the caller, for the call.
        unsafe { std::slice::from_raw_parts(raw.ptr, raw.len) }
    }
}

/// An interface argument that receives output bytes: write `out: BytesOut` in
/// [`interface!`](crate::interface); the implementation receives a `&mut ByteSink` and writes
/// into it, the caller passes one made with [`ByteSink::with_vec`]. The caller owns the buffer
/// (and its allocator); the implementation only calls `write`.
#[derive(Debug)]
pub enum BytesOut {}

/// Where an interface function writes output bytes (see [`BytesOut`]). Only ever lent as
/// `&mut ByteSink` for one call; it cannot be made or kept outside one.
#[repr(transparent)]
#[derive(Debug)]
pub struct ByteSink(Sink<'static>);

impl ByteSink {
    /// Appends `bytes` to the caller's buffer.
    pub fn write(&mut self, bytes: &[u8]) {
        // SAFETY: a `ByteSink` is only lent by `with_vec` (a live sink for its closure) or by
        // a shim, for the call, from the caller's live sink.
        unsafe { Sink::put(&mut self.0, bytes) }
    }

    /// Runs `f` with a sink appending to `vec` (the caller side of a [`BytesOut`] argument).
    pub fn with_vec<R>(vec: &mut Vec<u8>, f: impl FnOnce(&mut ByteSink) -> R) -> R {
        let mut sink =
            ByteSink(Sink { ctx: vec as *mut Vec<u8> as *mut c_void, write: write_to_vec, buffer: PhantomData });
        f(&mut sink)
    }
}

// SAFETY: `from_raw` turns back the pointer `into_raw` took from a `&mut ByteSink` that the
// caller holds for the call (`ByteSink` is `repr(transparent)` over `Sink`).
unsafe impl Arg for BytesOut {
    type Raw = *mut Sink<'static>;
    type Rust<'a> = &'a mut ByteSink;
    const LAYOUT: u64 = crate::layout_of::<*mut Sink<'static>>("&mut ByteSink");
    #[inline(always)]
    fn into_raw(value: &mut ByteSink) -> *mut Sink<'static> {
        &mut value.0
    }
    #[inline(always)]
    unsafe fn from_raw<'a>(raw: *mut Sink<'static>) -> &'a mut ByteSink
    where
        Self: 'a,
    {
        // SAFETY: the trait's contract; `ByteSink` is `repr(transparent)` over `Sink`.
        unsafe { &mut *(raw as *mut ByteSink) }
    }
}

/// A typed hot handle to an interface another module provides: declared in
/// [`module!`](crate::module)'s `requires: [NAME: Interface]`, filled by the host with the
/// provider's table (after checking its id and size), replaced when the provider is swapped.
/// A call through it is one atomic load and the provider's shim: no lock, no reference count.
#[repr(C)]
pub struct Requirement<I: Interface> {
    slot: std::sync::atomic::AtomicPtr<c_void>,
    interface: PhantomData<fn() -> I>,
}

impl<I: Interface> Requirement<I> {
    /// An empty handle (no provider yet).
    #[doc(hidden)]
    #[allow(clippy::new_without_default)] // only `module!` makes one, in a `static`
    pub const fn new() -> Self {
        Requirement { slot: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()), interface: PhantomData }
    }

    /// The provider's table as of now.
    ///
    /// # Errors
    ///
    /// [`CallError::NoProvider`] while no provider has been handed to this module.
    #[inline(always)]
    pub fn get(&self) -> Result<&'static I, CallError> {
        let ptr = self.slot.load(Ordering::Acquire);
        if ptr.is_null() {
            return Err(CallError::NoProvider { interface: I::NAME.to_owned() });
        }
        // SAFETY: the host stores only a provider's table whose interface name, id (a hash
        // of every signature and layout) and size equal `I`'s (`hotpack_loader`'s `provide`),
        // from a library that is never unmapped; `Acquire` pairs with its `Release` store.
        Ok(unsafe { &*(ptr as *const I) })
    }

    /// Whether a provider has been handed to this module.
    pub fn is_provided(&self) -> bool {
        !self.slot.load(Ordering::Acquire).is_null()
    }

    /// The slot the host writes (through the descriptor's requirement array).
    #[doc(hidden)]
    pub const fn slot(&self) -> *const std::sync::atomic::AtomicPtr<c_void> {
        &self.slot
    }
}

impl<I: Interface> std::fmt::Debug for Requirement<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requirement").field("interface", &I::NAME).field("provided", &self.is_provided()).finish()
    }
}
