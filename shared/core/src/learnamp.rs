//! Learn Amp's public API objects, as `reference/learnamp-api-docs` documents them: the user and
//! team objects we read, and the form fields we write (camelCase, form-encoded for users and
//! teams).

use serde::{Deserialize, Serialize};

/// The granular scopes the sync needs: users read, created, updated, deactivated and
/// reactivated; teams read, created and renamed.
pub const SYNC_SCOPES: &str = "users:read users:create users:update users:deactivate users:reactivate teams:read teams:create teams:update";

/// A user as Learn Amp returns it. Only the keys the sync reads; the rest is ignored. Read
/// leniently: the docs show no schema, only examples (`"manager": {}` for no manager, no shape
/// at all for `customFields`), so a key in an unexpected shape reads as absent instead of failing
/// the user. Only `id` is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(deserialize_with = "crate::decode::numeric_id")]
    pub id: u64,
    #[serde(default, deserialize_with = "lenient")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub job_title: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub integration_external_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub hire_date: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub location: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<StatusLabel>,
    #[serde(default, deserialize_with = "lenient")]
    pub primary_team: Option<TeamSummary>,
    /// `{}` (the docs' "no manager") and any other shape without an id read as no manager.
    #[serde(default, deserialize_with = "lenient")]
    pub manager: Option<UserSummary>,
    /// Present on expanded users, in a shape the docs never show: a list of `{name, value}`
    /// (the shape the write takes) or a `{name: value}` map are read; anything else is `None`,
    /// "not known", which a reconcile does not take for drift.
    #[serde(default, deserialize_with = "lenient_custom_fields")]
    pub custom_fields: Option<Vec<CustomFieldValue>>,
    /// Whether the user is deactivated, when a listing filtered by status said so (more
    /// reliable than the display label).
    #[serde(skip)]
    pub listed_deactivated: Option<bool>,
}

/// A value of the expected shape, or `None` for any other (never an error).
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

fn lenient_custom_fields<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<CustomFieldValue>>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(serde_json::from_value::<CustomFieldValue>)
            .collect::<Result<Vec<_>, _>>()
            .ok(),
        // A `{name: value}` map of single values; one of anything else is not that shape.
        serde_json::Value::Object(map) if map.values().all(|v| !v.is_array() && !v.is_object()) => {
            Some(
                map.into_iter()
                    .map(|(name, value)| CustomFieldValue {
                        name,
                        value: Some(value),
                    })
                    .collect(),
            )
        }
        _ => None,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldValue {
    pub name: String,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

impl User {
    /// Whether the user is deactivated: as a status-filtered listing said, or else by the
    /// display label (`{"status": "Deactivated", ...}`) the examples show.
    pub fn is_deactivated(&self) -> bool {
        self.listed_deactivated.unwrap_or_else(|| {
            self.status
                .as_ref()
                .is_some_and(|s| s.status.eq_ignore_ascii_case("deactivated"))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusLabel {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    pub id: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamSummary {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
}

/// A team as Learn Amp returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub integration_external_id: Option<String>,
    #[serde(default)]
    pub parent_team_id: Option<u64>,
}

/// The OAuth2 token response of `POST /oauth/token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<serde_json::Value>,
    /// Seconds; read leniently and clamped by [`TokenResponse::lifetime_secs`].
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
    #[serde(default)]
    pub scope: Option<serde_json::Value>,
    #[serde(default)]
    pub created_at: Option<serde_json::Value>,
}

impl TokenResponse {
    /// The lifetime Learn Amp documents (7200 s), used when the answer gives none we can read.
    pub const DEFAULT_LIFETIME_SECS: u64 = 7200;
    /// A token is kept at least this long, however short a lifetime is announced: a lifetime of
    /// 0 would otherwise cost a token request before every call.
    pub const MIN_LIFETIME_SECS: u64 = 60;
    /// And at most this long: a token answer cannot make the client keep a token for ever (a
    /// refused token is renewed on its first 401 anyway).
    pub const MAX_LIFETIME_SECS: u64 = 24 * 3600;

    /// `expires_in` as whole seconds within [`Self::MIN_LIFETIME_SECS`,
    /// `Self::MAX_LIFETIME_SECS`]: a number or a numeric string (a negative one is the minimum);
    /// anything else (absent, null, text) gives the default.
    pub fn lifetime_secs(&self) -> u64 {
        let secs = self.expires_in.as_ref().and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        });
        match secs {
            Some(s) if s.is_finite() => s.clamp(
                Self::MIN_LIFETIME_SECS as f64,
                Self::MAX_LIFETIME_SECS as f64,
            ) as u64,
            _ => Self::DEFAULT_LIFETIME_SECS,
        }
    }
}

/// Learn Amp's error body: `{"error": "...", "fullErrors": {"field": ["msg"]}}`. The token
/// endpoint (Doorkeeper) adds `error_description`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub full_errors: Option<std::collections::BTreeMap<String, Vec<String>>>,
    #[serde(default, rename = "error_description")]
    pub error_description: Option<String>,
}

/// The form fields of a user create or update. `None` leaves a field out, which on update
/// leaves it unchanged in Learn Amp; only the fields that differ are ever set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserWrite {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub job_title: Option<String>,
    pub hire_date: Option<String>,
    pub location: Option<String>,
    pub integration_external_id: Option<String>,
    pub primary_team_integration_external_id: Option<String>,
    pub manager_id: Option<u64>,
    /// Learn Amp custom field name → value; an empty value clears the field.
    pub custom_fields: Vec<(String, String)>,
    pub skip_invitation: Option<bool>,
    pub reactivate: bool,
}

