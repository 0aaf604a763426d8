//! A simulator of Kombo's unified HRIS API (`https://api.kombo.dev/v1`), as documented by
//! Kombo's OpenAPI document (`/hris/employees`, `/hris/groups`, `/hris/locations`,
//! `/check-api-key`, `ErrorResponseHRIS`) and the research notes.
//!
//! # What it enforces
//!
//! * `Authorization: Bearer <api key>` on every route, else **401** `PLATFORM.AUTHENTICATION_INVALID`.
//! * `X-Integration-Id` on every `/hris/*` route: missing → **400** `PLATFORM.INPUT_INVALID`,
//!   another id → **404** `PLATFORM.INTEGRATION_NOT_FOUND`. `/check-api-key` needs no integration.
//! * While [`KomboSandbox::set_setup_pending`] is on, `/hris/*` reads fail with **409**
//!   `INTEGRATION.SETUP_SYNC_PENDING` (the status code Kombo uses since 2026-05-19).
//! * `page_size`: integer in `1..=250`, default 100, else **400** `PLATFORM.INPUT_INVALID`.
//! * `cursor`: the opaque `data.next` of the previous page (base64 of a small JSON document);
//!   anything else → **400**. `next` is `null` on the last page.
//! * `updated_after` (ISO 8601 date-time; unparsable → **400**): employees whose *internal*
//!   `updated_at` is strictly after it. That timestamp moves when the employee's own record
//!   changes (upsert/update/delete), when its manager's record changes and when its work
//!   location's record changes. A group **rename** does not move it (documented Kombo
//!   behaviour: only group-membership add/remove counts, which is an own change here). Groups and
//!   locations are filtered by their own `changed_at`.
//! * `include_deleted` must be `"true"`/`"false"` (default false); records with
//!   `remote_deleted_at` are hidden unless it is `"true"`.
//! * Filters: `ids`, `remote_ids`, `employment_statuses` (validated against the four values),
//!   the deprecated `employment_status`, `group_ids`, `legal_entity_ids`, `work_location_ids`,
//!   `work_emails`/`personal_emails` (case-insensitive), `custom_fields` (one-pair JSON object);
//!   groups: `types`, `name_contains`; locations: `name_contains`. Different filters are ANDed,
//!   the values of one filter ORed. `ignore_unsupported_filters` is validated and has no effect.
//! * Errors use the documented envelope
//!   `{"status":"error","error":{"code","title","message","log_url":null}}`.
//!
//! # Choices where the docs are silent
//!
//! * Order is insertion order (a replaced record keeps its place) and the cursor is a keyset
//!   position in that order, so pagination never skips or repeats a record, even while records
//!   are changed, added or soft-deleted between pages.
//! * The cursor carries the listing's filters: a request with a cursor may repeat the same
//!   filters or leave them out; sending *different* filters with a cursor → **400**.
//!   `page_size` may change from page to page.
//! * [`KomboSandbox::fail_after_pages`] counts pages per listing through the cursor: page
//!   `n + 1` and later answer **503** `REMOTE.SERVICE_UNAVAILABLE` (retries of that page too).
//! * Timestamps have millisecond precision (the wire format's); every mutation gets a strictly
//!   increasing timestamp one millisecond past the current (truncated) wall-clock time, so a
//!   timestamp taken before a mutation is always strictly before it.
//! * The embedded `manager` object is built from the manager's current record (`null` when the
//!   manager id is unknown to the sandbox); `teams` mirrors `groups`; fields the sandbox does not
//!   model (`nationality`, `ssn`, `remote_data`, ...) are `null` and `employments` /
//!   `time_off_balances` are empty arrays.
//! * Unknown query parameters are ignored. Requests are counted (see
//!   [`KomboSandbox::request_count`]) before faults are injected, so faulted requests count too.
//! * `GET /_sandbox/state` returns every record, deleted ones included, in the wire shape.

// Handlers return the error `Response` itself as the `Err` of their `Result`s.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::faults::{FaultKnobs, FaultLayer, Flavor};
use crate::generator::Company;
use crate::util::{
    fmt_kombo_dt, kombo_dt, kombo_dt_opt, now_ms, null_as_default, parse_iso_datetime,
};
use crate::RunningServer;

/// A group (department, team, cost center) as embedded in an employee's `groups`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedGroup {
    pub id: String,
    #[serde(default)]
    pub remote_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `DEPARTMENT`, `TEAM`, `COST_CENTER` or null.
    #[serde(default)]
    pub r#type: Option<String>,
}

/// A work location as embedded in an employee's `work_location`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedLocation {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub r#type: Option<String>,
}

