//! hotpack-abi in-process: interface ids track signatures; shims catch panics and errors.

use hotpack_abi::{CallError, Interface, Sink};

mod a {
    hotpack_abi::interface! {
        /// Baseline.
        pub struct Api / trait ApiImpl {
            fn f(x: u32) -> u32;
            fn g();
        }
    }
}
mod same {
    hotpack_abi::interface! {
        /// Same declaration, other crate position: same id.
        pub struct Api / trait ApiImpl {
            fn f(x: u32) -> u32;
            fn g();
        }
    }
}
mod arg_type {
    hotpack_abi::interface! {
        /// An argument type changed.
        pub struct Api / trait ApiImpl {
            fn f(x: u64) -> u32;
            fn g();
        }
    }
}
mod ret_type {
    hotpack_abi::interface! {
        /// The return type changed.
        pub struct Api / trait ApiImpl {
            fn f(x: u32) -> i32;
            fn g();
        }
    }
}
mod fn_name {
    hotpack_abi::interface! {
        /// A function renamed.
        pub struct Api / trait ApiImpl {
            fn f2(x: u32) -> u32;
            fn g();
        }
    }
}
mod order {
    hotpack_abi::interface! {
        /// Functions reordered (the table layout changes).
        pub struct Api / trait ApiImpl {
            fn g();
            fn f(x: u32) -> u32;
        }
    }
}
mod extra {
    hotpack_abi::interface! {
        /// A function added.
        pub struct Api / trait ApiImpl {
            fn f(x: u32) -> u32;
            fn g();
            fn h(a: u8, b: u8) -> u16;
        }
    }
}
mod renamed {
    hotpack_abi::interface! {
        /// The interface renamed.
        pub struct Api2 / trait ApiImpl {
            fn f(x: u32) -> u32;
            fn g();
        }
    }
}

#[test]
fn an_interface_id_changes_with_every_signature_change() {
    assert_eq!(a::Api::ID, same::Api::ID, "same declaration, same id");
    let changed = [
        ("argument type", arg_type::Api::ID),
        ("return type", ret_type::Api::ID),
        ("function name", fn_name::Api::ID),
        ("function order", order::Api::ID),
        ("added function", extra::Api::ID),
        ("interface name", renamed::Api2::ID),
    ];
    for (what, id) in changed {
        assert_ne!(a::Api::ID, id, "changing the {what} must change the id");
    }
    assert_eq!(a::Api::NAME, "Api");
}

struct Good;
impl a::ApiImpl for Good {
    fn f(x: u32) -> u32 {
        x * 3
    }
    fn g() {}
}

struct Panics;
impl a::ApiImpl for Panics {
    fn f(x: u32) -> u32 {
        assert!(x < 10, "x was {x}");
        x
    }
    fn g() {
        panic!("g always panics");
    }
}

#[test]
fn typed_shims_return_values_and_catch_panics() {
    let good = a::Api::table::<Good>();
    assert_eq!(good.f(4), Ok(12));
    assert_eq!(good.g(), Ok(()));
    let bad = a::Api::table::<Panics>();
    assert_eq!(bad.f(3), Ok(3));
    match bad.f(11) {
        Err(CallError::Panicked { message }) => assert!(message.contains("x was 11"), "{message}"),
        other => panic!("expected a caught panic, got {other:?}"),
    }
    assert!(matches!(bad.g(), Err(CallError::Panicked { message }) if message.contains("g always panics")));
    assert_eq!(bad.f(1), Ok(1), "usable after a panic");
}

fn echo(input: &[u8]) -> Vec<u8> {
    input.to_vec()
}
fn fails(_: &[u8]) -> Result<String, std::io::Error> {
    Err(std::io::Error::other("disk on fire"))
}
fn panics(_: &[u8]) -> &'static str {
    panic!("handler panic")
}

#[test]
fn handler_guards_map_every_outcome_to_a_status() {
    fn run(f: fn(&[u8]) -> Result<Vec<u8>, String>, input: &[u8]) -> (u32, Vec<u8>, Vec<u8>) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = {
            let mut out_sink = Sink::for_vec(&mut out);
            let mut err_sink = Sink::for_vec(&mut err);
            hotpack_abi::__private::run_handler_for_tests(input, &mut out_sink, &mut err_sink, f)
        };
        (status, out, err)
    }
    let ok = run(|i| Ok(echo(i)), b"abc");
    assert_eq!(ok, (hotpack_abi::STATUS_OK, b"abc".to_vec(), Vec::new()));
    let failed = run(|i| fails(i).map(String::into_bytes).map_err(|e| e.to_string()), b"");
    assert_eq!(failed.0, hotpack_abi::STATUS_ERROR);
    assert_eq!(failed.2, b"disk on fire");
    let panicked = run(|i| Ok(panics(i).as_bytes().to_vec()), b"");
    assert_eq!(panicked.0, hotpack_abi::STATUS_PANIC);
    assert!(String::from_utf8_lossy(&panicked.2).contains("handler panic"));
}

#[test]
fn fnv1a64_matches_reference_vectors() {
    // Reference values of 64-bit FNV-1a.
    assert_eq!(hotpack_abi::fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(hotpack_abi::fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(hotpack_abi::fnv1a64(b"foobar"), 0x85944171f73967e8);
}
