//! One employee's desired state → the Learn Amp calls that make the user match, then the state
//! that records it.
//!
//! Crash safety: state is written after Learn Amp accepted a change. A run killed in between
//! leaves a Learn Amp user the state does not know; the next create for that employee is then
//! refused by Learn Amp ("integrationExternalId has already been taken") and the applier links
//! the existing user instead of creating another. So no crash can duplicate a user, and the
//! invitation, sent only by a create that succeeded, is never sent twice.

use crate::error::{StoreError, TargetError};
use crate::fields::{field_hash, Field};
use crate::learnamp::{User, UserWrite};
use crate::mapping::DesiredUser;
use crate::messages::ChangeMessage;
use crate::planner::decide;
use crate::ports::{LearnAmp, StateStore};
use crate::report::{ActionKind, ActionRecord};
use crate::settings::{InvitePolicy, TenantSettings};
use crate::state::EmployeeState;
use chrono::Utc;
use thiserror::Error;

/// Why a change could not be applied now. Permanent Learn Amp rejections are not errors: they
/// end as a `failed` record on the employee.
#[derive(Debug, Error)]
pub enum ApplyError {
    #[error("retryable: {0}")]
    Retryable(TargetError),
    /// Learn Amp refused the credentials: every further call would fail too.
    #[error("fatal: {0}")]
    Fatal(TargetError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApplyError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Retryable(_) => true,
            Self::Fatal(_) => false,
            Self::Store(e) => e.is_retryable(),
        }
    }
}

pub use crate::known_users::KnownUsers;

#[derive(Clone, Copy)]
pub struct Applier<'a> {
    pub learnamp: &'a dyn LearnAmp,
    pub store: &'a dyn StateStore,
    pub settings: &'a TenantSettings,
    pub known: Option<&'a KnownUsers>,
    /// The manager's state, when it was read beforehand (the apply function reads it beside its
    /// claim, so that it costs no round trip in series); otherwise read when a write needs it.
    pub manager_state: Option<&'a Option<EmployeeState>>,
}

type Outcome = Result<ActionRecord, ApplyError>;

/// Where a user write goes.
#[derive(Clone, Copy)]
enum Target {
    Create,
    Update(u64),
}

