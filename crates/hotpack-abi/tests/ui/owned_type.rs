//! Owned values cannot cross a module boundary by value: each module has its own allocator.

hotpack_abi::interface! {
    /// Strings do not cross.
    pub struct Names / trait NamesImpl {
        fn rename(name: String) -> u64;
    }
}

fn main() {}
