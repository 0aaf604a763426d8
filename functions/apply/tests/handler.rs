//! The apply handler, called with SQS batches as the event source mapping delivers them, over
//! the sandboxes and embedded adapters: concurrent records, per-record errors and panics, and
//! `batchItemFailures` for retryable failures only.

use apply_fn::{handle, ApplyDeps};
use async_trait::async_trait;
use aws_lambda_events::sqs::SqsBatchResponse;
use chrono::{Duration, Utc};
use fn_common::testing::{sqs_event, sqs_record, CapturedLogs, TestWorld, TENANT};
use fn_common::{ClientFactory, ClientsError, TenantClients};
use sync_core::idempotency::{ChangeKey, ChangeLedger};
use sync_core::messages::{ChangeMessage, QueueMessage};
use sync_core::ports::{Queue, StateStore};
use sync_core::tenants::{TenantConfig, TenantStore};

const PANICKING_TENANT: &str = "personio:panics";

/// The real clients, except that building them for one tenant panics.
struct PanicsForOneTenant<'a>(&'a dyn ClientFactory);

#[async_trait]
impl ClientFactory for PanicsForOneTenant<'_> {
    async fn clients(&self, tenant: &TenantConfig) -> Result<TenantClients, ClientsError> {
        assert_ne!(tenant.settings.tenant_id, PANICKING_TENANT, "a bug");
        self.0.clients(tenant).await
    }
}

async fn world() -> TestWorld {
    let today = Utc::now().date_naive();
    TestWorld::start(sandbox::generate_company(12, 5, today)).await
}

/// The change messages a full sync of the world's company queues.
async fn planned_changes(world: &TestWorld) -> Vec<ChangeMessage> {
    let deps = sync_fn::SyncDeps {
        tenants: &world.tenants,
        store: &world.store,
        coordination: &world.coordination,
        changes: &world.changes,
        sync_requests: &world.sync_requests,
        clients: &world.clients,
    };
    let deadline = Utc::now() + Duration::minutes(5);
    sync_fn::handle(serde_json::json!({"tenant": TENANT}), deadline, &deps)
        .await
        .expect("the sync runs");
    let mut messages = Vec::new();
    for delivery in world.changes.receive(usize::MAX).await.unwrap() {
        world.changes.ack(&delivery.receipt).await.unwrap();
        messages.push(delivery.message);
    }
    assert!(messages.len() >= 8, "the company is queued");
    messages
}

async fn deliver(
    world: &TestWorld,
    clients: &dyn ClientFactory,
    records: Vec<(String, String, u32)>,
) -> SqsBatchResponse {
    let deps = ApplyDeps {
        tenants: &world.tenants,
        store: &world.store,
        ledger: &world.ledger(),
        clients,
        concurrency: 8,
    };
    let event = sqs_event(
        records
            .iter()
            .map(|(id, body, count)| sqs_record(id, body, *count))
            .collect(),
    );
    let deadline_ms = (Utc::now() + Duration::minutes(5)).timestamp_millis();
    handle(event, deadline_ms, &deps).await
}

/// The same change with no manager to wait for.
fn without_manager(message: &ChangeMessage) -> ChangeMessage {
    let mut desired = message.desired.clone();
    desired.manager_employee_id = None;
    ChangeMessage::new(&message.tenant, &message.run_id, desired, message.today, 0)
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    ids.sort();
    ids
}

/// Delivers the messages until SQS would have nothing left (failures come back with a higher
/// receive count, as they do after their visibility timeout).
async fn apply_all(world: &TestWorld, messages: &[ChangeMessage]) -> u32 {
    let mut pending: Vec<(String, String, u32)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("m-{i}"), serde_json::to_string(m).unwrap(), 1))
        .collect();
    let mut deliveries = 0;
    while !pending.is_empty() {
        deliveries += 1;
        assert!(deliveries <= 5, "the batch does not converge");
        let response = deliver(world, &world.clients, pending.clone()).await;
        let failed = failed_ids(&response);
        pending.retain(|(id, _, _)| failed.contains(id));
        for record in &mut pending {
            record.2 += 1;
        }
    }
    deliveries
}

