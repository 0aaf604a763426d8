//! Per-tenant settings. A tenant is one Learn Amp account connected to one Personio through one
//! Kombo integration; its key is the Kombo `integration_id`.

use crate::kombo::GroupType;
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantSettings {
    /// The Kombo integration id, e.g. `personio:CBNMt7dSNCzBdnRTx87dev4E`.
    pub tenant_id: String,
    pub invite_policy: InvitePolicy,
    /// Dates (hire, termination) are compared with "today" in this zone.
    pub time_zone: chrono_tz::Tz,
    /// Which Kombo group type is the user's primary team.
    #[serde(with = "group_type_name")]
    pub primary_team_group_type: GroupType,
    /// A run that would deactivate more than this share of the active users deactivates nobody.
    pub max_deactivation_percent: f64,
    /// ... or more than this many, when set.
    pub max_deactivations: Option<usize>,
}

impl TenantSettings {
    pub fn new(tenant_id: impl Into<String>) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            invite_policy: InvitePolicy::default(),
            time_zone: chrono_tz::Europe::Berlin,
            primary_team_group_type: GroupType::Department,
            max_deactivation_percent: 20.0,
            max_deactivations: None,
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