/// An employee with Kombo's JSON field names. On the wire the sandbox adds the fields it does
/// not model (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KomboEmployee {
    pub id: String,
    #[serde(default)]
    pub remote_id: String,
    #[serde(default)]
    pub employee_number: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub display_full_name: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub work_email: Option<String>,
    #[serde(default)]
    pub personal_email: Option<String>,
    /// `ACTIVE`, `PENDING`, `INACTIVE`, `LEAVE` or a raw HRIS value.
    #[serde(default)]
    pub employment_status: Option<String>,
    #[serde(default)]
    pub employment_type: Option<String>,
    #[serde(default)]
    pub work_location_id: Option<String>,
    #[serde(default)]
    pub legal_entity_id: Option<String>,
    #[serde(default)]
    pub manager_id: Option<String>,
    #[serde(default, with = "kombo_dt_opt")]
    pub start_date: Option<DateTime<Utc>>,
    #[serde(default, with = "kombo_dt_opt")]
    pub termination_date: Option<DateTime<Utc>>,
    #[serde(default, with = "kombo_dt")]
    pub changed_at: DateTime<Utc>,
    #[serde(default, with = "kombo_dt_opt")]
    pub remote_deleted_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub custom_fields: Map<String, Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub integration_fields: Vec<Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<EmbeddedGroup>,
    #[serde(default)]
    pub work_location: Option<EmbeddedLocation>,
    #[serde(default)]
    pub legal_entity: Option<Value>,
}

/// A group of `GET /hris/groups`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KomboGroup {
    pub id: String,
    #[serde(default)]
    pub remote_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub r#type: Option<String>,
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default, with = "kombo_dt")]
    pub changed_at: DateTime<Utc>,
    #[serde(default, with = "kombo_dt_opt")]
    pub remote_deleted_at: Option<DateTime<Utc>>,
}

/// A work location of `GET /hris/locations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KomboLocation {
    pub id: String,
    #[serde(default)]
    pub remote_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub r#type: Option<String>,
    #[serde(default, with = "kombo_dt")]
    pub changed_at: DateTime<Utc>,
    #[serde(default, with = "kombo_dt_opt")]
    pub remote_deleted_at: Option<DateTime<Utc>>,
}

/// The Kombo sandbox. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct KomboSandbox {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for KomboSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KomboSandbox")
            .field("integration_id", &self.shared.integration_id)
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

struct Shared {
    api_key: String,
    integration_id: String,
    faults: FaultKnobs,
    setup_pending: AtomicBool,
    /// While on, reads fail with `INTEGRATION.AUTHENTICATION_INVALID`.
    connection_broken: AtomicBool,
    /// While on, a page asked for with a cursor answers with that same cursor as `next`.
    repeat_cursor: AtomicBool,
    fail_after_pages: Mutex<Option<usize>>,
    requests: AtomicU64,
    data: Mutex<Data>,
}

struct EmpRec {
    e: KomboEmployee,
    updated_at: DateTime<Utc>,
    /// Gone from every listing, deleted or not (see `purge_employee`).
    purged: bool,
}

#[derive(Default)]
struct Data {
    employees: Vec<EmpRec>,
    emp_idx: HashMap<String, usize>,
    groups: Vec<KomboGroup>,
    group_idx: HashMap<String, usize>,
    locations: Vec<KomboLocation>,
    loc_idx: HashMap<String, usize>,
    last_tick: DateTime<Utc>,
    /// Wire fields served in place of an employee's own (a fault knob: shapes the spec forbids).
    wire_overrides: HashMap<String, Map<String, Value>>,
}

