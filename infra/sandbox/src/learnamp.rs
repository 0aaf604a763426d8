//! A simulator of Learn Amp's public API (token at `/oauth/token`, resources under `/v1`), as
//! documented in `learnamp-api-docs` (authentication, users, teams, team users, pagination,
//! errors) and the research notes (deactivation side effects from Learn Amp's knowledge base).
//!
//! # What it enforces
//!
//! * `POST /oauth/token` (OAuth2 client credentials, Doorkeeper-style): the body may be
//!   `application/x-www-form-urlencoded`, `multipart/form-data` (curl `--form`) or JSON; the
//!   client may also authenticate with HTTP Basic. A missing `grant_type` → 400
//!   `invalid_request`, another grant type → 400 `unsupported_grant_type`, bad or missing
//!   credentials → 401 `invalid_client`, an unknown scope → 400 `invalid_scope`. The response is
//!   `{"access_token","token_type":"Bearer","expires_in","scope","created_at"}`, `scope` being
//!   the requested scopes or `public`.
//! * Every `/v1` call needs `Authorization: Bearer <token>` of an unexpired token, else 401
//!   `{"error":"The access token is invalid"}` / `{"error":"The access token expired"}` (with a
//!   `WWW-Authenticate` header).
//! * Scopes: a token with `public` (the default) has full access (the sandbox's credentials are
//!   "legacy" ones). A token requested with granular scopes only may call only the endpoints whose
//!   documented scope it has, else 403 `{"error":"Access to this resource requires scope \"...\"."}`.
//! * Users, teams and team membership routes and their validations as documented: Grape-style
//!   400 bodies (`{"error":"email is missing, ...","fullErrors":{...}}`), "are mutually
//!   exclusive" pairs, unknown team external ids, unknown/inactive managers, duplicate
//!   `integrationExternalId` ("Validation failed: ..."), unknown custom field → 404, unknown
//!   `occupationRole` → 422, 404 `{"error":"Not found"}`.
//! * Pagination (`page`, `perPage`) with the `Total`, `Per-Page`, `Total-Pages` headers on every
//!   list; paths also accept a `.json` suffix; external ids in paths are URL-decoded.
//! * Deactivation (API or [`LearnAmpSandbox::admin_deactivate_user`]) follows the knowledge
//!   base: the user leaves all teams (primary and secondary), users whose override manager it
//!   was get the account owner as manager, teams it managed get the owner as manager (and it is
//!   dropped from secondary managers). The owner (id 1, role `owner`,
//!   `owner@sandbox.learnamp.test`, confirmed) is seeded at start.
//!
//! # Choices where the docs are silent
//!
//! * **Email** is unique in the company, case-insensitively (deactivated users included):
//!   a duplicate on create, or an update that changes the email to a taken one → 400
//!   `{"error":"Validation failed: Email has already been taken","fullErrors":{"email":["has already been taken"]}}`.
//!   Emails are stored as sent; `filters[email]` is an exact, case-insensitive match. An email
//!   without `local@domain.tld` shape → 400 "Validation failed: Email is invalid".
//! * **Updates are partial**: only the fields sent change. An empty value clears optional
//!   fields (`integrationExternalId`, `jobTitle`, `hireDate`, `location`, `department`,
//!   `primaryTeamId`, `managerId`, ...); an empty `email`/`firstName`/`lastName` → "is empty".
//!   Setting the primary team never touches secondary teams (the old primary membership is
//!   replaced, not demoted); a team never appears as both primary and secondary.
//!   `secondaryTeamIds` replaces the secondary teams (`secondaryTeamIds[]=` with an empty value
//!   clears them). An update of a deactivated user without `reactivate=true` is applied and the
//!   user stays deactivated. `skipInvitation` is ignored on update.
//! * **Statuses**: create sends an invitation (`invite_pending`, `invitations_sent += 1`) unless
//!   `skipInvitation=true` (`not_invited`). Reactivation restores the status the user had before
//!   deactivation (`confirmed`, `invite_pending` or `not_invited`; seeded deactivated users count
//!   as `confirmed`) and sends nothing. The JSON `status` is the documented display object:
//!   `Confirmed`/`Deactivated` with `"On 29 Nov 16"`, `Invite pending` with `"Sent 25 Sep 19"`,
//!   `Not invited` with `time: null`.
//! * A manager (`managerId`/`managerEmail`) must be an existing, non-deactivated user other than
//!   the user itself; an unknown `managerId` → 400
//!   `{"error":"managerId must match an existing active user within your company"}`.
//! * The account owner cannot be deactivated or deleted (400).
//! * Deleting a user removes its memberships and clears it as manager of users and teams.
//! * `perPage` defaults to 25 and is capped at 100; `page` starts at 1; a non-integer or
//!   non-positive value → 400. `Total-Pages` is 0 for an empty list. Lists are ordered by id.
//! * `filters[name]` on teams is a case-insensitive substring match (like the users' name
//!   filters). Team names need not be unique; `teamName`/`parentTeamName` pick the lowest id
//!   among case-insensitive exact matches.
//! * `PUT /v1/teams/...` is partial (`name`, `integrationExternalId`, `managerId`,
//!   `parentTeamId`, `tags`, `response`); other team fields are ignored on update. A parent that
//!   would create a cycle → 400.
//! * Team membership: adding an existing member is idempotent (201 with the same membership
//!   id); `isPrimary: true` makes the team the user's primary team. Unknown users/teams → 404,
//!   except an unknown `teamIntegrationExternalId` on `POST /v1/teams/users` (400, documented).
//!   Bulk add is not simulated.
//! * The user JSON: `manager` is the override manager only (`null` if none); `customFields` (in
//!   expanded/show responses) is `[{"name","value"}]`; `occupationRole` is `null` (the sandbox
//!   company defines no occupation roles, so setting one → 422); `timeZone` is `"London"`.
//! * Request bodies may be form-encoded, multipart or JSON, on every route; query parameters are
//!   merged in (the body wins). `customFields` follows Rack's array-of-hashes rules
//!   (`customFields[][name]=..&customFields[][value]=..`).
//! * Every request to `/v1/*` or `/oauth/*` is counted in [`CallCounts`] under its route template
//!   (e.g. `PUT /v1/users/{id}`), before faults are injected, so faulted and unauthorised
//!   requests count too; unmatched paths are counted under `"METHOD <path>"`.

// Handlers return the error `Response` itself as the `Err` of their `Result`s.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::faults::{FaultAnswers, FaultKnobs, FaultLayer};
use crate::util::{
    content_type_param, midnight_utc, parse_iso_datetime, parse_multipart, percent_decode,
    rails_nest,
};
use crate::RunningServer;

/// The id of the account owner seeded in every sandbox.
pub const OWNER_ID: u64 = 1;
/// The email of the seeded account owner.
pub const OWNER_EMAIL: &str = "owner@sandbox.learnamp.test";

const FIRST_USER_ID: u64 = 1001;
const FIRST_TEAM_ID: u64 = 301;
const PROFILE_BASE: &str = "https://sandbox.learnamp.com/en/users";
const AVATAR_URL: &str = "https://sandbox.learnamp.com/images/default-avatar.png";

const LANGUAGES: &[&str] = &[
    "en", "en-US", "de", "es", "es-CO", "fr", "fr-CA", "it", "nl", "pt-BR", "pl", "ru", "no", "sv",
    "da", "zh-CN", "zh-TW", "ja", "ar", "sk", "ca", "cy", "el", "hu", "pt-PT", "ro", "tr",
];
const SETTABLE_ROLES: &[&str] = &[
    "viewer",
    "curator",
    "reporter",
    "learning_designer",
    "hr",
    "admin",
];
const STATUS_VALUES: &[&str] = &[
    "not_invited",
    "invite_scheduled",
    "invite_pending",
    "confirmed",
    "deactivated",
];
const KNOWN_SCOPES: &[&str] = &[
    "public",
    "items:read",
    "items:create",
    "items:update",
    "items:delete",
    "items:complete",
    "activities:read",
    "enrollments:read",
    "enrollments:create",
    "events:read",
    "teams:read",
    "teams:create",
    "teams:update",
    "teams:delete",
    "team_users:read",
    "team_users:create",
    "team_users:delete",
    "users:read",
    "users:create",
    "users:update",
    "users:delete",
    "users:deactivate",
    "users:reactivate",
    "communities_posts:read",
    "tasks:read",
    "verbs:read",
    "languages:read",
    "learnlists:read",
    "channels:read",
    "channel_users_progress:read",
    "user_channels_progress:read",
    "roles:read",
];

/// A user that existed before the integration (e.g. created by hand).
#[derive(Clone, Debug, Default)]
pub struct SeedUser {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub integration_external_id: Option<String>,
    pub deactivated: bool,
}

/// Shapes of the user object the docs allow and the sandbox can answer in: the docs show no
/// schema, only examples.
#[derive(Debug, Clone, Default)]
pub struct UserShape {
    /// "No manager" as `{}` (as the docs' examples show it), not `null`.
    pub empty_manager: bool,
    /// `customFields` of every expanded user replaced by this value (the docs never show it).
    pub custom_fields: Option<Value>,
    /// One more key on every expanded user.
    pub extra_field: Option<(String, Value)>,
    /// Status labels in another language (the label is display text, not an enum).
    pub localized_status: bool,
}

/// A user as the sandbox stores it.
#[derive(Serialize, Clone, Debug)]
pub struct SandboxUser {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub job_title: Option<String>,
    /// `YYYY-MM-DD`.
    pub hire_date: Option<String>,
    pub location: Option<String>,
    pub department: Option<String>,
    pub integration_external_id: Option<String>,
    pub primary_team_id: Option<u64>,
    pub secondary_team_ids: Vec<u64>,
    /// The override manager.
    pub manager_id: Option<u64>,
    /// `not_invited`, `invite_pending`, `confirmed` or `deactivated`.
    pub status: String,
    pub invitations_sent: u32,
    pub custom_fields: BTreeMap<String, String>,
    pub role: String,
}

/// A team as the sandbox stores it.
#[derive(Serialize, Clone, Debug)]
pub struct SandboxTeam {
    pub id: u64,
    pub name: String,
    pub integration_external_id: Option<String>,
    pub parent_team_id: Option<u64>,
    pub manager_id: Option<u64>,
}

/// Everything in the sandbox, ordered by id.
#[derive(Serialize, Clone, Debug)]
pub struct LearnAmpSnapshot {
    pub users: Vec<SandboxUser>,
    pub teams: Vec<SandboxTeam>,
}

