//! End-to-end: answers no correct Kombo or Learn Amp gives, from a broken or malicious server.
//! Nothing leaves for another host, every listing ends, no remote number panics or spins the
//! client, every call ends within its bound, and no value of a malformed record reaches an
//! error or a report.

use e2e::{Harness, CLIENT_ID, CLIENT_SECRET, KOMBO_KEY};
use sandbox::faults::{HostileAnswer, HostileRule};
use sandbox::learnamp::SeedUser;
use sandbox::{KomboSandbox, LearnAmpSandbox};
use serde_json::json;
use std::time::{Duration, Instant};
use sync_clients::{KomboClient, LearnAmpClient, RetryPolicy};
use sync_core::error::{SourceError, TargetError};
use sync_core::learnamp::UserWrite;
use sync_core::ports::{HrisSource, LearnAmp, ListQuery, UserDetail};
use sync_core::report::ActionKind;
use sync_core::{EngineError, InvitePolicy, RunOptions};

fn redirect(method: &str, path: &str, status: u16, location: String) -> Option<HostileRule> {
    Some(HostileRule {
        method: Some(method.to_string()),
        path_prefix: path.to_string(),
        answer: HostileAnswer::Redirect { status, location },
    })
}

fn a_user(external_id: &str) -> UserWrite {
    UserWrite {
        email: Some(format!("{external_id}@example.com")),
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        integration_external_id: Some(external_id.into()),
        ..UserWrite::default()
    }
}

#[tokio::test]
async fn a_redirect_to_another_host_receives_nothing_and_names_the_host() {
    let h = Harness::generated(5, 1, Harness::settings(InvitePolicy::Manual)).await;
    // Where a followed redirect would land: a Learn Amp of its own, counting what it receives,
    // under a host name of its own.
    let elsewhere = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
    let elsewhere_server = elsewhere.start(0).await.unwrap();
    let elsewhere_url = elsewhere_server.base_url.replace("127.0.0.1", "localhost");
    let existing = h.learnamp.seed_user(SeedUser {
        email: "existing@example.com".into(),
        first_name: "Grace".into(),
        last_name: "Hopper".into(),
        integration_external_id: Some("e-existing".into()),
        deactivated: false,
    });

    for status in [301, 302, 307, 308] {
        for (method, path) in [
            ("POST", "/oauth/token"),
            ("POST", "/v1/users"),
            ("PUT", "/v1/users/"),
            ("GET", "/v1/users"),
        ] {
            // A client of its own each time: the token request comes first, then the call.
            let client = LearnAmpClient::new(&h.learnamp_server.base_url, CLIENT_ID, CLIENT_SECRET)
                .with_retry(RetryPolicy::fast());
            h.learnamp.faults().set_hostile(redirect(
                method,
                path,
                status,
                format!("{elsewhere_url}{path}"),
            ));
            let result = match (method, path) {
                ("POST", "/v1/users") => client.create_user(&a_user("e-new")).await.map(|_| ()),
                ("PUT", _) => client
                    .update_user(existing, &a_user("e-existing"))
                    .await
                    .map(|_| ()),
                _ => client.list_users(UserDetail::Basic).await.map(|_| ()),
            };
            let err = result.expect_err("a redirect is an error");
            assert!(
                matches!(err, TargetError::Protocol(_)),
                "{method} {path} {status}: {err:?}"
            );
            assert!(err.is_fatal(), "a redirect stops the run");
            let message = err.to_string();
            assert!(
                message.contains("host localhost") && message.contains(&status.to_string()),
                "{message}"
            );
            assert_eq!(
                elsewhere.calls().total,
                0,
                "{method} {path} {status}: the other host received a request"
            );
        }
    }
    h.learnamp.faults().set_hostile(None);

    // Kombo's listing too: the API key never leaves.
    let kombo_elsewhere = KomboSandbox::new(KOMBO_KEY, "elsewhere", sandbox::Company::default());
    let kombo_elsewhere_server = kombo_elsewhere.start(0).await.unwrap();
    for status in [301, 302, 307, 308] {
        h.kombo.faults().set_hostile(redirect(
            "GET",
            "/v1/hris/employees",
            status,
            format!(
                "{}/hris/employees",
                kombo_elsewhere_server
                    .base_url
                    .replace("127.0.0.1", "localhost")
            ),
        ));
        let err = h
            .kombo_client
            .list_employees(&ListQuery::default())
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::Protocol(_)), "{err:?}");
        assert!(err.to_string().contains("host localhost"), "{err}");
    }
    assert_eq!(kombo_elsewhere.request_count(), 0);
    h.kombo.faults().set_hostile(None);

    // A whole run stops at the first redirect, with the error, and nothing was created there.
    h.learnamp.faults().set_hostile(redirect(
        "POST",
        "/v1/users",
        307,
        format!("{elsewhere_url}/v1/users"),
    ));
    let err = h.try_run(&RunOptions::default()).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Target(TargetError::Protocol(_))),
        "{err}"
    );
    assert_eq!(elsewhere.calls().total, 0);
    elsewhere_server.shutdown().await;
    kombo_elsewhere_server.shutdown().await;
    h.stop().await;
}

