//! Kombo's unified HRIS API, as its OpenAPI spec describes it: the records we read
//! (`/hris/employees`, `/hris/groups`, `/hris/locations`), their envelopes and errors, and the
//! webhook events. Every field the spec marks nullable or optional is an `Option` with a
//! default, and the open enums keep the raw HRIS string they may carry, so no response the spec
//! allows fails to decode.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `null` and an absent key both mean "empty" for the arrays the spec declares non-null,
/// because some connectors send `null` anyway.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An enum Kombo documents with fixed values but may fill with the HRIS's own string: known
/// values get variants, anything else is kept verbatim in `Other`, and both serialise back as
/// the string they came from.
macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(raw) => raw,
                }
            }
        }

        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                match raw {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Ok(Self::from(raw.as_str()))
            }
        }
    };
}

open_enum! {
    /// Kombo's `employment_status`: the four documented values, or the HRIS's own string when
    /// Kombo found no clear mapping.
    EmploymentStatus {
        Active = "ACTIVE",
        Pending = "PENDING",
        Inactive = "INACTIVE",
        Leave = "LEAVE",
    }
}

open_enum! {
    /// A group's `type`. The spec's enum is closed, but an unknown value must not fail a page.
    GroupType {
        Department = "DEPARTMENT",
        Team = "TEAM",
        CostCenter = "COST_CENTER",
    }
}

/// A group as embedded in an employee (`groups[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmployeeGroup {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub group_type: Option<GroupType>,
}

/// The work location embedded in an employee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedLocation {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub location_type: Option<String>,
    /// Set when the location was deleted in the HRIS.
    #[serde(default)]
    pub remote_deleted_at: Option<DateTime<Utc>>,
}

/// The legal entity embedded in an employee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedLegalEntity {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// One of an employee's `integration_fields`: a passthrough field selected in Kombo's dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationField {
    #[serde(default)]
    pub id: Option<String>,
    pub key: String,
    #[serde(default, rename = "type")]
    pub field_type: Option<String>,
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    #[serde(default)]
    pub label: Option<String>,
}

/// An employee from `GET /hris/employees`. Only the fields the sync reads or that help an
/// operator are kept; everything else in the payload (bank accounts, addresses, ...) is ignored
/// on purpose, so that personal data we do not need is never held.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Employee {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub employee_number: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub display_full_name: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub work_email: Option<String>,
    #[serde(default)]
    pub employment_status: Option<EmploymentStatus>,
    #[serde(default)]
    pub employment_type: Option<String>,
    #[serde(default)]
    pub work_location_id: Option<String>,
    #[serde(default)]
    pub legal_entity_id: Option<String>,
    #[serde(default)]
    pub manager_id: Option<String>,
    #[serde(default)]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub termination_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub changed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub remote_deleted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub integration_fields: Vec<IntegrationField>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<EmployeeGroup>,
    #[serde(default)]
    pub work_location: Option<EmbeddedLocation>,
    #[serde(default)]
    pub legal_entity: Option<EmbeddedLegalEntity>,
}

/// A group from `GET /hris/groups` (departments, teams, cost centers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub group_type: Option<GroupType>,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub changed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub remote_deleted_at: Option<DateTime<Utc>>,
}

/// A work location from `GET /hris/locations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub location_type: Option<String>,
    #[serde(default)]
    pub changed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub remote_deleted_at: Option<DateTime<Utc>>,
}

/// `{"status": "success", "data": {"next": ..., "results": [...]}}`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageEnvelope<T> {
    pub status: String,
    pub data: Page<T>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub results: Vec<T>,
}

/// `{"status": "error", "error": {"code", "title", "message", "log_url"}}`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    #[serde(default)]
    pub status: Option<String>,
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub log_url: Option<String>,
}

/// Kombo error codes that mean "the integration is not ready yet; read again later".
pub const NOT_READY_CODES: &[&str] = &[
    "INTEGRATION.SETUP_SYNC_PENDING",
    "INTEGRATION.SETUP_INCOMPLETE",
    "INTEGRATION.QA_FAILED",
];

/// Kombo error codes worth retrying with backoff.
pub const TRANSIENT_CODES: &[&str] = &[
    "PLATFORM.RATE_LIMIT_EXCEEDED",
    "PLATFORM.CONCURRENCY_LIMIT_EXCEEDED",
    "PLATFORM.UNKNOWN_ERROR",
    "PLATFORM.TASK_TIMED_OUT",
    "REMOTE.SERVICE_UNAVAILABLE",
    "REMOTE.RATE_LIMIT_EXCEEDED",
    "REMOTE.UNKNOWN_HTTP_ERROR",
];

/// The `data-changed` webhook (and the other event types we record), as Kombo sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// The models whose change should trigger a sync of users and teams: those the sync reads
/// (employees, groups, locations), and those that feed an employee's fields and move the
/// employees' `updated_after` (per the spec: `employments`, `group_memberships`,
/// `legal_entity`, `work_location`; the legal entity feeds the scope filter). Time-off
/// balances also move `updated_after` but feed nothing the sync writes; absences, timesheets,
/// performance reviews, documents and the like are not read at all.
pub const SYNC_RELEVANT_MODELS: &[&str] = &[
    "hris_employees",
    "hris_employments",
    "hris_teams",
    "hris_join_employees_teams",
    "hris_locations",
    "hris_legal_entities",
];

impl WebhookEvent {
    /// The integration the event is about: `data.integration_id` on `data-changed` and
    /// `integration-state-changed`, `data.id` on `integration-created` / `-deleted`. Only the
    /// lifecycle events fall back to `data.id`: on any other event it is not an integration's.
    pub fn integration_id(&self) -> Option<&str> {
        let lifecycle = matches!(
            self.event_type.as_str(),
            "integration-created" | "integration-deleted" | "integration-state-changed"
        );
        self.data
            .get("integration_id")
            .or_else(|| lifecycle.then(|| self.data.get("id")).flatten())
            .and_then(|v| v.as_str())
    }

    /// The `changed_models[].name` of a `data-changed` event.
    pub fn changed_models(&self) -> Vec<&str> {
        self.data
            .get("changed_models")
            .and_then(|v| v.as_array())
            .map(|models| {
                models
                    .iter()
                    .filter_map(|m| m.get("name").and_then(|n| n.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// True for a `data-changed` event that touches a model the sync reads.
    pub fn needs_sync(&self) -> bool {
        self.event_type == "data-changed"
            && self
                .changed_models()
                .iter()
                .any(|m| SYNC_RELEVANT_MODELS.contains(m))
    }
}
