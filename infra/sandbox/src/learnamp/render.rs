//! The JSON shapes of users and teams, as the docs' examples show them.

use serde_json::{json, Map, Value};

use super::store::{Data, TRec, URec};

const PROFILE_BASE: &str = "https://sandbox.learnamp.com/en/users";
const AVATAR_URL: &str = "https://sandbox.learnamp.com/images/default-avatar.png";

impl Data {
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

    pub(super) fn user_basic(&self, r: &URec) -> Map<String, Value> {
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

    pub(super) fn user_full(&self, r: &URec) -> Value {
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

    pub(super) fn team_simple(&self, t: &TRec) -> Map<String, Value> {
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

    pub(super) fn team_extended(&self, t: &TRec) -> Value {
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