#[tokio::test]
async fn a_kombo_cursor_that_repeats_ends_the_listing() {
    let h = Harness::generated(600, 2, Harness::settings(InvitePolicy::Manual)).await;
    h.kombo.set_repeat_cursor(true);
    let started = Instant::now();
    let err = h
        .kombo_client
        .list_employees(&ListQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("cursor"), "{err}");
    assert!(!err.is_retryable());
    // Page 1, then page 2, whose `next` is the cursor it was asked with: not asked again.
    assert_eq!(h.kombo.request_count(), 2);
    assert!(started.elapsed() < Duration::from_secs(10));

    // A run fails the same way, before planning anything.
    let err = h.try_run(&RunOptions::default()).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Source(SourceError::Protocol(_))),
        "{err}"
    );
    assert_eq!(h.learnamp.calls().writes(), 0);
    h.stop().await;
}

#[tokio::test]
async fn a_learn_amp_listing_ends_whatever_its_headers_say() {
    let h = Harness::generated(1, 3, Harness::settings(InvitePolicy::Manual)).await;
    for i in 0..150 {
        h.learnamp.seed_user(SeedUser {
            email: format!("user{i}@example.com"),
            first_name: "Seed".into(),
            last_name: format!("User{i}"),
            integration_external_id: None,
            deactivated: false,
        });
    }
    // Empty pages for ever, by the headers: the first empty page ends it.
    h.learnamp
        .set_reported_totals(Some((u64::from(u32::MAX), u64::from(u32::MAX))));
    h.learnamp.reset_calls();
    let all = h.learnamp.snapshot().users.len();
    let full_pages = all.div_ceil(sync_clients::learnamp::PER_PAGE as usize) as u64;
    assert_eq!(full_pages, 2, "the sandbox's own admin and the 150");
    let users = h
        .learnamp_client
        .list_users(UserDetail::Basic)
        .await
        .unwrap();
    assert_eq!(users.users.len(), all);
    let pages = h.learnamp.calls().by_endpoint["GET /v1/users"];
    assert_eq!(
        pages,
        full_pages + 1 + 1,
        "the full pages, then one empty page; the deactivated users' listing: one empty page"
    );

    // A `Total` that was reached ends it without asking for an empty page.
    h.learnamp
        .set_reported_totals(Some((all as u64, u64::from(u32::MAX))));
    h.learnamp.reset_calls();
    let users = h
        .learnamp_client
        .list_users(UserDetail::Basic)
        .await
        .unwrap();
    assert_eq!(users.users.len(), all);
    assert_eq!(
        h.learnamp.calls().by_endpoint["GET /v1/users"],
        full_pages + 1,
        "no empty page asked for; the deactivated users' listing: one (empty) page"
    );
    h.stop().await;
}

