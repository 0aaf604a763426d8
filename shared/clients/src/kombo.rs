//! Kombo's HRIS API: `GET /hris/employees`, `/hris/groups`, `/hris/locations`, with cursor
//! pagination at the maximum page size, `updated_after` and `include_deleted=true`.
//!
//! Errors branch on Kombo's `error.code`, not on the HTTP status: the setup codes
//! (`INTEGRATION.SETUP_SYNC_PENDING` and its siblings, HTTP 409 since May 2026) mean "not ready,
//! retry later" and are not retried within the run; rate limits and remote outages are retried
//! with backoff. A listing is complete or an error, never a partial result (pages handed
//! over before an error belong to a listing that failed, and are to be thrown away).

use crate::cursor_prefix::{cursor_in, Prefix};
use crate::kombo_http::{KomboHttp, KomboRequest};
use crate::retry::RetryPolicy;
use async_trait::async_trait;
use chrono::SecondsFormat;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Instant;
use sync_core::decode::{decode, each_record, DecodeProblem};
use sync_core::error::SourceError;
use sync_core::kombo::{Employee, Group, Location, PageEnvelope};
use sync_core::ports::{CallStats, EmployeePage, HrisSource, ListQuery, MalformedRecord};

/// Kombo's maximum `page_size`.
pub const MAX_PAGE_SIZE: usize = 250;
/// No listing reads more pages than this (a million records at [`MAX_PAGE_SIZE`]). Kombo
/// reports no totals to derive a tighter bound from.
pub const MAX_PAGES: usize = 4_000;
/// How long one listing may take, its pages' retries included, unless the client is told
/// otherwise: far more than a 50,000-employee company needs, and well within the sync
/// function's 15 minutes.
pub const LISTING_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

pub struct KomboClient {
    /// Shared with a listing's page requests, each on a task of its own.
    http: Arc<KomboHttp>,
    integration_id: String,
    listing_deadline: std::time::Duration,
}

impl KomboClient {
    /// `base_url` is Kombo's API root, e.g. `https://api.kombo.dev/v1`.
    pub fn new(base_url: &str, api_key: &str, integration_id: &str) -> Self {
        Self {
            http: Arc::new(KomboHttp::new(base_url, api_key)),
            integration_id: integration_id.to_string(),
            listing_deadline: LISTING_DEADLINE,
        }
    }

