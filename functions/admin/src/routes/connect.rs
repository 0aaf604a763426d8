//! Connecting Personio through Kombo's connection flow: a link for this tenant, the token its
//! completion gives, a relink for a broken connection, disconnecting.

use crate::error::{ApiError, ApiResult};
use crate::http::Response;
use crate::views;
use crate::AdminDeps;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use sync_core::connect::{ConnectLanguage, IntegrationStatus, LinkRequest};
use sync_core::error::{SourceError, StoreError};
use sync_core::tenants::{change_tenant, BindRefusal, KomboConnection, TenantConfig};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    email: String,
    organization_name: String,
    #[serde(default)]
    language: ConnectLanguage,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    token: String,
}

fn operator_managed() -> ApiError {
    ApiError::new(
        409,
        "This integration is managed by our team: contact support to change its connection.",
    )
}

/// Refuses a new connection while one works (or is only broken: relink it).
fn refuse_second(config: &TenantConfig) -> Result<(), ApiError> {
    match &config.kombo {
        KomboConnection::TenantIdIsIntegration => Err(operator_managed()),
        KomboConnection::Connected { status, .. } if *status != IntegrationStatus::Inactive => {
            let relink = *status == IntegrationStatus::Invalid;
            Err(ApiError::new(
                409,
                if relink {
                    "Personio is already connected, but its connection broke: reconnect it instead of adding another."
                } else {
                    "Personio is already connected: disconnect it first to connect another."
                },
            )
            .with("relink", relink))
        }
        _ => Ok(()),
    }
}

