//! Kombo's connection flow over HTTP: the adapter of sync-core's [`KomboConnect`] port
//! (`/connect/create-link`, `/connect/integration-by-token/{token}`, `/integrations/{id}`, its
//! `relink`, `DELETE` and `custom-fields`), with the data client's request machinery
//! ([`crate::kombo_http`]): no redirects, bounded bodies, retries within a deadline, errors
//! from Kombo's `error.code`.
//!
//! Answers are read leniently (unknown fields ignored, statuses kept as open enums, a missing
//! status read as one that is not `COMPLETED`), but what reaches the browser is checked: a
//! connection link that is not an `https` URL (or `http` on this machine) is refused. Error
//! messages name integrations by id only: never a token, an email or an organisation name.

use crate::kombo_http::{endpoint_name, KomboHttp, KomboRequest};
use crate::retry::RetryPolicy;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use sync_core::connect::{
    ConnectLanguage, CustomFieldInfo, IntegrationInfo, IntegrationStatus, KomboConnect,
    LinkRequest, SetupStatus, TokenIntegration,
};
use sync_core::decode::decode;
use sync_core::error::SourceError;

/// How long one operation may take, its retries included (a custom-field listing: all its
/// pages). An admin is waiting on the page.
pub const CONNECT_DEADLINE: Duration = Duration::from_secs(30);
/// The custom fields are read in pages of this size...
pub const CUSTOM_FIELDS_PAGE_SIZE: usize = 250;
/// ... and never more than this many pages (25,000 fields).
pub const MAX_CUSTOM_FIELD_PAGES: usize = 100;
const NOT_FOUND: &str = "PLATFORM.INTEGRATION_NOT_FOUND";

pub struct KomboConnectClient {
    http: KomboHttp,
    deadline: Duration,
}

impl KomboConnectClient {
    /// `base_url` is Kombo's API root, e.g. `https://api.kombo.dev/v1`.
    pub fn new(base_url: &str, api_key: &str) -> Self {
        Self {
            http: KomboHttp::new(base_url, api_key),
            deadline: CONNECT_DEADLINE,
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.http.retry = retry;
        self
    }

    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.with_request_timeout(timeout);
        self
    }

    /// Another bound on one operation (the default is [`CONNECT_DEADLINE`]).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        json: Option<&Value>,
        ends: Instant,
    ) -> Result<bytes::Bytes, SourceError> {
        let endpoint = format!("{method} {}", endpoint_name(path));
        let deadline = self.deadline.as_secs();
        let out_of_time = || SourceError::Transient {
            code: "DEADLINE".into(),
            message: format!("{endpoint}: no answer within {deadline} s"),
        };
        let request = KomboRequest {
            method,
            path,
            query,
            json,
            integration_id: None,
        };
        self.http.send(&request, ends, &out_of_time).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, SourceError> {
        let ends = Instant::now() + self.deadline;
        let body = self
            .call(reqwest::Method::GET, path, &[], None, ends)
            .await?;
        read(path, &body)
    }
}

/// `data` of a success envelope, or a decode error naming the endpoint (never its token).
fn read<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, SourceError> {
    decode::<Envelope<T>>(body)
        .map(|envelope| envelope.data)
        .map_err(|e| SourceError::Decode(format!("{}: {e}", endpoint_name(path))))
}

/// An integration Kombo does not know (deleted, or never ours): the code Kombo answers with
/// reads as a bad API key for the data endpoints, but here it is about the id.
fn unknown_integration(error: SourceError, integration_id: &str) -> SourceError {
    match error {
        SourceError::Unauthorized { code, .. } if code == NOT_FOUND => SourceError::Rejected {
            code,
            message: format!("Kombo knows no integration {integration_id}"),
        },
        other => other,
    }
}

fn is_not_found(error: &SourceError) -> bool {
    matches!(error, SourceError::Unauthorized { code, .. } if code == NOT_FOUND)
}

/// Kombo's message about a create-link request may quote what it was sent: the admin's email
/// and organisation are taken out of it.
fn redact(error: SourceError, request: &LinkRequest) -> SourceError {
    let scrub = |message: String| {
        [&request.end_user_email, &request.end_user_organization_name]
            .into_iter()
            .filter(|s| !s.is_empty())
            .fold(message, |m, s| m.replace(s.as_str(), "(redacted)"))
    };
    match error {
        SourceError::Rejected { code, message } => SourceError::Rejected {
            code,
            message: scrub(message),
        },
        SourceError::Transient { code, message } => SourceError::Transient {
            code,
            message: scrub(message),
        },
        SourceError::Unauthorized { code, message } => SourceError::Unauthorized {
            code,
            message: scrub(message),
        },
        other => other,
    }
}

