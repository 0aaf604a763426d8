//! The three Lambda handlers in-process, wired as the template wires them: DynamoDB tables and
//! SQS queues in a real moto server, the Kombo and Learn Amp sandboxes over HTTP. SQS does not
//! drive Lambda here, so `drain` plays the event source mapping: it receives a batch, hands it
//! to the handler as the `SqsEvent` Lambda would build, deletes what succeeded and returns the
//! `batchItemFailures` to the queue. The end state must equal the local runner's on the same
//! company and the same changes, and every AWS request a function made must be one its policy in
//! `template.yaml` allows.

use chrono::{Duration, NaiveDate, Utc};
use e2e::aws_stack::{kombo_webhook_request, webhook_outcome, AwsStack};
use e2e::{Harness, CLIENT_ID, CLIENT_SECRET, KOMBO_KEY, TENANT};
use fn_common::RetryPolicy;
use sandbox::kombo::EmbeddedGroup;
use sandbox::KomboEmployee;
use sandbox::{Company, KomboSandbox, LearnAmpSandbox, LearnAmpSnapshot};
use std::collections::{BTreeMap, HashMap, HashSet};
use sync_core::ports::StateStore;
use sync_core::tenants::{TenantConfig, TenantStore};
use sync_core::webhook::kombo_signature;
use sync_core::{InvitePolicy, RunOptions, TenantSettings};

const WEBHOOK_SECRET: &[u8] = b"e2e-kombo-webhook-secret";
/// The stack's `SecretPrefix`, and the tenant's Learn Amp secret under it.
const PREFIX: &str = "/personio-sync";
const SECRET_REF: &str = "/personio-sync/e2e/learnamp-client-secret";

/// The tenant's "today": the serverless runs take it from the clock, in Berlin.
fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Europe::Berlin)
        .date_naive()
}

struct Stack {
    aws: AwsStack,
}

impl Stack {
    async fn start(kombo_url: &str, learnamp_url: &str) -> Self {
        let aws = AwsStack::start(kombo_url, KOMBO_KEY, RetryPolicy::default()).await;
        aws.put_secret(SECRET_REF, CLIENT_SECRET).await;
        aws.store
            .put_tenant(&TenantConfig {
                settings: settings(),
                learnamp_base_url: learnamp_url.to_string(),
                learnamp_client_id: CLIENT_ID.to_string(),
                learnamp_client_secret_ref: SECRET_REF.to_string(),
                learnamp_scope: None,
                personio_company_id: None,
                enabled: true,
                last_event: None,
                first_import: Default::default(),
                revision: Default::default(),
                kombo: Default::default(),
            })
            .await
            .expect("tenant registered");
        Self { aws }
    }

    async fn drain_changes(&self) -> usize {
        self.aws.drain_changes().await
    }

    async fn drain_sync_requests(&self) -> usize {
        self.aws.drain_sync_requests().await.len()
    }

    async fn invoke(&self, payload: serde_json::Value) -> serde_json::Value {
        self.aws.invoke_sync(payload).await
    }

    async fn webhook(&self, event_id: &str) -> (i64, String) {
        let body = serde_json::to_vec(&serde_json::json!({
            "id": event_id,
            "type": "data-changed",
            "data": {"integration_id": TENANT, "integration_tool": "personio",
                     "integration_category": "HRIS",
                     "changed_models": [{"name": "hris_employees"}, {"name": "hris_join_employees_teams"}]}
        }))
        .unwrap();
        let request = kombo_webhook_request(&body, &kombo_signature(WEBHOOK_SECRET, &body));
        webhook_outcome(&webhook_fn::handle(request, &self.aws.webhook_deps(WEBHOOK_SECRET)).await)
    }
}

fn settings() -> TenantSettings {
    let mut s = TenantSettings::new(TENANT);
    s.invite_policy = InvitePolicy::Immediately;
    s
}

