//! Learn Amp's public API, exactly as `reference/learnamp-api-docs` documents it: an OAuth2
//! client-credentials token (cached, renewed a minute before its `expires_in`, which is clamped
//! to 60 s – 24 h, and once on a 401), form-encoded users and teams with camelCase fields,
//! `page`/`perPage` pagination read from the `Total` and `Total-Pages` headers (and ended by an
//! empty page, whatever they say), and the `by_integration_external_id` / `by_external_id`
//! routes. A logical call, its retries and a token request included, ends within the retry
//! policy's deadline.

use crate::pacer::Pacer;
use crate::retry::{parse_retry_after, RetryPolicy};
use crate::stats::CallCounter;
use crate::BodyError;
use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use sync_core::decode::{decode, each_record};
use sync_core::error::TargetError;
use sync_core::learnamp::{ApiErrorBody, Team, TokenResponse, User, UserWrite};
use sync_core::ports::{CallStats, LearnAmp, MalformedRecord, UserDetail, UserListing};
use tokio::sync::Mutex;

/// Page size for listings. Learn Amp documents no maximum; 100 is the common Rails cap.
pub const PER_PAGE: u32 = 100;
/// A token is renewed this long before Learn Amp says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// No listing reads more pages than this (a million users at [`PER_PAGE`]), whatever its
/// headers say.
pub const MAX_PAGES: u32 = 10_000;

/// The scopes the sync needs (Learn Amp's granular scopes).
pub const SCOPES: &str = sync_core::learnamp::SYNC_SCOPES;

struct CachedToken {
    value: String,
    renew_at: Instant,
}

pub struct LearnAmpClient {
    http: reqwest::Client,
    base_url: String,
    client_id: String,
    client_secret: String,
    /// The scopes the token request asks for (`None`: none, Learn Amp's `public`).
    scope: Option<String>,
    /// Whether `scope` is the default, which gives way to no scope for legacy credentials.
    scope_is_default: bool,
    request_timeout: Duration,
    token: Mutex<Option<CachedToken>>,
    /// Set once the credentials refused the default scopes: legacy credentials.
    legacy_credentials: AtomicBool,
    retry: RetryPolicy,
    /// The pace Learn Amp's 429s taught, kept by every call of this client.
    pacer: Pacer,
    calls: CallCounter,
}

enum Body<'a> {
    None,
    Form(&'a [(&'static str, String)]),
}

