//! The webhook handler, called with real Function URL events (as Lambda delivers them), with
//! the embedded adapters: what it answers, and what it queues.

use async_trait::async_trait;
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sync_core::coordination::InMemoryCoordination;
use sync_core::error::QueueError;
use sync_core::messages::SyncRequest;
use sync_core::ports::{Delivery, Queue};
use sync_core::queue::InProcessQueue;
use sync_core::tenants::{InMemoryTenants, TenantConfig, TenantStore};
use sync_core::webhook::kombo_signature;
use sync_core::TenantSettings;
use webhook_fn::{handle, KomboWebhookSecrets, WebhookDeps, MAX_BODY_BYTES};

/// The secret Kombo signs with, unless a test rotates it.
const SECRET: &[u8] = b"kombo-webhook-secret";
/// The secret a rotation moves to.
const NEW_SECRET: &[u8] = b"the-new-secret";
const TENANT: &str = "personio:CBNMt7dSNCzBdnRTx87dev4E";

struct World {
    tenants: InMemoryTenants,
    coordination: InMemoryCoordination,
    queue: InProcessQueue<SyncRequest>,
}

impl World {
    async fn new() -> Self {
        let tenants = InMemoryTenants::default();
        tenants
            .put_tenant(&TenantConfig {
                settings: TenantSettings::new(TENANT),
                learnamp_base_url: "https://api.learnamp.com".into(),
                learnamp_client_id: "id".into(),
                learnamp_client_secret_ref: "/personio-sync/acme/learnamp-secret".into(),
                learnamp_scope: None,
                personio_company_id: Some("12345".into()),
                enabled: true,
                last_event: None,
                first_import: Default::default(),
                revision: Default::default(),
                kombo: Default::default(),
            })
            .await
            .unwrap();
        Self {
            tenants,
            coordination: InMemoryCoordination::default(),
            queue: InProcessQueue::new(),
        }
    }

    fn deps(&self) -> WebhookDeps<'_> {
        WebhookDeps {
            kombo_secrets: vec![SECRET.to_vec()],
            personio_token: Some("Bearer personio-token".into()),
            personio_header: "authorization".into(),
            personio_delta_delay_seconds: 0,
            tenants: &self.tenants,
            coordination: &self.coordination,
            sync_requests: &self.queue,
        }
    }

    async fn call(&self, request: LambdaFunctionUrlRequest) -> (i64, String) {
        let response = handle(request, &self.deps()).await;
        let body: serde_json::Value =
            serde_json::from_str(response.body.as_deref().unwrap()).unwrap();
        (
            response.status_code,
            body["status"].as_str().unwrap().to_string(),
        )
    }
}

/// A Function URL event as Lambda delivers it.
fn request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    base64: bool,
) -> LambdaFunctionUrlRequest {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    let body = if base64 {
        STANDARD.encode(body)
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    serde_json::from_value(serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.eu-central-1.on.aws",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7", "userAgent": "Kombo-Webhooks"},
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": "$default",
            "time": "22/Nov/2026:05:00:00 +0000",
            "timeEpoch": 1795324800000_i64
        },
        "body": body,
        "isBase64Encoded": base64
    }))
    .unwrap()
}

fn data_changed(id: &str, tenant: &str) -> Vec<u8> {
    data_changed_models(id, tenant, &["hris_employees"])
}

fn data_changed_models(id: &str, tenant: &str, models: &[&str]) -> Vec<u8> {
    let models: Vec<serde_json::Value> = models
        .iter()
        .map(|m| serde_json::json!({ "name": m }))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "id": id,
        "type": "data-changed",
        "data": {"integration_id": tenant, "integration_tool": "personio", "integration_category": "HRIS",
                 "changed_models": models}
    }))
    .unwrap()
}

fn signed(body: &[u8]) -> String {
    kombo_signature(SECRET, body)
}

fn kombo(body: &[u8], signature: &str) -> LambdaFunctionUrlRequest {
    request(
        "POST",
        "/kombo",
        &[
            ("content-type", "application/json"),
            ("x-kombo-signature", signature),
        ],
        body,
        true,
    )
}

