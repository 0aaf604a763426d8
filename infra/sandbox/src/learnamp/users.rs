//! The users routes: create, update, show, deactivate, reactivate, delete and the filtered
//! list, with the validations the docs describe.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use super::model::{SandboxUser, OWNER_ID};
use super::params::{
    blank, bool_field, clearable_int, clearable_str, custom_fields_param, field, int_list,
    mutually_exclusive, optional_nonblank, page_slice, pagination, parse_bool, parse_int,
    range_bound, required_str, str_list, valid_email, Errs, Params, F,
};
use super::responses::{
    bad_request, bad_request_full, error, not_found, validation_failed, with_pagination, HResult,
};
use super::store::{teams_of, Data, Ref, URec};

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

type DateRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The optional user fields shared by create and update, parsed and validated.
#[derive(Default)]
struct UserInput {
    pub(super) email: Option<String>,
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
    ext_id: Option<Option<String>>,
    pub(super) job_title: Option<Option<String>>,
    pub(super) location: Option<Option<String>>,
    pub(super) department: Option<Option<String>>,
    pub(super) hire_date: Option<Option<String>>,
    pub(super) language: Option<String>,
    pub(super) role: Option<String>,
    primary_team: Option<Option<u64>>,
    secondary_teams: Option<Vec<u64>>,
    pub(super) manager_id: Option<Option<u64>>,
    manager_email: Option<Option<String>>,
    skip_invitation: Option<bool>,
    reactivate: Option<bool>,
    occupation_role: Option<String>,
    pub(super) custom_fields: Option<Vec<(String, Option<String>)>>,
}

const USER_EXCLUSIVE: &[(&str, &str)] = &[
    ("primaryTeamId", "primaryTeamIntegrationExternalId"),
    ("secondaryTeamIds", "secondaryTeamIntegrationExternalIds"),
    ("managerId", "managerEmail"),
];

impl Data {
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

    pub(super) fn create_user(&mut self, p: &Params) -> HResult {
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

    pub(super) fn update_user(&mut self, r: &Ref, p: &Params) -> HResult {
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

    pub(super) fn show_user(&self, r: &Ref) -> HResult {
        let id = self.lookup_user(r).ok_or_else(not_found)?;
        Ok(self.user_response(id, StatusCode::OK))
    }

    pub(super) fn deactivate_route(&mut self, id: &str) -> HResult {
        let id = self
            .lookup_user(&Ref::Id(id.to_string()))
            .ok_or_else(not_found)?;
        if id == OWNER_ID {
            return Err(bad_request("The account owner cannot be deactivated"));
        }
        self.deactivate(id);
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    pub(super) fn reactivate_route(&mut self, id: &str) -> HResult {
        let id = self
            .lookup_user(&Ref::Id(id.to_string()))
            .ok_or_else(not_found)?;
        let mut rec = self.users[&id].clone();
        Self::reactivate_rec(&mut rec);
        self.put_user(rec);
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    pub(super) fn delete_user_route(&mut self, id: &str) -> HResult {
        let id = self
            .lookup_user(&Ref::Id(id.to_string()))
            .ok_or_else(not_found)?;
        if id == OWNER_ID {
            return Err(bad_request("The account owner cannot be deleted"));
        }
        self.remove_user(id);
        Ok(StatusCode::NO_CONTENT.into_response())
    }

    pub(super) fn list_users(&self, p: &Params) -> HResult {
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
}
