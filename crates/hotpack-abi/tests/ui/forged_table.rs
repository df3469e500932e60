//! A table cannot be forged from a plain `extern "C" fn`, even in the declaring module.

hotpack_abi::interface! {
    /// An API.
    pub struct Api / trait ApiImpl {
        fn f(x: u32) -> u64;
    }
}

extern "C" fn liar(_x: u32, _out: *mut u64, _err: *mut hotpack_abi::Sink<'_>) -> u32 {
    hotpack_abi::STATUS_OK // never wrote `out`
}

fn main() {
    let t = Api { f: liar };
    let _ = t.f(1);
}
