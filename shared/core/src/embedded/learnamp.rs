//! Learn Amp in memory: one company's users and teams, with the rules of Learn Amp's API that
//! the sync meets, as `reference/learnamp-api-docs` documents them and the HTTP sandbox
//! (`infra/sandbox/src/learnamp.rs`) simulates them, answered with the [`TargetError`]s the HTTP
//! client makes of the same answers (a 404 is `NotFound`, any other 4xx is `Rejected` with
//! Learn Amp's `error` as its message and `fullErrors` as its field errors).
//!
//! * `integrationExternalId` and email (case-insensitively, deactivated users included) are
//!   unique: `Validation failed: Integration external id has already been taken` /
//!   `... Email has already been taken`, with the field named in the field errors.
//! * Deactivation takes the user out of its team and gives the users it managed the account
//!   owner (id 1, seeded) as manager. Reactivation (or `reactivate=true` on an update) restores
//!   the status the user had before; an update without it leaves a deactivated user deactivated.
//! * A create sends an invitation unless `skipInvitation`; an update never does.
//! * An unknown custom field is a 404; clearing one with a presence validation is a 400 naming
//!   it. A manager must be an active user other than the user itself; a primary team external
//!   id must be a team's.
//! * A user deleted by hand is a 404 for every call that names it.
//!
//! Status labels carry no date (the sync never reads it). A listing is one call.

use crate::error::TargetError;
use crate::learnamp::{
    CustomFieldValue, StatusLabel, Team, TeamSummary, User, UserSummary, UserWrite,
};
use crate::ports::{CallStats, LearnAmp, UserDetail, UserListing};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// The account owner, seeded in every company: it cannot be deactivated.
pub const OWNER_ID: u64 = 1;
const FIRST_USER_ID: u64 = 1001;
const FIRST_TEAM_ID: u64 = 301;
/// Users per page of a listing, as Learn Amp's `perPage` the HTTP client asks for.
const PAGE_SIZE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    NotInvited,
    InvitePending,
    Confirmed,
    Deactivated,
}

impl UserStatus {
    /// The display label of the user object's `status`.
    fn label(self) -> &'static str {
        match self {
            Self::NotInvited => "Not invited",
            Self::InvitePending => "Invite pending",
            Self::Confirmed => "Confirmed",
            Self::Deactivated => "Deactivated",
        }
    }
}

/// A user as the company holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUser {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub job_title: Option<String>,
    pub hire_date: Option<String>,
    pub location: Option<String>,
    pub integration_external_id: Option<String>,
    pub primary_team_id: Option<u64>,
    /// The override manager.
    pub manager_id: Option<u64>,
    pub status: UserStatus,
    /// What reactivation restores.
    pub status_before_deactivation: UserStatus,
    pub invitations_sent: u32,
    pub custom_fields: BTreeMap<String, String>,
}

/// A user that existed before the sync (made by hand, or by another integration).
#[derive(Debug, Clone, Default)]
pub struct SeedUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub integration_external_id: Option<String>,
    pub deactivated: bool,
}

/// One call made through the port, with what it was given.
#[derive(Debug, Clone, PartialEq)]
pub enum LearnAmpCall {
    UserByExternalId(String),
    UsersByEmail(String),
    ListUsers(UserDetail),
    ListTeams,
    CreateUser(UserWrite),
    UpdateUser(u64, UserWrite),
    DeactivateUser(u64),
    ReactivateUser(u64),
    TeamByExternalId(String),
    CreateTeam { name: String, external_id: String },
    RenameTeam { team_id: u64, name: String },
}

impl LearnAmpCall {
    /// The endpoint the HTTP client counts it under.
    pub fn endpoint(&self) -> &'static str {
        match self {
            Self::UserByExternalId(_) => "GET /v1/users/by_integration_external_id/{id}",
            Self::UsersByEmail(_) | Self::ListUsers(_) => "GET /v1/users",
            Self::ListTeams => "GET /v1/teams",
            Self::CreateUser(_) => "POST /v1/users",
            Self::UpdateUser(..) => "PUT /v1/users/{id}",
            Self::DeactivateUser(_) => "PUT /v1/users/{id}/deactivate",
            Self::ReactivateUser(_) => "PUT /v1/users/{id}/reactivate",
            Self::TeamByExternalId(_) => "GET /v1/teams/by_external_id/{id}",
            Self::CreateTeam { .. } => "POST /v1/teams",
            Self::RenameTeam { .. } => "PUT /v1/teams/{id}",
        }
    }

    /// Whether the call changes something in Learn Amp.
    pub fn is_write(&self) -> bool {
        !self.endpoint().starts_with("GET ")
    }
}

