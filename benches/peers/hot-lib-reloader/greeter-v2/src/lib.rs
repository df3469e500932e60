//! Version 2 of the library that hot-lib-reloader reloads in `cargo xtask bench`: plain
//! `#[no_mangle]` Rust functions, the shape hot-lib-reloader requires.

/// What the bench calls in its timed loop (same work as hotpack's `Greeter::add` in v2).
#[no_mangle]
pub fn add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b).wrapping_mul(2)
}

/// Which version answers: the bench spins on this after each swap.
#[no_mangle]
pub fn generation() -> u32 {
    2
}
