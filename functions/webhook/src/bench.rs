//! The webhook handler's cost per request, on one core: verify the signature, parse, dedupe,
//! coalesce and enqueue to an in-process queue, for signed Kombo `data-changed` events with
//! distinct ids across a few tenants. CPU time is the thread's own (`CLOCK_THREAD_CPUTIME_ID`)
//! on a single-threaded runtime, so other work on the machine does not count; throughput is
//! requests over that CPU time. `cargo run --release -p webhook-fn --example bench`.

use crate::{handle, WebhookDeps};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use serde::Serialize;
use sync_core::coordination::InMemoryCoordination;
use sync_core::messages::SyncRequest;
use sync_core::queue::InProcessQueue;
use sync_core::tenants::{InMemoryTenants, TenantConfig, TenantStore};
use sync_core::webhook::kombo_signature;
use sync_core::TenantSettings;

const SECRET: &[u8] = b"bench-kombo-webhook-secret";
const TENANTS: usize = 8;

#[derive(Debug, Serialize)]
pub struct WebhookBench {
    pub requests: usize,
    pub cpu_seconds: f64,
    pub cpu_microseconds_per_request: f64,
    pub requests_per_cpu_second: f64,
    pub queued: usize,
    pub target_microseconds_per_request: f64,
}

fn thread_cpu_seconds() -> f64 {
    sync_core::cpu::thread_cpu_time()
        .expect("the thread CPU clock is readable")
        .as_secs_f64()
}

fn request(i: usize) -> LambdaFunctionUrlRequest {
    let body = format!(
        r#"{{"id":"evt-{i}","type":"data-changed","data":{{"integration_id":"personio:bench-{}","integration_tool":"personio","integration_category":"HRIS","changed_models":[{{"name":"hris_employees"}}]}}}}"#,
        i % TENANTS
    );
    let mut request = LambdaFunctionUrlRequest::default();
    request.raw_path = Some("/webhooks/kombo".into());
    request.request_context.http.method = Some("POST".into());
    request
        .headers
        .insert("content-type", "application/json".parse().unwrap());
    request.headers.insert(
        "x-kombo-signature",
        kombo_signature(SECRET, body.as_bytes()).parse().unwrap(),
    );
    request.body = Some(body);
    request
}

/// An embedded tenant store with these tenants registered and enabled (for benchmarks and load
/// tests of the handler).
pub async fn enabled_tenants(names: &[String]) -> InMemoryTenants {
    let tenants = InMemoryTenants::default();
    for name in names {
        tenants
            .put_tenant(&TenantConfig {
                settings: TenantSettings::new(name),
                learnamp_base_url: "https://api.learnamp.com".into(),
                learnamp_client_id: "id".into(),
                learnamp_client_secret_ref: "/personio-sync/bench/secret".into(),
                learnamp_scope: None,
                personio_company_id: None,
                enabled: true,
                last_event: None,
                first_import: Default::default(),
                revision: Default::default(),
                kombo: Default::default(),
            })
            .await
            .expect("in memory");
    }
    tenants
}

/// The handler's dependencies for Kombo webhooks signed with `secret` (no Personio webhooks).
pub fn kombo_only<'a>(
    secret: &[u8],
    tenants: &'a dyn TenantStore,
    coordination: &'a dyn sync_core::coordination::Coordination,
    sync_requests: &'a dyn sync_core::ports::Queue<SyncRequest>,
) -> WebhookDeps<'a> {
    WebhookDeps {
        kombo_secrets: vec![secret.to_vec()],
        personio_token: None,
        personio_header: "authorization".into(),
        personio_delta_delay_seconds: 0,
        tenants,
        coordination,
        sync_requests,
    }
}

/// Handles `requests` webhooks one after another on the calling thread's runtime.
pub async fn run(requests: usize) -> WebhookBench {
    let names: Vec<String> = (0..TENANTS)
        .map(|t| format!("personio:bench-{t}"))
        .collect();
    let tenants = enabled_tenants(&names).await;
    let coordination = InMemoryCoordination::default();
    let queue = InProcessQueue::<SyncRequest>::new();
    let deps = kombo_only(SECRET, &tenants, &coordination, &queue);
    // Built beforehand: the sender's work, not the handler's.
    let prepared: Vec<LambdaFunctionUrlRequest> = (0..requests).map(request).collect();
    let started = thread_cpu_seconds();
    for r in prepared {
        let answer = handle(r, &deps).await;
        assert_eq!(answer.status_code, 200);
    }
    let cpu_seconds = thread_cpu_seconds() - started;
    WebhookBench {
        requests,
        cpu_seconds,
        cpu_microseconds_per_request: cpu_seconds * 1e6 / requests.max(1) as f64,
        requests_per_cpu_second: requests as f64 / cpu_seconds.max(f64::EPSILON),
        queued: queue.len(),
        target_microseconds_per_request: 50.0,
    }
}
