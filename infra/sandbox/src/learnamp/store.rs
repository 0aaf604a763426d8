//! The in-memory company: users, teams and memberships with the indexes that keep lookups
//! cheap, issued tokens, the knobs that shape answers, and the changes with side effects
//! (deactivation, deletion) every route and the control API share.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::model::{CallCounts, SandboxTeam, SandboxUser, UserShape, OWNER_EMAIL, OWNER_ID};
use super::params::parse_int;
use crate::faults::FaultKnobs;

const FIRST_USER_ID: u64 = 1001;
const FIRST_TEAM_ID: u64 = 301;

/// Everything a sandbox holds, shared by its handle and its server.
pub(super) struct Shared {
    pub(super) client_id: String,
    pub(super) client_secret: String,
    pub(super) faults: FaultKnobs,
    pub(super) data: Mutex<Data>,
    pub(super) calls: Mutex<CallCounts>,
}

/// A user, with what the API shows of it beyond [`SandboxUser`].
#[derive(Clone)]
pub(super) struct URec {
    pub(super) u: SandboxUser,
    pub(super) language: String,
    pub(super) time_zone: Option<String>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) deactivated_at: Option<DateTime<Utc>>,
    pub(super) status_date: NaiveDate,
    pub(super) status_before_deactivation: String,
}

/// A team, with what the API shows of it beyond [`SandboxTeam`].
#[derive(Clone)]
pub(super) struct TRec {
    pub(super) t: SandboxTeam,
    pub(super) secondary_manager_ids: Vec<u64>,
    pub(super) tags: Vec<String>,
}

/// An issued access token.
pub(super) struct Token {
    pub(super) expires_at: Instant,
    pub(super) scopes: Vec<String>,
}

/// The company and the knobs that shape its answers, behind one lock.
pub(super) struct Data {
    pub(super) users: BTreeMap<u64, URec>,
    pub(super) teams: BTreeMap<u64, TRec>,
    pub(super) next_user: u64,
    pub(super) next_team: u64,
    next_membership: u64,
    pub(super) email_idx: HashMap<String, u64>,
    pub(super) ext_idx: HashMap<String, u64>,
    pub(super) team_ext_idx: HashMap<String, u64>,
    pub(super) members: HashMap<u64, BTreeSet<u64>>,
    pub(super) membership_ids: HashMap<(u64, u64), u64>,
    pub(super) tokens: HashMap<String, Token>,
    pub(super) token_ttl: u64,
    /// What token answers say as `expires_in`, when it is not the true lifetime.
    pub(super) reported_token_lifetime: Option<Value>,
    /// What listings say as `Total` and `Total-Pages`, when not the truth.
    pub(super) reported_totals: Option<(u64, u64)>,
    /// Other shapes of the user object that the docs allow (see [`UserShape`]).
    pub(super) user_shape: UserShape,
    /// The scopes the credentials were provisioned with (`None`: any known scope). Legacy
    /// credentials hold `public` alone; granular ones lack it.
    pub(super) granted_scopes: Option<Vec<String>>,
    /// Custom fields with a presence validation: clearing one is refused (400).
    pub(super) required_custom_fields: BTreeSet<String>,
    /// Updates must carry `email`, `firstName` and `lastName` (the docs mark them required).
    pub(super) names_required_on_update: bool,
    pub(super) custom_field_defs: BTreeSet<String>,
}

/// A user or team as a path names it: by id, or by integration external id.
#[derive(Clone, Debug)]
pub(super) enum Ref {
    Id(String),
    Ext(String),
}

pub(super) fn teams_of(u: &SandboxUser) -> BTreeSet<u64> {
    u.primary_team_id
        .iter()
        .chain(u.secondary_team_ids.iter())
        .copied()
        .collect()
}

pub(super) fn today() -> NaiveDate {
    Utc::now().date_naive()
}

impl Data {
    pub(super) fn new() -> Self {
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

    pub(super) fn new_rec(&self, u: SandboxUser, now: DateTime<Utc>) -> URec {
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
    pub(super) fn put_user(&mut self, mut rec: URec) {
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

    pub(super) fn remove_user(&mut self, id: u64) {
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

    pub(super) fn put_team(&mut self, rec: TRec) {
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

    pub(super) fn remove_team(&mut self, id: u64) {
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

    pub(super) fn deactivate(&mut self, id: u64) {
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

    pub(super) fn reactivate_rec(rec: &mut URec) {
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

    pub(super) fn team_by_name(&self, name: &str) -> Option<u64> {
        let lower = name.to_lowercase();
        self.teams
            .values()
            .find(|t| t.t.name.to_lowercase() == lower)
            .map(|t| t.t.id)
    }

    pub(super) fn team_users_count(&self, team: u64) -> usize {
        self.members.get(&team).map_or(0, |m| m.len())
    }

    pub(super) fn is_active_user(&self, id: u64) -> bool {
        self.users
            .get(&id)
            .is_some_and(|r| r.u.status != "deactivated")
    }

    pub(super) fn lookup_user(&self, r: &Ref) -> Option<u64> {
        match r {
            Ref::Id(s) => parse_int(s).filter(|id| self.users.contains_key(id)),
            Ref::Ext(x) => self.ext_idx.get(x).copied(),
        }
    }

    pub(super) fn lookup_team(&self, r: &Ref) -> Option<u64> {
        match r {
            Ref::Id(s) => parse_int(s).filter(|id| self.teams.contains_key(id)),
            Ref::Ext(x) => self.team_ext_idx.get(x).copied(),
        }
    }
}
