//! A struct without a fixed layout (not declared with `abi_struct!`) cannot cross.

#[derive(Clone, Copy)]
pub struct Point {
    pub x: u32,
    pub y: u32,
}

hotpack_abi::interface! {
    /// Points.
    pub struct Points / trait PointsImpl {
        fn mirror(p: Point) -> u32;
    }
}

fn main() {}
