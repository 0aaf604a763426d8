//! The sandbox's public data types: what tests seed it with, how they shape its answers, and
//! what they read back (users, teams, call counts).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// The id of the account owner seeded in every sandbox.
pub const OWNER_ID: u64 = 1;
/// The email of the seeded account owner.
pub const OWNER_EMAIL: &str = "owner@sandbox.learnamp.test";

/// A user that existed before the integration (e.g. created by hand).
#[derive(Clone, Debug, Default)]
pub struct SeedUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub integration_external_id: Option<String>,
    pub deactivated: bool,
}

/// Shapes of the user object the docs allow and the sandbox can answer in: the docs show no
/// schema, only examples.
#[derive(Debug, Clone, Default)]
pub struct UserShape {
    /// "No manager" as `{}` (as the docs' examples show it), not `null`.
    pub empty_manager: bool,
    /// `customFields` of every expanded user replaced by this value (the docs never show it).
    pub custom_fields: Option<Value>,
    /// One more key on every expanded user.
    pub extra_field: Option<(String, Value)>,
    /// Status labels in another language (the label is display text, not an enum).
    pub localized_status: bool,
}

/// A user as the sandbox stores it.
#[derive(Serialize, Clone, Debug)]
pub struct SandboxUser {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub job_title: Option<String>,
    /// `YYYY-MM-DD`.
    pub hire_date: Option<String>,
    pub location: Option<String>,
    pub department: Option<String>,
    pub integration_external_id: Option<String>,
    pub primary_team_id: Option<u64>,
    pub secondary_team_ids: Vec<u64>,
    /// The override manager.
    pub manager_id: Option<u64>,
    /// `not_invited`, `invite_pending`, `confirmed` or `deactivated`.
    pub status: String,
    pub invitations_sent: u32,
    pub custom_fields: BTreeMap<String, String>,
    pub role: String,
}

/// A team as the sandbox stores it.
#[derive(Serialize, Clone, Debug)]
pub struct SandboxTeam {
    pub id: u64,
    pub name: String,
    pub integration_external_id: Option<String>,
    pub parent_team_id: Option<u64>,
    pub manager_id: Option<u64>,
}

/// Everything in the sandbox, ordered by id.
#[derive(Serialize, Clone, Debug)]
pub struct LearnAmpSnapshot {
    pub users: Vec<SandboxUser>,
    pub teams: Vec<SandboxTeam>,
}

impl LearnAmpSnapshot {
    /// The user with this integration external id.
    pub fn user_by_external_id(&self, ext: &str) -> Option<&SandboxUser> {
        self.users
            .iter()
            .find(|u| u.integration_external_id.as_deref() == Some(ext))
    }

    /// The user with this email (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<&SandboxUser> {
        self.users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// The team with this integration external id.
    pub fn team_by_external_id(&self, ext: &str) -> Option<&SandboxTeam> {
        self.teams
            .iter()
            .find(|t| t.integration_external_id.as_deref() == Some(ext))
    }
}

/// Requests received, by route template (`"METHOD /route/template"`).
#[derive(Serialize, Clone, Debug, Default)]
pub struct CallCounts {
    /// Every request, those the fault layer answered (429, 503) included.
    pub by_endpoint: BTreeMap<String, u64>,
    pub total: u64,
    /// The requests that got past the fault layer to the API itself: what Learn Amp did.
    pub served_by_endpoint: BTreeMap<String, u64>,
}

impl CallCounts {
    /// POST/PUT/PATCH/DELETE requests under `/v1` (the token endpoint is not a write).
    pub fn writes(&self) -> u64 {
        writes_of(&self.by_endpoint)
    }

    /// The writes that reached the API (not turned away by an injected fault or the rate limit).
    pub fn served_writes(&self) -> u64 {
        writes_of(&self.served_by_endpoint)
    }

    /// The count of one key, 0 if never called.
    pub fn get(&self, key: &str) -> u64 {
        self.by_endpoint.get(key).copied().unwrap_or(0)
    }
}

fn writes_of(by_endpoint: &BTreeMap<String, u64>) -> u64 {
    by_endpoint
        .iter()
        .filter(|(k, _)| {
            k.split_once(' ').is_some_and(|(m, p)| {
                matches!(m, "POST" | "PUT" | "PATCH" | "DELETE") && p.starts_with("/v1")
            })
        })
        .map(|(_, n)| n)
        .sum()
}