/// The answer to one request, once retries are over.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl LearnAmpClient {
    /// `base_url` is the account's API Base URL (Company Settings → API), e.g.
    /// `https://api.learnamp.com`; a trailing `/v1` is accepted and dropped.
    pub fn new(base_url: &str, client_id: &str, client_secret: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        Self {
            http: crate::http_client(),
            base_url: base.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            scope: Some(SCOPES.to_string()),
            scope_is_default: true,
            request_timeout: crate::REQUEST_TIMEOUT,
            token: Mutex::new(None),
            legacy_credentials: AtomicBool::new(false),
            retry: RetryPolicy::default(),
            pacer: Pacer::new(),
            calls: CallCounter::default(),
        }
    }

    /// Requests exactly these scopes with the token (space-separated). `None` keeps the
    /// default: the scopes the sync needs ([`SCOPES`]), which credentials provisioned with
    /// granular scopes must ask for, and, should the credentials refuse them as
    /// `invalid_scope` (legacy credentials, which hold `public` alone), no scope at all.
    pub fn with_scope(mut self, scope: Option<String>) -> Self {
        if let Some(scope) = scope.filter(|s| !s.trim().is_empty()) {
            self.scope = Some(scope);
            self.scope_is_default = false;
        }
        self
    }

    /// Another timeout for each request (the default is [`crate::REQUEST_TIMEOUT`]).
    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.http = crate::http_client_with_timeout(timeout);
        self.request_timeout = timeout;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn reset_call_stats(&self) {
        self.calls.reset();
    }

    /// Asks Learn Amp for a new token with these credentials: `Ok` when it gives one (the admin
    /// page checks credentials so before it saves them). Nothing else is called.
    pub async fn check_credentials(&self) -> Result<(), TargetError> {
        self.token(true, CallBudget::new(Instant::now(), &self.retry))
            .await
            .map(|_| ())
    }

    /// The cached token, or a new one. The token request spends the `budget` of the logical
    /// call it is for, not a budget of its own.
    async fn token(&self, force_new: bool, budget: CallBudget<'_>) -> Result<String, TargetError> {
        let mut cached = self.token.lock().await;
        if let (false, Some(t)) = (force_new, cached.as_ref()) {
            if Instant::now() < t.renew_at {
                return Ok(t.value.clone());
            }
        }
        let answer = loop {
            let scope = match self.legacy_credentials.load(Ordering::Relaxed) {
                true => None,
                false => self.scope.clone(),
            };
            let mut form = vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", self.client_id.clone()),
                ("client_secret", self.client_secret.clone()),
            ];
            if let Some(scope) = &scope {
                form.push(("scope", scope.clone()));
            }
            let answer = self
                .send_with_retries(
                    Method::POST,
                    "/oauth/token",
                    "POST /oauth/token",
                    Body::Form(&form),
                    None,
                    budget,
                )
                .await?;
            let refused_scope = answer.status == StatusCode::BAD_REQUEST
                && serde_json::from_slice::<ApiErrorBody>(&answer.body)
                    .is_ok_and(|e| e.error.as_deref() == Some("invalid_scope"));
            if refused_scope && scope.is_some() && self.scope_is_default {
                // Legacy credentials: they hold `public` alone, which asking for nothing gives.
                tracing::info!("learn amp credentials refused the sync's scopes; asking for none (legacy credentials)");
                self.legacy_credentials.store(true, Ordering::Relaxed);
                continue;
            }
            break answer;
        };
        if !answer.status.is_success() {
            let err: ApiErrorBody = serde_json::from_slice(&answer.body).unwrap_or_default();
            let message = [err.error, err.error_description]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            return Err(TargetError::Unauthorized(format!(
                "token request failed (HTTP {}): {message}",
                answer.status.as_u16()
            )));
        }
        let token: TokenResponse = decode(&answer.body)
            .map_err(|e| TargetError::Decode(format!("POST /oauth/token: {e}")))?;
        let keep_for = renew_after(&token);
        *cached = Some(CachedToken {
            value: token.access_token.clone(),
            renew_at: Instant::now() + keep_for,
        });
        tracing::debug!(
            keep_for_secs = keep_for.as_secs(),
            "learn amp token obtained"
        );
        Ok(token.access_token)
    }

    /// One logical request: retried on 429, 5xx and transport errors, and re-authenticated once
    /// on a 401, all within the retry policy's deadline.
    async fn call(
        &self,
        method: Method,
        path: &str,
        endpoint: &str,
        body: Body<'_>,
    ) -> Result<Answer, TargetError> {
        let budget = CallBudget::new(Instant::now(), &self.retry);
        let mut token = self.token(false, budget).await?;
        let mut renewed = false;
        loop {
            let answer = self
                .send_with_retries(
                    method.clone(),
                    path,
                    endpoint,
                    clone_body(&body),
                    Some(&token),
                    budget,
                )
                .await?;
            match answer.status {
                StatusCode::UNAUTHORIZED if !renewed => {
                    tracing::info!(endpoint, "learn amp token refused; renewing it once");
                    token = self.token(true, budget).await?;
                    renewed = true;
                }
                StatusCode::UNAUTHORIZED => {
                    return Err(TargetError::Unauthorized(error_message(
                        &answer.body,
                        answer.status,
                    )))
                }
                StatusCode::FORBIDDEN => {
                    return Err(TargetError::Forbidden(format!(
                        "{endpoint}: {}",
                        error_message(&answer.body, answer.status)
                    )))
                }
                StatusCode::NOT_FOUND => return Err(TargetError::NotFound),
                s if s.is_success() => return Ok(answer),
                s => {
                    let err: ApiErrorBody =
                        serde_json::from_slice(&answer.body).unwrap_or_default();
                    return Err(TargetError::Rejected {
                        status: s.as_u16(),
                        message: error_message(&answer.body, s),
                        field_errors: err.full_errors.unwrap_or_default(),
                    });
                }
            }
        }
    }

    /// Sends until an answer that is not 429 or 5xx arrives, or the policy gives up. No attempt
    /// runs past the budget's deadline (counted from its start): each one's timeout is cut to
    /// what is left, so a call that hangs takes the deadline, not the deadline plus a request
    /// timeout. Each attempt waits for its slot in the pace, and tells the pacer how it went.
    async fn send_with_retries(
        &self,
        method: Method,
        path: &str,
        endpoint: &str,
        body: Body<'_>,
        token: Option<&str>,
        budget: CallBudget<'_>,
    ) -> Result<Answer, TargetError> {
        let CallBudget { started, retry } = budget;
        let url = format!("{}{}", self.base_url, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(time_left) = retry.deadline.checked_sub(started.elapsed()) else {
                return Err(TargetError::Transient(format!(
                    "{endpoint}: no answer within the call's {} s",
                    retry.deadline.as_secs()
                )));
            };
            let Some(slot) = self.pacer.slot(time_left).await else {
                return Err(TargetError::Transient(format!(
                    "{endpoint}: Learn Amp's pace leaves no slot within the call's {} s",
                    retry.deadline.as_secs()
                )));
            };
            let time_left = retry
                .deadline
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(1));
            self.calls.count(endpoint);
            let mut request = self
                .http
                .request(method.clone(), &url)
                .timeout(self.request_timeout.min(time_left))
                .header("Accept", "application/json");
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Body::Form(fields) = &body {
                request = request.form(fields);
            }
            let (problem, retry_after) = match request.send().await {
                Ok(r) if r.status().is_redirection() => {
                    return Err(TargetError::Protocol(format!(
                        "{endpoint} {}",
                        crate::describe_redirect(&r)
                    )))
                }
                Ok(r) => {
                    let status = r.status();
                    let retry_after = parse_retry_after(r.headers().get("retry-after"));
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let wait = retry_after.map(|d| d.min(retry.max_retry_after));
                        if let Some(rate) = self.pacer.turned_away(slot, wait) {
                            tracing::info!(
                                endpoint,
                                calls_per_second = rate,
                                "learn amp turned a call away: the calls slow down"
                            );
                        }
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                        let _ = crate::read_body(r, crate::MAX_BODY_BYTES).await;
                        (format!("HTTP {}", status.as_u16()), retry_after)
                    } else {
                        let headers = r.headers().clone();
                        match crate::read_body(r, crate::MAX_BODY_BYTES).await {
                            Ok(body) => {
                                self.pacer.served(slot);
                                return Ok(Answer {
                                    status,
                                    headers,
                                    body: body.to_vec(),
                                });
                            }
                            Err(BodyError::TooLarge(limit)) => {
                                return Err(TargetError::Protocol(format!(
                                    "{endpoint}: the answer is over {limit} bytes"
                                )))
                            }
                            // Without the URL: a query string can hold an email address.
                            Err(BodyError::Transport(e)) => (transport_problem(e), None),
                        }
                    }
                }
                Err(e) => (transport_problem(e), None),
            };
            match retry.delay(attempt, started, retry_after) {
                Some(delay) => {
                    tracing::warn!(endpoint, attempt, delay_ms = delay.as_millis() as u64, problem = %problem, "learn amp call will be retried");
                    tokio::time::sleep(delay).await;
                }
                None => {
                    return Err(TargetError::Transient(format!(
                        "{endpoint}: {problem} after {attempt} attempts in {:.1} s",
                        started.elapsed().as_secs_f64()
                    )))
                }
            }
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        endpoint: &str,
        body: Body<'_>,
    ) -> Result<T, TargetError> {
        let answer = self.call(method, path, endpoint, body).await?;
        decode(&answer.body).map_err(|e| TargetError::Decode(format!("{endpoint}: {e}")))
    }

    /// Every page of a listing. It ends at the first empty page, once the `Total` announced
    /// has been read, or after `Total-Pages` pages, whichever comes first, and never goes past
    /// [`MAX_PAGES`]: the headers are remote values and may lie.
    async fn list_all<T: DeserializeOwned + Send>(
        &self,
        path: &str,
        filters: &str,
        key: &str,
    ) -> Result<(Vec<T>, Vec<MalformedRecord>), TargetError> {
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        self.each_page(path, filters, key, &mut |page: Vec<T>, bad| {
            items.extend(page);
            skipped.extend(bad);
        })
        .await?;
        Ok((items, skipped))
    }

    /// `list_all`, each page handed to `on_page` as it is read (its records, and those that
    /// could not be read), so that nothing holds the whole listing unless the caller keeps it.
    async fn each_page<T: DeserializeOwned + Send>(
        &self,
        path: &str,
        filters: &str,
        key: &str,
        on_page: &mut (dyn FnMut(Vec<T>, Vec<MalformedRecord>) + Send),
    ) -> Result<(), TargetError> {
        let endpoint = format!("GET {path}");
        let mut read = 0usize;
        let mut page = 1u32;
        loop {
            let url = format!("{path}?page={page}&perPage={PER_PAGE}{filters}");
            let answer = self.call(Method::GET, &url, &endpoint, Body::None).await?;
            let mut body: serde_json::Map<String, serde_json::Value> = decode(&answer.body)
                .map_err(|e| TargetError::Decode(format!("{endpoint} page {page}: {e}")))?;
            let list = body
                .remove(key)
                .unwrap_or(serde_json::Value::Array(Vec::new()));
            let serde_json::Value::Array(list) = list else {
                return Err(TargetError::Decode(format!(
                    "{endpoint} page {page}: `{key}` is not a list"
                )));
            };
            // Each record alone: one that cannot be read is skipped and named, not fatal.
            let batch_len = list.len();
            let mut items = Vec::with_capacity(batch_len);
            let mut skipped = Vec::new();
            each_record(list, &mut items, &mut skipped);
            read += batch_len;
            on_page(items, skipped);
            let headers = ListingHeaders::read(&answer.headers);
            match headers.after_page(page, batch_len, read) {
                NextPage::Done => return Ok(()),
                NextPage::Page(next) => page = next,
                NextPage::TooMany => {
                    return Err(TargetError::Protocol(format!(
                        "{endpoint}: the listing did not end after {MAX_PAGES} pages"
                    )))
                }
            }
        }
    }

    /// A listing whose every record must be read (teams).
    async fn list_strict<T: DeserializeOwned + Send>(
        &self,
        path: &str,
        filters: &str,
        key: &str,
    ) -> Result<Vec<T>, TargetError> {
        let (items, skipped) = self.list_all(path, filters, key).await?;
        match skipped.first() {
            Some(bad) => Err(TargetError::Decode(format!("GET {path}: {bad}"))),
            None => Ok(items),
        }
    }
}

