//! moto for tests. The test command (`infra/scripts/test.sh`) starts one moto server for the
//! whole suite and names it in `MOTO_ENDPOINT`; without it (a lone `cargo test`), each
//! `MotoServer::start` runs its own on a free 127.0.0.1 port, stopped when dropped. Either way
//! every `MotoServer` is a namespace of its own: a fresh AWS account inside moto, reached with
//! an access key that moto maps to that account, so tables, queues and parameters of one test
//! never meet another's, whatever their names. `MOTO_SERVER` may point at the moto binary.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MotoServer {
    /// The server this namespace started, if it did not join the suite's.
    child: Option<Child>,
    pub endpoint: String,
    /// Maps to this namespace's account in moto.
    access_key_id: String,
    account_id: String,
}

fn moto_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    workspace.join(".venv/bin/moto_server")
}

/// Starts a moto server of its own on a free port; its endpoint.
fn spawn_moto() -> (Child, String) {
    let binary = moto_binary();
    assert!(
        binary.exists(),
        "moto_server not found at {}: run ./infra/scripts/test.sh (it installs moto into .venv) or set MOTO_SERVER",
        binary.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new(&binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen on {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, format!("http://127.0.0.1:{port}"))
}

/// A random 12-digit account id: one per namespace, so two tests never share one.
fn fresh_account_id() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    hasher.write_u32(std::process::id());
    format!("{:012}", hasher.finish() % 1_000_000_000_000)
}

/// One IAM query-protocol call into `account` (moto's `x-moto-account-id` header), over a
/// plain socket: the response body.
fn iam_call(endpoint: &str, account: &str, params: &str) -> String {
    let address = endpoint.trim_start_matches("http://");
    let body = format!("Version=2010-05-08&{params}");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0\r\n\
         x-moto-account-id: {account}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(address).expect("moto answers");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    assert!(
        response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
        "moto IAM call failed: {params}: {response}"
    );
    response
}

/// A user with an access key in a fresh account: the key.
fn namespace_in(endpoint: &str, account: &str) -> String {
    iam_call(endpoint, account, "Action=CreateUser&UserName=tests");
    let answer = iam_call(endpoint, account, "Action=CreateAccessKey&UserName=tests");
    let key = answer
        .split("<AccessKeyId>")
        .nth(1)
        .and_then(|rest| rest.split("</AccessKeyId>").next())
        .expect("moto returned an access key id");
    key.to_string()
}

impl MotoServer {
    /// A namespace on the suite's moto server (`MOTO_ENDPOINT`), or on one of its own; panics
    /// with what to do when moto is not installed.
    pub fn start() -> Self {
        let (child, endpoint) = match std::env::var("MOTO_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => (None, endpoint),
            _ => {
                let (child, endpoint) = spawn_moto();
                (Some(child), endpoint)
            }
        };
        let account_id = fresh_account_id();
        let access_key_id = namespace_in(&endpoint, &account_id);
        Self {
            child,
            endpoint,
            access_key_id,
            account_id,
        }
    }

    /// The access key that reaches this namespace: what a child process needs in
    /// `AWS_ACCESS_KEY_ID` (any secret key will do).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// This namespace's account id, as it appears in queue URLs and ARNs.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// An SDK configuration that reaches this namespace.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        self.sdk_config_via(&self.endpoint).await
    }

    /// An SDK configuration for this namespace that sends its requests to `endpoint` (a proxy
    /// in front of this server).
    pub async fn sdk_config_via(&self, endpoint: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new("eu-central-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                &self.access_key_id,
                "test",
                None,
                None,
                "moto",
            ))
            .load()
            .await
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Creates a table keyed like the template's: `pk`/`sk` for state, or `id` for idempotency.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, keys: &[&str]) {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (i, key) in keys.iter().enumerate() {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(*key)
                    .key_type(if i == 0 {
                        KeyType::Hash
                    } else {
                        KeyType::Range
                    })
                    .build()
                    .expect("key"),
            );
    }
    request.send().await.expect("table created");
}
