//! The Learn Amp account (checked, then its secret written to the secret store), the sync
//! settings, and the Personio custom fields a mapping can name.

use crate::error::{ApiError, ApiResult};
use crate::http::Response;
use crate::views;
use crate::AdminDeps;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sync_core::error::TargetError;
use sync_core::settings::{CustomFieldMapping, DeactivateOn, InvitePolicy, Scope};
use sync_core::tenants::{change_tenant, KomboConnection, TenantConfig};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnAmpBody {
    base_url: String,
    client_id: String,
    client_secret: String,
}

/// `https://host[:port][/path]`, nothing else; locally `http://127.0.0.1` or `localhost` too.
fn valid_base_url(url: &str, local: bool) -> bool {
    let rest = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => rest,
        (None, Some(rest)) if local => {
            let host = rest.split(['/', ':']).next().unwrap_or_default();
            if host != "127.0.0.1" && host != "localhost" {
                return false;
            }
            rest
        }
        _ => return false,
    };
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    url.len() <= 200
        && !host.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'/' | b':' | b'_'))
}

pub async fn put_learnamp(tenant: &str, body: LearnAmpBody, deps: &AdminDeps<'_>) -> ApiResult {
    let base_url = body.base_url.trim().trim_end_matches('/').to_string();
    let client_id = body.client_id.trim().to_string();
    let secret = body.client_secret.trim().to_string();
    if !valid_base_url(&base_url, deps.local) {
        return Err(ApiError::invalid(
            "base_url",
            "Enter the API Base URL from Learn Amp's Company Settings → API (https://…).",
        ));
    }
    if !(1..=256).contains(&client_id.len()) {
        return Err(ApiError::invalid(
            "client_id",
            "Enter the client id from Learn Amp's Company Settings → API.",
        ));
    }
    if !(1..=1024).contains(&secret.len()) {
        return Err(ApiError::invalid(
            "client_secret",
            "Enter the client secret from Learn Amp's Company Settings → API.",
        ));
    }
    if let Err(e) = deps
        .learnamp_check
        .check(&base_url, &client_id, &secret)
        .await
    {
        tracing::info!(
            tenant,
            retryable = e.is_retryable(),
            "admin: Learn Amp credentials refused or not checked"
        );
        return Err(match e {
            TargetError::Transient(_) => ApiError::new(
                502,
                format!("Learn Amp could not be reached at {base_url}: check the API Base URL, or try again in a minute."),
            ),
            TargetError::Unauthorized(_) | TargetError::Forbidden(_) | TargetError::Rejected { .. } | TargetError::NotFound => ApiError::new(
                422,
                "Learn Amp refused these credentials: check the client id and secret under Company Settings → API.",
            ),
            TargetError::Decode(_) | TargetError::Protocol(_) => ApiError::invalid(
                "base_url",
                "This address did not answer as Learn Amp's API does: check the API Base URL under Company Settings → API.",
            ),
        });
    }
    let config = views::tenant_or_new(tenant, deps).await?;
    // An operator-registered tenant keeps the parameter its operator chose, when it lies where
    // this function may write.
    let prefix = format!("{}/", deps.secret_prefix.trim_end_matches('/'));
    let secret_ref = if config.learnamp_client_secret_ref.starts_with(&prefix) {
        config.learnamp_client_secret_ref.clone()
    } else {
        deps.secret_name(tenant)
    };
    if let Err(e) = deps.secrets.put_secret(&secret_ref, &secret).await {
        tracing::error!(tenant, error = %e, retryable = e.is_retryable(), "admin: Learn Amp secret not written");
        return Err(ApiError::new(
            503,
            "The credentials could not be saved just now: try again in a minute.",
        ));
    }
    // Over whatever a webhook or another request wrote meanwhile: only these fields change.
    let save = |stored: Option<TenantConfig>| {
        let mut config = stored.unwrap_or_else(|| views::new_tenant(tenant));
        config.learnamp_base_url = base_url.clone();
        config.learnamp_client_id = client_id.clone();
        config.learnamp_client_secret_ref = secret_ref.clone();
        Ok::<_, ApiError>(Some(config))
    };
    let config = change_tenant(deps.tenants, tenant, save).await?;
    tracing::info!(tenant, "admin: Learn Amp credentials saved");
    Ok(Response::json(
        200,
        &json!({ "learnamp": views::learnamp(config.as_ref()) }),
    ))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    invite_policy: InvitePolicy,
    time_zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deactivate_on: Option<DeactivateOn>,
    location: LocationBody,
    custom_fields: Vec<CustomFieldBody>,
    scope: ScopeBody,
    deactivation_guard: GuardBody,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationBody {
    sync: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomFieldBody {
    personio_key: String,
    learnamp_field: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeBody {
    #[serde(default)]
    legal_entity_ids: Vec<String>,
    #[serde(default)]
    employment_types: Vec<String>,
    #[serde(default)]
    group_ids: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardBody {
    max_percent: f64,
    max_count: Option<u64>,
}

fn settings_view(settings: &sync_core::TenantSettings) -> SettingsBody {
    SettingsBody {
        invite_policy: settings.invite_policy,
        time_zone: settings.time_zone.name().to_string(),
        deactivate_on: Some(settings.deactivate_on),
        location: LocationBody {
            sync: settings.sync_location,
        },
        custom_fields: settings
            .custom_fields
            .iter()
            .map(|m| CustomFieldBody {
                personio_key: m.source.clone(),
                learnamp_field: m.target.clone(),
            })
            .collect(),
        scope: ScopeBody {
            legal_entity_ids: settings.scope.legal_entity_ids.clone(),
            employment_types: settings.scope.employment_types.clone(),
            group_ids: settings.scope.group_ids.clone(),
        },
        deactivation_guard: GuardBody {
            max_percent: settings.max_deactivation_percent,
            max_count: settings.max_deactivations.map(|n| n as u64),
        },
    }
}

pub async fn get_settings(tenant: &str, deps: &AdminDeps<'_>) -> ApiResult {
    let config = views::tenant_or_new(tenant, deps).await?;
    Ok(Response::json(200, &settings_view(&config.settings)))
}

fn name_list(field: &'static str, values: Vec<String>) -> Result<Vec<String>, ApiError> {
    if values.len() > 200 {
        return Err(ApiError::invalid(
            field,
            format!("{field}: 200 values at most."),
        ));
    }
    values
        .into_iter()
        .map(|v| {
            let v = v.trim().to_string();
            if (1..=128).contains(&v.chars().count()) {
                Ok(v)
            } else {
                Err(ApiError::invalid(
                    field,
                    format!("{field}: each value is 1 to 128 characters."),
                ))
            }
        })
        .collect()
}

pub async fn put_settings(tenant: &str, body: SettingsBody, deps: &AdminDeps<'_>) -> ApiResult {
    let time_zone: chrono_tz::Tz =
        body.time_zone.trim().parse().map_err(|_| {
            ApiError::invalid("time_zone", "Choose a time zone such as Europe/Berlin.")
        })?;
    let guard = &body.deactivation_guard;
    if !(0.0..=100.0).contains(&guard.max_percent) {
        return Err(ApiError::invalid(
            "deactivation_guard.max_percent",
            "The deactivation guard's share is a percentage from 0 to 100.",
        ));
    }
    if guard.max_count.is_some_and(|n| n > 1_000_000) {
        return Err(ApiError::invalid(
            "deactivation_guard.max_count",
            "The deactivation guard's count is 1000000 at most.",
        ));
    }
    if body.custom_fields.len() > 50 {
        return Err(ApiError::invalid(
            "custom_fields",
            "50 custom fields at most.",
        ));
    }
    let mut custom_fields = Vec::new();
    for field in body.custom_fields {
        let source = field.personio_key.trim().to_string();
        let target = field.learnamp_field.trim().to_string();
        if !(1..=128).contains(&source.chars().count())
            || !(1..=128).contains(&target.chars().count())
        {
            return Err(ApiError::invalid("custom_fields", "Each custom field names a Personio field and a Learn Amp field, 1 to 128 characters each."));
        }
        if custom_fields
            .iter()
            .any(|m: &CustomFieldMapping| m.target == target)
        {
            return Err(ApiError::invalid("custom_fields", format!("The Learn Amp field \"{target}\" is filled from two Personio fields: keep one.")));
        }
        custom_fields.push(CustomFieldMapping { source, target });
    }
    let scope = Scope {
        legal_entity_ids: name_list("scope.legal_entity_ids", body.scope.legal_entity_ids)?,
        employment_types: name_list("scope.employment_types", body.scope.employment_types)?,
        group_ids: name_list("scope.group_ids", body.scope.group_ids)?,
    };
    // Over whatever a webhook or another request wrote meanwhile: only the settings change.
    let save = |stored: Option<TenantConfig>| {
        let mut config = stored.unwrap_or_else(|| views::new_tenant(tenant));
        let settings = &mut config.settings;
        settings.invite_policy = body.invite_policy;
        settings.time_zone = time_zone;
        if let Some(deactivate_on) = body.deactivate_on {
            settings.deactivate_on = deactivate_on;
        }
        settings.sync_location = body.location.sync;
        settings.custom_fields = custom_fields.clone();
        settings.scope = scope.clone();
        settings.max_deactivation_percent = guard.max_percent;
        settings.max_deactivations = guard.max_count.map(|n| n as usize);
        Ok::<_, ApiError>(Some(config))
    };
    let config = change_tenant(deps.tenants, tenant, save)
        .await?
        .expect("a record was stored");
    tracing::info!(tenant, "admin: settings saved");
    Ok(Response::json(200, &settings_view(&config.settings)))
}

pub async fn custom_fields(tenant: &str, deps: &AdminDeps<'_>) -> ApiResult {
    let config = views::tenant(tenant, deps).await?;
    let integration_id = match config.as_ref().map(|c| (&c.kombo, c.integration_id())) {
        Some((KomboConnection::NotConnected, _)) | None | Some((_, None)) => {
            return Err(ApiError::new(409, "Connect Personio first."))
        }
        Some((_, Some(id))) => id.to_string(),
    };
    let fields = deps.connect.custom_fields(&integration_id).await?;
    let fields: Vec<_> = fields
        .into_iter()
        .map(|f| json!({"key": f.key, "label": f.label.unwrap_or_else(|| f.key.clone())}))
        .collect();
    Ok(Response::json(200, &json!({ "fields": fields })))
}

#[cfg(test)]
mod tests {
    use super::valid_base_url;

    #[test]
    fn learn_amp_is_reached_over_https_only_but_locally() {
        assert!(valid_base_url("https://api.learnamp.com", false));
        assert!(valid_base_url("https://acme.learnamp.com/v1", false));
        for bad in [
            "http://api.learnamp.com",
            "http://127.0.0.1:8080",
            "https://user:pw@api.learnamp.com",
            "https://api.learnamp.com?x=1",
            "https://",
            "ftp://api.learnamp.com",
            "https://api.learnamp.com/<script>",
        ] {
            assert!(!valid_base_url(bad, false), "{bad}");
        }
        assert!(valid_base_url("http://127.0.0.1:8080", true));
        assert!(valid_base_url("http://localhost:8080", true));
        assert!(!valid_base_url("http://10.0.0.1:8080", true));
    }
}