impl LearnAmpSnapshot {
    /// The user with this integration external id.
    pub fn user_by_external_id(&self, ext: &str) -> Option<&SandboxUser> {
        self.users
            .iter()
            .find(|u| u.integration_external_id.as_deref() == Some(ext))
    }

    /// The user with this email (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<&SandboxUser> {
        self.users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// The team with this integration external id.
    pub fn team_by_external_id(&self, ext: &str) -> Option<&SandboxTeam> {
        self.teams
            .iter()
            .find(|t| t.integration_external_id.as_deref() == Some(ext))
    }
}

/// Requests received, by route template (`"METHOD /route/template"`).
#[derive(Serialize, Clone, Debug, Default)]
pub struct CallCounts {
    /// Every request, those the fault layer answered (429, 503) included.
    pub by_endpoint: BTreeMap<String, u64>,
    pub total: u64,
    /// The requests that got past the fault layer to the API itself: what Learn Amp did.
    pub served_by_endpoint: BTreeMap<String, u64>,
}

impl CallCounts {
    /// POST/PUT/PATCH/DELETE requests under `/v1` (the token endpoint is not a write).
    pub fn writes(&self) -> u64 {
        writes_of(&self.by_endpoint)
    }

    /// The writes that reached the API (not turned away by an injected fault or the rate limit).
    pub fn served_writes(&self) -> u64 {
        writes_of(&self.served_by_endpoint)
    }

    /// The count of one key, 0 if never called.
    pub fn get(&self, key: &str) -> u64 {
        self.by_endpoint.get(key).copied().unwrap_or(0)
    }
}

fn writes_of(by_endpoint: &BTreeMap<String, u64>) -> u64 {
    by_endpoint
        .iter()
        .filter(|(k, _)| {
            k.split_once(' ').is_some_and(|(m, p)| {
                matches!(m, "POST" | "PUT" | "PATCH" | "DELETE") && p.starts_with("/v1")
            })
        })
        .map(|(_, n)| n)
        .sum()
}

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

struct Shared {
    client_id: String,
    client_secret: String,
    faults: FaultKnobs,
    data: Mutex<Data>,
    calls: Mutex<CallCounts>,
}

#[derive(Clone)]
struct URec {
    u: SandboxUser,
    language: String,
    time_zone: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deactivated_at: Option<DateTime<Utc>>,
    status_date: NaiveDate,
    status_before_deactivation: String,
}

#[derive(Clone)]
struct TRec {
    t: SandboxTeam,
    secondary_manager_ids: Vec<u64>,
    tags: Vec<String>,
}

struct Token {
    expires_at: Instant,
    scopes: Vec<String>,
}

struct Data {
    users: BTreeMap<u64, URec>,
    teams: BTreeMap<u64, TRec>,
    next_user: u64,
    next_team: u64,
    next_membership: u64,
    email_idx: HashMap<String, u64>,
    ext_idx: HashMap<String, u64>,
    team_ext_idx: HashMap<String, u64>,
    members: HashMap<u64, BTreeSet<u64>>,
    membership_ids: HashMap<(u64, u64), u64>,
    tokens: HashMap<String, Token>,
    token_ttl: u64,
    /// What token answers say as `expires_in`, when it is not the true lifetime.
    reported_token_lifetime: Option<Value>,
    /// What listings say as `Total` and `Total-Pages`, when not the truth.
    reported_totals: Option<(u64, u64)>,
    /// Other shapes of the user object that the docs allow (see [`UserShape`]).
    user_shape: UserShape,
    /// The scopes the credentials were provisioned with (`None`: any known scope). Legacy
    /// credentials hold `public` alone; granular ones lack it.
    granted_scopes: Option<Vec<String>>,
    /// Custom fields with a presence validation: clearing one is refused (400).
    required_custom_fields: BTreeSet<String>,
    /// Updates must carry `email`, `firstName` and `lastName` (the docs mark them required).
    names_required_on_update: bool,
    custom_field_defs: BTreeSet<String>,
}