#[tokio::test]
async fn a_signed_data_changed_event_queues_one_delta_sync() {
    let world = World::new().await;
    let body = data_changed("evt-1", TENANT);
    assert_eq!(
        world.call(kombo(&body, &signed(&body))).await,
        (200, "queued".into())
    );
    assert_eq!(world.queue.len(), 1);
    // A replay of the same event is acknowledged and deduplicated.
    assert_eq!(
        world.call(kombo(&body, &signed(&body))).await,
        (200, "duplicate".into())
    );
    assert_eq!(world.queue.len(), 1);
}

/// Kombo's `updated_after` on employees moves when their employments, legal entity or work
/// location change, so those models need a delta as much as the employees' own.
#[tokio::test]
async fn only_changes_to_models_the_sync_reads_queue_a_delta() {
    for model in [
        "hris_employments",
        "hris_legal_entities",
        "hris_locations",
        "hris_teams",
        "hris_join_employees_teams",
    ] {
        let world = World::new().await;
        let body = data_changed_models("evt-feeds", TENANT, &[model]);
        assert_eq!(
            world.call(kombo(&body, &signed(&body))).await,
            (200, "queued".into()),
            "{model}"
        );
        assert_eq!(world.queue.len(), 1, "{model}");
    }
    for model in [
        "hris_absences",
        "hris_absence_types",
        "hris_time_off_balances",
        "hris_timesheets",
        "hris_performance_reviews",
        "hris_employee_document_categories",
    ] {
        let world = World::new().await;
        let body = data_changed_models("evt-unread", TENANT, &[model]);
        assert_eq!(
            world.call(kombo(&body, &signed(&body))).await,
            (200, "ignored".into()),
            "{model}"
        );
        assert_eq!(world.queue.len(), 0, "{model}");
    }
}

#[tokio::test]
async fn a_burst_coalesces_into_one_pending_sync() {
    let world = World::new().await;
    for i in 0..50 {
        let body = data_changed(&format!("evt-{i}"), TENANT);
        let (status, _) = world.call(kombo(&body, &signed(&body))).await;
        assert_eq!(status, 200);
    }
    assert_eq!(world.queue.len(), 1, "fifty events, one pending delta sync");
}

#[tokio::test]
async fn rejected_requests_queue_nothing() {
    let world = World::new().await;
    let body = data_changed("evt-1", TENANT);
    // Wrong secret, missing signature, the signature of another body.
    assert_eq!(
        world
            .call(kombo(&body, &kombo_signature(b"wrong", &body)))
            .await
            .0,
        401
    );
    assert_eq!(
        world
            .call(request(
                "POST",
                "/kombo",
                &[("content-type", "application/json")],
                &body,
                false
            ))
            .await
            .0,
        401
    );
    assert_eq!(
        world
            .call(kombo(&body, &signed(&data_changed("evt-2", TENANT))))
            .await
            .0,
        401
    );
    // A signature over re-serialised JSON, not the raw bytes.
    let pretty =
        serde_json::to_vec_pretty(&serde_json::from_slice::<serde_json::Value>(&body).unwrap())
            .unwrap();
    assert_eq!(world.call(kombo(&body, &signed(&pretty))).await.0, 401);
    // Signed, but not JSON.
    let truncated = &body[..body.len() - 5];
    assert_eq!(
        world.call(kombo(truncated, &signed(truncated))).await,
        (400, "malformed".into())
    );
    // Too large, wrong method, wrong path.
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(world.call(kombo(&huge, &signed(&huge))).await.0, 413);
    assert_eq!(
        world
            .call(request("GET", "/kombo", &[], b"", false))
            .await
            .0,
        405
    );
    assert_eq!(
        world
            .call(request("POST", "/elsewhere", &[], b"", false))
            .await
            .0,
        404
    );
    assert_eq!(world.queue.len(), 0);
}

/// The secrets as the parameter holds them: `NEW_SECRET` on the first line during the rotation,
/// alone after it.
fn rotation(parameter: &str) -> Vec<Vec<u8>> {
    KomboWebhookSecrets::parse(parameter).unwrap().accepted()
}

