//! Employee (Kombo) → desired Learn Amp user: pure functions of the employee, the tenant's
//! settings and "today" in the tenant's time zone.
//!
//! | Kombo | Learn Amp |
//! |---|---|
//! | `first_name`, `last_name` | `firstName`, `lastName` |
//! | `work_email` | `email` |
//! | `job_title` | `jobTitle` |
//! | `start_date` | `hireDate` |
//! | the employee's group of the configured type (DEPARTMENT) | primary team |
//! | `manager_id` | `managerId` (resolved by the planner) |
//! | `employment_status`, `start_date`, `termination_date`, `remote_deleted_at` | active or deactivated (from the day after the termination date, or on it, per the tenant) |
//! | `work_location.name` (unless the location is deleted), when the tenant syncs locations | `location` |
//! | the tenant's `custom_fields` / `integration_fields` keys (text, numbers, booleans; an object or a list is skipped and noted) | custom fields |
//! | `id` | `integrationExternalId` |

use crate::fields::{field_hash, AppliedFields, Field, FieldHash};
use crate::kombo::{Employee, EmploymentStatus};
use crate::settings::{DeactivateOn, TenantSettings};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Why an employee should not (or no longer) have an active Learn Amp user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InactiveReason {
    StatusInactive,
    TerminationDatePassed,
    DeletedInHris,
    MissingFromFullListing,
    OutOfScope,
}

impl InactiveReason {
    pub fn describe(self) -> &'static str {
        match self {
            Self::StatusInactive => "employment status INACTIVE",
            Self::TerminationDatePassed => "termination date reached",
            Self::DeletedInHris => "deleted in Personio",
            Self::MissingFromFullListing => "missing from a complete full listing",
            Self::OutOfScope => "outside the tenant's sync scope",
        }
    }
}

/// The lifecycle the employee's Learn Amp user should have today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Lifecycle {
    Active,
    /// Not started yet (PENDING with a future start date).
    PreHire {
        start: NaiveDate,
    },
    Inactive {
        reason: InactiveReason,
    },
    /// An employment status Kombo could not map and no start date to decide from: no user is
    /// created, and an existing user's lifecycle is left as it is.
    Unknown {
        raw: String,
    },
}

impl Lifecycle {
    pub fn should_be_active(&self) -> bool {
        matches!(self, Self::Active | Self::PreHire { .. })
    }
}

/// A primary team: a Kombo group that becomes a flat Learn Amp team with the group id as its
/// `integrationExternalId`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TeamRef {
    pub group_id: String,
    pub name: String,
}

/// What one employee's Learn Amp user should look like, as of `source_version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredUser {
    pub employee_id: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub job_title: Option<String>,
    pub hire_date: Option<NaiveDate>,
    pub primary_team: Option<TeamRef>,
    /// The manager's Kombo employee id, once the planner has checked that the manager is (or
    /// will be) an active user and that no cycle runs through it.
    pub manager_employee_id: Option<String>,
    /// The work location's name, when the tenant syncs locations.
    pub location: Option<String>,
    /// Learn Amp custom field name → value, per the tenant's mapping.
    pub custom_fields: BTreeMap<String, Option<String>>,
    pub lifecycle: Lifecycle,
    /// Kombo's `changed_at`: a message older than what was applied is skipped.
    pub source_version: Option<DateTime<Utc>>,
}

fn clean(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Today's date in the tenant's time zone.
pub fn today_in(settings: &TenantSettings, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&settings.time_zone).date_naive()
}

