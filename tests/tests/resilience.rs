//! End-to-end: what must hold when things go wrong or were there before us. Lost state, users
//! created by hand, tokens that expire, an integration not ready, a failure mid-pagination,
//! rate limits and outages.

use e2e::{Harness, KOMBO_KEY, TENANT};
use sandbox::learnamp::SeedUser;
use std::time::Duration;
use sync_clients::{KomboClient, RetryPolicy};
use sync_core::error::SourceError;
use sync_core::ports::{HrisSource, ListQuery};
use sync_core::store::EmbeddedStore;
use sync_core::{Engine, InvitePolicy, RunOptions};

#[tokio::test]
async fn lost_state_never_duplicates_users_or_invitations() {
    // The worst crash: every record of what was applied is gone (a kill between Learn Amp's
    // answer and the state write, for every employee at once).
    let h = Harness::generated(60, 9, Harness::settings(InvitePolicy::Immediately)).await;
    let first = h.full().await;
    let users_before = h.learnamp.snapshot().users;

    let empty_dir = tempfile::tempdir().unwrap();
    let fresh_store = EmbeddedStore::open(empty_dir.path()).unwrap();
    h.learnamp.reset_calls();
    let report = Engine {
        hris: &h.kombo_client,
        learnamp: &h.learnamp_client,
        store: &fresh_store,
        queue: &h.queue,
        settings: &h.settings,
        concurrency: 4,
        progress: &sync_core::NoProgress,
    }
    .run(&RunOptions {
        today: Some(e2e::today()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(report.converged(), "{:?}", report.actions);
    assert_eq!(
        (report.counts.created, report.counts.adopted),
        (0, first.counts.created),
        "every employee re-linked, none created"
    );
    let users_after = h.learnamp.snapshot().users;
    assert_eq!(
        users_after.len(),
        users_before.len(),
        "no user created twice"
    );
    for (a, b) in users_before.iter().zip(&users_after) {
        assert_eq!(
            a.invitations_sent, b.invitations_sent,
            "user {} invited again",
            a.id
        );
    }
    h.assert_no_duplicates();
    h.stop().await;
}

#[tokio::test]
async fn users_created_by_hand_are_adopted_by_email_not_duplicated() {
    let h = Harness::generated(25, 4, Harness::settings(InvitePolicy::Immediately)).await;
    let employee = h
        .kombo
        .employees()
        .into_iter()
        .find(|e| e.employment_status.as_deref() == Some("ACTIVE") && e.termination_date.is_none())
        .unwrap();
    let email = employee.work_email.clone().unwrap().to_uppercase();
    let existing = h.learnamp.seed_user(SeedUser {
        email,
        first_name: "Old".into(),
        last_name: "Name".into(),
        integration_external_id: None,
        deactivated: false,
    });
    let invited_before = h
        .learnamp
        .snapshot()
        .users
        .iter()
        .find(|u| u.id == existing)
        .map(|u| u.invitations_sent);
    let report = h.full().await;
    assert!(report.converged(), "{:?}", report.actions);
    let user = h.user_of(&employee.id);
    assert_eq!(user.id, existing, "the existing user was adopted");
    assert_eq!(
        Some(user.first_name.as_str()),
        employee.first_name.as_deref(),
        "and now mirrors Personio"
    );
    assert_eq!(
        Some(user.invitations_sent),
        invited_before,
        "an adopted user is not invited again"
    );
    h.assert_no_duplicates();
    h.stop().await;
}

#[tokio::test]
async fn the_token_is_cached_and_renewed_once_on_401() {
    let h = Harness::generated(30, 8, Harness::settings(InvitePolicy::Manual)).await;
    h.full().await;
    assert_eq!(
        h.learnamp.calls().get("POST /oauth/token"),
        1,
        "one token for a whole run"
    );

    // The token expires (or is revoked) between runs; the next write gets a 401 and renews once.
    h.learnamp.expire_all_tokens();
    let e = h
        .kombo
        .employees()
        .into_iter()
        .find(|e| e.employment_status.as_deref() == Some("ACTIVE") && e.termination_date.is_none())
        .unwrap();
    h.kombo
        .update_employee(&e.id, |e| e.job_title = Some("Renamed".into()));
    h.learnamp.reset_calls();
    let report = h.full().await;
    assert_eq!(report.counts.updated, 1);
    let calls = h.learnamp.calls();
    assert_eq!(calls.get("POST /oauth/token"), 1, "{:?}", calls.by_endpoint);
    assert_eq!(
        calls.get("PUT /v1/users/{id}"),
        2,
        "the refused call and its retry"
    );
    assert_eq!(h.user_of(&e.id).job_title.as_deref(), Some("Renamed"));

    // A short-lived token is kept for most of its life, not fetched again before every call:
    // a 61 s token is renewed a quarter of its life early (`renew_after`), not a minute early.
    h.learnamp.set_token_ttl(61);
    h.learnamp.expire_all_tokens();
    h.kombo
        .update_employee(&e.id, |e| e.job_title = Some("Renamed again".into()));
    h.full().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    h.kombo
        .update_employee(&e.id, |e| e.job_title = Some("Renamed thrice".into()));
    h.learnamp.reset_calls();
    h.full().await;
    let calls = h.learnamp.calls();
    assert_eq!(
        calls.get("POST /oauth/token"),
        0,
        "the 61 s token is still in use: {:?}",
        calls.by_endpoint
    );
    assert_eq!(calls.get("PUT /v1/users/{id}"), 1, "no refused call");
    h.stop().await;
}

#[tokio::test]
async fn wrong_learnamp_credentials_fail_the_run_with_a_clear_error() {
    let h = Harness::generated(5, 1, Harness::settings(InvitePolicy::Manual)).await;
    let bad = sync_clients::LearnAmpClient::new(&h.learnamp_server.base_url, "nope", "nope")
        .with_retry(RetryPolicy::fast());
    let err = Engine {
        hris: &h.kombo_client,
        learnamp: &bad,
        store: &h.store,
        queue: &h.queue,
        settings: &h.settings,
        concurrency: 2,
        progress: &sync_core::NoProgress,
    }
    .run(&RunOptions::default())
    .await
    .unwrap_err();
    assert!(err.to_string().contains("LEARNAMP_CLIENT_ID"), "{err}");
    h.stop().await;
}

#[tokio::test]
async fn kombo_client_reads_every_page_once_at_the_maximum_page_size() {
    let h = Harness::generated(620, 12, Harness::settings(InvitePolicy::Manual)).await;
    let employees = h
        .kombo_client
        .list_employees(&ListQuery::default())
        .await
        .unwrap();
    assert_eq!(employees.len(), 620);
    let mut ids: Vec<&str> = employees.iter().map(|e| e.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 620, "no employee twice");
    assert_eq!(h.kombo.request_count(), 3, "ceil(620 / 250) pages");
    assert_eq!(
        h.kombo_client.call_stats().get("GET /hris/employees"),
        Some(&3)
    );
    let groups = h
        .kombo_client
        .list_groups(&ListQuery::default())
        .await
        .unwrap();
    assert!(groups
        .iter()
        .any(|g| g.group_type == Some(sync_core::kombo::GroupType::Department)));
    let locations = h
        .kombo_client
        .list_locations(&ListQuery::default())
        .await
        .unwrap();
    assert!(!locations.is_empty());

    // updated_after returns only what changed since.
    let since = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    // (A report is listed too when its manager's record changes, as Kombo documents; pick
    // someone who manages nobody.)
    let changed = employees
        .iter()
        .find(|e| {
            !employees
                .iter()
                .any(|r| r.manager_id.as_deref() == Some(e.id.as_str()))
        })
        .unwrap();
    h.kombo
        .update_employee(&changed.id, |e| e.job_title = Some("Changed".into()));
    let delta = h
        .kombo_client
        .list_employees(&ListQuery {
            updated_after: Some(since),
            ids: None,
        })
        .await
        .unwrap();
    assert_eq!(
        delta.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [changed.id.as_str()]
    );

    // Deleted employees are listed, with remote_deleted_at, because the client asks for them.
    h.kombo.delete_employee(&employees[3].id);
    let all = h
        .kombo_client
        .list_employees(&ListQuery::default())
        .await
        .unwrap();
    assert!(all
        .iter()
        .any(|e| e.id == employees[3].id && e.remote_deleted_at.is_some()));
    h.stop().await;
}

#[tokio::test]
async fn kombo_errors_branch_on_their_code() {
    let h = Harness::generated(300, 2, Harness::settings(InvitePolicy::Manual)).await;
    h.kombo.set_setup_pending(true);
    let err = h
        .kombo_client
        .list_employees(&ListQuery::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::NotReady { ref code } if code == "INTEGRATION.SETUP_SYNC_PENDING"),
        "{err:?}"
    );
    assert!(err.is_retryable());
    h.kombo.set_setup_pending(false);

    let wrong_key =
        KomboClient::new(&h.kombo_server.base_url, "wrong", TENANT).with_retry(RetryPolicy::fast());
    let err = wrong_key
        .list_employees(&ListQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Unauthorized { .. }), "{err:?}");
    let wrong_integration = KomboClient::new(&h.kombo_server.base_url, KOMBO_KEY, "personio:other")
        .with_retry(RetryPolicy::fast());
    assert!(matches!(
        wrong_integration
            .list_employees(&ListQuery::default())
            .await
            .unwrap_err(),
        SourceError::Unauthorized { .. }
    ));
    h.stop().await;
}

#[tokio::test]
async fn a_failure_mid_pagination_deactivates_no_one() {
    let h = Harness::generated(600, 6, Harness::settings(InvitePolicy::Manual)).await;
    let first = h.full().await;
    assert!(first.counts.created > 400);
    h.kombo.fail_after_pages(Some(1));
    h.learnamp.reset_calls();
    let err = h.try_run(&RunOptions::default()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(
        h.learnamp.calls().writes(),
        0,
        "a partial listing is never planned against"
    );
    h.kombo.fail_after_pages(None);
    let after = h.full().await;
    assert_eq!(after.counts.deactivated, 0);
    h.stop().await;
}

#[tokio::test]
async fn rate_limits_and_outages_are_ridden_out() {
    let h = Harness::generated(80, 21, Harness::settings(InvitePolicy::Immediately)).await;
    h.learnamp.faults().set_seed(42);
    h.learnamp.faults().set_rate_429(0.2, Some(0));
    // And a plain 500 on a tenth of Learn Amp's answers, a 503 on a fifth of Kombo's.
    h.learnamp.faults().set_rate_5xx(0.1);
    h.learnamp.faults().set_5xx_status(500);
    h.kombo.faults().set_seed(7);
    h.kombo.faults().set_rate_5xx(0.2);
    let report = h.full().await;
    assert!(report.converged(), "{:?}", report.actions);
    let calls = h.learnamp.calls();
    assert!(
        calls.total > calls.get("POST /v1/users"),
        "some calls were retried"
    );
    h.learnamp.faults().clear();
    h.kombo.faults().clear();
    h.assert_no_duplicates();
    assert!(h
        .learnamp
        .snapshot()
        .users
        .iter()
        .all(|u| u.invitations_sent <= 1));
    let again = h.full().await;
    assert_eq!(
        again.counts.unchanged as usize,
        h.kombo.employees().len(),
        "converged on the first run"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resets_and_timeouts_after_the_write_neither_lose_nor_duplicate() {
    // The worst transport faults: Learn Amp made the change, but the answer never arrived (the
    // connection reset, or the answer came after the client's timeout). The client retries a
    // write that already happened.
    let mut h = Harness::generated(120, 13, Harness::settings(InvitePolicy::Immediately)).await;
    h.learnamp_client = sync_clients::LearnAmpClient::new(
        &h.learnamp_server.base_url,
        e2e::CLIENT_ID,
        e2e::CLIENT_SECRET,
    )
    .with_retry(RetryPolicy::fast())
    .with_request_timeout(Duration::from_millis(400));
    h.kombo_client = KomboClient::new(&h.kombo_server.base_url, KOMBO_KEY, TENANT)
        .with_retry(RetryPolicy::fast())
        .with_request_timeout(Duration::from_millis(400));
    for faults in [h.learnamp.faults(), h.kombo.faults()] {
        faults.set_seed(13);
        faults.set_rate_reset(0.15);
        faults.set_rate_stall(0.1, Duration::from_millis(900));
    }
    let first = h.full().await;
    Harness::assert_converged(&first);
    let linked = h.assert_one_user_per_employee_invited_at_most_once();
    // A create whose answer was lost is refused as "already taken" when the client retries it,
    // and the user it made is linked: counted as adopted.
    assert_eq!(
        linked as u64,
        first.counts.created + first.counts.adopted,
        "no change lost"
    );

    h.learnamp.faults().clear();
    h.kombo.faults().clear();
    h.learnamp.reset_calls();
    let second = h.full().await;
    assert_eq!(h.learnamp.calls().writes(), 0, "{:?}", second.counts);
    h.stop().await;
}
