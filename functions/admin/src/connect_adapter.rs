//! THE place where Kombo's connection endpoints plug in on AWS.
//!
//! The HTTP client of the [`KomboConnect`] port (`sync_clients::KomboConnectClient`) is being
//! built alongside this function; until it lands, [`kombo_connect`] answers every connection
//! call with a retryable error that says so, and the rest of the admin API works. Wiring it
//! in is this one function: `Arc::new(KomboConnectClient::new(base_url, api_key))`.

use async_trait::async_trait;
use std::sync::Arc;
use sync_core::connect::{
    ConnectLanguage, CustomFieldInfo, IntegrationInfo, KomboConnect, LinkRequest, TokenIntegration,
};
use sync_core::error::SourceError;

/// Kombo's connection endpoints at `base_url`, with the deployment's API key.
pub fn kombo_connect(base_url: &str, api_key: &str) -> Arc<dyn KomboConnect> {
    let _ = (base_url, api_key);
    Arc::new(NotWiredYet)
}

struct NotWiredYet;

fn not_wired() -> SourceError {
    SourceError::Transient {
        code: "NOT_WIRED".into(),
        message: "the Kombo connection client is not wired into the admin function yet".into(),
    }
}

#[async_trait]
impl KomboConnect for NotWiredYet {
    async fn create_link(&self, _: &LinkRequest) -> Result<String, SourceError> {
        Err(not_wired())
    }
    async fn integration_by_token(&self, _: &str) -> Result<TokenIntegration, SourceError> {
        Err(not_wired())
    }
    async fn integration(&self, _: &str) -> Result<Option<IntegrationInfo>, SourceError> {
        Err(not_wired())
    }
    async fn relink(&self, _: &str, _: ConnectLanguage) -> Result<String, SourceError> {
        Err(not_wired())
    }
    async fn delete_integration(&self, _: &str) -> Result<(), SourceError> {
        Err(not_wired())
    }
    async fn custom_fields(&self, _: &str) -> Result<Vec<CustomFieldInfo>, SourceError> {
        Err(not_wired())
    }
}