impl Data {
    /// A strictly increasing mutation timestamp (see the module docs).
    fn tick(&mut self) -> DateTime<Utc> {
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
    fn refresh_embedded(&self, e: &mut KomboEmployee) {
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

    fn insert_employee(&mut self, mut e: KomboEmployee, updated_at: DateTime<Utc>) {
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
    fn bump_reports(&mut self, manager_id: &str, now: DateTime<Utc>) {
        for r in &mut self.employees {
            if r.e.manager_id.as_deref() == Some(manager_id) {
                r.updated_at = now;
            }
        }
    }

    fn upsert_group(&mut self, g: KomboGroup) {
        match self.group_idx.get(&g.id) {
            Some(&i) => self.groups[i] = g,
            None => {
                self.group_idx.insert(g.id.clone(), self.groups.len());
                self.groups.push(g);
            }
        }
    }

    fn upsert_location(&mut self, l: KomboLocation) {
        match self.loc_idx.get(&l.id) {
            Some(&i) => self.locations[i] = l,
            None => {
                self.loc_idx.insert(l.id.clone(), self.locations.len());
                self.locations.push(l);
            }
        }
    }

    /// Renames the embedded copies of a group without bumping the employees.
    fn propagate_group(&mut self, group_id: &str) {
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

    fn manager_object(&self, e: &KomboEmployee) -> Value {
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

    fn employee_wire(&self, e: &KomboEmployee) -> Value {
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

fn group_wire(g: &KomboGroup) -> Value {
    let mut v = serde_json::to_value(g).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("remote_data".into(), Value::Null);
    }
    v
}

fn location_wire(l: &KomboLocation) -> Value {
    let mut v = serde_json::to_value(l).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("remote_data".into(), Value::Null);
    }
    v
}

impl KomboSandbox {
    /// A sandbox that accepts `api_key` and serves one integration, `integration_id`, whose
    /// data is `company`.
    pub fn new(api_key: &str, integration_id: &str, company: Company) -> Self {
        let mut data = Data::default();
        for g in company.groups {
            data.upsert_group(g);
        }
        for l in company.locations {
            data.upsert_location(l);
        }
        for e in company.employees {
            let updated_at = e.changed_at;
            data.insert_employee(e, updated_at);
        }
        KomboSandbox {
            shared: Arc::new(Shared {
                api_key: api_key.to_string(),
                integration_id: integration_id.to_string(),
                faults: FaultKnobs::default(),
                setup_pending: AtomicBool::new(false),
                connection_broken: AtomicBool::new(false),
                repeat_cursor: AtomicBool::new(false),
                fail_after_pages: Mutex::new(None),
                requests: AtomicU64::new(0),
                data: Mutex::new(data),
            }),
        }
    }

    /// Serves the API on `127.0.0.1:port` (0 = a free port); `base_url` ends with `/v1`.
    pub async fn start(&self, port: u16) -> std::io::Result<RunningServer> {
        crate::serve(router(self.shared.clone()), port, "/v1").await
    }

    /// The fault knobs of this sandbox.
    pub fn faults(&self) -> FaultKnobs {
        self.shared.faults.clone()
    }

    /// The API key the sandbox accepts.
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// The integration id the sandbox serves.
    pub fn integration_id(&self) -> &str {
        &self.shared.integration_id
    }

    /// While on, `/hris/*` reads fail with 409 `INTEGRATION.SETUP_SYNC_PENDING`.
    pub fn set_setup_pending(&self, pending: bool) {
        self.shared.setup_pending.store(pending, Ordering::SeqCst);
    }

    /// While on, `/hris/*` reads fail with `INTEGRATION.AUTHENTICATION_INVALID`: the customer's
    /// own connection to Personio broke (a revoked key, a changed password).
    pub fn set_connection_broken(&self, broken: bool) {
        self.shared
            .connection_broken
            .store(broken, Ordering::SeqCst);
    }

    /// While on, every page asked for with a cursor gives that same cursor as its `next`: a
    /// listing that would never end for a client that trusts the cursor.
    pub fn set_repeat_cursor(&self, repeat: bool) {
        self.shared.repeat_cursor.store(repeat, Ordering::SeqCst);
    }

    /// Serves `value` as `field` of employee `id`'s records, whatever the spec allows there (a
    /// string where an object belongs, ...): a malformed record. `None` serves the truth again.
    pub fn set_wire_field(&self, id: &str, field: &str, value: Option<Value>) {
        let mut d = self.data();
        let overrides = d.wire_overrides.entry(id.to_string()).or_default();
        match value {
            Some(v) => {
                overrides.insert(field.to_string(), v);
            }
            None => {
                overrides.remove(field);
            }
        }
    }

    /// `Some(n)`: page `n + 1` and later of every listing fail with 503
    /// `REMOTE.SERVICE_UNAVAILABLE`. `None` turns it off.
    pub fn fail_after_pages(&self, pages: Option<usize>) {
        *self
            .shared
            .fail_after_pages
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = pages;
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.shared.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inserts or replaces an employee: `changed_at` = now, its `updated_at` and its reports'
    /// move, embedded group/location names are refreshed from the tables.
    pub fn upsert_employee(&self, mut e: KomboEmployee) {
        let mut d = self.data();
        let now = d.tick();
        e.changed_at = now;
        let id = e.id.clone();
        d.insert_employee(e, now);
        d.bump_reports(&id, now);
    }

    /// Changes an employee in place (same bumping as [`Self::upsert_employee`]). `false` if
    /// unknown.
    pub fn update_employee(&self, id: &str, f: impl FnOnce(&mut KomboEmployee)) -> bool {
        let mut d = self.data();
        let Some(&i) = d.emp_idx.get(id) else {
            return false;
        };
        let mut e = d.employees[i].e.clone();
        f(&mut e);
        e.id = id.to_string();
        let now = d.tick();
        e.changed_at = now;
        d.insert_employee(e, now);
        d.bump_reports(id, now);
        true
    }

    /// Soft-deletes an employee (`remote_deleted_at` = now); hidden unless
    /// `include_deleted=true`. `false` if unknown.
    /// Removes the employee from every listing, `include_deleted=true` included, as if Kombo no
    /// longer had the record at all (a scope change on Kombo's side, or a record Kombo purged).
    /// Unlike `delete_employee`, nothing marks it: only its absence from a complete listing shows.
    pub fn purge_employee(&self, id: &str) -> bool {
        let mut d = self.data();
        let Some(&i) = d.emp_idx.get(id) else {
            return false;
        };
        d.employees[i].purged = true;
        true
    }

    pub fn delete_employee(&self, id: &str) -> bool {
        let mut d = self.data();
        let Some(&i) = d.emp_idx.get(id) else {
            return false;
        };
        if d.employees[i].e.remote_deleted_at.is_some() {
            return true;
        }
        let now = d.tick();
        let rec = &mut d.employees[i];
        rec.e.remote_deleted_at = Some(now);
        rec.e.changed_at = now;
        rec.updated_at = now;
        d.bump_reports(id, now);
        true
    }

    /// Renames a group: the group's `changed_at` moves, the embedded copies in employees are
    /// renamed, but the employees' `updated_at` does NOT move (Kombo's documented behaviour).
    pub fn rename_group(&self, id: &str, name: &str) -> bool {
        let mut d = self.data();
        let Some(&i) = d.group_idx.get(id) else {
            return false;
        };
        let now = d.tick();
        d.groups[i].name = Some(name.to_string());
        d.groups[i].changed_at = now;
        d.propagate_group(id);
        true
    }

    /// Inserts or replaces a group (`changed_at` = now); embedded copies are refreshed without
    /// bumping employees.
    pub fn upsert_group(&self, mut g: KomboGroup) {
        let mut d = self.data();
        g.changed_at = d.tick();
        let id = g.id.clone();
        d.upsert_group(g);
        d.propagate_group(&id);
    }

    /// Inserts or replaces a location (`changed_at` = now); employees at it are refreshed and
    /// bumped (a work location is a linked record for `updated_after`).
    pub fn upsert_location(&self, mut l: KomboLocation) {
        let mut d = self.data();
        let now = d.tick();
        l.changed_at = now;
        let id = l.id.clone();
        d.upsert_location(l);
        let idx: Vec<usize> = d
            .employees
            .iter()
            .enumerate()
            .filter(|(_, r)| r.e.work_location_id.as_deref() == Some(id.as_str()))
            .map(|(i, _)| i)
            .collect();
        for i in idx {
            let mut e = d.employees[i].e.clone();
            d.refresh_embedded(&mut e);
            d.employees[i].e = e;
            d.employees[i].updated_at = now;
        }
    }

    /// One employee, deleted or not.
    pub fn employee(&self, id: &str) -> Option<KomboEmployee> {
        let d = self.data();
        d.emp_idx.get(id).map(|&i| d.employees[i].e.clone())
    }

    /// All employees, deleted ones included, in listing order.
    pub fn employees(&self) -> Vec<KomboEmployee> {
        self.data().employees.iter().map(|r| r.e.clone()).collect()
    }

    /// All groups, in listing order.
    pub fn groups(&self) -> Vec<KomboGroup> {
        self.data().groups.clone()
    }

    /// All locations, in listing order.
    pub fn locations(&self) -> Vec<KomboLocation> {
        self.data().locations.clone()
    }

    /// API requests received (every route except `/_sandbox/*`, faulted ones included).
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Resets [`Self::request_count`] to 0.
    pub fn reset_request_count(&self) {
        self.shared.requests.store(0, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// Kombo's error envelope.
pub(crate) fn error_response(
    status: StatusCode,
    code: &str,
    title: &str,
    message: &str,
) -> Response {
    (
        status,
        Json(json!({
            "status": "error",
            "error": {"code": code, "title": title, "message": message, "log_url": null}
        })),
    )
        .into_response()
}

fn input_invalid(message: &str) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "PLATFORM.INPUT_INVALID",
        "The provided input is invalid.",
        message,
    )
}

fn router(sh: Arc<Shared>) -> Router {
    let faults = FaultLayer {
        knobs: sh.faults.clone(),
        flavor: Flavor::Kombo,
    };
    Router::new()
        .route("/v1/check-api-key", get(check_api_key))
        .route("/v1/hris/employees", get(list_employees))
        .route("/v1/hris/groups", get(list_groups))
        .route("/v1/hris/locations", get(list_locations))
        .fallback(not_found)
        .layer(from_fn_with_state(faults, crate::faults::middleware))
        .layer(from_fn_with_state(sh.clone(), count_requests))
        .route("/_sandbox/state", get(sandbox_state))
        .route(
            "/_sandbox/employees/{id}",
            axum::routing::patch(sandbox_update_employee).delete(sandbox_purge_employee),
        )
        .with_state(sh)
}

/// `PATCH /_sandbox/employees/{id}` with fields in Kombo's employee shape (`job_title`,
/// `employment_status`, `termination_date`, ...): a change in Personio, as Kombo then reports it
/// (`changed_at` and `updated_at` move). For trying the sync by hand.
async fn sandbox_update_employee(
    State(sh): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(fields): Json<serde_json::Map<String, Value>>,
) -> Response {
    let sandbox = KomboSandbox { shared: sh };
    let mut invalid = None;
    let found = sandbox.update_employee(&id, |e| {
        let mut wire = serde_json::to_value(&*e).expect("employees serialize");
        if let Some(object) = wire.as_object_mut() {
            object.extend(fields);
        }
        match serde_json::from_value::<KomboEmployee>(wire) {
            Ok(updated) => *e = updated,
            Err(err) => invalid = Some(err.to_string()),
        }
    });
    match (found, invalid) {
        (false, _) => not_found().await,
        (true, Some(message)) => input_invalid(&message),
        (true, None) => Json(json!({"status": "success"})).into_response(),
    }
}

/// `DELETE /_sandbox/employees/{id}`: the employee vanishes from every listing, as if purged in
/// Personio.
async fn sandbox_purge_employee(
    State(sh): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if (KomboSandbox { shared: sh }).purge_employee(&id) {
        Json(json!({"status": "success"})).into_response()
    } else {
        not_found().await
    }
}

async fn count_requests(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/_sandbox") {
        sh.requests.fetch_add(1, Ordering::SeqCst);
    }
    next.run(req).await
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "PLATFORM.INPUT_INVALID",
        "Not found.",
        "This endpoint does not exist in the Kombo sandbox.",
    )
}

async fn sandbox_state(State(sh): State<Arc<Shared>>) -> Response {
    let d = sh.data.lock().unwrap_or_else(|e| e.into_inner());
    let employees: Vec<Value> = d.employees.iter().map(|r| d.employee_wire(&r.e)).collect();
    let groups: Vec<Value> = d.groups.iter().map(group_wire).collect();
    let locations: Vec<Value> = d.locations.iter().map(location_wire).collect();
    Json(json!({"employees": employees, "groups": groups, "locations": locations})).into_response()
}

impl Shared {
    fn check_auth(&self, headers: &HeaderMap) -> Result<(), Response> {
        let ok = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .is_some_and(|t| t == self.api_key);
        if ok {
            Ok(())
        } else {
            Err(error_response(
                StatusCode::UNAUTHORIZED,
                "PLATFORM.AUTHENTICATION_INVALID",
                "The provided API key is invalid.",
                "You didn't provide a valid API key. Send it in the Authorization header as `Bearer <API key>`.",
            ))
        }
    }

    fn check_integration(&self, headers: &HeaderMap) -> Result<(), Response> {
        let Some(id) = headers.get("x-integration-id") else {
            return Err(input_invalid(
                "The X-Integration-Id header is required for this endpoint.",
            ));
        };
        let id = id.to_str().unwrap_or("").trim();
        if id != self.integration_id {
            return Err(error_response(
                StatusCode::NOT_FOUND,
                "PLATFORM.INTEGRATION_NOT_FOUND",
                "The integration could not be found.",
                &format!("No integration with the ID \"{id}\" exists in this environment."),
            ));
        }
        if self.connection_broken.load(Ordering::SeqCst) {
            return Err(error_response(
                StatusCode::FORBIDDEN,
                "INTEGRATION.AUTHENTICATION_INVALID",
                "The credentials of the integration are no longer valid.",
                "The end user has to reconnect the integration.",
            ));
        }
        if self.setup_pending.load(Ordering::SeqCst) {
            return Err(error_response(
                StatusCode::CONFLICT,
                "INTEGRATION.SETUP_SYNC_PENDING",
                "The initial sync of this integration has not finished yet.",
                "Data can be read once the first sync of the integration has finished. Wait for the data-changed webhook or retry later.",
            ));
        }
        Ok(())
    }

    fn check_page(&self, page: usize) -> Result<(), Response> {
        let limit = *self
            .fail_after_pages
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match limit {
            Some(n) if page > n => Err(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "REMOTE.SERVICE_UNAVAILABLE",
                "The remote service is unavailable.",
                &format!(
                    "Reading page {page} failed (the sandbox fails every page after page {n})."
                ),
            )),
            _ => Ok(()),
        }
    }
}

async fn check_api_key(State(sh): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = sh.check_auth(&headers) {
        return r;
    }
    Json(json!({
        "status": "success",
        "data": {"environment_id": "SandboxEnvironment0000001", "customer_id": "SandboxEnvironment0000001"}
    }))
    .into_response()
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    v: u8,
    /// The listing (`employees`, `groups`, `locations`).
    m: String,
    /// Position in insertion order of the first record to consider.
    p: usize,
    /// Page number of the page this cursor leads to (1-based).
    n: usize,
    /// The listing's filters.
    f: BTreeMap<String, String>,
}

fn encode_cursor(c: &Cursor) -> String {
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    let c: Cursor = serde_json::from_slice(&bytes).ok()?;
    (c.v == 1).then_some(c)
}

struct Listing {
    page_size: usize,
    pos: usize,
    page: usize,
    filters: BTreeMap<String, String>,
}

const COMMON_FILTERS: &[&str] = &["ids", "remote_ids"];
const EMPLOYEE_FILTERS: &[&str] = &[
    "employment_status",
    "employment_statuses",
    "group_ids",
    "legal_entity_ids",
    "work_location_ids",
    "work_emails",
    "personal_emails",
    "custom_fields",
];
const GROUP_FILTERS: &[&str] = &["types", "name_contains"];
const LOCATION_FILTERS: &[&str] = &["name_contains"];
const STATUSES: &[&str] = &["ACTIVE", "PENDING", "INACTIVE", "LEAVE"];
const GROUP_TYPES: &[&str] = &["DEPARTMENT", "TEAM", "COST_CENTER", "null"];

fn parse_bool_param(name: &str, v: &str) -> Result<bool, Response> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(input_invalid(&format!(
            "Invalid value for query parameter \"{name}\": expected \"true\" or \"false\", got \"{v}\"."
        ))),
    }
}

fn parse_listing(listing: &str, query: Option<&str>, extra: &[&str]) -> Result<Listing, Response> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|e| input_invalid(&format!("Malformed query string: {e}")))?;
    let q: HashMap<String, String> = pairs.into_iter().collect();
    let page_size = match q.get("page_size") {
        None => 100,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (1..=250).contains(&n) => n as usize,
            _ => {
                return Err(input_invalid(&format!(
                    "Invalid value for query parameter \"page_size\": \"{v}\". It must be an integer between 1 and 250."
                )))
            }
        },
    };
    let mut filters = BTreeMap::new();
    if let Some(v) = q.get("updated_after") {
        let t = parse_iso_datetime(v).filter(|_| v.contains('T')).ok_or_else(|| {
            input_invalid(&format!(
                "Invalid value for query parameter \"updated_after\": \"{v}\". Expected a date-time like 2024-01-31T12:00:00.000Z."
            ))
        })?;
        filters.insert("updated_after".to_string(), fmt_kombo_dt(&t));
    }
    if let Some(v) = q.get("include_deleted") {
        if parse_bool_param("include_deleted", v)? {
            filters.insert("include_deleted".to_string(), "true".to_string());
        }
    }
    if let Some(v) = q.get("ignore_unsupported_filters") {
        parse_bool_param("ignore_unsupported_filters", v)?;
    }
    for key in COMMON_FILTERS.iter().chain(extra.iter()) {
        let Some(v) = q.get(*key) else { continue };
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match *key {
            "employment_statuses" | "employment_status" => {
                for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !STATUSES.contains(&s) {
                        return Err(input_invalid(&format!(
                            "Invalid value \"{s}\" for query parameter \"{key}\". Allowed: ACTIVE, PENDING, INACTIVE, LEAVE."
                        )));
                    }
                }
            }
            "types" => {
                for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !GROUP_TYPES.contains(&s) {
                        return Err(input_invalid(&format!(
                            "Invalid value \"{s}\" for query parameter \"types\". Allowed: DEPARTMENT, TEAM, COST_CENTER, null."
                        )));
                    }
                }
            }
            "custom_fields" => {
                let ok = matches!(serde_json::from_str::<Value>(v), Ok(Value::Object(m)) if m.len() == 1
                    && m.values().all(|x| !x.is_array() && !x.is_object()));
                if !ok {
                    return Err(input_invalid(
                        "Invalid value for query parameter \"custom_fields\": expected a JSON object with exactly one key-value pair.",
                    ));
                }
            }
            _ => {}
        }
        filters.insert(key.to_string(), v.to_string());
    }
    let (pos, page) = match q.get("cursor") {
        None => (0, 1),
        Some(raw) => {
            let c = decode_cursor(raw)
                .filter(|c| c.m == listing)
                .ok_or_else(|| input_invalid("The provided cursor is invalid."))?;
            for (k, v) in &filters {
                if c.f.get(k) != Some(v) {
                    return Err(input_invalid(&format!(
                        "The query parameter \"{k}\" does not match the one the cursor was created with. Keep the filters unchanged while paginating."
                    )));
                }
            }
            filters = c.f;
            (c.p, c.n)
        }
    };
    Ok(Listing {
        page_size,
        pos,
        page,
        filters,
    })
}

