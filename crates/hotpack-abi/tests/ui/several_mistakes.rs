//! Several types that cannot cross, in a struct and an interface: one error for each, at the
//! type, and nothing else (a `ByteSlice` used as a return type does not make the correct
//! `ByteSlice` argument ambiguous).

hotpack_abi::abi_struct! {
    /// A person.
    pub struct Person { pub age: u32, pub name: String }
}

hotpack_abi::interface! {
    /// Some right, some wrong.
    pub struct Mixed / trait MixedImpl {
        fn fine(input: hotpack_abi::ByteSlice, out: hotpack_abi::BytesOut) -> u64;
        fn rename(name: String, age: u32) -> Vec<u8>;
        fn person(p: Person);
        fn borrowed() -> hotpack_abi::ByteSlice;
    }
}

fn main() {}
