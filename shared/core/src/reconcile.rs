//! Reconcile: what Learn Amp actually holds, turned into the state the planner compares with.
//!
//! The remembered state says what the sync last wrote; an admin may have changed a field by hand
//! or deactivated a user since. Observing Learn Amp's users replaces what was remembered with
//! what is there, so the ordinary planner then writes exactly the fields that drifted.
//!
//! Learn Amp's users are observed page by page as they arrive ([`UserObserver`]): of each, only
//! the hashes the comparison needs are kept (and what adoption needs, in [`KnownUsers`]), so a
//! reconcile at 50,000 users never holds their listing whole.

use crate::error::{StoreError, TargetError};
use crate::fields::{field_hash, AppliedFields, Field, FieldHash};
use crate::known_users::{KnownUsers, KnownUsersBuilder};
use crate::learnamp::{Team, User};
use crate::mapping::name_hash;
use crate::ports::{
    EmployeeStates, LearnAmp, MalformedRecord, StateStore, UserDetail, UserListing,
};
use crate::settings::TenantSettings;
use crate::state::{EmployeeState, TeamState};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::Arc;

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

/// The fixed fields a user is observed for, in this order; the manager apart (its value is
/// another user's external id, known only once every page is read).
const OBSERVED: [Field; 7] = [
    Field::Email,
    Field::FirstName,
    Field::LastName,
    Field::JobTitle,
    Field::HireDate,
    Field::PrimaryTeam,
    Field::Location,
];

/// What is kept of a user linked to an employee: its field hashes, not its fields.
struct ObservedUser {
    user_id: u64,
    employee_id: Box<str>,
    active: bool,
    hashes: [FieldHash; OBSERVED.len()],
    manager_user_id: Option<u64>,
    /// The tenant's custom fields' hashes, in its mapping's order; `None` when Learn Amp's
    /// custom fields came in a shape the sync cannot read.
    custom: Option<Box<[FieldHash]>>,
}

/// What observing Learn Amp's users found.
pub struct Observed {
    /// The states that differ from the remembered ones (see [`UserObserver::finish`]).
    pub drifted: Vec<EmployeeState>,
    /// Every user listed, for adoption.
    pub known: KnownUsers,
    /// The users that could not be read.
    pub skipped: Vec<MalformedRecord>,
}

/// Learn Amp's users, observed page by page (`LearnAmp::each_user_page`); the teams are listed
/// first, so that each user's primary team is read as its Kombo group on its page.
pub struct UserObserver<'a> {
    settings: &'a TenantSettings,
    group_of_team: HashMap<u64, String>,
    observed: Vec<ObservedUser>,
    known: KnownUsersBuilder,
    skipped: Vec<MalformedRecord>,
}

impl<'a> UserObserver<'a> {
    /// Learn Amp's teams, then its users observed as their pages arrive.
    pub async fn read(
        learnamp: &dyn LearnAmp,
        settings: &'a TenantSettings,
    ) -> Result<(Self, Vec<Team>), TargetError> {
        let teams = learnamp.list_teams().await?;
        let mut observer = Self::new(&teams, settings);
        learnamp
            .each_user_page(UserDetail::Expanded, &mut |page| observer.add_page(page))
            .await?;
        Ok((observer, teams))
    }

    pub fn new(teams: &[Team], settings: &'a TenantSettings) -> Self {
        Self {
            settings,
            group_of_team: teams
                .iter()
                .filter_map(|t| Some((t.id, t.integration_external_id.clone()?)))
                .collect(),
            observed: Vec::new(),
            known: KnownUsersBuilder::default(),
            skipped: Vec::new(),
        }
    }

    pub fn add_page(&mut self, page: UserListing) {
        for user in &page.users {
            self.observe(user);
        }
        self.skipped.extend(page.skipped.iter().cloned());
        self.known.add_page(page);
    }

    fn observe(&mut self, user: &User) {
        let Some(employee_id) = user
            .integration_external_id
            .as_deref()
            .filter(|x| !x.is_empty())
        else {
            return;
        };
        let email = user.email.as_ref().map(|e| e.to_lowercase());
        let team = user
            .primary_team
            .as_ref()
            .and_then(|t| self.group_of_team.get(&t.id));
        let values = [
            email.as_deref(),
            user.first_name.as_deref(),
            user.last_name.as_deref(),
            user.job_title.as_deref(),
            user.hire_date.as_deref(),
            team.map(String::as_str),
            user.location.as_deref(),
        ];
        let hashes = std::array::from_fn(|i| field_hash(employee_id, &OBSERVED[i], values[i]));
        let custom = user.custom_fields.is_some().then(|| {
            self.settings
                .custom_fields
                .iter()
                .map(|mapping| {
                    let value = custom_value(user, &mapping.target);
                    let field = Field::Custom(mapping.target.clone());
                    field_hash(employee_id, &field, value.as_deref())
                })
                .collect()
        });
        self.observed.push(ObservedUser {
            user_id: user.id,
            employee_id: employee_id.into(),
            active: !user.is_deactivated(),
            hashes,
            manager_user_id: user.manager.as_ref().map(|m| m.id),
            custom,
        });
    }

