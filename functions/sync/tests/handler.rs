//! The sync handler, called with the events Lambda delivers (an EventBridge scheduled event, a
//! sync-request SQS batch, a direct-invoke payload), over the sandboxes and embedded adapters.

use chrono::{Duration, Utc};
use fn_common::testing::{scheduled_event, sqs_event, sqs_record, CapturedLogs, TestWorld, TENANT};
use sync_core::coordination::Coordination;
use sync_core::messages::SyncRequest;
use sync_core::ports::{Queue, StateStore};
use sync_core::tenants::TenantStore;
use sync_fn::{handle, SyncDeps};

async fn world() -> TestWorld {
    let today = Utc::now().date_naive();
    TestWorld::start(sandbox::generate_company(12, 3, today)).await
}

fn deps(world: &TestWorld) -> SyncDeps<'_> {
    SyncDeps {
        tenants: &world.tenants,
        store: &world.store,
        coordination: &world.coordination,
        changes: &world.changes,
        sync_requests: &world.sync_requests,
        clients: &world.clients,
    }
}

fn deadline() -> chrono::DateTime<Utc> {
    Utc::now() + Duration::minutes(14)
}

/// The handler's answer, or its error as the runtime reports it.
async fn invoke(
    world: &TestWorld,
    payload: serde_json::Value,
) -> Result<serde_json::Value, String> {
    handle(payload, deadline(), &deps(world))
        .await
        .map_err(|e| e.to_string())
}

/// Hands the queued sync requests to the handler, as the event source mapping would.
async fn drain_sync_requests(world: &TestWorld) -> serde_json::Value {
    let deliveries = world.sync_requests.receive(usize::MAX).await.unwrap();
    let records = deliveries
        .iter()
        .enumerate()
        .map(|(i, d)| {
            sqs_record(
                &format!("r-{i}"),
                &serde_json::to_string(&d.message).unwrap(),
                1,
            )
        })
        .collect();
    for d in &deliveries {
        world.sync_requests.ack(&d.receipt).await.unwrap();
    }
    invoke(world, serde_json::to_value(sqs_event(records)).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_schedule_queues_a_full_sync_of_every_enabled_tenant() {
    let world = world().await;
    let mut disabled = world.tenant_config("personio:disabled");
    disabled.enabled = false;
    world.tenants.put_tenant(&disabled).await.unwrap();

    let answer = invoke(&world, scheduled_event()).await.unwrap();
    assert_eq!(
        answer["queued"],
        serde_json::json!([TENANT]),
        "only the enabled tenant"
    );
    assert_eq!(world.sync_requests.len(), 1, "one request per tenant");
    assert!(world.changes.is_empty(), "the schedule itself runs nothing");

    // The request runs the tenant's full sync in an invocation of its own.
    let answer = drain_sync_requests(&world).await;
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer}"
    );
    let stored = world.store.reports(TENANT, 5).await.unwrap();
    assert_eq!(stored.len(), 1, "the run report is stored");
    assert_eq!(stored[0].mode, sync_core::report::SyncMode::Full);
    assert_eq!(stored[0].trigger, sync_core::report::RunTrigger::Schedule);
    assert!(stored[0].queued >= 8, "the first run queues the company");
    assert_eq!(
        stored[0].queued as usize,
        world.changes.len(),
        "one message per change"
    );
    world.stop().await;
}

#[tokio::test]
async fn a_direct_invoke_returns_the_report_and_a_dry_run_changes_nothing() {
    let world = world().await;
    let dry = invoke(
        &world,
        serde_json::json!({"tenant": TENANT, "mode": "full", "dry_run": true}),
    )
    .await
    .unwrap();
    assert_eq!(dry["dry_run"], true);
    assert!(dry["counts"]["created"].as_u64().unwrap() >= 8, "{dry}");
    assert!(world.changes.is_empty(), "a dry run queues nothing");
    assert!(world.store.reports(TENANT, 5).await.unwrap().is_empty());
    assert!(
        world.learnamp.snapshot().teams.is_empty(),
        "nor creates teams"
    );

    // "Import all from Personio": the mode defaults to full.
    let report = invoke(&world, serde_json::json!({"tenant": TENANT}))
        .await
        .unwrap();
    assert_eq!(report["mode"], "full");
    assert_eq!(report["dry_run"], false);
    assert_eq!(
        report["queued"].as_u64().unwrap() as usize,
        world.changes.len()
    );
    assert_eq!(report["queued"], dry["counts"]["created"]);
    world.stop().await;
}

#[tokio::test]
async fn an_invoke_for_one_employee_queues_only_that_employee() {
    let world = world().await;
    let employee = world.kombo.employees()[5].id.clone();
    let report = invoke(
        &world,
        serde_json::json!({"tenant": TENANT, "employee_id": employee}),
    )
    .await
    .unwrap();
    assert!(report["queued"].as_u64().unwrap() <= 1, "{report}");
    let actions = report["actions"].as_array().unwrap();
    assert!(
        actions
            .iter()
            .all(|a| a["employee_id"] == employee.as_str()),
        "{report}"
    );
    world.stop().await;
}

#[tokio::test]
async fn a_bad_invoke_names_what_to_fix() {
    let world = world().await;
    let unknown = invoke(&world, serde_json::json!({"tenant": "personio:nobody"}))
        .await
        .unwrap_err();
    assert!(
        unknown.contains("unknown tenant personio:nobody"),
        "{unknown}"
    );
    let shapeless = invoke(&world, serde_json::json!({"mode": "full"}))
        .await
        .unwrap_err();
    assert!(shapeless.contains("\"tenant\""), "{shapeless}");
    let bad_mode = invoke(
        &world,
        serde_json::json!({"tenant": TENANT, "mode": "everything"}),
    )
    .await
    .unwrap_err();
    // It names the field and what it takes, never the value sent (decode errors quote none).
    assert!(
        bad_mode.contains("`mode`") && bad_mode.contains("`reconcile`"),
        "{bad_mode}"
    );
    assert!(world.changes.is_empty());
    world.stop().await;
}