type Params = Map<String, Value>;
type HResult = Result<Response, Response>;
type DateRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn teams_of(u: &SandboxUser) -> BTreeSet<u64> {
    u.primary_team_id
        .iter()
        .chain(u.secondary_team_ids.iter())
        .copied()
        .collect()
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

impl Data {
    fn new() -> Self {
        let mut d = Data {
            users: BTreeMap::new(),
            teams: BTreeMap::new(),
            next_user: FIRST_USER_ID,
            next_team: FIRST_TEAM_ID,
            next_membership: 1,
            email_idx: HashMap::new(),
            ext_idx: HashMap::new(),
            team_ext_idx: HashMap::new(),
            members: HashMap::new(),
            membership_ids: HashMap::new(),
            tokens: HashMap::new(),
            token_ttl: 7200,
            reported_token_lifetime: None,
            reported_totals: None,
            user_shape: UserShape::default(),
            granted_scopes: None,
            required_custom_fields: BTreeSet::new(),
            names_required_on_update: false,
            custom_field_defs: ["Employee ID", "Cost Center"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let now = Utc::now();
        let owner = SandboxUser {
            id: OWNER_ID,
            email: OWNER_EMAIL.to_string(),
            first_name: "Sandbox".into(),
            last_name: "Owner".into(),
            job_title: Some("Account Owner".into()),
            hire_date: None,
            location: None,
            department: None,
            integration_external_id: None,
            primary_team_id: None,
            secondary_team_ids: Vec::new(),
            manager_id: None,
            status: "confirmed".into(),
            invitations_sent: 0,
            custom_fields: BTreeMap::new(),
            role: "owner".into(),
        };
        d.put_user(d.new_rec(owner, now));
        d
    }

    fn new_rec(&self, u: SandboxUser, now: DateTime<Utc>) -> URec {
        URec {
            u,
            language: "en".into(),
            time_zone: Some("London".into()),
            created_at: now,
            updated_at: now,
            deactivated_at: None,
            status_date: now.date_naive(),
            status_before_deactivation: "confirmed".into(),
        }
    }

    /// Inserts or replaces a user, keeping every index consistent.
    fn put_user(&mut self, mut rec: URec) {
        let id = rec.u.id;
        let primary = rec.u.primary_team_id;
        let mut seen = BTreeSet::new();
        rec.u
            .secondary_team_ids
            .retain(|t| Some(*t) != primary && seen.insert(*t));
        let old_teams = match self.users.get(&id) {
            Some(old) => {
                let email = old.u.email.to_lowercase();
                if self.email_idx.get(&email) == Some(&id) {
                    self.email_idx.remove(&email);
                }
                if let Some(ext) = &old.u.integration_external_id {
                    if self.ext_idx.get(ext) == Some(&id) {
                        self.ext_idx.remove(ext);
                    }
                }
                teams_of(&old.u)
            }
            None => BTreeSet::new(),
        };
        let new_teams = teams_of(&rec.u);
        for t in old_teams.difference(&new_teams) {
            if let Some(m) = self.members.get_mut(t) {
                m.remove(&id);
            }
            self.membership_ids.remove(&(*t, id));
        }
        for t in new_teams.difference(&old_teams) {
            self.members.entry(*t).or_default().insert(id);
            self.membership_ids.insert((*t, id), self.next_membership);
            self.next_membership += 1;
        }
        self.email_idx.insert(rec.u.email.to_lowercase(), id);
        if let Some(ext) = &rec.u.integration_external_id {
            self.ext_idx.insert(ext.clone(), id);
        }
        self.users.insert(id, rec);
    }

    fn remove_user(&mut self, id: u64) {
        let Some(old) = self.users.remove(&id) else {
            return;
        };
        let email = old.u.email.to_lowercase();
        if self.email_idx.get(&email) == Some(&id) {
            self.email_idx.remove(&email);
        }
        if let Some(ext) = &old.u.integration_external_id {
            if self.ext_idx.get(ext) == Some(&id) {
                self.ext_idx.remove(ext);
            }
        }
        for t in teams_of(&old.u) {
            if let Some(m) = self.members.get_mut(&t) {
                m.remove(&id);
            }
            self.membership_ids.remove(&(t, id));
        }
        let now = Utc::now();
        let reports: Vec<u64> = self
            .users
            .values()
            .filter(|r| r.u.manager_id == Some(id))
            .map(|r| r.u.id)
            .collect();
        for r in reports {
            if let Some(mut rec) = self.users.get(&r).cloned() {
                rec.u.manager_id = None;
                rec.updated_at = now;
                self.put_user(rec);
            }
        }
        for t in self.teams.values_mut() {
            if t.t.manager_id == Some(id) {
                t.t.manager_id = None;
            }
            t.secondary_manager_ids.retain(|m| *m != id);
        }
    }

    fn put_team(&mut self, rec: TRec) {
        if let Some(old) = self.teams.get(&rec.t.id) {
            if let Some(ext) = &old.t.integration_external_id {
                if self.team_ext_idx.get(ext) == Some(&rec.t.id) {
                    self.team_ext_idx.remove(ext);
                }
            }
        }
        if let Some(ext) = &rec.t.integration_external_id {
            self.team_ext_idx.insert(ext.clone(), rec.t.id);
        }
        self.teams.insert(rec.t.id, rec);
    }

    fn remove_team(&mut self, id: u64) {
        let Some(old) = self.teams.remove(&id) else {
            return;
        };
        if let Some(ext) = &old.t.integration_external_id {
            if self.team_ext_idx.get(ext) == Some(&id) {
                self.team_ext_idx.remove(ext);
            }
        }
        let now = Utc::now();
        let members: Vec<u64> = self
            .members
            .get(&id)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default();
        for uid in members {
            if let Some(mut rec) = self.users.get(&uid).cloned() {
                if rec.u.primary_team_id == Some(id) {
                    rec.u.primary_team_id = None;
                }
                rec.u.secondary_team_ids.retain(|t| *t != id);
                rec.updated_at = now;
                self.put_user(rec);
            }
        }
        self.members.remove(&id);
        for t in self.teams.values_mut() {
            if t.t.parent_team_id == Some(id) {
                t.t.parent_team_id = None;
            }
        }
    }

    fn deactivate(&mut self, id: u64) {
        let Some(mut rec) = self.users.get(&id).cloned() else {
            return;
        };
        if rec.u.status == "deactivated" {
            return;
        }
        let now = Utc::now();
        rec.status_before_deactivation = rec.u.status.clone();
        rec.u.status = "deactivated".into();
        rec.u.primary_team_id = None;
        rec.u.secondary_team_ids.clear();
        rec.deactivated_at = Some(now);
        rec.status_date = now.date_naive();
        rec.updated_at = now;
        self.put_user(rec);
        let reports: Vec<u64> = self
            .users
            .values()
            .filter(|r| r.u.manager_id == Some(id) && r.u.id != id)
            .map(|r| r.u.id)
            .collect();
        for r in reports {
            if let Some(mut rec) = self.users.get(&r).cloned() {
                rec.u.manager_id = Some(OWNER_ID);
                rec.updated_at = now;
                self.put_user(rec);
            }
        }
        for t in self.teams.values_mut() {
            if t.t.manager_id == Some(id) {
                t.t.manager_id = Some(OWNER_ID);
            }
            t.secondary_manager_ids.retain(|m| *m != id);
        }
    }

    fn reactivate_rec(rec: &mut URec) {
        if rec.u.status != "deactivated" {
            return;
        }
        let prev = rec.status_before_deactivation.clone();
        rec.u.status = if prev.is_empty() || prev == "deactivated" {
            "not_invited".into()
        } else {
            prev
        };
        rec.deactivated_at = None;
        rec.status_date = today();
        rec.updated_at = Utc::now();
    }

    fn team_by_name(&self, name: &str) -> Option<u64> {
        let lower = name.to_lowercase();
        self.teams
            .values()
            .find(|t| t.t.name.to_lowercase() == lower)
            .map(|t| t.t.id)
    }

    fn team_users_count(&self, team: u64) -> usize {
        self.members.get(&team).map_or(0, |m| m.len())
    }

    fn is_active_user(&self, id: u64) -> bool {
        self.users
            .get(&id)
            .is_some_and(|r| r.u.status != "deactivated")
    }

    // --- JSON rendering ------------------------------------------------------------------

    fn status_json(r: &URec) -> Value {
        let d = r.status_date.format("%-d %b %y");
        let (label, time) = match r.u.status.as_str() {
            "confirmed" => ("Confirmed", Some(format!("On {d}"))),
            "invite_pending" => ("Invite pending", Some(format!("Sent {d}"))),
            "invite_scheduled" => ("Invite scheduled", None),
            "not_invited" => ("Not invited", None),
            "deactivated" => ("Deactivated", Some(format!("On {d}"))),
            other => (other, None),
        };
        json!({"status": label, "time": time})
    }

    /// The status label in another language: a display string is not an enum.
    fn localized_status_json(r: &URec) -> Value {
        let label = match r.u.status.as_str() {
            "confirmed" => "Bestätigt",
            "invite_pending" => "Einladung ausstehend",
            "deactivated" => "Deaktiviert",
            _ => "Nicht eingeladen",
        };
        json!({"status": label, "time": null})
    }

    fn user_summary(&self, r: &URec) -> Map<String, Value> {
        let u = &r.u;
        let mut m = Map::new();
        m.insert("id".into(), json!(u.id));
        m.insert("firstName".into(), json!(u.first_name));
        m.insert("lastName".into(), json!(u.last_name));
        m.insert("jobTitle".into(), json!(u.job_title));
        m.insert("email".into(), json!(u.email));
        m.insert("timeZone".into(), json!(r.time_zone));
        m.insert("language".into(), json!(r.language));
        m.insert("role".into(), json!(u.role));
        m.insert(
            "integrationExternalId".into(),
            json!(u.integration_external_id),
        );
        m.insert(
            "profileUrl".into(),
            json!(format!("{PROFILE_BASE}/{}", u.id)),
        );
        let status = if self.user_shape.localized_status {
            Self::localized_status_json(r)
        } else {
            Self::status_json(r)
        };
        m.insert("status".into(), status);
        m
    }

    fn user_basic(&self, r: &URec) -> Map<String, Value> {
        let mut m = self.user_summary(r);
        m.insert("hireDate".into(), json!(r.u.hire_date));
        m
    }

    fn manager_json(&self, id: Option<u64>) -> Value {
        let none = if self.user_shape.empty_manager {
            json!({})
        } else {
            Value::Null
        };
        id.and_then(|id| self.users.get(&id))
            .map(|r| Value::Object(self.user_summary(r)))
            .unwrap_or(none)
    }

    fn user_full(&self, r: &URec) -> Value {
        let u = &r.u;
        let mut m = self.user_basic(r);
        m.insert("occupationRole".into(), Value::Null);
        m.insert("avatar".into(), json!(AVATAR_URL));
        m.insert("manager".into(), self.manager_json(u.manager_id));
        m.insert("location".into(), json!(u.location));
        m.insert("department".into(), json!(u.department));
        m.insert(
            "primaryTeam".into(),
            u.primary_team_id
                .and_then(|t| self.teams.get(&t))
                .map(|t| self.team_summary(t))
                .unwrap_or(Value::Null),
        );
        m.insert(
            "secondaryTeams".into(),
            Value::Array(
                u.secondary_team_ids
                    .iter()
                    .filter_map(|t| self.teams.get(t))
                    .map(|t| self.team_summary(t))
                    .collect(),
            ),
        );
        m.insert(
            "customFields".into(),
            self.user_shape.custom_fields.clone().unwrap_or_else(|| {
                Value::Array(
                    u.custom_fields
                        .iter()
                        .map(|(k, v)| json!({"name": k, "value": v}))
                        .collect(),
                )
            }),
        );
        if let Some((key, value)) = &self.user_shape.extra_field {
            m.insert(key.clone(), value.clone());
        }
        Value::Object(m)
    }

    fn team_summary(&self, t: &TRec) -> Value {
        let id = t.t.id;
        json!({
            "id": id,
            "name": t.t.name,
            "teamUsersCount": self.team_users_count(id),
            "apiTeamPath": format!("/v1/teams/{id}.json"),
            "apiTeamUsersPath": format!("/v1/teams/{id}/users.json"),
            "manager": self.manager_json(t.t.manager_id),
        })
    }

    fn team_simple(&self, t: &TRec) -> Map<String, Value> {
        let id = t.t.id;
        let mut m = Map::new();
        m.insert("id".into(), json!(id));
        m.insert("name".into(), json!(t.t.name));
        m.insert(
            "integrationExternalId".into(),
            json!(t.t.integration_external_id),
        );
        m.insert("teamUsersCount".into(), json!(self.team_users_count(id)));
        m.insert("apiTeamPath".into(), json!(format!("/v1/teams/{id}.json")));
        m.insert(
            "apiTeamUsersPath".into(),
            json!(format!("/v1/teams/{id}/users.json")),
        );
        m.insert("parentTeamId".into(), json!(t.t.parent_team_id));
        m.insert("manager".into(), self.manager_json(t.t.manager_id));
        m.insert(
            "secondaryManagers".into(),
            Value::Array(
                t.secondary_manager_ids
                    .iter()
                    .filter_map(|id| self.users.get(id))
                    .map(|r| Value::Object(self.user_summary(r)))
                    .collect(),
            ),
        );
        m
    }

    fn team_extended(&self, t: &TRec) -> Value {
        let id = t.t.id;
        let mut m = self.team_simple(t);
        let users: Vec<Value> = self
            .members
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|uid| self.users.get(uid))
            .map(|r| {
                let mut s = self.user_summary(r);
                s.insert(
                    "removeFromTeamUrl".into(),
                    json!(format!("/v1/teams/{id}/users/{}.json", r.u.id)),
                );
                Value::Object(s)
            })
            .collect();
        m.insert("users".into(), Value::Array(users));
        m.insert(
            "subTeams".into(),
            Value::Array(
                self.teams
                    .values()
                    .filter(|s| s.t.parent_team_id == Some(id))
                    .map(|s| Value::Object(self.team_simple(s)))
                    .collect(),
            ),
        );
        m.insert(
            "parentTeam".into(),
            t.t.parent_team_id
                .and_then(|p| self.teams.get(&p))
                .map(|p| Value::Object(self.team_simple(p)))
                .unwrap_or(Value::Null),
        );
        m.insert("tags".into(), json!(t.tags));
        Value::Object(m)
    }
}

// ---------------------------------------------------------------------------------------------
// Public API

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

// ---------------------------------------------------------------------------------------------
// Routing

#[derive(Clone, Debug)]
enum Ref {
    Id(String),
    Ext(String),
}

#[derive(Clone, Debug)]
enum Kind {
    Token,
    UsersList,
    UserCreate,
    UserShow(Ref),
    UserUpdate(Ref),
    UserDeactivate(String),
    UserReactivate(String),
    UserDelete(String),
    TeamsList,
    TeamCreate,
    TeamShow(Ref),
    TeamUpdate(Ref),
    TeamDelete(Ref),
    TeamUsersList(Ref),
    TeamUsersAdd(Ref),
    TeamUsersAddFlat,
    TeamUserRemove(Ref, String),
}

#[derive(Clone, Debug)]
struct Route {
    kind: Kind,
    template: &'static str,
}

impl Route {
    fn scope(&self) -> Option<&'static str> {
        Some(match self.kind {
            Kind::Token => return None,
            Kind::UsersList | Kind::UserShow(_) => "users:read",
            Kind::UserCreate => "users:create",
            Kind::UserUpdate(_) => "users:update",
            Kind::UserDeactivate(_) => "users:deactivate",
            Kind::UserReactivate(_) => "users:reactivate",
            Kind::UserDelete(_) => "users:delete",
            Kind::TeamsList | Kind::TeamShow(_) => "teams:read",
            Kind::TeamCreate => "teams:create",
            Kind::TeamUpdate(_) => "teams:update",
            Kind::TeamDelete(_) => "teams:delete",
            Kind::TeamUsersList(_) => "team_users:read",
            Kind::TeamUsersAdd(_) | Kind::TeamUsersAddFlat => "team_users:create",
            Kind::TeamUserRemove(..) => "team_users:delete",
        })
    }
}

fn classify(method: &Method, path: &str) -> Option<Route> {
    let mut segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect::<Option<Vec<_>>>()?;
    if segs.len() > 1 && segs.last().is_some_and(|s| s.is_empty()) {
        segs.pop();
    }
    if let Some(last) = segs.last_mut() {
        if let Some(stripped) = last.strip_suffix(".json") {
            *last = stripped.to_string();
        }
    }
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let r = |kind: Kind, template: &'static str| Some(Route { kind, template });
    let id = |x: &str| Ref::Id(x.to_string());
    let ext = |x: &str| Ref::Ext(x.to_string());
    use Kind::*;
    match (method.as_str(), s.as_slice()) {
        ("POST", ["oauth", "token"]) => r(Token, "POST /oauth/token"),
        ("GET", ["v1", "users"]) => r(UsersList, "GET /v1/users"),
        ("POST", ["v1", "users"]) => r(UserCreate, "POST /v1/users"),
        ("GET", ["v1", "users", "by_integration_external_id", x]) => r(
            UserShow(ext(x)),
            "GET /v1/users/by_integration_external_id/{id}",
        ),
        ("PUT", ["v1", "users", "by_integration_external_id", x]) => r(
            UserUpdate(ext(x)),
            "PUT /v1/users/by_integration_external_id/{id}",
        ),
        ("GET", ["v1", "users", x]) => r(UserShow(id(x)), "GET /v1/users/{id}"),
        ("PUT", ["v1", "users", x]) => r(UserUpdate(id(x)), "PUT /v1/users/{id}"),
        ("DELETE", ["v1", "users", x]) => r(UserDelete(x.to_string()), "DELETE /v1/users/{id}"),
        ("PUT", ["v1", "users", x, "deactivate"]) => r(
            UserDeactivate(x.to_string()),
            "PUT /v1/users/{id}/deactivate",
        ),
        ("PUT", ["v1", "users", x, "reactivate"]) => r(
            UserReactivate(x.to_string()),
            "PUT /v1/users/{id}/reactivate",
        ),
        ("GET", ["v1", "teams"]) => r(TeamsList, "GET /v1/teams"),
        ("POST", ["v1", "teams"]) => r(TeamCreate, "POST /v1/teams"),
        ("POST", ["v1", "teams", "users"]) => r(TeamUsersAddFlat, "POST /v1/teams/users"),
        ("GET", ["v1", "teams", "by_external_id", x]) => {
            r(TeamShow(ext(x)), "GET /v1/teams/by_external_id/{id}")
        }
        ("PUT", ["v1", "teams", "by_external_id", x]) => {
            r(TeamUpdate(ext(x)), "PUT /v1/teams/by_external_id/{id}")
        }
        ("DELETE", ["v1", "teams", "by_external_id", x]) => {
            r(TeamDelete(ext(x)), "DELETE /v1/teams/by_external_id/{id}")
        }
        ("GET", ["v1", "teams", "by_external_id", x, "users"]) => r(
            TeamUsersList(ext(x)),
            "GET /v1/teams/by_external_id/{id}/users",
        ),
        ("POST", ["v1", "teams", "by_external_id", x, "users"]) => r(
            TeamUsersAdd(ext(x)),
            "POST /v1/teams/by_external_id/{id}/users",
        ),
        ("DELETE", ["v1", "teams", "by_external_id", x, "users", u]) => r(
            TeamUserRemove(ext(x), u.to_string()),
            "DELETE /v1/teams/by_external_id/{id}/users/{user_id}",
        ),
        ("GET", ["v1", "teams", x]) => r(TeamShow(id(x)), "GET /v1/teams/{id}"),
        ("PUT", ["v1", "teams", x]) => r(TeamUpdate(id(x)), "PUT /v1/teams/{id}"),
        ("DELETE", ["v1", "teams", x]) => r(TeamDelete(id(x)), "DELETE /v1/teams/{id}"),
        ("GET", ["v1", "teams", x, "users"]) => r(TeamUsersList(id(x)), "GET /v1/teams/{id}/users"),
        ("POST", ["v1", "teams", x, "users"]) => {
            r(TeamUsersAdd(id(x)), "POST /v1/teams/{id}/users")
        }
        ("DELETE", ["v1", "teams", x, "users", u]) => r(
            TeamUserRemove(id(x), u.to_string()),
            "DELETE /v1/teams/{id}/users/{user_id}",
        ),
        _ => None,
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

async fn count_calls(State(sh): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/v1") || path.starts_with("/oauth") {
        let route = classify(req.method(), &path);
        let key = match &route {
            Some(r) => r.template.to_string(),
            None => format!("{} {}", req.method(), path),
        };
        {
            let mut c = sh.calls.lock().unwrap_or_else(|e| e.into_inner());
            *c.by_endpoint.entry(key).or_insert(0) += 1;
            c.total += 1;
        }
        if let Some(r) = route {
            req.extensions_mut().insert(r);
        }
    }
    next.run(req).await
}

// ---------------------------------------------------------------------------------------------
// Responses

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({"error": msg}))).into_response()
}