    /// Another timeout for each request (the default is [`crate::REQUEST_TIMEOUT`]).
    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        let http = Arc::into_inner(self.http).expect("a client is configured before it lists");
        self.http = Arc::new(http.with_request_timeout(timeout));
        self
    }

    /// Another bound on one whole listing (the default is [`LISTING_DEADLINE`]).
    pub fn with_listing_deadline(mut self, deadline: std::time::Duration) -> Self {
        self.listing_deadline = deadline;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        Arc::get_mut(&mut self.http)
            .expect("a client is configured before it lists")
            .retry = retry;
        self
    }

    pub fn reset_call_stats(&self) {
        self.http.calls.reset();
    }

    /// A whole listing; a record that does not decode fails it (groups and locations: without
    /// one of them, employees could be mapped to the wrong team).
    async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: &ListQuery,
    ) -> Result<Vec<T>, SourceError> {
        let mut results = Vec::new();
        let mut malformed = Vec::new();
        self.each_page(path, query, &mut |page: DecodedPage<T>| {
            results.extend(page.records);
            malformed.extend(page.malformed);
        })
        .await?;
        match malformed.into_iter().next() {
            Some(bad) => Err(SourceError::Decode(format!("{path}: {bad}"))),
            None => Ok(results),
        }
    }

    /// Every page of a listing, handed to `on_page` as it is decoded. The pages come one after
    /// the other (each page's cursor comes with the page before), so the next one is asked for
    /// as soon as its cursor is known: from the first bytes of the page before when they show it
    /// ([`crate::cursor_prefix`]), while the rest of that page is still coming in, and kept only
    /// if the whole page names the same cursor; otherwise once the page is in. Either way it is
    /// fetched while this one is decoded and handed over: the listing takes about as long as its
    /// pages' round trips, not round trips plus transfer and decoding.
    ///
    /// The listing always ends: a cursor seen before in it, more than [`MAX_PAGES`] pages or a
    /// listing longer than the client's listing deadline is an error.
    async fn each_page<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        query: &ListQuery,
        on_page: &mut (dyn FnMut(DecodedPage<T>) + Send),
    ) -> Result<(), SourceError> {
        let mut params: Vec<(&'static str, String)> = vec![
            ("page_size", MAX_PAGE_SIZE.to_string()),
            ("include_deleted", "true".to_string()),
        ];
        if let Some(after) = query.updated_after {
            params.push((
                "updated_after",
                after.to_rfc3339_opts(SecondsFormat::Millis, true),
            ));
        }
        if let Some(ids) = &query.ids {
            params.push(("ids", ids.join(",")));
        }
        let listing_ends = Instant::now() + self.listing_deadline;
        let mut cursors = CursorTrail::default();
        let mut records = 0usize;
        let mut current = self.start_page(path, &params, None, listing_ends);
        loop {
            // This page's body; its successor asked for as soon as its first bytes name it.
            let mut ahead: Option<PageInFlight> = None;
            let body = loop {
                tokio::select! {
                    // The cursor is sent before the rest of the body is read: when both are
                    // there, the next page is asked for first (an unbiased select would drop
                    // the early cursor about one time in two).
                    biased;
                    seen = PageInFlight::early_cursor(&mut current.early) => {
                        // Not past the trail's bounds, even by one request.
                        if let Some(cursor) =
                            seen.filter(|c| ahead.is_none() && cursors.allows(c))
                        {
                            ahead = Some(self.start_page(path, &params, Some(cursor), listing_ends));
                        }
                    }
                    joined = &mut current.body => match joined {
                        Ok(body) => break body?,
                        Err(stopped) if stopped.is_panic() => {
                            std::panic::resume_unwind(stopped.into_panic())
                        }
                        Err(_) => {
                            return Err(SourceError::Decode(format!(
                                "{path}: the page's request stopped"
                            )))
                        }
                    },
                }
            };
            let page_number = cursors.pages();
            tracing::debug!(
                path,
                page = page_number,
                bytes = body.len(),
                early = ahead.is_some(),
                "kombo page received"
            );
            if ahead.is_none() {
                // Not asked for early: the cursor alone first (the records are skipped over),
                // to ask for the next page before this one is decoded.
                let next = decode::<CursorOnly>(&body)
                    .map_err(|e| SourceError::Decode(format!("{path} page {page_number}: {e}")))?
                    .data
                    .next;
                if let Some(cursor) = next.filter(|c| !c.is_empty() && cursors.allows(c)) {
                    ahead = Some(self.start_page(path, &params, Some(cursor), listing_ends));
                }
            }
            // The whole page, and its own cursor: the page asked for next is kept only if it
            // was asked for with that very cursor.
            let (next, page) = match tokio::task::spawn_blocking(move || decode_page::<T>(&body))
                .await
            {
                Ok(decoded) => decoded
                    .map_err(|e| SourceError::Decode(format!("{path} page {page_number}: {e}")))?,
                Err(stopped) if stopped.is_panic() => {
                    std::panic::resume_unwind(stopped.into_panic())
                }
                Err(_) => {
                    return Err(SourceError::Decode(format!(
                        "{path} page {page_number}: its decoding stopped"
                    )))
                }
            };
            tracing::debug!(path, page = page_number, "kombo page decoded");
            records += page.records.len();
            let Some(cursor) = next.filter(|n| !n.is_empty()) else {
                // A page asked for early (the page's first bytes said otherwise) stops now.
                drop(ahead);
                on_page(page);
                break;
            };
            cursors.follow(path, &cursor)?;
            let following = match ahead.take() {
                Some(page) if page.cursor.as_deref() == Some(cursor.as_str()) => page,
                asked_early => {
                    if asked_early.is_some() {
                        // Rare (a page cut off and answered again otherwise): the page
                        // asked again waits for this one's decoding.
                        tracing::debug!(
                            path,
                            page = page_number + 1,
                            "kombo page asked for early with another cursor: asked again"
                        );
                    }
                    self.start_page(path, &params, Some(cursor), listing_ends)
                }
            };
            on_page(page);
            tracing::debug!(path, page = page_number, "kombo page handed over");
            current = following;
        }
        tracing::debug!(path, records, "kombo listing complete");
        Ok(())
    }

    /// One page's request, on a task of its own: retried as the policy allows, and given up at
    /// `listing_ends` (no attempt and no wait goes past it). The page's own cursor is sent on
    /// `early` as soon as its first bytes show it.
    fn start_page(
        &self,
        path: &str,
        params: &[(&'static str, String)],
        cursor: Option<String>,
        listing_ends: Instant,
    ) -> PageInFlight {
        let mut query = params.to_vec();
        query.extend(cursor.clone().map(|c| ("cursor", c)));
        let (early_tx, early) = tokio::sync::oneshot::channel();
        let http = Arc::clone(&self.http);
        let path = path.to_string();
        let integration_id = self.integration_id.clone();
        let deadline = self.listing_deadline;
        let body = tokio::spawn(async move {
            let out_of_time = || SourceError::Transient {
                code: "LISTING_DEADLINE".into(),
                message: format!(
                    "{path}: the listing did not end within its {} s",
                    deadline.as_secs()
                ),
            };
            let request = KomboRequest {
                method: reqwest::Method::GET,
                path: &path,
                query: &query,
                json: None,
                integration_id: Some(&integration_id),
            };
            let mut early_tx = Some(early_tx);
            let mut peek = |prefix: &[u8]| {
                if early_tx.is_some() {
                    match cursor_in(prefix) {
                        Prefix::NeedMore => {}
                        Prefix::Cursor(next) => {
                            let _ = early_tx.take().map(|tx| tx.send(next));
                        }
                        Prefix::Last | Prefix::Unknown => early_tx = None,
                    }
                }
            };
            http.send_peeking(&request, listing_ends, &out_of_time, &mut peek)
                .await
        });
        PageInFlight {
            cursor,
            body,
            early: Some(early),
        }
    }
}

/// A page asked for: the cursor it was asked with, its body to come, and its own cursor once
/// its first bytes show it. Dropped, its request stops.
struct PageInFlight {
    cursor: Option<String>,
    body: tokio::task::JoinHandle<Result<bytes::Bytes, SourceError>>,
    early: Option<tokio::sync::oneshot::Receiver<String>>,
}

impl PageInFlight {
    /// The page's own cursor, seen early; never ready again once it has answered.
    async fn early_cursor(
        early: &mut Option<tokio::sync::oneshot::Receiver<String>>,
    ) -> Option<String> {
        match early.as_mut() {
            Some(receiver) => {
                let seen = receiver.await.ok();
                *early = None;
                seen
            }
            None => std::future::pending().await,
        }
    }
}

impl Drop for PageInFlight {
    fn drop(&mut self) {
        self.body.abort();
    }
}

/// The cursors a listing followed: one seen twice means the listing would never end.
#[derive(Default)]
struct CursorTrail {
    seen: std::collections::HashSet<String>,
}

impl CursorTrail {
    /// Pages read so far (the first page has no cursor).
    fn pages(&self) -> usize {
        self.seen.len() + 1
    }

    /// Whether following `cursor` would be within bounds (not seen, under [`MAX_PAGES`]).
    fn allows(&self, cursor: &str) -> bool {
        self.seen.len() + 1 < MAX_PAGES && !self.seen.contains(cursor)
    }

    fn follow(&mut self, path: &str, cursor: &str) -> Result<(), SourceError> {
        if self.seen.len() + 1 >= MAX_PAGES {
            return Err(SourceError::Protocol(format!(
                "{path}: the listing did not end after {MAX_PAGES} pages"
            )));
        }
        if !self.seen.insert(cursor.to_string()) {
            return Err(SourceError::Protocol(format!(
                "{path}: page {} gave a cursor an earlier page gave; the listing would never end",
                self.pages()
            )));
        }
        Ok(())
    }
}

/// One page of a listing: the records that decoded, and those that did not.
pub struct DecodedPage<T> {
    pub records: Vec<T>,
    pub malformed: Vec<MalformedRecord>,
}

/// A page's cursor to the next page, and its records. The whole page is decoded at once; only
/// when that fails is each record decoded alone, so one malformed record is skipped and named
/// instead of failing the page.
fn decode_page<T: DeserializeOwned>(
    body: &[u8],
) -> Result<(Option<String>, DecodedPage<T>), DecodeProblem> {
    if let Ok(page) = serde_json::from_slice::<PageEnvelope<T>>(body) {
        return Ok((
            page.data.next,
            DecodedPage {
                records: page.data.results,
                malformed: Vec::new(),
            },
        ));
    }
    let page: PageEnvelope<serde_json::Value> = decode(body)?;
    let mut decoded = DecodedPage {
        records: Vec::with_capacity(page.data.results.len()),
        malformed: Vec::new(),
    };
    each_record(
        page.data.results,
        &mut decoded.records,
        &mut decoded.malformed,
    );
    Ok((page.data.next, decoded))
}

/// A page's envelope without its records.
#[derive(serde::Deserialize)]
struct CursorOnly {
    data: CursorData,
}

#[derive(serde::Deserialize)]
struct CursorData {
    #[serde(default)]
    next: Option<String>,
}

#[async_trait]
impl HrisSource for KomboClient {
    async fn list_employees(&self, query: &ListQuery) -> Result<Vec<Employee>, SourceError> {
        self.list("/hris/employees", query).await
    }

    async fn each_employee_page(
        &self,
        query: &ListQuery,
        on_page: &mut (dyn FnMut(EmployeePage) + Send),
    ) -> Result<(), SourceError> {
        self.each_page("/hris/employees", query, &mut |page: DecodedPage<
            Employee,
        >| {
            on_page(EmployeePage {
                employees: page.records,
                malformed: page.malformed,
            })
        })
        .await
    }

    async fn list_groups(&self, query: &ListQuery) -> Result<Vec<Group>, SourceError> {
        self.list("/hris/groups", query).await
    }

    async fn list_locations(&self, query: &ListQuery) -> Result<Vec<Location>, SourceError> {
        self.list("/hris/locations", query).await
    }

    fn call_stats(&self) -> CallStats {
        self.http.calls.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_seen_before_ends_the_listing() {
        let mut trail = CursorTrail::default();
        trail.follow("/hris/employees", "a").unwrap();
        trail.follow("/hris/employees", "b").unwrap();
        let err = trail.follow("/hris/employees", "a").unwrap_err();
        assert!(matches!(err, SourceError::Protocol(_)), "{err:?}");
    }

    mod fuzz {
        //! Bounded fuzzing (proptest) of the page envelope's cursor and the cursor trail: no
        //! input panics, and no listing follows more than `MAX_PAGES` pages or a cursor twice.

        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_page_body_decodes_or_fails_cleanly(body in proptest::collection::vec(any::<u8>(), 0..300)) {
                let _ = decode::<CursorOnly>(&body);
                let _ = decode_page::<Employee>(&body);
            }

            #[test]
            fn any_next_value_decodes_or_fails_cleanly(next in prop_oneof![
                ".{0,40}".prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                Just(serde_json::Value::Null),
                Just(serde_json::json!({"cursor": "x"})),
                Just(serde_json::json!(["a"])),
            ]) {
                let body = serde_json::to_vec(&serde_json::json!({"status": "success", "data": {"next": next, "results": []}})).unwrap();
                if let Ok(page) = decode::<CursorOnly>(&body) {
                    prop_assert!(page.data.next.is_some() == next.is_string());
                }
            }

            #[test]
            fn a_trail_refuses_the_first_repeat(cursors in proptest::collection::vec("[a-c]{1,3}", 1..60)) {
                let mut trail = CursorTrail::default();
                let mut seen = std::collections::HashSet::new();
                for cursor in &cursors {
                    let fresh = seen.insert(cursor.clone());
                    prop_assert_eq!(trail.allows(cursor), fresh, "allows says what follow will do");
                    let followed = trail.follow("/hris/employees", cursor);
                    prop_assert_eq!(followed.is_ok(), fresh);
                    if !fresh {
                        break;
                    }
                }
            }
        }

        #[test]
        fn a_trail_ends_at_the_page_ceiling() {
            let mut trail = CursorTrail::default();
            let mut followed = 0;
            while trail.allows(&followed.to_string()) {
                assert!(trail
                    .follow("/hris/employees", &followed.to_string())
                    .is_ok());
                followed += 1;
                assert!(followed < 10 * MAX_PAGES);
            }
            assert!(trail
                .follow("/hris/employees", &followed.to_string())
                .is_err());
            assert_eq!(followed + 1, MAX_PAGES, "pages read, the first included");
        }
    }
}
