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
//!
//! The connection flow (`/connect/*`, `/integrations/{id}*`, the stand-in connection page and
//! the lifecycle webhooks) is described in `connect`.

// Handlers return the error `Response` itself as the `Err` of their `Result`s.
#![allow(clippy::result_large_err)]

// Layers, each using only those listed before it: `wire` (the records and their JSON),
// `errors` (Kombo's error envelope), `connect_state` (the connection flow's state), `data` (the
// in-memory company), `connect` (the connection flow's API and webhooks), `filters` (query
// parameters, the cursor, the page cut), `routes` (the API's handlers), `connect_page` (the
// stand-in connection page and the flow's control endpoints), `control` (the handle, the
// `/_sandbox/*` endpoints and the server).
mod connect;
mod connect_page;
mod connect_state;
mod control;
mod data;
mod errors;
mod filters;
mod routes;
mod wire;

pub use connect_state::{SandboxCustomField, SandboxIntegration, SentWebhook};
pub use control::KomboSandbox;
pub use wire::{
    Company, EmbeddedGroup, EmbeddedLocation, KomboEmployee, KomboGroup, KomboLocation,
};