impl Applier<'_> {
    fn tenant(&self) -> &str {
        &self.settings.tenant_id
    }

    /// Reads the employee's state, makes the change, and writes the state it leads to.
    pub async fn apply(&self, message: &ChangeMessage) -> Outcome {
        let state = self
            .store
            .employee(self.tenant(), &message.desired.employee_id)
            .await?;
        let (record, new_state) = self.apply_to(message, state).await?;
        if let Some(state) = new_state {
            self.store.put_employee(self.tenant(), &state).await?;
        }
        Ok(record)
    }

    /// Makes the change from `state` (the employee's, as read by the caller): what was done, and
    /// the state to record, if it changed. Writes no state: the caller does, with its completion.
    pub async fn apply_to(
        &self,
        message: &ChangeMessage,
        state: Option<EmployeeState>,
    ) -> Result<(ActionRecord, Option<EmployeeState>), ApplyError> {
        let desired = &message.desired;
        let unchanged = |record| Ok((record, None));
        if let Some(s) = &state {
            if let (Some(applied), Some(incoming)) = (s.source_version, desired.source_version) {
                if applied > incoming {
                    return unchanged(record(
                        desired,
                        s.learnamp_user_id,
                        ActionKind::Unchanged,
                        "stale change skipped: a newer version was already applied",
                    ));
                }
            }
            if s.applied_hash.as_deref() == Some(message.desired_hash.as_str()) {
                return unchanged(record(
                    desired,
                    s.learnamp_user_id,
                    ActionKind::Unchanged,
                    "already applied",
                ));
            }
        }
        let decision = decide(desired, state.as_ref(), self.settings.invite_policy);
        let now = Utc::now();
        let mut state = state.unwrap_or_else(|| EmployeeState::new(&desired.employee_id, now));
        let result = match decision.kind {
            ActionKind::Create => self.create(desired, &mut state, &decision.detail).await,
            ActionKind::Update => {
                self.update(desired, &mut state, &decision.fields, &decision.detail)
                    .await
            }
            ActionKind::Reactivate => self.reactivate(desired, &mut state, &decision.detail).await,
            ActionKind::Deactivate => self.deactivate(desired, &mut state, &decision.detail).await,
            kind => {
                return unchanged(record(
                    desired,
                    state.learnamp_user_id,
                    kind,
                    &decision.detail,
                ))
            }
        };
        match result {
            Ok(record) => {
                state.last_error = None;
                state.source_version = desired.source_version.or(state.source_version);
                state.updated_at = now;
                Ok((record, Some(state)))
            }
            Err(e) if e.is_fatal() => Err(ApplyError::Fatal(e)),
            Err(e) if e.is_retryable() => Err(ApplyError::Retryable(e)),
            Err(e) => {
                let detail = format!("{}: {e}", decision.kind.as_str());
                state.last_error = Some(e.to_string());
                state.updated_at = now;
                tracing::warn!(employee_id = %desired.employee_id, learnamp_user_id = state.learnamp_user_id, error = %e, "change rejected by Learn Amp");
                let failed = record(desired, state.learnamp_user_id, ActionKind::Failed, &detail);
                Ok((failed, Some(state)))
            }
        }
    }

    /// The manager's Learn Amp id, when the manager is an active user the sync knows.
    async fn manager_user_id(&self, desired: &DesiredUser) -> Result<Option<u64>, TargetError> {
        let Some(manager) = &desired.manager_employee_id else {
            return Ok(None);
        };
        if let Some(read) = self.manager_state {
            return Ok(read
                .as_ref()
                .filter(|s| s.active)
                .and_then(|s| s.learnamp_user_id));
        }
        match self.store.employee(self.tenant(), manager).await {
            Ok(Some(s)) if s.active => Ok(s.learnamp_user_id),
            Ok(_) => Ok(None),
            Err(e) => Err(TargetError::Transient(format!("state store: {e}"))),
        }
    }

    /// A write of `fields`. Returns it with the fields it really holds: a manager that is not an
    /// active user yet stays "differing" for the next run.
    async fn write_for(
        &self,
        desired: &DesiredUser,
        fields: &[Field],
        target: Target,
    ) -> Result<(UserWrite, Vec<Field>), TargetError> {
        let mut write = UserWrite::default();
        let mut written = Vec::new();
        for field in fields {
            let value = desired.value(field);
            let holds = match field {
                Field::Email => set(&mut write.email, desired.email.clone()),
                Field::FirstName => set(&mut write.first_name, desired.first_name.clone()),
                Field::LastName => set(&mut write.last_name, desired.last_name.clone()),
                Field::JobTitle => set(&mut write.job_title, desired.job_title.clone()),
                Field::HireDate => set(&mut write.hire_date, value.clone()),
                Field::PrimaryTeam => set(
                    &mut write.primary_team_integration_external_id,
                    value.clone(),
                ),
                Field::Location => set(&mut write.location, value.clone()),
                Field::Manager => match (
                    &desired.manager_employee_id,
                    self.manager_user_id(desired).await?,
                ) {
                    (Some(_), Some(id)) => {
                        write.manager_id = Some(id);
                        true
                    }
                    (Some(_), None) => false, // manager not an active user yet: next run
                    // No manager wanted. Learn Amp offers no way to clear an override manager,
                    // and moves a deactivated manager's reports to the account owner itself.
                    (None, _) => true,
                },
                Field::Custom(name) => match (&value, target) {
                    (Some(v), _) => {
                        write.custom_fields.push((name.clone(), v.clone()));
                        true
                    }
                    // Cleared in Personio: an empty value clears it in Learn Amp.
                    (None, Target::Update(_)) => {
                        write.custom_fields.push((name.clone(), String::new()));
                        true
                    }
                    (None, Target::Create) => true,
                },
            };
            // A fixed field absent in Personio is not cleared in Learn Amp, but counts as applied.
            if holds || value.is_none() {
                written.push(field.clone());
            }
        }
        Ok((write, written))
    }

    /// Sends a create or an update; the user's id. An update always carries `email`,
    /// `firstName` and `lastName` from the desired state (the docs mark them required on update).
    /// A refusal that blames custom fields does not sink the rest of the write: an unknown
    /// custom field name (404), or a 400 that names a custom field (a presence validation on a
    /// clear). The write is sent again without the custom fields blamed, and the note says which
    /// were left out, so they are reported once and not retried until their values change.
    async fn send(
        &self,
        target: Target,
        desired: &DesiredUser,
        write: &UserWrite,
    ) -> Result<(u64, Option<String>), TargetError> {
        let mut write = write.clone();
        if let Target::Update(_) = target {
            write.email = write.email.or_else(|| desired.email.clone());
            write.first_name = write.first_name.or_else(|| desired.first_name.clone());
            write.last_name = write.last_name.or_else(|| desired.last_name.clone());
        }
        let refused = match self.send_once(target, &write).await {
            Err(e) if !write.custom_fields.is_empty() => e,
            other => return other.map(|id| (id, None)),
        };
        let (blamed, why) = match &refused {
            TargetError::NotFound => (
                write.custom_fields.iter().map(|(n, _)| n.clone()).collect(),
                "unknown to Learn Amp: not written (check the tenant's custom field mapping)",
            ),
            TargetError::Rejected { .. } => match blamed_custom_fields(&refused, &write) {
                blamed if blamed.is_empty() => return Err(refused),
                blamed => (
                    blamed,
                    "refused by Learn Amp: not written, the rest of the change was",
                ),
            },
            _ => return Err(refused),
        };
        write.custom_fields.retain(|(n, _)| !blamed.contains(n));
        let id = self.send_once(target, &write).await?;
        let names: Vec<String> = blamed.iter().map(|n| format!("'{n}'")).collect();
        tracing::warn!(employee_id = %desired.employee_id, fields = blamed.len(), "custom fields left out of a write Learn Amp refused");
        Ok((id, Some(format!("custom field {} {why}", names.join(", ")))))
    }

    async fn send_once(&self, target: Target, write: &UserWrite) -> Result<u64, TargetError> {
        match target {
            Target::Create => self.learnamp.create_user(write).await,
            Target::Update(id) => self.learnamp.update_user(id, write).await.map(|()| id),
        }
    }

    fn mark_applied(state: &mut EmployeeState, desired: &DesiredUser, written: &[Field]) {
        for field in written {
            state.applied_fields.insert(
                field.clone(),
                field_hash(&desired.employee_id, field, desired.value(field).as_deref()),
            );
        }
        let complete = state.differing_fields(desired).is_empty();
        state.applied_hash = complete.then(|| desired.state_hash());
    }

    async fn create(
        &self,
        desired: &DesiredUser,
        state: &mut EmployeeState,
        detail: &str,
    ) -> Result<ActionRecord, TargetError> {
        if let Some(known) = self.known {
            if let Some(user) = known.by_external_id(&desired.employee_id) {
                return self
                    .adopt(
                        desired,
                        state,
                        user,
                        None,
                        "linked the Learn Amp user that already carries this employee's id",
                    )
                    .await;
            }
            let email = desired.email.as_deref().unwrap_or_default();
            if let Some((user, previous)) = self.adoptable(desired, &known.by_email(email)).await? {
                return self
                    .adopt(
                        desired,
                        state,
                        user,
                        previous,
                        "adopted the existing Learn Amp user with this email",
                    )
                    .await;
            }
        }
        let (mut write, written) = self
            .write_for(desired, &desired.fields(), Target::Create)
            .await?;
        write.integration_external_id = Some(desired.employee_id.clone());
        // Someone invited once (a user deleted by hand and now created again) is not invited again.
        let skip_invitation = self.settings.invite_policy == InvitePolicy::Manual || state.invited;
        write.skip_invitation = Some(skip_invitation);
        match self.send(Target::Create, desired, &write).await {
            Ok((user_id, note)) => {
                state.learnamp_user_id = Some(user_id);
                state.active = true;
                state.invited |= !skip_invitation;
                Self::mark_applied(state, desired, &written);
                tracing::info!(employee_id = %desired.employee_id, learnamp_user_id = user_id, invited = !skip_invitation, "user created");
                Ok(record(
                    desired,
                    Some(user_id),
                    ActionKind::Create,
                    &with_note(detail, note),
                ))
            }
            Err(e) if e.is_taken("integrationExternalId") => {
                // Created before, by a run that did not live to record it.
                let user = self
                    .learnamp
                    .user_by_external_id(&desired.employee_id)
                    .await?
                    .ok_or(e)?;
                self.adopt(
                    desired,
                    state,
                    user,
                    None,
                    "linked the user an interrupted run had created",
                )
                .await
            }
            Err(e) if e.is_taken("email") => {
                let email = desired.email.as_deref().unwrap_or_default();
                let candidates = self.learnamp.users_by_email(email).await?;
                match self.adoptable(desired, &candidates).await? {
                    Some((user, previous)) => {
                        self.adopt(desired, state, user, previous, "adopted the existing Learn Amp user with this email")
                            .await
                    }
                    None => Err(TargetError::Rejected {
                        status: 400,
                        message: "conflict: the work email already belongs to a Learn Amp user linked to another active employee".into(),
                        field_errors: Default::default(),
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Among users with the employee's email, the one it may take over: a user nobody linked,
    /// or a deactivated user whose employee has left (a rehire under a new Kombo id). Returns it
    /// with the employee it was linked to, if any.
    async fn adoptable(
        &self,
        desired: &DesiredUser,
        candidates: &[User],
    ) -> Result<Option<(User, Option<String>)>, TargetError> {
        let Some(email) = desired.email.as_deref() else {
            return Ok(None);
        };
        for user in candidates {
            if !user
                .email
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(email))
            {
                continue;
            }
            match user
                .integration_external_id
                .as_deref()
                .filter(|x| !x.is_empty())
            {
                None => return Ok(Some((user.clone(), None))),
                Some(x) if x == desired.employee_id => return Ok(Some((user.clone(), None))),
                Some(other) if user.is_deactivated() => {
                    let owner = self
                        .store
                        .employee(self.tenant(), other)
                        .await
                        .map_err(|e| TargetError::Transient(format!("state store: {e}")))?;
                    if !owner.is_some_and(|s| s.active) {
                        return Ok(Some((user.clone(), Some(other.to_string()))));
                    }
                }
                Some(_) => {}
            }
        }
        Ok(None)
    }

    /// Takes over an existing Learn Amp user: links it to the employee and writes every field,
    /// reactivating it when it was deactivated. No invitation is sent. `previous` is the employee
    /// the user was linked to before (a rehire under a new id); it is unlinked.
    async fn adopt(
        &self,
        desired: &DesiredUser,
        state: &mut EmployeeState,
        user: User,
        previous: Option<String>,
        why: &str,
    ) -> Result<ActionRecord, TargetError> {
        // A deactivated user brought back this way is a reactivation; any other was adopted.
        let kind = match user.is_deactivated() {
            true => ActionKind::Reactivate,
            false => ActionKind::Adopt,
        };
        let (mut write, written) = self
            .write_for(desired, &desired.fields(), Target::Update(user.id))
            .await?;
        if user.integration_external_id.as_deref() != Some(desired.employee_id.as_str()) {
            write.integration_external_id = Some(desired.employee_id.clone());
        }
        // Always: whatever Learn Amp's status label said, the employee wants an active user.
        write.reactivate = true;
        let (_, note) = self.send(Target::Update(user.id), desired, &write).await?;
        if let Some(previous) = &previous {
            if let Ok(Some(mut old)) = self.store.employee(self.tenant(), previous).await {
                old.learnamp_user_id = None;
                old.active = false;
                old.updated_at = Utc::now();
                self.store
                    .put_employee(self.tenant(), &old)
                    .await
                    .map_err(|e| TargetError::Transient(format!("state store: {e}")))?;
            }
        }
        state.learnamp_user_id = Some(user.id);
        state.active = true;
        // Whether the adopted user was ever invited is not ours to know: never invite again.
        state.invited = true;
        state.applied_fields.clear();
        Self::mark_applied(state, desired, &written);
        tracing::info!(employee_id = %desired.employee_id, learnamp_user_id = user.id, rehire = previous.is_some(), "existing user linked");
        let why = match &previous {
            Some(old) => {
                format!("rehire: reactivated and re-linked the user of former employee {old}")
            }
            None => why.to_string(),
        };
        Ok(record(desired, Some(user.id), kind, &with_note(&why, note)))
    }

    async fn update(
        &self,
        desired: &DesiredUser,
        state: &mut EmployeeState,
        fields: &[Field],
        detail: &str,
    ) -> Result<ActionRecord, TargetError> {
        let user_id = state
            .learnamp_user_id
            .expect("updates are for linked users");
        let (write, written) = self
            .write_for(desired, fields, Target::Update(user_id))
            .await?;
        let mut note = None;
        if !write.is_empty() {
            match self.send(Target::Update(user_id), desired, &write).await {
                Ok((_, n)) => note = n,
                Err(TargetError::NotFound) => return self.relink(desired, state).await,
                Err(e) => return Err(e),
            }
        }
        Self::mark_applied(state, desired, &written);
        let kind = if write.is_empty() {
            ActionKind::Unchanged
        } else {
            ActionKind::Update
        };
        tracing::info!(employee_id = %desired.employee_id, learnamp_user_id = user_id, fields = written.len(), "user updated");
        Ok(record(
            desired,
            Some(user_id),
            kind,
            &with_note(detail, note),
        ))
    }

    /// The linked user is gone from Learn Amp (deleted by an admin): find it by external id, or
    /// create it again.
    async fn relink(
        &self,
        desired: &DesiredUser,
        state: &mut EmployeeState,
    ) -> Result<ActionRecord, TargetError> {
        match self
            .learnamp
            .user_by_external_id(&desired.employee_id)
            .await?
        {
            Some(user) => {
                self.adopt(
                    desired,
                    state,
                    user,
                    None,
                    "re-linked the user by external id",
                )
                .await
            }
            None => {
                state.learnamp_user_id = None;
                state.applied_fields.clear();
                state.applied_hash = None;
                Box::pin(self.create(
                    desired,
                    state,
                    "the Learn Amp user was deleted: created again",
                ))
                .await
            }
        }
    }

    async fn reactivate(
        &self,
        desired: &DesiredUser,
        state: &mut EmployeeState,
        detail: &str,
    ) -> Result<ActionRecord, TargetError> {
        let user_id = state
            .learnamp_user_id
            .expect("reactivations are for linked users");
        // Learn Amp's deactivation removed the user from every team and from its manager, so
        // everything is written again, in the same call that reactivates.
        let (mut write, written) = self
            .write_for(desired, &desired.fields(), Target::Update(user_id))
            .await?;
        write.reactivate = true;
        let note = match self.send(Target::Update(user_id), desired, &write).await {
            Ok((_, note)) => note,
            Err(TargetError::NotFound) => return self.relink(desired, state).await,
            Err(e) => return Err(e),
        };
        state.active = true;
        state.applied_fields.clear();
        Self::mark_applied(state, desired, &written);
        tracing::info!(employee_id = %desired.employee_id, learnamp_user_id = user_id, "user reactivated");
        Ok(record(
            desired,
            Some(user_id),
            ActionKind::Reactivate,
            &with_note(detail, note),
        ))
    }

    async fn deactivate(
        &self,
        desired: &DesiredUser,
        state: &mut EmployeeState,
        detail: &str,
    ) -> Result<ActionRecord, TargetError> {
        let user_id = state
            .learnamp_user_id
            .expect("deactivations are for linked users");
        match self.learnamp.deactivate_user(user_id).await {
            Ok(()) | Err(TargetError::NotFound) => {}
            Err(e) => return Err(e),
        }
        state.active = false;
        state.applied_hash = Some(desired.state_hash());
        tracing::info!(employee_id = %desired.employee_id, learnamp_user_id = user_id, "user deactivated");
        Ok(record(
            desired,
            Some(user_id),
            ActionKind::Deactivate,
            detail,
        ))
    }
}

/// The custom fields of `write` that a rejection blames: those it names (in its message or
/// its field errors, case-insensitively), or, when it blames `customFields` without naming one,
/// the fields the write clears (the documented presence validation), else all of them.
fn blamed_custom_fields(refusal: &TargetError, write: &UserWrite) -> Vec<String> {
    let TargetError::Rejected {
        message,
        field_errors,
        ..
    } = refusal
    else {
        return Vec::new();
    };
    let mut said = message.to_lowercase();
    for (key, messages) in field_errors {
        said.push(' ');
        said.push_str(&key.to_lowercase());
        for m in messages {
            said.push(' ');
            said.push_str(&m.to_lowercase());
        }
    }
    let named: Vec<String> = write
        .custom_fields
        .iter()
        .filter(|(n, _)| said.contains(&n.to_lowercase()))
        .map(|(n, _)| n.clone())
        .collect();
    if !named.is_empty() || !(said.contains("customfield") || said.contains("custom field")) {
        return named;
    }
    let clears: Vec<String> = write
        .custom_fields
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(n, _)| n.clone())
        .collect();
    if clears.is_empty() {
        write.custom_fields.iter().map(|(n, _)| n.clone()).collect()
    } else {
        clears
    }
}

fn with_note(detail: &str, note: Option<String>) -> String {
    match note {
        Some(note) => format!("{detail}; {note}"),
        None => detail.to_string(),
    }
}

fn set(slot: &mut Option<String>, value: Option<String>) -> bool {
    let holds = value.is_some();
    *slot = value;
    holds
}

fn record(
    desired: &DesiredUser,
    user: Option<u64>,
    kind: ActionKind,
    detail: &str,
) -> ActionRecord {
    ActionRecord {
        employee_id: desired.employee_id.clone(),
        action: kind,
        learnamp_user_id: user,
        detail: detail.to_string(),
    }
}

#[cfg(test)]
mod tests;