#[tokio::test]
async fn the_previous_secret_still_works_during_a_rotation() {
    let world = World::new().await;
    let during = WebhookDeps {
        kombo_secrets: rotation("the-new-secret\nkombo-webhook-secret"),
        ..world.deps()
    };
    let body = data_changed("evt-rot-old", TENANT);
    let with_old = kombo_signature(SECRET, &body);
    let answer = handle(kombo(&body, &with_old), &during).await;
    assert_eq!(answer.status_code, 200, "Kombo has not switched yet");
    assert_eq!(world.queue.len(), 1);

    // Once the rotation is over, the old secret is refused.
    let after = WebhookDeps {
        kombo_secrets: rotation("the-new-secret"),
        ..world.deps()
    };
    let body = data_changed("evt-rot-after", TENANT);
    let answer = handle(kombo(&body, &kombo_signature(SECRET, &body)), &after).await;
    assert_eq!(answer.status_code, 401);
}

#[tokio::test]
async fn the_new_secret_works_during_a_rotation() {
    let world = World::new().await;
    let during = WebhookDeps {
        kombo_secrets: rotation("the-new-secret\nkombo-webhook-secret"),
        ..world.deps()
    };
    let body = data_changed("evt-rot-new", TENANT);
    let with_new = kombo_signature(NEW_SECRET, &body);
    let answer = handle(kombo(&body, &with_new), &during).await;
    assert_eq!(answer.status_code, 200, "Kombo has switched");
    assert_eq!(world.queue.len(), 1);
    // Before the rotation, the new secret is not yet accepted.
    let body = data_changed("evt-rot-early", TENANT);
    let with_new = kombo_signature(NEW_SECRET, &body);
    assert_eq!(world.call(kombo(&body, &with_new)).await.0, 401);
}

#[tokio::test]
async fn unknown_tenants_other_types_and_lifecycle_events() {
    let world = World::new().await;
    let body = data_changed("evt-x", "personio:someone-else");
    assert_eq!(
        world.call(kombo(&body, &signed(&body))).await,
        (200, "unknown_tenant".into())
    );
    let body = serde_json::to_vec(&serde_json::json!({"id": "evt-s", "type": "sync-finished", "data": {"integration_id": TENANT}})).unwrap();
    assert_eq!(
        world.call(kombo(&body, &signed(&body))).await,
        (200, "ignored".into())
    );
    assert_eq!(world.queue.len(), 0);

    let body = serde_json::to_vec(
        &serde_json::json!({"id": "evt-st", "type": "integration-state-changed",
        "data": {"integration_id": TENANT, "state": "INVALID", "setup_status": "COMPLETED",
                 "end_user": {"origin_id": "36123", "creator_email": "admin@acme.example",
                              "organization_name": "Acme, Inc."}}}),
    )
    .unwrap();
    assert_eq!(
        world.call(kombo(&body, &signed(&body))).await,
        (200, "recorded".into())
    );
    let tenant = world.tenants.tenant(TENANT).await.unwrap().unwrap();
    let event = tenant.last_event.unwrap();
    assert_eq!(
        (event.event_type.as_str(), event.data["state"].as_str()),
        ("integration-state-changed", Some("INVALID"))
    );
    assert!(
        !event.data.to_string().contains("admin@acme.example"),
        "the end user's email is not stored: {}",
        event.data
    );
}