/// A listing's pagination headers, as far as they can be read: `Total` (records) and
/// `Total-Pages`. Absent or unreadable ones are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingHeaders {
    pub total: Option<u64>,
    pub total_pages: Option<u64>,
}

impl ListingHeaders {
    pub fn read(headers: &reqwest::header::HeaderMap) -> Self {
        let number =
            |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        Self {
            total: number("total"),
            total_pages: number("total-pages"),
        }
    }

    /// What follows page `page`, which held `batch_len` records, with `read` records read in
    /// all: the end at an empty page, at `Total` records or after `Total-Pages` pages, and an
    /// error past [`MAX_PAGES`].
    pub fn after_page(&self, page: u32, batch_len: usize, read: usize) -> NextPage {
        let more = batch_len > 0
            && self.total.is_none_or(|total| (read as u64) < total)
            // No `Total-Pages`: ask until an empty page.
            && self.total_pages.is_none_or(|pages| u64::from(page) < pages);
        match (more, page.checked_add(1)) {
            (false, _) => NextPage::Done,
            (true, Some(next)) if next <= MAX_PAGES => NextPage::Page(next),
            (true, _) => NextPage::TooMany,
        }
    }
}

/// What a listing does after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextPage {
    Done,
    Page(u32),
    /// The listing would go past [`MAX_PAGES`].
    TooMany,
}

