//! hotpack-fleet: one bundle to many hosts. Bundles live in an OCI registry (pushed once,
//! tagged by their blake3, pulled by digest); the active version per module lives in etcd
//! (a release record per bundle, written once; one rollout key per module, changed only by
//! transactions that compare its revision). Each host runs a [`HostAgent`] that watches the
//! rollout keys, computes its own target (stable, or the canary when its stable bucket falls
//! in the current wave), pulls and checks the bundle, deploys it through a [`Deployer`] (the
//! [`hotpack::Runtime`], with its promotion gates) and reports under a lease. Operators use
//! [`Fleet`]: publish, rollout in waves, promote, rollback (one transaction), status, and
//! [`Fleet::watch_auto`] to roll a failing wave back, or with an [`AnalysisConfig`] to promote
//! each wave by itself when its numbers are no worse than the stable hosts'.
//!
//! Records are signed by the operator's key and hosts follow only what that key signed, with
//! sequence numbers they keep across restarts and an expiry; pulls read at most
//! min(record size, `max_bundle`) bytes, streamed to disk while hashed, under a deadline.
//!
//! The crate is async (tokio); nothing below it is. docs/FLEET.md has the key layout, the
//! state machine and the failure model.
//!
//! ```no_run
//! use std::sync::Arc;
//! use hotpack::archive::{PublicKey, SigningKey};
//! use hotpack_fleet::{Fleet, FleetConfig, HostAgent, HostConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = FleetConfig::new("prod", "http://127.0.0.1:2379", "http://127.0.0.1:5000");
//! // On each host: serve whatever the operator's key signed.
//! let operator = PublicKey::load("/etc/hotpack/operator.key.pub".as_ref())?;
//! let runtime = hotpack::Runtime::builder().build()?;
//! let host = HostConfig::new(config.clone(), "host-1", "/var/lib/hotpack/bundles").operator_keys([operator]);
//! let _agent = HostAgent::spawn(host, Arc::new(runtime))?;
//! // On the operator's machine:
//! let key = SigningKey::load("operator.key".as_ref())?;
//! let fleet = Fleet::connect(config).await?.with_key(key);
//! fleet.publish("greeter-2.0.0.zip".as_ref()).await?;
//! fleet.rollout("greeter", "2.0.0", &[10, 50, 100], true).await?;
//! let outcome = fleet.watch_auto("greeter").await?; // rolls back on the first failed gate
//! # let _ = outcome; Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod agent;
pub mod analysis;
mod auto;
mod error;
mod hostconfig;
pub mod keys;
mod model;
mod operator;
mod registry;
mod runtime;
pub mod signed;
mod stats;

pub use agent::{
    Active, DEFAULT_MAX_BUNDLE, DEFAULT_PULL_DEADLINE, DeployFailure, Deployer, HostAgent, HostConfig, WatchFault,
};
pub use analysis::{AnalysisConfig, CallMeter, CallStats, Outcome, Verdict, judge};
pub use auto::{AnalysisStatus, AutoOutcome, WaveAnalysis};
pub use error::FleetError;
pub use model::{
    ActiveRelease, BUNDLE_MEDIA_TYPE, CONFIG_MEDIA_TYPE, HostReport, HostState, InterfaceRef, Progress, ReleaseRecord,
    RolledBack, Rollout, bucket, in_wave, short,
};
pub use operator::{DEFAULT_VALIDITY, Fleet, FleetConfig, FleetStatus, Published, RolloutStatus, UnreadableRecord};
pub use registry::{BundleRegistry, MAX_MANIFEST, PullError, PullLimits};
pub use signed::{RECORD_FORMAT, Signed};
