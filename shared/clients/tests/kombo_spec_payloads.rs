//! The Kombo client against a server that answers with the OpenAPI spec's own example payloads,
//! verbatim: the client's whole path (query, headers, pagination, decoding) meets the spec.

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use sync_clients::{KomboClient, RetryPolicy};
use sync_core::error::SourceError;
use sync_core::kombo::EmploymentStatus;
use sync_core::ports::{HrisSource, ListQuery};

const EXAMPLE: &str = include_str!("../../core/tests/fixtures/kombo_employees_example.json");

type Seen = Arc<Mutex<Vec<HashMap<String, String>>>>;

async fn serve(router: Router) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (url, tx)
}

#[tokio::test]
async fn pages_through_the_specs_example_with_every_documented_parameter() {
    let seen: Seen = Arc::default();
    let recorder = seen.clone();
    let router = Router::new().route(
        "/v1/hris/employees",
        get(
            move |headers: HeaderMap, Query(q): Query<HashMap<String, String>>| {
                let recorder = recorder.clone();
                async move {
                    assert_eq!(headers["authorization"], "Bearer key-1");
                    assert_eq!(
                        headers["x-integration-id"],
                        "personio:CBNMt7dSNCzBdnRTx87dev4E"
                    );
                    recorder.lock().unwrap().push(q.clone());
                    let mut page: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
                    if q.contains_key("cursor") {
                        // The second and last page: the example again, under another id.
                        page["data"]["next"] = serde_json::Value::Null;
                        page["data"]["results"][0]["id"] = "second-page-employee".into();
                        page["data"]["results"][0]["employment_status"] = "Elternzeit".into();
                    }
                    axum::Json(page)
                }
            },
        ),
    );
    let (url, stop) = serve(router).await;
    let client = KomboClient::new(&url, "key-1", "personio:CBNMt7dSNCzBdnRTx87dev4E");
    let after = chrono::DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
        .unwrap()
        .to_utc();
    let employees = client
        .list_employees(&ListQuery {
            updated_after: Some(after),
            ids: None,
        })
        .await
        .unwrap();
    assert_eq!(employees.len(), 2);
    assert_eq!(
        employees[0].employment_status,
        Some(EmploymentStatus::Inactive)
    );
    assert_eq!(
        employees[1].employment_status,
        Some(EmploymentStatus::Other("Elternzeit".into()))
    );

    let queries = seen.lock().unwrap().clone();
    assert_eq!(queries.len(), 2);
    assert_eq!(queries[0]["page_size"], "250");
    assert_eq!(queries[0]["include_deleted"], "true");
    assert_eq!(queries[0]["updated_after"], "2026-11-01T10:00:00.000Z");
    assert!(!queries[0].contains_key("cursor"));
    assert_eq!(
        queries[1]["cursor"],
        "eyJwYWdlIjoxMiwibm90ZSI6InRoaXMgaXMganVzdCBhbiBleGFtcGxlIGFuZCBub3QgcmVwcmVzZW50YXRpdmUgZm9yIGEgcmVhbCBjdXJzb3IhIn0="
    );
    let _ = stop.send(());
}

#[tokio::test]
async fn setup_pending_is_not_ready_and_rate_limits_are_retried() {
    let calls = Arc::new(Mutex::new(0u32));
    let counter = calls.clone();
    let router = Router::new()
        .route(
            "/v1/hris/employees",
            get(|| async {
                let body = r#"{"status":"error","error":{"code":"INTEGRATION.SETUP_SYNC_PENDING","title":"Setup pending","message":"The first sync has not finished.","log_url":null}}"#;
                (StatusCode::CONFLICT, [("content-type", "application/json")], body)
            }),
        )
        .route(
            "/v1/hris/groups",
            get(move || {
                let counter = counter.clone();
                async move {
                    let mut n = counter.lock().unwrap();
                    *n += 1;
                    if *n < 3 {
                        let body = r#"{"status":"error","error":{"code":"PLATFORM.RATE_LIMIT_EXCEEDED","title":null,"message":"Too many requests","log_url":null}}"#;
                        (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "0")], body).into_response()
                    } else {
                        let body = r#"{"status":"success","data":{"next":null,"results":[{"id":"g1","remote_id":"1","name":"Sales","type":"DEPARTMENT","parent_id":null,"changed_at":"2026-01-01T00:00:00.000Z","remote_deleted_at":null,"remote_data":null}]}}"#;
                        (StatusCode::OK, [("retry-after", "0")], body).into_response()
                    }
                }
            }),
        );
    let (url, stop) = serve(router).await;
    let client = KomboClient::new(&url, "k", "personio:x").with_retry(RetryPolicy::fast());
    let err = client
        .list_employees(&ListQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::NotReady { .. }), "{err:?}");
    assert_eq!(
        client.call_stats()["GET /hris/employees"],
        1,
        "not retried within the run"
    );
    let groups = client.list_groups(&ListQuery::default()).await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(*calls.lock().unwrap(), 3, "two 429s, then success");
    let _ = stop.send(());
}
