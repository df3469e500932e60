//! Bundles as OCI artifacts: pushed once (tagged by their blake3), pulled by digest.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};

use crate::error::FleetError;
use crate::model::{BUNDLE_MEDIA_TYPE, CONFIG_MEDIA_TYPE};

/// A client for the fleet's OCI registry.
#[derive(Clone)]
pub struct BundleRegistry {
    client: Client,
    registry: String,
    /// `http://host:port` or `https://host`: where the bounded pull sends its requests.
    base: String,
    http: reqwest::Client,
}

/// The most a manifest may be: a bundle artifact's manifest is well under 2 KiB.
pub const MAX_MANIFEST: u64 = 64 * 1024;

/// How a bounded pull went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullError {
    /// The registry sent or declared something no retry will fix (too big, not a bundle
    /// artifact): the host refuses the release.
    Refused(String),
    /// The registry could not be reached, failed, or was too slow: retried with backoff.
    Failed(String),
}

/// What a pull may take: at most `limit` bytes of layer, before `deadline`.
#[derive(Debug, Clone)]
pub struct PullLimits {
    /// The most bytes of layer read: min(the release record's size, the host's `--max-bundle`).
    pub limit: u64,
    /// When the whole pull (manifest and layer) gives up.
    pub deadline: tokio::time::Instant,
    /// Bytes of layer received so far (for `fetching` reports).
    pub progress: Arc<AtomicU64>,
}

impl std::fmt::Debug for BundleRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleRegistry").field("registry", &self.registry).finish_non_exhaustive()
    }
}

fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another provider may already be installed by the program; that one is used then.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl BundleRegistry {
    /// A client for `registry`: `http://host:port` (plain HTTP, for a loopback or private
    /// registry), `https://host` or a bare `host[:port]` (HTTPS).
    pub fn new(registry: &str) -> Self {
        install_crypto();
        let (protocol, host) = if let Some(rest) = registry.strip_prefix("http://") {
            (ClientProtocol::Http, rest)
        } else if let Some(rest) = registry.strip_prefix("https://") {
            (ClientProtocol::Https, rest)
        } else {
            (ClientProtocol::Https, registry)
        };
        let base = match protocol {
            ClientProtocol::Http => format!("http://{}", host.trim_end_matches('/')),
            _ => format!("https://{}", host.trim_end_matches('/')),
        };
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(std::time::Duration::from_secs(2)),
            read_timeout: Some(std::time::Duration::from_secs(30)),
            ..ClientConfig::default()
        };
        let host = host.trim_end_matches('/').to_owned();
        // Per-read timeout only; the overall deadline is the caller's (PullLimits).
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(2))
            .read_timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        BundleRegistry { client: Client::new(config), registry: host, base, http }
    }

    /// The registry host (`host:port`).
    pub fn host(&self) -> &str {
        &self.registry
    }

    fn reference(&self, text: String) -> Result<Reference, FleetError> {
        text.parse::<Reference>().map_err(|e| FleetError::Reference { reference: text, problem: e.to_string() })
    }

    /// Pushes `bundle` to `repository` tagged `tag` (a no-op upload for blobs already there)
    /// and returns the manifest digest to pull it by.
    ///
    /// # Errors
    ///
    /// [`FleetError::Registry`] when the registry refuses or cannot be reached.
    pub async fn push(
        &self,
        repository: &str,
        tag: &str,
        bundle: Vec<u8>,
        config_json: Vec<u8>,
        annotations: BTreeMap<String, String>,
    ) -> Result<String, FleetError> {
        let text = format!("{}/{repository}:{tag}", self.registry);
        let reference = self.reference(text.clone())?;
        let layers = [ImageLayer::new(bundle, BUNDLE_MEDIA_TYPE.to_owned(), None)];
        let config = Config::new(config_json, CONFIG_MEDIA_TYPE.to_owned(), None);
        let mut manifest = OciImageManifest::build(&layers, &config, Some(annotations));
        manifest.artifact_type = Some(BUNDLE_MEDIA_TYPE.to_owned());
        let pushed = self
            .client
            .push(&reference, &layers, config, &RegistryAuth::Anonymous, Some(manifest))
            .await
            .map_err(|source| FleetError::Registry { reference: text.clone(), operation: "push", source });
        pushed?;
        self.client.fetch_manifest_digest(&reference, &RegistryAuth::Anonymous).await.map_err(|source| {
            FleetError::Registry { reference: text, operation: "read back the manifest digest", source }
        })
    }

    /// Pulls the bundle of the artifact `repository@digest` into `dest` (a new file), reading
    /// the manifest (at most [`MAX_MANIFEST`] bytes) and then its one bundle layer, streamed to
    /// disk while its blake3 is computed, never more than `limits.limit` bytes of it and never
    /// past `limits.deadline`. A manifest that declares a bigger layer is refused before the
    /// layer is asked for. Returns the layer's blake3 and size; the caller compares them with
    /// the release record. Memory stays at one network chunk whatever the registry sends.
    ///
    /// # Errors
    ///
    /// [`PullError::Refused`] for what no retry fixes, [`PullError::Failed`] otherwise.
    pub async fn pull_to(
        &self,
        repository: &str,
        digest: &str,
        dest: &Path,
        limits: &PullLimits,
    ) -> Result<(blake3::Hash, u64), PullError> {
        let what = format!("registry {}/{repository}@{digest}", self.registry);
        match tokio::time::timeout_at(limits.deadline, self.pull_inner(repository, digest, dest, limits, &what)).await {
            Ok(result) => result,
            Err(_) => Err(PullError::Failed(format!(
                "{what}: gave up at the pull deadline after {} of at most {} bytes",
                limits.progress.load(Ordering::Relaxed),
                limits.limit
            ))),
        }
    }

    async fn get(&self, url: &str, accept: &str, what: &str) -> Result<reqwest::Response, PullError> {
        let failed = |e: reqwest::Error| PullError::Failed(format!("{what}: {e}"));
        let response = self.http.get(url).header("Accept", accept).send().await.map_err(failed)?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        // A registry that wants a (possibly anonymous) token: oci-client does that dance.
        let reference = self
            .reference(what.trim_start_matches("registry ").to_owned())
            .map_err(|e| PullError::Refused(e.to_string()))?;
        let token = self
            .client
            .auth(&reference, &RegistryAuth::Anonymous, RegistryOperation::Pull)
            .await
            .map_err(|e| PullError::Failed(format!("{what}: authenticate: {e}")))?;
        let mut request = self.http.get(url).header("Accept", accept);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.map_err(failed)
    }

    async fn pull_inner(
        &self,
        repository: &str,
        digest: &str,
        dest: &Path,
        limits: &PullLimits,
        what: &str,
    ) -> Result<(blake3::Hash, u64), PullError> {
        let url = format!("{}/v2/{repository}/manifests/{digest}", self.base);
        let mut response = self.get(&url, "application/vnd.oci.image.manifest.v1+json", what).await?;
        if !response.status().is_success() {
            return Err(PullError::Failed(format!("{what}: the manifest: HTTP {}", response.status())));
        }
        if response.content_length().is_some_and(|n| n > MAX_MANIFEST) {
            return Err(PullError::Refused(format!(
                "{what}: the manifest declares {} bytes; a bundle manifest is at most {MAX_MANIFEST}",
                response.content_length().unwrap_or_default()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) =
            response.chunk().await.map_err(|e| PullError::Failed(format!("{what}: the manifest: {e}")))?
        {
            if body.len() as u64 + chunk.len() as u64 > MAX_MANIFEST {
                return Err(PullError::Refused(format!(
                    "{what}: the manifest runs past {MAX_MANIFEST} bytes; refused"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let manifest: OciImageManifest = serde_json::from_slice(&body)
            .map_err(|e| PullError::Refused(format!("{what}: not an OCI image manifest: {e}")))?;
        let layer = match manifest.layers.as_slice() {
            [layer] if layer.media_type == BUNDLE_MEDIA_TYPE => layer.clone(),
            layers => {
                return Err(PullError::Refused(format!(
                    "{what}: expected one {BUNDLE_MEDIA_TYPE} layer, found [{}]",
                    layers.iter().map(|l| l.media_type.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
        };
        let declared = u64::try_from(layer.size).unwrap_or(u64::MAX);
        if declared > limits.limit {
            return Err(PullError::Refused(format!(
                "{what}: the manifest declares a {declared}-byte layer, more than the {} bytes this host reads \
                 (min of the release record's size and --max-bundle); refused before reading it",
                limits.limit
            )));
        }
        let url = format!("{}/v2/{repository}/blobs/{}", self.base, layer.digest);
        let mut response = self.get(&url, "application/octet-stream", what).await?;
        if !response.status().is_success() {
            return Err(PullError::Failed(format!("{what}: the layer: HTTP {}", response.status())));
        }
        if let Some(n) = response.content_length()
            && n > limits.limit
        {
            return Err(PullError::Refused(format!(
                "{what}: the registry sends a {n}-byte layer, more than the {} bytes this host reads; refused",
                limits.limit
            )));
        }
        let io = |e: std::io::Error| PullError::Failed(format!("{what}: cannot write {}: {e}", dest.display()));
        let mut file = std::fs::File::create_new(dest).map_err(io)?;
        let mut hasher = blake3::Hasher::new();
        let mut total = 0u64;
        while let Some(chunk) =
            response.chunk().await.map_err(|e| PullError::Failed(format!("{what}: the layer: {e}")))?
        {
            total += chunk.len() as u64;
            if total > limits.limit {
                return Err(PullError::Refused(format!(
                    "{what}: the registry sent more than the {} bytes this host reads; refused",
                    limits.limit
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(io)?;
            limits.progress.store(total, Ordering::Relaxed);
        }
        file.sync_all().map_err(io)?;
        Ok((hasher.finalize(), total))
    }
}