/// How long a token is used: its clamped lifetime, less a minute (a quarter of it for a
/// short-lived one). Between 45 s and 24 h, whatever the answer says.
pub fn renew_after(token: &TokenResponse) -> Duration {
    let lifetime = Duration::from_secs(token.lifetime_secs());
    lifetime - TOKEN_MARGIN.min(lifetime / 4)
}

/// The documented status filter, for the deactivated users alone.
const DEACTIVATED_FILTER: &str = "&filters%5Bstatus%5D%5B%5D=deactivated";

/// What is read from a write's answer, and from the deactivated users' listing: the id.
#[derive(serde::Deserialize)]
struct UserIdOnly {
    #[serde(deserialize_with = "sync_core::decode::numeric_id")]
    id: u64,
}

/// A transport error without its URL, which could hold an email address in its query.
fn transport_problem(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else {
        format!("connection failed: {}", e.without_url())
    }
}

fn clone_body<'a>(body: &Body<'a>) -> Body<'a> {
    match body {
        Body::None => Body::None,
        Body::Form(f) => Body::Form(f),
    }
}

fn error_message(body: &[u8], status: StatusCode) -> String {
    let err: ApiErrorBody = serde_json::from_slice(body).unwrap_or_default();
    err.error
        .or(err.error_description)
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()))
}

