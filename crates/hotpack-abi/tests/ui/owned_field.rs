//! A plain-data struct cannot hold owned data.

hotpack_abi::abi_struct! {
    /// A person.
    pub struct Person { pub age: u32, pub name: String }
}

fn main() {}
