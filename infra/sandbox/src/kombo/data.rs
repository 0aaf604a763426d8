//! The in-memory company a sandbox serves: records in insertion order with their indexes,
//! the mutation clock, and the employee's wire shape (which embeds linked records).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::{json, Map, Value};

use super::wire::{EmbeddedLocation, KomboEmployee, KomboGroup, KomboLocation};
use crate::faults::FaultKnobs;
use crate::util::{fmt_kombo_dt, now_ms};

/// Everything a sandbox holds, shared by its handle and its server.
pub(super) struct Shared {
    pub(super) api_key: String,
    pub(super) integration_id: String,
    pub(super) faults: FaultKnobs,
    pub(super) setup_pending: AtomicBool,
    /// While on, reads fail with `INTEGRATION.AUTHENTICATION_INVALID`.
    pub(super) connection_broken: AtomicBool,
    /// While on, a page asked for with a cursor answers with that same cursor as `next`.
    pub(super) repeat_cursor: AtomicBool,
    pub(super) fail_after_pages: Mutex<Option<usize>>,
    pub(super) requests: AtomicU64,
    pub(super) data: Mutex<Data>,
    /// The connection flow: links, tokens, integrations, webhooks.
    pub(super) connect: Mutex<super::connect_state::ConnectState>,
    /// `http://127.0.0.1:PORT`, once started: where the connection page's links point.
    pub(super) origin: Mutex<String>,
}

pub(super) struct EmpRec {
    pub(super) e: KomboEmployee,
    pub(super) updated_at: DateTime<Utc>,
    /// Gone from every listing, deleted or not (see `purge_employee`).
    pub(super) purged: bool,
}

#[derive(Default)]
pub(super) struct Data {
    pub(super) employees: Vec<EmpRec>,
    pub(super) emp_idx: HashMap<String, usize>,
    pub(super) groups: Vec<KomboGroup>,
    pub(super) group_idx: HashMap<String, usize>,
    pub(super) locations: Vec<KomboLocation>,
    pub(super) loc_idx: HashMap<String, usize>,
    pub(super) last_tick: DateTime<Utc>,
    /// Wire fields served in place of an employee's own (a fault knob: shapes the spec forbids).
    pub(super) wire_overrides: HashMap<String, Map<String, Value>>,
}

impl Data {
    /// A strictly increasing mutation timestamp (see the module docs).
    pub(super) fn tick(&mut self) -> DateTime<Utc> {
        let candidate = now_ms() + ChronoDuration::milliseconds(1);
        let t = if candidate <= self.last_tick {
            self.last_tick + ChronoDuration::milliseconds(1)
        } else {
            candidate
        };
        self.last_tick = t;
        t
    }

    /// Refreshes embedded group and location data from the group/location tables.
    pub(super) fn refresh_embedded(&self, e: &mut KomboEmployee) {
        for g in &mut e.groups {
            if let Some(&i) = self.group_idx.get(&g.id) {
                let t = &self.groups[i];
                g.name = t.name.clone();
                g.r#type = t.r#type.clone();
                g.remote_id = t.remote_id.clone();
            }
        }
        let loc_id = e
            .work_location_id
            .clone()
            .or_else(|| e.work_location.as_ref().map(|l| l.id.clone()));
        if let Some(id) = loc_id {
            if let Some(&i) = self.loc_idx.get(&id) {
                let l = &self.locations[i];
                e.work_location = Some(EmbeddedLocation {
                    id: l.id.clone(),
                    remote_id: l.remote_id.clone(),
                    name: l.name.clone(),
                    r#type: l.r#type.clone(),
                });
                e.work_location_id = Some(id);
            }
        }
    }

    pub(super) fn insert_employee(&mut self, mut e: KomboEmployee, updated_at: DateTime<Utc>) {
        self.refresh_embedded(&mut e);
        let rec = EmpRec {
            e,
            updated_at,
            purged: false,
        };
        match self.emp_idx.get(&rec.e.id) {
            Some(&i) => self.employees[i] = rec,
            None => {
                self.emp_idx.insert(rec.e.id.clone(), self.employees.len());
                self.employees.push(rec);
            }
        }
    }

