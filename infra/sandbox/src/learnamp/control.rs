//! The [`LearnAmpSandbox`] handle: what tests, benchmarks and the demo use to build, steer
//! (token lifetime, answer shapes, validations), seed and inspect a sandbox, in Rust and through
//! the `/_sandbox/*` endpoints, and the server it starts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde_json::Value;

use super::model::{CallCounts, LearnAmpSnapshot, SandboxTeam, SandboxUser, SeedUser, UserShape};
use super::responses::FAULT_ANSWERS;
use super::routing::{api, count_calls};
use super::store::{today, Data, Shared, TRec};
use crate::faults::{FaultKnobs, FaultLayer};
use crate::RunningServer;

/// The Learn Amp sandbox. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct LearnAmpSandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LearnAmpSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearnAmpSandbox")
            .field("client_id", &self.shared.client_id)
            .finish_non_exhaustive()
    }
}

impl LearnAmpSandbox {
    /// A sandbox accepting these OAuth client credentials, with the owner (id 1) seeded and the
    /// custom fields "Employee ID" and "Cost Center" defined.
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        LearnAmpSandbox {
            shared: Arc::new(Shared {
                client_id: client_id.to_string(),
                client_secret: client_secret.to_string(),
                faults: FaultKnobs::default(),
                data: Mutex::new(Data::new()),
                calls: Mutex::new(CallCounts::default()),
            }),
        }
    }

    /// Serves the API on `127.0.0.1:port` (0 = a free port); `base_url` has no path (the token
    /// is at `{base_url}/oauth/token`, resources under `{base_url}/v1`).
    pub async fn start(&self, port: u16) -> std::io::Result<RunningServer> {
        crate::serve(router(self.shared.clone()), port, "").await
    }

    /// The fault knobs of this sandbox.
    pub fn faults(&self) -> FaultKnobs {
        self.shared.faults.clone()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.shared.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lifetime of tokens issued from now on (default 7200 s), reported as `expires_in`.
    pub fn set_token_ttl(&self, secs: u64) {
        self.data().token_ttl = secs;
    }

    /// Token answers report this as `expires_in` (any JSON value) while tokens keep their
    /// real lifetime; `None` reports the truth.
    pub fn set_reported_token_lifetime(&self, expires_in: Option<Value>) {
        self.data().reported_token_lifetime = expires_in;
    }

    /// Listings report these `Total` and `Total-Pages` headers whatever they hold (pages past
    /// the data are empty); `None` reports the truth.
    pub fn set_reported_totals(&self, totals: Option<(u64, u64)>) {
        self.data().reported_totals = totals;
    }

    /// The scopes the credentials were provisioned with: a token request for any other scope
    /// is refused (`invalid_scope`); `Some(vec!["public"])` are legacy credentials. `None`
    /// grants every known scope.
    pub fn set_granted_scopes(&self, scopes: Option<Vec<String>>) {
        self.data().granted_scopes = scopes;
    }

    /// Gives the custom field `name` a presence validation: a write that clears it is refused
    /// with 400, and the old value kept (as the docs describe).
    pub fn require_custom_field(&self, name: &str) {
        self.data().required_custom_fields.insert(name.to_string());
    }

    /// While on, an update without `email`, `firstName` or `lastName` is refused with 400: the
    /// docs mark them required on update too.
    pub fn require_names_on_update(&self, required: bool) {
        self.data().names_required_on_update = required;
    }

    /// Renders users in another shape the docs allow (or do not rule out) from now on.
    pub fn set_user_shape(&self, shape: UserShape) {
        self.data().user_shape = shape;
    }

    /// Expires every token issued so far: their next use → 401.
    pub fn expire_all_tokens(&self) {
        let now = Instant::now();
        for t in self.data().tokens.values_mut() {
            t.expires_at = now;
        }
    }

    /// All users and teams (also served at `GET /_sandbox/state`).
    pub fn snapshot(&self) -> LearnAmpSnapshot {
        let d = self.data();
        LearnAmpSnapshot {
            users: d.users.values().map(|r| r.u.clone()).collect(),
            teams: d.teams.values().map(|t| t.t.clone()).collect(),
        }
    }

    /// One user.
    pub fn user(&self, id: u64) -> Option<SandboxUser> {
        self.data().users.get(&id).map(|r| r.u.clone())
    }

    /// One team.
    pub fn team(&self, id: u64) -> Option<SandboxTeam> {
        self.data().teams.get(&id).map(|t| t.t.clone())
    }

    /// Requests received so far (also served at `GET /_sandbox/calls`).
    pub fn calls(&self) -> CallCounts {
        self.shared
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Resets the call counts.
    pub fn reset_calls(&self) {
        *self.shared.calls.lock().unwrap_or_else(|e| e.into_inner()) = CallCounts::default();
    }

    /// Adds a pre-existing user (status `confirmed`, or `deactivated`) and returns its id.
    ///
    /// # Panics
    /// If the email or the integration external id is already taken.
    pub fn seed_user(&self, s: SeedUser) -> u64 {
        let mut d = self.data();
        assert!(
            !d.email_idx.contains_key(&s.email.to_lowercase()),
            "seed_user: email {} is already taken",
            s.email
        );
        if let Some(ext) = &s.integration_external_id {
            assert!(
                !d.ext_idx.contains_key(ext),
                "seed_user: integration external id {ext} is already taken"
            );
        }
        let id = d.next_user;
        d.next_user += 1;
        let now = Utc::now();
        let u = SandboxUser {
            id,
            email: s.email,
            first_name: s.first_name,
            last_name: s.last_name,
            job_title: None,
            hire_date: None,
            location: None,
            department: None,
            integration_external_id: s.integration_external_id,
            primary_team_id: None,
            secondary_team_ids: Vec::new(),
            manager_id: None,
            status: "confirmed".into(),
            invitations_sent: 1,
            custom_fields: BTreeMap::new(),
            role: "viewer".into(),
        };
        let mut rec = d.new_rec(u, now);
        if s.deactivated {
            rec.u.status = "deactivated".into();
            rec.deactivated_at = Some(now);
        }
        d.put_user(rec);
        id
    }

    /// Adds a team and returns its id.
    ///
    /// # Panics
    /// If the integration external id is already taken.
    pub fn seed_team(
        &self,
        name: &str,
        integration_external_id: Option<&str>,
        parent_team_id: Option<u64>,
    ) -> u64 {
        let mut d = self.data();
        if let Some(ext) = integration_external_id {
            assert!(
                !d.team_ext_idx.contains_key(ext),
                "seed_team: integration external id {ext} is already taken"
            );
        }
        let id = d.next_team;
        d.next_team += 1;
        d.put_team(TRec {
            t: SandboxTeam {
                id,
                name: name.to_string(),
                integration_external_id: integration_external_id.map(str::to_string),
                parent_team_id,
                manager_id: None,
            },
            secondary_manager_ids: Vec::new(),
            tags: Vec::new(),
        });
        id
    }

    /// "An admin edited the user by hand": applies `f` without counting a call. Changing
    /// `status` here has no side effects.
    pub fn admin_update_user(&self, id: u64, f: impl FnOnce(&mut SandboxUser)) {
        let mut d = self.data();
        let Some(mut rec) = d.users.get(&id).cloned() else {
            return;
        };
        let before = rec.u.status.clone();
        f(&mut rec.u);
        rec.u.id = id;
        rec.updated_at = Utc::now();
        if rec.u.status != before {
            rec.status_date = today();
        }
        d.put_user(rec);
    }

    /// "An admin deactivated the user by hand", with the same side effects as the API.
    pub fn admin_deactivate_user(&self, id: u64) {
        self.data().deactivate(id);
    }

    /// Adds a secondary team membership (no call counted). Unknown ids are ignored.
    pub fn add_secondary_team(&self, user_id: u64, team_id: u64) {
        let mut d = self.data();
        if !d.teams.contains_key(&team_id) {
            return;
        }
        let Some(mut rec) = d.users.get(&user_id).cloned() else {
            return;
        };
        if rec.u.primary_team_id != Some(team_id) && !rec.u.secondary_team_ids.contains(&team_id) {
            rec.u.secondary_team_ids.push(team_id);
            d.put_user(rec);
        }
    }

    /// "An admin edited the team by hand" (parent, manager, name): applies `f` without counting
    /// a call. Unknown ids are ignored.
    pub fn admin_update_team(&self, id: u64, f: impl FnOnce(&mut SandboxTeam)) {
        let mut d = self.data();
        let Some(mut rec) = d.teams.get(&id).cloned() else {
            return;
        };
        f(&mut rec.t);
        rec.t.id = id;
        d.put_team(rec);
    }

    /// Defines a custom field name (defaults: "Employee ID", "Cost Center").
    pub fn define_custom_field(&self, name: &str) {
        self.data().custom_field_defs.insert(name.to_string());
    }
}

fn router(sh: Arc<Shared>) -> Router {
    let faults = FaultLayer {
        knobs: sh.faults.clone(),
        answers: FAULT_ANSWERS,
    };
    Router::new()
        .fallback(api)
        .layer(from_fn_with_state(faults, crate::faults::middleware))
        .layer(from_fn_with_state(sh.clone(), count_calls))
        .route("/_sandbox/state", get(sandbox_state))
        .route("/_sandbox/calls", get(sandbox_calls))
        .with_state(sh)
}

async fn sandbox_state(State(sh): State<Arc<Shared>>) -> Response {
    let sb = LearnAmpSandbox { shared: sh };
    Json(sb.snapshot()).into_response()
}

async fn sandbox_calls(State(sh): State<Arc<Shared>>) -> Response {
    let sb = LearnAmpSandbox { shared: sh };
    Json(sb.calls()).into_response()
}
