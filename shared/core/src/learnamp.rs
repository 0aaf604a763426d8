//! Learn Amp's public API objects, as `reference/learnamp-api-docs` documents them: the user and
//! team objects we read, and the form fields we write (camelCase, form-encoded for users and
//! teams).

use serde::{Deserialize, Serialize};

/// A user as Learn Amp returns it. Only the keys the sync reads; the rest is ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: u64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub integration_external_id: Option<String>,
    #[serde(default)]
    pub hire_date: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub status: Option<StatusLabel>,
    #[serde(default)]
    pub primary_team: Option<TeamSummary>,
    #[serde(default)]
    pub manager: Option<UserSummary>,
    /// Present on expanded users.
    #[serde(default)]
    pub custom_fields: Option<Vec<CustomFieldValue>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomFieldValue {
    pub name: String,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

impl User {
    /// Learn Amp reports status as a display label (`{"status": "Deactivated", ...}`), not an
    /// enum; this is the one reading of it the sync needs.
    pub fn is_deactivated(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.status.eq_ignore_ascii_case("deactivated"))
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