/// The Personio changes both paths see: a joiner, a job-title change, a department move and a
/// leaver, among employees who manage nobody.
fn personio_changes(kombo: &KomboSandbox) {
    let employees = kombo.employees();
    let managers: HashSet<String> = employees
        .iter()
        .filter_map(|e| e.manager_id.clone())
        .collect();
    let department = |e: &KomboEmployee| {
        e.groups
            .iter()
            .find(|g| g.r#type.as_deref() == Some("DEPARTMENT"))
            .map(|g| g.id.clone())
    };
    let mut regular = employees.iter().filter(|e| {
        !managers.contains(&e.id)
            && department(e).is_some()
            && e.employment_status.as_deref() == Some("ACTIVE")
            && e.termination_date.is_none()
            && e.remote_deleted_at.is_none()
            && e.work_email.is_some()
    });
    let (retitled, mover, leaver) = (
        regular.next().unwrap().clone(),
        regular.next().unwrap().clone(),
        regular.next().unwrap().clone(),
    );
    let target = kombo
        .groups()
        .into_iter()
        .find(|g| {
            g.r#type.as_deref() == Some("DEPARTMENT") && Some(&g.id) != department(&mover).as_ref()
        })
        .expect("another department");
    kombo.update_employee(&retitled.id, |e| {
        e.job_title = Some("Head of Serverless".into())
    });
    kombo.update_employee(&mover.id, |e| {
        e.groups
            .retain(|g| g.r#type.as_deref() != Some("DEPARTMENT"));
        e.groups.push(EmbeddedGroup {
            id: target.id.clone(),
            remote_id: target.remote_id.clone(),
            name: target.name.clone(),
            r#type: target.r#type.clone(),
        });
    });
    kombo.update_employee(&leaver.id, |e| {
        e.employment_status = Some("INACTIVE".into());
        e.termination_date = Some(Utc::now() - Duration::days(2));
    });
    let mut joiner = retitled.clone();
    joiner.id = "JoinerServerless000000001".into();
    joiner.work_email = Some("new.joiner@acme.example".into());
    joiner.job_title = Some("Apprentice".into());
    kombo.upsert_employee(joiner);
}

/// Learn Amp's state, keyed by external id, with teams and managers named by their external
/// ids (Learn Amp's numeric ids differ between two sandboxes).
fn comparable(snapshot: &LearnAmpSnapshot) -> BTreeMap<String, serde_json::Value> {
    let team_ext: HashMap<u64, Option<String>> = snapshot
        .teams
        .iter()
        .map(|t| (t.id, t.integration_external_id.clone()))
        .collect();
    let user_ext: HashMap<u64, Option<String>> = snapshot
        .users
        .iter()
        .map(|u| (u.id, u.integration_external_id.clone()))
        .collect();
    let mut out = BTreeMap::new();
    for u in &snapshot.users {
        let Some(ext) = &u.integration_external_id else {
            continue;
        };
        out.insert(
            ext.clone(),
            serde_json::json!({
                "email": u.email, "first_name": u.first_name, "last_name": u.last_name,
                "job_title": u.job_title, "hire_date": u.hire_date, "status": u.status,
                "invitations": u.invitations_sent,
                "primary_team": u.primary_team_id.and_then(|t| team_ext[&t].clone()),
                "manager": u.manager_id.and_then(|m| user_ext.get(&m).cloned().flatten()),
            }),
        );
    }
    for t in &snapshot.teams {
        out.insert(
            format!(
                "team:{}",
                t.integration_external_id.clone().unwrap_or_default()
            ),
            serde_json::json!({"name": t.name}),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_sync_and_apply_reach_the_local_runners_state() {
    let company: Company = sandbox::generate_company(40, 11, today());

    // The serverless path.
    let kombo = KomboSandbox::new(KOMBO_KEY, TENANT, company.clone());
    let learnamp = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
    let kombo_server = kombo.start(0).await.unwrap();
    let learnamp_server = learnamp.start(0).await.unwrap();
    let stack = Stack::start(&kombo_server.base_url, &learnamp_server.base_url).await;

    // "Import all from Personio": a direct invoke of the sync function.
    let report = stack
        .invoke(serde_json::json!({"tenant": TENANT, "mode": "full"}))
        .await;
    let queued = report["queued"].as_u64().expect("queued count");
    assert!(
        queued > 30,
        "the import queues one change per employee: {report}"
    );
    stack.drain_changes().await;
    let after_import = learnamp.snapshot();
    let imported = comparable(&after_import);
    let with_manager = imported
        .values()
        .filter(|u| !u["manager"].is_null())
        .count();
    assert!(
        imported.len() > 30 && with_manager > 10,
        "{} users and teams, {with_manager} with a manager",
        imported.len()
    );

    // A scheduled run right after changes nothing and queues nothing.
    let scheduled: aws_lambda_events::eventbridge::EventBridgeEvent =
        serde_json::from_value(serde_json::json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": Utc::now().to_rfc3339(), "region": "eu-central-1",
            "resources": ["arn:aws:events:eu-central-1:123456789012:rule/personio-sync-schedule"],
            "detail": {}
        }))
        .unwrap();
    let queued_runs = stack
        .invoke(serde_json::to_value(&scheduled).unwrap())
        .await;
    assert_eq!(queued_runs["queued"], serde_json::json!([TENANT]));
    assert_eq!(stack.drain_sync_requests().await, 1, "one full sync");
    let scheduled_run = &stack.aws.store.reports(TENANT, 1).await.unwrap()[0];
    assert_eq!(
        scheduled_run.trigger,
        sync_core::report::RunTrigger::Schedule
    );
    assert_eq!(scheduled_run.queued, 0, "nothing changed");

    // Personio changes, announced by a signed Kombo webhook; a burst coalesces.
    personio_changes(&kombo);
    assert_eq!(stack.webhook("evt-1").await, (200, "queued".to_string()));
    assert_eq!(stack.webhook("evt-2").await.0, 200);
    assert_eq!(stack.webhook("evt-1").await, (200, "duplicate".to_string()));
    assert_eq!(stack.drain_sync_requests().await, 1, "one delta sync");
    learnamp.reset_calls();
    stack.drain_changes().await;
    let writes = learnamp.snapshot();

    // The local runner, on the same company and the same changes.
    let local = Harness::start(company, settings()).await;
    let options = RunOptions {
        today: Some(today()),
        ..RunOptions::default()
    };
    local.run(&options).await;
    assert_eq!(
        comparable(&local.learnamp.snapshot()),
        comparable(&after_import),
        "after the import"
    );
    personio_changes(&local.kombo);
    local
        .run(&RunOptions {
            mode: sync_core::report::SyncMode::Delta,
            ..options
        })
        .await;
    assert_eq!(
        comparable(&local.learnamp.snapshot()),
        comparable(&writes),
        "after the changes"
    );
    let calls = learnamp.calls();
    let writes_made: u64 = calls
        .by_endpoint
        .iter()
        .filter(|(k, _)| !k.starts_with("GET") && !k.contains("oauth"))
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(writes_made, 4, "one write per changed employee: {calls:?}");

    local.stop().await;
    kombo_server.shutdown().await;
    learnamp_server.shutdown().await;
    // Every AWS request each function made is one its policy in template.yaml allows.
    stack.aws.assert_policies_allow_every_request(
        PREFIX,
        &["WebhookFunction", "SyncFunction", "ApplyFunction"],
    );
    drop(stack);
}

/// Issue 14: a user edited by hand in Learn Amp is repaired by a reconcile on the deployed shape.
/// The repair wants the very state the import completed an hour ago at most, so the apply
/// function's idempotency record must not swallow it; and the run's report must show what the
/// apply function did, not only what was planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reconcile_repairs_a_hand_edited_user_through_the_apply_function() {
    let company: Company = sandbox::generate_company(30, 14, today());
    let kombo = KomboSandbox::new(KOMBO_KEY, TENANT, company);
    let learnamp = LearnAmpSandbox::new(CLIENT_ID, CLIENT_SECRET);
    let kombo_server = kombo.start(0).await.unwrap();
    let learnamp_server = learnamp.start(0).await.unwrap();
    let stack = Stack::start(&kombo_server.base_url, &learnamp_server.base_url).await;

    let import = stack
        .invoke(serde_json::json!({"tenant": TENANT, "mode": "full"}))
        .await;
    assert!(import["queued"].as_u64().unwrap() >= 25, "{import}");
    // Reports wait for their managers (handed back a few times): moto delays nothing here.
    stack.drain_changes().await;

    // An admin retitles one active user by hand.
    let edited = learnamp
        .snapshot()
        .users
        .into_iter()
        .find(|u| {
            u.integration_external_id.is_some()
                && u.status != "deactivated"
                && u.job_title.is_some()
        })
        .expect("an active user with a job title");
    let wanted = edited.job_title.clone();
    learnamp.admin_update_user(edited.id, |u| u.job_title = Some("Retitled by hand".into()));

    let preview = stack
        .invoke(serde_json::json!({"tenant": TENANT, "mode": "reconcile", "dry_run": true}))
        .await;
    assert_eq!(preview["counts"]["updated"], 1, "{preview}");

    let run = stack
        .invoke(serde_json::json!({"tenant": TENANT, "mode": "reconcile"}))
        .await;
    let run_id = run["run_id"].as_str().unwrap().to_string();
    assert_eq!(
        (run["queued"].as_u64(), run["counts"]["updated"].as_u64()),
        (Some(1), Some(1)),
        "one repair planned and queued: {run}"
    );
    learnamp.reset_calls();
    assert_eq!(stack.drain_changes().await, 0, "nothing handed back");
    assert_eq!(
        learnamp.user(edited.id).unwrap().job_title,
        wanted,
        "the hand-edited title is repaired"
    );
    assert_eq!(
        learnamp.calls().writes(),
        1,
        "one write: {:?}",
        learnamp.calls()
    );

    // The run's report, as stored and as `status` shows it: one update applied, no duplicate.
    let report = stack
        .aws
        .store
        .reports(TENANT, 5)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.run_id == run_id)
        .expect("the reconcile's report");
    let report = serde_json::to_value(&report).unwrap();
    assert_eq!(report["applied"]["counts"]["updated"], 1, "{report}");
    assert_eq!(report["applied"]["duplicates"], 0, "{report}");
    let status = stack
        .invoke(serde_json::json!({"tenant": TENANT, "status": true}))
        .await;
    let summary = &status["runs"][0];
    assert_eq!(summary["run_id"], run_id.as_str(), "{status}");
    assert_eq!(
        (
            summary["applied"]["updated"].as_u64(),
            summary["applied"]["created"].as_u64(),
            summary["duplicates"].as_u64().unwrap_or(0),
        ),
        (Some(1), Some(0), 0),
        "{status}"
    );
    let text = serde_json::from_value::<sync_core::status::TenantStatus>(status.clone())
        .unwrap()
        .to_text();
    assert!(
        text.contains("applied: created 0 adopted 0 updated 1 deactivated 0 reactivated 0 unchanged 0; skipped as duplicates 0"),
        "{text}"
    );

    // Nothing is left to do: a resync queues nothing and writes nothing.
    let again = stack
        .invoke(serde_json::json!({"tenant": TENANT, "mode": "reconcile"}))
        .await;
    assert_eq!(again["queued"], 0, "{again}");
    stack.drain_changes().await;
    assert_eq!(learnamp.calls().writes(), 1, "no more writes");

    kombo_server.shutdown().await;
    learnamp_server.shutdown().await;
    stack
        .aws
        .assert_policies_allow_every_request(PREFIX, &["SyncFunction", "ApplyFunction"]);
    drop(stack);
}
