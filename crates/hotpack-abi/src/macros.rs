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
/// The id hashes the interface name, every function's name, argument types and return type
/// as written, the table's size and the [`Abi::LAYOUT`](crate::Abi) of every argument and
/// return type, at compile time: change any of them, or the layout of a struct behind the
/// same name, and the id changes. Every argument and return type must be
/// [`Abi`](crate::Abi) (plain data with a fixed layout); anything else is a compile error
/// saying what to use instead:
///
/// ```compile_fail
/// hotpack_abi::interface! {
///     /// Strings cannot cross: each module has its own allocator.
///     pub struct Names / trait NamesImpl {
///         fn shout(name: String) -> String;
///     }
/// }
/// ```
///
/// The table's fields are private [`Entry`](crate::Entry)s that only hold this crate's
/// panic-catching shims; [`table`](#method.table) is the only way to build one.
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
        // Every argument and return type is checked here, once: a type that cannot cross is
        // this one error. The items below assume the same bounds in `for<'_>` where-clauses,
        // which the compiler does not check where they are declared (only where they are used),
        // so they do not repeat it.
        const _: () = {
            $(
                $( $crate::__private::assert_arg::<$argty>(); )*
                $crate::__private::assert_abi::<$crate::__ret_ty!($($ret)?)>();
            )*
        };

        $(#[$meta])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name {
            $(
                $f: $crate::Entry<( $( $argty, )* ), $crate::__ret_ty!($($ret)?)>,
            )*
        }

        #[doc = concat!("Implemented by a module that provides [`", stringify!($name), "`].")]
        $vis trait $tr {
            $(
                $(#[$fmeta])*
                fn $f( $( $arg : <$argty as $crate::Arg>::Rust<'_> ),* ) -> $crate::__ret_ty!($($ret)?)
                where
                    $( for<'__hotpack> $argty: $crate::Arg, )* for<'__hotpack> $crate::__ret_ty!($($ret)?): $crate::__private::Ret,;
            )*
        }

        #[allow(dead_code)]
        impl $name {
            /// The function table for implementation `T`; each entry is a panic-catching shim.
            pub const fn table<T: $tr>() -> Self
            where
                $( $( for<'__hotpack> $argty: $crate::Arg, )* for<'__hotpack> $crate::__ret_ty!($($ret)?): $crate::__private::Ret, )*
            {
                $name {
                    $(
                        $f: {
                            struct Imp<T>(::core::marker::PhantomData<T>);
                            impl<T: $tr> $crate::__private::Func<( $( $argty, )* ), $crate::__ret_ty!($($ret)?)> for Imp<T>
                            where
                                $( for<'__hotpack> $argty: $crate::Arg, )* for<'__hotpack> $crate::__ret_ty!($($ret)?): $crate::__private::Ret,
                            {
                                #[inline(always)]
                                fn call(( $( $arg, )* ): <( $( $argty, )* ) as $crate::__private::Tuple>::Rust<'_>) -> $crate::__ret_ty!($($ret)?) {
                                    <T as $tr>::$f($($arg),*)
                                }
                            }
                            $crate::Entry::<( $( $argty, )* ), $crate::__ret_ty!($($ret)?)>::__new::<Imp<T>>()
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
                #[inline(always)]
                pub fn $f(&self, $( $arg : <$argty as $crate::Arg>::Rust<'_> ),* ) -> ::core::result::Result<$crate::__ret_ty!($($ret)?), $crate::CallError>
                where
                    $( for<'__hotpack> $argty: $crate::Arg, )* for<'__hotpack> $crate::__ret_ty!($($ret)?): $crate::__private::Ret,
                {
                    self.$f.call($($arg),*)
                }
            )*
        }

        // SAFETY: `ID` hashes the name, every signature as written, the size of this
        // `#[repr(C)]` table of `Entry`s and the `Abi::LAYOUT` of every argument and return type.
        unsafe impl $crate::Interface for $name
        where
            $( $( for<'__hotpack> $argty: $crate::Arg, )* for<'__hotpack> $crate::__ret_ty!($($ret)?): $crate::__private::Ret, )*
        {
            const NAME: &'static str = stringify!($name);
            const ID: u64 = {
                let hash = $crate::fnv1a64(concat!(
                    "hotpack-interface:", stringify!($name), "{",
                    $( stringify!($f), "(", $( stringify!($argty), ",", )* ")->", stringify!($($ret)?), ";", )*
                    "}"
                ).as_bytes());
                let hash = $crate::fnv1a64_mix(hash, ::core::mem::size_of::<$name>() as u64);
                $(
                    $( let hash = $crate::fnv1a64_mix(hash, <$argty as $crate::Arg>::LAYOUT); )*
                    let hash = $crate::fnv1a64_mix(hash, <$crate::__ret_ty!($($ret)?) as $crate::__private::Ret>::LAYOUT);
                )*
                hash
            };
        }
    };
}

/// Declares a `#[repr(C)]` plain-data struct that may cross a module boundary by value.
///
/// The macro adds `#[repr(C)]`, implements `Clone` and `Copy` (do not derive them yourself) and
/// implements [`Abi`](crate::Abi) with a layout fingerprint of the name, size, alignment and
/// every field's name, offset and own fingerprint; every field must be `Abi` itself.
///
/// ```
/// hotpack_abi::abi_struct! {
///     /// A rectangle.
///     #[derive(Debug, PartialEq)]
///     pub struct Rect { pub w: u32, pub h: u32 }
/// }
/// hotpack_abi::interface! {
///     /// Geometry.
///     pub struct Shapes / trait ShapesImpl {
///         fn area(r: Rect) -> u64;
///     }
/// }
/// ```
///
/// An owned or borrowed field is refused at compile time:
///
/// ```compile_fail
/// hotpack_abi::abi_struct! {
///     pub struct Person { pub name: String }
/// }
/// ```
#[macro_export]
macro_rules! abi_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        // Every field type is checked here, once (see `interface!`); the impls below assume
        // the same bounds in `for<'_>` where-clauses, which only their users check.
        const _: () = {
            $( $crate::__private::assert_abi::<$fty>(); )*
        };

        $(#[$meta])*
        #[repr(C)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $fty, )*
        }

        impl ::core::clone::Clone for $name
        where
            $( for<'__hotpack> $fty: $crate::Abi, )*
        {
            #[inline(always)]
            fn clone(&self) -> Self {
                *self
            }
        }

        impl ::core::marker::Copy for $name
        where
            $( for<'__hotpack> $fty: $crate::Abi, )*
        {
        }

        // SAFETY: `#[repr(C)]` and `Copy` above; every field is `Abi` (the check above and the
        // bounds below), and `LAYOUT` folds in the size, alignment and every field's name,
        // offset and fingerprint.
        unsafe impl $crate::Abi for $name
        where
            $( for<'__hotpack> $fty: $crate::Abi, )*
        {
            const LAYOUT: u64 = {
                let hash = $crate::layout_of::<$name>(concat!("struct ", stringify!($name)));
                $(
                    let hash = $crate::fnv1a64_mix(hash, $crate::fnv1a64(stringify!($field).as_bytes()));
                    let hash = $crate::fnv1a64_mix(hash, $crate::__private::offset_of!($name, $field) as u64);
                    let hash = $crate::fnv1a64_mix(hash, <$fty as $crate::Abi>::LAYOUT);
                )*
                hash
            };
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
///
/// `requires: [TEXTUTIL: TextUtil]` declares a `static TEXTUTIL:`
/// [`Requirement`](crate::Requirement)`<TextUtil>` the host fills with a provider's table; the
/// interface's id decides compatibility. An optional range on the provider module's version,
/// in Cargo's syntax, narrows the providers accepted: `requires: [TEXTUTIL: TextUtil = ">=2, <3"]`
/// (the host refuses a provider version outside it, and keeps the module waiting until one
/// inside it is current). The range is checked by the host when the module is read: a range
/// that is not semver makes the library unloadable.
#[macro_export]
macro_rules! module {
    (
        name: $name:expr,
        version: $version:expr,
        $( init: $init:path, )?
        $( state: { export: $export:path, import: $import:path }, )?
        $( interfaces: [ $( $iface:ty => $imp:ty ),* $(,)? ], )?
        $( requires: [ $( $rname:ident : $rty:ty $( = $rrange:literal )? ),* $(,)? ], )?
        $( handlers: { $( $hname:literal => $hfn:path ),* $(,)? }, )?
        $( __forge: {
            $( magic: $fmagic:expr, )?
            $( layout_version: $flayout:expr, )?
            $( abi_version: $fabi:expr, )?
            $( rustc: $frustc:expr, )?
            $( target: $ftarget:expr, )?
            $( section_name: $fsname:expr, )?
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

        $( $(
            /// A typed hot handle to the provider of this required interface (`module!`).
            static $rname: $crate::Requirement<$rty> = $crate::Requirement::new();
        )* )?

        static __HOTPACK_REQUIRES: $crate::__private::StaticArray<$crate::RawRequirement, { 0 $( $( + { let _ = stringify!($rname); 1 } )* )? }> =
            $crate::__private::StaticArray([
                $( $(
                    $crate::RawRequirement {
                        name: $crate::RawStr::new(<$rty as $crate::Interface>::NAME),
                        id: <$rty as $crate::Interface>::ID,
                        table_size: ::core::mem::size_of::<$rty>(),
                        slot: $rname.slot(),
                    },
                )* )?
            ]);
        // A handler of the wrong shape (`&str`) is refused here, first, with the fix.
        $( $( const _: () = $crate::__private::check_handler(&$hfn); )* )?

        const __HOTPACK_HANDLERS: &[$crate::RawHandler] = &[
            $( $(
                $crate::RawHandler {
                    name: $crate::RawStr::new($hname),
                    func: {
                        unsafe extern "C" fn shim(
                            input: *const u8,
                            len: usize,
                            out: *mut $crate::Sink<'_>,
                            err: *mut $crate::Sink<'_>,
                        ) -> u32 {
                            // SAFETY: the host passes a live input slice and live sinks.
                            unsafe { $crate::__private::run_handler(input, len, out, err, $hfn) }
                        }
                        shim
                    },
                },
            )* )?
        ];

        const __HOTPACK_INIT: ::core::option::Option<$crate::InitFn> = $crate::__or!([$({
            unsafe extern "C" fn shim(err: *mut $crate::Sink<'_>) -> u32 {
                // SAFETY: the host passes a live error sink.
                unsafe { $crate::__private::run_init(err, $init) }
            }
            ::core::option::Option::Some(shim as $crate::InitFn)
        })?] ::core::option::Option::None);

        const __HOTPACK_EXPORT: ::core::option::Option<$crate::ExportStateFn> = $crate::__or!([$({
            unsafe extern "C" fn shim(out: *mut $crate::Sink<'_>, err: *mut $crate::Sink<'_>) -> u32 {
                // SAFETY: the host passes live sinks.
                unsafe { $crate::__private::run_export(out, err, $export) }
            }
            ::core::option::Option::Some(shim as $crate::ExportStateFn)
        })?] ::core::option::Option::None);

        const __HOTPACK_IMPORT: ::core::option::Option<$crate::ImportStateFn> = $crate::__or!([$({
            unsafe extern "C" fn shim(state: *const u8, len: usize, err: *mut $crate::Sink<'_>) -> u32 {
                // SAFETY: the host passes a live state slice and a live sink.
                unsafe { $crate::__private::run_import(state, len, err, $import) }
            }
            ::core::option::Option::Some(shim as $crate::ImportStateFn)
        })?] ::core::option::Option::None);

        const __HOTPACK_LAYOUT_VERSION: u32 = $crate::__or!([$($($flayout)?)?] $crate::LAYOUT_VERSION);
        const __HOTPACK_ABI_VERSION: u32 = $crate::__or!([$($($fabi)?)?] $crate::ABI_VERSION);
        // Evaluated in the module's own crate: the strategy its cdylib is linked with.
        const __HOTPACK_PANIC: u32 = if cfg!(panic = "unwind") { $crate::PANIC_UNWIND } else { $crate::PANIC_ABORT };
        const __HOTPACK_RUSTC: &str = $crate::__or!([$($($frustc)?)?] $crate::RUSTC_VERSION);
        const __HOTPACK_TARGET: &str = $crate::__or!([$($($ftarget)?)?] $crate::TARGET);

        // The descriptor as data, readable without running anything (`section.rs`).
        const __HOTPACK_SECTION_PARTS: $crate::section::SectionParts<'static> = $crate::section::SectionParts {
            layout_version: __HOTPACK_LAYOUT_VERSION,
            abi_version: __HOTPACK_ABI_VERSION,
            panic_strategy: __HOTPACK_PANIC,
            hooks: (if __HOTPACK_INIT.is_some() { $crate::section::HOOK_INIT } else { 0 })
                | (if __HOTPACK_EXPORT.is_some() { $crate::section::HOOK_EXPORT } else { 0 })
                | (if __HOTPACK_IMPORT.is_some() { $crate::section::HOOK_IMPORT } else { 0 }),
            name: $crate::__or!([$($($fsname)?)?] $name),
            version: $version,
            rustc: __HOTPACK_RUSTC,
            target: __HOTPACK_TARGET,
            handlers: &[ $( $( $hname, )* )? ],
            interfaces: &[
                $( $(
                    $crate::section::SectionInterface {
                        name: <$iface as $crate::Interface>::NAME,
                        id: <$iface as $crate::Interface>::ID,
                        table_size: ::core::mem::size_of::<$iface>(),
                    },
                )* )?
            ],
            requires: &[
                $( $(
                    $crate::section::SectionRequirement {
                        name: <$rty as $crate::Interface>::NAME,
                        id: <$rty as $crate::Interface>::ID,
                        table_size: ::core::mem::size_of::<$rty>(),
                        range: $crate::__or!([$($rrange)?] ""),
                    },
                )* )?
            ],
        };
        const __HOTPACK_SECTION_LEN: usize = __HOTPACK_SECTION_PARTS.encoded_len();
        // SAFETY: a section of its own holding plain bytes; no symbol or code lives there.
        #[unsafe(link_section = ".hotpack.descriptor")]
        #[used]
        static __HOTPACK_SECTION: [u8; __HOTPACK_SECTION_LEN] = __HOTPACK_SECTION_PARTS.encode::<__HOTPACK_SECTION_LEN>();

        static __HOTPACK_DESCRIPTOR: $crate::StaticDescriptor = $crate::StaticDescriptor($crate::ModuleDescriptor {
            magic: $crate::__or!([$($($fmagic)?)?] $crate::MAGIC),
            layout_version: __HOTPACK_LAYOUT_VERSION,
            abi_version: __HOTPACK_ABI_VERSION,
            descriptor_size: ::core::mem::size_of::<$crate::ModuleDescriptor>(),
            panic_strategy: __HOTPACK_PANIC,
            reserved: 0,
            rustc: $crate::RawStr::new(__HOTPACK_RUSTC),
            target: $crate::RawStr::new(__HOTPACK_TARGET),
            name: $crate::RawStr::new($name),
            version: $crate::RawStr::new($version),
            interfaces: __HOTPACK_INTERFACES.as_ptr(),
            interface_count: __HOTPACK_INTERFACES.len(),
            handlers: __HOTPACK_HANDLERS.as_ptr(),
            handler_count: __HOTPACK_HANDLERS.len(),
            init: __HOTPACK_INIT,
            export_state: __HOTPACK_EXPORT,
            import_state: __HOTPACK_IMPORT,
            requires: __HOTPACK_REQUIRES.0.as_ptr(),
            require_count: __HOTPACK_REQUIRES.0.len(),
            typed_panics: $crate::__private::typed_panics_counter(),
        });

        /// The module's descriptor: the one symbol a hotpack host looks up.
        // SAFETY: the name is hotpack's well-known descriptor symbol; a cdylib exports it
        // exactly once (this macro is invoked once per crate).
        #[unsafe(no_mangle)]
        pub extern "C" fn hotpack_module_descriptor() -> *const $crate::ModuleDescriptor {
            // A host is loading this module: its std panics only in module code from now on.
            $crate::__private::module_loaded();
            // Keeps the descriptor section linked in (`--gc-sections` drops unreferenced ones).
            ::core::hint::black_box(&__HOTPACK_SECTION);
            &__HOTPACK_DESCRIPTOR.0
        }
    };
}
