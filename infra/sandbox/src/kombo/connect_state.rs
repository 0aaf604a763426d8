//! The connection flow's state: links, tokens, integrations, custom fields added by hand, the
//! webhook target and the outbox (see `connect` for what the API does with them).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An integration as the sandbox holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxIntegration {
    pub id: String,
    pub tool: String,
    /// `ACTIVE`, `INVALID` or `INACTIVE`.
    pub status: String,
    /// `INCOMPLETE`, `FINAL_SYNC_PENDING` or `COMPLETED`.
    pub setup_status: String,
    pub origin_id: Option<String>,
    pub organization_name: String,
    pub creator_email: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A custom field of the company, as `GET /integrations/{id}/custom-fields` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxCustomField {
    pub key: String,
    /// `hris_employees` for the employee's fields.
    pub model: String,
    pub label: Option<String>,
}

/// A webhook the sandbox sent (or would have, without a URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentWebhook {
    pub event_type: String,
    /// The exact body signed.
    pub body: String,
    /// Its `X-Kombo-Signature`.
    pub signature: String,
    /// The receiver's HTTP status; `None` when no URL was set or the receiver did not answer.
    pub delivered: Option<u16>,
}

pub(super) enum PendingLink {
    New {
        origin_id: Option<String>,
        organization_name: String,
        creator_email: String,
    },
    Relink(String),
}

pub(super) struct Link {
    pub(super) pending: PendingLink,
    pub(super) expires: Instant,
}

#[derive(Default)]
pub(super) struct ConnectState {
    pub(super) links: HashMap<String, Link>,
    pub(super) tokens: HashMap<String, (String, Instant)>,
    pub(super) integrations: BTreeMap<String, SandboxIntegration>,
    pub(super) extra_fields: Vec<SandboxCustomField>,
    pub(super) webhook_url: Option<String>,
    pub(super) webhook_secret: String,
    pub(super) outbox: Vec<SentWebhook>,
    pub(super) setup_delay: Option<Duration>,
}

impl ConnectState {
    /// The state of a sandbox whose own integration is `integration_id`.
    pub(super) fn new(integration_id: &str) -> Self {
        let mut state = Self::default();
        let tool = integration_id
            .split_once(':')
            .map_or("personio", |(tool, _)| tool);
        state.integrations.insert(
            integration_id.to_string(),
            SandboxIntegration {
                id: integration_id.to_string(),
                tool: tool.to_string(),
                status: "ACTIVE".into(),
                setup_status: "COMPLETED".into(),
                origin_id: None,
                organization_name: "Sandbox company".into(),
                creator_email: None,
                created_at: Utc::now(),
            },
        );
        state
    }
}
