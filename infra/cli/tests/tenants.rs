//! `personio-sync tenants` against a real moto server: registration (the secret into SSM, only
//! its name into the table), listing, showing, disabling, and each bad input named clearly.

use std::process::{Command, Output};
use sync_aws::testing::{create_table, MotoServer};
use sync_aws::DynamoStateStore;
use sync_core::tenants::TenantStore;
use sync_core::InvitePolicy;

const BIN: &str = env!("CARGO_BIN_EXE_personio-sync");
const TENANT: &str = "personio:CBNMt7dSNCzBdnRTx87dev4E";
const SECRET_PARAM: &str = "/personio-sync/tenants/acme/learnamp-client-secret";

fn tenants(moto: &MotoServer, args: &[&str], secret: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    for var in [
        "KOMBO_INTEGRATION_ID",
        "LEARNAMP_BASE_URL",
        "LEARNAMP_CLIENT_ID",
        "LEARNAMP_CLIENT_SECRET",
        "INVITE_POLICY",
        "STATE_TABLE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "eu-central-1")
        .args([
            "tenants",
            "--table",
            "state",
            "--endpoint-url",
            &moto.endpoint,
        ])
        .args(args);
    if let Some(secret) = secret {
        cmd.env("LEARNAMP_CLIENT_SECRET", secret);
    }
    cmd.output().expect("the binary runs")
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

    let added = tenants(&moto, &ADD, Some("s3cr3t-client-secret"));
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));

    // The secret is in SSM as a SecureString, and nowhere in the table.
    let parameter = aws_sdk_ssm::Client::new(&config)
        .get_parameter()
        .name(SECRET_PARAM)
        .with_decryption(true)
        .send()
        .await
        .expect("the parameter exists");
    let parameter = parameter.parameter().unwrap();
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