    /// The states that differ from the remembered ones once Learn Amp's users are looked at:
    /// each linked employee's user as it really is, and the employees the store links to a
    /// user that no longer exists, unlinked (to be created again, without a new invitation).
    /// Only these are written back and only these replace what was remembered: at 50,000
    /// employees a second full copy of the states is tens of megabytes.
    pub fn finish(self, stored: &HashMap<String, EmployeeState>) -> Observed {
        let now = Utc::now();
        let known = self.known.build();
        let external_id_of_user: HashMap<u64, &str> = self
            .observed
            .iter()
            .map(|o| (o.user_id, &*o.employee_id))
            .collect();
        // By employee id, the last user listed with its id: a later user wins.
        let mut last: HashMap<&str, &ObservedUser> = HashMap::with_capacity(self.observed.len());
        for o in &self.observed {
            last.insert(&o.employee_id, o);
        }
        let mut drifted = Vec::new();
        for (&employee_id, o) in &last {
            let remembered = stored.get(employee_id);
            let mut fields = AppliedFields::default();
            for (field, hash) in OBSERVED.iter().zip(o.hashes) {
                fields.insert(field.clone(), hash);
            }
            let manager = o
                .manager_user_id
                .and_then(|id| external_id_of_user.get(&id).copied());
            fields.insert(
                Field::Manager,
                field_hash(employee_id, &Field::Manager, manager),
            );
            for (i, mapping) in self.settings.custom_fields.iter().enumerate() {
                let field = Field::Custom(mapping.target.clone());
                match &o.custom {
                    Some(hashes) => fields.insert(field, hashes[i]),
                    // Custom fields in a shape the sync cannot read: what Learn Amp holds is not
                    // known, so what was applied stands (no drift is claimed, none is repaired).
                    None => {
                        if let Some(hash) = remembered.and_then(|p| p.applied_fields.get(&field)) {
                            fields.insert(field, *hash);
                        }
                    }
                }
            }
            // Learn Amp holds what was applied: the remembered state stands as it was (its
            // "nothing changed" hash included), and nothing is written back for it.
            let unchanged = remembered.is_some_and(|p| {
                p.learnamp_user_id == Some(o.user_id)
                    && p.active == o.active
                    && p.applied_fields == fields
            });
            if unchanged {
                continue;
            }
            let mut state = remembered
                .cloned()
                .unwrap_or_else(|| EmployeeState::new(employee_id, now));
            state.learnamp_user_id = Some(o.user_id);
            state.active = o.active;
            state.applied_hash = None;
            state.applied_fields = fields;
            state.updated_at = now;
            drifted.push(state);
        }
        drifted.extend(
            stored
                .values()
                .filter(|s| {
                    s.is_linked()
                        && !last.contains_key(s.employee_id.as_str())
                        // A user the listing could not read still exists: keep what was
                        // remembered.
                        && !s.learnamp_user_id.is_some_and(|id| known.is_unreadable(id))
                })
                .map(|s| {
                    let mut s = s.clone();
                    s.learnamp_user_id = None;
                    s.active = false;
                    s.applied_fields.clear();
                    s.applied_hash = None;
                    s
                }),
        );
        drifted.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
        Observed {
            drifted,
            known,
            skipped: self.skipped,
        }
    }
}

/// Every user of a listing observed at once: the states that drifted (see
/// [`UserObserver::finish`]).
pub fn observe_employees(
    stored: &HashMap<String, EmployeeState>,
    listing: UserListing,
    teams: &[Team],
    settings: &TenantSettings,
) -> Vec<EmployeeState> {
    let mut observer = UserObserver::new(teams, settings);
    observer.add_page(listing);
    observer.finish(stored).drifted
}

/// The drifted states in place of the remembered ones, for the planner. Where the store shares
/// its states with the run (the embedded store's), they are recorded there first when the run
/// may write (they would be before anything is applied anyway), so that the states change in
/// place instead of being copied whole (some 22 MB at 50,000 employees); whether they were
/// recorded is returned. Where the run holds the only copy (DynamoDB's), or in a dry run, they
/// replace the remembered ones in the run's copy and nothing is written.
pub async fn take_in_drifted(
    store: &dyn StateStore,
    tenant: &str,
    state: &mut EmployeeStates,
    drifted: &[EmployeeState],
    may_write: bool,
) -> Result<bool, StoreError> {
    if drifted.is_empty() {
        return Ok(false);
    }
    if may_write && Arc::get_mut(state).is_none() {
        // The run's reference goes first, so that the store is left the only one.
        *state = EmployeeStates::default();
        for s in drifted {
            store.put_employee(tenant, s).await?;
        }
        *state = store.employees(tenant).await?;
        return Ok(true);
    }
    let states = Arc::make_mut(state);
    for s in drifted {
        states.insert(s.employee_id.clone(), s.clone());
    }
    Ok(false)
}

/// The states that drifted replace what was remembered, so the applier compares with reality
/// too; the teams Learn Amp holds replace those remembered where they differ.
pub async fn record_observed(
    store: &dyn StateStore,
    tenant: &str,
    drifted: &[EmployeeState],
    teams: &HashMap<String, TeamState>,
) -> Result<(), StoreError> {
    for state in drifted {
        store.put_employee(tenant, state).await?;
    }
    let stored_teams = store.teams(tenant).await?;
    for (id, team) in teams {
        if stored_teams.get(id) != Some(team) {
            store.put_team(tenant, team).await?;
        }
    }
    Ok(())
}