/// The fault layer's answers, in Learn Amp's error body.
const FAULT_ANSWERS: FaultAnswers = FaultAnswers {
    too_many_requests: too_many_requests,
    unavailable: offline_for_maintenance,
};

fn too_many_requests() -> Response {
    error(
        StatusCode::TOO_MANY_REQUESTS,
        "You're requesting too many API calls.",
    )
}

fn offline_for_maintenance(status: StatusCode) -> Response {
    error(
        status,
        "We're temporarily offline for maintenance. Please try again later.",
    )
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not found")
}

fn bad_request(msg: &str) -> Response {
    error(StatusCode::BAD_REQUEST, msg)
}

fn bad_request_full(msg: &str, fields: &[(&str, &str)]) -> Response {
    let mut full: Map<String, Value> = Map::new();
    for (f, m) in fields {
        match full.get_mut(*f) {
            Some(Value::Array(a)) => a.push(json!(m)),
            _ => {
                full.insert(f.to_string(), json!([m]));
            }
        }
    }
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": msg, "fullErrors": full})),
    )
        .into_response()
}

/// Grape-style validation errors, collected in order.
#[derive(Default)]
struct Errs(Vec<(String, String)>);

impl Errs {
    fn add(&mut self, field: &str, msg: &str) {
        self.0.push((field.to_string(), msg.to_string()));
    }

    fn check(&self) -> Result<(), Response> {
        if self.0.is_empty() {
            return Ok(());
        }
        let msg = self
            .0
            .iter()
            .map(|(f, m)| format!("{f} {m}"))
            .collect::<Vec<_>>()
            .join(", ");
        let fields: Vec<(&str, &str)> = self
            .0
            .iter()
            .map(|(f, m)| (f.as_str(), m.as_str()))
            .collect();
        Err(bad_request_full(&msg, &fields))
    }
}

/// ActiveRecord-style "Validation failed: ..." errors: (param name, attribute label, message).
fn validation_failed(prefix: bool, errs: &[(&str, &str, &str)]) -> Response {
    let sentence = errs
        .iter()
        .map(|(_, label, m)| format!("{label} {m}"))
        .collect::<Vec<_>>()
        .join(", ");
    let msg = if prefix {
        format!("Validation failed: {sentence}")
    } else {
        sentence
    };
    let fields: Vec<(&str, &str)> = errs.iter().map(|(f, _, m)| (*f, *m)).collect();
    bad_request_full(&msg, &fields)
}

/// The pagination headers; `reported` replaces `Total` and `Total-Pages` (a fault knob).
fn with_pagination(
    mut resp: Response,
    total: usize,
    per_page: usize,
    reported: Option<(u64, u64)>,
) -> Response {
    let (total, pages) = reported.unwrap_or((total as u64, total.div_ceil(per_page) as u64));
    let h = resp.headers_mut();
    h.insert("total", HeaderValue::from(total));
    h.insert("per-page", HeaderValue::from(per_page as u64));
    h.insert("total-pages", HeaderValue::from(pages));
    resp
}

fn unauthorized(msg: &str) -> Response {
    let mut resp = error(StatusCode::UNAUTHORIZED, msg);
    let challenge = format!(
        "Bearer realm=\"Doorkeeper\", error=\"invalid_token\", error_description=\"{msg}\""
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

// ---------------------------------------------------------------------------------------------
// Parameters

fn parse_params(
    content_type: Option<&str>,
    body: &[u8],
    query: Option<&str>,
) -> Result<Params, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| format!("Malformed query string: {e}"))?;
    let mut params = rails_nest(pairs);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let ct = content_type.unwrap_or("");
    let ct_lower = ct.to_ascii_lowercase();
    let body_params = if ct_lower.starts_with("application/json")
        || (ct_lower.is_empty() && body.trim_ascii_start().starts_with(b"{"))
    {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("The JSON body must be an object".into()),
            Err(e) => return Err(format!("Invalid JSON body: {e}")),
        }
    } else if ct_lower.starts_with("multipart/form-data") {
        let boundary = content_type_param(ct, "boundary")
            .ok_or("multipart/form-data body without a boundary")?;
        rails_nest(parse_multipart(body, &boundary)?)
    } else {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| format!("Malformed form body: {e}"))?;
        rails_nest(pairs)
    };
    for (k, v) in body_params {
        params.insert(k, v);
    }
    Ok(params)
}

/// One scalar parameter.
enum F {
    Absent,
    Null,
    Str(String),
    Bad,
}

fn field(p: &Params, k: &str) -> F {
    match p.get(k) {
        None => F::Absent,
        Some(Value::Null) => F::Null,
        Some(Value::String(s)) => F::Str(s.clone()),
        Some(Value::Number(n)) => F::Str(n.to_string()),
        Some(Value::Bool(b)) => F::Str(b.to_string()),
        Some(_) => F::Bad,
    }
}

