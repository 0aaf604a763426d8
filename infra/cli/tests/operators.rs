//! The operator commands against a real moto server: `tenants` (registration with the secret
//! into SSM and only its name into the table, listing, showing, disabling) and `status`, each
//! with its bad input named clearly.

use std::process::{Command, Output};
use sync_aws::testing::{create_table, MotoServer};
use sync_aws::DynamoStateStore;
use sync_core::settings::DeactivateOn;
use sync_core::tenants::TenantStore;
use sync_core::InvitePolicy;

const BIN: &str = env!("CARGO_BIN_EXE_personio-sync");
const TENANT: &str = "personio:CBNMt7dSNCzBdnRTx87dev4E";
const SECRET_PARAM: &str = "/personio-sync/tenants/acme/learnamp-client-secret";

fn tenants(moto: &MotoServer, args: &[&str], secret: Option<&str>) -> Output {
    let args: Vec<&str> = ["tenants"].iter().chain(args).copied().collect();
    operator(moto, &args, secret)
}

/// `personio-sync <args>` against moto's table `state`, with nothing from the caller's
/// environment.
fn operator(moto: &MotoServer, args: &[&str], secret: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    for var in [
        "KOMBO_INTEGRATION_ID",
        "LEARNAMP_BASE_URL",
        "LEARNAMP_CLIENT_ID",
        "LEARNAMP_CLIENT_SECRET",
        "INVITE_POLICY",
        "DEACTIVATE_ON",
        "CHANGES_QUEUE_URL",
        "CHANGES_DLQ_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ACCESS_KEY_ID", moto.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "eu-central-1")
        .env("STATE_TABLE", "state")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .args(args);
    if let Some(secret) = secret {
        cmd.env("LEARNAMP_CLIENT_SECRET", secret);
    }
    cmd.output().expect("the binary runs")
}

/// The tenant's Learn Amp secret as SSM holds it.
async fn secret_parameter(config: &aws_config::SdkConfig) -> aws_sdk_ssm::types::Parameter {
    let out = aws_sdk_ssm::Client::new(config)
        .get_parameter()
        .name(SECRET_PARAM)
        .with_decryption(true)
        .send()
        .await
        .expect("the parameter exists");
    out.parameter().expect("a parameter").clone()
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    let out = sqs.create_queue().queue_name(name).send().await.unwrap();
    out.queue_url().unwrap().to_string()
}

