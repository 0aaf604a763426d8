//! End-to-end: Learn Amp answering and demanding what its docs allow, not only what our first
//! reading of them expected. Each test sets the Learn Amp sandbox to one documented (or not
//! ruled out) behaviour and checks the sync still does its job.

use e2e::{Harness, CLIENT_ID, CLIENT_SECRET};
use sandbox::learnamp::{SeedUser, UserShape};
use serde_json::json;
use sync_clients::{LearnAmpClient, RetryPolicy};
use sync_core::error::TargetError;
use sync_core::ports::LearnAmp;
use sync_core::report::{ActionKind, SyncMode};
use sync_core::settings::CustomFieldMapping;
use sync_core::{EngineError, InvitePolicy, RunOptions};

fn active_ids(h: &Harness) -> Vec<String> {
    h.kombo
        .employees()
        .into_iter()
        .filter(|e| {
            h.users_of(&e.id)
                .first()
                .is_some_and(|u| u.status != "deactivated")
        })
        .map(|e| e.id)
        .collect()
}

#[tokio::test]
async fn users_in_every_shape_the_docs_allow_are_created_listed_and_reconciled() {
    let mut settings = Harness::settings(InvitePolicy::Manual);
    settings.custom_fields = vec![CustomFieldMapping {
        source: "cost_center".into(),
        target: "Cost Center".into(),
    }];
    let h = Harness::generated(25, 11, settings).await;
    // "No manager" as `{}`, as the docs show it; a `customFields` shape the docs never show;
    // a key nobody documented. Every create answers with such a user.
    h.learnamp.set_user_shape(UserShape {
        empty_manager: true,
        custom_fields: Some(json!({"unexpected": ["shape"]})),
        extra_field: Some(("futureKey".into(), json!({"nested": [1, 2]}))),
        localized_status: false,
    });
    let first = h.full().await;
    Harness::assert_converged(&first);
    assert!(first.counts.created >= 20, "{:?}", first.counts);

    // A reconcile reads the expanded listing in that shape: nothing drifted, nothing written,
    // the unreadable custom fields taken for what was applied.
    h.learnamp.reset_calls();
    let reconcile = h
        .run(&RunOptions {
            mode: SyncMode::Reconcile,
            ..Default::default()
        })
        .await;
    Harness::assert_converged(&reconcile);
    assert_eq!(h.learnamp.calls().writes(), 0, "{:?}", reconcile.actions);

    // One user the listing cannot read at all (no usable id) is skipped and noted; the
    // listing and the run go on.
    h.learnamp.set_user_shape(UserShape {
        extra_field: Some(("id".into(), json!({"not": "a number"}))),
        ..UserShape::default()
    });
    let listing = h
        .learnamp_client
        .list_users(sync_core::ports::UserDetail::Expanded)
        .await
        .expect("one odd user never fails the listing");
    assert!(listing.users.is_empty() && !listing.skipped.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn updates_carry_the_fields_the_docs_mark_required() {
    let h = Harness::generated(12, 12, Harness::settings(InvitePolicy::Manual)).await;
    Harness::assert_converged(&h.full().await);
    h.learnamp.require_names_on_update(true);
    let id = active_ids(&h)[0].clone();
    h.kombo
        .update_employee(&id, |e| e.job_title = Some("Chief Tester".into()));
    let report = h.full().await;
    Harness::assert_converged(&report);
    assert_eq!(report.counts.updated, 1);
    assert_eq!(h.user_of(&id).job_title.as_deref(), Some("Chief Tester"));
    h.stop().await;
}

#[tokio::test]
async fn a_custom_field_learn_amp_refuses_to_clear_does_not_sink_the_update() {
    let mut settings = Harness::settings(InvitePolicy::Manual);
    settings.custom_fields = vec![CustomFieldMapping {
        source: "cost_center".into(),
        target: "Cost Center".into(),
    }];
    let h = Harness::generated(12, 13, settings).await;
    Harness::assert_converged(&h.full().await);
    h.learnamp.require_custom_field("Cost Center");
    let id = active_ids(&h)[0].clone();
    h.kombo.update_employee(&id, |e| {
        e.custom_fields.remove("cost_center");
        e.job_title = Some("Moved on".into());
    });
    let report = h.full().await;
    let action = report
        .actions
        .iter()
        .find(|a| a.employee_id == id)
        .expect("the employee changed");
    assert_eq!(action.action, ActionKind::Update, "{action:?}");
    assert!(
        action.detail.contains("'Cost Center' refused"),
        "{}",
        action.detail
    );
    let user = h.user_of(&id);
    assert_eq!(
        user.job_title.as_deref(),
        Some("Moved on"),
        "the rest landed"
    );
    assert!(
        user.custom_fields.contains_key("Cost Center"),
        "Learn Amp kept its value"
    );
    // Reported once: the next run does not send the refused clear again.
    h.learnamp.reset_calls();
    let again = h.full().await;
    assert_eq!(again.counts.updated, 0);
    assert_eq!(h.learnamp.calls().writes(), 0);
    h.stop().await;
}

#[tokio::test]
async fn a_missing_scope_stops_the_run_with_one_error_naming_it() {
    let h = Harness::generated(10, 14, Harness::settings(InvitePolicy::Manual)).await;
    Harness::assert_converged(&h.full().await);
    // Credentials without `users:update`.
    let limited = LearnAmpClient::new(&h.learnamp_server.base_url, CLIENT_ID, CLIENT_SECRET)
        .with_scope(Some(
            "users:read users:create teams:read teams:create".into(),
        ))
        .with_retry(RetryPolicy::fast());
    for id in active_ids(&h).iter().take(3) {
        h.kombo
            .update_employee(id, |e| e.job_title = Some("Retitled".into()));
    }
    h.learnamp.reset_calls();
    let err = sync_core::Engine {
        hris: &h.kombo_client,
        learnamp: &limited,
        store: &h.store,
        queue: &h.queue,
        settings: &h.settings,
        concurrency: 1,
        progress: &sync_core::NoProgress,
    }
    .run(&RunOptions {
        today: Some(e2e::today()),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, EngineError::Target(TargetError::Forbidden(_))),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("users:update") && message.contains("PUT /v1/users/{id}"),
        "{message}"
    );
    assert_eq!(
        h.learnamp.calls().get("PUT /v1/users/{id}"),
        1,
        "stopped at the first 403, not one per employee"
    );
    h.stop().await;
}

#[tokio::test]
async fn granular_credentials_get_the_sync_scopes_and_legacy_ones_fall_back_to_none() {
    let h = Harness::generated(8, 15, Harness::settings(InvitePolicy::Manual)).await;
    // Credentials provisioned with granular scopes only: a token request without `scope` would
    // get `public`, which they lack.
    h.learnamp.set_granted_scopes(Some(
        sync_core::learnamp::SYNC_SCOPES
            .split(' ')
            .map(String::from)
            .collect(),
    ));
    Harness::assert_converged(&h.full().await);
    // Legacy credentials: `public` alone; the sync's scopes are refused, and no scope works.
    h.learnamp.set_granted_scopes(Some(vec!["public".into()]));
    let legacy = LearnAmpClient::new(&h.learnamp_server.base_url, CLIENT_ID, CLIENT_SECRET)
        .with_retry(RetryPolicy::fast());
    legacy.list_teams().await.expect("legacy credentials work");
    legacy.list_teams().await.unwrap();
    assert_eq!(
        legacy.call_stats()["POST /oauth/token"],
        2,
        "one refused request for the sync's scopes, then one without"
    );
    // A scope given explicitly is never dropped.
    let explicit = LearnAmpClient::new(&h.learnamp_server.base_url, CLIENT_ID, CLIENT_SECRET)
        .with_scope(Some("users:read".into()))
        .with_retry(RetryPolicy::fast());
    assert!(matches!(
        explicit.list_teams().await,
        Err(TargetError::Unauthorized(_))
    ));
    h.stop().await;
}

#[tokio::test]
async fn a_deactivated_user_is_known_by_the_status_filter_and_adoption_reactivates() {
    let h = Harness::generated(10, 16, Harness::settings(InvitePolicy::Manual)).await;
    let employee = h
        .kombo
        .employees()
        .into_iter()
        .find(|e| e.employment_status.as_deref() == Some("ACTIVE") && e.termination_date.is_none())
        .unwrap();
    // Made by hand before the integration, then deactivated; its label is in German.
    let existing = h.learnamp.seed_user(SeedUser {
        email: employee.work_email.clone().unwrap(),
        first_name: "Old".into(),
        last_name: "Name".into(),
        integration_external_id: None,
        deactivated: true,
    });
    h.learnamp.set_user_shape(UserShape {
        localized_status: true,
        ..UserShape::default()
    });
    let listing = h
        .learnamp_client
        .list_users(sync_core::ports::UserDetail::Basic)
        .await
        .unwrap();
    let seen = listing.users.iter().find(|u| u.id == existing).unwrap();
    assert!(seen.is_deactivated(), "known from the status filter");
    let report = h.full().await;
    Harness::assert_converged(&report);
    let user = h.user_of(&employee.id);
    assert_eq!(user.id, existing, "adopted, not duplicated");
    assert_ne!(user.status, "deactivated", "reactivated");
    h.assert_no_duplicates();
    h.stop().await;
}
