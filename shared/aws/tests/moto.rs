//! The AWS adapters against a real moto server (DynamoDB and SQS), started and stopped here.

use chrono::Utc;
use futures::future::join_all;
use sync_aws::testing::{create_table, MotoServer};
use sync_aws::{DynamoIdempotency, DynamoStateStore, SqsQueue};
use sync_core::fields::Field;
use sync_core::idempotency::{Claim, IdempotencyStore, COMPLETED_FOR_SECONDS};
use sync_core::ports::{Queue, StateStore};
use sync_core::state::{EmployeeState, TeamState};

const COST_CENTER_HASH: &str = "00000000c0575ce7";

async fn dynamo(moto: &MotoServer) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&moto.sdk_config().await)
}

async fn idempotency_table(moto: &MotoServer) -> DynamoIdempotency {
    let client = dynamo(moto).await;
    let table = format!("idem-{}", uuid::Uuid::new_v4());
    create_table(&client, &table, &["id"]).await;
    DynamoIdempotency::new(client, table)
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_claims_on_one_key_have_exactly_one_winner() {
    let moto = MotoServer::start();
    let store = idempotency_table(&moto).await;
    let now = now_ms();
    // The first claim goes alone: moto, unlike DynamoDB, can let two writes that race to create
    // one item both pass. The other 39 race on the claim it made.
    let first = store.claim("tenant#emp#hash", now, now + 60_000).await;
    let mut claims = vec![first];
    claims
        .extend(join_all((0..39).map(|_| store.claim("tenant#emp#hash", now, now + 60_000))).await);
    let winners = claims
        .iter()
        .filter(|c| matches!(c, Ok(Claim::Acquired)))
        .count();
    let waiting = claims
        .iter()
        .filter(|c| matches!(c, Ok(Claim::InProgress)))
        .count();
    assert_eq!((winners, waiting), (1, 39), "{claims:?}");
}

#[tokio::test]
async fn an_expired_in_progress_claim_can_be_taken_over() {
    let moto = MotoServer::start();
    let store = idempotency_table(&moto).await;
    let now = now_ms();
    assert_eq!(
        store.claim("k", now, now + 1_000).await.unwrap(),
        Claim::Acquired
    );
    assert_eq!(
        store.claim("k", now + 500, now + 5_000).await.unwrap(),
        Claim::InProgress,
        "within the holder's deadline"
    );
    // The holder timed out (its Lambda deadline passed without complete or release).
    assert_eq!(
        store.claim("k", now + 1_001, now + 9_000).await.unwrap(),
        Claim::Acquired
    );
}

#[tokio::test]
async fn a_completed_record_short_circuits_until_it_expires() {
    let moto = MotoServer::start();
    let store = idempotency_table(&moto).await;
    let now = now_ms();
    assert_eq!(
        store.claim("k", now, now + 60_000).await.unwrap(),
        Claim::Acquired
    );
    store
        .complete("k", now, r#"{"action":"create"}"#)
        .await
        .unwrap();
    assert_eq!(
        store.claim("k", now + 10, now + 60_000).await.unwrap(),
        Claim::Completed(r#"{"action":"create"}"#.into())
    );
    // Expiry is checked in code: the item is still in the table (moto, like DynamoDB's TTL,
    // has not deleted it), yet it no longer counts.
    let after = now + (COMPLETED_FOR_SECONDS + 1) * 1000;
    assert_eq!(
        store.claim("k", after, after + 60_000).await.unwrap(),
        Claim::Acquired
    );
}

#[tokio::test]
async fn a_failure_releases_the_claim() {
    let moto = MotoServer::start();
    let store = idempotency_table(&moto).await;
    let now = now_ms();
    assert_eq!(
        store.claim("k", now, now + 60_000).await.unwrap(),
        Claim::Acquired
    );
    store.release("k").await.unwrap();
    assert_eq!(
        store.claim("k", now + 1, now + 60_000).await.unwrap(),
        Claim::Acquired,
        "a retry runs again"
    );
}

#[tokio::test]
async fn state_store_round_trips_every_record_kind() {
    let moto = MotoServer::start();
    let client = dynamo(&moto).await;
    create_table(&client, "state", &["pk", "sk"]).await;
    let store = DynamoStateStore::new(client, "state");
    let tenant = "personio:T1";
    // Enough employees that a query needs more than one page would with a small limit; and a
    // second tenant whose records must not leak.
    for i in 0..300 {
        let mut s = EmployeeState::new(&format!("emp{i:03}"), Utc::now());
        s.learnamp_user_id = Some(1000 + i);
        s.active = i % 2 == 0;
        s.applied_fields.insert(
            Field::Custom("Cost Center".into()),
            COST_CENTER_HASH.parse().unwrap(),
        );
        store.put_employee(tenant, &s).await.unwrap();
    }
    store
        .put_employee("personio:T2", &EmployeeState::new("other", Utc::now()))
        .await
        .unwrap();
    let employees = store.employees(tenant).await.unwrap();
    assert_eq!(employees.len(), 300);
    assert_eq!(employees["emp007"].learnamp_user_id, Some(1007));
    assert_eq!(
        employees["emp007"].applied_fields[&Field::Custom("Cost Center".into())].to_string(),
        COST_CENTER_HASH
    );
    assert!(
        store
            .employee(tenant, "emp008")
            .await
            .unwrap()
            .unwrap()
            .active
    );
    assert!(store.employee(tenant, "other").await.unwrap().is_none());

    store
        .put_team(
            tenant,
            &TeamState {
                group_id: "g1".into(),
                learnamp_team_id: 301,
                name_hash: "h".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.teams(tenant).await.unwrap()["g1"].learnamp_team_id,
        301
    );

    assert_eq!(store.cursor(tenant).await.unwrap(), None);
    let at = Utc::now();
    store.put_cursor(tenant, at).await.unwrap();
    assert_eq!(store.cursor(tenant).await.unwrap(), Some(at));
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct Job {
    n: u32,
}

#[tokio::test]
async fn sqs_send_receive_and_partial_failure() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let client = aws_sdk_sqs::Client::new(&config);
    let url = client
        .create_queue()
        .queue_name("changes")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let queue: SqsQueue<Job> = SqsQueue::new(client, url);
    queue
        .send_batch((0..25).map(|n| Job { n }).collect())
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut retried = None;
    loop {
        let batch = queue.receive(10).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for d in batch {
            // One message fails the first time: it is made visible again, not lost.
            if d.message.n == 13 && d.receive_count == 1 {
                queue.retry_later(&d.receipt).await.unwrap();
                continue;
            }
            if d.message.n == 13 {
                retried = Some(d.receive_count);
            }
            seen.push(d.message.n);
            queue.ack(&d.receipt).await.unwrap();
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..25).collect::<Vec<_>>(),
        "every message once, after acknowledgement"
    );
    assert_eq!(
        retried,
        Some(2),
        "the failed message came back on its second delivery"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coordination_writes_are_conditional_under_concurrency() {
    use sync_core::coordination::Coordination;
    let moto = MotoServer::start();
    let client = dynamo(&moto).await;
    create_table(&client, "coordination", &["pk", "sk"]).await;
    let store = DynamoStateStore::new(client, "coordination");
    let now = Utc::now();
    let count = |results: Vec<Result<bool, sync_core::error::StoreError>>| {
        results.into_iter().filter(|r| *r.as_ref().unwrap()).count()
    };

    // moto does not serialise conditional writes across its request threads, as DynamoDB
    // does: two writes that race to create one item can both pass there. So the first of each
    // burst goes alone, and the rest race on the item it made.
    // One event id, delivered twenty times: one first delivery.
    assert!(store.first_delivery("evt-race", now).await.unwrap());
    let firsts = join_all((0..19).map(|_| store.first_delivery("evt-race", now))).await;
    assert_eq!(count(firsts), 0);
    store.forget_delivery("evt-race").await.unwrap();
    assert!(
        store.first_delivery("evt-race", now).await.unwrap(),
        "forgotten, then new"
    );

    // Twenty webhooks of one tenant at once: one pending delta sync, until it starts.
    assert!(store.request_sync("personio:T", now).await.unwrap());
    let requests = join_all((0..19).map(|_| store.request_sync("personio:T", now))).await;
    assert_eq!(count(requests), 0);
    assert!(
        store
            .activity("personio:T", now)
            .await
            .unwrap()
            .sync_pending
    );
    store.sync_started("personio:T").await.unwrap();
    assert!(store.request_sync("personio:T", now).await.unwrap());

    // Ten runs at once: one holds the lock; another's unlock does not free it; a lapsed lock
    // can be taken.
    let until = now + chrono::Duration::minutes(15);
    let holders: Vec<String> = (0..10).map(|i| format!("run-{i}")).collect();
    let winner = holders[0].clone();
    assert!(store
        .lock_run("personio:T", &winner, now, until)
        .await
        .unwrap());
    let locks = join_all(
        holders[1..]
            .iter()
            .map(|h| store.lock_run("personio:T", h, now, until)),
    )
    .await;
    assert_eq!(count(locks), 0);
    let other = holders.iter().find(|h| **h != winner).unwrap();
    store.unlock_run("personio:T", other).await.unwrap();
    assert!(
        !store
            .lock_run("personio:T", other, now, until)
            .await
            .unwrap(),
        "still held"
    );
    assert_eq!(
        store
            .activity("personio:T", now)
            .await
            .unwrap()
            .run_in_progress_until
            .map(|t| t.timestamp()),
        Some(until.timestamp())
    );
    let later = until + chrono::Duration::seconds(1);
    assert!(
        store
            .lock_run(
                "personio:T",
                other,
                later,
                later + chrono::Duration::minutes(15)
            )
            .await
            .unwrap(),
        "a lock past its holder's deadline is taken over"
    );
    store.unlock_run("personio:T", other).await.unwrap();
    assert!(store
        .lock_run("personio:T", &winner, now, until)
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lifecycle_event_is_recorded_without_touching_the_settings() {
    use sync_core::tenants::{TenantConfig, TenantEvent, TenantStore};
    let moto = MotoServer::start();
    let client = dynamo(&moto).await;
    create_table(&client, "tenants", &["pk", "sk"]).await;
    let store = DynamoStateStore::new(client, "tenants");
    let mut config = TenantConfig {
        settings: sync_core::TenantSettings::new("personio:T"),
        learnamp_base_url: "https://api.learnamp.com".into(),
        learnamp_client_id: "id".into(),
        learnamp_client_secret_ref: "/personio-sync/t/secret".into(),
        learnamp_scope: None,
        personio_company_id: None,
        enabled: true,
        last_event: None,
        first_import: Default::default(),
        revision: Default::default(),
        kombo: Default::default(),
    };
    store.put_tenant(&config).await.unwrap();
    // An operator disables the tenant; a lifecycle webhook lands right after.
    config.enabled = false;
    store.put_tenant(&config).await.unwrap();
    let event = TenantEvent {
        event_type: "integration-state-changed".into(),
        received_at: Utc::now(),
        data: serde_json::json!({"state": "INVALID"}),
    };
    store.record_event("personio:T", &event).await.unwrap();
    let stored = store.tenant("personio:T").await.unwrap().unwrap();
    assert!(!stored.enabled, "the webhook did not undo the disable");
    assert_eq!(stored.last_event, Some(event.clone()));
    assert_eq!(
        store.tenants().await.unwrap()[0].last_event,
        Some(event.clone())
    );

    store
        .record_event("personio:unknown", &event)
        .await
        .unwrap();
    assert!(
        store.tenant("personio:unknown").await.unwrap().is_none(),
        "nothing created"
    );
}

/// A tenant's record is written back only over the revision it was read at: of two writers
/// that read it at once, the second is refused (nothing written) and `change_tenant` makes its
/// change again over the first one's record; a record written before revisions is updated
/// once from a copy read of it; a copy not read from the table creates the record only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_record_is_written_over_the_revision_it_was_read_at() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use sync_core::error::StoreError;
    use sync_core::tenants::{change_tenant, TenantConfig, TenantStore};
    let moto = MotoServer::start();
    let client = dynamo(&moto).await;
    create_table(&client, "tenants", &["pk", "sk"]).await;
    let store = DynamoStateStore::new(client.clone(), "tenants");
    let mut config = TenantConfig {
        settings: sync_core::TenantSettings::new("acme"),
        learnamp_base_url: "https://api.learnamp.com".into(),
        learnamp_client_id: "id".into(),
        learnamp_client_secret_ref: "/personio-sync/t/secret".into(),
        learnamp_scope: None,
        personio_company_id: None,
        enabled: true,
        last_event: None,
        first_import: Default::default(),
        revision: Default::default(),
        kombo: Default::default(),
    };
    store.update_tenant(&mut config.clone()).await.unwrap();
    assert!(
        matches!(
            store.update_tenant(&mut config).await,
            Err(StoreError::Conflict(_))
        ),
        "a copy not read from the table only creates"
    );

    let mut webhook = store.tenant("acme").await.unwrap().unwrap();
    let mut admin = store.tenant("acme").await.unwrap().unwrap();
    webhook.learnamp_client_id = "from-the-webhook".into();
    store.update_tenant(&mut webhook).await.unwrap();
    admin.settings.sync_location = false;
    assert!(matches!(
        store.update_tenant(&mut admin).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .tenant("acme")
            .await
            .unwrap()
            .unwrap()
            .learnamp_client_id,
        "from-the-webhook",
        "the refused write changed nothing"
    );
    let changed = change_tenant(&store, "acme", |stored| {
        Ok::<_, StoreError>(stored.map(|mut c| {
            c.settings.sync_location = false;
            c
        }))
    })
    .await
    .unwrap()
    .unwrap();
    let stored = store.tenant("acme").await.unwrap().unwrap();
    assert_eq!(stored, changed);
    assert_eq!(
        (
            stored.learnamp_client_id.as_str(),
            stored.settings.sync_location
        ),
        ("from-the-webhook", false),
        "both writes stand"
    );
    // The copy written back is at the new revision: it can be written again.
    let mut again = changed;
    again.enabled = false;
    store.update_tenant(&mut again).await.unwrap();
    store.update_tenant(&mut again).await.unwrap();

    // A record written before revisions: no `revision` attribute.
    let legacy = serde_json::to_string(&TenantConfig {
        settings: sync_core::TenantSettings::new("legacy"),
        ..config.clone()
    })
    .unwrap();
    client
        .put_item()
        .table_name("tenants")
        .item("pk", AttributeValue::S("tenant#legacy".into()))
        .item("sk", AttributeValue::S("settings".into()))
        .item("data", AttributeValue::S(legacy))
        .send()
        .await
        .unwrap();
    let mut first = store.tenant("legacy").await.unwrap().unwrap();
    let mut second = first.clone();
    first.enabled = false;
    store.update_tenant(&mut first).await.unwrap();
    assert!(matches!(
        store.update_tenant(&mut second).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(!store.tenant("legacy").await.unwrap().unwrap().enabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_integration_finds_its_tenant_through_the_index_and_a_stale_index_is_ignored() {
    use sync_core::connect::{IntegrationStatus, SetupStatus};
    use sync_core::tenants::{KomboConnection, TenantConfig, TenantStore};
    let moto = MotoServer::start();
    let client = dynamo(&moto).await;
    create_table(&client, "tenants", &["pk", "sk"]).await;
    let store = DynamoStateStore::new(client.clone(), "tenants");
    let tenant = |id: &str, kombo: KomboConnection| TenantConfig {
        settings: sync_core::TenantSettings::new(id),
        learnamp_base_url: "https://api.learnamp.com".into(),
        learnamp_client_id: "id".into(),
        learnamp_client_secret_ref: "/personio-sync/t/secret".into(),
        learnamp_scope: None,
        personio_company_id: None,
        enabled: true,
        last_event: None,
        first_import: Default::default(),
        revision: Default::default(),
        kombo,
    };
    let bound = |integration: &str| KomboConnection::Connected {
        integration_id: integration.into(),
        status: IntegrationStatus::Active,
        setup_status: SetupStatus::Incomplete,
        checked_at: Utc::now(),
    };
    store
        .put_tenant(&tenant(
            "personio:legacy",
            KomboConnection::TenantIdIsIntegration,
        ))
        .await
        .unwrap();
    store
        .put_tenant(&tenant("acme", bound("personio:one")))
        .await
        .unwrap();
    let found = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .tenant_for_integration(id)
                .await
                .unwrap()
                .map(|t| t.settings.tenant_id)
        }
    };
    assert_eq!(
        found("personio:legacy").await.as_deref(),
        Some("personio:legacy")
    );
    assert_eq!(found("personio:one").await.as_deref(), Some("acme"));
    let index = client
        .get_item()
        .table_name("tenants")
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("integration#personio:one".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("tenant".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(index.item().is_some(), "the binding is indexed");
    assert_eq!(
        store.tenants().await.unwrap().len(),
        2,
        "an index item is no tenant"
    );

    // Rebound to another integration: the old index item no longer finds it.
    store
        .put_tenant(&tenant("acme", bound("personio:two")))
        .await
        .unwrap();
    assert_eq!(found("personio:one").await, None);
    assert_eq!(found("personio:two").await.as_deref(), Some("acme"));
    assert_eq!(found("personio:never").await, None);
}

#[tokio::test]
async fn admin_link_nonces_are_consumed_once_and_sessions_are_found_by_their_hash() {
    use sync_core::admin::{AdminSession, AdminSessions};
    let moto = MotoServer::start();
    let client = dynamo(&moto).await;
    let table = format!("state-{}", uuid::Uuid::new_v4());
    create_table(&client, &table, &["pk", "sk"]).await;
    let store = DynamoStateStore::new(client, table);
    let until = Utc::now() + chrono::Duration::minutes(15);
    assert!(store.consume_nonce("nonce-1", until).await.unwrap());
    assert!(!store.consume_nonce("nonce-1", until).await.unwrap());
    assert!(store.consume_nonce("nonce-2", until).await.unwrap());

    let now = Utc::now();
    let session = AdminSession {
        tenant_id: "acme".into(),
        csrf_token: "csrf".into(),
        expires_at: now + chrono::Duration::hours(8),
    };
    store.create("hash-1", &session).await.unwrap();
    assert_eq!(store.get("hash-1", now).await.unwrap(), Some(session));
    assert_eq!(store.get("hash-2", now).await.unwrap(), None);
    let later = now + chrono::Duration::hours(9);
    assert_eq!(store.get("hash-1", later).await.unwrap(), None, "expired");

    assert_eq!(store.import_requested("acme").await.unwrap(), None);
    store.note_import("acme", now).await.unwrap();
    let noted = store.import_requested("acme").await.unwrap().unwrap();
    assert_eq!(noted.timestamp(), now.timestamp());
}

/// A report of `actions` creates and as many notes, as a sync of that many employees would write.
fn report_of(run_id: &str, actions: usize) -> sync_core::report::RunReport {
    let now = Utc::now();
    serde_json::from_value(serde_json::json!({
        "run_id": run_id, "tenant": "personio:T1", "mode": "full", "dry_run": false,
        "today": now.date_naive(), "started_at": now, "finished_at": now, "duration_ms": 1,
        "counts": {"created": actions, "updated": 0, "deactivated": 0, "reactivated": 0,
                   "unchanged": 0, "deferred": 0, "failed": 0},
        "halted": null,
        "actions": (0..actions).map(|i| serde_json::json!({
            "employee_id": format!("emp{i:06}"), "action": "create", "learnamp_user_id": 100_000 + i,
            "detail": "created in team 'eng' with invitation (the hire date has passed)"})).collect::<Vec<_>>(),
        "notes": (0..actions).map(|i| serde_json::json!({
            "employee_id": format!("emp{i:06}"), "detail": "no location: the user's location is left as it is"})).collect::<Vec<_>>(),
        "teams": {"created": 0, "renamed": 0, "failed": 0},
        "api_calls": {"kombo": {}, "learnamp": {}},
    }))
    .expect("a report")
}

#[tokio::test]
async fn a_report_over_dynamodbs_item_limit_is_stored_in_parts_and_read_back_whole() {
    let moto = MotoServer::start();
    let client = dynamo(&moto).await;
    create_table(&client, "state", &["pk", "sk"]).await;
    let store = DynamoStateStore::new(client.clone(), "state");
    let tenant = "personio:T1";

    // 10,000 employees imported: about 2 MB of actions and notes, five times what one item holds
    // (moto refuses an item over 400 KB, as DynamoDB does).
    let large = report_of("large-run", 10_000);
    assert!(serde_json::to_string(&large).unwrap().len() > 1_500_000);
    store.put_report(tenant, &large).await.unwrap();
    let small = report_of("small-run", 20);
    store.put_report(tenant, &small).await.unwrap();

    let read = store.reports(tenant, 10).await.unwrap();
    let read_large = read.iter().find(|r| r.run_id == "large-run").unwrap();
    assert_eq!(read_large, &large, "every action and note, in order");
    let read_small = read.iter().find(|r| r.run_id == "small-run").unwrap();
    assert_eq!(read_small, &small);

    use aws_sdk_dynamodb::types::AttributeValue;
    let parts = |run: &'static str| {
        let client = client.clone();
        async move {
            client
                .query()
                .table_name("state")
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(format!("tenant#{tenant}")))
                .expression_attribute_values(
                    ":prefix",
                    AttributeValue::S(format!("report-part#{run}#")),
                )
                .send()
                .await
                .unwrap()
                .count()
        }
    };
    // A report past its 90 days is not read, though DynamoDB's TTL has not deleted it yet.
    let mut expired = report_of("expired-run", 10_000);
    expired.started_at = Utc::now() - chrono::Duration::days(91);
    store.put_report(tenant, &expired).await.unwrap();
    let read = store.reports(tenant, 10).await.unwrap();
    assert_eq!(read.len(), 2);
    assert!(read.iter().all(|r| r.run_id != "expired-run"));

    // Query's first page (1 MB) holds two or three of them: more than one part, each accepted.
    assert!(parts("large-run").await >= 2);
    assert_eq!(
        parts("small-run").await,
        0,
        "a report that fits is one item"
    );
}
