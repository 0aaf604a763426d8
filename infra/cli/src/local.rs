//! Both sandboxes, started in-process with fixed local credentials, and the sync configuration
//! that points at them.

use crate::sync_cmd::SyncConfig;
use sandbox::{Company, KomboSandbox, LearnAmpSandbox, RunningServer};
use std::path::PathBuf;
use sync_core::{RunOptions, TenantSettings};

pub const KOMBO_API_KEY: &str = "sandbox-kombo-api-key";
pub const INTEGRATION_ID: &str = "personio:sandbox-acme";
pub const LEARNAMP_CLIENT_ID: &str = "sandbox-client-id";
pub const LEARNAMP_CLIENT_SECRET: &str = "sandbox-client-secret";

pub struct LocalSandboxes {
    pub kombo: KomboSandbox,
    pub learnamp: LearnAmpSandbox,
    pub kombo_server: RunningServer,
    pub learnamp_server: RunningServer,
}

impl LocalSandboxes {
    pub async fn start(
        company: Company,
        kombo_port: u16,
        learnamp_port: u16,
    ) -> std::io::Result<Self> {
        let kombo = KomboSandbox::new(KOMBO_API_KEY, INTEGRATION_ID, company);
        let learnamp = LearnAmpSandbox::new(LEARNAMP_CLIENT_ID, LEARNAMP_CLIENT_SECRET);
        let kombo_server = kombo.start(kombo_port).await?;
        let learnamp_server = learnamp.start(learnamp_port).await?;
        Ok(Self {
            kombo,
            learnamp,
            kombo_server,
            learnamp_server,
        })
    }

    pub fn sync_config(&self, settings: TenantSettings, state_dir: PathBuf) -> SyncConfig {
        SyncConfig {
            kombo_url: self.kombo_server.base_url.clone(),
            kombo_api_key: KOMBO_API_KEY.into(),
            learnamp_url: self.learnamp_server.base_url.clone(),
            learnamp_client_id: LEARNAMP_CLIENT_ID.into(),
            learnamp_client_secret: LEARNAMP_CLIENT_SECRET.into(),
            learnamp_scope: None,
            settings,
            state_dir,
            options: RunOptions::default(),
            concurrency: 8,
            max_run: std::time::Duration::from_secs(3600),
        }
    }

    pub async fn shutdown(self) {
        self.kombo_server.shutdown().await;
        self.learnamp_server.shutdown().await;
    }
}
