//! The Kombo connection flow's HTTP client against the Kombo sandbox (a real server): links,
//! tokens, integrations, relink, delete, custom fields in pages, and the errors (an unknown
//! token or integration, a wrong API key); then against a hostile server: a cursor that
//! repeats, a listing that never ends, a link that is no web link, a redirect.

use axum::routing::{get, post};
use sandbox::{generate_company, KomboSandbox, RunningServer};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use sync_clients::kombo_connect::{CUSTOM_FIELDS_PAGE_SIZE, MAX_CUSTOM_FIELD_PAGES};
use sync_clients::{KomboConnectClient, RetryPolicy};
use sync_core::connect::{
    ConnectLanguage, IntegrationStatus, KomboConnect, LinkRequest, SetupStatus,
};
use sync_core::error::SourceError;

const KEY: &str = "connect-key";

async fn sandbox() -> (KomboSandbox, RunningServer, KomboConnectClient) {
    let sandbox = KomboSandbox::new(
        KEY,
        "personio:own",
        generate_company(3, 1, chrono::Utc::now().date_naive()),
    );
    let server = sandbox.start(0).await.unwrap();
    let client = KomboConnectClient::new(&server.base_url, KEY).with_retry(RetryPolicy::fast());
    (sandbox, server, client)
}

fn request(tenant: &str) -> LinkRequest {
    LinkRequest {
        tenant_id: tenant.into(),
        end_user_email: "admin@example.com".into(),
        end_user_organization_name: "Acme".into(),
        language: ConnectLanguage::De,
    }
}

#[tokio::test]
async fn a_link_becomes_an_integration_of_its_tenant_that_can_be_relinked_and_deleted() {
    let (sandbox, server, client) = sandbox().await;
    let link = client.create_link(&request("tenant-a")).await.unwrap();
    assert!(link.starts_with(&format!("http://{}/connect?token=", server.addr)));
    let token = sandbox.complete_link(&link).await.unwrap();

    let by_token = client.integration_by_token(&token).await.unwrap();
    assert_eq!(by_token.tool, "personio");
    assert_eq!(by_token.end_user_origin_id.as_deref(), Some("tenant-a"));
    assert_eq!(by_token.setup_status, SetupStatus::Incomplete);
    let id = by_token.integration_id;

    let info = client.integration(&id).await.unwrap().unwrap();
    assert_eq!(
        (info.tool.as_str(), &info.status, &info.setup_status),
        (
            "personio",
            &IntegrationStatus::Active,
            &SetupStatus::Incomplete
        )
    );
    assert_eq!(info.end_user_origin_id.as_deref(), Some("tenant-a"));
    // The operator-registered integration has no origin id.
    let own = client.integration("personio:own").await.unwrap().unwrap();
    assert_eq!(own.end_user_origin_id, None);
    assert_eq!(own.setup_status, SetupStatus::Completed);

    sandbox
        .set_integration_status(&id, Some("INVALID"), Some("COMPLETED"))
        .await;
    let info = client.integration(&id).await.unwrap().unwrap();
    assert_eq!(info.status, IntegrationStatus::Invalid);
    let relink = client.relink(&id, ConnectLanguage::En).await.unwrap();
    let again = sandbox.complete_link(&relink).await.unwrap();
    assert_eq!(
        client
            .integration_by_token(&again)
            .await
            .unwrap()
            .integration_id,
        id
    );
    assert_eq!(
        client.integration(&id).await.unwrap().unwrap().status,
        IntegrationStatus::Active
    );

    client.delete_integration(&id).await.unwrap();
    assert_eq!(client.integration(&id).await.unwrap(), None);
    client
        .delete_integration(&id)
        .await
        .expect("deleting what is gone succeeds");
}

