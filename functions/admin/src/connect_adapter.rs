//! Where Kombo's connection endpoints plug in on AWS: the HTTP client of the [`KomboConnect`]
//! port, with the deployment's API key.

use std::sync::Arc;
use sync_clients::KomboConnectClient;
use sync_core::connect::KomboConnect;

/// Kombo's connection endpoints at `base_url`, with the deployment's API key.
pub fn kombo_connect(base_url: &str, api_key: &str) -> Arc<dyn KomboConnect> {
    Arc::new(KomboConnectClient::new(base_url, api_key))
}
