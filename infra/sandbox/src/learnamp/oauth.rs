//! OAuth2 client credentials: the token endpoint, and the bearer tokens and scopes every `/v1`
//! call is checked against.

use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use chrono::Utc;
use serde_json::json;

use super::params::{blank, field, parse_params, F};
use super::responses::error;
use super::store::{Shared, Token};
use crate::util::percent_decode;

const KNOWN_SCOPES: &[&str] = &[
    "public",
    "items:read",
    "items:create",
    "items:update",
    "items:delete",
    "items:complete",
    "activities:read",
    "enrollments:read",
    "enrollments:create",
    "events:read",
    "teams:read",
    "teams:create",
    "teams:update",
    "teams:delete",
    "team_users:read",
    "team_users:create",
    "team_users:delete",
    "users:read",
    "users:create",
    "users:update",
    "users:delete",
    "users:deactivate",
    "users:reactivate",
    "communities_posts:read",
    "tasks:read",
    "verbs:read",
    "languages:read",
    "learnlists:read",
    "channels:read",
    "channel_users_progress:read",
    "user_channels_progress:read",
    "roles:read",
];

fn unauthorized(msg: &str) -> Response {
    let mut resp = error(StatusCode::UNAUTHORIZED, msg);
    let challenge = format!(
        "Bearer realm=\"Doorkeeper\", error=\"invalid_token\", error_description=\"{msg}\""
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl Shared {
    pub(super) fn token(
        &self,
        headers: &HeaderMap,
        content_type: Option<&str>,
        body: &[u8],
        query: Option<&str>,
    ) -> Response {
        let p = match parse_params(content_type, body, query) {
            Ok(p) => p,
            Err(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.",
                )
            }
        };
        let get = |k: &str| match field(&p, k) {
            F::Str(s) if !blank(&s) => Some(s),
            _ => None,
        };
        match get("grant_type").as_deref() {
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request is missing a required parameter, includes an unsupported parameter value, or is otherwise malformed.",
                )
            }
            Some("client_credentials") => {}
            Some(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    "The authorization grant type is not supported by the authorization server.",
                )
            }
        }
        let (mut id, mut secret) = (get("client_id"), get("client_secret"));
        if id.is_none() {
            if let Some((bi, bs)) = basic_auth(headers) {
                id = Some(bi);
                secret = Some(bs);
            }
        }
        if id.as_deref() != Some(self.client_id.as_str())
            || secret.as_deref() != Some(self.client_secret.as_str())
        {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
            );
        }
        let scopes: Vec<String> = match get("scope") {
            None => vec!["public".to_string()],
            Some(s) => s.split_whitespace().map(str::to_string).collect(),
        };
        let granted = self
            .data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .granted_scopes
            .clone();
        if scopes.iter().any(|s| {
            !KNOWN_SCOPES.contains(&s.as_str()) || granted.as_ref().is_some_and(|g| !g.contains(s))
        }) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "The requested scope is invalid, unknown, or malformed.",
            );
        }
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut d = self.data.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = d.token_ttl;
        let now = Instant::now();
        d.tokens.insert(
            token.clone(),
            Token {
                // A lifetime past what an Instant holds is "never".
                expires_at: now
                    .checked_add(Duration::from_secs(ttl))
                    .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400)),
                scopes: scopes.clone(),
            },
        );
        let expires_in = d.reported_token_lifetime.clone().unwrap_or(json!(ttl));
        let mut resp = Json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": scopes.join(" "),
            "created_at": Utc::now().timestamp(),
        }))
        .into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }

    pub(super) fn authenticate(&self, headers: &HeaderMap) -> Result<Vec<String>, Response> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, t) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| t.trim().to_string())
            });
        let Some(token) = token else {
            return Err(unauthorized("The access token is invalid"));
        };
        let d = self.data.lock().unwrap_or_else(|e| e.into_inner());
        match d.tokens.get(&token) {
            None => Err(unauthorized("The access token is invalid")),
            Some(t) if Instant::now() >= t.expires_at => {
                Err(unauthorized("The access token expired"))
            }
            Some(t) => Ok(t.scopes.clone()),
        }
    }
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    Some((
        percent_decode(id).unwrap_or_else(|| id.to_string()),
        percent_decode(secret).unwrap_or_else(|| secret.to_string()),
    ))
}