#[tokio::test]
async fn custom_fields_are_read_in_pages_the_employee_models_only() {
    let (sandbox, _server, client) = sandbox().await;
    for i in 0..CUSTOM_FIELDS_PAGE_SIZE + 10 {
        sandbox.add_custom_field(&format!("field_{i:03}"), "hris_employees", Some("F"));
    }
    sandbox.add_custom_field("plant", "hris_locations", None);
    let fields = client.custom_fields("personio:own").await.unwrap();
    assert_eq!(fields.len(), 1 + CUSTOM_FIELDS_PAGE_SIZE + 10);
    assert_eq!(fields[0].key, "cost_center", "the generated company's own");
    assert!(fields.iter().all(|f| f.model == "hris_employees"));

    sandbox.set_repeat_cursor(true);
    let err = client.custom_fields("personio:own").await.unwrap_err();
    assert!(matches!(err, SourceError::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn unknown_tokens_unknown_integrations_and_a_wrong_key_are_errors_that_say_so() {
    let (_sandbox, server, client) = sandbox().await;
    let err = client
        .integration_by_token("no-such-token")
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Rejected { .. }), "{err:?}");
    assert!(!err.to_string().contains("no-such-token"), "{err}");
    assert!(!err.is_retryable());

    assert_eq!(client.integration("personio:nope").await.unwrap(), None);
    for err in [
        client
            .relink("personio:nope", ConnectLanguage::En)
            .await
            .unwrap_err(),
        client.custom_fields("personio:nope").await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, SourceError::Rejected { code, .. } if code == "PLATFORM.INTEGRATION_NOT_FOUND"),
            "{err:?}"
        );
        assert!(err.to_string().contains("personio:nope"));
    }

    let wrong = KomboConnectClient::new(&server.base_url, "wrong").with_retry(RetryPolicy::fast());
    let errors = [
        wrong.create_link(&request("tenant-a")).await.unwrap_err(),
        wrong.integration_by_token("t").await.unwrap_err(),
        wrong.integration("personio:own").await.unwrap_err(),
        wrong.delete_integration("personio:own").await.unwrap_err(),
        wrong.custom_fields("personio:own").await.unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, SourceError::Unauthorized { .. }), "{err:?}");
        assert!(!err.to_string().contains("admin@example.com"));
    }
}

/// A server that answers every custom-field page with a new cursor, hands out links that are
/// no web links, and redirects relinks elsewhere.
async fn hostile() -> (String, Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let pages = Arc::new(AtomicU64::new(0));
    let counted = pages.clone();
    let app = axum::Router::new()
        .route(
            "/v1/integrations/{id}/custom-fields",
            get(move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    axum::Json(json!({"status": "success", "data": {
                        "results": [{"id": format!("f{n}"), "key": format!("k{n}"), "model": "hris_employees",
                                     "label": null, "unexpected": {"nested": [1, 2]}}],
                        "next": format!("c{n}")}}))
                }
            }),
        )
        .route(
            "/v1/connect/create-link",
            post(|| async {
                axum::Json(json!({"status": "success", "data": {"link": "javascript:alert(document.cookie)"}}))
            }),
        )
        .route(
            "/v1/integrations/{id}/relink",
            post(|| async {
                (
                    axum::http::StatusCode::FOUND,
                    [("location", "https://elsewhere.example/steal")],
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, pages, task)
}

#[tokio::test]
async fn a_hostile_kombo_cannot_keep_a_listing_going_or_put_a_script_in_the_admins_page() {
    let (base, pages, task) = hostile().await;
    let client = KomboConnectClient::new(&base, KEY).with_retry(RetryPolicy::fast());
    let err = client.custom_fields("personio:x").await.unwrap_err();
    assert!(matches!(err, SourceError::Protocol(_)), "{err:?}");
    assert_eq!(pages.load(Ordering::SeqCst), MAX_CUSTOM_FIELD_PAGES as u64);

    let err = client.create_link(&request("tenant-a")).await.unwrap_err();
    assert!(matches!(err, SourceError::Protocol(_)), "{err:?}");
    let err = client
        .relink("personio:x", ConnectLanguage::En)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SourceError::Protocol(m) if m.contains("elsewhere.example")),
        "{err:?}"
    );
    task.abort();
}
