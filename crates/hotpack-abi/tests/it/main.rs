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

/// The descriptor layout a host reads from another compilation: any change here must bump
/// `LAYOUT_VERSION` (and these numbers).
#[test]
#[cfg(target_pointer_width = "64")]
fn the_descriptor_layout_is_pinned() {
    use hotpack_abi::{ModuleDescriptor, RawHandler, RawInterface, RawStr};
    use std::mem::{align_of, offset_of, size_of};
    assert_eq!(hotpack_abi::LAYOUT_VERSION, 3);
    // Fixed forever: a host of any version reads these three first.
    assert_eq!(offset_of!(ModuleDescriptor, magic), 0);
    assert_eq!(offset_of!(ModuleDescriptor, layout_version), 8);
    assert_eq!(offset_of!(ModuleDescriptor, descriptor_size), 16);
    // Layout 2.
    assert_eq!(offset_of!(ModuleDescriptor, abi_version), 12);
    assert_eq!(offset_of!(ModuleDescriptor, panic_strategy), 24);
    assert_eq!(offset_of!(ModuleDescriptor, reserved), 28);
    assert_eq!(offset_of!(ModuleDescriptor, rustc), 32);
    assert_eq!(offset_of!(ModuleDescriptor, target), 48);
    assert_eq!(offset_of!(ModuleDescriptor, name), 64);
    assert_eq!(offset_of!(ModuleDescriptor, version), 80);
    assert_eq!(offset_of!(ModuleDescriptor, interfaces), 96);
    assert_eq!(offset_of!(ModuleDescriptor, interface_count), 104);
    assert_eq!(offset_of!(ModuleDescriptor, handlers), 112);
    assert_eq!(offset_of!(ModuleDescriptor, handler_count), 120);
    assert_eq!(offset_of!(ModuleDescriptor, init), 128);
    assert_eq!(offset_of!(ModuleDescriptor, export_state), 136);
    assert_eq!(offset_of!(ModuleDescriptor, import_state), 144);
    // Layout 3: required interfaces.
    assert_eq!(offset_of!(ModuleDescriptor, requires), 152);
    assert_eq!(offset_of!(ModuleDescriptor, require_count), 160);
    assert_eq!(offset_of!(ModuleDescriptor, typed_panics), 168);
    assert_eq!(size_of::<ModuleDescriptor>(), 176);
    use hotpack_abi::RawRequirement;
    assert_eq!(
        (
            offset_of!(RawRequirement, name),
            offset_of!(RawRequirement, id),
            offset_of!(RawRequirement, table_size),
            offset_of!(RawRequirement, slot),
            size_of::<RawRequirement>()
        ),
        (0, 16, 24, 32, 40)
    );
    assert_eq!(align_of::<ModuleDescriptor>(), 8);
    assert_eq!((offset_of!(RawStr, ptr), offset_of!(RawStr, len), size_of::<RawStr>()), (0, 8, 16));
    assert_eq!(
        (
            offset_of!(RawInterface, name),
            offset_of!(RawInterface, id),
            offset_of!(RawInterface, table),
            offset_of!(RawInterface, table_size),
            size_of::<RawInterface>()
        ),
        (0, 16, 24, 32, 40)
    );
    assert_eq!((offset_of!(RawHandler, name), offset_of!(RawHandler, func), size_of::<RawHandler>()), (0, 16, 24));
    // A table is one pointer per function; a sink is a context and a function pointer.
    assert_eq!(size_of::<a::Api>(), 2 * size_of::<usize>());
    assert_eq!(size_of::<Sink<'static>>(), 2 * size_of::<usize>());
}

mod shapes_small {
    hotpack_abi::abi_struct! {
        /// 8 bytes.
        #[derive(Debug, PartialEq)]
        pub struct Rect { pub w: u32, pub h: u32 }
    }
    hotpack_abi::interface! {
        /// Geometry.
        pub struct Shapes / trait ShapesImpl {
            fn area(r: Rect) -> u64;
            fn grow(r: Rect, by: u32) -> Rect;
        }
    }
}
mod shapes_big {
    hotpack_abi::abi_struct! {
        /// 24 bytes, same text in the signatures.
        pub struct Rect { pub w: u64, pub h: u64, pub d: u64 }
    }
    hotpack_abi::interface! {
        /// Geometry.
        pub struct Shapes / trait ShapesImpl {
            fn area(r: Rect) -> u64;
            fn grow(r: Rect, by: u32) -> Rect;
        }
    }
}
mod shapes_aligned {
    hotpack_abi::abi_struct! {
        /// Same fields as `shapes_small::Rect`, another field type of the same size.
        pub struct Rect { pub w: f32, pub h: u32 }
    }
    hotpack_abi::interface! {
        /// Geometry.
        pub struct Shapes / trait ShapesImpl {
            fn area(r: Rect) -> u64;
            fn grow(r: Rect, by: u32) -> Rect;
        }
    }
}

#[test]
fn an_interface_id_changes_with_the_layout_of_its_types() {
    use shapes_small::{Rect, Shapes, ShapesImpl};
    assert_ne!(Shapes::ID, shapes_big::Shapes::ID, "8-byte vs 24-byte Rect behind the same text");
    assert_ne!(Shapes::ID, shapes_aligned::Shapes::ID, "a field's type changed, same size");
    struct Impl;
    impl ShapesImpl for Impl {
        fn area(r: Rect) -> u64 {
            u64::from(r.w) * u64::from(r.h)
        }
        fn grow(r: Rect, by: u32) -> Rect {
            Rect { w: r.w + by, h: r.h + by }
        }
    }
    let t = Shapes::table::<Impl>();
    assert_eq!(t.area(Rect { w: 3, h: 4 }), Ok(12));
    assert_eq!(t.grow(Rect { w: 3, h: 4 }, 1), Ok(Rect { w: 4, h: 5 }));
}

mod bytes {
    hotpack_abi::interface! {
        /// Bytes in, bytes out.
        pub struct Text / trait TextImpl {
            fn transform(input: hotpack_abi::ByteSlice, out: hotpack_abi::BytesOut);
            fn count(input: hotpack_abi::ByteSlice, extra: u32) -> u64;
        }
    }
    hotpack_abi::interface! {
        /// Same text, one more parameter.
        pub struct TextV3 / trait TextV3Impl {
            fn transform(input: hotpack_abi::ByteSlice, out: hotpack_abi::BytesOut, bang: u32);
            fn count(input: hotpack_abi::ByteSlice, extra: u32) -> u64;
        }
    }
    pub struct Upper;
    impl TextImpl for Upper {
        fn transform(input: &[u8], out: &mut hotpack_abi::ByteSink) {
            out.write(&input.to_ascii_uppercase());
        }
        fn count(input: &[u8], extra: u32) -> u64 {
            assert!(extra != 99, "count exploded");
            input.len() as u64 + u64::from(extra)
        }
    }
}

#[test]
fn byte_slices_and_sinks_cross_an_interface_and_are_part_of_its_id() {
    use bytes::{Text, TextV3, Upper};
    let table = Text::table::<Upper>();
    let mut out = b"a:".to_vec();
    hotpack_abi::ByteSink::with_vec(&mut out, |sink| table.transform(b"abc", sink)).expect("transform");
    assert_eq!(out, b"a:ABC");
    assert_eq!(table.count(b"abcd", 2), Ok(6));
    assert!(table.count(b"", 99).expect_err("panics").is_panic());
    assert_ne!(Text::ID, TextV3::ID);
}