/// Learn Amp in memory. See the module's documentation for the rules it keeps.
pub struct InMemoryLearnAmp {
    data: Mutex<Data>,
}

struct Data {
    users: BTreeMap<u64, StoredUser>,
    teams: BTreeMap<u64, Team>,
    next_user: u64,
    next_team: u64,
    custom_fields: BTreeSet<String>,
    /// Custom fields with a presence validation: a write that clears one is refused.
    required_custom_fields: BTreeSet<String>,
    /// Errors the next calls fail with, in order.
    failures: VecDeque<TargetError>,
    calls: Vec<LearnAmpCall>,
}

impl Default for InMemoryLearnAmp {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryLearnAmp {
    /// A company with its owner (id 1) and the custom fields "Employee ID" and "Cost Center".
    pub fn new() -> Self {
        let mut data = Data {
            users: BTreeMap::new(),
            teams: BTreeMap::new(),
            next_user: OWNER_ID,
            next_team: FIRST_TEAM_ID,
            custom_fields: ["Employee ID", "Cost Center"].map(String::from).into(),
            required_custom_fields: BTreeSet::new(),
            failures: VecDeque::new(),
            calls: Vec::new(),
        };
        let owner = UserWrite {
            email: Some("owner@sandbox.learnamp.test".into()),
            first_name: Some("Sandbox".into()),
            last_name: Some("Owner".into()),
            job_title: Some("Account Owner".into()),
            ..UserWrite::default()
        };
        data.insert_user(&owner, UserStatus::Confirmed, 0);
        data.next_user = FIRST_USER_ID;
        Self {
            data: Mutex::new(data),
        }
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().expect("in-memory Learn Amp lock")
    }

    /// Adds a user that existed before the sync (confirmed, or deactivated); its id.
    ///
    /// # Panics
    /// If Learn Amp would refuse it (its email or external id is taken): a broken test.
    pub fn seed_user(&self, seed: SeedUser) -> u64 {
        let mut data = self.data();
        let write = UserWrite {
            email: Some(seed.email),
            first_name: Some(seed.first_name),
            last_name: Some(seed.last_name),
            integration_external_id: seed.integration_external_id,
            ..UserWrite::default()
        };
        if let Err(e) = data.check_write(None, &write) {
            panic!("seed_user: Learn Amp would refuse this user: {e}");
        }
        let id = data.insert_user(&write, UserStatus::Confirmed, 1);
        if seed.deactivated {
            data.deactivate(id);
        }
        id
    }

    /// Adds a team; its id.
    pub fn seed_team(&self, name: &str, integration_external_id: Option<&str>) -> u64 {
        self.data().insert_team(name, integration_external_id).id
    }

    /// "An admin edited the user by hand": no call, no side effect.
    pub fn edit_by_hand(&self, user_id: u64, edit: impl FnOnce(&mut StoredUser)) {
        if let Some(user) = self.data().users.get_mut(&user_id) {
            edit(user);
            user.id = user_id;
        }
    }

    /// "An admin deactivated the user by hand", with the side effects of the API's.
    pub fn deactivate_by_hand(&self, user_id: u64) {
        self.data().deactivate(user_id);
    }

    /// "An admin deleted the user by hand": every call naming it is a 404 from now on, and the
    /// users it managed have no manager.
    pub fn delete_by_hand(&self, user_id: u64) {
        let mut data = self.data();
        data.users.remove(&user_id);
        for user in data.users.values_mut() {
            if user.manager_id == Some(user_id) {
                user.manager_id = None;
            }
        }
    }

    pub fn define_custom_field(&self, name: &str) {
        self.data().custom_fields.insert(name.to_string());
    }

