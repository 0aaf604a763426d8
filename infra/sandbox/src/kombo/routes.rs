//! The API's routes: authentication and integration checks, `/check-api-key` and the three
//! listings.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::data::Shared;
use super::errors::{error_response, input_invalid};
use super::filters::{
    csv_set, encode_cursor, parse_listing, take_page, CommonFilter, Cursor, EmployeeFilter,
    Listing, EMPLOYEE_FILTERS, GROUP_FILTERS, LOCATION_FILTERS,
};
use super::wire::{group_wire, location_wire};

pub(super) async fn count_requests(
    State(sh): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    if !req.uri().path().starts_with("/_sandbox") {
        sh.requests.fetch_add(1, Ordering::SeqCst);
    }
    next.run(req).await
}

impl Shared {
    pub(super) fn check_auth(&self, headers: &HeaderMap) -> Result<(), Response> {
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
            // One the connection flow created serves the same company.
            if let Some(answer) = super::connect::check_connected(self, id) {
                return answer;
            }
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

pub(super) async fn check_api_key(State(sh): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = sh.check_auth(&headers) {
        return r;
    }
    Json(json!({
        "status": "success",
        "data": {"environment_id": "SandboxEnvironment0000001", "customer_id": "SandboxEnvironment0000001"}
    }))
    .into_response()
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

pub(super) async fn list_employees(
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

pub(super) async fn list_groups(
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

pub(super) async fn list_locations(
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
