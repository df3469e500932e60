//! Cross-crate integration tests: one binary, one module per area (link time matters).

mod boundaries;
mod bundles;
mod publish;
mod tidy;
mod vendor;
