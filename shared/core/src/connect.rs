//! Kombo's connection flow, as a port: how a Learn Amp admin connects their Personio without
//! anyone copying an integration id by hand.
//!
//! The flow (Kombo's OpenAPI spec, `/connect/*` and `/integrations/{id}`): we ask Kombo for a
//! connection link naming our tenant as `end_user_origin_id`; the admin completes it in Kombo's
//! page, which hands the browser a short-lived token; the token names the integration, which we
//! bind to the tenant only if its origin id is that tenant. Kombo does not deduplicate
//! integrations: the binding refuses a second active one.
//!
//! Statuses are open enums: a value Kombo adds later is kept as it came, never an error.

use crate::error::SourceError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The language of Kombo's connection page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConnectLanguage {
    #[default]
    En,
    De,
    Fr,
    It,
    Es,
}

impl ConnectLanguage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Fr => "fr",
            Self::It => "it",
            Self::Es => "es",
        }
    }
}

/// What `POST /connect/create-link` is sent. The category is always HRIS and the tool always
/// Personio: the adapter adds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    /// Our tenant id, which Kombo hands back as the integration's `end_user_origin_id`.
    pub tenant_id: String,
    /// The admin who connects (Kombo mails them if the flow needs it). Never logged.
    pub end_user_email: String,
    pub end_user_organization_name: String,
    pub language: ConnectLanguage,
}

macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($variant,)+
            /// A value this version does not know, kept as Kombo sent it.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Other(other) => other,
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                match value.as_str() {
                    $($wire => Self::$variant,)+
                    _ => Self::Other(value),
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.as_str().to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// Kombo's `setup_status`: the first import waits for `COMPLETED` (before it, Kombo's data is
    /// partial, and a partial directory would read as leavers).
    SetupStatus {
        Incomplete => "INCOMPLETE",
        FinalSyncPending => "FINAL_SYNC_PENDING",
        Completed => "COMPLETED",
    }
);

open_enum!(
    /// Kombo's integration `status`: `INVALID` means the credentials broke (offer relink);
    /// `INACTIVE` that it was paused or deleted.
    IntegrationStatus {
        Active => "ACTIVE",
        Invalid => "INVALID",
        Inactive => "INACTIVE",
    }
);

/// What `GET /connect/integration-by-token/{token}` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIntegration {
    pub integration_id: String,
    pub tool: String,
    /// The tenant id the link was created for; `None` when it was created without one (e.g. in
    /// Kombo's dashboard), which no tenant may claim.
    pub end_user_origin_id: Option<String>,
    pub setup_status: SetupStatus,
}

/// What `GET /integrations/{id}` answers, reduced to what the admin page and the binding use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationInfo {
    pub integration_id: String,
    /// The tool's id (`personio`).
    pub tool: String,
    pub status: IntegrationStatus,
    pub setup_status: SetupStatus,
    pub end_user_origin_id: Option<String>,
}

/// One of the customer's custom fields (`GET /integrations/{id}/custom-fields`), to offer in the
/// custom-field mappings. Only the employee model's fields can be mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldInfo {
    /// Kombo's id of the field.
    pub id: String,
    /// The key it has in an employee's `custom_fields`, which a mapping names.
    pub key: String,
    /// The model it belongs to (`hris_employees` for the ones a mapping can use).
    pub model: String,
    pub label: Option<String>,
}

/// Kombo's connection endpoints. Errors are [`SourceError`]s, so that retryable and fatal answers
/// read as they do for the data endpoints.
#[async_trait]
pub trait KomboConnect: Send + Sync {
    /// `POST /connect/create-link`: a link to Kombo's connection page for this tenant.
    async fn create_link(&self, request: &LinkRequest) -> Result<String, SourceError>;
    /// `GET /connect/integration-by-token/{token}`.
    async fn integration_by_token(&self, token: &str) -> Result<TokenIntegration, SourceError>;
    /// `GET /integrations/{id}`; `None` when Kombo does not know it (deleted).
    async fn integration(
        &self,
        integration_id: &str,
    ) -> Result<Option<IntegrationInfo>, SourceError>;
    /// `POST /integrations/{id}/relink`: a link that reconnects an `INVALID` integration.
    async fn relink(
        &self,
        integration_id: &str,
        language: ConnectLanguage,
    ) -> Result<String, SourceError>;
    /// `DELETE /integrations/{id}`: disconnecting deletes the integration at Kombo. Deleting one
    /// Kombo no longer knows succeeds (it is gone either way).
    async fn delete_integration(&self, integration_id: &str) -> Result<(), SourceError>;
    /// `GET /integrations/{id}/custom-fields`, every page, the employee model's only.
    async fn custom_fields(
        &self,
        integration_id: &str,
    ) -> Result<Vec<CustomFieldInfo>, SourceError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_keep_values_this_version_does_not_know() {
        let known: SetupStatus = serde_json::from_str(r#""COMPLETED""#).unwrap();
        assert_eq!(known, SetupStatus::Completed);
        let unknown: IntegrationStatus = serde_json::from_str(r#""PAUSED""#).unwrap();
        assert_eq!(unknown, IntegrationStatus::Other("PAUSED".into()));
        assert_eq!(serde_json::to_string(&unknown).unwrap(), r#""PAUSED""#);
    }
}
