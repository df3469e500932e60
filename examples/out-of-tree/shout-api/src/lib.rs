//! The `Shout` interface: declared once, depended on by the module and by the host. Its id
//! hashes every signature, so a host built against another version of this crate is refused
//! before a call is made.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

hotpack_abi::interface! {
    /// What a `shout` module offers beside its byte handlers.
    pub struct Shout / trait ShoutImpl {
        /// How loud this version shouts (1, 2, ...).
        fn volume() -> u32;
        /// `n` exclamation marks at this volume: `n * volume`.
        fn marks(n: u64) -> u64;
    }
}
