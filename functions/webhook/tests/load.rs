//! A burst of 2,000 signed webhooks for four tenants, handled concurrently in-process: every one
//! is answered 200, they coalesce into one pending delta sync per tenant, and a replay of the
//! whole burst queues nothing more.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use futures::stream::{self, StreamExt};
use sync_core::coordination::InMemoryCoordination;
use sync_core::messages::SyncRequest;
use sync_core::queue::InProcessQueue;
use sync_core::webhook::kombo_signature;
use webhook_fn::handle;

const SECRET: &[u8] = b"load-kombo-webhook-secret";
const BURST: usize = 2_000;
const TENANTS: usize = 4;

fn request(event_id: &str, tenant: &str) -> LambdaFunctionUrlRequest {
    let body = serde_json::json!({
        "id": event_id, "type": "data-changed",
        "data": {"integration_id": tenant, "integration_tool": "personio",
                 "integration_category": "HRIS", "changed_models": [{"name": "hris_employees"}]}
    })
    .to_string();
    serde_json::from_value(serde_json::json!({
        "version": "2.0", "rawPath": "/webhooks/kombo", "rawQueryString": "",
        "headers": {"content-type": "application/json",
                    "x-kombo-signature": kombo_signature(SECRET, body.as_bytes())},
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/kombo",
                                    "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7"},
                           "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_2000_webhooks_coalesces_into_one_sync_per_tenant() {
    let names: Vec<String> = (0..TENANTS).map(|i| format!("personio:load-{i}")).collect();
    let tenants = webhook_fn::bench::enabled_tenants(&names).await;
    let coordination = InMemoryCoordination::default();
    let queue = InProcessQueue::<SyncRequest>::new();
    let deps = webhook_fn::bench::kombo_only(SECRET, &tenants, &coordination, &queue);
    let requests: Vec<LambdaFunctionUrlRequest> = (0..BURST)
        .map(|i| request(&format!("evt-{i}"), &names[i % TENANTS]))
        .collect();
    let burst = |requests: Vec<LambdaFunctionUrlRequest>| {
        let deps = &deps;
        stream::iter(requests)
            .map(move |r| async move { handle(r, deps).await })
            .buffer_unordered(256)
            .collect::<Vec<_>>()
    };

    let answers = burst(requests.clone()).await;
    assert!(
        answers.iter().all(|a| a.status_code == 200),
        "every webhook answered 200"
    );
    let statuses =
        |answers: &[aws_lambda_events::lambda_function_urls::LambdaFunctionUrlResponse],
         s: &str| {
            answers
                .iter()
                .filter(|a| a.body.as_deref().unwrap_or_default().contains(s))
                .count()
        };
    assert_eq!(statuses(&answers, "\"queued\""), TENANTS);
    assert_eq!(statuses(&answers, "\"coalesced\""), BURST - TENANTS);
    assert_eq!(queue.len(), TENANTS, "one pending delta sync per tenant");

    // Kombo retries the whole burst: every one is a duplicate, nothing more is queued.
    let replay = burst(requests).await;
    assert_eq!(statuses(&replay, "\"duplicate\""), BURST);
    assert_eq!(queue.len(), TENANTS);
}

#[tokio::test(flavor = "current_thread")]
async fn the_cpu_benchmark_runs_at_a_tiny_n() {
    // Not a timed test: only that the benchmark works and counts what it handled.
    let result = webhook_fn::bench::run(200).await;
    assert_eq!(result.requests, 200);
    assert_eq!(result.queued, 8, "one delta sync per tenant");
    assert!(result.cpu_seconds > 0.0 && result.requests_per_cpu_second > 0.0);
}
