//! The records Kombo serves, with its JSON field names, and their wire shapes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::util::{kombo_dt, kombo_dt_opt, null_as_default};

/// A company's HRIS data, as Kombo serves it.
#[derive(Clone, Debug, Default)]
pub struct Company {
    pub employees: Vec<KomboEmployee>,
    pub groups: Vec<KomboGroup>,
    pub locations: Vec<KomboLocation>,
}

/// A group (department, team, cost center) as embedded in an employee's `groups`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedGroup {
    pub id: String,
    #[serde(default)]
    pub remote_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `DEPARTMENT`, `TEAM`, `COST_CENTER` or null.
    #[serde(default)]
    pub r#type: Option<String>,
}

/// A work location as embedded in an employee's `work_location`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedLocation {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub r#type: Option<String>,
}

/// An employee with Kombo's JSON field names. On the wire the sandbox adds the fields it does
/// not model (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KomboEmployee {
    pub id: String,
    #[serde(default)]
    pub remote_id: String,
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
    pub personal_email: Option<String>,
    /// `ACTIVE`, `PENDING`, `INACTIVE`, `LEAVE` or a raw HRIS value.
    #[serde(default)]
    pub employment_status: Option<String>,
    #[serde(default)]
    pub employment_type: Option<String>,
    #[serde(default)]
    pub work_location_id: Option<String>,
    #[serde(default)]
    pub legal_entity_id: Option<String>,
    #[serde(default)]
    pub manager_id: Option<String>,
    #[serde(default, with = "kombo_dt_opt")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default, with = "kombo_dt_opt")]
    pub termination_date: Option<DateTime<Utc>>,
    #[serde(default, with = "kombo_dt")]
    pub changed_at: DateTime<Utc>,
    #[serde(default, with = "kombo_dt_opt")]
    pub remote_deleted_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_fields: Map<String, Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub integration_fields: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<EmbeddedGroup>,
    #[serde(default)]
    pub work_location: Option<EmbeddedLocation>,
    #[serde(default)]
    pub legal_entity: Option<Value>,
}

/// A group of `GET /hris/groups`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KomboGroup {
    pub id: String,
    #[serde(default)]
    pub remote_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub r#type: Option<String>,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default, with = "kombo_dt")]
    pub changed_at: DateTime<Utc>,
    #[serde(default, with = "kombo_dt_opt")]
    pub remote_deleted_at: Option<DateTime<Utc>>,
}

/// A work location of `GET /hris/locations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KomboLocation {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub r#type: Option<String>,
    #[serde(default, with = "kombo_dt")]
    pub changed_at: DateTime<Utc>,
    #[serde(default, with = "kombo_dt_opt")]
    pub remote_deleted_at: Option<DateTime<Utc>>,
}

pub(super) fn group_wire(g: &KomboGroup) -> Value {
    let mut v = serde_json::to_value(g).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("remote_data".into(), Value::Null);
    }
    v
}

pub(super) fn location_wire(l: &KomboLocation) -> Value {
    let mut v = serde_json::to_value(l).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("remote_data".into(), Value::Null);
    }
    v
}
