//! The teams routes: create, update (partial, no parent cycles), show, delete and the list.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::model::SandboxTeam;
use super::params::{
    blank, clearable_int, clearable_str, field, int_list, mutually_exclusive, optional_nonblank,
    page_slice, pagination, required_str, str_list, Errs, Params, F,
};
use super::responses::{
    bad_request, bad_request_full, not_found, validation_failed, with_pagination, HResult,
};
use super::store::{Data, Ref, TRec};

impl Data {
    pub(super) fn list_teams(&self, p: &Params) -> HResult {
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

    pub(super) fn show_team(&self, r: &Ref) -> HResult {
        let id = self.lookup_team(r).ok_or_else(not_found)?;
        Ok(Json(self.team_extended(&self.teams[&id])).into_response())
    }

    pub(super) fn create_team(&mut self, p: &Params) -> HResult {
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

    pub(super) fn update_team(&mut self, r: &Ref, p: &Params) -> HResult {
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

    pub(super) fn delete_team_route(&mut self, r: &Ref) -> HResult {
        let id = self.lookup_team(r).ok_or_else(not_found)?;
        self.remove_team(id);
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

/// `tags`: a comma-separated string (or an array).
fn tags_param(p: &Params, errs: &mut Errs) -> Option<Vec<String>> {
    str_list(p, "tags", errs)
}