#[tokio::test]
async fn personio_webhooks_need_the_token_and_map_to_the_tenant() {
    let world = World::new().await;
    let body = br#"{"company_id": "12345", "event_name": "person.updated", "occurred_at": "2026-11-22T05:00:00Z", "payload": {"id": "abc"}}"#;
    let call = |token: &'static str| {
        request(
            "POST",
            "/personio",
            &[
                ("content-type", "application/json"),
                ("authorization", token),
            ],
            body,
            false,
        )
    };
    assert_eq!(world.call(call("Bearer wrong")).await.0, 401);
    assert_eq!(world.call(call("")).await.0, 401);
    assert_eq!(world.queue.len(), 0);
    assert_eq!(
        world.call(call("Bearer personio-token")).await,
        (200, "queued".into())
    );
    assert_eq!(
        world.call(call("Bearer personio-token")).await,
        (200, "duplicate".into()),
        "a retried delivery"
    );
    // Personio's envelope has no id: a redelivery serialised otherwise, with other delivery
    // details in `meta`, is the same event.
    let redelivered = br#"{"meta": {"attempt": 2}, "payload": {"id": "abc"}, "occurred_at": "2026-11-22T05:00:00Z",
        "event_name": "person.updated", "company_id": "12345"}"#;
    let r = request(
        "POST",
        "/personio",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer personio-token"),
        ],
        redelivered,
        false,
    );
    assert_eq!(world.call(r).await, (200, "duplicate".into()));
    let other = br#"{"company_id": "12345", "event_name": "absence-period.created", "occurred_at": "2026-11-22T05:00:00Z", "payload": {}}"#;
    let r = request(
        "POST",
        "/personio",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer personio-token"),
        ],
        other,
        false,
    );
    assert_eq!(world.call(r).await, (200, "ignored".into()));
    let delivered = sync_core::ports::Queue::receive(&world.queue, 10)
        .await
        .unwrap();
    assert_eq!(delivered[0].message.tenant, TENANT);
}

/// Personio documents no content type and retries only timeouts and 5xx: a 4xx for the header
/// would lose the event for good. The body is verified and read as JSON whatever it says.
#[tokio::test]
async fn deliveries_are_read_as_json_whatever_their_content_type() {
    let personio = br#"{"company_id": "12345", "event_name": "employment.updated", "occurred_at": "2026-11-22T05:00:00Z", "payload": {"id": "abc"}}"#;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let world = World::new().await;
        let mut headers = vec![("authorization", "Bearer personio-token")];
        headers.extend(content_type.map(|t| ("content-type", t)));
        let r = request("POST", "/personio", &headers, personio, false);
        assert_eq!(
            world.call(r).await,
            (200, "queued".into()),
            "Personio, content type {content_type:?}"
        );
        assert_eq!(world.queue.len(), 1);
    }

    let world = World::new().await;
    let body = data_changed("evt-text", TENANT);
    let text = request(
        "POST",
        "/kombo",
        &[
            ("content-type", "text/plain; charset=utf-8"),
            ("x-kombo-signature", &signed(&body)),
        ],
        &body,
        true,
    );
    assert_eq!(world.call(text).await, (200, "queued".into()));
    assert_eq!(world.queue.len(), 1);

    // Still verified first, and still JSON or 400.
    let world = World::new().await;
    let forged = request(
        "POST",
        "/kombo",
        &[
            ("content-type", "text/plain"),
            ("x-kombo-signature", &kombo_signature(b"wrong", &body)),
        ],
        &body,
        false,
    );
    assert_eq!(world.call(forged).await.0, 401);
    let truncated = &body[..body.len() - 5];
    let r = request(
        "POST",
        "/kombo",
        &[("x-kombo-signature", &signed(truncated))],
        truncated,
        false,
    );
    assert_eq!(world.call(r).await, (400, "malformed".into()));
    let r = request(
        "POST",
        "/personio",
        &[
            ("content-type", "text/plain"),
            ("authorization", "Bearer personio-token"),
        ],
        b"company_id=12345",
        false,
    );
    assert_eq!(world.call(r).await, (400, "malformed".into()));
    assert_eq!(world.queue.len(), 0);
}

/// A queue that remembers the delay each message was sent with.
#[derive(Default)]
struct DelayRecordingQueue {
    sent: std::sync::Mutex<Vec<(String, u32)>>,
}