#[tokio::test]
async fn a_batch_is_applied_once_and_a_redelivery_is_a_duplicate() {
    let world = world().await;
    let messages = planned_changes(&world).await;
    apply_all(&world, &messages).await;
    let snapshot = world.learnamp.snapshot();
    let linked = snapshot
        .users
        .iter()
        .filter(|u| u.integration_external_id.is_some())
        .count();
    assert_eq!(linked, messages.len(), "one user per change");
    let managed = snapshot
        .users
        .iter()
        .filter(|u| u.manager_id.is_some())
        .count();
    assert!(managed > 0, "managers were set once they existed");

    // SQS delivers at least once: the same batch again writes nothing.
    world.learnamp.reset_calls();
    let again = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("again-{i}"), serde_json::to_string(m).unwrap(), 1))
        .collect();
    let response = deliver(&world, &world.clients, again).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(world.learnamp.calls().writes(), 0, "duplicates are skipped");

    // The run's report counts each change applied once: a redelivery is not a second
    // application, nor a skip.
    let run_id = messages[0].run_id.clone();
    let report = |run_id: String| {
        let store = &world.store;
        async move {
            let reports = store.reports(TENANT, 10).await.unwrap();
            let report = reports.into_iter().find(|r| r.run_id == run_id).unwrap();
            serde_json::to_value(report).unwrap()
        }
    };
    let import = report(run_id.clone()).await;
    assert_eq!(
        (
            import["applied"]["counts"]["created"].as_u64(),
            import["applied"]["duplicates"].as_u64()
        ),
        (Some(messages.len() as u64), Some(0)),
        "{import}"
    );

    // Another run (a webhook's beside the schedule's) wants a state completed by the import:
    // skipped, and its report says so instead of counting an update nobody made.
    let mut other = import.clone();
    other["run_id"] = "webhook-run".into();
    other.as_object_mut().unwrap().remove("applied");
    let other: sync_core::report::RunReport = serde_json::from_value(other).unwrap();
    world.store.put_report(TENANT, &other).await.unwrap();
    let mut copy = messages[0].clone();
    copy.run_id = "webhook-run".into();
    let response = deliver(
        &world,
        &world.clients,
        vec![("copy".into(), serde_json::to_string(&copy).unwrap(), 1)],
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        world.learnamp.calls().writes(),
        0,
        "a duplicate writes nothing"
    );
    let webhook = report("webhook-run".into()).await;
    assert_eq!(webhook["applied"]["duplicates"], 1, "{webhook}");
    assert_eq!(webhook["applied"]["counts"]["created"], 0, "{webhook}");
    world.stop().await;
}

#[tokio::test]
async fn a_learn_amp_rejection_is_recorded_and_not_retried() {
    let world = world().await;
    let mut messages = planned_changes(&world).await;
    let rejected = messages
        .iter_mut()
        .find(|m| m.desired.manager_employee_id.is_none())
        .unwrap();
    rejected.desired.email = Some("not-an-email".into());
    let employee = rejected.desired.employee_id.clone();
    let body = serde_json::to_string(rejected).unwrap();

    let response = deliver(
        &world,
        &world.clients,
        vec![("bad".into(), body.clone(), 1)],
    )
    .await;
    assert!(
        response.batch_item_failures.is_empty(),
        "a validation error is permanent: acknowledged, not retried"
    );
    // SQS delivers it again: still acknowledged, and counted once in its run's report.
    let response = deliver(&world, &world.clients, vec![("bad-again".into(), body, 2)]).await;
    assert!(response.batch_item_failures.is_empty());
    let report = &world.store.reports(TENANT, 1).await.unwrap()[0];
    assert_eq!(
        report.apply_failures.len(),
        1,
        "{:?}",
        report.apply_failures
    );
    assert_eq!(report.apply_failures[0].employee_id, employee);
    let state = world
        .store
        .employee(TENANT, &employee)
        .await
        .unwrap()
        .unwrap();
    let error = state.last_error.expect("recorded on the employee");
    assert!(
        error.contains("Email is invalid"),
        "Learn Amp's text: {error}"
    );
    assert!(world
        .learnamp
        .snapshot()
        .users
        .iter()
        .all(|u| u.email != "not-an-email"));
    world.stop().await;
}