    /// Gives a custom field a presence validation: a write that clears it is refused (400).
    pub fn require_custom_field(&self, name: &str) {
        let mut data = self.data();
        data.custom_fields.insert(name.to_string());
        data.required_custom_fields.insert(name.to_string());
    }

    /// The next call fails with `error` (each call takes one, in order).
    pub fn fail_next(&self, error: TargetError) {
        self.data().failures.push_back(error);
    }

    pub fn user(&self, user_id: u64) -> Option<StoredUser> {
        self.data().users.get(&user_id).cloned()
    }

    /// The user carrying this external id.
    pub fn user_of(&self, external_id: &str) -> Option<StoredUser> {
        let data = self.data();
        let id = data.external_id_owner(external_id)?;
        data.users.get(&id).cloned()
    }

    /// Every user, by id.
    pub fn users(&self) -> Vec<StoredUser> {
        self.data().users.values().cloned().collect()
    }

    pub fn team(&self, team_id: u64) -> Option<Team> {
        self.data().teams.get(&team_id).cloned()
    }

    /// Every call made so far, in order.
    pub fn calls(&self) -> Vec<LearnAmpCall> {
        self.data().calls.clone()
    }

    /// The calls that change something.
    pub fn writes(&self) -> Vec<LearnAmpCall> {
        self.calls().into_iter().filter(|c| c.is_write()).collect()
    }

    /// Records the call, and hands over the failure it was given, if any.
    fn call(&self, call: LearnAmpCall) -> Result<MutexGuard<'_, Data>, TargetError> {
        let mut data = self.data();
        data.calls.push(call);
        match data.failures.pop_front() {
            Some(error) => Err(error),
            None => Ok(data),
        }
    }
}

/// A 400 of request validation (Grape): `"email is missing, hireDate is invalid"`.
fn invalid_params(errors: &[(&str, &str)]) -> TargetError {
    let message = errors
        .iter()
        .map(|(field, m)| format!("{field} {m}"))
        .collect::<Vec<_>>()
        .join(", ");
    rejected(message, errors)
}

/// A 400 of model validation (ActiveRecord): `"Validation failed: Email has already been
/// taken"`; `errors` are (param, attribute label, message).
fn validation_failed(prefix: bool, errors: &[(&str, &str, &str)]) -> TargetError {
    let sentence = errors
        .iter()
        .map(|(_, label, m)| format!("{label} {m}"))
        .collect::<Vec<_>>()
        .join(", ");
    let message = match prefix {
        true => format!("Validation failed: {sentence}"),
        false => sentence,
    };
    let fields: Vec<(&str, &str)> = errors.iter().map(|(f, _, m)| (*f, *m)).collect();
    rejected(message, &fields)
}

fn rejected(message: String, fields: &[(&str, &str)]) -> TargetError {
    let mut field_errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (field, m) in fields {
        field_errors
            .entry(field.to_string())
            .or_default()
            .push(m.to_string());
    }
    TargetError::Rejected {
        status: 400,
        message,
        field_errors,
    }
}

fn is_blank(value: &str) -> bool {
    value.trim().is_empty()
}

/// The sandbox's notion of an email address: `local@domain.tld`, no spaces.
fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

