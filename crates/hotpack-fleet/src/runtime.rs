//! [`Deployer`] for [`hotpack::Runtime`]: the only file that knows the runtime's API, so a
//! rename there is a change here alone.

use std::path::Path;

use hotpack::rollback::{RollbackError, VersionRef};

use crate::agent::{Active, DeployFailure, Deployer};
use crate::model::{HostState, ReleaseRecord};

fn library_hash(release: &ReleaseRecord) -> Result<blake3::Hash, DeployFailure> {
    let hex = release.libraries.get(hotpack::abi::TARGET).ok_or_else(|| DeployFailure {
        state: HostState::Refused,
        reason: format!("{}: no library for target {}", release.label(), hotpack::abi::TARGET),
    })?;
    blake3::Hash::from_hex(hex).map_err(|e| DeployFailure {
        state: HostState::Refused,
        reason: format!("{}: bad library hash {hex}: {e}", release.label()),
    })
}

impl Deployer for hotpack::Runtime {
    fn active(&self, module: &str) -> Option<Active> {
        let active = self.status(module)?.active?;
        Some(Active { version: active.version.to_string(), library: active.hash.to_hex().to_string() })
    }

    fn activate(&self, release: &ReleaseRecord) -> Result<Option<Active>, DeployFailure> {
        let hash = library_hash(release)?;
        match self.rollback_to(&release.module, VersionRef::Hash(hash)) {
            Ok(d) => Ok(Some(Active { version: d.version.to_string(), library: d.hash.to_hex().to_string() })),
            Err(hotpack::Error::Rollback(e)) if matches!(*e, RollbackError::Pinned { .. }) => {
                Err(DeployFailure { state: HostState::Refused, reason: e.to_string() })
            }
            // Not held (never ran here, no longer retained, or failed here before): deploy it.
            Err(_) => Ok(None),
        }
    }

    fn deploy(&self, release: &ReleaseRecord, bundle: &Path) -> Result<Active, DeployFailure> {
        match hotpack::Runtime::deploy(self, bundle) {
            Ok(deployed) => deployed
                .into_iter()
                .find(|d| d.name == release.module)
                .map(|d| Active { version: d.version.to_string(), library: d.hash.to_hex().to_string() })
                .ok_or_else(|| DeployFailure {
                    state: HostState::Refused,
                    reason: format!("{}: the bundle does not hold module `{}`", release.label(), release.module),
                }),
            Err(e) => Err(DeployFailure { state: HostState::Failed, reason: e.to_string() }),
        }
    }

    fn failure(&self, module: &str, library: &str) -> Option<String> {
        let status = self.status(module)?;
        status.failed.iter().rev().find(|f| f.hash.to_hex().as_str() == library).map(|f| f.reason.clone())
    }
}