#[tokio::test]
async fn a_learn_amp_outage_hands_the_records_back_and_they_apply_later() {
    let world = world().await;
    let messages = planned_changes(&world).await;
    // Three changes that wait for no manager.
    let first: Vec<ChangeMessage> = messages.iter().take(3).map(without_manager).collect();
    let records: Vec<(String, String, u32)> = first
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("m-{i}"), serde_json::to_string(m).unwrap(), 1))
        .collect();
    world.learnamp.faults().set_rate_5xx(1.0);
    let response = deliver(&world, &world.clients, records.clone()).await;
    assert_eq!(failed_ids(&response), vec!["m-0", "m-1", "m-2"]);

    // The claims were released: the redelivery applies them.
    world.learnamp.faults().clear();
    let response = deliver(&world, &world.clients, records).await;
    assert!(response.batch_item_failures.is_empty());
    for m in &first {
        let state = world
            .store
            .employee(TENANT, &m.desired.employee_id)
            .await
            .unwrap();
        assert!(state.is_some_and(|s| s.is_linked()));
    }
    world.stop().await;
}

#[tokio::test]
async fn a_panic_fails_only_its_own_record() {
    let world = world().await;
    world
        .tenants
        .put_tenant(&world.tenant_config(PANICKING_TENANT))
        .await
        .unwrap();
    let messages = planned_changes(&world).await;
    let healthy = without_manager(&messages[0]);
    let mut doomed = messages[1].clone();
    doomed.tenant = PANICKING_TENANT.into();
    let records = vec![
        ("fine".into(), serde_json::to_string(&healthy).unwrap(), 1),
        ("panics".into(), serde_json::to_string(&doomed).unwrap(), 1),
        ("garbled".into(), "{not json".into(), 1),
    ];
    let clients = PanicsForOneTenant(&world.clients);
    let response = deliver(&world, &clients, records).await;
    assert_eq!(failed_ids(&response), vec!["garbled", "panics"]);
    let applied = world
        .store
        .employee(TENANT, &healthy.desired.employee_id)
        .await
        .unwrap();
    assert!(
        applied.is_some_and(|s| s.is_linked()),
        "the healthy record applied"
    );
    world.stop().await;
}

/// `message` with another job title, as of `minutes` after its source version.
fn retitled(message: &ChangeMessage, title: &str, minutes: i64) -> ChangeMessage {
    let mut desired = message.desired.clone();
    desired.manager_employee_id = None;
    desired.job_title = Some(title.into());
    desired.source_version =
        Some(desired.source_version.unwrap_or_else(Utc::now) + Duration::minutes(minutes));
    ChangeMessage::new(&message.tenant, &message.run_id, desired, message.today, 0)
}

fn job_title_of(world: &TestWorld, employee_id: &str) -> Option<String> {
    world
        .learnamp
        .snapshot()
        .users
        .into_iter()
        .find(|u| u.integration_external_id.as_deref() == Some(employee_id))
        .and_then(|u| u.job_title)
}

fn record(id: &str, message: &ChangeMessage) -> (String, String, u32) {
    (id.into(), serde_json::to_string(message).unwrap(), 1)
}