/// What one logical call may spend: the time since it `started`, within `retry`'s deadline and
/// attempts (its token request and its 401 renewal included).
#[derive(Clone, Copy)]
struct CallBudget<'a> {
    started: Instant,
    retry: &'a RetryPolicy,
}

impl<'a> CallBudget<'a> {
    fn new(started: Instant, retry: &'a RetryPolicy) -> Self {
        Self { started, retry }
    }
}

fn path_segment(value: &str) -> String {
    urlencoding::encode(value).into_owned()
}

#[async_trait]
impl LearnAmp for LearnAmpClient {
    /// One attempt, within one request's timeout: a token that does not come at once is left
    /// to the first call, which retries as every call does (retrying here too would make a
    /// run wait out Learn Amp's outage twice, the first time before it has even planned).
    async fn prepare_calls(&self) -> Result<(), TargetError> {
        let once = RetryPolicy {
            max_attempts: 1,
            deadline: self.request_timeout,
            ..self.retry.clone()
        };
        self.token(false, CallBudget::new(Instant::now(), &once))
            .await
            .map(|_| ())
    }

    async fn user_by_external_id(&self, external_id: &str) -> Result<Option<User>, TargetError> {
        let path = format!(
            "/v1/users/by_integration_external_id/{}",
            path_segment(external_id)
        );
        match self
            .json(
                Method::GET,
                &path,
                "GET /v1/users/by_integration_external_id/{id}",
                Body::None,
            )
            .await
        {
            Ok(user) => Ok(Some(user)),
            Err(TargetError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn users_by_email(&self, email: &str) -> Result<Vec<User>, TargetError> {
        let filter = format!("&filters%5Bemail%5D={}", urlencoding::encode(email));
        let (users, _unreadable) = self.list_all("/v1/users", &filter, "users").await?;
        Ok(users)
    }

    /// Every user, and, from a second listing filtered by the documented status `deactivated`,
    /// which of them are deactivated (the display label of `status` is not a documented value).
    async fn list_users(&self, detail: UserDetail) -> Result<UserListing, TargetError> {
        let mut listing = UserListing::default();
        self.each_user_page(detail, &mut |page| {
            listing.users.extend(page.users);
            listing.skipped.extend(page.skipped);
        })
        .await?;
        Ok(listing)
    }

    /// The deactivated users' ids first (a few bytes each), so that every page of the full
    /// listing can be handed over with whether each of its users is deactivated.
    async fn each_user_page(
        &self,
        detail: UserDetail,
        on_page: &mut (dyn FnMut(UserListing) + Send),
    ) -> Result<(), TargetError> {
        let expanded = match detail {
            UserDetail::Basic => "",
            UserDetail::Expanded => "&expanded=true",
        };
        let mut deactivated = std::collections::HashSet::new();
        self.each_page(
            "/v1/users",
            DEACTIVATED_FILTER,
            "users",
            &mut |page: Vec<UserIdOnly>, _| deactivated.extend(page.into_iter().map(|u| u.id)),
        )
        .await?;
        self.each_page(
            "/v1/users",
            expanded,
            "users",
            &mut |mut users: Vec<User>, skipped| {
                for user in &mut users {
                    user.listed_deactivated = Some(deactivated.contains(&user.id));
                }
                on_page(UserListing { users, skipped });
            },
        )
        .await
    }

    async fn list_teams(&self) -> Result<Vec<Team>, TargetError> {
        self.list_strict("/v1/teams", "", "teams").await
    }

    async fn create_user(&self, write: &UserWrite) -> Result<u64, TargetError> {
        let form = write.form_fields();
        let created: UserIdOnly = self
            .json(
                Method::POST,
                "/v1/users",
                "POST /v1/users",
                Body::Form(&form),
            )
            .await?;
        Ok(created.id)
    }

    async fn update_user(&self, user_id: u64, write: &UserWrite) -> Result<(), TargetError> {
        let form = write.form_fields();
        self.call(
            Method::PUT,
            &format!("/v1/users/{user_id}"),
            "PUT /v1/users/{id}",
            Body::Form(&form),
        )
        .await
        .map(|_| ())
    }

    async fn deactivate_user(&self, user_id: u64) -> Result<(), TargetError> {
        self.call(
            Method::PUT,
            &format!("/v1/users/{user_id}/deactivate"),
            "PUT /v1/users/{id}/deactivate",
            Body::None,
        )
        .await
        .map(|_| ())
    }

    async fn reactivate_user(&self, user_id: u64) -> Result<(), TargetError> {
        self.call(
            Method::PUT,
            &format!("/v1/users/{user_id}/reactivate"),
            "PUT /v1/users/{id}/reactivate",
            Body::None,
        )
        .await
        .map(|_| ())
    }

    async fn team_by_external_id(&self, external_id: &str) -> Result<Option<Team>, TargetError> {
        let path = format!("/v1/teams/by_external_id/{}", path_segment(external_id));
        match self
            .json(
                Method::GET,
                &path,
                "GET /v1/teams/by_external_id/{id}",
                Body::None,
            )
            .await
        {
            Ok(team) => Ok(Some(team)),
            Err(TargetError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_team(&self, name: &str, external_id: &str) -> Result<Team, TargetError> {
        let form = [
            ("name", name.to_string()),
            ("integrationExternalId", external_id.to_string()),
        ];
        self.json(
            Method::POST,
            "/v1/teams",
            "POST /v1/teams",
            Body::Form(&form),
        )
        .await
    }

    async fn rename_team(&self, team_id: u64, name: &str) -> Result<Team, TargetError> {
        let form = [("name", name.to_string())];
        self.json(
            Method::PUT,
            &format!("/v1/teams/{team_id}"),
            "PUT /v1/teams/{id}",
            Body::Form(&form),
        )
        .await
    }

    fn call_stats(&self) -> CallStats {
        self.calls.snapshot()
    }
}

#[cfg(test)]
mod fuzz;
