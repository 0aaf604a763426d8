//! Reconcile: what Learn Amp actually holds, turned into the state the planner compares with.
//!
//! The remembered state says what the sync last wrote; an admin may have changed a field by hand
//! or deactivated a user since. Observing Learn Amp's users replaces what was remembered with
//! what is there, so the ordinary planner then writes exactly the fields that drifted.

use crate::applier::KnownUsers;
use crate::fields::{field_hash, Field};
use crate::learnamp::{Team, User};
use crate::mapping::name_hash;
use crate::settings::TenantSettings;
use crate::state::{EmployeeState, TeamState};
use chrono::Utc;
use std::collections::HashMap;

/// The teams Learn Amp holds for Kombo groups, keyed by group id.
pub fn observe_teams(teams: &[Team]) -> HashMap<String, TeamState> {
    teams
        .iter()
        .filter_map(|t| {
            let group_id = t
                .integration_external_id
                .clone()
                .filter(|g| !g.is_empty())?;
            Some((
                group_id.clone(),
                TeamState {
                    name_hash: name_hash(&group_id, t.name.as_deref().unwrap_or_default()),
                    learnamp_team_id: t.id,
                    group_id,
                },
            ))
        })
        .collect()
}

fn custom_value(user: &User, name: &str) -> Option<String> {
    let field = user
        .custom_fields
        .as_ref()?
        .iter()
        .find(|f| f.name == name)?;
    match field.value.as_ref()? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s.is_empty() => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The states that differ from the remembered ones once Learn Amp's users are looked at: each
/// linked employee's user as it really is, and the employees the store links to a user that no
/// longer exists, unlinked (to be created again, without a new invitation). Only these are
/// written back and only these replace what was remembered: at 50,000 employees a second full
/// copy of the states is tens of megabytes.
pub fn observe_employees(
    stored: &HashMap<String, EmployeeState>,
    users: &KnownUsers,
    teams: &[Team],
    settings: &TenantSettings,
) -> Vec<EmployeeState> {
    let now = Utc::now();
    let group_of_team: HashMap<u64, &str> = teams
        .iter()
        .filter_map(|t| Some((t.id, t.integration_external_id.as_deref()?)))
        .collect();
    let external_id_of_user: HashMap<u64, &str> = users
        .users()
        .filter_map(|u| Some((u.id, u.integration_external_id.as_deref()?)))
        .collect();

    // By employee id: the observed state, or `None` when it is the remembered one. A later
    // user with the same external id wins.
    let mut seen: HashMap<&str, Option<EmployeeState>> = HashMap::new();
    for user in users.users() {
        let Some(employee_id) = user
            .integration_external_id
            .as_deref()
            .filter(|x| !x.is_empty())
        else {
            continue;
        };
        let mut state = stored
            .get(employee_id)
            .cloned()
            .unwrap_or_else(|| EmployeeState::new(employee_id, now));
        state.learnamp_user_id = Some(user.id);
        state.active = !user.is_deactivated();
        state.applied_hash = None;
        state.applied_fields.clear();
        let mut fields: Vec<(Field, Option<String>)> = vec![
            (Field::Email, user.email.as_ref().map(|e| e.to_lowercase())),
            (Field::FirstName, user.first_name.clone()),
            (Field::LastName, user.last_name.clone()),
            (Field::JobTitle, user.job_title.clone()),
            (Field::HireDate, user.hire_date.clone()),
            (
                Field::PrimaryTeam,
                user.primary_team
                    .as_ref()
                    .and_then(|t| group_of_team.get(&t.id))
                    .map(|g| g.to_string()),
            ),
            (
                Field::Manager,
                user.manager
                    .as_ref()
                    .and_then(|m| external_id_of_user.get(&m.id))
                    .map(|e| e.to_string()),
            ),
            (Field::Location, user.location.clone()),
        ];
        let remembered = stored.get(employee_id);
        for mapping in &settings.custom_fields {
            let field = Field::Custom(mapping.target.clone());
            if user.custom_fields.is_none() {
                // Custom fields in a shape the sync cannot read: what Learn Amp holds is not
                // known, so what was applied stands (no drift is claimed, none is repaired).
                if let Some(hash) = remembered.and_then(|p| p.applied_fields.get(&field)) {
                    state.applied_fields.insert(field, *hash);
                }
                continue;
            }
            fields.push((field, custom_value(user, &mapping.target)));
        }
        for (field, value) in fields {
            let hash = field_hash(employee_id, &field, value.as_deref());
            state.applied_fields.insert(field, hash);
        }
        // Learn Amp holds what was applied: the remembered state stands as it was (its "nothing
        // changed" hash included), and nothing is written back for it.
        let unchanged = stored.get(employee_id).is_some_and(|p| {
            p.learnamp_user_id == state.learnamp_user_id
                && p.active == state.active
                && p.applied_fields == state.applied_fields
        });
        state.updated_at = now;
        seen.insert(employee_id, (!unchanged).then_some(state));
    }
    let unlinked: Vec<EmployeeState> = stored
        .values()
        .filter(|s| {
            s.is_linked()
                && !seen.contains_key(s.employee_id.as_str())
                // A user the listing could not read still exists: keep what was remembered.
                && !s.learnamp_user_id.is_some_and(|id| users.is_unreadable(id))
        })
        .map(|s| {
            let mut s = s.clone();
            s.learnamp_user_id = None;
            s.active = false;
            s.applied_fields.clear();
            s.applied_hash = None;
            s
        })
        .collect();
    let mut drifted: Vec<EmployeeState> = seen.into_values().flatten().chain(unlinked).collect();
    drifted.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
    drifted
}
