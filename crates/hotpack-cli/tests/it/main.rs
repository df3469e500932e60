//! Integration tests for the `hotpack` binary: one module per subcommand, each running
//! the real binary.

mod conventions;
mod demo;
mod dev;
mod fleet;
mod gc;
mod inspect;
mod isolate;
mod new;
mod pack;
mod serve;
mod sign;
mod trust;
mod verify;
mod watch;