async fn send_messages(sqs: &aws_sdk_sqs::Client, url: &str, count: usize) {
    for i in 0..count {
        sqs.send_message()
            .queue_url(url)
            .message_body(format!("{{\"change\": {i}}}"))
            .send()
            .await
            .unwrap();
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const ADD: [&str; 11] = [
    "add",
    "--integration-id",
    TENANT,
    "--learnamp-url",
    "https://api.learnamp.com",
    "--learnamp-client-id",
    "acme-client",
    "--learnamp-client-secret-param",
    SECRET_PARAM,
    "--invite-policy",
    "on_hire_date",
];

#[tokio::test(flavor = "multi_thread")]
async fn tenants_are_registered_listed_shown_and_disabled() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    create_table(&dynamo, "state", &["pk", "sk"]).await;

    let add: Vec<&str> = ADD
        .iter()
        .copied()
        .chain(["--deactivate-on", "termination-date"])
        .collect();
    let added = tenants(&moto, &add, Some("s3cr3t-client-secret"));
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));

    // The secret is in SSM as a SecureString, and nowhere in the table.
    let parameter = secret_parameter(&config).await;
    assert_eq!(parameter.value(), Some("s3cr3t-client-secret"));
    assert_eq!(
        parameter.r#type(),
        Some(&aws_sdk_ssm::types::ParameterType::SecureString)
    );
    let items = dynamo.scan().table_name("state").send().await.unwrap();
    assert!(!format!("{:?}", items.items()).contains("s3cr3t"));

    // What the functions read is what was asked for.
    let store = DynamoStateStore::new(dynamo.clone(), "state");
    let tenant = store.tenant(TENANT).await.unwrap().expect("registered");
    assert!(tenant.enabled);
    assert_eq!(tenant.settings.invite_policy, InvitePolicy::OnHireDate);
    assert_eq!(tenant.settings.deactivate_on, DeactivateOn::TerminationDate);
    assert_eq!(tenant.learnamp_client_secret_ref, SECRET_PARAM);

    let listed = tenants(&moto, &["list"], None);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        listed.contains(TENANT) && listed.contains("enabled"),
        "{listed}"
    );

    let shown = tenants(&moto, &["show", TENANT], None);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert_eq!(shown["learnamp_client_id"], "acme-client");

    let disabled = tenants(&moto, &["disable", TENANT], None);
    assert_eq!(disabled.status.code(), Some(0), "{}", stderr(&disabled));
    assert!(!store.tenant(TENANT).await.unwrap().unwrap().enabled);

    // A rotated Learn Amp secret: only the SSM parameter changes.
    let rotated = tenants(&moto, &["set-secret", TENANT], Some("rotated-secret"));
    assert_eq!(rotated.status.code(), Some(0), "{}", stderr(&rotated));
    let parameter = secret_parameter(&config).await;
    assert_eq!(parameter.value(), Some("rotated-secret"));
    assert!(
        !store.tenant(TENANT).await.unwrap().unwrap().enabled,
        "still disabled"
    );
    let no_secret = tenants(&moto, &["set-secret", TENANT], None);
    assert_eq!(no_secret.status.code(), Some(2));
    assert!(
        stderr(&no_secret).contains("LEARNAMP_CLIENT_SECRET"),
        "{}",
        stderr(&no_secret)
    );

    let enabled = tenants(&moto, &["enable", TENANT], None);
    assert_eq!(enabled.status.code(), Some(0), "{}", stderr(&enabled));
    assert!(store.tenant(TENANT).await.unwrap().unwrap().enabled);

    let switched = tenants(&moto, &["set-invite-policy", TENANT, "immediately"], None);
    assert_eq!(switched.status.code(), Some(0), "{}", stderr(&switched));
    let tenant = store.tenant(TENANT).await.unwrap().unwrap();
    assert_eq!(tenant.settings.invite_policy, InvitePolicy::Immediately);
    assert_eq!(
        tenant.learnamp_client_id, "acme-client",
        "nothing else changed"
    );
    // The Learn Amp scope: the sync's own by default (none stored), or what is set.
    assert_eq!(tenant.learnamp_scope, None);
    let scoped = tenants(
        &moto,
        &["set-scope", TENANT, "users:read  users:update teams:read"],
        None,
    );
    assert_eq!(scoped.status.code(), Some(0), "{}", stderr(&scoped));
    let tenant = store.tenant(TENANT).await.unwrap().unwrap();
    assert_eq!(
        tenant.learnamp_scope.as_deref(),
        Some("users:read users:update teams:read")
    );
    assert_eq!(tenant.settings.invite_policy, InvitePolicy::Immediately);
    let reset = tenants(&moto, &["set-scope", TENANT, "default"], None);
    assert_eq!(reset.status.code(), Some(0), "{}", stderr(&reset));
    assert_eq!(
        store.tenant(TENANT).await.unwrap().unwrap().learnamp_scope,
        None
    );
    let bad = tenants(&moto, &["set-invite-policy", TENANT, "sometimes"], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("immediately, on_hire_date or manual"),
        "{}",
        stderr(&bad)
    );

    let missing = tenants(&moto, &["show", "personio:nobody"], None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no tenant personio:nobody"));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_the_flag_to_fix_and_nothing_is_written() {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    create_table(&dynamo, "state", &["pk", "sk"]).await;
    let with = |flag: &str, value: &str| -> Vec<String> {
        let mut args: Vec<String> = ADD.iter().map(|a| a.to_string()).collect();
        let at = args.iter().position(|a| a == flag).expect("a flag of ADD");
        args[at + 1] = value.to_string();
        args
    };
    let cases = [
        (
            with("--learnamp-url", "api.learnamp.com"),
            "--learnamp-url must be an http(s) URL",
        ),
        (with("--invite-policy", "sometimes"), "--invite-policy"),
        (
            with("--integration-id", "CBNMt7dSNCzBdnRTx87dev4E"),
            "--integration-id must be a Kombo integration id",
        ),
        (
            with("--learnamp-client-secret-param", "learnamp-secret"),
            "must be an SSM parameter path",
        ),
        (
            ADD[..9]
                .iter()
                .map(|a| a.to_string())
                .chain(["--time-zone".into(), "Mars/Olympus".into()])
                .collect(),
            "--time-zone",
        ),
        (
            ADD[..7].iter().map(|a| a.to_string()).collect(),
            "missing --learnamp-client-secret-param",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = tenants(&moto, &args, None);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let items = dynamo.scan().table_name("state").send().await.unwrap();
    assert_eq!(items.count(), 0, "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_runs_activity_errors_and_queues() {
    use sync_core::coordination::Coordination;
    use sync_core::ports::StateStore;

    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    create_table(&dynamo, "state", &["pk", "sk"]).await;
    let added = tenants(&moto, &ADD, None);
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));

    // What the sync and apply functions leave behind: a halted scheduled run, an employee Learn
    // Amp refused, a run in progress, and changes waiting in SQS.
    let store = DynamoStateStore::new(dynamo.clone(), "state");
    let started = chrono::Utc::now() - chrono::Duration::minutes(30);
    let report: sync_core::report::RunReport = serde_json::from_value(serde_json::json!({
        "run_id": "run-1", "tenant": TENANT, "trigger": "schedule", "mode": "full",
        "dry_run": false, "today": "2026-12-01", "started_at": started,
        "finished_at": started + chrono::Duration::seconds(42), "duration_ms": 42000,
        "counts": {"created": 3, "updated": 2, "deactivated": 0, "reactivated": 0,
                   "unchanged": 95, "deferred": 1, "failed": 1},
        "halted": "would deactivate 30 of 100 active users (30%), over the 20% limit",
        "actions": [], "notes": [], "teams": {"created": 0, "renamed": 0, "failed": 0},
        "queued": 5, "api_calls": {"kombo": {}, "learnamp": {}}
    }))
    .unwrap();
    store.put_report(TENANT, &report).await.unwrap();
    let mut failed = sync_core::state::EmployeeState::new("EmpRejected01", chrono::Utc::now());
    failed.learnamp_user_id = Some(4711);
    failed.last_error = Some("Email is invalid".into());
    store.put_employee(TENANT, &failed).await.unwrap();
    let healthy = sync_core::state::EmployeeState::new("EmpFine000002", chrono::Utc::now());
    store.put_employee(TENANT, &healthy).await.unwrap();
    let now = chrono::Utc::now();
    assert!(store
        .lock_run(TENANT, "run-2", now, now + chrono::Duration::minutes(10))
        .await
        .unwrap());
    let sqs = aws_sdk_sqs::Client::new(&config);
    let changes = create_queue(&sqs, "changes").await;
    let dlq = create_queue(&sqs, "changes-dlq").await;
    send_messages(&sqs, &changes, 3).await;

    let json = operator(
        &moto,
        &[
            "status",
            "--tenant",
            TENANT,
            "--report",
            "json",
            "--changes-queue-url",
            &changes,
            "--changes-dlq-url",
            &dlq,
        ],
        None,
    );
    assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
    let status: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(status["runs"][0]["trigger"], "schedule");
    assert_eq!(status["runs"][0]["duration_ms"], 42000);
    assert_eq!(status["runs"][0]["counts"]["failed"], 1);
    assert!(status["runs"][0]["halted"]
        .as_str()
        .unwrap()
        .contains("20%"));
    assert!(status["run_in_progress_until"].is_string(), "{status}");
    assert_eq!(status["employees_known"], 2);
    assert_eq!(
        status["employees_in_error"],
        serde_json::json!([{"employee_id": "EmpRejected01", "learnamp_user_id": 4711,
                            "error": "Email is invalid",
                            "since": status["employees_in_error"][0]["since"]}])
    );
    assert_eq!(status["queues"]["changes"]["visible"], 3);
    assert_eq!(status["queues"]["changes_dead_letter"]["visible"], 0);

    let text = operator(&moto, &["status", "--tenant", TENANT], None);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    for expected in [
        "schedule",
        "HALTED",
        "EmpRejected01 (Learn Amp user 4711)",
        "Email is invalid",
        "a run is in progress",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }

    // Bad input: each names what to fix.
    for (args, expected) in [
        (vec!["status"], "missing --tenant"),
        (
            vec!["status", "--tenant", "personio:nobody"],
            "no tenant personio:nobody",
        ),
        (
            vec!["status", "--tenant", TENANT, "--runs", "0"],
            "--runs must be between 1 and 100",
        ),
        (
            vec![
                "status",
                "--tenant",
                TENANT,
                "--changes-queue-url",
                "http://127.0.0.1:1/nope",
            ],
            "cannot read queue",
        ),
    ] {
        let output = operator(&moto, &args, None);
        assert_ne!(output.status.code(), Some(0), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dlq_replay_moves_every_message_back_once() {
    let moto = MotoServer::start();
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let (changes, dlq) = (
        create_queue(&sqs, "changes").await,
        create_queue(&sqs, "changes-dlq").await,
    );
    send_messages(&sqs, &dlq, 13).await;
    let replayed = operator(
        &moto,
        &["dlq", "replay", "--from", &dlq, "--to", &changes],
        None,
    );
    assert_eq!(replayed.status.code(), Some(0), "{}", stderr(&replayed));
    assert!(String::from_utf8_lossy(&replayed.stdout).contains("13 messages replayed"));
    let mut bodies = std::collections::BTreeSet::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(&changes)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            assert!(
                bodies.insert(m.body().unwrap().to_string()),
                "replayed once"
            );
            sqs.delete_message()
                .queue_url(&changes)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(bodies.len(), 13, "every message, intact");
    let left = sqs.receive_message().queue_url(&dlq).send().await.unwrap();
    assert!(left.messages().is_empty(), "the dead-letter queue is empty");

    for (args, expected) in [
        (
            vec!["dlq", "replay", "--to", changes.as_str()],
            "missing --from",
        ),
        (
            vec![
                "dlq",
                "replay",
                "--from",
                dlq.as_str(),
                "--to",
                dlq.as_str(),
            ],
            "the same queue",
        ),
    ] {
        let output = operator(&moto, &args, None);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let nowhere = operator(
        &moto,
        &[
            "dlq",
            "replay",
            "--from",
            "http://127.0.0.1:1/000000000000/none",
            "--to",
            &changes,
        ],
        None,
    );
    assert_eq!(nowhere.status.code(), Some(1));
    assert!(
        stderr(&nowhere).contains("cannot read"),
        "{}",
        stderr(&nowhere)
    );
}
