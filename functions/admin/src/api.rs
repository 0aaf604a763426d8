//! `/api/…`: the session, CSRF and origin checks every route goes through, the body limits, and
//! the dispatch to the routes.

use crate::http::{Request, Response, MAX_BODY_BYTES};
use crate::{random, routes, AdminDeps, SESSION_COOKIE};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use sync_core::admin::AdminSession;
use sync_core::error::{SourceError, StoreError};

/// Every route of the API, as (method, path): the tests walk this table.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/session"),
    ("GET", "/api/status"),
    ("POST", "/api/connect/link"),
    ("POST", "/api/connect/complete"),
    ("POST", "/api/connect/relink"),
    ("POST", "/api/connect/disconnect"),
    ("PUT", "/api/learnamp"),
    ("GET", "/api/settings"),
    ("PUT", "/api/settings"),
    ("GET", "/api/custom-fields"),
    ("POST", "/api/preview"),
    ("POST", "/api/import"),
];

/// A route's failure: the status and the sentence the admin reads, plus fields some errors add
/// (`relink`, `field`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub extra: Vec<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            extra: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// 422 naming the field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::new(422, message).with("field", field)
    }

    pub fn into_response(self) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("error".into(), self.message.into());
        for (name, value) in self.extra {
            body.insert(name.into(), value);
        }
        Response::json(self.status, &body)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, retryable = e.is_retryable(), "admin: state store failed");
        Self::new(
            503,
            "Our service could not read or save this just now: try again in a minute.",
        )
    }
}

impl From<SourceError> for ApiError {
    fn from(e: SourceError) -> Self {
        tracing::warn!(error = %e, retryable = e.is_retryable(), "admin: Kombo failed");
        match e {
            SourceError::ConnectionBroken { .. } => Self::new(
                409,
                "The Personio connection no longer works: reconnect Personio.",
            ),
            SourceError::NotReady { .. } => Self::new(
                409,
                "Kombo is still reading your Personio: try again once it has finished.",
            ),
            _ => Self::new(
                502,
                "Kombo (which reads Personio for us) could not be reached: try again in a minute.",
            ),
        }
    }
}

pub type ApiResult = Result<Response, ApiError>;

/// The live session the request's cookie names, if any.
pub async fn session_of(
    request: &Request,
    deps: &AdminDeps<'_>,
    now: DateTime<Utc>,
) -> Result<Option<AdminSession>, StoreError> {
    let Some(id) = request.cookie(SESSION_COOKIE) else {
        return Ok(None);
    };
    // A value that is not one of ours is never looked up.
    if id.len() != 43
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Ok(None);
    }
    deps.sessions.get(&random::sha256_hex(id), now).await
}

/// Whether `Origin`, when the browser sent one, is this server's own.
fn same_origin(request: &Request, local: bool) -> bool {
    let Some(origin) = request.header("origin") else {
        return true;
    };
    let Some(host) = request.header("host") else {
        return false;
    };
    let scheme = if local { "http" } else { "https" };
    origin == format!("{scheme}://{host}")
}

pub async fn handle(request: &Request, deps: &AdminDeps<'_>, now: DateTime<Utc>) -> Response {
    let session = match session_of(request, deps, now).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return ApiError::new(
                401,
                "Your session has ended: open the integration again from Learn Amp.",
            )
            .into_response()
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let method = request.method.as_str();
    if matches!(method, "POST" | "PUT" | "DELETE" | "PATCH") {
        let given = request.header("x-csrf-token").unwrap_or_default();
        let csrf_ok: bool = given.as_bytes().ct_eq(session.csrf_token.as_bytes()).into();
        if !csrf_ok || !same_origin(request, deps.local) {
            tracing::info!(tenant = %session.tenant_id, csrf = csrf_ok, "admin: state-changing request refused");
            return ApiError::new(
                403,
                "This request was refused for your security: reload the page and try again.",
            )
            .into_response();
        }
    }
    if !ROUTES.iter().any(|(_, p)| *p == request.path) {
        return ApiError::new(404, "No such address.").into_response();
    }
    if !ROUTES
        .iter()
        .any(|(m, p)| *m == method && *p == request.path)
    {
        return ApiError::new(405, "This address does not answer that method.").into_response();
    }
    if request.body.len() > MAX_BODY_BYTES {
        return ApiError::new(413, "The request is too large (64 KiB at most).").into_response();
    }
    if !request.body.is_empty() {
        let json = request
            .header("content-type")
            .and_then(|t| t.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return ApiError::new(
                415,
                "Send the request as JSON (Content-Type: application/json).",
            )
            .into_response();
        }
    }
    let tenant = session.tenant_id.as_str();
    let result = match (method, request.path.as_str()) {
        ("GET", "/api/session") => Ok(Response::json(
            200,
            &serde_json::json!({
                "tenant_id": tenant,
                "csrf_token": session.csrf_token,
                "expires_at": session.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
        )),
        ("GET", "/api/status") => routes::status::status(tenant, deps, now).await,
        ("POST", "/api/connect/link") => match body(request) {
            Ok(b) => routes::connect::link(tenant, b, deps).await,
            Err(e) => Err(e),
        },
        ("POST", "/api/connect/complete") => match body(request) {
            Ok(b) => routes::connect::complete(tenant, b, deps, now).await,
            Err(e) => Err(e),
        },
        ("POST", "/api/connect/relink") => match empty(request) {
            Ok(()) => routes::connect::relink(tenant, deps, now).await,
            Err(e) => Err(e),
        },
        ("POST", "/api/connect/disconnect") => match empty(request) {
            Ok(()) => routes::connect::disconnect(tenant, deps).await,
            Err(e) => Err(e),
        },
        ("PUT", "/api/learnamp") => match body(request) {
            Ok(b) => routes::settings::put_learnamp(tenant, b, deps).await,
            Err(e) => Err(e),
        },
        ("GET", "/api/settings") => routes::settings::get_settings(tenant, deps).await,
        ("PUT", "/api/settings") => match body(request) {
            Ok(b) => routes::settings::put_settings(tenant, b, deps).await,
            Err(e) => Err(e),
        },
        ("GET", "/api/custom-fields") => routes::settings::custom_fields(tenant, deps).await,
        ("POST", "/api/preview") => match empty(request) {
            Ok(()) => routes::import::preview(tenant, deps, now).await,
            Err(e) => Err(e),
        },
        ("POST", "/api/import") => match empty(request) {
            Ok(()) => routes::import::import(tenant, deps, now).await,
            Err(e) => Err(e),
        },
        _ => Err(ApiError::new(404, "No such address.")),
    };
    result.unwrap_or_else(ApiError::into_response)
}

/// The body, decoded strictly: an unknown, missing or mistyped field is named (never its value).
fn body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    sync_core::decode::decode(&request.body)
        .map_err(|problem| ApiError::new(400, format!("The request could not be read: {problem}.")))
}

/// A route without a body takes none, or `{}`.
fn empty(request: &Request) -> Result<(), ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    if request.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    body::<Nothing>(request).map(|_| ())
}
