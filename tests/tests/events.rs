//! The sample events in `events/` (the README's `sam remote invoke` and `cargo lambda invoke`
//! examples) are what each function really accepts: every file is fed to its handler, or to the
//! trigger parser, and must mean what its name says.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::sqs::SqsEvent;
use std::path::PathBuf;
use sync_core::coordination::InMemoryCoordination;
use sync_core::messages::{QueueMessage, SyncRequest};
use sync_core::ports::Queue;
use sync_core::queue::InProcessQueue;
use sync_core::report::SyncMode;
use sync_core::tenants::{InMemoryTenants, TenantConfig, TenantStore};
use sync_core::TenantSettings;
use sync_fn::{trigger_of, Trigger};

/// The tenant, secret and token the sample events are made for (documented in the README).
const TENANT: &str = "personio:CBNMt7dSNCzBdnRTx87dev4E";
const KOMBO_WEBHOOK_SECRET: &[u8] = b"local-kombo-webhook-secret";
const PERSONIO_TOKEN: &str = "local-personio-webhook-token";
const PERSONIO_COMPANY: &str = "123456";

fn event(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is JSON: {e}"))
}

async fn webhook(name: &str) -> (i64, Vec<SyncRequest>) {
    let tenants = InMemoryTenants::default();
    let settings = TenantSettings::new(TENANT);
    tenants
        .put_tenant(&TenantConfig {
            settings,
            learnamp_base_url: "https://api.learnamp.com".into(),
            learnamp_client_id: "client".into(),
            learnamp_client_secret_ref: "/personio-sync/tenants/acme/learnamp-client-secret".into(),
            learnamp_scope: None,
            personio_company_id: Some(PERSONIO_COMPANY.into()),
            enabled: true,
            last_event: None,
            first_import: Default::default(),
            revision: Default::default(),
            kombo: Default::default(),
        })
        .await
        .unwrap();
    let coordination = InMemoryCoordination::default();
    let queue = InProcessQueue::<SyncRequest>::new();
    let deps = webhook_fn::WebhookDeps {
        kombo_secrets: vec![KOMBO_WEBHOOK_SECRET.to_vec()],
        personio_token: Some(PERSONIO_TOKEN.into()),
        personio_header: "authorization".into(),
        personio_delta_delay_seconds: webhook_fn::DEFAULT_PERSONIO_DELTA_DELAY_SECONDS,
        tenants: &tenants,
        coordination: &coordination,
        sync_requests: &queue,
    };
    let request: LambdaFunctionUrlRequest =
        serde_json::from_value(event(name)).expect("a Function URL request");
    let response = webhook_fn::handle(request, &deps).await;
    let queued = queue
        .receive(10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.message)
        .collect();
    (response.status_code, queued)
}

#[tokio::test]
async fn the_kombo_webhook_sample_is_signed_and_queues_a_delta_sync() {
    let (status, queued) = webhook("webhook-kombo-data-changed.json").await;
    assert_eq!(status, 200);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].tenant, TENANT);
}

#[tokio::test]
async fn the_personio_webhook_sample_carries_the_token_and_queues_a_delta_sync() {
    let (status, queued) = webhook("webhook-personio.json").await;
    assert_eq!(status, 200);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].tenant, TENANT);
}

#[test]
fn the_schedule_sample_is_the_schedule_trigger() {
    assert!(matches!(
        trigger_of(event("schedule.json")),
        Ok(Trigger::Schedule { .. })
    ));
}

#[test]
fn the_sync_request_sample_is_one_delta_sync_of_the_tenant() {
    let Ok(Trigger::Queue(batch)) = trigger_of(event("sync-request.json")) else {
        panic!("a sync-request batch");
    };
    assert_eq!(batch.records.len(), 1);
    let request = sync_fn::sync_request_of(&batch.records[0]).expect("a sync request");
    assert_eq!(request.tenant, TENANT);
    assert_eq!(request.version(), 1, "the sample predates versions");
}

#[test]
fn the_invoke_samples_say_what_their_names_say() {
    let invoke = |name: &str| match trigger_of(event(name)) {
        Ok(Trigger::Invoke(request)) => request,
        other => panic!("{name} is a direct invoke: {other:?}"),
    };
    let import_all = invoke("invoke-import-all.json");
    assert_eq!(
        (
            import_all.tenant.as_str(),
            import_all.mode,
            import_all.dry_run
        ),
        (TENANT, Some(SyncMode::Full), false)
    );
    let dry_run = invoke("invoke-dry-run.json");
    assert!(dry_run.dry_run && dry_run.employee_id.is_none());
    let one = invoke("invoke-one-employee.json");
    assert_eq!(one.employee_id.as_deref(), Some("26vJNvVcEqAb3X2GZ2o8jNLL"));
    let reconcile = invoke("invoke-reconcile-dry-run.json");
    assert_eq!(
        (reconcile.mode, reconcile.dry_run),
        (Some(SyncMode::Reconcile), true)
    );
}

#[test]
fn the_changes_sample_is_a_change_message_with_its_true_hash() {
    let batch: SqsEvent = serde_json::from_value(event("changes.json")).expect("an SQS batch");
    let message = &apply_fn::change_message_of(&batch.records[0]).expect("a change message");
    assert_eq!(message.tenant, TENANT);
    assert_eq!(
        message.desired_hash,
        message.desired.state_hash(),
        "the sample's desired_hash must be the desired state's hash"
    );
}

/// The queue contract between the webhook function (producer) and the sync function
/// (consumer): what the webhook queues for each sample, serialised as the SQS adapter sends it
/// and delivered in the batch Lambda builds, is read by the sync function's own reader as
/// exactly what was queued, with the version on the wire. (Sync to apply: `apply-fn::handler
/// what_the_sync_function_queues_is_what_the_apply_function_reads`.)
#[tokio::test]
async fn what_the_webhook_function_queues_is_what_the_sync_function_reads() {
    let mut queued = Vec::new();
    for sample in ["webhook-kombo-data-changed.json", "webhook-personio.json"] {
        let (status, requests) = webhook(sample).await;
        assert_eq!((status, requests.len()), (200, 1), "{sample}");
        queued.extend(requests);
    }
    let mut batch = SqsEvent::default();
    for (i, request) in queued.iter().enumerate() {
        let body = serde_json::to_string(request).unwrap();
        let wire: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(wire["version"], SyncRequest::VERSION);
        let mut record = aws_lambda_events::sqs::SqsMessage::default();
        record.message_id = Some(format!("m-{i}"));
        record.body = Some(body);
        record.event_source = Some("aws:sqs".into());
        batch.records.push(record);
    }
    let Ok(Trigger::Queue(delivered)) = trigger_of(serde_json::to_value(&batch).unwrap()) else {
        panic!("a sync-request batch");
    };
    let read: Vec<SyncRequest> = delivered
        .records
        .iter()
        .map(|record| sync_fn::sync_request_of(record).expect("the sync function reads it"))
        .collect();
    assert_eq!(read, queued);
}