impl Data {
    fn email_owner(&self, email: &str) -> Option<u64> {
        self.users
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(email.trim()))
            .map(|u| u.id)
    }

    fn external_id_owner(&self, external_id: &str) -> Option<u64> {
        self.users
            .values()
            .find(|u| u.integration_external_id.as_deref() == Some(external_id))
            .map(|u| u.id)
    }

    fn is_active_user(&self, user_id: u64) -> bool {
        self.users
            .get(&user_id)
            .is_some_and(|u| u.status != UserStatus::Deactivated)
    }

    /// The checks of a create (`user_id` `None`) or an update, in the API's order: the request's
    /// parameters, the user, then manager, custom fields, and the model's uniqueness.
    fn check_write(&self, user_id: Option<u64>, write: &UserWrite) -> Result<(), TargetError> {
        let mut params: Vec<(&str, &str)> = Vec::new();
        let names = [
            ("email", &write.email),
            ("firstName", &write.first_name),
            ("lastName", &write.last_name),
        ];
        for (field, value) in names {
            match value {
                None if user_id.is_none() => params.push((field, "is missing")),
                Some(v) if is_blank(v) => params.push((field, "is empty")),
                _ => {}
            }
        }
        if let Some(date) = write.hire_date.as_deref().filter(|d| !is_blank(d)) {
            if chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").is_err() {
                params.push(("hireDate", "is invalid"));
            }
        }
        if let Some(team) = write
            .primary_team_integration_external_id
            .as_deref()
            .filter(|t| !is_blank(t))
        {
            if self.team_of(team).is_none() {
                params.push((
                    "primaryTeamIntegrationExternalId",
                    "must match existing teams integration external IDs",
                ));
            }
        }
        if !params.is_empty() {
            return Err(invalid_params(&params));
        }
        if user_id.is_some_and(|id| !self.users.contains_key(&id)) {
            return Err(TargetError::NotFound);
        }
        if let Some(manager) = write.manager_id {
            if !self.is_active_user(manager) || Some(manager) == user_id {
                return Err(rejected(
                    "managerId must match an existing active user within your company".into(),
                    &[],
                ));
            }
        }
        if write
            .custom_fields
            .iter()
            .any(|(name, _)| !self.custom_fields.contains(name))
        {
            return Err(TargetError::NotFound);
        }
        let cleared: Vec<String> = write
            .custom_fields
            .iter()
            .filter(|(name, value)| self.required_custom_fields.contains(name) && is_blank(value))
            .map(|(name, _)| format!("{name} can't be blank"))
            .collect();
        if !cleared.is_empty() {
            let fields: Vec<(&str, &str)> = cleared
                .iter()
                .map(|m| ("customFields", m.as_str()))
                .collect();
            return Err(rejected(
                format!("Validation failed: {}", cleared.join(", ")),
                &fields,
            ));
        }
        let mut model: Vec<(&str, &str, &str)> = Vec::new();
        if let Some(email) = &write.email {
            if !valid_email(email.trim()) {
                model.push(("email", "Email", "is invalid"));
            } else if self
                .email_owner(email)
                .is_some_and(|id| Some(id) != user_id)
            {
                model.push(("email", "Email", "has already been taken"));
            }
        }
        if let Some(external_id) = write.integration_external_id.as_deref() {
            if !is_blank(external_id)
                && self
                    .external_id_owner(external_id)
                    .is_some_and(|id| Some(id) != user_id)
            {
                model.push((
                    "integrationExternalId",
                    "Integration external id",
                    "has already been taken",
                ));
            }
        }
        match model.is_empty() {
            true => Ok(()),
            false => Err(validation_failed(true, &model)),
        }
    }

    /// A new user holding what `write` (checked) sends; its id.
    fn insert_user(&mut self, write: &UserWrite, status: UserStatus, invitations_sent: u32) -> u64 {
        let id = self.next_user;
        self.next_user += 1;
        let mut user = StoredUser {
            id,
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            job_title: None,
            hire_date: None,
            location: None,
            integration_external_id: None,
            primary_team_id: None,
            manager_id: None,
            status,
            status_before_deactivation: status,
            invitations_sent,
            custom_fields: BTreeMap::new(),
        };
        self.apply_write(&mut user, write);
        self.users.insert(id, user);
        id
    }

    fn insert_team(&mut self, name: &str, integration_external_id: Option<&str>) -> Team {
        let team = Team {
            id: self.next_team,
            name: Some(name.to_string()),
            integration_external_id: integration_external_id.map(String::from),
            parent_team_id: None,
        };
        self.next_team += 1;
        self.teams.insert(team.id, team.clone());
        team
    }

    fn team_of(&self, external_id: &str) -> Option<&Team> {
        self.teams
            .values()
            .find(|t| t.integration_external_id.as_deref() == Some(external_id))
    }

    /// Writes the fields sent (checked by [`Data::check_write`]): a blank optional field is
    /// cleared, and so is a custom field sent empty.
    fn apply_write(&self, user: &mut StoredUser, write: &UserWrite) {
        let trimmed = |v: &String| v.trim().to_string();
        let clearable = |v: &String| Some(v.clone()).filter(|v| !is_blank(v));
        if let Some(v) = &write.email {
            user.email = trimmed(v);
        }
        if let Some(v) = &write.first_name {
            user.first_name = trimmed(v);
        }
        if let Some(v) = &write.last_name {
            user.last_name = trimmed(v);
        }
        if let Some(v) = &write.job_title {
            user.job_title = clearable(v);
        }
        if let Some(v) = &write.location {
            user.location = clearable(v);
        }
        if let Some(v) = &write.hire_date {
            user.hire_date = clearable(v).map(|d| d.trim().to_string());
        }
        if let Some(v) = &write.integration_external_id {
            user.integration_external_id = clearable(v);
        }
        if let Some(v) = &write.primary_team_integration_external_id {
            user.primary_team_id = clearable(v).and_then(|t| Some(self.team_of(&t)?.id));
        }
        if let Some(manager) = write.manager_id {
            user.manager_id = Some(manager);
        }
        for (name, value) in &write.custom_fields {
            match value.is_empty() {
                true => user.custom_fields.remove(name),
                false => user.custom_fields.insert(name.clone(), value.clone()),
            };
        }
    }

    /// Out of its team; the users it managed get the account owner as manager.
    fn deactivate(&mut self, user_id: u64) {
        let Some(user) = self.users.get_mut(&user_id) else {
            return;
        };
        if user.status == UserStatus::Deactivated {
            return;
        }
        user.status_before_deactivation = user.status;
        user.status = UserStatus::Deactivated;
        user.primary_team_id = None;
        for report in self.users.values_mut() {
            if report.manager_id == Some(user_id) && report.id != user_id {
                report.manager_id = Some(OWNER_ID);
            }
        }
    }

    fn view(&self, user: &StoredUser, expanded: bool) -> User {
        let mut view = User {
            id: user.id,
            email: Some(user.email.clone()),
            first_name: Some(user.first_name.clone()),
            last_name: Some(user.last_name.clone()),
            job_title: user.job_title.clone(),
            integration_external_id: user.integration_external_id.clone(),
            hire_date: user.hire_date.clone(),
            status: Some(StatusLabel {
                status: user.status.label().to_string(),
                time: None,
            }),
            ..User::default()
        };
        if expanded {
            view.location = user.location.clone();
            view.primary_team = user.primary_team_id.and_then(|id| {
                let team = self.teams.get(&id)?;
                Some(TeamSummary {
                    id,
                    name: team.name.clone(),
                })
            });
            view.manager = user
                .manager_id
                .filter(|id| self.users.contains_key(id))
                .map(|id| UserSummary { id });
            view.custom_fields = Some(
                user.custom_fields
                    .iter()
                    .map(|(name, value)| CustomFieldValue {
                        name: name.clone(),
                        value: Some(serde_json::Value::String(value.clone())),
                    })
                    .collect(),
            );
        }
        view
    }
}