fn csv_set(
    filters: &BTreeMap<String, String>,
    key: &str,
    lowercase: bool,
) -> Option<HashSet<String>> {
    filters.get(key).map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if lowercase {
                    s.to_lowercase()
                } else {
                    s.to_string()
                }
            })
            .collect()
    })
}

struct CommonFilter {
    updated_after: Option<DateTime<Utc>>,
    include_deleted: bool,
    ids: Option<HashSet<String>>,
    remote_ids: Option<HashSet<String>>,
    name_contains: Option<String>,
}

impl CommonFilter {
    fn new(f: &BTreeMap<String, String>) -> Self {
        CommonFilter {
            updated_after: f.get("updated_after").and_then(|v| parse_iso_datetime(v)),
            include_deleted: f.get("include_deleted").is_some_and(|v| v == "true"),
            ids: csv_set(f, "ids", false),
            remote_ids: csv_set(f, "remote_ids", false),
            name_contains: f.get("name_contains").map(|s| s.to_lowercase()),
        }
    }

    fn matches(
        &self,
        id: &str,
        remote_id: Option<&str>,
        name: Option<&str>,
        deleted: bool,
        updated_at: DateTime<Utc>,
    ) -> bool {
        if deleted && !self.include_deleted {
            return false;
        }
        if self.updated_after.is_some_and(|t| updated_at <= t) {
            return false;
        }
        if self.ids.as_ref().is_some_and(|s| !s.contains(id)) {
            return false;
        }
        if self
            .remote_ids
            .as_ref()
            .is_some_and(|s| !remote_id.is_some_and(|r| s.contains(r)))
        {
            return false;
        }
        if let Some(needle) = &self.name_contains {
            if !name.is_some_and(|n| n.to_lowercase().contains(needle)) {
                return false;
            }
        }
        true
    }
}