#[tokio::test]
async fn one_change_per_employee_is_in_flight_and_the_newest_version_wins() {
    let world = world().await;
    let messages = planned_changes(&world).await;
    let created = without_manager(&messages[0]);
    let employee = created.desired.employee_id.clone();
    assert!(deliver(&world, &world.clients, vec![record("c", &created)])
        .await
        .batch_item_failures
        .is_empty());

    // Another worker is applying a change of this employee: this one waits its turn.
    let newer = retitled(&created, "Staff Engineer", 20);
    let other = ChangeKey {
        key: "another change's key".into(),
        desired_hash: "another state".into(),
        ..ChangeKey::of(&newer)
    };
    let now_ms = Utc::now().timestamp_millis();
    world
        .ledger()
        .claim_change(&other, now_ms, now_ms + 60_000)
        .await
        .unwrap();
    let response = deliver(&world, &world.clients, vec![record("n", &newer)]).await;
    assert_eq!(failed_ids(&response), vec!["n"], "handed back while leased");
    assert_ne!(
        job_title_of(&world, &employee).as_deref(),
        Some("Staff Engineer")
    );
    world.ledger().release_change(&other).await.unwrap();

    // Two versions in one batch: one is applied, the other waits; whatever the order, the
    // newer version is what Learn Amp ends with, and the older is skipped as stale.
    let older = retitled(&created, "Senior Engineer", 10);
    let batch = vec![record("older", &older), record("newer", &newer)];
    let response = deliver(&world, &world.clients, batch.clone()).await;
    let handed_back = failed_ids(&response);
    assert_eq!(handed_back.len(), 1, "exactly one waits: {handed_back:?}");
    let retry: Vec<_> = batch
        .into_iter()
        .filter(|(id, _, _)| handed_back.contains(id))
        .map(|(id, body, _)| (id, body, 2))
        .collect();
    assert!(deliver(&world, &world.clients, retry)
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(
        job_title_of(&world, &employee).as_deref(),
        Some("Staff Engineer")
    );
    world.stop().await;
}

#[tokio::test]
async fn a_state_wanted_again_after_another_is_applied_again() {
    let world = world().await;
    let messages = planned_changes(&world).await;
    let first = without_manager(&messages[0]);
    let employee = first.desired.employee_id.clone();
    let second = retitled(&first, "Team Lead", 10);
    // The same desired state as `first`, from a later run (Personio reverted the change).
    let mut back = first.clone();
    back.desired.source_version =
        Some(second.desired.source_version.unwrap() + Duration::minutes(10));
    let back = ChangeMessage::new(&back.tenant, "later-run", back.desired, back.today, 0);
    assert_eq!(back.idempotency_key(), first.idempotency_key());

    for (id, message) in [("first", &first), ("second", &second), ("back", &back)] {
        let response = deliver(&world, &world.clients, vec![record(id, message)]).await;
        assert!(response.batch_item_failures.is_empty(), "{id}");
    }
    assert_eq!(
        job_title_of(&world, &employee),
        first.desired.job_title,
        "the old completion of this state did not hide the revert"
    );
    let state = world
        .store
        .employee(TENANT, &employee)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        state.applied_hash.as_deref(),
        Some(first.desired_hash.as_str())
    );
    world.stop().await;
}

#[tokio::test]
async fn an_invocation_cut_off_mid_batch_is_finished_by_the_redelivery() {
    // Lambda's timeout mid-batch: the handler is dropped with changes half-done, their claims
    // held until the invocation's deadline. The redelivery after it finishes the batch, with no
    // duplicate user and nobody invited twice.
    let world = world().await;
    let messages: Vec<ChangeMessage> = planned_changes(&world)
        .await
        .iter()
        .map(without_manager)
        .collect();
    let records: Vec<(String, String, u32)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("m-{i}"), serde_json::to_string(m).unwrap(), 1))
        .collect();
    world
        .learnamp
        .faults()
        .set_latency(std::time::Duration::from_millis(40));
    let deps = ApplyDeps {
        tenants: &world.tenants,
        store: &world.store,
        ledger: &world.ledger(),
        clients: &world.clients,
        concurrency: 4,
    };
    let event = |records: &[(String, String, u32)]| {
        sqs_event(
            records
                .iter()
                .map(|(id, body, count)| sqs_record(id, body, *count))
                .collect(),
        )
    };
    let deadline_ms = (Utc::now() + Duration::milliseconds(300)).timestamp_millis();
    let cut_off = tokio::time::timeout(
        std::time::Duration::from_millis(120),
        handle(event(&records), deadline_ms, &deps),
    )
    .await;
    assert!(cut_off.is_err(), "the invocation was cut off mid-batch");
    let halfway = world
        .learnamp
        .snapshot()
        .users
        .iter()
        .filter(|u| u.integration_external_id.is_some())
        .count();
    assert!(
        halfway < messages.len(),
        "some changes were not made: {halfway}"
    );

    // After the cut-off invocation's deadline its claims may be taken over.
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    world.learnamp.faults().clear();
    let again: Vec<(String, String, u32)> = records
        .into_iter()
        .map(|(id, body, _)| (id, body, 2))
        .collect();
    let response = deliver(&world, &world.clients, again).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let snapshot = world.learnamp.snapshot();
    let mut seen = std::collections::HashSet::new();
    for user in snapshot
        .users
        .iter()
        .filter(|u| u.integration_external_id.is_some())
    {
        assert!(
            seen.insert(user.integration_external_id.clone()),
            "duplicate user"
        );
        assert!(user.invitations_sent <= 1);
    }
    assert_eq!(seen.len(), messages.len(), "every change made once");
    world.stop().await;
}

