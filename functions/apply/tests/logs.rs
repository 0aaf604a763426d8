//! The apply function's log lines carry Learn Amp ids as plain JSON numbers (never Rust's
//! `Some(1001)`), so that a log query can match them. Its own test binary: the log capture is
//! process-wide.

use apply_fn::{handle, ApplyDeps};
use chrono::{Duration, Utc};
use fn_common::testing::{sqs_event, sqs_record, TestWorld, TENANT};
use std::io::Write;
use std::sync::{Arc, Mutex};
use sync_core::ports::Queue;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn applied_changes_log_learn_amp_ids_as_numbers() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(move || writer.clone())
        .json()
        .init();

    let world = TestWorld::start(sandbox::generate_company(6, 3, Utc::now().date_naive())).await;
    let deadline = Utc::now() + Duration::minutes(5);
    sync_fn::handle(
        serde_json::json!({"tenant": TENANT}),
        deadline,
        &sync_fn::SyncDeps {
            tenants: &world.tenants,
            store: &world.store,
            coordination: &world.coordination,
            changes: &world.changes,
            sync_requests: &world.sync_requests,
            clients: &world.clients,
        },
    )
    .await
    .expect("the sync runs");
    let mut records = Vec::new();
    for (i, delivery) in world
        .changes
        .receive(usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .enumerate()
    {
        world.changes.ack(&delivery.receipt).await.unwrap();
        let mut message = delivery.message;
        // No manager to wait for: every change applies in this one batch.
        message.desired.manager_employee_id = None;
        records.push(sqs_record(
            &format!("m-{i}"),
            &serde_json::to_string(&message).unwrap(),
            1,
        ));
    }
    let response = handle(
        sqs_event(records),
        deadline.timestamp_millis(),
        &ApplyDeps {
            tenants: &world.tenants,
            store: &world.store,
            ledger: &world.ledger(),
            clients: &world.clients,
            concurrency: 4,
        },
    )
    .await;
    assert!(response.batch_item_failures.is_empty());

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let applied: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "change applied")
        .collect();
    assert!(applied.len() >= 5, "{logs}");
    for line in &applied {
        assert!(
            line["fields"]["learnamp_user_id"].is_u64(),
            "not a plain number: {line}"
        );
    }
    world.stop().await;
}
