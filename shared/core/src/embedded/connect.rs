//! Kombo's connection flow in memory: links, the admin completing them, tokens, integrations and
//! their statuses, as Kombo's spec describes them.

use crate::connect::{
    ConnectLanguage, CustomFieldInfo, IntegrationInfo, IntegrationStatus, KomboConnect,
    LinkRequest, SetupStatus, TokenIntegration,
};
use crate::error::SourceError;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

/// The connection endpoints over integrations held in memory. A link is completed by
/// [`complete_link`](Self::complete_link), as an admin would in Kombo's page; like Kombo, it makes
/// a new integration each time (Kombo does not deduplicate), unless the link was a relink.
#[derive(Default)]
pub struct InMemoryKomboConnect {
    data: Mutex<Data>,
}

#[derive(Default)]
struct Data {
    links: BTreeMap<String, PendingLink>,
    tokens: BTreeMap<String, String>,
    integrations: BTreeMap<String, IntegrationInfo>,
    custom_fields: BTreeMap<String, Vec<CustomFieldInfo>>,
    issued: u64,
}

enum PendingLink {
    New(LinkRequest),
    Relink(String),
}

impl InMemoryKomboConnect {
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().expect("in-memory Kombo connect lock")
    }

    /// The admin completes the flow behind `link`: a new link makes a new `ACTIVE` integration
    /// whose setup is `INCOMPLETE`; a relink makes its integration `ACTIVE` again. Returns the
    /// token Kombo hands the browser, or `None` for a link Kombo never issued.
    pub fn complete_link(&self, link: &str) -> Option<String> {
        let mut data = self.data();
        let pending = data.links.remove(link)?;
        data.issued += 1;
        let token = format!("token-{}", data.issued);
        let integration_id = match pending {
            PendingLink::New(request) => {
                let integration_id = format!("personio:embedded{}", data.issued);
                data.integrations.insert(
                    integration_id.clone(),
                    IntegrationInfo {
                        integration_id: integration_id.clone(),
                        tool: "personio".into(),
                        status: IntegrationStatus::Active,
                        setup_status: SetupStatus::Incomplete,
                        end_user_origin_id: Some(request.tenant_id),
                    },
                );
                integration_id
            }
            PendingLink::Relink(integration_id) => {
                if let Some(integration) = data.integrations.get_mut(&integration_id) {
                    integration.status = IntegrationStatus::Active;
                }
                integration_id
            }
        };
        data.tokens.insert(token.clone(), integration_id);
        Some(token)
    }

    /// An integration made elsewhere (Kombo's dashboard, another link).
    pub fn put_integration(&self, integration: IntegrationInfo) {
        self.data()
            .integrations
            .insert(integration.integration_id.clone(), integration);
    }

    pub fn set_setup_status(&self, integration_id: &str, setup_status: SetupStatus) {
        if let Some(integration) = self.data().integrations.get_mut(integration_id) {
            integration.setup_status = setup_status;
        }
    }

    pub fn set_status(&self, integration_id: &str, status: IntegrationStatus) {
        if let Some(integration) = self.data().integrations.get_mut(integration_id) {
            integration.status = status;
        }
    }

    pub fn put_custom_field(&self, integration_id: &str, field: CustomFieldInfo) {
        self.data()
            .custom_fields
            .entry(integration_id.to_string())
            .or_default()
            .push(field);
    }

    /// Every integration Kombo holds, as the dashboard would list them.
    pub fn integrations(&self) -> Vec<IntegrationInfo> {
        self.data().integrations.values().cloned().collect()
    }

    fn issue_link(&self, pending: PendingLink) -> String {
        let mut data = self.data();
        data.issued += 1;
        let link = format!("https://connect.kombo.invalid/link/{}", data.issued);
        data.links.insert(link.clone(), pending);
        link
    }
}

fn not_found(what: &str) -> SourceError {
    SourceError::Rejected {
        code: "PLATFORM.INPUT_INVALID".into(),
        message: format!("{what} not found"),
    }
}

#[async_trait]
impl KomboConnect for InMemoryKomboConnect {
    async fn create_link(&self, request: &LinkRequest) -> Result<String, SourceError> {
        Ok(self.issue_link(PendingLink::New(request.clone())))
    }