impl UserWrite {
    /// The camelCase form fields, in a stable order.
    pub fn form_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = Vec::new();
        let mut push = |name: &'static str, value: &Option<String>| {
            if let Some(v) = value {
                fields.push((name, v.clone()));
            }
        };
        push("email", &self.email);
        push("firstName", &self.first_name);
        push("lastName", &self.last_name);
        push("jobTitle", &self.job_title);
        push("hireDate", &self.hire_date);
        push("location", &self.location);
        push("integrationExternalId", &self.integration_external_id);
        push(
            "primaryTeamIntegrationExternalId",
            &self.primary_team_integration_external_id,
        );
        if let Some(id) = self.manager_id {
            fields.push(("managerId", id.to_string()));
        }
        // Rack's array-of-hashes form: each `name` opens the next `{name, value}` pair.
        for (name, value) in &self.custom_fields {
            fields.push(("customFields[][name]", name.clone()));
            fields.push(("customFields[][value]", value.clone()));
        }
        if let Some(skip) = self.skip_invitation {
            fields.push(("skipInvitation", skip.to_string()));
        }
        if self.reactivate {
            fields.push(("reactivate", "true".to_string()));
        }
        fields
    }

    pub fn is_empty(&self) -> bool {
        self.form_fields().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_decodes_the_documented_examples() {
        let basic = r#"{"id": 1, "firstName": "Test", "lastName": "User", "jobTitle": "Developer",
            "email": "test@email.com", "timeZone": "London", "language": "en", "role": "viewer",
            "integrationExternalId": "EPOS-12345", "hireDate": "2021-01-15",
            "profileUrl": "https://testaccount.learnamp.com/en/users/1",
            "status": {"status": "Confirmed", "time": "On 29 Nov 16"}}"#;
        let user: User = serde_json::from_str(basic).unwrap();
        assert_eq!(user.id, 1);
        assert_eq!(user.integration_external_id.as_deref(), Some("EPOS-12345"));
        assert!(!user.is_deactivated());

        let expanded = r#"{"id": 1382, "email": "jim@test.com", "integrationExternalId": null,
            "status": {"status": "Deactivated", "time": "On 25 Sep 19"},
            "location": null, "primaryTeam": null, "secondaryTeams": [],
            "manager": {"id": 1, "firstName": "Test"}}"#;
        let user: User = serde_json::from_str(expanded).unwrap();
        assert!(user.is_deactivated());
        assert_eq!(user.manager.map(|m| m.id), Some(1));
        assert_eq!(user.primary_team, None);
    }

    #[test]
    fn odd_shapes_the_docs_allow_read_as_absent_not_as_errors() {
        let odd = r#"{"id": "1383", "email": "ada@example.com", "manager": {},
            "customFields": "unexpected", "status": "Confirmed", "location": {"name": "Berlin"},
            "primaryTeam": {"id": 379, "name": "Team 1", "manager": {}}, "newKey": [1, 2]}"#;
        let user: User = crate::decode::decode_str(odd).unwrap();
        assert_eq!(user.id, 1383);
        assert_eq!(user.manager, None);
        assert_eq!(user.custom_fields, None);
        assert_eq!(user.status, None);
        assert_eq!(user.location, None);
        assert_eq!(user.primary_team.map(|t| t.id), Some(379));
        let as_map: User =
            serde_json::from_str(r#"{"id": 1, "customFields": {"Cost Center": "CC-1"}}"#).unwrap();
        assert_eq!(
            as_map.custom_fields,
            Some(vec![CustomFieldValue {
                name: "Cost Center".into(),
                value: Some(serde_json::json!("CC-1"))
            }])
        );
        assert!(crate::decode::decode_str::<User>(r#"{"email": "x@example.com"}"#).is_err());
    }

    #[test]
    fn form_fields_hold_only_what_is_set() {
        let write = UserWrite {
            job_title: Some("Engineer".into()),
            manager_id: Some(7),
            reactivate: true,
            ..Default::default()
        };
        assert_eq!(
            write.form_fields(),
            vec![
                ("jobTitle", "Engineer".to_string()),
                ("managerId", "7".to_string()),
                ("reactivate", "true".to_string())
            ]
        );
        assert!(UserWrite::default().is_empty());
    }
}
