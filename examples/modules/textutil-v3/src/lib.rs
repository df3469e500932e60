//! Module `textutil` 3.0.0: its `TextUtil` takes an extra parameter, so the interface id
//! differs and a host refuses it while `svc-a` or `svc-b` require the old one.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

hotpack_abi::interface! {
    /// `TextUtil` with an extra parameter: the same name, another id.
    pub struct TextUtil / trait TextUtilImpl {
        /// Writes the transformed `input` to `out`, followed by `bangs` exclamation marks.
        fn transform(input: hotpack_abi::ByteSlice, out: hotpack_abi::BytesOut, bangs: u32);
    }
}

struct Impl;

impl TextUtilImpl for Impl {
    fn transform(input: &[u8], out: &mut hotpack_abi::ByteSink, bangs: u32) {
        out.write(&input.to_ascii_uppercase());
        for _ in 0..bangs {
            out.write(b"!");
        }
    }
}

fn transform(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    hotpack_abi::ByteSink::with_vec(&mut out, |sink| Impl::transform(input, sink, 3));
    out
}

hotpack_abi::module! {
    name: "textutil",
    version: "3.0.0",
    interfaces: [TextUtil => Impl],
    handlers: { "transform" => transform },
}
