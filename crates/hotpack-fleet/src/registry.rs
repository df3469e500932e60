//! Bundles as OCI artifacts: pushed once (tagged by their blake3), pulled by digest.

use std::collections::BTreeMap;
use std::sync::Once;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::OciImageManifest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::error::FleetError;
use crate::model::{BUNDLE_MEDIA_TYPE, CONFIG_MEDIA_TYPE};

/// A client for the fleet's OCI registry.
#[derive(Clone)]
pub struct BundleRegistry {
    client: Client,
    registry: String,
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
        let config = ClientConfig {
            protocol,
            connect_timeout: Some(std::time::Duration::from_secs(2)),
            read_timeout: Some(std::time::Duration::from_secs(30)),
            ..ClientConfig::default()
        };
        BundleRegistry { client: Client::new(config), registry: host.trim_end_matches('/').to_owned() }
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

    /// Pulls the bundle of the artifact `repository@digest`: the manifest by digest, then its
    /// one bundle layer by digest (the client checks the sha256 of both).
    ///
    /// # Errors
    ///
    /// [`FleetError::Registry`] when the registry refuses or cannot be reached,
    /// [`FleetError::Artifact`] when the manifest is not a hotpack bundle artifact.
    pub async fn pull(&self, repository: &str, digest: &str) -> Result<Vec<u8>, FleetError> {
        let text = format!("{}/{repository}@{digest}", self.registry);
        let reference = self.reference(text.clone())?;
        let (manifest, _) =
            self.client.pull_image_manifest(&reference, &RegistryAuth::Anonymous).await.map_err(|source| {
                FleetError::Registry { reference: text.clone(), operation: "pull the manifest", source }
            })?;
        let layer = match manifest.layers.as_slice() {
            [layer] if layer.media_type == BUNDLE_MEDIA_TYPE => layer.clone(),
            layers => {
                return Err(FleetError::Artifact {
                    reference: text,
                    problem: format!(
                        "expected one {BUNDLE_MEDIA_TYPE} layer, found [{}]",
                        layers.iter().map(|l| l.media_type.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        };
        let mut out = Vec::with_capacity(usize::try_from(layer.size).unwrap_or(0));
        self.client.pull_blob(&reference, &layer, &mut out).await.map_err(|source| FleetError::Registry {
            reference: text,
            operation: "pull the bundle layer",
            source,
        })?;
        Ok(out)
    }
}
