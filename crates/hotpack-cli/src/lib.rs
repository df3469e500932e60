//! Nothing to link: the `hotpack` binary (src/main.rs) is the product. This empty library
//! exists so the workspace's root package can dev-depend on `hotpack-cli` with
//! `features = ["fleet"]`: cargo unifies a package's features across one build, so
//! `cargo test --workspace` builds the binary with the fleet and runs its fleet tests, while
//! `cargo run -p hotpack-cli` and `cargo install --path crates/hotpack-cli` stay without it.

#![forbid(unsafe_code)]
