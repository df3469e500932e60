//! Hot handles: [`Hot<I>`] (a typed interface table) and [`HotModule`] (handlers by name),
//! each one atomic load of a `&'static` table. No lock, no allocation, no `dlsym` per call.

use hotpack_loader::{AtomicRef, CallError, Handler, Interface, LoadError, Module};
use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// A version as hot handles see it: the module and its handlers. Leaked once per version
/// when first activated (a few hundred bytes, like the code that stays mapped).
#[derive(Debug)]
pub struct ActiveVersion {
    pub(crate) module: Module,
    pub(crate) handlers: Vec<(String, Handler)>,
}

impl ActiveVersion {
    /// The module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// A handler by name.
    #[inline]
    pub fn handler(&self, name: &str) -> Option<Handler> {
        self.handlers.iter().find(|(n, _)| n == name).map(|(_, h)| *h)
    }

    /// Calls a handler by name.
    ///
    /// # Errors
    ///
    /// [`CallError::NoSuchHandler`], or the handler's error or caught panic.
    #[inline]
    pub fn call(&self, handler: &str, input: &[u8]) -> Result<Vec<u8>, CallError> {
        match self.handler(handler) {
            Some(h) => h.call(input),
            None => Err(CallError::NoSuchHandler { name: handler.to_owned() }),
        }
    }
}

/// A handle on "the current version of module M": its handlers, by name.
#[derive(Debug, Clone)]
pub struct HotModule {
    pub(crate) slot: Arc<AtomicRef<ActiveVersion>>,
}

impl HotModule {
    /// The version serving now. Hold the returned reference to make several calls on one
    /// version; it stays valid forever.
    #[inline]
    pub fn current(&self) -> &'static ActiveVersion {
        self.slot.load()
    }

    /// Calls `handler` on the current version.
    ///
    /// # Errors
    ///
    /// As [`ActiveVersion::call`].
    #[inline]
    pub fn call(&self, handler: &str, input: &[u8]) -> Result<Vec<u8>, CallError> {
        self.slot.load().call(handler, input)
    }
}

/// A handle on "the current version of module M, interface I".
pub struct Hot<I: Interface> {
    pub(crate) slot: Arc<TypedSlot<I>>,
}

impl<I: Interface> Clone for Hot<I> {
    fn clone(&self) -> Self {
        Hot { slot: Arc::clone(&self.slot) }
    }
}

impl<I: Interface> fmt::Debug for Hot<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hot").field("interface", &I::NAME).finish_non_exhaustive()
    }
}

impl<I: Interface> Hot<I> {
    /// The current version's table: one atomic load. Calls through the returned reference
    /// all go to the same version, even if a swap happens meanwhile.
    #[inline(always)]
    pub fn get(&self) -> &'static I {
        self.slot.table.load()
    }
}

pub(crate) struct TypedSlot<I: Interface> {
    pub(crate) table: AtomicRef<I>,
}

/// Type-erased typed slot, so a swap can rebind every `Hot<I>` of a module.
pub(crate) trait Rebind: Send + Sync {
    fn check(&self, module: &Module) -> Result<(), LoadError>;
    fn bind(&self, module: &Module);
    fn as_any(&self) -> &dyn Any;
}

impl<I: Interface> Rebind for Arc<TypedSlot<I>> {
    fn check(&self, module: &Module) -> Result<(), LoadError> {
        module.interface::<I>().map(|_| ())
    }
    fn bind(&self, module: &Module) {
        if let Ok(table) = module.interface::<I>() {
            self.table.store(table);
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
