//! Per-tenant settings. A tenant is one Learn Amp account connected to one Personio through one
//! Kombo integration; its key is the Kombo `integration_id`.

use crate::kombo::{Employee, GroupType};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// When a new Learn Amp user gets its invitation. Learn Amp can only invite at creation (through
/// `skipInvitation`), so the policy decides when and how a user is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InvitePolicy {
    /// Create and invite as soon as the employee appears (pre-hires included).
    Immediately,
    /// Create, and so invite, on the first run on or after the hire date.
    OnHireDate,
    /// Create without an invitation (`skipInvitation=true`); admins invite by hand.
    #[default]
    Manual,
}

impl InvitePolicy {
    pub const NAMES: &'static str = "immediately, on_hire_date or manual";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Immediately => "immediately",
            Self::OnHireDate => "on_hire_date",
            Self::Manual => "manual",
        }
    }
}

impl fmt::Display for InvitePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InvitePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "immediately" => Ok(Self::Immediately),
            "on_hire_date" => Ok(Self::OnHireDate),
            "manual" => Ok(Self::Manual),
            other => Err(format!(
                "unknown invite policy '{other}': expected {}",
                Self::NAMES
            )),
        }
    }
}

/// From which day a leaver's Learn Amp user is deactivated. Kombo's `termination_date` is the
/// day the employment ends: the employee still works that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DeactivateOn {
    /// The day after the termination date, in the tenant's time zone: the last day is worked
    /// with access.
    #[default]
    DayAfterTermination,
    /// The termination date itself.
    TerminationDate,
}

impl DeactivateOn {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DayAfterTermination => "day_after_termination",
            Self::TerminationDate => "termination_date",
        }
    }

    /// Whether an employment whose termination date is `termination` has ended for access on
    /// `today`.
    pub fn has_ended(self, termination: chrono::NaiveDate, today: chrono::NaiveDate) -> bool {
        match self {
            Self::DayAfterTermination => termination < today,
            Self::TerminationDate => termination <= today,
        }
    }
}

impl fmt::Display for DeactivateOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantSettings {
    /// The Kombo integration id, e.g. `personio:CBNMt7dSNCzBdnRTx87dev4E`.
    pub tenant_id: String,
    pub invite_policy: InvitePolicy,
    /// Dates (hire, termination) are compared with "today" in this zone.
    pub time_zone: chrono_tz::Tz,
    /// From which day a leaver loses access (settings stored before it existed load with the
    /// default, the day after the termination date).
    #[serde(default)]
    pub deactivate_on: DeactivateOn,
    /// Which Kombo group type is the user's primary team.
    #[serde(with = "group_type_name")]
    pub primary_team_group_type: GroupType,
    /// A run that would deactivate more than this share of the active users deactivates nobody.
    pub max_deactivation_percent: f64,
    /// ... or more than this many, when set.
    pub max_deactivations: Option<usize>,
    /// Write the work location's name to the user's `location`.
    #[serde(default)]
    pub sync_location: bool,
    /// Kombo custom or integration fields → Learn Amp custom fields.
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldMapping>,
    /// Only these employees are synced; anyone else has no active user.
    #[serde(default)]
    pub scope: Scope,
}

/// One configured custom field: a Kombo `custom_fields` (or `integration_fields`) key and the
/// Learn Amp custom field it fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldMapping {
    pub source: String,
    pub target: String,
}

impl std::str::FromStr for CustomFieldMapping {
    type Err = String;
    /// `kombo_key=Learn Amp field name`
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((source, target)) if !source.trim().is_empty() && !target.trim().is_empty() => {
                Ok(Self {
                    source: source.trim().to_string(),
                    target: target.trim().to_string(),
                })
            }
            _ => Err(format!("'{s}' is not KOMBO_KEY=LEARN_AMP_FIELD")),
        }
    }
}

/// Which employees the sync manages. Each list that is not empty must match (any of its
/// values); empty lists match everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(default)]
    pub legal_entity_ids: Vec<String>,
    #[serde(default)]
    pub employment_types: Vec<String>,
    #[serde(default)]
    pub group_ids: Vec<String>,
}

impl Scope {
    pub fn includes(&self, employee: &Employee) -> bool {
        let entity = self.legal_entity_ids.is_empty()
            || employee
                .legal_entity_id
                .as_ref()
                .or(employee.legal_entity.as_ref().map(|l| &l.id))
                .is_some_and(|id| self.legal_entity_ids.contains(id));
        let kind = self.employment_types.is_empty()
            || employee.employment_type.as_ref().is_some_and(|t| {
                self.employment_types
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(t))
            });
        let group = self.group_ids.is_empty()
            || employee
                .groups
                .iter()
                .any(|g| self.group_ids.contains(&g.id));
        entity && kind && group
    }
}

impl TenantSettings {
    pub fn new(tenant_id: impl Into<String>) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            invite_policy: InvitePolicy::default(),
            time_zone: chrono_tz::Europe::Berlin,
            deactivate_on: DeactivateOn::default(),
            primary_team_group_type: GroupType::Department,
            max_deactivation_percent: 20.0,
            max_deactivations: None,
            sync_location: false,
            custom_fields: Vec::new(),
            scope: Scope::default(),
        }
    }
}

mod group_type_name {
    use crate::kombo::GroupType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &GroupType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<GroupType, D::Error> {
        Ok(GroupType::from(String::deserialize(d)?.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_stored_without_the_termination_rule_deactivate_the_day_after() {
        let mut stored = serde_json::to_value(TenantSettings::new("personio:t")).unwrap();
        stored.as_object_mut().unwrap().remove("deactivate_on");
        let loaded: TenantSettings = serde_json::from_value(stored).unwrap();
        assert_eq!(loaded.deactivate_on, DeactivateOn::DayAfterTermination);

        let mut settings = TenantSettings::new("personio:t");
        settings.deactivate_on = DeactivateOn::TerminationDate;
        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(json["deactivate_on"], "termination_date");
        assert_eq!(
            serde_json::from_value::<TenantSettings>(json).unwrap(),
            settings
        );
    }
}
