//! Passes: the same signature text with another struct layout is another interface id, and a
//! crate with `#![forbid(unsafe_code)]` can declare structs, interfaces and a module.

#![forbid(unsafe_code)]

use hotpack_abi::Interface;

mod small {
    hotpack_abi::abi_struct! {
        /// 8 bytes.
        pub struct Rect { pub w: u32, pub h: u32 }
    }
    hotpack_abi::interface! {
        /// Geometry.
        pub struct Shapes / trait ShapesImpl {
            fn area(r: Rect) -> u64;
        }
    }
}

mod big {
    hotpack_abi::abi_struct! {
        /// 24 bytes.
        pub struct Rect { pub w: u64, pub h: u64, pub d: u64 }
    }
    hotpack_abi::interface! {
        /// Geometry.
        pub struct Shapes / trait ShapesImpl {
            fn area(r: Rect) -> u64;
        }
    }
}

mod reordered {
    hotpack_abi::abi_struct! {
        /// Same fields and size as `small::Rect`, other order.
        pub struct Rect { pub h: u32, pub w: u32 }
    }
    hotpack_abi::interface! {
        /// Geometry.
        pub struct Shapes / trait ShapesImpl {
            fn area(r: Rect) -> u64;
        }
    }
}

mod same {
    hotpack_abi::abi_struct! {
        /// Exactly `small::Rect`.
        pub struct Rect { pub w: u32, pub h: u32 }
    }
    hotpack_abi::interface! {
        /// Geometry.
        pub struct Shapes / trait ShapesImpl {
            fn area(r: Rect) -> u64;
        }
    }
}

struct Impl;
impl small::ShapesImpl for Impl {
    fn area(r: small::Rect) -> u64 {
        u64::from(r.w) * u64::from(r.h)
    }
}

fn helper(_: &[u8]) -> &'static str {
    "ok"
}

hotpack_abi::module! {
    name: "forbid-unsafe",
    version: "1.0.0",
    interfaces: [small::Shapes => Impl],
    handlers: { "helper" => helper },
}

fn main() {
    assert_ne!(small::Shapes::ID, big::Shapes::ID, "8-byte vs 24-byte Rect");
    assert_ne!(small::Shapes::ID, reordered::Shapes::ID, "field order");
    assert_eq!(small::Shapes::ID, same::Shapes::ID, "same declaration, same id");
    let t = small::Shapes::table::<Impl>();
    assert_eq!(t.area(small::Rect { w: 3, h: 5 }), Ok(15));
    assert!(!hotpack_module_descriptor().is_null());
}
