//! What the sync remembers per tenant: for each employee the Learn Amp user it was linked to and
//! hashes of what was last applied; for each team its Learn Amp id. Ids and hashes only.

use crate::fields::{AppliedFields, Field};
use crate::mapping::DesiredUser;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmployeeState {
    pub employee_id: String,
    pub learnamp_user_id: Option<u64>,
    /// Whether the Learn Amp user was last left active.
    pub active: bool,
    /// Set once an invitation went out; never cleared, so nobody is invited twice.
    pub invited: bool,
    /// `DesiredUser::state_hash` of what was last applied in full.
    pub applied_hash: Option<String>,
    /// Per-field hashes of what Learn Amp holds, as far as the sync wrote it.
    pub applied_fields: AppliedFields,
    pub source_version: Option<DateTime<Utc>>,
    /// Learn Amp's message for the last permanent failure, if the last attempt failed.
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl EmployeeState {
    pub fn new(employee_id: &str, now: DateTime<Utc>) -> Self {
        Self {
            employee_id: employee_id.to_string(),
            learnamp_user_id: None,
            active: false,
            invited: false,
            applied_hash: None,
            applied_fields: AppliedFields::default(),
            source_version: None,
            last_error: None,
            updated_at: now,
        }
    }

    /// The fields whose desired value differs from what was applied.
    pub fn differing_fields(&self, desired: &DesiredUser) -> Vec<Field> {
        let desired_hashes = desired.field_hashes();
        desired
            .fields()
            .into_iter()
            .filter(|f| self.applied_fields.get(f) != desired_hashes.get(f))
            .collect()
    }

    pub fn is_linked(&self) -> bool {
        self.learnamp_user_id.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamState {
    pub group_id: String,
    pub learnamp_team_id: u64,
    pub name_hash: String,
}
