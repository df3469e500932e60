//! A handler takes the input bytes: a `&str` handler is refused with the fix, not a bare
//! type mismatch over the macro.

fn run(input: &str) -> String {
    input.to_uppercase()
}

hotpack_abi::module! {
    name: "texty",
    version: "1.0.0",
    handlers: { "run" => run },
}

fn main() {}