struct EmployeeFilter {
    common: CommonFilter,
    statuses: Option<HashSet<String>>,
    group_ids: Option<HashSet<String>>,
    legal_entity_ids: Option<HashSet<String>>,
    work_location_ids: Option<HashSet<String>>,
    work_emails: Option<HashSet<String>>,
    personal_emails: Option<HashSet<String>>,
    custom: Option<(String, Value)>,
}

impl EmployeeFilter {
    fn new(f: &BTreeMap<String, String>) -> Self {
        let mut statuses = csv_set(f, "employment_statuses", false);
        if let Some(single) = csv_set(f, "employment_status", false) {
            statuses = Some(match statuses {
                Some(s) => s.intersection(&single).cloned().collect(),
                None => single,
            });
        }
        let custom = f
            .get("custom_fields")
            .and_then(|v| serde_json::from_str::<Map<String, Value>>(v).ok())
            .and_then(|m| m.into_iter().next());
        EmployeeFilter {
            common: CommonFilter::new(f),
            statuses,
            group_ids: csv_set(f, "group_ids", false),
            legal_entity_ids: csv_set(f, "legal_entity_ids", false),
            work_location_ids: csv_set(f, "work_location_ids", false),
            work_emails: csv_set(f, "work_emails", true),
            personal_emails: csv_set(f, "personal_emails", true),
            custom,
        }
    }