/// The lifecycle the employee should have on `today`, leavers losing access per
/// `deactivate_on`.
///
/// A termination date before the current start date belongs to an earlier employment (a
/// rehire): it does not end an `ACTIVE` or `LEAVE` employment. A status Kombo could not map is
/// decided from the dates alone (see [`Lifecycle::Unknown`] for when they do not suffice).
pub fn lifecycle_of(
    employee: &Employee,
    today: NaiveDate,
    deactivate_on: DeactivateOn,
) -> Lifecycle {
    if employee.remote_deleted_at.is_some() {
        return Lifecycle::Inactive {
            reason: InactiveReason::DeletedInHris,
        };
    }
    // Kombo sends dates as midnight UTC; the date part is the HR date.
    let start = employee.start_date.map(|d| d.date_naive());
    let status = employee.employment_status.as_ref();
    if let Some(termination) = employee.termination_date.map(|d| d.date_naive()) {
        let earlier_employment = start.is_some_and(|start| termination < start)
            && matches!(
                status,
                Some(EmploymentStatus::Active) | Some(EmploymentStatus::Leave)
            );
        if deactivate_on.has_ended(termination, today) && !earlier_employment {
            return Lifecycle::Inactive {
                reason: InactiveReason::TerminationDatePassed,
            };
        }
    }
    let by_start = |start: Option<NaiveDate>| match start {
        Some(start) if start > today => Lifecycle::PreHire { start },
        _ => Lifecycle::Active,
    };
    match status {
        Some(EmploymentStatus::Inactive) => Lifecycle::Inactive {
            reason: InactiveReason::StatusInactive,
        },
        Some(EmploymentStatus::Active) | Some(EmploymentStatus::Leave) => Lifecycle::Active,
        Some(EmploymentStatus::Pending) => by_start(start),
        // Not a status Kombo knows: the dates decide (the termination was checked above).
        Some(EmploymentStatus::Other(raw)) => match start {
            Some(_) => by_start(start),
            None => Lifecycle::Unknown { raw: raw.clone() },
        },
        // No status at all: a start date in the future still means "not yet".
        None => by_start(start),
    }
}

/// A Kombo custom or integration field's value as Learn Amp text.
enum SourceValue {
    /// Text, a number or a boolean (`None`: empty or absent).
    Scalar(Option<String>),
    /// An object or a list: no single value to write.
    NotScalar,
}

fn source_value(employee: &Employee, key: &str) -> SourceValue {
    let value = employee
        .custom_fields
        .as_ref()
        .and_then(|fields| fields.get(key))
        .or_else(|| {
            employee
                .integration_fields
                .iter()
                .find(|f| f.key == key)
                .and_then(|f| f.value.as_ref())
        });
    match value {
        None | Some(serde_json::Value::Null) => SourceValue::Scalar(None),
        Some(serde_json::Value::String(s)) => SourceValue::Scalar(clean(&Some(s.clone()))),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            SourceValue::Scalar(Some(v.to_string()))
        }
        Some(serde_json::Value::Object(_) | serde_json::Value::Array(_)) => SourceValue::NotScalar,
    }
}

/// Maps one employee. The manager is carried as Kombo's raw `manager_id`; the planner resolves
/// it against the rest of the company (and reports a self-reference as a cycle).
pub fn map_employee(
    employee: &Employee,
    settings: &TenantSettings,
    today: NaiveDate,
) -> DesiredUser {
    map_employee_with_notes(employee, settings, today).0
}

/// [`map_employee`], with what the report should say about the mapping of this employee: a
/// status Kombo could not map, a custom field with no single value. Notes name keys and enum
/// values, never a field's value.
pub fn map_employee_with_notes(
    employee: &Employee,
    settings: &TenantSettings,
    today: NaiveDate,
) -> (DesiredUser, Vec<String>) {
    let mut notes = Vec::new();
    let primary_team = employee
        .groups
        .iter()
        .filter(|g| g.group_type.as_ref() == Some(&settings.primary_team_group_type))
        .min_by(|a, b| a.id.cmp(&b.id))
        .map(|g| TeamRef {
            group_id: g.id.clone(),
            name: clean(&g.name).unwrap_or_else(|| g.id.clone()),
        });
    // A location deleted in Personio is not written (nor cleared).
    let location = if settings.sync_location {
        employee
            .work_location
            .as_ref()
            .filter(|l| l.remote_deleted_at.is_none())
            .and_then(|l| clean(&l.name))
    } else {
        None
    };
    let mut custom_fields = BTreeMap::new();
    for m in &settings.custom_fields {
        match source_value(employee, &m.source) {
            SourceValue::Scalar(value) => {
                custom_fields.insert(m.target.clone(), value);
            }
            // Left out: the Learn Amp field is not managed for this employee in this run.
            SourceValue::NotScalar => notes.push(format!(
                "custom field '{}' is an object or a list in Kombo, not a single value: Learn Amp field '{}' left as it is",
                m.source, m.target
            )),
        }
    }
    let lifecycle = lifecycle_of(employee, today, settings.deactivate_on);
    if let (Some(EmploymentStatus::Other(raw)), None) =
        (&employee.employment_status, &employee.remote_deleted_at)
    {
        notes.push(match lifecycle {
            Lifecycle::Unknown { .. } => format!(
                "employment status '{raw}' not known to Kombo and no start date to decide from"
            ),
            _ => format!("employment status '{raw}' not known to Kombo: decided from the dates"),
        });
    }
    let lifecycle = match lifecycle {
        Lifecycle::Active | Lifecycle::PreHire { .. } if !settings.scope.includes(employee) => {
            Lifecycle::Inactive {
                reason: InactiveReason::OutOfScope,
            }
        }
        lifecycle => lifecycle,
    };
    let desired = DesiredUser {
        employee_id: employee.id.clone(),
        email: clean(&employee.work_email),
        first_name: clean(&employee.first_name),
        last_name: clean(&employee.last_name),
        job_title: clean(&employee.job_title),
        hire_date: employee.start_date.map(|d| d.date_naive()),
        primary_team,
        manager_employee_id: clean(&employee.manager_id),
        location,
        custom_fields,
        lifecycle,
        source_version: employee.changed_at,
    };
    (desired, notes)
}