pub async fn link(tenant: &str, body: LinkBody, deps: &AdminDeps<'_>) -> ApiResult {
    let email = body.email.trim();
    if !(3..=254).contains(&email.len())
        || !email.contains('@')
        || email.contains(char::is_whitespace)
    {
        return Err(ApiError::invalid("email", "Enter your email address."));
    }
    let organization = body.organization_name.trim();
    if !(1..=200).contains(&organization.chars().count()) {
        return Err(ApiError::invalid(
            "organization_name",
            "Enter your organisation's name (200 characters at most).",
        ));
    }
    match views::refreshed(tenant, deps, Utc::now()).await? {
        Some(config) => refuse_second(&config)?,
        // Stored now, so that Kombo's `integration-created` webhook finds the tenant its
        // `end_user.origin_id` names and binds the integration, whichever arrives first.
        None => match deps
            .tenants
            .update_tenant(&mut views::new_tenant(tenant))
            .await
        {
            // Stored meanwhile (another tab of the page): that record stands.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        },
    }
    let link = deps
        .connect
        .create_link(&LinkRequest {
            tenant_id: tenant.to_string(),
            end_user_email: email.to_string(),
            end_user_organization_name: organization.to_string(),
            language: body.language,
        })
        .await?;
    tracing::info!(tenant, "admin: connection link created");
    Ok(Response::json(200, &json!({ "link": link })))
}

pub async fn complete(
    tenant: &str,
    body: CompleteBody,
    deps: &AdminDeps<'_>,
    now: DateTime<Utc>,
) -> ApiResult {
    let token = body.token.trim();
    if !(1..=512).contains(&token.len())
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    {
        return Err(ApiError::invalid(
            "token",
            "This is not a connection token from Kombo: connect again.",
        ));
    }
    let expired = || {
        ApiError::new(
            422,
            "This connection could not be completed (the token is unknown or expired): connect again.",
        )
    };
    let by_token = match deps.connect.integration_by_token(token).await {
        Ok(found) => found,
        Err(SourceError::Rejected { .. }) => return Err(expired()),
        Err(e) => return Err(e.into()),
    };
    // Another tenant's integration is never read further, and nothing of it is shown.
    if by_token.end_user_origin_id.as_deref() != Some(tenant) {
        tracing::warn!(tenant, integration_id = %by_token.integration_id, "admin: token of an integration made for another tenant");
        return Err(ApiError::new(403, BindRefusal::OtherTenant.to_string()));
    }
    let Some(info) = deps.connect.integration(&by_token.integration_id).await? else {
        return Err(expired());
    };
    // The bound integration's statuses as Kombo has them now: a broken one is relinked.
    views::refreshed(tenant, deps, now).await?;
    // Kombo's `integration-created` webhook may bind it at the same moment: then this binds
    // the same integration again, over the webhook's record.
    let bind = |stored: Option<TenantConfig>| {
        let mut config = stored.unwrap_or_else(|| views::new_tenant(tenant));
        match config.bind_integration(&info, now) {
            Ok(bound) => config.set_connection(bound),
            Err(refusal @ BindRefusal::OtherTenant) => {
                return Err(ApiError::new(403, refusal.to_string()))
            }
            Err(refusal @ BindRefusal::NotPersonio { .. }) => {
                return Err(ApiError::new(422, refusal.to_string()))
            }
            Err(BindRefusal::AlreadyConnected { .. })
                if matches!(config.kombo, KomboConnection::TenantIdIsIntegration) =>
            {
                return Err(operator_managed());
            }
            Err(refusal @ BindRefusal::AlreadyConnected { relink, .. }) => {
                return Err(ApiError::new(409, refusal.to_string()).with("relink", relink))
            }
        }
        Ok(Some(config))
    };
    let config = change_tenant(deps.tenants, tenant, bind).await?;
    tracing::info!(tenant, integration_id = %info.integration_id, "admin: integration bound");
    Ok(Response::json(
        200,
        &json!({ "connection": views::connection(config.as_ref()) }),
    ))
}

pub async fn relink(tenant: &str, deps: &AdminDeps<'_>, now: DateTime<Utc>) -> ApiResult {
    let config = views::refreshed(tenant, deps, now).await?;
    match config.as_ref().map(|c| &c.kombo) {
        Some(KomboConnection::Connected {
            integration_id,
            status: IntegrationStatus::Invalid,
            ..
        }) => {
            let link = deps
                .connect
                .relink(integration_id, ConnectLanguage::default())
                .await?;
            tracing::info!(tenant, integration_id = %integration_id, "admin: relink link created");
            Ok(Response::json(200, &json!({ "link": link })))
        }
        Some(KomboConnection::Connected { .. }) => Err(ApiError::new(
            409,
            "The Personio connection works: there is nothing to reconnect.",
        )),
        Some(KomboConnection::TenantIdIsIntegration) => Err(operator_managed()),
        _ => Err(ApiError::new(
            409,
            "Personio is not connected: connect it first.",
        )),
    }
}

pub async fn disconnect(tenant: &str, deps: &AdminDeps<'_>) -> ApiResult {
    let Some(config) = views::tenant(tenant, deps).await? else {
        return Ok(Response::json(
            200,
            &json!({ "connection": views::connection(None) }),
        ));
    };
    match &config.kombo {
        KomboConnection::TenantIdIsIntegration => return Err(operator_managed()),
        KomboConnection::NotConnected => {}
        KomboConnection::Connected { integration_id, .. } => {
            if let Err(e) = deps.connect.delete_integration(integration_id).await {
                // Already gone at Kombo: nothing left to delete.
                if !matches!(deps.connect.integration(integration_id).await, Ok(None)) {
                    return Err(e.into());
                }
            }
            tracing::info!(tenant, integration_id = %integration_id, "admin: integration deleted");
            // Kombo's `integration-deleted` webhook may update the record at the same moment:
            // the tenant is unbound over whatever it wrote. The next connection's first import
            // waits for the admin again.
            let deleted = integration_id.clone();
            let unbind = |stored: Option<TenantConfig>| {
                Ok::<_, ApiError>(stored.filter(|c| c.integration_id() == Some(&deleted)).map(
                    |mut config| {
                        config.set_connection(KomboConnection::NotConnected);
                        config
                    },
                ))
            };
            let config = change_tenant(deps.tenants, tenant, unbind).await?;
            return Ok(Response::json(
                200,
                &json!({ "connection": views::connection(config.as_ref()) }),
            ));
        }
    }
    Ok(Response::json(
        200,
        &json!({ "connection": views::connection(Some(&config)) }),
    ))
}