    fn matches(&self, r: &EmpRec) -> bool {
        let e = &r.e;
        if r.purged {
            return false;
        }
        if !self.common.matches(
            &e.id,
            Some(&e.remote_id),
            None,
            e.remote_deleted_at.is_some(),
            r.updated_at,
        ) {
            return false;
        }
        fn in_set(set: &Option<HashSet<String>>, v: Option<&str>) -> bool {
            match set {
                None => true,
                Some(s) => v.is_some_and(|v| s.contains(v)),
            }
        }
        if !in_set(&self.statuses, e.employment_status.as_deref()) {
            return false;
        }
        if let Some(s) = &self.group_ids {
            if !e.groups.iter().any(|g| s.contains(&g.id)) {
                return false;
            }
        }
        if !in_set(&self.legal_entity_ids, e.legal_entity_id.as_deref())
            || !in_set(&self.work_location_ids, e.work_location_id.as_deref())
        {
            return false;
        }
        let work = e.work_email.as_ref().map(|s| s.to_lowercase());
        let personal = e.personal_email.as_ref().map(|s| s.to_lowercase());
        if !in_set(&self.work_emails, work.as_deref())
            || !in_set(&self.personal_emails, personal.as_deref())
        {
            return false;
        }
        if let Some((k, want)) = &self.custom {
            let have = e.custom_fields.get(k).unwrap_or(&Value::Null);
            let same = have == want
                || match (have, want) {
                    (Value::String(a), b) | (b, Value::String(a)) if !b.is_null() => {
                        *a == b.to_string().trim_matches('"')
                    }
                    _ => false,
                };
            if !same {
                return false;
            }
        }
        true
    }
}