/// A link for the browser: an `https` URL, or `http` on this machine (the sandbox). Anything
/// else (`javascript:`, a relative path) would run in, or navigate, the admin's page.
fn checked_link(endpoint: &str, link: String) -> Result<String, SourceError> {
    let url = reqwest::Url::parse(&link)
        .map_err(|_| SourceError::Protocol(format!("{endpoint}: the link is not a URL")))?;
    let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Ok(link),
        "http" if local => Ok(link),
        scheme => Err(SourceError::Protocol(format!(
            "{endpoint}: the link's scheme is {scheme:?}, not https"
        ))),
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct LinkData {
    link: String,
}

#[derive(Deserialize)]
struct TokenData {
    id: String,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    end_user_origin_id: Option<String>,
    #[serde(default)]
    setup_status: Option<String>,
}

#[derive(Deserialize)]
struct IntegrationData {
    id: String,
    /// `{"id": "personio", ...}`; a plain string is read too.
    #[serde(default)]
    tool: Value,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    setup_status: Option<String>,
    #[serde(default)]
    end_user: Option<EndUser>,
}

#[derive(Deserialize)]
struct EndUser {
    #[serde(default)]
    origin_id: Option<String>,
}

#[derive(Deserialize)]
struct FieldsPage {
    #[serde(default)]
    results: Vec<Value>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    next_cursor: Option<String>,
}

/// A status Kombo left out reads as one nothing waits for: not `COMPLETED`, not `ACTIVE`.
const UNKNOWN: &str = "UNKNOWN";

fn origin(origin_id: Option<String>) -> Option<String> {
    origin_id.filter(|o| !o.is_empty())
}

/// One custom field, if it has what a mapping needs (an id and a key).
fn custom_field(record: &Value) -> Option<CustomFieldInfo> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    Some(CustomFieldInfo {
        id: text(record.get("id"))?,
        key: text(record.get("key")).filter(|k| !k.is_empty())?,
        model: text(record.get("model")).unwrap_or_default(),
        label: text(record.get("label"))
            .or_else(|| text(record.get("integration_field").and_then(|f| f.get("label")))),
    })
}

#[async_trait]
impl KomboConnect for KomboConnectClient {
    async fn create_link(&self, request: &LinkRequest) -> Result<String, SourceError> {
        let path = "/connect/create-link";
        let body = json!({
            "end_user_email": request.end_user_email,
            "end_user_organization_name": request.end_user_organization_name,
            "end_user_origin_id": request.tenant_id,
            "integration_category": "HRIS",
            "integration_tool": "personio",
            "language": request.language.as_str(),
            "link_type": "EMBEDDED",
        });
        let ends = Instant::now() + self.deadline;
        let answer = self
            .call(reqwest::Method::POST, path, &[], Some(&body), ends)
            .await
            .map_err(|e| redact(e, request))?;
        let data: LinkData = read(path, &answer)?;
        checked_link("POST /connect/create-link", data.link)
    }

    async fn integration_by_token(&self, token: &str) -> Result<TokenIntegration, SourceError> {
        let path = format!(
            "/connect/integration-by-token/{}",
            urlencoding::encode(token)
        );
        let data: TokenData = self.get(&path).await?;
        Ok(TokenIntegration {
            integration_id: data.id,
            tool: data.tool.unwrap_or_default(),
            end_user_origin_id: origin(data.end_user_origin_id),
            setup_status: SetupStatus::from(data.setup_status.unwrap_or_else(|| UNKNOWN.into())),
        })
    }