    /// The manager's record changed: its reports' embedded `manager` changed too.
    pub(super) fn bump_reports(&mut self, manager_id: &str, now: DateTime<Utc>) {
        for r in &mut self.employees {
            if r.e.manager_id.as_deref() == Some(manager_id) {
                r.updated_at = now;
            }
        }
    }

    pub(super) fn upsert_group(&mut self, g: KomboGroup) {
        match self.group_idx.get(&g.id) {
            Some(&i) => self.groups[i] = g,
            None => {
                self.group_idx.insert(g.id.clone(), self.groups.len());
                self.groups.push(g);
            }
        }
    }

    pub(super) fn upsert_location(&mut self, l: KomboLocation) {
        match self.loc_idx.get(&l.id) {
            Some(&i) => self.locations[i] = l,
            None => {
                self.loc_idx.insert(l.id.clone(), self.locations.len());
                self.locations.push(l);
            }
        }
    }

    /// Renames the embedded copies of a group without bumping the employees.
    pub(super) fn propagate_group(&mut self, group_id: &str) {
        let Some(&gi) = self.group_idx.get(group_id) else {
            return;
        };
        let g = self.groups[gi].clone();
        for r in &mut self.employees {
            for eg in &mut r.e.groups {
                if eg.id == g.id {
                    eg.name = g.name.clone();
                    eg.r#type = g.r#type.clone();
                    eg.remote_id = g.remote_id.clone();
                }
            }
        }
    }

    pub(super) fn manager_object(&self, e: &KomboEmployee) -> Value {
        let Some(m) = e
            .manager_id
            .as_ref()
            .and_then(|id| self.emp_idx.get(id))
            .map(|&i| &self.employees[i].e)
        else {
            return Value::Null;
        };
        json!({
            "id": m.id,
            "remote_id": m.remote_id,
            "first_name": m.first_name,
            "last_name": m.last_name,
            "display_full_name": m.display_full_name,
            "employee_number": m.employee_number,
            "work_email": m.work_email,
            "employment_status": m.employment_status,
            "termination_date": m.termination_date.as_ref().map(fmt_kombo_dt),
        })
    }

    pub(super) fn employee_wire(&self, e: &KomboEmployee) -> Value {
        let mut m = match serde_json::to_value(e) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let groups = m.get("groups").cloned().unwrap_or_else(|| json!([]));
        m.insert("teams".into(), groups);
        m.insert("manager".into(), self.manager_object(e));
        if let Some(Value::Object(wl)) = m.get_mut("work_location") {
            let loc = wl
                .get("id")
                .and_then(Value::as_str)
                .and_then(|id| self.loc_idx.get(id))
                .map(|&i| &self.locations[i]);
            wl.insert(
                "changed_at".into(),
                json!(fmt_kombo_dt(
                    &loc.map(|l| l.changed_at).unwrap_or(e.changed_at)
                )),
            );
            wl.insert(
                "remote_deleted_at".into(),
                json!(loc.and_then(|l| l.remote_deleted_at.as_ref().map(fmt_kombo_dt))),
            );
            wl.insert("remote_data".into(), Value::Null);
        }
        for k in [
            "nationality",
            "mobile_phone_number",
            "ssn",
            "tax_id",
            "gender",
            "ethnicity",
            "marital_status",
            "weekly_hours",
            "avatar",
            "home_address",
            "bank_accounts",
            "date_of_birth",
            "remote_created_at",
            "remote_data",
        ] {
            m.insert(k.into(), Value::Null);
        }
        m.insert("employments".into(), json!([]));
        m.insert("time_off_balances".into(), json!([]));
        if let Some(overrides) = self.wire_overrides.get(&e.id) {
            m.extend(overrides.clone());
        }
        Value::Object(m)
    }
}
