//! The `TextUtil` interface: provided by `textutil-v1`/`-v2` (module `textutil`), required by
//! `svc-a` and `svc-b`, which call it through a hot handle the host fills and swaps.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

hotpack_abi::interface! {
    /// Text transformations, shared code shipped as its own bundle.
    pub struct TextUtil / trait TextUtilImpl {
        /// Writes the transformed `input` to `out`.
        fn transform(input: hotpack_abi::ByteSlice, out: hotpack_abi::BytesOut);
    }
}
