//! hotpack-worker integration tests: real worker processes (this crate's `hotpack-worker`
//! binary) running real fixture cdylibs.

mod basics;
mod blame;
mod contain;
mod preflight;