fn reactivated(user: &mut StoredUser) {
    if user.status == UserStatus::Deactivated {
        user.status = match user.status_before_deactivation {
            UserStatus::Deactivated => UserStatus::NotInvited,
            before => before,
        };
    }
}

#[async_trait]
impl LearnAmp for InMemoryLearnAmp {
    async fn user_by_external_id(&self, external_id: &str) -> Result<Option<User>, TargetError> {
        let data = self.call(LearnAmpCall::UserByExternalId(external_id.to_string()))?;
        Ok(data
            .external_id_owner(external_id)
            .map(|id| data.view(&data.users[&id], true)))
    }

    async fn users_by_email(&self, email: &str) -> Result<Vec<User>, TargetError> {
        let data = self.call(LearnAmpCall::UsersByEmail(email.to_string()))?;
        Ok(data
            .users
            .values()
            .filter(|u| u.email.eq_ignore_ascii_case(email.trim()))
            .map(|u| data.view(u, false))
            .collect())
    }

    async fn list_users(&self, detail: UserDetail) -> Result<UserListing, TargetError> {
        let data = self.call(LearnAmpCall::ListUsers(detail))?;
        let users = data
            .users
            .values()
            .map(|u| User {
                listed_deactivated: Some(u.status == UserStatus::Deactivated),
                ..data.view(u, detail == UserDetail::Expanded)
            })
            .collect();
        Ok(UserListing {
            users,
            skipped: Vec::new(),
        })
    }