/// Indices of one page of matching records from `start`, and the position of the next match.
fn take_page<T>(
    items: &[T],
    start: usize,
    size: usize,
    pred: impl Fn(&T) -> bool,
) -> (Vec<usize>, Option<usize>) {
    let mut out = Vec::with_capacity(size.min(items.len()));
    let mut i = start;
    while i < items.len() {
        if pred(&items[i]) {
            if out.len() == size {
                return (out, Some(i));
            }
            out.push(i);
        }
        i += 1;
    }
    (out, None)
}

fn page_response(
    sh: &Shared,
    listing: &str,
    l: &Listing,
    results: Vec<Value>,
    next: Option<usize>,
) -> Response {
    let cursor_to = |p, n| {
        encode_cursor(&Cursor {
            v: 1,
            m: listing.to_string(),
            p,
            n,
            f: l.filters.clone(),
        })
    };
    let next = if l.page > 1 && sh.repeat_cursor.load(Ordering::SeqCst) {
        // The cursor this page was asked with.
        Some(cursor_to(l.pos, l.page))
    } else {
        next.map(|p| cursor_to(p, l.page + 1))
    };
    Json(json!({"status": "success", "data": {"next": next, "results": results}})).into_response()
}

fn prelude(
    sh: &Shared,
    headers: &HeaderMap,
    query: Option<&str>,
    listing: &str,
    extra: &[&str],
) -> Result<Listing, Response> {
    sh.check_auth(headers)?;
    sh.check_integration(headers)?;
    let l = parse_listing(listing, query, extra)?;
    sh.check_page(l.page)?;
    Ok(l)
}

