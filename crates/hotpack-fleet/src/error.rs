//! [`FleetError`]: why a fleet operation failed, naming the key, the bundle or the server.

use std::path::PathBuf;

/// Why a fleet operation failed. Hosts keep serving what they serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// etcd refused or could not be reached.
    #[error("etcd {endpoints}: {operation}: {source}")]
    Etcd {
        /// The endpoints tried.
        endpoints: String,
        /// What was being done (naming the key).
        operation: String,
        /// The client's error.
        source: etcd_client::Error,
    },
    /// The OCI registry refused or could not be reached.
    #[error("registry {reference}: {operation}: {source}")]
    Registry {
        /// The reference (`host/repo:tag` or `host/repo@digest`).
        reference: String,
        /// What was being done.
        operation: &'static str,
        /// The client's error.
        source: oci_client::errors::OciDistributionError,
    },
    /// A reference could not be formed (bad registry address or digest).
    #[error("registry reference {reference}: {problem}")]
    Reference {
        /// The reference text.
        reference: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The artifact in the registry is not a hotpack bundle artifact.
    #[error("registry {reference}: {problem}")]
    Artifact {
        /// The reference pulled.
        reference: String,
        /// What was found instead.
        problem: String,
    },
    /// A bundle file could not be read or written.
    #[error("bundle {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A bundle is not a valid hotpack bundle.
    #[error("bundle {}: {source}", path.display())]
    Bundle {
        /// The file.
        path: PathBuf,
        /// What the reader said.
        source: Box<hotpack_archive::BundleError>,
    },
    /// A fleet release is exactly one module.
    #[error("bundle {}: holds {count} modules; a fleet release is exactly one module", path.display())]
    NotOneModule {
        /// The file.
        path: PathBuf,
        /// How many modules it holds.
        count: usize,
    },
    /// A record in etcd is not what this version of hotpack writes.
    #[error("etcd key {key}: {problem}")]
    BadRecord {
        /// The key.
        key: String,
        /// What is wrong with its value.
        problem: String,
    },
    /// A fleet, host or module name that cannot be a key segment.
    #[error("`{name}` is not a valid {what} (1-128 of [A-Za-z0-9_.-])")]
    BadName {
        /// The name.
        name: String,
        /// Fleet, host or module.
        what: &'static str,
    },
    /// No release of that module matches.
    #[error("module `{module}`: no published release matches `{wanted}`")]
    NoRelease {
        /// The module.
        module: String,
        /// The version or blake3 asked for.
        wanted: String,
    },
    /// The operation does not apply to the rollout as it stands.
    #[error("module `{module}`: {problem}")]
    Rollout {
        /// The module.
        module: String,
        /// Why not.
        problem: String,
    },
    /// Another operator changed the rollout between our read and our write.
    #[error("module `{module}`: the rollout key changed since it was read (another operator?); nothing was written")]
    Conflict {
        /// The module.
        module: String,
    },
    /// `promote` was asked before every host of the current wave reported ok.
    #[error("module `{module}`: wave {wave} ({percent}%) is not done: {}", pending.join("; "))]
    WaveNotDone {
        /// The module.
        module: String,
        /// The wave index.
        wave: usize,
        /// Its percentage.
        percent: u8,
        /// Each host of the wave not yet ok, with its state.
        pending: Vec<String>,
    },
    /// A host may not follow a fleet without operator keys (or an explicit allow-unsigned).
    #[error(
        "host {host}: no operator key to check the fleet's records with; pass the operator's public key \
         (--trusted-key / --operator-key), or --allow-unsigned to let anyone who can write to etcd decide what runs here"
    )]
    NoOperatorKey {
        /// The host id.
        host: String,
    },
    /// The release record and the bytes disagree.
    #[error("release {module} {blake3}: {problem}")]
    Mismatch {
        /// The module.
        module: String,
        /// The recorded blake3.
        blake3: String,
        /// What differs.
        problem: String,
    },
}

impl FleetError {
    pub(crate) fn etcd(endpoints: &[String], operation: impl Into<String>, source: etcd_client::Error) -> Self {
        FleetError::Etcd { endpoints: endpoints.join(","), operation: operation.into(), source }
    }
}