impl DesiredUser {
    /// An active employee with a name, a work email from the id, a job title and a hire date:
    /// the core's unit tests start from it and change what they are about.
    #[cfg(test)]
    pub(crate) fn sample(employee_id: &str) -> Self {
        Self {
            employee_id: employee_id.into(),
            email: Some(format!("{}@example.test", employee_id.to_lowercase())),
            first_name: Some("Ada".into()),
            last_name: Some("Example".into()),
            job_title: Some("Engineer".into()),
            hire_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 5),
            primary_team: None,
            manager_employee_id: None,
            location: None,
            custom_fields: BTreeMap::new(),
            lifecycle: Lifecycle::Active,
            source_version: None,
        }
    }

    /// The user a complete listing no longer contains.
    pub fn missing(employee_id: &str) -> Self {
        Self {
            employee_id: employee_id.to_string(),
            email: None,
            first_name: None,
            last_name: None,
            job_title: None,
            hire_date: None,
            primary_team: None,
            manager_employee_id: None,
            location: None,
            custom_fields: BTreeMap::new(),
            lifecycle: Lifecycle::Inactive {
                reason: InactiveReason::MissingFromFullListing,
            },
            source_version: None,
        }
    }

    /// The fields this user's sync owns: the fixed ones and the mapped custom fields.
    pub fn fields(&self) -> Vec<Field> {
        Field::FIXED
            .iter()
            .cloned()
            .chain(self.custom_fields.keys().cloned().map(Field::Custom))
            .collect()
    }

    /// The value the sync would write for `field`, as text (`None` = nothing to write).
    pub fn value(&self, field: &Field) -> Option<String> {
        match field {
            Field::Email => self.email.as_ref().map(|e| e.to_lowercase()),
            Field::FirstName => self.first_name.clone(),
            Field::LastName => self.last_name.clone(),
            Field::JobTitle => self.job_title.clone(),
            Field::HireDate => self.hire_date.map(|d| d.to_string()),
            Field::PrimaryTeam => self.primary_team.as_ref().map(|t| t.group_id.clone()),
            Field::Manager => self.manager_employee_id.clone(),
            Field::Location => self.location.clone(),
            Field::Custom(name) => self.custom_fields.get(name).cloned().flatten(),
        }
    }

    /// One hash per field. Stored state keeps these hashes, never the values: no personal data
    /// at rest, and yet every field can be compared.
    pub fn field_hashes(&self) -> AppliedFields {
        self.fields()
            .into_iter()
            .map(|f| {
                let hash = field_hash(&self.employee_id, &f, self.value(&f).as_deref());
                (f, hash)
            })
            .collect()
    }

    /// A hash of the whole desired state (fields and whether the user should be active): the
    /// idempotency key of a change, and the fast "nothing changed" check.
    pub fn state_hash(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.employee_id.as_bytes());
        for (field, hash) in self.field_hashes().iter() {
            field.hash_name(&mut hasher);
            hasher.update(hash.hex());
        }
        let lifecycle = match &self.lifecycle {
            Lifecycle::Active | Lifecycle::PreHire { .. } => "active",
            Lifecycle::Inactive { .. } => "inactive",
            Lifecycle::Unknown { .. } => "unknown",
        };
        hasher.update(lifecycle.as_bytes());
        hex16(&hasher.finalize())
    }
}