    /// The listing in pages of Learn Amp's size, so that what streams them is run here as it is
    /// against the HTTP client.
    async fn each_user_page(
        &self,
        detail: UserDetail,
        on_page: &mut (dyn FnMut(UserListing) + Send),
    ) -> Result<(), TargetError> {
        let mut users = self.list_users(detail).await?.users.into_iter().peekable();
        while users.peek().is_some() {
            on_page(UserListing {
                users: users.by_ref().take(PAGE_SIZE).collect(),
                skipped: Vec::new(),
            });
        }
        Ok(())
    }

    async fn list_teams(&self) -> Result<Vec<Team>, TargetError> {
        let data = self.call(LearnAmpCall::ListTeams)?;
        Ok(data.teams.values().cloned().collect())
    }

    async fn create_user(&self, write: &UserWrite) -> Result<u64, TargetError> {
        let mut data = self.call(LearnAmpCall::CreateUser(write.clone()))?;
        data.check_write(None, write)?;
        Ok(match write.skip_invitation {
            Some(true) => data.insert_user(write, UserStatus::NotInvited, 0),
            _ => data.insert_user(write, UserStatus::InvitePending, 1),
        })
    }

    async fn update_user(&self, user_id: u64, write: &UserWrite) -> Result<(), TargetError> {
        let mut data = self.call(LearnAmpCall::UpdateUser(user_id, write.clone()))?;
        data.check_write(Some(user_id), write)?;
        let mut user = data.users[&user_id].clone();
        if write.reactivate {
            reactivated(&mut user);
        }
        data.apply_write(&mut user, write);
        data.users.insert(user_id, user);
        Ok(())
    }

    async fn deactivate_user(&self, user_id: u64) -> Result<(), TargetError> {
        let mut data = self.call(LearnAmpCall::DeactivateUser(user_id))?;
        if !data.users.contains_key(&user_id) {
            return Err(TargetError::NotFound);
        }
        if user_id == OWNER_ID {
            return Err(rejected(
                "The account owner cannot be deactivated".into(),
                &[],
            ));
        }
        data.deactivate(user_id);
        Ok(())
    }

    async fn reactivate_user(&self, user_id: u64) -> Result<(), TargetError> {
        let mut data = self.call(LearnAmpCall::ReactivateUser(user_id))?;
        let user = data.users.get_mut(&user_id).ok_or(TargetError::NotFound)?;
        reactivated(user);
        Ok(())
    }

    async fn team_by_external_id(&self, external_id: &str) -> Result<Option<Team>, TargetError> {
        let data = self.call(LearnAmpCall::TeamByExternalId(external_id.to_string()))?;
        Ok(data.team_of(external_id).cloned())
    }

    async fn create_team(&self, name: &str, external_id: &str) -> Result<Team, TargetError> {
        let mut data = self.call(LearnAmpCall::CreateTeam {
            name: name.to_string(),
            external_id: external_id.to_string(),
        })?;
        if is_blank(name) {
            return Err(invalid_params(&[("name", "is empty")]));
        }
        if !is_blank(external_id) && data.team_of(external_id).is_some() {
            return Err(validation_failed(
                false,
                &[(
                    "integrationExternalId",
                    "Integration external id",
                    "has already been taken",
                )],
            ));
        }
        let external_id = Some(external_id).filter(|x| !is_blank(x));
        Ok(data.insert_team(name.trim(), external_id))
    }

    async fn rename_team(&self, team_id: u64, name: &str) -> Result<Team, TargetError> {
        let mut data = self.call(LearnAmpCall::RenameTeam {
            team_id,
            name: name.to_string(),
        })?;
        if is_blank(name) {
            return Err(invalid_params(&[("name", "is empty")]));
        }
        let team = data.teams.get_mut(&team_id).ok_or(TargetError::NotFound)?;
        team.name = Some(name.trim().to_string());
        Ok(team.clone())
    }

    /// One call per port call, under the HTTP client's endpoint names.
    fn call_stats(&self) -> CallStats {
        let mut stats = CallStats::new();
        for call in &self.data().calls {
            *stats.entry(call.endpoint().to_string()).or_default() += 1;
        }
        stats
    }
}