/// The contract between the sync function (producer) and this one (consumer): every change a
/// real sync queues, serialised as the SQS adapter sends it, carries the version and reads
/// back, through this function's own reader, as exactly what was queued; and applies.
#[tokio::test]
async fn what_the_sync_function_queues_is_what_the_apply_function_reads() {
    let world = world().await;
    let messages = planned_changes(&world).await;
    for (i, message) in messages.iter().enumerate() {
        let body = serde_json::to_string(message).unwrap();
        let wire: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(wire["version"], ChangeMessage::VERSION, "{i}");
        let read = apply_fn::change_message_of(&sqs_record(&format!("m-{i}"), &body, 1));
        assert_eq!(read.as_ref(), Ok(message), "{i}");
    }
    apply_all(&world, &messages).await;
    for message in &messages {
        let employee = &message.desired.employee_id;
        let state = world.store.employee(TENANT, employee).await.unwrap();
        assert!(state.is_some_and(|s| s.is_linked()), "{employee} applied");
    }
    world.stop().await;
}

/// A change of a version this build does not read (a newer producer deployed first) is handed
/// back on every delivery, the last included, so that SQS moves it to the dead-letter queue
/// after `maxReceiveCount`, to replay once this side reads it; the log names the versions and
/// not the body. A change queued before messages were versioned is version 1, and applies.
#[tokio::test]
async fn a_change_of_an_unknown_version_goes_to_the_dead_letter_queue_and_one_without_a_version_applies(
) {
    let world = world().await;
    let messages = planned_changes(&world).await;
    let newer = without_manager(&messages[0]);
    let email = newer
        .desired
        .email
        .clone()
        .expect("an employee with an email");
    let mut v2 = serde_json::to_value(&newer).unwrap();
    v2["version"] = 2.into();
    let legacy = without_manager(&messages[1]);
    let mut v0 = serde_json::to_value(&legacy).unwrap();
    v0.as_object_mut().unwrap().remove("version");

    let logs = CapturedLogs::start();
    for receive_count in [1, 10] {
        let response = deliver(
            &world,
            &world.clients,
            vec![
                ("v2".into(), v2.to_string(), receive_count),
                ("unversioned".into(), v0.to_string(), receive_count),
            ],
        )
        .await;
        assert_eq!(failed_ids(&response), vec!["v2"], "receive {receive_count}");
    }
    let text = logs.text();
    assert!(
        text.contains("change message of version 2: this build reads version 1"),
        "{text}"
    );
    assert!(!text.contains(&email), "the body is not logged: {text}");
    let linked = |employee_id: &str| {
        world
            .learnamp
            .snapshot()
            .users
            .iter()
            .any(|u| u.integration_external_id.as_deref() == Some(employee_id))
    };
    assert!(!linked(&newer.desired.employee_id), "nothing applied of it");
    assert!(
        linked(&legacy.desired.employee_id),
        "the unversioned change applied"
    );
    world.stop().await;
}
