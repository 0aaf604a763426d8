//! The [`KomboSandbox`] handle: what tests, benchmarks and the demo use to build, steer and
//! inspect a sandbox, in Rust and through the `/_sandbox/*` endpoints, and the server it starts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::connect;
use super::connect_state::{ConnectState, SandboxIntegration, SentWebhook};
use super::data::{Data, Shared};
use super::errors::{input_invalid, not_found, FAULT_ANSWERS};
use super::routes::{check_api_key, count_requests, list_employees, list_groups, list_locations};
use super::wire::{group_wire, location_wire, Company, KomboEmployee, KomboGroup, KomboLocation};
use crate::faults::{FaultKnobs, FaultLayer};
use crate::RunningServer;

/// The Kombo sandbox. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct KomboSandbox {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for KomboSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KomboSandbox")
            .field("integration_id", &self.shared.integration_id)
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
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
                connect: Mutex::new(ConnectState::new(integration_id)),
                origin: Mutex::new("http://127.0.0.1".into()),
            }),
        }
    }

    /// Serves the API on `127.0.0.1:port` (0 = a free port); `base_url` ends with `/v1`. The
    /// connection page is served at the server's root (`/connect`).
    pub async fn start(&self, port: u16) -> std::io::Result<RunningServer> {
        let server = crate::serve(router(self.shared.clone()), port, "/v1").await?;
        *self.shared.origin.lock().unwrap_or_else(|e| e.into_inner()) =
            format!("http://{}", server.addr);
        Ok(server)
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

/// The connection flow's handles (see `connect`).
impl KomboSandbox {
    /// Where the sandbox sends its lifecycle webhooks, signed with `secret`; `None`: nowhere
    /// (they are still signed with `secret` and kept in [`Self::webhooks_sent`]).
    pub fn set_webhook(&self, url: Option<&str>, secret: &str) {
        connect::set_webhook(&self.shared, url, secret);
    }

    /// `Some(delay)`: a new integration's setup completes that long after its connection
    /// (`integration-state-changed` is sent then). `None` (the default): it stays `INCOMPLETE`
    /// until [`Self::set_setup_status`].
    pub fn set_setup_delay(&self, delay: Option<std::time::Duration>) {
        connect::set_setup_delay(&self.shared, delay);
    }

    /// Sets an integration's `status` and/or `setup_status`, and sends
    /// `integration-state-changed` if either changed. `false` for an unknown integration.
    pub async fn set_integration_status(
        &self,
        id: &str,
        status: Option<&str>,
        setup_status: Option<&str>,
    ) -> bool {
        connect::set_integration_status(&self.shared, id, status, setup_status).await
    }

    /// [`Self::set_integration_status`] of the setup alone.
    pub async fn set_setup_status(&self, id: &str, setup_status: &str) -> bool {
        self.set_integration_status(id, None, Some(setup_status))
            .await
    }

    /// A custom field more, for every integration.
    pub fn add_custom_field(&self, key: &str, model: &str, label: Option<&str>) {
        connect::add_custom_field(&self.shared, key, model, label);
    }

    /// Completes the link as the admin's Connect click does; the token the page hands over.
    pub async fn complete_link(&self, link: &str) -> Option<String> {
        let token = link.rsplit_once("token=").map(|(_, t)| t)?;
        connect::complete_link(&self.shared, token).await
    }

    /// An integration, deleted ones excepted.
    pub fn integration(&self, id: &str) -> Option<SandboxIntegration> {
        self.shared.connect().integrations.get(id).cloned()
    }

    /// Every integration, the sandbox's own included.
    pub fn integrations(&self) -> Vec<SandboxIntegration> {
        connect::integrations(&self.shared)
    }

    /// Every lifecycle webhook sent so far, oldest first.
    pub fn webhooks_sent(&self) -> Vec<SentWebhook> {
        connect::webhooks_sent(&self.shared)
    }

    /// [`Self::webhooks_sent`], emptying the outbox.
    pub fn take_webhooks(&self) -> Vec<SentWebhook> {
        std::mem::take(&mut self.shared.connect().outbox)
    }
}

fn router(sh: Arc<Shared>) -> Router {
    let faults = FaultLayer {
        knobs: sh.faults.clone(),
        answers: FAULT_ANSWERS,
    };
    Router::new()
        .route("/v1/check-api-key", get(check_api_key))
        .route("/v1/hris/employees", get(list_employees))
        .route("/v1/hris/groups", get(list_groups))
        .route("/v1/hris/locations", get(list_locations))
        .route("/v1/connect/create-link", post(connect::create_link))
        .route(
            "/v1/connect/integration-by-token/{token}",
            get(connect::integration_by_token),
        )
        .route(
            "/v1/integrations/{id}",
            get(connect::get_integration).delete(connect::delete_integration),
        )
        .route("/v1/integrations/{id}/relink", post(connect::relink))
        .route(
            "/v1/integrations/{id}/custom-fields",
            get(connect::custom_fields),
        )
        .fallback(not_found)
        .layer(from_fn_with_state(faults, crate::faults::middleware))
        .layer(from_fn_with_state(sh.clone(), count_requests))
        .merge(super::connect_page::routes())
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

async fn sandbox_state(State(sh): State<Arc<Shared>>) -> Response {
    let d = sh.data.lock().unwrap_or_else(|e| e.into_inner());
    let employees: Vec<Value> = d.employees.iter().map(|r| d.employee_wire(&r.e)).collect();
    let groups: Vec<Value> = d.groups.iter().map(group_wire).collect();
    let locations: Vec<Value> = d.locations.iter().map(location_wire).collect();
    Json(json!({"employees": employees, "groups": groups, "locations": locations})).into_response()
}
