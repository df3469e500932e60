//! Outside the declaring module a table's fields are not even visible.

mod api {
    hotpack_abi::interface! {
        /// An API.
        pub struct Api / trait ApiImpl {
            fn f(x: u32) -> u64;
        }
    }
}

fn main() {
    let real = api::Api::table::<Impl>();
    let _copy = api::Api { f: real.f };
}

struct Impl;
impl api::ApiImpl for Impl {
    fn f(x: u32) -> u64 {
        x.into()
    }
}