fn present(p: &Params, k: &str) -> bool {
    !matches!(p.get(k), None | Some(Value::Null))
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// Grape's `mutually_exclusive`.
fn mutually_exclusive(p: &Params, pairs: &[(&str, &str)]) -> Result<(), Response> {
    for (a, b) in pairs {
        if p.contains_key(*a) && p.contains_key(*b) {
            return Err(bad_request(&format!("{a}, {b} are mutually exclusive")));
        }
    }
    Ok(())
}

/// Grape's `exactly_one_of`.
fn exactly_one_of(p: &Params, keys: &[&str]) -> Result<String, Response> {
    let given: Vec<&&str> = keys.iter().filter(|k| present(p, k)).collect();
    match given.len() {
        1 => Ok(given[0].to_string()),
        0 => Err(bad_request(&format!(
            "{} are missing, exactly one parameter must be provided",
            keys.join(", ")
        ))),
        _ => Err(bad_request(&format!(
            "{} are mutually exclusive",
            keys.join(", ")
        ))),
    }
}

/// A required non-blank string (create): "is missing" / "is empty".
fn required_str(p: &Params, k: &str, errs: &mut Errs) -> Option<String> {
    match field(p, k) {
        F::Absent => {
            errs.add(k, "is missing");
            None
        }
        F::Null => {
            errs.add(k, "is empty");
            None
        }
        F::Str(s) if blank(&s) => {
            errs.add(k, "is empty");
            None
        }
        F::Str(s) => Some(s.trim().to_string()),
        F::Bad => {
            errs.add(k, "is invalid");
            None
        }
    }
}

/// An optional non-blank string (update): absent → None, blank → "is empty".
fn optional_nonblank(p: &Params, k: &str, errs: &mut Errs) -> Option<String> {
    match field(p, k) {
        F::Absent => None,
        F::Null => {
            errs.add(k, "is empty");
            None
        }
        F::Str(s) if blank(&s) => {
            errs.add(k, "is empty");
            None
        }
        F::Str(s) => Some(s.trim().to_string()),
        F::Bad => {
            errs.add(k, "is invalid");
            None
        }
    }
}

/// An optional clearable string: absent → None, null/blank → Some(None).
fn clearable_str(p: &Params, k: &str, errs: &mut Errs) -> Option<Option<String>> {
    match field(p, k) {
        F::Absent => None,
        F::Null => Some(None),
        F::Str(s) if blank(&s) => Some(None),
        F::Str(s) => Some(Some(s)),
        F::Bad => {
            errs.add(k, "is invalid");
            None
        }
    }
}

fn parse_int(s: &str) -> Option<u64> {
    s.trim().parse::<u64>().ok()
}

/// An optional clearable integer: absent → None, null/blank → Some(None).
fn clearable_int(p: &Params, k: &str, errs: &mut Errs) -> Option<Option<u64>> {
    match field(p, k) {
        F::Absent => None,
        F::Null => Some(None),
        F::Str(s) if blank(&s) => Some(None),
        F::Str(s) => match parse_int(&s) {
            Some(n) => Some(Some(n)),
            None => {
                errs.add(k, "is invalid");
                None
            }
        },
        F::Bad => {
            errs.add(k, "is invalid");
            None
        }
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "t" | "yes" => Some(true),
        "false" | "0" | "f" | "no" => Some(false),
        _ => None,
    }
}

fn bool_field(p: &Params, k: &str, errs: &mut Errs) -> Option<bool> {
    match field(p, k) {
        F::Absent | F::Null => None,
        F::Str(s) if blank(&s) => None,
        F::Str(s) => {
            let b = parse_bool(&s);
            if b.is_none() {
                errs.add(k, "is invalid");
            }
            b
        }
        F::Bad => {
            errs.add(k, "is invalid");
            None
        }
    }
}

/// A list of strings: a JSON/Rack array, or a comma-separated string. Blank items are dropped.
fn str_list(p: &Params, k: &str, errs: &mut Errs) -> Option<Vec<String>> {
    let items: Vec<String> = match p.get(k)? {
        Value::Null => Vec::new(),
        Value::Array(a) => {
            let mut out = Vec::new();
            for v in a {
                match v {
                    Value::String(s) => out.push(s.clone()),
                    Value::Number(n) => out.push(n.to_string()),
                    Value::Null => {}
                    _ => {
                        errs.add(k, "is invalid");
                        return None;
                    }
                }
            }
            out
        }
        Value::String(s) => s.split(',').map(str::to_string).collect(),
        Value::Number(n) => vec![n.to_string()],
        _ => {
            errs.add(k, "is invalid");
            return None;
        }
    };
    Some(
        items
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

fn int_list(p: &Params, k: &str, errs: &mut Errs) -> Option<Vec<u64>> {
    let items = str_list(p, k, errs)?;
    let mut out = Vec::with_capacity(items.len());
    for s in items {
        match parse_int(&s) {
            Some(n) => out.push(n),
            None => {
                errs.add(k, "is invalid");
                return None;
            }
        }
    }
    Some(out)
}

/// `customFields`: an array of `{name, value}` (or a Rack hash with numeric keys).
fn custom_fields_param(p: &Params, errs: &mut Errs) -> Option<Vec<(String, Option<String>)>> {
    let raw = p.get("customFields")?;
    let items: Vec<&Value> = match raw {
        Value::Null => return Some(Vec::new()),
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.keys().all(|k| k.parse::<usize>().is_ok()) => {
            let mut v: Vec<(usize, &Value)> = o
                .iter()
                .map(|(k, v)| (k.parse::<usize>().unwrap_or(0), v))
                .collect();
            v.sort_by_key(|(k, _)| *k);
            v.into_iter().map(|(_, v)| v).collect()
        }
        Value::Object(_) => vec![raw],
        _ => {
            errs.add("customFields", "is invalid");
            return None;
        }
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Object(o) = item else {
            errs.add("customFields", "is invalid");
            return None;
        };
        let name = match o.get("name") {
            Some(Value::String(s)) if !blank(s) => s.trim().to_string(),
            _ => {
                errs.add("customFields", "is invalid");
                return None;
            }
        };
        let value = match o.get("value") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(_) => {
                errs.add("customFields", "is invalid");
                return None;
            }
        };
        out.push((name, value));
    }
    Some(out)
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

fn pagination(p: &Params) -> Result<(usize, usize), Response> {
    let mut errs = Errs::default();
    let mut get = |k: &str, default: usize| -> usize {
        match field(p, k) {
            F::Absent | F::Null => default,
            F::Str(s) if blank(&s) => default,
            F::Str(s) => match s.trim().parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => {
                    errs.add(k, "is invalid");
                    default
                }
            },
            F::Bad => {
                errs.add(k, "is invalid");
                default
            }
        }
    };
    let page = get("page", 1);
    let per_page = get("perPage", 25).min(100);
    errs.check()?;
    Ok((page, per_page))
}

fn page_slice<T: Clone>(items: &[T], page: usize, per_page: usize) -> Vec<T> {
    let start = (page - 1).saturating_mul(per_page);
    items.iter().skip(start).take(per_page).cloned().collect()
}

/// A date-range bound of the users' list filters.
fn range_bound(v: &Value, is_to: bool) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    if s.contains('T') {
        return parse_iso_datetime(s);
    }
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let d = if is_to { d.succ_opt()? } else { d };
    Some(midnight_utc(d))
}

// ---------------------------------------------------------------------------------------------
// The API handler

async fn api(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(route) = parts
        .extensions
        .get::<Route>()
        .cloned()
        .or_else(|| classify(&parts.method, parts.uri.path()))
    else {
        return not_found();
    };
    {
        let mut c = sh.calls.lock().unwrap_or_else(|e| e.into_inner());
        *c.served_by_endpoint
            .entry(route.template.to_string())
            .or_insert(0) += 1;
    }
    let bytes = match axum::body::to_bytes(body, 32 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return bad_request("The request body could not be read"),
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Kind::Token = route.kind {
        return sh.token(&parts.headers, content_type, &bytes, parts.uri.query());
    }
    let scopes = match sh.authenticate(&parts.headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(needed) = route.scope() {
        if !scopes.iter().any(|s| s == "public" || s == needed) {
            return error(
                StatusCode::FORBIDDEN,
                &format!("Access to this resource requires scope \"{needed}\"."),
            );
        }
    }
    let params = match parse_params(content_type, &bytes, parts.uri.query()) {
        Ok(p) => p,
        Err(m) => return bad_request(&m),
    };
    let mut d = sh.data.lock().unwrap_or_else(|e| e.into_inner());
    let result = match &route.kind {
        Kind::Token => unreachable!("handled above"),
        Kind::UsersList => d.list_users(&params),
        Kind::UserCreate => d.create_user(&params),
        Kind::UserShow(r) => d.show_user(r),
        Kind::UserUpdate(r) => d.update_user(r, &params),
        Kind::UserDeactivate(id) => d.deactivate_route(id),
        Kind::UserReactivate(id) => d.reactivate_route(id),
        Kind::UserDelete(id) => d.delete_user_route(id),
        Kind::TeamsList => d.list_teams(&params),
        Kind::TeamCreate => d.create_team(&params),
        Kind::TeamShow(r) => d.show_team(r),
        Kind::TeamUpdate(r) => d.update_team(r, &params),
        Kind::TeamDelete(r) => d.delete_team_route(r),
        Kind::TeamUsersList(r) => d.list_team_users(r, &params),
        Kind::TeamUsersAdd(r) => d.add_team_user(r, &params),
        Kind::TeamUsersAddFlat => d.add_team_user_flat(&params),
        Kind::TeamUserRemove(r, u) => d.remove_team_user(r, u),
    };
    result.unwrap_or_else(|e| e)
}

impl Shared {
    fn token(
        &self,
        headers: &HeaderMap,
        content_type: Option<&str>,
        body: &[u8],
        query: Option<&str>,
    ) -> Response {
        let p = match parse_params(content_type, body, query) {
            Ok(p) => p,
            Err(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.",
                )
            }
        };
        let get = |k: &str| match field(&p, k) {
            F::Str(s) if !blank(&s) => Some(s),
            _ => None,
        };
        match get("grant_type").as_deref() {
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.",
                )
            }
            Some("client_credentials") => {}
            Some(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    "The authorization grant type is not supported by the authorization server.",
                )
            }
        }
        let (mut id, mut secret) = (get("client_id"), get("client_secret"));
        if id.is_none() {
            if let Some((bi, bs)) = basic_auth(headers) {
                id = Some(bi);
                secret = Some(bs);
            }
        }
        if id.as_deref() != Some(self.client_id.as_str())
            || secret.as_deref() != Some(self.client_secret.as_str())
        {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
            );
        }
        let scopes: Vec<String> = match get("scope") {
            None => vec!["public".to_string()],
            Some(s) => s.split_whitespace().map(str::to_string).collect(),
        };
        let granted = self
            .data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .granted_scopes
            .clone();
        if scopes.iter().any(|s| {
            !KNOWN_SCOPES.contains(&s.as_str()) || granted.as_ref().is_some_and(|g| !g.contains(s))
        }) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "The requested scope is invalid, unknown, or malformed.",
            );
        }
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut d = self.data.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = d.token_ttl;
        let now = Instant::now();
        d.tokens.insert(
            token.clone(),
            Token {
                // A lifetime past what an Instant holds is "never".
                expires_at: now
                    .checked_add(Duration::from_secs(ttl))
                    .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400)),
                scopes: scopes.clone(),
            },
        );
        let expires_in = d.reported_token_lifetime.clone().unwrap_or(json!(ttl));
        let mut resp = Json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": scopes.join(" "),
            "created_at": Utc::now().timestamp(),
        }))
        .into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }

    fn authenticate(&self, headers: &HeaderMap) -> Result<Vec<String>, Response> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, t) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| t.trim().to_string())
            });
        let Some(token) = token else {
            return Err(unauthorized("The access token is invalid"));
        };
        let d = self.data.lock().unwrap_or_else(|e| e.into_inner());
        match d.tokens.get(&token) {
            None => Err(unauthorized("The access token is invalid")),
            Some(t) if Instant::now() >= t.expires_at => {
                Err(unauthorized("The access token expired"))
            }
            Some(t) => Ok(t.scopes.clone()),
        }
    }
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    Some((
        percent_decode(id).unwrap_or_else(|| id.to_string()),
        percent_decode(secret).unwrap_or_else(|| secret.to_string()),
    ))
}