    async fn integration_by_token(&self, token: &str) -> Result<TokenIntegration, SourceError> {
        let data = self.data();
        let integration = data
            .tokens
            .get(token)
            .and_then(|id| data.integrations.get(id))
            .ok_or_else(|| not_found("token"))?;
        Ok(TokenIntegration {
            integration_id: integration.integration_id.clone(),
            tool: integration.tool.clone(),
            end_user_origin_id: integration.end_user_origin_id.clone(),
            setup_status: integration.setup_status.clone(),
        })
    }

    async fn integration(
        &self,
        integration_id: &str,
    ) -> Result<Option<IntegrationInfo>, SourceError> {
        Ok(self.data().integrations.get(integration_id).cloned())
    }

    async fn relink(
        &self,
        integration_id: &str,
        _language: ConnectLanguage,
    ) -> Result<String, SourceError> {
        if !self.data().integrations.contains_key(integration_id) {
            return Err(not_found("integration"));
        }
        Ok(self.issue_link(PendingLink::Relink(integration_id.to_string())))
    }

    /// Like Kombo's HTTP adapter, deleting an integration that is gone succeeds.
    async fn delete_integration(&self, integration_id: &str) -> Result<(), SourceError> {
        let mut data = self.data();
        data.integrations.remove(integration_id);
        data.custom_fields.remove(integration_id);
        data.tokens.retain(|_, id| id != integration_id);
        Ok(())
    }

    async fn custom_fields(
        &self,
        integration_id: &str,
    ) -> Result<Vec<CustomFieldInfo>, SourceError> {
        let data = self.data();
        if !data.integrations.contains_key(integration_id) {
            return Err(not_found("integration"));
        }
        Ok(data
            .custom_fields
            .get(integration_id)
            .map(|fields| {
                fields
                    .iter()
                    .filter(|field| field.model == "hris_employees")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(tenant: &str) -> LinkRequest {
        LinkRequest {
            tenant_id: tenant.into(),
            end_user_email: "admin@example.com".into(),
            end_user_organization_name: "Acme".into(),
            language: ConnectLanguage::En,
        }
    }

    #[tokio::test]
    async fn a_completed_link_names_an_integration_of_its_tenant_and_each_link_makes_another() {
        let kombo = InMemoryKomboConnect::new();
        let link = kombo.create_link(&request("tenant-a")).await.unwrap();
        let token = kombo.complete_link(&link).unwrap();
        let first = kombo.integration_by_token(&token).await.unwrap();
        assert_eq!(first.end_user_origin_id.as_deref(), Some("tenant-a"));
        assert_eq!(first.setup_status, SetupStatus::Incomplete);
        assert_eq!(kombo.complete_link(&link), None, "a link is completed once");

        let again = kombo.create_link(&request("tenant-a")).await.unwrap();
        let second = kombo
            .integration_by_token(&kombo.complete_link(&again).unwrap())
            .await
            .unwrap();
        assert_ne!(first.integration_id, second.integration_id);
        assert_eq!(kombo.integrations().len(), 2, "Kombo does not deduplicate");
    }

    #[tokio::test]
    async fn a_relink_makes_an_invalid_integration_active_again() {
        let kombo = InMemoryKomboConnect::new();
        let link = kombo.create_link(&request("tenant-a")).await.unwrap();
        let token = kombo.complete_link(&link).unwrap();
        let id = kombo
            .integration_by_token(&token)
            .await
            .unwrap()
            .integration_id;
        kombo.set_status(&id, IntegrationStatus::Invalid);
        let relink = kombo.relink(&id, ConnectLanguage::De).await.unwrap();
        kombo.complete_link(&relink).unwrap();
        let info = kombo.integration(&id).await.unwrap().unwrap();
        assert_eq!(info.status, IntegrationStatus::Active);
        assert_eq!(kombo.integrations().len(), 1);
        kombo.delete_integration(&id).await.unwrap();
        assert_eq!(kombo.integration(&id).await.unwrap(), None);
        kombo.delete_integration(&id).await.unwrap();
    }
}
