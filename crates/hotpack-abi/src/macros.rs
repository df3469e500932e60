//! `interface!` and `module!`: the only way module authors touch the ABI.
//!
//! Everything `unsafe` they expand to is a shim around the guards in `ffi.rs`.

/// Declares a typed interface: a `#[repr(C)]` table of panic-safe `extern "C"` shims, the
/// trait a module implements to provide it, and safe host-side methods to call through it.
///
/// ```
/// hotpack_abi::interface! {
///     /// Greets people.
///     pub struct Greeter / trait GreeterImpl {
///         /// Returns a number that identifies the implementation.
///         fn generation() -> u32;
///         fn add(a: u64, b: u64) -> u64;
///     }
/// }
/// use hotpack_abi::Interface;
/// assert_ne!(Greeter::ID, 0);
/// ```
///
/// The id hashes the interface name and every function's name, argument types and return
/// type as written; change any of them and the id changes. Types must be FFI-safe.
#[macro_export]
macro_rules! interface {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident / trait $tr:ident {
            $(
                $(#[$fmeta:meta])*
                fn $f:ident ( $( $arg:ident : $argty:ty ),* $(,)? ) $( -> $ret:ty )? ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name {
            $(
                $f: unsafe extern "C" fn(
                    $( $argty, )*
                    *mut $crate::__ret_ty!($($ret)?),
                    *mut $crate::Sink,
                ) -> u32,
            )*
        }

        #[doc = concat!("Implemented by a module that provides [`", stringify!($name), "`].")]
        $vis trait $tr {
            $(
                $(#[$fmeta])*
                fn $f( $( $arg : $argty ),* ) -> $crate::__ret_ty!($($ret)?);
            )*
        }

        #[allow(dead_code)]
        impl $name {
            /// The function table for implementation `T`; each entry is a panic-catching shim.
            pub const fn table<T: $tr>() -> Self {
                $name {
                    $(
                        $f: {
                            #[allow(unsafe_code)]
                            unsafe extern "C" fn shim<T: $tr>(
                                $( $arg : $argty, )*
                                __hp_out: *mut $crate::__ret_ty!($($ret)?),
                                __hp_err: *mut $crate::Sink,
                            ) -> u32 {
                                // SAFETY: the host passes a slot valid for one write and a
                                // live error sink (`typed_result` below is the only caller).
                                unsafe {
                                    $crate::__private::guard_typed(__hp_out, __hp_err, move || {
                                        <T as $tr>::$f($($arg),*)
                                    })
                                }
                            }
                            shim::<T>
                        },
                    )*
                }
            }

            $(
                $(#[$fmeta])*
                ///
                /// # Errors
                ///
                /// [`CallError::Panicked`]($crate::CallError) if the implementation panicked
                /// (caught inside the module).
                pub fn $f(&self, $( $arg : $argty ),* ) -> ::core::result::Result<$crate::__ret_ty!($($ret)?), $crate::CallError> {
                    let mut __hp_out = ::core::mem::MaybeUninit::<$crate::__ret_ty!($($ret)?)>::uninit();
                    let mut __hp_err_buf = ::std::vec::Vec::new();
                    let mut __hp_err = $crate::Sink::for_vec(&mut __hp_err_buf);
                    #[allow(unsafe_code)]
                    // SAFETY: the table's entries are shims made by `table` (fields are
                    // private), possibly in a module the loader matched by `ID`; the output
                    // slot and the sink outlive the call.
                    let __hp_status = unsafe {
                        (self.$f)($($arg,)* __hp_out.as_mut_ptr(), &mut __hp_err)
                    };
                    let _ = __hp_err;
                    $crate::__private::typed_result(__hp_status, __hp_out, __hp_err_buf)
                }
            )*
        }

        // SAFETY: `ID` hashes the name and every signature of this `#[repr(C)]` table.
        #[allow(unsafe_code)]
        unsafe impl $crate::Interface for $name {
            const NAME: &'static str = stringify!($name);
            const ID: u64 = $crate::fnv1a64(concat!(
                "hotpack-interface:", stringify!($name), "{",
                $( stringify!($f), "(", $( stringify!($argty), ",", )* ")->", stringify!($($ret)?), ";", )*
                "}"
            ).as_bytes());
        }
    };
}

/// The return type of an interface function: `()` when none is written.
#[doc(hidden)]
#[macro_export]
macro_rules! __ret_ty {
    () => {
        ()
    };
    ($t:ty) => {
        $t
    };
}

/// Picks the first of two expressions when present.
#[doc(hidden)]
#[macro_export]
macro_rules! __or {
    ([$e:expr] $d:expr) => {
        $e
    };
    ([] $d:expr) => {
        $d
    };
}

/// Declares a module: its name, version, interfaces, handlers and hooks.
///
/// Invoke once in a `cdylib` crate. Every part but `name` and `version` is optional; the
/// order is fixed:
///
/// ```
/// fn init() -> Result<(), String> { Ok(()) }
/// fn save() -> Vec<u8> { b"state".to_vec() }
/// fn load(_state: &[u8]) -> Result<(), String> { Ok(()) }
/// fn echo(input: &[u8]) -> Vec<u8> { input.to_vec() }
///
/// hotpack_abi::module! {
///     name: "echo",
///     version: "0.3.1",
///     init: init,
///     state: { export: save, import: load },
///     handlers: { "echo" => echo },
/// }
/// ```
///
/// Handlers are `fn(&[u8]) -> R` with `R:` [`HandlerOutput`](crate::HandlerOutput); `init`
/// is `fn() -> R` and `import` is `fn(&[u8]) -> R` with `R:` [`HookOutput`](crate::HookOutput);
/// `export` is `fn() -> R` with `R: HandlerOutput`. Each is wrapped in a shim that catches
/// panics inside the module.
#[macro_export]
macro_rules! module {
    (
        name: $name:expr,
        version: $version:expr,
        $( init: $init:path, )?
        $( state: { export: $export:path, import: $import:path }, )?
        $( interfaces: [ $( $iface:ty => $imp:ty ),* $(,)? ], )?
        $( handlers: { $( $hname:literal => $hfn:path ),* $(,)? }, )?
        $( __forge: {
            $( magic: $fmagic:expr, )?
            $( layout_version: $flayout:expr, )?
            $( abi_version: $fabi:expr, )?
            $( rustc: $frustc:expr, )?
            $( target: $ftarget:expr, )?
        }, )?
    ) => {
        const __HOTPACK_INTERFACES: &[$crate::RawInterface] = &[
            $( $(
                $crate::RawInterface {
                    name: $crate::RawStr::new(<$iface as $crate::Interface>::NAME),
                    id: <$iface as $crate::Interface>::ID,
                    table: {
                        const TABLE: $iface = <$iface>::table::<$imp>();
                        &TABLE as *const $iface as *const ::core::ffi::c_void
                    },
                    table_size: ::core::mem::size_of::<$iface>(),
                },
            )* )?
        ];

        const __HOTPACK_HANDLERS: &[$crate::RawHandler] = &[
            $( $(
                $crate::RawHandler {
                    name: $crate::RawStr::new($hname),
                    func: {
                        #[allow(unsafe_code)]
                        unsafe extern "C" fn shim(
                            input: *const u8,
                            len: usize,
                            out: *mut $crate::Sink,
                            err: *mut $crate::Sink,
                        ) -> u32 {
                            // SAFETY: the host passes a live input slice and live sinks.
                            unsafe { $crate::__private::run_handler(input, len, out, err, $hfn) }
                        }
                        shim
                    },
                },
            )* )?
        ];

        static __HOTPACK_DESCRIPTOR: $crate::StaticDescriptor = $crate::StaticDescriptor($crate::ModuleDescriptor {
            magic: $crate::__or!([$($($fmagic)?)?] $crate::MAGIC),
            layout_version: $crate::__or!([$($($flayout)?)?] $crate::LAYOUT_VERSION),
            abi_version: $crate::__or!([$($($fabi)?)?] $crate::ABI_VERSION),
            descriptor_size: ::core::mem::size_of::<$crate::ModuleDescriptor>(),
            rustc: $crate::RawStr::new($crate::__or!([$($($frustc)?)?] $crate::RUSTC_VERSION)),
            target: $crate::RawStr::new($crate::__or!([$($($ftarget)?)?] $crate::TARGET)),
            name: $crate::RawStr::new($name),
            version: $crate::RawStr::new($version),
            interfaces: __HOTPACK_INTERFACES.as_ptr(),
            interface_count: __HOTPACK_INTERFACES.len(),
            handlers: __HOTPACK_HANDLERS.as_ptr(),
            handler_count: __HOTPACK_HANDLERS.len(),
            init: $crate::__or!([$({
                #[allow(unsafe_code)]
                unsafe extern "C" fn shim(err: *mut $crate::Sink) -> u32 {
                    // SAFETY: the host passes a live error sink.
                    unsafe { $crate::__private::run_init(err, $init) }
                }
                ::core::option::Option::Some(shim as $crate::InitFn)
            })?] ::core::option::Option::None),
            export_state: $crate::__or!([$({
                #[allow(unsafe_code)]
                unsafe extern "C" fn shim(out: *mut $crate::Sink, err: *mut $crate::Sink) -> u32 {
                    // SAFETY: the host passes live sinks.
                    unsafe { $crate::__private::run_export(out, err, $export) }
                }
                ::core::option::Option::Some(shim as $crate::ExportStateFn)
            })?] ::core::option::Option::None),
            import_state: $crate::__or!([$({
                #[allow(unsafe_code)]
                unsafe extern "C" fn shim(state: *const u8, len: usize, err: *mut $crate::Sink) -> u32 {
                    // SAFETY: the host passes a live state slice and a live sink.
                    unsafe { $crate::__private::run_import(state, len, err, $import) }
                }
                ::core::option::Option::Some(shim as $crate::ImportStateFn)
            })?] ::core::option::Option::None),
        });

        /// The module's descriptor: the one symbol a hotpack host looks up.
        #[allow(unsafe_code)]
        // SAFETY: the name is hotpack's well-known descriptor symbol; a cdylib exports it
        // exactly once (this macro is invoked once per crate).
        #[unsafe(no_mangle)]
        pub extern "C" fn hotpack_module_descriptor() -> *const $crate::ModuleDescriptor {
            &__HOTPACK_DESCRIPTOR.0
        }
    };
}
