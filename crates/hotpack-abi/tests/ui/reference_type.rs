//! References cannot cross a module boundary: nothing ties their lifetime to the module's.

hotpack_abi::interface! {
    /// Neither do references.
    pub struct Refs / trait RefsImpl {
        fn name() -> &'static str;
    }
}

fn main() {}
