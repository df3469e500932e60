//! Module `svc-b`: requires `TextUtil` from whichever module provides it; `run` answers
//! `b:` followed by `transform(body)`. The host hands it the provider and swaps it under it.

#![deny(unsafe_code)] // not `forbid`: the macro-generated shims opt in locally

use textutil_api::TextUtil;

fn run(input: &[u8]) -> Result<Vec<u8>, hotpack_abi::CallError> {
    let mut out = b"b:".to_vec();
    hotpack_abi::ByteSink::with_vec(&mut out, |sink| TEXTUTIL.get()?.transform(input, sink))?;
    Ok(out)
}

hotpack_abi::module! {
    name: "svc-b",
    version: "1.0.0",
    requires: [TEXTUTIL: TextUtil],
    handlers: { "run" => run },
}
