//! Integration tests for the `hotpack` binary: one module per subcommand, each running
//! the real binary.

mod conventions;
mod demo;
mod dev;
mod doors;
#[cfg(feature = "fleet")]
mod fleet;
#[cfg(not(feature = "fleet"))]
mod fleet_off;
mod gc;
mod inspect;
mod isolate;
mod names;
mod new;
mod pack;
mod pipeline;
mod serve;
mod shared;
mod sign;
mod trust;
mod verify;
mod watch;
