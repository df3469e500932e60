//! The `Greeter` interface: declared once, depended on by the greeter modules and by hosts.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

hotpack_abi::interface! {
    /// A tiny typed interface, implemented by `greeter-v1` and `greeter-v2`.
    pub struct Greeter / trait GreeterImpl {
        /// Which implementation answers (1 for v1, 2 for v2).
        fn generation() -> u32;
        /// `a + b`, scaled by the generation: v1 answers `a + b`, v2 `2 * (a + b)`.
        fn add(a: u64, b: u64) -> u64;
    }
}