#[tokio::test]
async fn token_lifetimes_from_the_answer_are_clamped() {
    let h = Harness::generated(1, 4, Harness::settings(InvitePolicy::Manual)).await;
    for (lifetime, tokens_for_three_calls) in [
        // Would overflow an Instant: kept a day at most, no panic.
        (json!(u64::MAX), 1),
        (json!(1e300), 1),
        // Would fetch a token before every call: kept a minute at least.
        (json!(0), 1),
        (json!(-5), 1),
        // Unreadable: the documented 7200 s.
        (json!("soon"), 1),
        (json!(null), 1),
        (json!("3600"), 1),
    ] {
        h.learnamp
            .set_reported_token_lifetime(Some(lifetime.clone()));
        let client = LearnAmpClient::new(&h.learnamp_server.base_url, CLIENT_ID, CLIENT_SECRET)
            .with_retry(RetryPolicy::fast());
        for _ in 0..3 {
            client
                .list_teams()
                .await
                .unwrap_or_else(|e| panic!("{lifetime}: {e}"));
        }
        assert_eq!(
            client.call_stats()["POST /oauth/token"],
            tokens_for_three_calls,
            "expires_in {lifetime}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn a_token_asked_for_ahead_of_the_writes_is_asked_once_and_kept() {
    let h = Harness::generated(1, 4, Harness::settings(InvitePolicy::Manual)).await;
    let client = LearnAmpClient::new(&h.learnamp_server.base_url, CLIENT_ID, CLIENT_SECRET)
        .with_retry(RetryPolicy::fast());
    // Learn Amp down: one attempt, no retries (the first call retries, as every call does).
    h.learnamp.faults().set_rate_5xx(1.0);
    let refused = client.prepare_calls().await.unwrap_err();
    assert!(refused.is_retryable(), "{refused:?}");
    assert_eq!(client.call_stats()["POST /oauth/token"], 1);

    // Back up: the token is fetched once, and the calls after it use it.
    h.learnamp.faults().set_rate_5xx(0.0);
    client.prepare_calls().await.unwrap();
    client.prepare_calls().await.unwrap();
    client.list_teams().await.unwrap();
    assert_eq!(client.call_stats()["POST /oauth/token"], 2);
    h.stop().await;
}

#[tokio::test]
async fn an_endless_body_fails_the_call_at_the_size_bound() {
    let h = Harness::generated(3, 5, Harness::settings(InvitePolicy::Manual)).await;
    let endless = |method: &str, path: &str| {
        Some(HostileRule {
            method: Some(method.into()),
            path_prefix: path.into(),
            answer: HostileAnswer::EndlessBody,
        })
    };
    h.learnamp.faults().set_hostile(endless("GET", "/v1/users"));
    let err = h
        .learnamp_client
        .list_users(UserDetail::Basic)
        .await
        .unwrap_err();
    assert!(matches!(err, TargetError::Protocol(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("over {} bytes", sync_clients::MAX_BODY_BYTES)),
        "{err}"
    );
    h.kombo
        .faults()
        .set_hostile(endless("GET", "/v1/hris/employees"));
    let err = h
        .kombo_client
        .list_employees(&ListQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Protocol(_)), "{err:?}");
    h.stop().await;
}

#[tokio::test]
async fn a_silent_api_costs_each_call_its_deadline_not_more() {
    let h = Harness::generated(3, 6, Harness::settings(InvitePolicy::Manual)).await;
    // Learn Amp answers only after 20 s; the call's budget is 1 s (the apply function's is
    // 12 s), well under the client's 30 s request timeout.
    let budget = RetryPolicy {
        deadline: Duration::from_secs(1),
        ..RetryPolicy::fast()
    };
    let client = LearnAmpClient::new(&h.learnamp_server.base_url, CLIENT_ID, CLIENT_SECRET)
        .with_retry(budget.clone());
    client.list_teams().await.unwrap();
    h.learnamp
        .faults()
        .set_rate_stall(1.0, Duration::from_secs(20));
    let started = Instant::now();
    let err = client.list_teams().await.unwrap_err();
    let took = started.elapsed();
    assert!(err.is_retryable(), "{err:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    h.learnamp.faults().clear();

    // A silent Kombo: the listing's bound is stated in the error.
    h.kombo
        .faults()
        .set_rate_stall(1.0, Duration::from_secs(20));
    let kombo = KomboClient::new(&h.kombo_server.base_url, KOMBO_KEY, &h.settings.tenant_id)
        .with_retry(RetryPolicy::fast())
        .with_listing_deadline(Duration::from_secs(1));
    let started = Instant::now();
    let err = kombo
        .list_employees(&ListQuery::default())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("within its 1 s"), "{err}");
    h.stop().await;
}

#[tokio::test]
async fn a_malformed_employee_is_failed_by_id_and_the_rest_syncs_without_deactivation_by_absence() {
    let h = Harness::generated(30, 7, Harness::settings(InvitePolicy::Manual)).await;
    let first = h.full().await;
    Harness::assert_converged(&first);
    let active: Vec<_> = h
        .kombo
        .employees()
        .into_iter()
        .filter(|e| {
            h.users_of(&e.id)
                .first()
                .is_some_and(|u| u.status != "deactivated")
        })
        .collect();
    let (broken, gone, mover) = (&active[0], &active[1], &active[2]);
    // A string where an object belongs, holding what a name and an email look like.
    let secret = format!(
        "{} {}",
        broken.display_full_name.clone().unwrap_or_default(),
        broken.work_email.clone().unwrap_or_default()
    );
    h.kombo
        .set_wire_field(&broken.id, "work_location", Some(json!(secret)));
    assert!(h.kombo.purge_employee(&gone.id));
    h.kombo
        .update_employee(&mover.id, |e| e.job_title = Some("Chief Tester".into()));

    let report = h.full().await;
    let failed: Vec<_> = report
        .actions
        .iter()
        .filter(|a| a.action == ActionKind::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].employee_id, broken.id);
    assert!(
        failed[0].detail.contains("`work_location`") && !failed[0].detail.contains(&secret),
        "{}",
        failed[0].detail
    );
    let report_json = serde_json::to_string(&report).unwrap();
    for part in secret.split_whitespace().filter(|p| p.len() >= 4) {
        assert!(!report_json.contains(part), "the report holds a value");
    }
    // The rest of the company syncs ...
    assert_eq!(
        h.user_of(&mover.id).job_title.as_deref(),
        Some("Chief Tester")
    );
    // ... but the listing is not complete: missing from it is not gone.
    assert_ne!(h.user_of(&gone.id).status, "deactivated");
    assert_eq!(report.counts.deactivated, 0);

    // Once Kombo sends it whole again, absence counts again.
    h.kombo.set_wire_field(&broken.id, "work_location", None);
    let report = h.full().await;
    Harness::assert_converged(&report);
    assert_eq!(h.user_of(&gone.id).status, "deactivated");
    h.assert_no_duplicates();
    h.stop().await;
}