/// A team name's hash, so team state holds no names either.
pub fn name_hash(group_id: &str, name: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(group_id.as_bytes());
    hasher.update([0]);
    hasher.update(name.as_bytes());
    hex16(&hasher.finalize())
}

fn hex16(digest: &[u8]) -> String {
    FieldHash::of_digest(digest).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kombo::{EmployeeGroup, GroupType};
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    fn employee() -> Employee {
        Employee {
            id: "emp1".into(),
            first_name: Some(" Ada ".into()),
            last_name: Some("Lovelace".into()),
            job_title: Some("Engineer".into()),
            work_email: Some("Ada.Lovelace@Acme.example".into()),
            employment_status: Some(EmploymentStatus::Active),
            start_date: Some(date(2024, 3, 1)),
            manager_id: Some("boss".into()),
            groups: vec![
                EmployeeGroup {
                    id: "team9".into(),
                    remote_id: None,
                    name: Some("Guild".into()),
                    group_type: Some(GroupType::Team),
                },
                EmployeeGroup {
                    id: "dep1".into(),
                    remote_id: None,
                    name: Some("Engineering".into()),
                    group_type: Some(GroupType::Department),
                },
            ],
            ..Default::default()
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    #[test]
    fn maps_the_field_table() {
        let settings = TenantSettings::new("personio:t");
        let desired = map_employee(&employee(), &settings, today());
        assert_eq!(desired.first_name.as_deref(), Some("Ada"));
        assert_eq!(desired.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(desired.job_title.as_deref(), Some("Engineer"));
        assert_eq!(desired.email.as_deref(), Some("Ada.Lovelace@Acme.example"));
        assert_eq!(
            desired.value(&Field::Email).as_deref(),
            Some("ada.lovelace@acme.example")
        );
        assert_eq!(desired.hire_date, NaiveDate::from_ymd_opt(2024, 3, 1));
        assert_eq!(
            desired.primary_team,
            Some(TeamRef {
                group_id: "dep1".into(),
                name: "Engineering".into()
            })
        );
        assert_eq!(desired.manager_employee_id.as_deref(), Some("boss"));
        assert_eq!(desired.lifecycle, Lifecycle::Active);
    }

    #[test]
    fn primary_team_group_type_is_configurable() {
        let mut settings = TenantSettings::new("personio:t");
        settings.primary_team_group_type = GroupType::Team;
        let desired = map_employee(&employee(), &settings, today());
        assert_eq!(desired.primary_team.unwrap().group_id, "team9");
    }

    #[test]
    fn no_department_means_no_primary_team_and_blank_values_are_absent() {
        let mut e = employee();
        e.groups.clear();
        e.job_title = Some("   ".into());
        e.manager_id = Some("  ".into());
        let desired = map_employee(&e, &TenantSettings::new("t"), today());
        assert_eq!(desired.primary_team, None);
        assert_eq!(desired.job_title, None);
        assert_eq!(desired.manager_employee_id, None);
    }

    #[test]
    fn lifecycle_follows_status_dates_and_deletion() {
        let t = today();
        let on = DeactivateOn::default();
        let mut e = employee();
        assert_eq!(lifecycle_of(&e, t, on), Lifecycle::Active);

        e.employment_status = Some(EmploymentStatus::Leave);
        assert_eq!(lifecycle_of(&e, t, on), Lifecycle::Active);

        e.employment_status = Some(EmploymentStatus::Pending);
        e.start_date = Some(date(2026, 12, 1));
        assert_eq!(
            lifecycle_of(&e, t, on),
            Lifecycle::PreHire {
                start: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
            }
        );
        e.start_date = Some(date(2026, 11, 22));
        assert_eq!(lifecycle_of(&e, t, on), Lifecycle::Active, "starts today");

        e.employment_status = Some(EmploymentStatus::Active);
        e.termination_date = Some(date(2026, 11, 23));
        assert_eq!(
            lifecycle_of(&e, t, on),
            Lifecycle::Active,
            "leaves tomorrow"
        );
        e.termination_date = Some(date(2026, 11, 22));
        assert_eq!(
            lifecycle_of(&e, t, on),
            Lifecycle::Active,
            "the termination date is the last day worked"
        );
        e.start_date = Some(date(2024, 3, 1));
        e.termination_date = Some(date(2026, 11, 21));
        assert_eq!(
            lifecycle_of(&e, t, on),
            Lifecycle::Inactive {
                reason: InactiveReason::TerminationDatePassed
            }
        );

        e.termination_date = None;
        e.employment_status = Some(EmploymentStatus::Inactive);
        assert!(!lifecycle_of(&e, t, on).should_be_active());

        e.remote_deleted_at = Some(date(2026, 1, 1));
        assert_eq!(
            lifecycle_of(&e, t, on),
            Lifecycle::Inactive {
                reason: InactiveReason::DeletedInHris
            }
        );
    }

    #[test]
    fn a_leaver_keeps_access_on_the_termination_date_unless_the_tenant_says_otherwise() {
        let t = today();
        let mut e = employee();
        e.termination_date = Some(date(2026, 11, 22));
        let ended = Lifecycle::Inactive {
            reason: InactiveReason::TerminationDatePassed,
        };
        assert_eq!(
            lifecycle_of(&e, t, DeactivateOn::DayAfterTermination),
            Lifecycle::Active
        );
        assert_eq!(
            lifecycle_of(&e, t.succ_opt().unwrap(), DeactivateOn::DayAfterTermination),
            ended
        );
        assert_eq!(lifecycle_of(&e, t, DeactivateOn::TerminationDate), ended);
        assert_eq!(
            lifecycle_of(&e, t.pred_opt().unwrap(), DeactivateOn::TerminationDate),
            Lifecycle::Active
        );
        // Through the tenant's settings.
        let mut settings = TenantSettings::new("t");
        assert_eq!(map_employee(&e, &settings, t).lifecycle, Lifecycle::Active);
        settings.deactivate_on = DeactivateOn::TerminationDate;
        assert_eq!(map_employee(&e, &settings, t).lifecycle, ended);
    }

    #[test]
    fn a_termination_before_the_current_start_is_an_earlier_employment() {
        let t = today();
        let mut e = employee(); // started 2024-03-01
        e.termination_date = Some(date(2023, 12, 31));
        for status in [EmploymentStatus::Active, EmploymentStatus::Leave] {
            e.employment_status = Some(status);
            for on in [
                DeactivateOn::DayAfterTermination,
                DeactivateOn::TerminationDate,
            ] {
                assert_eq!(lifecycle_of(&e, t, on), Lifecycle::Active, "{on}");
            }
        }
        // INACTIVE is still a leaver, whatever the dates.
        e.employment_status = Some(EmploymentStatus::Inactive);
        assert!(!lifecycle_of(&e, t, DeactivateOn::default()).should_be_active());
        // A termination after the start date ends the employment.
        e.employment_status = Some(EmploymentStatus::Active);
        e.termination_date = Some(date(2026, 11, 1));
        assert_eq!(
            lifecycle_of(&e, t, DeactivateOn::default()),
            Lifecycle::Inactive {
                reason: InactiveReason::TerminationDatePassed
            }
        );
    }

    #[test]
    fn a_status_kombo_could_not_map_is_decided_from_the_dates() {
        let t = today();
        let on = DeactivateOn::default();
        let mut e = employee(); // started 2024-03-01
        e.employment_status = Some(EmploymentStatus::Other("Onboarding".into()));
        assert_eq!(lifecycle_of(&e, t, on), Lifecycle::Active, "started");
        e.start_date = Some(date(2026, 12, 1));
        assert_eq!(
            lifecycle_of(&e, t, on),
            Lifecycle::PreHire {
                start: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
            },
            "starts later"
        );
        e.start_date = Some(date(2024, 3, 1));
        e.termination_date = Some(date(2026, 11, 1));
        assert_eq!(
            lifecycle_of(&e, t, on),
            Lifecycle::Inactive {
                reason: InactiveReason::TerminationDatePassed
            },
            "left"
        );
        e.termination_date = Some(date(2026, 12, 31));
        assert_eq!(lifecycle_of(&e, t, on), Lifecycle::Active, "leaves later");
        // No start date: nothing to decide from.
        e.start_date = None;
        e.termination_date = None;
        assert_eq!(
            lifecycle_of(&e, t, on),
            Lifecycle::Unknown {
                raw: "Onboarding".into()
            }
        );
    }

    #[test]
    fn a_custom_field_that_is_not_a_single_value_is_skipped_and_noted() {
        use crate::settings::CustomFieldMapping;
        let mut settings = TenantSettings::new("t");
        settings.custom_fields = [
            "cost_center=Cost Center",
            "badge=Badge",
            "skills=Skills",
            "remote=Remote",
        ]
        .iter()
        .map(|m| m.parse::<CustomFieldMapping>().unwrap())
        .collect();
        let mut e = employee();
        e.custom_fields = Some(
            serde_json::json!({
                "cost_center": "CC-42",
                "badge": {"number": "secret-badge-7"},
                "skills": ["secret-skill"],
                "remote": true,
            })
            .as_object()
            .unwrap()
            .clone(),
        );
        let (desired, notes) = map_employee_with_notes(&e, &settings, today());
        assert_eq!(
            desired.custom_fields,
            BTreeMap::from([
                ("Cost Center".to_string(), Some("CC-42".to_string())),
                ("Remote".to_string(), Some("true".to_string())),
            ]),
            "an object or a list is not written, nor cleared"
        );
        assert!(!desired.fields().contains(&Field::Custom("Badge".into())));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].contains("'badge'") && notes[1].contains("'skills'"),
            "{notes:?}"
        );
        assert!(notes.iter().all(|n| !n.contains("secret")), "{notes:?}");
    }

    #[test]
    fn a_deleted_work_location_is_not_written() {
        use crate::kombo::EmbeddedLocation;
        let mut settings = TenantSettings::new("t");
        settings.sync_location = true;
        let mut e = employee();
        e.work_location = Some(EmbeddedLocation {
            id: "loc1".into(),
            remote_id: None,
            name: Some("Berlin HQ".into()),
            location_type: None,
            remote_deleted_at: None,
        });
        assert_eq!(
            map_employee(&e, &settings, today()).location.as_deref(),
            Some("Berlin HQ")
        );
        e.work_location.as_mut().unwrap().remote_deleted_at = Some(date(2026, 11, 1));
        assert_eq!(map_employee(&e, &settings, today()).location, None);
    }

    #[test]
    fn a_status_kombo_could_not_map_is_noted_by_its_value() {
        let mut e = employee();
        e.employment_status = Some(EmploymentStatus::Other("Onboarding".into()));
        let (desired, notes) = map_employee_with_notes(&e, &TenantSettings::new("t"), today());
        assert_eq!(desired.lifecycle, Lifecycle::Active);
        assert_eq!(
            notes,
            ["employment status 'Onboarding' not known to Kombo: decided from the dates"]
        );
        let (_, notes) = map_employee_with_notes(&employee(), &TenantSettings::new("t"), today());
        assert!(notes.is_empty());
    }

    #[test]
    fn today_is_taken_in_the_tenant_time_zone() {
        let settings = TenantSettings::new("t"); // Europe/Berlin
        let late_evening_utc = Utc.with_ymd_and_hms(2026, 11, 22, 23, 30, 0).unwrap();
        assert_eq!(
            today_in(&settings, late_evening_utc),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
    }

    #[test]
    fn hashes_change_with_exactly_the_changed_field() {
        let settings = TenantSettings::new("t");
        let a = map_employee(&employee(), &settings, today());
        let mut e = employee();
        e.job_title = Some("Principal Engineer".into());
        let b = map_employee(&e, &settings, today());
        let (ha, hb) = (a.field_hashes(), b.field_hashes());
        let differing: Vec<Field> = a.fields().into_iter().filter(|f| ha[f] != hb[f]).collect();
        assert_eq!(differing, vec![Field::JobTitle]);
        assert_ne!(a.state_hash(), b.state_hash());
        assert_eq!(
            a.state_hash(),
            map_employee(&employee(), &settings, today()).state_hash()
        );
        // Email case does not count as a change.
        let mut e = employee();
        e.work_email = Some("ada.lovelace@acme.example".into());
        assert_eq!(
            map_employee(&e, &settings, today()).field_hashes()[&Field::Email],
            ha[&Field::Email]
        );
    }
}
