//! Every route of the admin API, unauthenticated, without its CSRF token, from another origin,
//! and from a session of another tenant; and the admin links' single use.

mod common;

use admin_fn::{link, Request, ROUTES};
use chrono::{Duration, Utc};
use common::{body_for, Admin, KEY};
use serde_json::json;
use sync_core::connect::{IntegrationStatus, KomboConnect, LinkRequest};
use sync_core::ports::Queue;
use sync_core::ports::StateStore;
use sync_core::state::EmployeeState;

#[tokio::test]
async fn every_route_refuses_a_request_without_a_session() {
    let admin = Admin::start().await;
    let session = admin.login("acme").await;
    let base_url = admin.world.tenant_config("x").learnamp_base_url;
    for (method, path) in ROUTES {
        for cookie in [
            None,
            Some("ps_session=not-a-session"),
            Some("ps_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ] {
            let mut request = Request::new(method, path)
                .with_header("x-csrf-token", &session.csrf)
                .with_header("host", common::HOST);
            if let Some(cookie) = cookie {
                request = request.with_header("cookie", cookie);
            }
            if let Some(body) = body_for(method, path, &base_url) {
                request = request.with_json(&body);
            }
            let response = admin.send(request).await;
            assert_eq!(response.status, 401, "{method} {path} with {cookie:?}");
            assert!(response.json_body()["error"]
                .as_str()
                .unwrap()
                .contains("open the integration again"));
        }
    }
    assert!(admin.tenant("acme").await.is_none(), "nothing was saved");
    assert!(admin.world.sync_requests.is_empty());
    admin.stop().await;
}

#[tokio::test]
async fn every_state_changing_route_needs_the_csrf_token_and_this_origin() {
    let admin = Admin::start().await;
    let session = admin.login("acme").await;
    let other = admin.login("acme").await;
    let base_url = admin.world.tenant_config("x").learnamp_base_url;
    for (method, path) in ROUTES.iter().filter(|(m, _)| *m != "GET") {
        let body = body_for(method, path, &base_url);
        let with_body = |mut request: Request| {
            if let Some(body) = &body {
                request = request.with_json(body);
            }
            request
        };
        let base = || {
            Request::new(method, path)
                .with_header("cookie", &session.cookie)
                .with_header("host", common::HOST)
        };
        let cases = [
            ("no token", with_body(base())),
            (
                "wrong token",
                with_body(base().with_header("x-csrf-token", "x".repeat(43).as_str())),
            ),
            (
                "another session's token",
                with_body(base().with_header("x-csrf-token", &other.csrf)),
            ),
            (
                "another origin",
                with_body(
                    base()
                        .with_header("x-csrf-token", &session.csrf)
                        .with_header("origin", "https://evil.example"),
                ),
            ),
            (
                "an opaque origin",
                with_body(
                    base()
                        .with_header("x-csrf-token", &session.csrf)
                        .with_header("origin", "null"),
                ),
            ),
        ];
        for (case, request) in cases {
            let response = admin.send(request).await;
            assert_eq!(response.status, 403, "{method} {path}: {case}");
        }
    }
    assert!(admin.tenant("acme").await.is_none(), "nothing was saved");
    assert!(admin.world.sync_requests.is_empty());
    assert!(admin.connect.integrations().is_empty());
    admin.stop().await;
}

/// Tenant B's records, as a session of tenant A must never see or change them.
struct Snapshot {
    config: Option<sync_core::tenants::TenantConfig>,
    integrations: usize,
    employees: usize,
}

async fn snapshot(admin: &Admin, tenant: &str) -> Snapshot {
    Snapshot {
        config: admin.tenant(tenant).await,
        integrations: admin.connect.integrations().len(),
        employees: admin.world.store.employees(tenant).await.unwrap().len(),
    }
}

#[tokio::test]
async fn a_session_of_tenant_a_never_reads_or_changes_tenant_b() {
    let admin = Admin::start().await;
    // Tenant B: connected, credentials saved, settings of its own, an employee in error.
    admin.ready_tenant("tenant-b").await;
    let mut b_error = EmployeeState::new("emp-b-1", Utc::now());
    b_error.last_error = Some("B's own error".into());
    admin
        .world
        .store
        .put_employee("tenant-b", &b_error)
        .await
        .unwrap();
    // A token Kombo gave for a connection B made.
    let b_link = admin
        .connect
        .create_link(&LinkRequest {
            tenant_id: "tenant-b".into(),
            end_user_email: "b@b.example".into(),
            end_user_organization_name: "B".into(),
            language: Default::default(),
        })
        .await
        .unwrap();
    let b_token = admin.connect.complete_link(&b_link).unwrap();
    let before = snapshot(&admin, "tenant-b").await;

    let a = admin.login("tenant-a").await;
    let base_url = admin.world.tenant_config("x").learnamp_base_url;
    for (method, path) in ROUTES {
        // Whatever names B: a query, a header, a body field, B's token.
        let mut request = admin
            .request(&a, method, path)
            .with_query("tenant=tenant-b&tenant_id=tenant-b")
            .with_header("x-tenant-id", "tenant-b");
        let body = match *path {
            "/api/connect/complete" => Some(json!({"token": b_token})),
            _ => body_for(method, path, &base_url),
        };
        if let Some(body) = body {
            request = request.with_json(&body);
        }
        let response = admin.send(request).await;
        assert!(
            !response.body.contains("tenant-b")
                && !response.body.contains(common::SANDBOX_INTEGRATION)
                && !response.body.contains("B's own error")
                && !response.body.contains("emp-b-1"),
            "{method} {path} showed B: {}",
            response.body
        );
        if *path == "/api/connect/complete" {
            assert_eq!(response.status, 403, "B's token: {}", response.body);
        }
        // A body naming B's tenant is refused outright (no such field).
        if let Some(mut body) = body_for(method, path, &base_url) {
            body["tenant_id"] = json!("tenant-b");
            let response = admin
                .send(admin.request(&a, method, path).with_json(&body))
                .await;
            assert_eq!(
                response.status, 400,
                "{method} {path} with a tenant_id field"
            );
        }
        let after = snapshot(&admin, "tenant-b").await;
        assert_eq!(after.config, before.config, "{method} {path} changed B");
        assert_eq!(after.integrations, before.integrations, "{method} {path}");
        assert_eq!(after.employees, before.employees, "{method} {path}");
    }
    // B's integration is still B's, at Kombo and in B's record; nothing was queued for B.
    assert!(admin
        .connect
        .integrations()
        .iter()
        .any(|i| i.integration_id == common::SANDBOX_INTEGRATION
            && i.status == IntegrationStatus::Active));
    let queued = admin.world.sync_requests.receive(100).await.unwrap();
    assert!(queued.iter().all(|d| d.message.tenant != "tenant-b"));
    // A's own record names only A.
    if let Some(a_config) = admin.tenant("tenant-a").await {
        assert_eq!(a_config.settings.tenant_id, "tenant-a");
        assert_ne!(a_config.integration_id(), Some(common::SANDBOX_INTEGRATION));
    }
    admin.stop().await;
}

#[tokio::test]
async fn a_link_opens_one_session_once() {
    let admin = Admin::start().await;
    let now = Utc::now();
    let url = link::mint(
        KEY,
        "https://admin.example",
        "acme",
        Duration::minutes(5),
        now,
    );
    let query = url.split_once('?').unwrap().1.to_string();
    let first = admin
        .send(Request::new("GET", "/enter").with_query(&query))
        .await;
    assert_eq!(first.status, 303);
    assert_eq!(first.header("location"), Some("/"));
    let cookie = &first.cookies[0];
    assert!(cookie.starts_with("ps_session="));
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=28800",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // Replayed: refused, and no second session.
    let replay = admin
        .send(Request::new("GET", "/enter").with_query(&query))
        .await;
    assert_eq!(replay.status, 403);
    assert!(replay.cookies.is_empty());
    assert!(replay.body.contains("expired or was already used"));

    // Forged, expired, too far ahead, another key: the same page, no session.
    let expires = (now.timestamp() + 300).to_string();
    let nonce = link::new_nonce();
    let good = link::sign(KEY, "acme", &expires, &nonce);
    let expired = (now.timestamp() - 1).to_string();
    let far = (now.timestamp() + 16 * 60).to_string();
    let other_key = b"another-key-of-at-least-thirty-two-bytes";
    let cases = [
        (
            "forged",
            "acme".to_string(),
            expires.clone(),
            // The last hex digit changed (to another digit whatever it was: a fixed one would
            // leave the link intact one time in sixteen).
            format!(
                "{}{}",
                &good[..63],
                if good.ends_with('0') { '1' } else { '0' }
            ),
        ),
        (
            "other tenant",
            "globex".into(),
            expires.clone(),
            good.clone(),
        ),
        (
            "expired",
            "acme".into(),
            expired.clone(),
            link::sign(KEY, "acme", &expired, &nonce),
        ),
        (
            "too far",
            "acme".into(),
            far.clone(),
            link::sign(KEY, "acme", &far, &nonce),
        ),
        (
            "other key",
            "acme".into(),
            expires.clone(),
            link::sign(other_key, "acme", &expires, &nonce),
        ),
    ];
    for (case, tenant, expires, sig) in cases {
        let query = format!("tenant={tenant}&expires={expires}&nonce={nonce}&sig={sig}");
        let response = admin
            .send(Request::new("GET", "/enter").with_query(&query))
            .await;
        assert_eq!(response.status, 403, "{case}");
        assert!(response.cookies.is_empty(), "{case}");
        assert!(
            !response.body.contains(&tenant) || tenant == "acme",
            "{case}: nothing reflected"
        );
    }
    // The nonce was not spent by the refused links: the good one still opens.
    let query = format!("tenant=acme&expires={expires}&nonce={nonce}&sig={good}");
    assert_eq!(
        admin
            .send(Request::new("GET", "/enter").with_query(&query))
            .await
            .status,
        303
    );
    // A repeated parameter is refused.
    let doubled = format!("{query}&tenant=globex");
    assert_eq!(
        admin
            .send(Request::new("GET", "/enter").with_query(&doubled))
            .await
            .status,
        403
    );
    admin.stop().await;
}

#[tokio::test]
async fn the_page_needs_a_session_and_nothing_is_reflected() {
    let admin = Admin::start().await;
    let without = admin.send(Request::new("GET", "/")).await;
    assert_eq!(without.status, 200);
    assert!(without.body.contains("Open this page from Learn Amp"));
    assert!(without.header("content-security-policy").is_some());
    assert_eq!(without.header("cache-control"), Some("no-store"));
    let session = admin.login("acme").await;
    let with = admin
        .send(Request::new("GET", "/").with_header("cookie", &session.cookie))
        .await;
    assert_eq!(with.body, admin_fn::page::INDEX_HTML);
    let missing = admin
        .send(Request::new("GET", "/<script>alert(1)</script>"))
        .await;
    assert_eq!(missing.status, 404);
    assert!(!missing.body.contains("<script>alert"));
    let api_missing = admin.call(&session, "GET", "/api/<b>x</b>", None).await;
    assert_eq!(api_missing.status, 404);
    assert!(!api_missing.body.contains("<b>"));
    admin.stop().await;
}

#[tokio::test]
async fn bodies_are_bounded_typed_and_strict() {
    let admin = Admin::start().await;
    let s = admin.login("acme").await;
    let big = admin
        .request(&s, "PUT", "/api/settings")
        .with_header("content-type", "application/json");
    let mut big = big;
    big.body = vec![b' '; admin_fn::MAX_BODY_BYTES + 1];
    assert_eq!(admin.send(big).await.status, 413);
    let mut form = admin
        .request(&s, "PUT", "/api/settings")
        .with_header("content-type", "text/plain");
    form.body = b"{}".to_vec();
    assert_eq!(admin.send(form).await.status, 415);
    let unknown = admin
        .call(
            &s,
            "POST",
            "/api/connect/complete",
            Some(json!({"token": "t", "extra": 1})),
        )
        .await;
    assert_eq!(unknown.status, 400);
    assert!(
        unknown.json_body()["error"]
            .as_str()
            .unwrap()
            .contains("extra"),
        "{}",
        unknown.body
    );
    let missing = admin
        .call(&s, "POST", "/api/connect/complete", Some(json!({})))
        .await;
    assert_eq!(missing.status, 400);
    assert!(missing.body.contains("token"), "{}", missing.body);
    // A mistyped secret is named by its field, never echoed.
    let typed = admin
        .call(
            &s,
            "PUT",
            "/api/learnamp",
            Some(json!({"base_url": "https://x", "client_id": "c", "client_secret": 12345678})),
        )
        .await;
    assert_eq!(typed.status, 400);
    assert!(
        typed.body.contains("client_secret") && !typed.body.contains("12345678"),
        "{}",
        typed.body
    );
    let method = admin.call(&s, "DELETE", "/api/settings", None).await;
    assert_eq!(method.status, 405);
    admin.stop().await;
}

#[tokio::test]
async fn an_expired_session_is_refused() {
    let admin = Admin::start().await;
    let s = admin.login("acme").await;
    // The same store, read 9 hours later.
    let id = s.cookie.split_once('=').unwrap().1;
    let later = Utc::now() + Duration::hours(9);
    use sync_core::admin::AdminSessions;
    assert!(admin
        .sessions
        .get(&admin_fn::random::sha256_hex(id), later)
        .await
        .unwrap()
        .is_none());
    assert!(admin
        .sessions
        .get(&admin_fn::random::sha256_hex(id), Utc::now())
        .await
        .unwrap()
        .is_some());
    // The store never holds the cookie's value.
    assert!(admin.sessions.get(id, Utc::now()).await.unwrap().is_none());
    admin.stop().await;
}