/// The optional user fields shared by create and update, parsed and validated.
#[derive(Default)]
struct UserInput {
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    ext_id: Option<Option<String>>,
    job_title: Option<Option<String>>,
    location: Option<Option<String>>,
    department: Option<Option<String>>,
    hire_date: Option<Option<String>>,
    language: Option<String>,
    role: Option<String>,
    primary_team: Option<Option<u64>>,
    secondary_teams: Option<Vec<u64>>,
    manager_id: Option<Option<u64>>,
    manager_email: Option<Option<String>>,
    skip_invitation: Option<bool>,
    reactivate: Option<bool>,
    occupation_role: Option<String>,
    custom_fields: Option<Vec<(String, Option<String>)>>,
}

const USER_EXCLUSIVE: &[(&str, &str)] = &[
    ("primaryTeamId", "primaryTeamIntegrationExternalId"),
    ("secondaryTeamIds", "secondaryTeamIntegrationExternalIds"),
    ("managerId", "managerEmail"),
];

impl Data {
    fn lookup_user(&self, r: &Ref) -> Option<u64> {
        match r {
            Ref::Id(s) => parse_int(s).filter(|id| self.users.contains_key(id)),
            Ref::Ext(x) => self.ext_idx.get(x).copied(),
        }
    }

    fn lookup_team(&self, r: &Ref) -> Option<u64> {
        match r {
            Ref::Id(s) => parse_int(s).filter(|id| self.teams.contains_key(id)),
            Ref::Ext(x) => self.team_ext_idx.get(x).copied(),
        }
    }

