//! Test fixture: a module built with `panic = "abort"` (its own workspace's release profile).
//! Its first panic would abort whatever process loaded it, so the loader must refuse it.
//!
//! It also shows that a crate with `#![forbid(unsafe_code)]` can declare an interface, a
//! plain-data struct and a module.

#![forbid(unsafe_code)]

hotpack_abi::abi_struct! {
    /// A point.
    pub struct Point { pub x: i32, pub y: i32 }
}

hotpack_abi::interface! {
    /// Something to call.
    pub struct Shapes / trait ShapesImpl {
        /// Twice the point.
        fn double(p: Point) -> Point;
    }
}

struct Impl;

impl ShapesImpl for Impl {
    fn double(p: Point) -> Point {
        Point { x: p.x * 2, y: p.y * 2 }
    }
}

fn boom(_: &[u8]) -> &'static str {
    panic!("this would abort the host")
}

hotpack_abi::module! {
    name: "panic-abort",
    version: "1.0.0",
    interfaces: [Shapes => Impl],
    handlers: { "boom" => boom },
}
