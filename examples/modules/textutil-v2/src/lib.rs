//! Module `textutil` 2.0.0: provides `TextUtil`; `transform` uppercases ASCII and appends `!`.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

use textutil_api::{TextUtil, TextUtilImpl};

struct Impl;

impl TextUtilImpl for Impl {
    fn transform(input: &[u8], out: &mut hotpack_abi::ByteSink) {
        out.write(&input.to_ascii_uppercase());
        out.write(b"!");
    }
}

fn transform(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    hotpack_abi::ByteSink::with_vec(&mut out, |sink| Impl::transform(input, sink));
    out
}

hotpack_abi::module! {
    name: "textutil",
    version: "2.0.0",
    interfaces: [TextUtil => Impl],
    handlers: { "transform" => transform },
}
