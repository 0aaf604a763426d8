//! The connection flow over HTTP: create-link's validation, the stand-in connection page and
//! what it hands its opener, the lifecycle webhooks (signed, delivered), and a connected
//! integration's reads waiting for its setup.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sandbox::{generate_company, KomboSandbox, RunningServer};
use serde_json::{json, Value};
use sha2::Sha256;

const KEY: &str = "key";
const SECRET: &str = "webhook-secret";

type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook receiver on a free port: the bodies and signatures it was sent.
async fn receiver() -> (String, Received, tokio::task::JoinHandle<()>) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/kombo",
            post(
                |State(r): State<Received>, headers: HeaderMap, body: String| async move {
                    let signature = headers
                        .get("x-kombo-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    r.lock().unwrap().push((body, signature));
                    "ok"
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/kombo", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, received, task)
}

async fn sandbox() -> (KomboSandbox, RunningServer) {
    let sb = KomboSandbox::new(
        KEY,
        "personio:own",
        generate_company(5, 1, Utc::now().date_naive()),
    );
    let srv = sb.start(0).await.unwrap();
    (sb, srv)
}

fn link_body(origin: &str) -> Value {
    json!({
        "end_user_email": "admin@example.com",
        "end_user_organization_name": "Acme",
        "end_user_origin_id": origin,
        "integration_category": "HRIS",
        "integration_tool": "personio",
        "language": "de",
    })
}

async fn create_link(srv: &RunningServer, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/connect/create-link", srv.base_url))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get(srv: &RunningServer, path: &str, integration: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(format!("{}{path}", srv.base_url))
        .bearer_auth(KEY);
    if let Some(id) = integration {
        request = request.header("X-Integration-Id", id);
    }
    request.send().await.unwrap()
}

async fn choose(link: &str, action: &str) -> (StatusCode, String) {
    let (origin, token) = link.split_once("/connect?token=").unwrap();
    let response = reqwest::Client::new()
        .post(format!("{origin}/connect"))
        .form(&[("token", token), ("action", action)])
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

fn token_in(page: &str) -> String {
    let marker = "<output id=\"kombo-token\" hidden>";
    let start = page.find(marker).unwrap() + marker.len();
    page[start..][..page[start..].find('<').unwrap()].to_string()
}

fn verify(body: &str, signature: &str) {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    assert_eq!(
        signature,
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
}

#[tokio::test]
async fn create_link_validates_its_body_as_the_spec_does() {
    let (_sb, srv) = sandbox().await;
    let unauthenticated = reqwest::Client::new()
        .post(format!("{}/connect/create-link", srv.base_url))
        .json(&link_body("t"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    for (field, value) in [
        ("end_user_email", json!("not-an-email")),
        ("end_user_email", Value::Null),
        ("end_user_organization_name", json!("")),
        ("end_user_origin_id", json!("")),
        ("integration_category", json!("ATS")),
        ("integration_tool", json!("bamboohr")),
        ("language", json!("pt")),
    ] {
        let mut body = link_body("t");
        body[field] = value;
        let response = create_link(&srv, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{field}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "PLATFORM.INPUT_INVALID");
        assert!(!error.to_string().contains("admin@example.com"));
    }
    let ok: Value = create_link(&srv, &link_body("t"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok["status"], "success");
    let link = ok["data"]["link"].as_str().unwrap();
    assert!(link.starts_with(&format!("http://{}/connect?token=", srv.addr)));
}

#[tokio::test]
async fn the_page_connects_hands_the_token_to_its_opener_and_sends_integration_created() {
    let (sb, srv) = sandbox().await;
    let (url, received, task) = receiver().await;
    sb.set_webhook(Some(&url), SECRET);
    let answer: Value = create_link(&srv, &link_body("tenant-a"))
        .await
        .json()
        .await
        .unwrap();
    let link = answer["data"]["link"].as_str().unwrap();

    let page = reqwest::get(link).await.unwrap().text().await.unwrap();
    assert!(page.contains("Connect Personio"));
    assert!(page.contains(">Connect</button>") && page.contains(">Cancel</button>"));

    let (status, cancelled) = choose(link, "cancel").await;
    assert_eq!(status, StatusCode::OK);
    assert!(cancelled.contains(r#""type":"kombo-connect:cancel""#));
    assert!(cancelled.contains("window.parent.postMessage"));
    assert!(sb.webhooks_sent().is_empty(), "a cancel creates nothing");

    let (_, connected) = choose(link, "connect").await;
    assert!(connected.contains(r#""type":"kombo-connect:success""#));
    let token = token_in(&connected);
    assert!(connected.contains(&format!(r#""token":"{token}""#)));
    assert!(connected.contains("window.opener"));
    let (status, _) = choose(link, "connect").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a link is used once");

    let by_token: Value = get(
        &srv,
        &format!("/connect/integration-by-token/{token}"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let id = by_token["data"]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("personio:"));
    assert_eq!(by_token["data"]["end_user_origin_id"], "tenant-a");
    assert_eq!(by_token["data"]["setup_status"], "INCOMPLETE");
    assert_eq!(
        get(&srv, "/connect/integration-by-token/0000", None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // Delivered before the token was handed over.
    let (body, signature) = received.lock().unwrap()[0].clone();
    verify(&body, &signature);
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["type"], "integration-created");
    assert_eq!(created["data"]["id"], id.as_str());
    assert_eq!(created["data"]["tool"], "personio");
    assert_eq!(created["data"]["end_user"]["origin_id"], "tenant-a");
    assert_eq!(sb.webhooks_sent()[0].delivered, Some(200));

    // Reads wait for the setup; completing it says so in a webhook.
    let pending = get(&srv, "/hris/employees", Some(&id)).await;
    assert_eq!(pending.status(), StatusCode::CONFLICT);
    assert!(sb.set_setup_status(&id, "COMPLETED").await);
    assert_eq!(
        get(&srv, "/hris/employees", Some(&id)).await.status(),
        StatusCode::OK
    );
    let (body, signature) = received.lock().unwrap()[1].clone();
    verify(&body, &signature);
    let changed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(changed["type"], "integration-state-changed");
    assert_eq!(changed["data"]["integration_id"], id.as_str());
    assert_eq!(changed["data"]["setup_status"], "COMPLETED");
    assert_eq!(changed["data"]["state"], "ACTIVE");
    task.abort();
}

#[tokio::test]
async fn relink_reactivates_the_same_integration_and_delete_removes_it() {
    let (sb, srv) = sandbox().await;
    sb.set_webhook(None, SECRET);
    let answer: Value = create_link(&srv, &link_body("tenant-a"))
        .await
        .json()
        .await
        .unwrap();
    let token = sb
        .complete_link(answer["data"]["link"].as_str().unwrap())
        .await
        .unwrap();
    let id = sb
        .integrations()
        .into_iter()
        .find(|i| i.id != "personio:own")
        .unwrap()
        .id;
    sb.set_integration_status(&id, Some("INVALID"), Some("COMPLETED"))
        .await;
    assert_eq!(
        get(&srv, "/hris/employees", Some(&id)).await.status(),
        StatusCode::FORBIDDEN
    );
    let relink: Value = reqwest::Client::new()
        .post(format!("{}/integrations/{id}/relink", srv.base_url))
        .bearer_auth(KEY)
        .json(&json!({"language": "en"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = relink["data"]["link"].as_str().unwrap();
    let page = reqwest::get(link).await.unwrap().text().await.unwrap();
    assert!(page.contains("Reconnect Personio"));
    let (_, connected) = choose(link, "connect").await;
    let again = token_in(&connected);
    assert_ne!(again, token);
    let by_token: Value = get(
        &srv,
        &format!("/connect/integration-by-token/{again}"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(by_token["data"]["id"], id.as_str());
    let info: Value = get(&srv, &format!("/integrations/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["data"]["status"], "ACTIVE");
    assert_eq!(info["data"]["tool"]["id"], "personio");
    assert_eq!(info["data"]["end_user"]["origin_id"], "tenant-a");
    assert_eq!(sb.integrations().len(), 2, "no new integration");

    let deleted = reqwest::Client::new()
        .delete(format!("{}/integrations/{id}", srv.base_url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let missing = get(&srv, &format!("/integrations/{id}"), None).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["error"]["code"], "PLATFORM.INTEGRATION_NOT_FOUND");
    let kinds: Vec<String> = sb
        .webhooks_sent()
        .into_iter()
        .map(|w| w.event_type)
        .collect();
    assert_eq!(
        kinds,
        [
            "integration-created",
            "integration-state-changed",
            "integration-state-changed",
            "integration-deleted"
        ]
    );
}

#[tokio::test]
async fn custom_fields_come_in_pages_and_through_the_control_api() {
    let (sb, srv) = sandbox().await;
    reqwest::Client::new()
        .post(format!("http://{}/_sandbox/custom-fields", srv.addr))
        .json(&json!({"key": "shirt_size", "label": "Shirt size"}))
        .send()
        .await
        .unwrap();
    sb.add_custom_field("office_plant", "hris_locations", None);
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?page_size=1&cursor={c}"),
            None => "?page_size=1".into(),
        };
        let page: Value = get(
            &srv,
            &format!("/integrations/personio:own/custom-fields{query}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
        for field in page["data"]["results"].as_array().unwrap() {
            keys.push(format!(
                "{}/{}",
                field["model"].as_str().unwrap(),
                field["key"].as_str().unwrap()
            ));
        }
        match page["data"]["next"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(
        keys,
        [
            "hris_employees/cost_center",
            "hris_employees/shirt_size",
            "hris_locations/office_plant"
        ]
    );
    assert_eq!(
        get(
            &srv,
            "/integrations/personio:own/custom-fields?page_size=251",
            None
        )
        .await
        .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&srv, "/integrations/personio:gone/custom-fields", None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}