    async fn integration(
        &self,
        integration_id: &str,
    ) -> Result<Option<IntegrationInfo>, SourceError> {
        let path = format!("/integrations/{}", urlencoding::encode(integration_id));
        let data: IntegrationData = match self.get(&path).await {
            Ok(data) => data,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let tool = match &data.tool {
            Value::String(tool) => tool.clone(),
            other => other
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        };
        Ok(Some(IntegrationInfo {
            integration_id: data.id,
            tool,
            status: IntegrationStatus::from(data.status.unwrap_or_else(|| UNKNOWN.into())),
            setup_status: SetupStatus::from(data.setup_status.unwrap_or_else(|| UNKNOWN.into())),
            end_user_origin_id: origin(data.end_user.and_then(|u| u.origin_id)),
        }))
    }

    async fn relink(
        &self,
        integration_id: &str,
        language: ConnectLanguage,
    ) -> Result<String, SourceError> {
        let path = format!(
            "/integrations/{}/relink",
            urlencoding::encode(integration_id)
        );
        let body = json!({"language": language.as_str(), "link_type": "EMBEDDED"});
        let ends = Instant::now() + self.deadline;
        let answer = self
            .call(reqwest::Method::POST, &path, &[], Some(&body), ends)
            .await
            .map_err(|e| unknown_integration(e, integration_id))?;
        let data: LinkData = read(&path, &answer)?;
        checked_link("POST /integrations/{integration_id}/relink", data.link)
    }

    /// Deleting an integration Kombo no longer knows succeeds: it is gone either way (and a
    /// retried DELETE whose first attempt went through finds nothing).
    async fn delete_integration(&self, integration_id: &str) -> Result<(), SourceError> {
        let path = format!("/integrations/{}", urlencoding::encode(integration_id));
        let ends = Instant::now() + self.deadline;
        match self
            .call(reqwest::Method::DELETE, &path, &[], Some(&json!({})), ends)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn custom_fields(
        &self,
        integration_id: &str,
    ) -> Result<Vec<CustomFieldInfo>, SourceError> {
        let path = format!(
            "/integrations/{}/custom-fields",
            urlencoding::encode(integration_id)
        );
        let endpoint = "GET /integrations/{integration_id}/custom-fields";
        let ends = Instant::now() + self.deadline;
        let mut fields = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        for page in 1..=MAX_CUSTOM_FIELD_PAGES {
            let mut query = vec![("page_size", CUSTOM_FIELDS_PAGE_SIZE.to_string())];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let body = self
                .call(reqwest::Method::GET, &path, &query, None, ends)
                .await
                .map_err(|e| unknown_integration(e, integration_id))?;
            let data: FieldsPage = read(&path, &body)?;
            fields.extend(
                data.results
                    .iter()
                    .filter_map(custom_field)
                    .filter(|f| f.model == "hris_employees"),
            );
            let malformed = data
                .results
                .iter()
                .filter(|r| custom_field(r).is_none())
                .count();
            if malformed > 0 {
                tracing::warn!(
                    integration_id,
                    page,
                    malformed,
                    "custom fields without an id or key skipped"
                );
            }
            match data.next.or(data.next_cursor).filter(|n| !n.is_empty()) {
                None => return Ok(fields),
                Some(next) if !seen.insert(next.clone()) => {
                    return Err(SourceError::Protocol(format!(
                        "{endpoint}: page {} gave a cursor an earlier page gave; the listing would never end",
                        page + 1
                    )))
                }
                Some(next) => cursor = Some(next),
            }
        }
        Err(SourceError::Protocol(format!(
            "{endpoint}: the listing did not end after {MAX_CUSTOM_FIELD_PAGES} pages"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_reach_the_browser() {
        for ok in [
            "https://connect.kombo.dev/v1?token=abc",
            "http://127.0.0.1:4000/connect?token=abc",
        ] {
            assert!(checked_link("x", ok.into()).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "/connect?token=abc",
            "http://connect.kombo.dev/v1",
            "data:text/html,hi",
        ] {
            assert!(
                matches!(checked_link("x", bad.into()), Err(SourceError::Protocol(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn kombos_message_about_a_link_request_loses_the_admins_email_and_organisation() {
        let request = LinkRequest {
            tenant_id: "tenant-a".into(),
            end_user_email: "admin@example.com".into(),
            end_user_organization_name: "Acme".into(),
            language: ConnectLanguage::En,
        };
        let error = redact(
            SourceError::Rejected {
                code: "PLATFORM.INPUT_INVALID".into(),
                message: "admin@example.com of Acme is not allowed".into(),
            },
            &request,
        );
        let text = error.to_string();
        assert!(
            !text.contains("admin@example.com") && !text.contains("Acme"),
            "{text}"
        );
    }

    #[test]
    fn a_custom_field_needs_an_id_and_a_key() {
        let field = custom_field(
            &json!({"id": "f1", "key": "cost_center", "model": "hris_employees",
            "label": null, "integration_field": {"label": "Cost center"}, "extra": [1]}),
        )
        .unwrap();
        assert_eq!(field.label.as_deref(), Some("Cost center"));
        assert!(custom_field(&json!({"id": "f1", "key": null})).is_none());
        assert!(custom_field(&json!({"key": "k"})).is_none());
        assert!(custom_field(&json!("not an object")).is_none());
    }
}
