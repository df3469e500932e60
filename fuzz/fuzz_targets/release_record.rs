//! The fleet's records as hosts read them from etcd (`serde_json::from_slice` of a
//! `ReleaseRecord` / `Rollout` / `HostReport`): decoding never panics, and what decodes
//! re-encodes to a value that decodes to the same record. `model.rs` (and `stats.rs`, the
//! numbers it carries) is compiled in from the fleet crate's source (the crate itself pulls etcd and an OCI client, too heavy to
//! build instrumented); it depends on serde and blake3 only.
#![no_main]

#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../crates/hotpack-fleet/src/model.rs"]
mod model;

// What `model.rs` names as `crate::stats` (plain serde data, like `model.rs`).
#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../crates/hotpack-fleet/src/stats.rs"]
mod stats;

use libfuzzer_sys::fuzz_target;

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(record) = serde_json::from_slice::<T>(data) {
        let json = serde_json::to_vec(&record).expect("a decoded record encodes");
        let again: T = serde_json::from_slice(&json).expect("an encoded record decodes");
        assert_eq!(again, record);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<model::ReleaseRecord>(data);
    if let Ok(rollout) = serde_json::from_slice::<model::Rollout>(data) {
        let _ = rollout.percent();
        let _ = rollout.target_for("host-1", "greeter");
    }
    round_trip::<model::Rollout>(data);
    round_trip::<model::HostReport>(data);
});