async fn list_employees(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let l = match prelude(
        &sh,
        &headers,
        query.as_deref(),
        "employees",
        EMPLOYEE_FILTERS,
    ) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let f = EmployeeFilter::new(&l.filters);
    let d = sh.data.lock().unwrap_or_else(|e| e.into_inner());
    let (idx, next) = take_page(&d.employees, l.pos, l.page_size, |r| f.matches(r));
    let results = idx
        .into_iter()
        .map(|i| d.employee_wire(&d.employees[i].e))
        .collect();
    page_response(&sh, "employees", &l, results, next)
}

async fn list_groups(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let l = match prelude(&sh, &headers, query.as_deref(), "groups", GROUP_FILTERS) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let common = CommonFilter::new(&l.filters);
    let types = csv_set(&l.filters, "types", false);
    let d = sh.data.lock().unwrap_or_else(|e| e.into_inner());
    let (idx, next) = take_page(&d.groups, l.pos, l.page_size, |g| {
        common.matches(
            &g.id,
            Some(&g.remote_id),
            g.name.as_deref(),
            g.remote_deleted_at.is_some(),
            g.changed_at,
        ) && types
            .as_ref()
            .is_none_or(|t| t.contains(g.r#type.as_deref().unwrap_or("null")))
    });
    let results = idx.into_iter().map(|i| group_wire(&d.groups[i])).collect();
    page_response(&sh, "groups", &l, results, next)
}

async fn list_locations(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let l = match prelude(
        &sh,
        &headers,
        query.as_deref(),
        "locations",
        LOCATION_FILTERS,
    ) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let common = CommonFilter::new(&l.filters);
    let d = sh.data.lock().unwrap_or_else(|e| e.into_inner());
    let (idx, next) = take_page(&d.locations, l.pos, l.page_size, |x| {
        common.matches(
            &x.id,
            x.remote_id.as_deref(),
            x.name.as_deref(),
            x.remote_deleted_at.is_some(),
            x.changed_at,
        )
    });
    let results = idx
        .into_iter()
        .map(|i| location_wire(&d.locations[i]))
        .collect();
    page_response(&sh, "locations", &l, results, next)
}
