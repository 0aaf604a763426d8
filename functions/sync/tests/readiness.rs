//! The sync handler waits for a self-service tenant's connection, with the events Lambda
//! delivers: a tenant with no integration is skipped ("not connected yet") and not even asked
//! for by the schedule; one whose integration's setup is not `COMPLETED` is refreshed from
//! Kombo first, skipped while it waits ("waiting for Kombo's first sync"), and synced once Kombo
//! says it is done, even if the webhook saying so never came.

use chrono::{Duration, Utc};
use fn_common::testing::{scheduled_event, sqs_event, sqs_record, TestWorld, TENANT};
use fn_common::ClientFactory;
use sync_core::connect::{ConnectLanguage, IntegrationStatus, LinkRequest, SetupStatus};
use sync_core::messages::SyncRequest;
use sync_core::ports::StateStore;
use sync_core::tenants::{FirstImport, KomboConnection, TenantStore};
use sync_fn::{handle, SyncDeps};

async fn world() -> TestWorld {
    TestWorld::start(sandbox::generate_company(8, 3, Utc::now().date_naive())).await
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

async fn invoke(world: &TestWorld, payload: serde_json::Value) -> serde_json::Value {
    handle(payload, Utc::now() + Duration::minutes(14), &deps(world))
        .await
        .unwrap()
}

/// One queued request for `tenant`, as the event source mapping hands it over: the batch
/// response (a handed-back record is listed in `batchItemFailures`).
async fn queued_run(world: &TestWorld, tenant: &str) -> serde_json::Value {
    queued(world, &SyncRequest::scheduled(tenant, "evt-schedule")).await
}

/// `request`, queued and handed over by the event source mapping: the batch response.
async fn queued(world: &TestWorld, request: &SyncRequest) -> serde_json::Value {
    let record = sqs_record("r-1", &serde_json::to_string(request).unwrap(), 1);
    invoke(
        world,
        serde_json::to_value(sqs_event(vec![record])).unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_tenant_with_no_integration_is_skipped_and_not_scheduled() {
    let world = world().await;
    let mut acme = world.tenant_config("acme");
    acme.kombo = KomboConnection::NotConnected;
    world.tenants.put_tenant(&acme).await.unwrap();

    let answer = invoke(
        &world,
        serde_json::json!({"tenant": "acme", "dry_run": true}),
    )
    .await;
    assert_eq!(
        answer,
        serde_json::json!({"tenant": "acme", "skipped": "not connected yet"})
    );
    let batch = queued_run(&world, "acme").await;
    assert_eq!(
        batch["batchItemFailures"],
        serde_json::json!([]),
        "consumed: not a failure, never the DLQ"
    );
    assert!(world.changes.is_empty());
    let scheduled = invoke(&world, scheduled_event()).await;
    assert_eq!(scheduled["queued"], serde_json::json!([TENANT]));
    world.stop().await;
}

#[tokio::test]
async fn a_bound_tenant_waits_for_kombos_setup_and_a_missed_webhook_does_not_block_it() {
    let world = world().await;
    let connect = world.clients.connect().expect("the sync reads Kombo");
    let link = connect
        .create_link(&LinkRequest {
            tenant_id: "acme".into(),
            end_user_email: "admin@acme.example".into(),
            end_user_organization_name: "Acme".into(),
            language: ConnectLanguage::En,
        })
        .await
        .unwrap();
    let token = world.kombo.complete_link(&link).await.unwrap();
    let integration = connect.integration_by_token(&token).await.unwrap();
    let mut acme = world.tenant_config("acme");
    acme.kombo = KomboConnection::Connected {
        integration_id: integration.integration_id.clone(),
        status: IntegrationStatus::Active,
        setup_status: integration.setup_status,
        checked_at: Utc::now(),
    };
    world.tenants.put_tenant(&acme).await.unwrap();

    let answer = invoke(&world, serde_json::json!({"tenant": "acme"})).await;
    assert_eq!(answer["skipped"], "waiting for Kombo's first sync");
    let scheduled = invoke(&world, scheduled_event()).await;
    assert_eq!(
        scheduled["queued"],
        serde_json::json!(["acme", TENANT]),
        "asked for, so that its run refreshes the status"
    );
    assert_eq!(
        queued_run(&world, "acme").await["batchItemFailures"],
        serde_json::json!([])
    );
    assert!(
        world.changes.is_empty(),
        "nothing read while Kombo's setup runs"
    );

    // Kombo finishes; its webhook is lost. The next run asks Kombo, stores what it says, and
    // imports.
    world.kombo.set_webhook(None, "unused");
    assert!(
        world
            .kombo
            .set_setup_status(&integration.integration_id, "COMPLETED")
            .await
    );
    assert_eq!(
        queued_run(&world, "acme").await["batchItemFailures"],
        serde_json::json!([])
    );
    assert!(!world.changes.is_empty(), "the first import ran");
    let stored = world.tenants.tenant("acme").await.unwrap().unwrap();
    assert!(matches!(
        stored.kombo,
        KomboConnection::Connected {
            setup_status: SetupStatus::Completed,
            ..
        }
    ));
    world.stop().await;
}

/// Kombo's setup can finish before the admin entered the Learn Amp account on the page: the
/// first import its webhook queued is consumed and skipped (never retried into the DLQ), and the
/// tenant runs once the account is there.
#[tokio::test]
async fn a_ready_connection_without_a_learn_amp_account_waits_for_it() {
    let world = world().await;
    let mut acme = world.tenant_config(TENANT);
    acme.learnamp_base_url = String::new();
    acme.learnamp_client_id = String::new();
    acme.learnamp_client_secret_ref = String::new();
    world.tenants.put_tenant(&acme).await.unwrap();

    let answer = invoke(&world, serde_json::json!({"tenant": TENANT})).await;
    assert_eq!(
        answer,
        serde_json::json!({"tenant": TENANT, "skipped": sync_core::onboarding::NO_LEARNAMP_ACCOUNT})
    );
    let first_import = SyncRequest::first_import(TENANT, "evt-setup-completed");
    let batch = queued(&world, &first_import).await;
    assert_eq!(batch["batchItemFailures"], serde_json::json!([]));
    assert!(world.changes.is_empty(), "nothing read or queued");

    world
        .tenants
        .put_tenant(&world.tenant_config(TENANT))
        .await
        .unwrap();
    let report = invoke(
        &world,
        serde_json::json!({"tenant": TENANT, "dry_run": true}),
    )
    .await;
    assert!(report.get("skipped").is_none(), "{report}");
    world.stop().await;
}

/// A tenant that onboarded itself is written to only once its admin started the first import:
/// the schedule's and webhooks' runs are consumed and skipped, a preview runs, and the admin's
/// (or an operator's) import goes ahead.
#[tokio::test]
async fn runs_nobody_asked_for_wait_for_the_admin_to_start_the_first_import() {
    let world = world().await;
    let mut acme = world.tenant_config(TENANT);
    acme.first_import = FirstImport::AwaitingAdmin;
    world.tenants.put_tenant(&acme).await.unwrap();

    for request in [
        SyncRequest::scheduled(TENANT, "evt-schedule"),
        SyncRequest::delta(TENANT, "evt-data-changed"),
        SyncRequest::first_import(TENANT, "evt-setup-completed"),
    ] {
        let batch = queued(&world, &request).await;
        assert_eq!(batch["batchItemFailures"], serde_json::json!([]));
    }
    assert!(world.changes.is_empty(), "nothing read or queued");
    assert!(world.store.reports(TENANT, 10).await.unwrap().is_empty());

    let preview = invoke(
        &world,
        serde_json::json!({"tenant": TENANT, "dry_run": true}),
    )
    .await;
    assert!(preview.get("skipped").is_none(), "{preview}");
    assert!(world.changes.is_empty(), "a preview queues nothing");

    let import = SyncRequest::import_all(TENANT, "admin-import-1");
    let batch = queued(&world, &import).await;
    assert_eq!(batch["batchItemFailures"], serde_json::json!([]));
    assert!(!world.changes.is_empty(), "the admin's import ran");
    world.stop().await;
}
