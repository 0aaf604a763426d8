//! Team membership routes: list a team's users, add a user (by team id or external id, or the
//! flat `POST /v1/teams/users`), remove one.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::params::{
    blank, bool_field, exactly_one_of, field, page_slice, pagination, parse_int, Errs, Params, F,
};
use super::responses::{bad_request, not_found, with_pagination, HResult};
use super::store::{teams_of, Data, Ref};

impl Data {
    pub(super) fn list_team_users(&self, r: &Ref, p: &Params) -> HResult {
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

    pub(super) fn add_team_user(&mut self, r: &Ref, p: &Params) -> HResult {
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

    pub(super) fn add_team_user_flat(&mut self, p: &Params) -> HResult {
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

    pub(super) fn remove_team_user(&mut self, r: &Ref, user: &str) -> HResult {
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