#[tokio::test]
async fn a_sync_request_runs_a_delta_and_a_busy_tenant_is_asked_again_later() {
    let world = world().await;
    invoke(&world, serde_json::json!({"tenant": TENANT}))
        .await
        .unwrap();
    let first = world.changes.len();
    // Someone who manages nobody: Kombo re-sends a manager's reports, whose embedded manager
    // changed too.
    let employees = world.kombo.employees();
    let employee = employees
        .iter()
        .find(|e| {
            !employees
                .iter()
                .any(|r| r.manager_id.as_ref() == Some(&e.id))
        })
        .unwrap()
        .id
        .clone();
    world
        .kombo
        .update_employee(&employee, |e| e.job_title = Some("Delta Tester".into()));

    let request = serde_json::to_string(&SyncRequest::delta(TENANT, "evt-1")).unwrap();
    let event = sqs_event(vec![sqs_record("m-1", &request, 1)]);
    let answer = invoke(&world, serde_json::to_value(&event).unwrap())
        .await
        .unwrap();
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer}"
    );
    let reports = world.store.reports(TENANT, 1).await.unwrap();
    assert_eq!(reports[0].mode, sync_core::report::SyncMode::Delta);
    assert_eq!(reports[0].actions.len(), 1);
    assert_eq!(reports[0].actions[0].employee_id, employee);
    assert_eq!(
        world.changes.len(),
        first + 1,
        "exactly the changed employee is queued"
    );

    // Another run holds the tenant: the request is sent again, a minute later, to run after it
    // (handed back, it would wait out the queue's 90-minute visibility timeout).
    assert!(world
        .coordination
        .lock_run(TENANT, "another-run", Utc::now(), deadline())
        .await
        .unwrap());
    let runs_before = world.store.reports(TENANT, 10).await.unwrap().len();
    let event = sqs_event(vec![sqs_record("m-2", &request, 1)]);
    let answer = invoke(&world, serde_json::to_value(&event).unwrap())
        .await
        .unwrap();
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]));
    let again = world.sync_requests.receive(10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].message, SyncRequest::delta(TENANT, "evt-1"));
    assert_eq!(
        world.store.reports(TENANT, 10).await.unwrap().len(),
        runs_before,
        "no run while the tenant is busy"
    );
    world.stop().await;
}

#[tokio::test]
async fn a_broken_personio_connection_says_who_must_act_and_is_recorded_on_the_tenant() {
    let world = world().await;
    world.kombo.set_connection_broken(true);
    let err = invoke(&world, serde_json::json!({"tenant": TENANT}))
        .await
        .unwrap_err();
    assert!(
        err.contains("must reconnect Personio") && !err.contains("KOMBO_API_KEY"),
        "{err}"
    );
    let tenant = world.tenants.tenant(TENANT).await.unwrap().unwrap();
    assert_eq!(
        tenant.last_event.map(|e| e.event_type).as_deref(),
        Some(sync_fn::CONNECTION_BROKEN)
    );
    assert!(world.changes.is_empty());
    // Reconnected: the next run reads Kombo again and says so on the tenant.
    world.kombo.set_connection_broken(false);
    invoke(&world, serde_json::json!({"tenant": TENANT}))
        .await
        .unwrap();
    let tenant = world.tenants.tenant(TENANT).await.unwrap().unwrap();
    assert_eq!(
        tenant.last_event.map(|e| e.event_type).as_deref(),
        Some(sync_fn::CONNECTION_RESTORED)
    );
    world.stop().await;
}

/// A request of a version this build does not read (a newer webhook function deployed first) is
/// handed back on every delivery, the last included, so that SQS moves it to the dead-letter
/// queue after `maxReceiveCount`, to replay once this side reads it; the log names the versions
/// and not the body. A request queued before messages were versioned is version 1, and runs.
#[tokio::test]
async fn a_request_of_an_unknown_version_goes_to_the_dead_letter_queue_and_one_without_a_version_runs(
) {
    let world = world().await;
    let mut newer = serde_json::to_value(SyncRequest::delta(TENANT, "evt-v2")).unwrap();
    newer["version"] = 2.into();
    newer["requested_by"] = "ada.lovelace@example.test".into();
    let unversioned = serde_json::json!({"tenant": TENANT, "event_id": "evt-before-versions"});

    let logs = CapturedLogs::start();
    for receive_count in [1, 3] {
        let event = sqs_event(vec![
            sqs_record("v2", &newer.to_string(), receive_count),
            sqs_record("unversioned", &unversioned.to_string(), receive_count),
        ]);
        let answer = invoke(&world, serde_json::to_value(&event).unwrap())
            .await
            .unwrap();
        assert_eq!(
            answer["batchItemFailures"],
            serde_json::json!([{"itemIdentifier": "v2"}]),
            "receive {receive_count}: {answer}"
        );
    }
    let text = logs.text();
    assert!(
        text.contains("sync request of version 2: this build reads version 1"),
        "{text}"
    );
    assert!(
        !text.contains("ada.lovelace"),
        "the body is not logged: {text}"
    );
    let reports = world.store.reports(TENANT, 10).await.unwrap();
    assert_eq!(
        reports.len(),
        2,
        "the unversioned request ran at each delivery, the other never"
    );
    assert!(
        reports
            .iter()
            .all(|r| r.trigger == sync_core::report::RunTrigger::Webhook),
        "a request without a trigger is a webhook's"
    );
    world.stop().await;
}
