//! Owned and borrowed values cannot cross a module boundary by value.

hotpack_abi::interface! {
    /// Strings do not cross: each module has its own allocator.
    pub struct Names / trait NamesImpl {
        fn rename(name: String) -> Vec<u8>;
    }
}

hotpack_abi::interface! {
    /// Neither do boxes or references.
    pub struct Refs / trait RefsImpl {
        fn boxed(b: Box<u64>) -> &'static str;
    }
}

fn main() {}