#[async_trait]
impl Queue<SyncRequest> for DelayRecordingQueue {
    async fn send_batch(&self, messages: Vec<SyncRequest>) -> Result<(), QueueError> {
        self.send_delayed(messages, 0).await
    }
    async fn send_delayed(
        &self,
        messages: Vec<SyncRequest>,
        delay_seconds: u32,
    ) -> Result<(), QueueError> {
        let mut sent = self.sent.lock().unwrap();
        sent.extend(messages.into_iter().map(|m| (m.tenant, delay_seconds)));
        Ok(())
    }
    async fn receive(&self, _max: usize) -> Result<Vec<Delivery<SyncRequest>>, QueueError> {
        Ok(Vec::new())
    }
    async fn ack(&self, _receipt: &str) -> Result<(), QueueError> {
        Ok(())
    }
    async fn retry_later(&self, _receipt: &str) -> Result<(), QueueError> {
        Ok(())
    }
}

/// Kombo sees a Personio change only after its own sync of Personio: the delta a Personio
/// webhook asks for waits, and still coalesces; Kombo's own `data-changed` runs at once.
#[tokio::test]
async fn a_personio_webhook_queues_its_delta_delayed_and_a_kombo_one_at_once() {
    let personio = br#"{"company_id": "12345", "event_name": "person.updated", "occurred_at": "2026-11-22T05:00:00Z", "payload": {"id": "abc"}}"#;
    let personio = || {
        request(
            "POST",
            "/personio",
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer personio-token"),
            ],
            personio,
            false,
        )
    };

    let world = World::new().await;
    let queue = DelayRecordingQueue::default();
    let deps = WebhookDeps {
        sync_requests: &queue,
        personio_delta_delay_seconds: 120,
        ..world.deps()
    };
    assert_eq!(handle(personio(), &deps).await.status_code, 200);
    // A Kombo event while the delayed delta is pending coalesces into it.
    let body = data_changed("evt-during-the-delay", TENANT);
    let answer = handle(kombo(&body, &signed(&body)), &deps).await;
    assert!(answer.body.unwrap().contains("coalesced"));
    assert_eq!(*queue.sent.lock().unwrap(), vec![(TENANT.to_string(), 120)]);

    let world = World::new().await;
    let queue = DelayRecordingQueue::default();
    let deps = WebhookDeps {
        sync_requests: &queue,
        personio_delta_delay_seconds: 120,
        ..world.deps()
    };
    let body = data_changed("evt-now", TENANT);
    let answer = handle(kombo(&body, &signed(&body)), &deps).await;
    assert!(answer.body.unwrap().contains("queued"));
    assert_eq!(*queue.sent.lock().unwrap(), vec![(TENANT.to_string(), 0)]);
    // A later Personio webhook coalesces into the delta already pending.
    let answer = handle(personio(), &deps).await;
    assert!(answer.body.unwrap().contains("coalesced"));
    assert_eq!(queue.sent.lock().unwrap().len(), 1);
}

/// A queue that refuses every message while `down` is set.
#[derive(Default)]
struct FlakyQueue {
    down: std::sync::atomic::AtomicBool,
    inner: InProcessQueue<SyncRequest>,
}

#[async_trait]
impl Queue<SyncRequest> for FlakyQueue {
    async fn send_batch(&self, messages: Vec<SyncRequest>) -> Result<(), QueueError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(QueueError::Unavailable("SQS is down".into()));
        }
        self.inner.send_batch(messages).await
    }
    async fn receive(&self, max: usize) -> Result<Vec<Delivery<SyncRequest>>, QueueError> {
        self.inner.receive(max).await
    }
    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(receipt).await
    }
    async fn retry_later(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.retry_later(receipt).await
    }
}

#[tokio::test]
async fn a_webhook_that_could_not_be_queued_is_queued_when_retried() {
    let world = World::new().await;
    let queue = FlakyQueue::default();
    let deps = WebhookDeps {
        sync_requests: &queue,
        ..world.deps()
    };
    let body = data_changed("evt-down", TENANT);
    queue.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let response = handle(kombo(&body, &signed(&body)), &deps).await;
    assert_eq!(response.status_code, 503, "the sender retries a 5xx");
    assert_eq!(queue.inner.len(), 0);

    // Neither a duplicate nor coalesced into a sync that was never queued.
    queue.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let response = handle(kombo(&body, &signed(&body)), &deps).await;
    assert_eq!(response.status_code, 200);
    assert!(response.body.unwrap().contains("queued"));
    assert_eq!(queue.inner.len(), 1);
}