    /// Parses the user fields (Grape phase: types, allowed values, team references).
    fn parse_user_input(&self, p: &Params, create: bool, errs: &mut Errs) -> UserInput {
        let mut inp = UserInput::default();
        if create {
            inp.email = required_str(p, "email", errs);
            inp.first_name = required_str(p, "firstName", errs);
            inp.last_name = required_str(p, "lastName", errs);
        } else {
            inp.email = optional_nonblank(p, "email", errs);
            inp.first_name = optional_nonblank(p, "firstName", errs);
            inp.last_name = optional_nonblank(p, "lastName", errs);
        }
        inp.ext_id = clearable_str(p, "integrationExternalId", errs);
        inp.job_title = clearable_str(p, "jobTitle", errs);
        inp.location = clearable_str(p, "location", errs);
        inp.department = clearable_str(p, "department", errs);
        if let Some(h) = clearable_str(p, "hireDate", errs) {
            match h {
                None => inp.hire_date = Some(None),
                Some(s) => match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
                    Ok(d) => inp.hire_date = Some(Some(d.format("%Y-%m-%d").to_string())),
                    Err(_) => errs.add("hireDate", "is invalid"),
                },
            }
        }
        match field(p, "language") {
            F::Absent | F::Null => {}
            F::Str(s) if LANGUAGES.contains(&s.trim()) => inp.language = Some(s.trim().into()),
            _ => errs.add("language", "does not have a valid value"),
        }
        match field(p, "role") {
            F::Absent | F::Null => {}
            F::Str(s) if SETTABLE_ROLES.contains(&s.trim()) => inp.role = Some(s.trim().into()),
            _ => errs.add("role", "does not have a valid value"),
        }
        if let Some(t) = clearable_int(p, "primaryTeamId", errs) {
            match t {
                Some(id) if !self.teams.contains_key(&id) => {
                    errs.add("primaryTeamId", "must match existing teams IDs")
                }
                t => inp.primary_team = Some(t),
            }
        }
        if let Some(x) = clearable_str(p, "primaryTeamIntegrationExternalId", errs) {
            match x {
                None => inp.primary_team = Some(None),
                Some(x) => match self.team_ext_idx.get(&x) {
                    Some(id) => inp.primary_team = Some(Some(*id)),
                    None => errs.add(
                        "primaryTeamIntegrationExternalId",
                        "must match existing teams integration external IDs",
                    ),
                },
            }
        }
        if let Some(ids) = int_list(p, "secondaryTeamIds", errs) {
            if ids.iter().all(|id| self.teams.contains_key(id)) {
                inp.secondary_teams = Some(ids);
            } else {
                errs.add("secondaryTeamIds", "must match existing teams IDs");
            }
        }
        if let Some(xs) = str_list(p, "secondaryTeamIntegrationExternalIds", errs) {
            let ids: Option<Vec<u64>> = xs
                .iter()
                .map(|x| self.team_ext_idx.get(x).copied())
                .collect();
            match ids {
                Some(ids) => inp.secondary_teams = Some(ids),
                None => errs.add(
                    "secondaryTeamIntegrationExternalIds",
                    "must match existing teams integration external IDs",
                ),
            }
        }
        inp.manager_id = clearable_int(p, "managerId", errs);
        inp.manager_email = clearable_str(p, "managerEmail", errs);
        inp.skip_invitation = bool_field(p, "skipInvitation", errs);
        inp.reactivate = bool_field(p, "reactivate", errs);
        inp.occupation_role = match clearable_str(p, "occupationRole", errs) {
            Some(Some(s)) => Some(s),
            _ => None,
        };
        inp.custom_fields = custom_fields_param(p, errs);
        inp
    }

    /// Endpoint phase: manager, custom fields, occupation role, model validations.
    fn check_user_input(&self, inp: &mut UserInput, self_id: Option<u64>) -> Result<(), Response> {
        if let Some(Some(mid)) = inp.manager_id {
            if !self.is_active_user(mid) || Some(mid) == self_id {
                return Err(bad_request(
                    "managerId must match an existing active user within your company",
                ));
            }
        }
        if let Some(Some(email)) = &inp.manager_email {
            let found = self
                .email_idx
                .get(&email.trim().to_lowercase())
                .copied()
                .filter(|id| self.is_active_user(*id) && Some(*id) != self_id);
            match found {
                Some(id) => inp.manager_id = Some(Some(id)),
                None => {
                    return Err(bad_request(
                        "managerEmail must match an existing user email within your company",
                    ))
                }
            }
        } else if let Some(None) = inp.manager_email {
            inp.manager_id = Some(None);
        }
        if let Some(cfs) = &inp.custom_fields {
            if cfs.iter().any(|(n, _)| !self.custom_field_defs.contains(n)) {
                return Err(not_found());
            }
            let cleared: Vec<String> = cfs
                .iter()
                .filter(|(n, v)| {
                    self.required_custom_fields.contains(n)
                        && v.as_deref().is_none_or(|v| v.trim().is_empty())
                })
                .map(|(n, _)| format!("{n} can't be blank"))
                .collect();
            if !cleared.is_empty() {
                let fields: Vec<(&str, &str)> = cleared
                    .iter()
                    .map(|m| ("customFields", m.as_str()))
                    .collect();
                return Err(bad_request_full(
                    &format!("Validation failed: {}", cleared.join(", ")),
                    &fields,
                ));
            }
        }
        if inp.occupation_role.is_some() {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "occupationRole does not match an existing role in your company",
            ));
        }
        let mut model: Vec<(&str, &str, &str)> = Vec::new();
        if let Some(email) = &inp.email {
            if !valid_email(email) {
                model.push(("email", "Email", "is invalid"));
            } else if self
                .email_idx
                .get(&email.to_lowercase())
                .is_some_and(|id| Some(*id) != self_id)
            {
                model.push(("email", "Email", "has already been taken"));
            }
        }
        if let Some(Some(ext)) = &inp.ext_id {
            if self.ext_idx.get(ext).is_some_and(|id| Some(*id) != self_id) {
                model.push((
                    "integrationExternalId",
                    "Integration external id",
                    "has already been taken",
                ));
            }
        }
        if !model.is_empty() {
            return Err(validation_failed(true, &model));
        }
        Ok(())
    }

    fn apply_user_input(rec: &mut URec, inp: UserInput) {
        let u = &mut rec.u;
        if let Some(v) = inp.email {
            u.email = v;
        }
        if let Some(v) = inp.first_name {
            u.first_name = v;
        }
        if let Some(v) = inp.last_name {
            u.last_name = v;
        }
        if let Some(v) = inp.ext_id {
            u.integration_external_id = v;
        }
        if let Some(v) = inp.job_title {
            u.job_title = v;
        }
        if let Some(v) = inp.location {
            u.location = v;
        }
        if let Some(v) = inp.department {
            u.department = v;
        }
        if let Some(v) = inp.hire_date {
            u.hire_date = v;
        }
        if let Some(v) = inp.language {
            rec.language = v;
        }
        if let Some(v) = inp.role {
            u.role = v;
        }
        if let Some(v) = inp.primary_team {
            u.primary_team_id = v;
            if let Some(t) = v {
                u.secondary_team_ids.retain(|x| *x != t);
            }
        }
        if let Some(v) = inp.secondary_teams {
            u.secondary_team_ids = v;
        }
        if let Some(v) = inp.manager_id {
            u.manager_id = v;
        }
        if let Some(cfs) = inp.custom_fields {
            for (name, value) in cfs {
                match value {
                    Some(v) => {
                        u.custom_fields.insert(name, v);
                    }
                    None => {
                        u.custom_fields.remove(&name);
                    }
                }
            }
        }
        rec.updated_at = Utc::now();
    }

    fn user_response(&self, id: u64, status: StatusCode) -> Response {
        match self.users.get(&id) {
            Some(r) => (status, Json(self.user_full(r))).into_response(),
            None => not_found(),
        }
    }

    fn create_user(&mut self, p: &Params) -> HResult {
        mutually_exclusive(p, USER_EXCLUSIVE)?;
        let mut errs = Errs::default();
        let mut inp = self.parse_user_input(p, true, &mut errs);
        errs.check()?;
        self.check_user_input(&mut inp, None)?;
        let id = self.next_user;
        self.next_user += 1;
        let now = Utc::now();
        let skip = inp.skip_invitation == Some(true);
        let u = SandboxUser {
            id,
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            job_title: None,
            hire_date: None,
            location: None,
            department: None,
            integration_external_id: None,
            primary_team_id: None,
            secondary_team_ids: Vec::new(),
            manager_id: None,
            status: if skip {
                "not_invited"
            } else {
                "invite_pending"
            }
            .into(),
            invitations_sent: if skip { 0 } else { 1 },
            custom_fields: BTreeMap::new(),
            role: "viewer".into(),
        };
        let mut rec = self.new_rec(u, now);
        rec.status_before_deactivation = rec.u.status.clone();
        Self::apply_user_input(&mut rec, inp);
        self.put_user(rec);
        Ok(self.user_response(id, StatusCode::CREATED))
    }

    fn update_user(&mut self, r: &Ref, p: &Params) -> HResult {
        mutually_exclusive(p, USER_EXCLUSIVE)?;
        let mut errs = Errs::default();
        let mut inp = self.parse_user_input(p, false, &mut errs);
        errs.check()?;
        let id = self.lookup_user(r).ok_or_else(not_found)?;
        if self.names_required_on_update {
            let missing: Vec<&str> = [
                ("email", inp.email.is_none()),
                ("firstName", inp.first_name.is_none()),
                ("lastName", inp.last_name.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            if !missing.is_empty() {
                let errs: Vec<(&str, &str, &str)> =
                    missing.iter().map(|m| (*m, *m, "is missing")).collect();
                return Err(validation_failed(false, &errs));
            }
        }
        self.check_user_input(&mut inp, Some(id))?;
        let mut rec = self.users[&id].clone();
        if inp.reactivate == Some(true) {
            Self::reactivate_rec(&mut rec);
        }
        Self::apply_user_input(&mut rec, inp);
        self.put_user(rec);
        Ok(self.user_response(id, StatusCode::OK))
    }

    fn show_user(&self, r: &Ref) -> HResult {
        let id = self.lookup_user(r).ok_or_else(not_found)?;
        Ok(self.user_response(id, StatusCode::OK))
    }

    fn deactivate_route(&mut self, id: &str) -> HResult {
        let id = self
            .lookup_user(&Ref::Id(id.to_string()))
            .ok_or_else(not_found)?;
        if id == OWNER_ID {
            return Err(bad_request("The account owner cannot be deactivated"));
        }
        self.deactivate(id);
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    fn reactivate_route(&mut self, id: &str) -> HResult {
        let id = self
            .lookup_user(&Ref::Id(id.to_string()))
            .ok_or_else(not_found)?;
        let mut rec = self.users[&id].clone();
        Self::reactivate_rec(&mut rec);
        self.put_user(rec);
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    fn delete_user_route(&mut self, id: &str) -> HResult {
        let id = self
            .lookup_user(&Ref::Id(id.to_string()))
            .ok_or_else(not_found)?;
        if id == OWNER_ID {
            return Err(bad_request("The account owner cannot be deleted"));
        }
        self.remove_user(id);
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    fn list_users(&self, p: &Params) -> HResult {
        let (page, per_page) = pagination(p)?;
        let empty = Map::new();
        let filters = match p.get("filters") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(o)) => o,
            Some(_) => {
                return Err(bad_request_full(
                    "filters is invalid",
                    &[("filters", "is invalid")],
                ))
            }
        };
        let fstr = |k: &str| -> Option<String> {
            match filters.get(k) {
                Some(Value::String(s)) if !blank(s) => Some(s.trim().to_string()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            }
        };
        let list = |k: &str| -> Option<Vec<String>> {
            let v = filters.get(k)?;
            let items: Vec<String> = match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| match x {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .flat_map(|s| s.split(',').map(str::to_string).collect::<Vec<_>>())
                    .collect(),
                Value::String(s) => s.split(',').map(str::to_string).collect(),
                Value::Number(n) => vec![n.to_string()],
                _ => Vec::new(),
            };
            let items: Vec<String> = items
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            (!items.is_empty()).then_some(items)
        };
        let email = fstr("email").map(|s| s.to_lowercase());
        let ext = fstr("integration_external_id");
        let first = fstr("first_name").map(|s| s.to_lowercase());
        let last = fstr("last_name").map(|s| s.to_lowercase());
        let role = fstr("role");
        let no_team = fstr("no_team").and_then(|s| parse_bool(&s)) == Some(true);
        let team_ids: Option<BTreeSet<u64>> = match list("team_ids") {
            None => None,
            Some(v) => {
                let ids: Option<BTreeSet<u64>> = v.iter().map(|s| parse_int(s)).collect();
                Some(ids.ok_or_else(|| {
                    bad_request_full(
                        "filters[team_ids] is invalid",
                        &[("filters[team_ids]", "is invalid")],
                    )
                })?)
            }
        };
        let statuses = list("status");
        if let Some(s) = &statuses {
            if s.iter().any(|x| !STATUS_VALUES.contains(&x.as_str())) {
                return Err(bad_request_full(
                    "filters[status] does not have a valid value",
                    &[("filters[status]", "does not have a valid value")],
                ));
            }
        }
        let mut ranges: Vec<(&str, DateRange)> = Vec::new();
        for k in ["created_at", "updated_at", "deactivated_at"] {
            if let Some(Value::Object(r)) = filters.get(k) {
                let bound = |which: &str, is_to: bool| -> Result<Option<DateTime<Utc>>, Response> {
                    match r.get(which) {
                        None | Some(Value::Null) => Ok(None),
                        Some(Value::String(s)) if blank(s) => Ok(None),
                        Some(v) => range_bound(v, is_to).map(Some).ok_or_else(|| {
                            let name = format!("filters[{k}][{which}]");
                            bad_request_full(
                                &format!("{name} is invalid"),
                                &[(&name, "is invalid")],
                            )
                        }),
                    }
                };
                let from = bound("from", false)?;
                let to = bound("to", true)?;
                ranges.push((k, (from, to)));
            }
        }
        let expanded = fstr("expanded")
            .or_else(|| match p.get("expanded") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Bool(b)) => Some(b.to_string()),
                _ => None,
            })
            .and_then(|s| parse_bool(&s))
            == Some(true);

        // Exact-match filters use the indexes, so per-employee lookups stay cheap at scale.
        let candidates: Box<dyn Iterator<Item = &URec> + '_> = if let Some(e) = &email {
            Box::new(
                self.email_idx
                    .get(e)
                    .and_then(|id| self.users.get(id))
                    .into_iter(),
            )
        } else if let Some(x) = &ext {
            Box::new(
                self.ext_idx
                    .get(x)
                    .and_then(|id| self.users.get(id))
                    .into_iter(),
            )
        } else {
            Box::new(self.users.values())
        };
        let matching: Vec<u64> = candidates
            .filter(|r| {
                let u = &r.u;
                if email.as_ref().is_some_and(|e| u.email.to_lowercase() != *e) {
                    return false;
                }
                if ext
                    .as_ref()
                    .is_some_and(|x| u.integration_external_id.as_ref() != Some(x))
                {
                    return false;
                }
                if first
                    .as_ref()
                    .is_some_and(|f| !u.first_name.to_lowercase().contains(f.as_str()))
                {
                    return false;
                }
                if last
                    .as_ref()
                    .is_some_and(|l| !u.last_name.to_lowercase().contains(l.as_str()))
                {
                    return false;
                }
                if role.as_ref().is_some_and(|x| u.role != *x) {
                    return false;
                }
                if no_team && !teams_of(u).is_empty() {
                    return false;
                }
                if let Some(t) = &team_ids {
                    if teams_of(u).is_disjoint(t) {
                        return false;
                    }
                }
                if statuses.as_ref().is_some_and(|s| !s.contains(&u.status)) {
                    return false;
                }
                for (k, (from, to)) in &ranges {
                    let at = match *k {
                        "created_at" => Some(r.created_at),
                        "updated_at" => Some(r.updated_at),
                        _ => r.deactivated_at,
                    };
                    let Some(at) = at else { return false };
                    if from.is_some_and(|f| at < f) || to.is_some_and(|t| at >= t) {
                        return false;
                    }
                }
                true
            })
            .map(|r| r.u.id)
            .collect();
        let total = matching.len();
        let users: Vec<Value> = page_slice(&matching, page, per_page)
            .into_iter()
            .filter_map(|id| self.users.get(&id))
            .map(|r| {
                if expanded {
                    self.user_full(r)
                } else {
                    Value::Object(self.user_basic(r))
                }
            })
            .collect();
        Ok(with_pagination(
            Json(json!({"users": users})).into_response(),
            total,
            per_page,
            self.reported_totals,
        ))
    }

    // --- teams --------------------------------------------------------------------------

    fn list_teams(&self, p: &Params) -> HResult {
        let (page, per_page) = pagination(p)?;
        let filters = match p.get("filters") {
            Some(Value::Object(o)) => Some(o),
            _ => None,
        };
        let fstr = |k: &str| -> Option<String> {
            match filters?.get(k)? {
                Value::String(s) if !blank(s) => Some(s.trim().to_string()),
                _ => None,
            }
        };
        let name = fstr("name").map(|s| s.to_lowercase());
        let tags: Option<Vec<String>> = fstr("tags").map(|s| {
            s.split(',')
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .collect()
        });
        let matching: Vec<u64> = self
            .teams
            .values()
            .filter(|t| {
                name.as_ref()
                    .is_none_or(|n| t.t.name.to_lowercase().contains(n.as_str()))
                    && tags
                        .as_ref()
                        .is_none_or(|want| t.tags.iter().any(|x| want.contains(&x.to_lowercase())))
            })
            .map(|t| t.t.id)
            .collect();
        let total = matching.len();
        let teams: Vec<Value> = page_slice(&matching, page, per_page)
            .into_iter()
            .filter_map(|id| self.teams.get(&id))
            .map(|t| Value::Object(self.team_simple(t)))
            .collect();
        Ok(with_pagination(
            Json(json!({"teams": teams})).into_response(),
            total,
            per_page,
            self.reported_totals,
        ))
    }

    fn show_team(&self, r: &Ref) -> HResult {
        let id = self.lookup_team(r).ok_or_else(not_found)?;
        Ok(Json(self.team_extended(&self.teams[&id])).into_response())
    }

    fn create_team(&mut self, p: &Params) -> HResult {
        mutually_exclusive(
            p,
            &[
                ("managerId", "managerEmail"),
                ("parentTeamId", "parentTeamName"),
                ("subTeamIds", "subTeamNames"),
            ],
        )?;
        let mut errs = Errs::default();
        let name = required_str(p, "name", &mut errs);
        let ext = clearable_str(p, "integrationExternalId", &mut errs).flatten();
        let manager_id = clearable_int(p, "managerId", &mut errs).flatten();
        if manager_id.is_some_and(|m| !self.users.contains_key(&m)) {
            errs.add("managerId", "must match existing users IDs");
        }
        let secondary = int_list(p, "secondaryManagerIds", &mut errs).unwrap_or_default();
        if secondary.iter().any(|m| !self.users.contains_key(m)) {
            errs.add("secondaryManagerIds", "must match existing users IDs");
        }
        let mut parent = clearable_int(p, "parentTeamId", &mut errs).flatten();
        if parent.is_some_and(|t| !self.teams.contains_key(&t)) {
            errs.add("parentTeamId", "must match existing teams IDs");
        }
        if let Some(Some(pn)) = clearable_str(p, "parentTeamName", &mut errs) {
            match self.team_by_name(&pn) {
                Some(t) => parent = Some(t),
                None => errs.add("parentTeamName", "must match existing teams names"),
            }
        }
        let mut subs = int_list(p, "subTeamIds", &mut errs).unwrap_or_default();
        if subs.iter().any(|t| !self.teams.contains_key(t)) {
            errs.add("subTeamIds", "must match existing teams IDs");
        }
        if let Some(names) = str_list(p, "subTeamNames", &mut errs) {
            for n in names {
                match self.team_by_name(&n) {
                    Some(t) => subs.push(t),
                    None => {
                        errs.add("subTeamNames", "must match existing teams names");
                        break;
                    }
                }
            }
        }
        let tags = tags_param(p, &mut errs).unwrap_or_default();
        errs.check()?;
        let mut manager_id = manager_id;
        if let Some(Some(email)) = clearable_str(p, "managerEmail", &mut Errs::default()) {
            match self
                .email_idx
                .get(&email.trim().to_lowercase())
                .copied()
                .filter(|id| self.is_active_user(*id))
            {
                Some(id) => manager_id = Some(id),
                None => {
                    return Err(bad_request(
                        "managerEmail must match an existing user email within your company",
                    ))
                }
            }
        }
        if let Some(x) = &ext {
            if self.team_ext_idx.contains_key(x) {
                return Err(validation_failed(
                    false,
                    &[(
                        "integrationExternalId",
                        "Integration external id",
                        "has already been taken",
                    )],
                ));
            }
        }
        let id = self.next_team;
        self.next_team += 1;
        self.put_team(TRec {
            t: SandboxTeam {
                id,
                name: name.unwrap_or_default(),
                integration_external_id: ext,
                parent_team_id: parent,
                manager_id,
            },
            secondary_manager_ids: secondary,
            tags,
        });
        for s in subs {
            if s != id {
                if let Some(t) = self.teams.get_mut(&s) {
                    t.t.parent_team_id = Some(id);
                }
            }
        }
        Ok((
            StatusCode::CREATED,
            Json(self.team_extended(&self.teams[&id])),
        )
            .into_response())
    }

    fn update_team(&mut self, r: &Ref, p: &Params) -> HResult {
        let mut errs = Errs::default();
        let name = optional_nonblank(p, "name", &mut errs);
        let ext = clearable_str(p, "integrationExternalId", &mut errs);
        let manager = clearable_int(p, "managerId", &mut errs);
        if let Some(Some(m)) = manager {
            if !self.users.contains_key(&m) {
                errs.add("managerId", "must match existing users IDs");
            }
        }
        let parent = clearable_int(p, "parentTeamId", &mut errs);
        if let Some(Some(t)) = parent {
            if !self.teams.contains_key(&t) {
                errs.add("parentTeamId", "must match existing teams IDs");
            }
        }
        let tags = tags_param(p, &mut errs);
        let extended = match field(p, "response") {
            F::Absent | F::Null => false,
            F::Str(s) if blank(&s) || s == "Simple" => false,
            F::Str(s) if s == "Extended" => true,
            _ => {
                errs.add("response", "does not have a valid value");
                false
            }
        };
        errs.check()?;
        let id = self.lookup_team(r).ok_or_else(not_found)?;
        if let Some(Some(mut cur)) = parent {
            // Reject cycles: walk up from the new parent.
            let mut steps = 0;
            loop {
                if cur == id {
                    return Err(bad_request_full(
                        "parentTeamId is invalid",
                        &[("parentTeamId", "is invalid")],
                    ));
                }
                match self.teams.get(&cur).and_then(|t| t.t.parent_team_id) {
                    Some(next) if steps < 10_000 => {
                        cur = next;
                        steps += 1;
                    }
                    _ => break,
                }
            }
        }
        if let Some(Some(x)) = &ext {
            if self.team_ext_idx.get(x).is_some_and(|t| *t != id) {
                return Err(validation_failed(
                    false,
                    &[(
                        "integrationExternalId",
                        "Integration external id",
                        "has already been taken",
                    )],
                ));
            }
        }
        let mut rec = self.teams[&id].clone();
        if let Some(n) = name {
            rec.t.name = n;
        }
        if let Some(x) = ext {
            rec.t.integration_external_id = x;
        }
        if let Some(m) = manager {
            rec.t.manager_id = m;
        }
        if let Some(pt) = parent {
            rec.t.parent_team_id = pt;
        }
        if let Some(t) = tags {
            rec.tags = t;
        }
        self.put_team(rec);
        let t = &self.teams[&id];
        let body = if extended {
            self.team_extended(t)
        } else {
            Value::Object(self.team_simple(t))
        };
        Ok(Json(body).into_response())
    }

    fn delete_team_route(&mut self, r: &Ref) -> HResult {
        let id = self.lookup_team(r).ok_or_else(not_found)?;
        self.remove_team(id);
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    // --- team users ---------------------------------------------------------------------

    fn list_team_users(&self, r: &Ref, p: &Params) -> HResult {
        let (page, per_page) = pagination(p)?;
        let id = self.lookup_team(r).ok_or_else(not_found)?;
        let members: Vec<u64> = self
            .members
            .get(&id)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default();
        let total = members.len();
        let users: Vec<Value> = page_slice(&members, page, per_page)
            .into_iter()
            .filter_map(|u| self.users.get(&u))
            .map(|u| self.user_full(u))
            .collect();
        let mut body = self.team_simple(&self.teams[&id]);
        body.insert("users".into(), Value::Array(users));
        Ok(with_pagination(
            Json(Value::Object(body)).into_response(),
            total,
            per_page,
            self.reported_totals,
        ))
    }

    fn response_param(p: &Params, errs: &mut Errs) -> String {
        match field(p, "response") {
            F::Absent | F::Null => String::new(),
            F::Str(s) if blank(&s) || s == "Teams::Simple" || s == "Teams::Extended" => {
                s.trim().to_string()
            }
            _ => {
                errs.add("response", "does not have a valid value");
                String::new()
            }
        }
    }

    fn add_membership(&mut self, team: u64, user: u64, primary: bool, response: &str) -> Response {
        let mut rec = self.users[&user].clone();
        let before = teams_of(&rec.u);
        let was_primary = rec.u.primary_team_id == Some(team);
        if primary && !was_primary {
            rec.u.primary_team_id = Some(team);
            rec.u.secondary_team_ids.retain(|t| *t != team);
        } else if !before.contains(&team) {
            rec.u.secondary_team_ids.push(team);
        }
        if primary != was_primary || !before.contains(&team) {
            rec.updated_at = Utc::now();
            self.put_user(rec);
        }
        let mid = self
            .membership_ids
            .get(&(team, user))
            .copied()
            .unwrap_or_default();
        let t = &self.teams[&team];
        let body = match response {
            "Teams::Simple" => Value::Object(self.team_simple(t)),
            "Teams::Extended" => self.team_extended(t),
            _ => json!({"id": mid, "teamId": team, "userId": user}),
        };
        (StatusCode::CREATED, Json(body)).into_response()
    }

    fn add_team_user(&mut self, r: &Ref, p: &Params) -> HResult {
        let mut errs = Errs::default();
        let user_id = match field(p, "userId") {
            F::Absent => {
                errs.add("userId", "is missing");
                errs.add("userId", "is empty");
                None
            }
            F::Null => {
                errs.add("userId", "is empty");
                None
            }
            F::Str(s) if blank(&s) => {
                errs.add("userId", "is empty");
                None
            }
            F::Str(s) => {
                let n = parse_int(&s);
                if n.is_none() {
                    errs.add("userId", "is invalid");
                }
                n
            }
            F::Bad => {
                errs.add("userId", "is invalid");
                None
            }
        };
        let primary = bool_field(p, "isPrimary", &mut errs) == Some(true);
        let response = Self::response_param(p, &mut errs);
        errs.check()?;
        let team = self.lookup_team(r).ok_or_else(not_found)?;
        let user = user_id
            .filter(|u| self.users.contains_key(u))
            .ok_or_else(not_found)?;
        Ok(self.add_membership(team, user, primary, &response))
    }

    fn add_team_user_flat(&mut self, p: &Params) -> HResult {
        let team_key = exactly_one_of(p, &["teamId", "teamName", "teamIntegrationExternalId"])?;
        let user_key = exactly_one_of(p, &["userId", "userEmail"])?;
        let mut errs = Errs::default();
        let primary = bool_field(p, "isPrimary", &mut errs) == Some(true);
        let response = Self::response_param(p, &mut errs);
        let team_val = match field(p, &team_key) {
            F::Str(s) if !blank(&s) => Some(s.trim().to_string()),
            _ => {
                errs.add(&team_key, "is empty");
                None
            }
        };
        let user_val = match field(p, &user_key) {
            F::Str(s) if !blank(&s) => Some(s.trim().to_string()),
            _ => {
                errs.add(&user_key, "is empty");
                None
            }
        };
        if team_key == "teamId" && team_val.as_deref().is_some_and(|v| parse_int(v).is_none()) {
            errs.add("teamId", "is invalid");
        }
        if user_key == "userId" && user_val.as_deref().is_some_and(|v| parse_int(v).is_none()) {
            errs.add("userId", "is invalid");
        }
        errs.check()?;
        let (team_val, user_val) = (team_val.unwrap_or_default(), user_val.unwrap_or_default());
        let team = match team_key.as_str() {
            "teamId" => parse_int(&team_val).filter(|t| self.teams.contains_key(t)),
            "teamName" => self.team_by_name(&team_val),
            _ => match self.team_ext_idx.get(&team_val) {
                Some(t) => Some(*t),
                None => {
                    return Err(bad_request(
                        "teamIntegrationExternalId must match an existing team integration external ID within your company",
                    ))
                }
            },
        }
        .ok_or_else(not_found)?;
        let user = match user_key.as_str() {
            "userId" => parse_int(&user_val).filter(|u| self.users.contains_key(u)),
            _ => self.email_idx.get(&user_val.to_lowercase()).copied(),
        }
        .ok_or_else(not_found)?;
        Ok(self.add_membership(team, user, primary, &response))
    }

    fn remove_team_user(&mut self, r: &Ref, user: &str) -> HResult {
        let team = self.lookup_team(r).ok_or_else(not_found)?;
        let user = parse_int(user)
            .filter(|u| self.members.get(&team).is_some_and(|m| m.contains(u)))
            .ok_or_else(not_found)?;
        let mut rec = self.users[&user].clone();
        if rec.u.primary_team_id == Some(team) {
            rec.u.primary_team_id = None;
        }
        rec.u.secondary_team_ids.retain(|t| *t != team);
        rec.updated_at = Utc::now();
        self.put_user(rec);
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

/// `tags`: a comma-separated string (or an array).
fn tags_param(p: &Params, errs: &mut Errs) -> Option<Vec<String>> {
    str_list(p, "tags", errs)
}
