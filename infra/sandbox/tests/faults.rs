//! Fault injection over HTTP, on both sandboxes.

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use sandbox::{generate_company, KomboSandbox, LearnAmpSandbox, RunningServer};
use serde_json::Value;

async fn kombo() -> (KomboSandbox, RunningServer) {
    let sb = KomboSandbox::new(
        "key",
        "personio:x",
        generate_company(20, 1, Utc::now().date_naive()),
    );
    let srv = sb.start(0).await.unwrap();
    (sb, srv)
}

async fn kombo_get(srv: &RunningServer) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/hris/employees", srv.base_url))
        .bearer_auth("key")
        .header("X-Integration-Id", "personio:x")
        .send()
        .await
        .unwrap()
}

async fn token(srv: &RunningServer) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/oauth/token", srv.base_url))
        .form(&[
            ("client_id", "id"),
            ("client_secret", "secret"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn random_429_with_retry_after_in_each_api_format() {
    let (sb, srv) = kombo().await;
    sb.faults().set_rate_429(1.0, Some(7));
    let resp = kombo_get(&srv).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"]["code"], "PLATFORM.RATE_LIMIT_EXCEEDED");
    // Without a configured Retry-After there is no header.
    sb.faults().set_rate_429(1.0, None);
    let resp = kombo_get(&srv).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().get("retry-after").is_none());
    // Inspection routes are never faulted.
    let state = reqwest::get(format!("http://{}/_sandbox/state", srv.addr))
        .await
        .unwrap();
    assert_eq!(state.status(), StatusCode::OK);
    sb.faults().clear();
    assert_eq!(kombo_get(&srv).await.status(), StatusCode::OK);
    assert_eq!(sb.request_count(), 3);
    srv.shutdown().await;

    let la = LearnAmpSandbox::new("id", "secret");
    let srv = la.start(0).await.unwrap();
    la.faults().set_rate_429(1.0, Some(2));
    let resp = token(&srv).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "2");
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string());
    // Faulted requests are counted.
    assert_eq!(la.calls().get("POST /oauth/token"), 1);
    srv.shutdown().await;
}

#[tokio::test]
async fn random_503_in_each_api_format() {
    let (sb, srv) = kombo().await;
    sb.faults().set_rate_5xx(1.0);
    let resp = kombo_get(&srv).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "REMOTE.SERVICE_UNAVAILABLE");
    assert!(body["error"]["message"].is_string());
    srv.shutdown().await;

    let la = LearnAmpSandbox::new("id", "secret");
    let srv = la.start(0).await.unwrap();
    la.faults().set_rate_5xx(1.0);
    let resp = token(&srv).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string());
    srv.shutdown().await;
}

#[tokio::test]
async fn seeded_faults_are_deterministic() {
    let la = LearnAmpSandbox::new("id", "secret");
    let srv = la.start(0).await.unwrap();
    let f = la.faults();
    f.set_rate_429(0.3, Some(1));
    f.set_rate_5xx(0.3);
    let mut runs = Vec::new();
    for _ in 0..2 {
        f.set_seed(99);
        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(token(&srv).await.status().as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&200));
    assert!(runs[0].contains(&429));
    assert!(runs[0].contains(&503));
    srv.shutdown().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let (sb, srv) = kombo().await;
    sb.faults().set_rate_limit(Some(2.0));
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        let resp = kombo_get(&srv).await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        }
        statuses.push(resp.status());
    }
    assert_eq!(statuses[0], StatusCode::OK);
    assert_eq!(statuses[1], StatusCode::OK);
    assert!(statuses[2..].contains(&StatusCode::TOO_MANY_REQUESTS));
    assert!(retry_after.unwrap() >= 1);
    // The bucket refills.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(kombo_get(&srv).await.status(), StatusCode::OK);
    sb.faults().set_rate_limit(None);
    for _ in 0..5 {
        assert_eq!(kombo_get(&srv).await.status(), StatusCode::OK);
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn latency_is_added() {
    let (sb, srv) = kombo().await;
    sb.faults().set_latency(Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(kombo_get(&srv).await.status(), StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(150));
    sb.faults().clear();
    srv.shutdown().await;
}

#[tokio::test]
async fn answer_time_counts_the_latency_as_slept_and_only_what_was_served() {
    let (sb, srv) = kombo().await;
    sb.faults().set_latency(Duration::from_millis(40));
    for _ in 0..2 {
        assert_eq!(kombo_get(&srv).await.status(), StatusCode::OK);
    }
    let served = sb.faults().answer_time();
    assert!(served >= Duration::from_millis(80), "{served:?}");
    assert!(served > sb.faults().service_time() + Duration::from_millis(79));
    // What is turned away is not an answer of the API.
    sb.faults().set_rate_429(1.0, Some(1));
    assert_eq!(
        kombo_get(&srv).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(sb.faults().answer_time(), served);
    sb.faults().reset_service_time();
    assert_eq!(sb.faults().answer_time(), Duration::ZERO);
    assert_eq!(sb.faults().service_time(), Duration::ZERO);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_reset_or_a_stall_comes_after_the_request_was_served() {
    let la = LearnAmpSandbox::new("id", "secret");
    let srv = la.start(0).await.unwrap();
    let token: Value = token(&srv).await.json().await.unwrap();
    let bearer = token["access_token"].as_str().unwrap().to_string();
    let create = |email: &'static str, timeout: Duration| {
        let url = format!("{}/v1/users", srv.base_url);
        let bearer = bearer.clone();
        async move {
            reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap()
                .post(url)
                .bearer_auth(bearer)
                .form(&[("email", email), ("firstName", "A"), ("lastName", "B")])
                .send()
                .await?
                .bytes()
                .await
        }
    };
    la.faults().set_rate_reset(1.0);
    let reset = create("reset@acme.example", Duration::from_secs(5)).await;
    assert!(reset.is_err(), "the answer never arrives: {reset:?}");
    la.faults().clear();
    la.faults().set_rate_stall(1.0, Duration::from_millis(600));
    let stalled = create("stall@acme.example", Duration::from_millis(200)).await;
    assert!(stalled.unwrap_err().is_timeout(), "the client times out");
    let emails: Vec<String> = la.snapshot().users.into_iter().map(|u| u.email).collect();
    assert!(
        emails.contains(&"reset@acme.example".to_string())
            && emails.contains(&"stall@acme.example".to_string()),
        "both writes happened: {emails:?}"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn the_injected_5xx_status_can_be_a_500() {
    let (sb, srv) = kombo().await;
    sb.faults().set_rate_5xx(1.0);
    sb.faults().set_5xx_status(500);
    assert_eq!(
        kombo_get(&srv).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    sb.faults().clear();
    sb.faults().set_rate_5xx(1.0);
    assert_eq!(
        kombo_get(&srv).await.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "503 by default"
    );
    srv.shutdown().await;
}
